"""The slow part of an answer, run after the ack: a check with live progress, an
explanation, a visitor's advice. Each never raises: one failure never takes the bot down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from bot.chat import Chat, NotInChannel
from bot.dispatch import Request
from bot.render import explain as render_explain
from bot.render import slack as render
from bot.settings import Settings
from checks.diagnose import fill
from checks.explain import explain
from checks.guard import TargetRefused
from checks.knowledge import load as load_knowledge
from checks.models import Progress, Target
from checks.run import CheckFunction
from checks.target import TargetError, parse_target

log = logging.getLogger(__name__)

PROGRESS_EVERY = 1.0  # seconds between progress edits: Slack allows about one a second
INVITE_HINT = (
    "I'm not a member of this channel, so I answered here without live progress "
    "or a thread. Invite me with `/invite @gateway` for the full experience."
)


class Work:
    """Checks (at most `checks_in_flight` at once) and explanations, posted as they finish."""

    def __init__(
        self, settings: Settings, check_function: CheckFunction, watch_enabled: bool
    ) -> None:
        self.settings = settings
        self.check_function = check_function
        self.watch_enabled = watch_enabled
        self.checks_in_flight = asyncio.Semaphore(settings.limits.checks_in_flight)

    # --- an explanation -----------------------------------------------------------------

    async def explain(self, chat: Chat, request: Request, text: str, thread_ts: str | None) -> None:
        try:
            explanation = await asyncio.to_thread(explain, text)  # pure, but up to 1 MiB
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

    # --- a visitor's advice ---------------------------------------------------------------

    async def visitor_advice(self, chat: Chat, request: Request, value: str) -> None:
        """Show the clicking person what a visitor can try, for the cause the verdict named."""
        code = render.button_data(value).get("c")
        cause = load_knowledge().causes.get(code) if isinstance(code, str) else None
        target = target_from(value)
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

    # --- a check ----------------------------------------------------------------------------

    async def check(self, chat: Chat, request: Request, target: Target) -> None:
        try:
            await self._check(chat, request, target)
        except Exception:  # one failed check must never take the bot down
            log.exception("check of %s failed", target.url)

    async def _check(self, chat: Chat, request: Request, target: Target) -> None:
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
        blocks: list[dict[str, Any]] = []
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


def target_from(value: str) -> Target | str:
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
