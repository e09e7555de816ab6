"""The conversation: what the bot does with a `/gateway` command or a button press.

Transport-free: Slack (bot/slack_app.py) and the terminal (bot/shell.py) both
call `Gateway` with a `Chat`. A command is answered in two steps: `on_command`
parses and admits it through the dispatch table (bot/verbs.py; pure and fast, so
Slack's 3-second ack is never at risk) and returns the slow part as work that
runs in a task of its own (bot/work.py), so one slow site delays nobody else.
What must survive a crash once Slack has its ack (a new watch) is written before
the ack, in `Answer.prepare`: one short transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from bot.ack_first import AckFirst
from bot.chat import Chat
from bot.commands import CommandError
from bot.commands import Watch as WatchCommand
from bot.dispatch import CHECKS, Answer, Request, admit, hold, ticket_for
from bot.limits import RateLimiter
from bot.modal import Submission, read_submission
from bot.render import slack as render
from bot.settings import Settings
from bot.verbs import USAGE, VERBS
from bot.watch.service import StoredWatch, WatchService
from bot.work import Work
from checks.explain import ExplainInputError, from_slack, read_text
from checks.run import CheckFunction, check

__all__ = ["Answer", "Gateway", "Request"]

log = logging.getLogger(__name__)

PREPARE_TIMEOUT = 2.0  # seconds for the write before an ack; Slack waits 3 for the ack
DATABASE_TROUBLE = (
    ":warning: I could not save that just now (my database is not answering); "
    "nothing was changed. Please try again in a minute."
)


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
        self.work = Work(settings, check_function or check, watch_enabled=watches is not None)
        self._tasks: set[asyncio.Task[None]] = set()
        self._ack_first = AckFirst()

    @property
    def has_database(self) -> bool:
        return self.watches is not None

    # --- admission (fast, before the ack) -----------------------------------------

    def on_command(self, chat: Chat, request: Request) -> Answer:
        """Parse and admit a command; the work, if any, is returned to be spawned."""
        try:
            command = VERBS.parse(request.text)
        except CommandError as exc:
            return Answer(text=render.usage_message(str(exc), USAGE).text)
        return self.on_parsed(chat, request, command)

    def on_parsed(self, chat: Chat, request: Request, command: object) -> Answer:
        return VERBS.answer(self, chat, request, command)

    def on_button(self, chat: Chat, request: Request, action: str, value: str) -> Answer:
        """Any button the bot posted, pressed by `request.user`."""
        return VERBS.press(self, chat, request, action, value)

    def on_alert_action(self, chat: Chat, request: Request, action: str, value: str) -> Answer:
        """Acknowledge, Mute 1h, Re-check now, Unwatch: the buttons of a watch alert."""
        return self.on_button(chat, request, action, value)

    def on_watch_button(self, chat: Chat, request: Request, value: str) -> Answer:
        return self.on_button(chat, request, render.ACTION_WATCH, value)

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
        work = self.work.explain(chat, request, text, thread_ts)
        return admit(self.limiter, request, CHECKS, Answer(work=work, after_acks=True))

    def store_watch(self, chat: Chat, request: Request, command: WatchCommand) -> Answer:
        """A watch is written before the ack (`prepare`), announced after it (`work`)."""
        return Answer(prepare=self._store_watch(chat, request, command))

    async def _store_watch(self, chat: Chat, request: Request, command: WatchCommand) -> Answer:
        assert self.watches is not None
        stored = await self.watches.store_watch(
            request.team, request.channel, request.user, command
        )
        if isinstance(stored, str):
            return Answer(text=stored)
        return Answer(work=self._confirm_watch(chat, stored))

    async def _confirm_watch(self, chat: Chat, stored: StoredWatch) -> None:
        assert self.watches is not None
        try:
            await self.watches.confirm_watch(chat, stored)
        except Exception:
            log.exception("confirming the watch of %s failed", stored.target.url)

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

    # --- App Home and the modal -------------------------------------------------------

    def on_home_opened(self, chat: Chat, team: str, user: str) -> Answer:
        if self.watches is None:
            return Answer()
        return Answer(work=self.watches.home.opened(chat, team, user))

    def on_modal(
        self, chat: Chat, team: str, user: str, view: dict[str, Any]
    ) -> tuple[dict[str, str] | None, Answer]:
        """The watch modal submitted: errors to show on its fields, or the work to do."""
        if self.watches is None:
            return {"target": "Watching sites needs the bot's database."}, Answer()
        found = read_submission(view)
        if isinstance(found, dict):
            return found, Answer()
        ticket = ticket_for(self.limiter, Request(team, "", user), CHECKS)
        if isinstance(ticket, str):  # said on the modal's field, which stays open
            return {"target": f"{ticket}; try again in a minute"}, Answer()
        return None, hold(ticket, Answer(work=self._submitted(chat, team, user, found)))

    async def _submitted(self, chat: Chat, team: str, user: str, found: Submission) -> None:
        assert self.watches is not None
        try:
            await self.watches.home.submitted(chat, team, user, found)
        except Exception:  # one failed submission must never take the bot down
            log.exception("the watch modal's submission failed")

    # --- background work ----------------------------------------------------------------

    def spawn(
        self, work: Coroutine[Any, Any, None], after_acks: bool = False
    ) -> asyncio.Task[None]:
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
