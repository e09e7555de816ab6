"""The conversation: what the bot does with a `/gateway` command or a button press.

Transport-free: Slack (bot/slack_app.py) and the terminal (bot/shell.py) both
call `Gateway` with a `Chat`. A command is answered in two steps: `on_command`
parses and admits it (pure and fast, so Slack's 3-second ack is never at risk)
and returns the slow part as work that runs in a task of its own, so one slow
site delays nobody else. What must survive a crash once Slack has its ack (a new
watch) is written before the ack, in `Answer.prepare`: one short transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.ack_first import AckFirst
from bot.chat import Chat, NotInChannel
from bot.commands import (
    USAGE,
    Check,
    Command,
    CommandError,
    Explain,
    Help,
    Mute,
    Unmute,
    Unwatch,
    Watch,
    parse_command,
)
from bot.limits import RateLimiter, Refused, Ticket
from bot.modal import Submission, read_submission
from bot.render import explain as render_explain
from bot.render import slack as render
from bot.render.alerts import ACTION_ACK, ACTION_MUTE, ACTION_RECHECK, ACTION_UNWATCH
from bot.render.home import (
    ACTION_HOME_EDIT,
    ACTION_HOME_MUTE,
    ACTION_HOME_NEW,
    ACTION_HOME_RECHECK,
    ACTION_HOME_UNMUTE,
)
from bot.settings import Settings
from bot.watch.service import Press, StoredWatch, WatchService
from checks.diagnose import fill
from checks.explain import ExplainInputError, explain, from_slack, read_text
from checks.guard import TargetRefused
from checks.knowledge import load as load_knowledge
from checks.models import Progress, Target
from checks.run import CheckFunction, check
from checks.target import TargetError, parse_target

log = logging.getLogger(__name__)

PROGRESS_EVERY = 1.0  # seconds between progress edits: Slack allows about one a second
PREPARE_TIMEOUT = 2.0  # seconds for the write before an ack; Slack waits 3 for the ack
DATABASE_TROUBLE = (
    ":warning: I could not save that just now (my database is not answering); "
    "nothing was changed. Please try again in a minute."
)
INVITE_HINT = (
    "I'm not a member of this channel, so I answered here without live progress "
    "or a thread. Invite me with `/invite @gateway` for the full experience."
)


@dataclass(frozen=True)
class Request:
    """Who asked, where, and for what: the parts of a slash command or click we use."""

    team: str
    channel: str
    user: str
    text: str = ""
    response_url: str | None = None
    trigger_id: str | None = None  # a click's: lets the answer be a modal


@dataclass(frozen=True)
class Answer:
    """The immediate answer to a command: an ephemeral text, or nothing (work follows).

    `prepare`, when set, must be awaited (see `Gateway.settle`) before the ack: it is the
    short write that has to be durable once Slack has been told "got it", and it gives
    the real Answer.
    """

    text: str | None = None
    work: Coroutine[Any, Any, None] | None = None
    prepare: Coroutine[Any, Any, Answer] | None = None
    # work that probes or parses (a check, a re-check, an explanation) waits until the
    # burst it came in has been acked (bot/ack_first.py); short work starts at once
    after_acks: bool = False


class Gateway:
    """Commands in, messages out; one instance per running bot."""

    def __init__(
        self,
        settings: Settings,
        check_function: CheckFunction | None = None,
        watches: WatchService | None = None,
    ) -> None:
        self.settings = settings
        self.watches = watches
        self.limiter = RateLimiter(settings.limits)
        self.checks_in_flight = asyncio.Semaphore(settings.limits.checks_in_flight)
        self.check_function = check_function or check
        self.watch_enabled = watches is not None
        self._tasks: set[asyncio.Task] = set()
        self._ack_first = AckFirst()

    # --- admission (fast, before the ack) -----------------------------------------

    def on_command(self, chat: Chat, request: Request) -> Answer:
        """Parse and admit a command; the work, if any, is returned to be spawned."""
        try:
            command = parse_command(request.text)
        except CommandError as exc:
            return Answer(text=render.usage_message(str(exc), USAGE).text)
        return self.on_parsed(chat, request, command)

    def on_parsed(self, chat: Chat, request: Request, command: Command) -> Answer:
        if isinstance(command, Help):
            return Answer(text=USAGE)
        if isinstance(command, Explain):
            return self.on_explain(chat, request, command.text)
        if isinstance(command, Check):
            try:
                ticket = self.limiter.acquire(request.team, request.user)
            except Refused as exc:
                return Answer(text=f":hourglass: {exc}.")
            return Answer(
                work=self.run_check(chat, request, command.target, ticket), after_acks=True
            )
        if self.watches is None:
            return Answer(text="Watching sites needs the bot's database; it is not set up here.")
        if isinstance(command, Watch):
            try:
                ticket = self.limiter.acquire(request.team, request.user, "watch requests")
            except Refused as exc:
                return Answer(text=f":hourglass: {exc}.")
            return Answer(prepare=self._store_watch(chat, request, command, ticket))
        if isinstance(command, Unwatch):
            return Answer(
                work=self.watches.unwatch(chat, request.channel, request.user, command.target)
            )
        if isinstance(command, Mute):
            return Answer(
                work=self.watches.mute_command(chat, request.channel, request.user, command)
            )
        if isinstance(command, Unmute):
            return Answer(
                work=self.watches.unmute_command(
                    chat, request.channel, request.user, command.target
                )
            )
        return Answer(work=self.watches.list_watches(chat, request.channel, request.user))

    def on_explain(
        self, chat: Chat, request: Request, text: str, thread_ts: str | None = None
    ) -> Answer:
        """Log lines (pasted after `/gateway explain`, or a message's text from the shortcut):
        unusable text is answered at once; the explanation is work, posted in `thread_ts`'s
        thread when given, else in the channel."""
        try:
            text = read_text(from_slack(text))
        except ExplainInputError as exc:
            return Answer(text=f":warning: I can't explain that: {exc}.")
        try:
            ticket = self.limiter.acquire(request.team, request.user)
        except Refused as exc:
            return Answer(text=f":hourglass: {exc}.")
        return Answer(
            work=self.run_explain(chat, request, text, thread_ts, ticket), after_acks=True
        )

    async def run_explain(
        self, chat: Chat, request: Request, text: str, thread_ts: str | None, ticket: Ticket
    ) -> None:
        with ticket:
            try:
                today = datetime.now(UTC).date()  # dates syslog prefixes (no year)
                explanation = await asyncio.to_thread(explain, text, None, None, today)
                messages = render_explain.slack_messages(explanation, request.user)
                await self._post_explanation(chat, request, messages, thread_ts)
            except Exception:  # one failed explanation must never take the bot down
                log.exception("explaining %d characters failed", len(text))

    async def _post_explanation(
        self,
        chat: Chat,
        request: Request,
        messages: list[render.Message],
        thread_ts: str | None,
    ) -> None:
        for message in messages:
            try:
                posted = await chat.post(request.channel, message, thread_ts=thread_ts)
            except NotInChannel:
                posted = None
            if posted is None and not await chat.respond(message, in_channel=thread_ts is None):
                await chat.ephemeral(request.channel, request.user, message)

    async def settle(self, answer: Answer) -> Answer:
        """The answer to ack with, once its `prepare` step (if any) is done."""
        if answer.prepare is None:
            return answer
        try:
            return await asyncio.wait_for(answer.prepare, PREPARE_TIMEOUT)
        except TimeoutError:
            log.error("the database took over %s s to store a request", PREPARE_TIMEOUT)
            return Answer(text=DATABASE_TROUBLE)
        except Exception:  # the database is down: say so, never a 500
            log.exception("storing a request failed")
            return Answer(text=DATABASE_TROUBLE)

    async def answer_command(self, chat: Chat, request: Request) -> Answer:
        """`on_command` with its prepare step done: what to ack with, and the work after."""
        return await self.settle(self.on_command(chat, request))

    async def answer_button(self, chat: Chat, request: Request, action: str, value: str) -> Answer:
        """`on_button` with its prepare step done."""
        return await self.settle(self.on_button(chat, request, action, value))

    async def _store_watch(
        self, chat: Chat, request: Request, command: Watch, ticket: Ticket
    ) -> Answer:
        assert self.watches is not None
        try:
            stored = await self.watches.store_watch(
                request.team, request.channel, request.user, command
            )
        except BaseException:
            ticket.release()
            raise
        if isinstance(stored, str):
            ticket.release()
            return Answer(text=stored)
        return Answer(work=self._confirm_watch(chat, stored, ticket))

    async def _confirm_watch(self, chat: Chat, stored: StoredWatch, ticket: Ticket) -> None:
        assert self.watches is not None
        with ticket:
            try:
                await self.watches.confirm_watch(chat, stored)
            except Exception:
                log.exception("confirming the watch of %s failed", stored.target.url)

    def on_button(self, chat: Chat, request: Request, action: str, value: str) -> Answer:
        """Any button the bot posted, pressed by `request.user`."""
        if action == render.ACTION_VISITOR:
            return Answer(work=self.on_visitor_advice(chat, request, value))
        if action == render.ACTION_RERUN:
            return self.on_rerun(chat, request, value)
        if action == render.ACTION_WATCH:
            return self.on_watch_button(chat, request, value)
        if action in HOME_ACTIONS:
            return self.on_home_button(chat, request, action, value)
        return self.on_alert_action(chat, request, action, value)

    def on_rerun(self, chat: Chat, request: Request, value: str) -> Answer:
        target = _target_from(value)
        if isinstance(target, str):
            return Answer(text=f"{render.escape(target)}; run `/gateway check SITE` again.")
        return self.on_parsed(chat, request, Check(target))

    def on_watch_button(self, chat: Chat, request: Request, value: str) -> Answer:
        target = _target_from(value)
        if isinstance(target, str):
            return Answer(text=f"{render.escape(target)}; try `/gateway watch SITE`.")
        if request.trigger_id and self.watches is not None:  # Slack: the modal, prefilled
            try:  # a button pressed in a loop stops at the limits, as a watch command does
                ticket = self.limiter.acquire(request.team, request.user)
            except Refused as exc:
                return Answer(text=f":hourglass: {exc}.")
            return Answer(work=self._open_modal(chat, request, target, ticket))
        return self.on_parsed(chat, request, Watch(target))

    # --- App Home and the modal -------------------------------------------------------

    def on_home_opened(self, chat: Chat, team: str, user: str) -> Answer:
        if self.watches is None:
            return Answer()
        return Answer(work=self.watches.home.opened(chat, team, user))

    def on_home_button(self, chat: Chat, request: Request, action: str, value: str) -> Answer:
        """New watch, Re-check now, Mute 1h, Unmute, Edit: the buttons of the Home tab."""
        if self.watches is None:
            return Answer()
        home = self.watches.home
        watch_id = render.button_data(value).get("w")
        if action == ACTION_HOME_NEW and request.trigger_id:
            return Answer(work=home.open_modal(chat, request.trigger_id, request.team))
        if not isinstance(watch_id, int):
            return Answer()
        if action == ACTION_HOME_EDIT and request.trigger_id:
            return Answer(
                work=home.open_modal(chat, request.trigger_id, request.team, watch_id=watch_id)
            )
        if action == ACTION_HOME_RECHECK:  # out on the network: rate limited like a check
            try:
                ticket = self.limiter.acquire(request.team, request.user)
            except Refused as exc:
                return Answer(text=f":hourglass: {exc}.")
            return Answer(work=self._home_recheck(request.team, watch_id, ticket))
        if action == ACTION_HOME_MUTE:
            return Answer(work=home.mute(chat, request.team, request.user, watch_id))
        if action == ACTION_HOME_UNMUTE:
            return Answer(work=home.unmute(chat, request.team, request.user, watch_id))
        return Answer()

    def on_modal(
        self, chat: Chat, team: str, user: str, view: dict
    ) -> tuple[dict[str, str] | None, Answer]:
        """The watch modal submitted: errors to show on its fields, or the work to do."""
        if self.watches is None:
            return {"target": "Watching sites needs the bot's database."}, Answer()
        found = read_submission(view)
        if isinstance(found, dict):
            return found, Answer()
        try:
            ticket = self.limiter.acquire(team, user)
        except Refused as exc:
            return {"target": f"{exc}; try again in a minute"}, Answer()
        return None, Answer(work=self._submitted(chat, team, user, found, ticket))

    async def _submitted(
        self, chat: Chat, team: str, user: str, found: Submission, ticket: Ticket
    ) -> None:
        assert self.watches is not None
        with ticket:
            try:
                await self.watches.home.submitted(chat, team, user, found)
            except Exception:  # one failed submission must never take the bot down
                log.exception("the watch modal's submission failed")

    def on_alert_action(self, chat: Chat, request: Request, action: str, value: str) -> Answer:
        """Acknowledge, Mute 1h, Re-check now, Unwatch: the buttons of a watch alert.

        Each acts only on a watch of the workspace and channel it was pressed in (the
        watch service checks); Re-check now goes out on the network, so it is rate limited.
        """
        if self.watches is None:
            return Answer()
        press = Press(team=request.team, channel=request.channel, user=request.user)
        if action == ACTION_RECHECK:
            try:
                ticket = self.limiter.acquire(request.team, request.user)
            except Refused as exc:
                return Answer(text=f":hourglass: {exc}.")
            return Answer(work=self._recheck(chat, press, value, ticket), after_acks=True)
        handlers = {
            ACTION_ACK: self.watches.acknowledge,
            ACTION_MUTE: self.watches.mute,
            ACTION_UNWATCH: self.watches.unwatch_button,
        }
        handler = handlers.get(action)
        return Answer(work=handler(chat, press, value)) if handler else Answer()

    async def _open_modal(
        self, chat: Chat, request: Request, target: Target, ticket: Ticket
    ) -> None:
        assert self.watches is not None and request.trigger_id
        with ticket:
            await self.watches.home.open_modal(
                chat, request.trigger_id, request.team, url=target.url, channel=request.channel
            )

    async def _home_recheck(self, team: str, watch_id: int, ticket: Ticket) -> None:
        assert self.watches is not None
        with ticket:
            await self.watches.home.recheck(team, watch_id)

    async def _recheck(self, chat: Chat, press: Press, value: str, ticket: Ticket) -> None:
        assert self.watches is not None
        with ticket:
            await self.watches.recheck(chat, press, value)

    async def on_visitor_advice(self, chat: Chat, request: Request, value: str) -> None:
        """Show the clicking person what a visitor can try, for the cause the verdict named."""
        code = render.button_data(value).get("c")
        cause = load_knowledge().causes.get(code) if isinstance(code, str) else None
        target = _target_from(value)
        if cause is None or isinstance(target, str):
            return
        context = {
            "host": target.host,
            "port": str(target.port),
            "gateway": "the site",
            "status": "the error",
        }
        steps = tuple(fill(step, context) for step in cause.visitor)
        for message in render.visitor_messages(steps, target.host):
            await chat.ephemeral(request.channel, request.user, message)

    def spawn(self, work: Coroutine[Any, Any, None], after_acks: bool = False) -> asyncio.Task:
        """Run work in the background (with `after_acks`, once the burst it came in has
        been acked), keeping a reference so it is not collected."""
        if after_acks:
            work = self._ack_first.after_ack(work)
        else:
            self._ack_first.note_ack()
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait for background work (tests and shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    # --- the check (slow, after the ack) -------------------------------------------

    async def run_check(self, chat: Chat, request: Request, target: Target, ticket: Ticket) -> None:
        with ticket:
            try:
                await self._run_check(chat, request, target)
            except Exception:  # one failed check must never take the bot down
                log.exception("check of %s failed", target.url)

    async def _run_check(self, chat: Chat, request: Request, target: Target) -> None:
        events: list[Progress] = []
        try:
            ts = await chat.post(
                request.channel, render.progress_message(target, request.user, events)
            )
        except NotInChannel:
            ts = None
            if not request.response_url:
                return
        progress = _ProgressUpdater(chat, request, target, ts, events)
        try:
            async with self.checks_in_flight:
                diagnosis = await self.check_function(target, self.settings.check, progress.add)
        except (TargetRefused, TargetError) as exc:
            await progress.stop()
            await self._refused(chat, request, ts, str(exc))
            return
        await progress.stop()
        verdict = render.verdict_message(diagnosis, request.user, self.watch_enabled)
        thread = render.thread_messages(diagnosis) + render_explain.settle_messages(diagnosis)
        if ts is None:
            await self._answer_without_membership(chat, verdict, thread)
            return
        if not await chat.update(request.channel, ts, verdict):
            ts = await chat.post(request.channel, verdict) or ts
        for message in thread:
            await chat.post(request.channel, message, thread_ts=ts)

    async def _refused(self, chat: Chat, request: Request, ts: str | None, reason: str) -> None:
        message = render.notice(f":no_entry: {render.escape(reason)}")
        if ts is None or not await chat.update(request.channel, ts, message):
            await chat.respond(message, in_channel=False)

    async def _answer_without_membership(
        self, chat: Chat, verdict: render.Message, thread: list[render.Message]
    ) -> None:
        """Private channel or DM without the bot: response_url, 5 uses at most."""
        await chat.respond(verdict, in_channel=True)
        blocks: list[dict] = []
        for message in thread:
            blocks += message.blocks
        for start in range(
            0, min(len(blocks), 3 * render.BLOCKS_PER_MESSAGE), render.BLOCKS_PER_MESSAGE
        ):
            part = blocks[start : start + render.BLOCKS_PER_MESSAGE]
            await chat.respond(render.Message(text=verdict.text, blocks=part), in_channel=True)
        await chat.respond(render.notice(INVITE_HINT), in_channel=False)


class _ProgressUpdater:
    """Collects progress events and edits the progress message at most once a second."""

    def __init__(
        self, chat: Chat, request: Request, target: Target, ts: str | None, events: list[Progress]
    ) -> None:
        self.chat, self.request, self.target, self.ts = chat, request, target, ts
        self.events = events
        self.changed = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._loop()) if ts else None

    def add(self, event: Progress) -> None:
        self.events.append(event)
        self.changed.set()

    async def _loop(self) -> None:
        last = 0.0
        while True:
            await self.changed.wait()
            await asyncio.sleep(max(0.0, last + PROGRESS_EVERY - time.monotonic()))
            self.changed.clear()
            last = time.monotonic()
            message = render.progress_message(self.target, self.request.user, list(self.events))
            await self.chat.update(self.request.channel, self.ts or "", message)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


HOME_ACTIONS = (
    ACTION_HOME_NEW,
    ACTION_HOME_RECHECK,
    ACTION_HOME_MUTE,
    ACTION_HOME_UNMUTE,
    ACTION_HOME_EDIT,
)


def _target_from(value: str) -> Target | str:
    """The target a button carries, or why it cannot be checked (one line).

    A button's value comes back from whoever pressed it and may have been altered:
    any value at all ends in a target or a reason, never an exception.
    """
    url = render.button_data(value).get("t")
    if not isinstance(url, str):
        return "That button is too old to use"
    try:
        return parse_target(url)
    except (TargetError, ValueError) as exc:
        return f"That button holds no target I can check: {exc}"
