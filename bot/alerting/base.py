"""The one interface every alert channel implements: open, update, note, resolve.

An incident is delivered to several places: its Slack alert (whose reference is
the message's ts), PagerDuty (the dedup key), a webhook. Each place is one
module with these four calls, taking the same render-neutral `AlertView`; the
next channel (Teams, email) is one new module. What is delivered *when*
(thresholds, reminders, escalation) belongs to the watch, not to a provider.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from bot.alerting.view import AlertView
from bot.render.mrkdwn import Message

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A provider could not deliver; `retry` says whether trying again can help."""

    def __init__(self, message: str, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


@runtime_checkable
class Provider(Protocol):
    name: str  # as the thread names it: "PagerDuty", "the webhook", "Slack"

    async def open(self, alert: AlertView) -> str | None:
        """Deliver a new incident; the reference to keep for its later calls."""

    async def update(self, alert: AlertView, ref: str) -> None:
        """The incident changed (acknowledged, a new diagnosis, muted)."""

    async def note(self, alert: AlertView, ref: str, text: str, broadcast: bool = False) -> None:
        """A remark on the incident (a reminder, an escalation, a change)."""

    async def resolve(self, alert: AlertView, ref: str) -> None:
        """The site recovered."""


@runtime_checkable
class Threaded(Provider, Protocol):
    """A provider whose alert carries a thread (Slack): replies and the full diagnosis go
    there. A capability beside the four calls, asked for only where a thread exists."""

    async def reply(
        self, alert: AlertView, ref: str, message: Message, broadcast: bool = False
    ) -> None:
        """A message in the alert's thread (broadcast: also shown in the channel)."""

    async def details(self, alert: AlertView, ref: str, messages: list[Message]) -> None:
        """The diagnosis, in the alert's thread."""


async def with_retries(
    call: Callable[[], Awaitable[None]], what: str, attempts: int, backoff: float
) -> None:
    """Try `call` up to `attempts` times, waiting backoff, 2×backoff, 4×… in between.

    Raises the last DeliveryError when every attempt failed (or one said not to retry).
    """
    delay = backoff
    for attempt in range(1, attempts + 1):
        try:
            await call()
            return
        except DeliveryError as exc:
            if not exc.retry or attempt == attempts:
                raise
            log.warning("%s failed (attempt %d of %d): %s", what, attempt, attempts, exc)
        await asyncio.sleep(delay)
        delay *= 2
