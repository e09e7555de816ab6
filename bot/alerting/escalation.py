"""Escalation outside Slack: PagerDuty and/or the webhook, in the background, retried.

Every delivery runs in a task of its own with retries and backoff, so an outage
of PagerDuty or the webhook never holds up a check or a Slack message. The
events of one incident reach one provider in order (a resolve never overtakes
its trigger); when every attempt fails, `on_failure` says so (in the thread).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable

import aiohttp

from bot.alerting.base import DeliveryError, Provider, with_retries
from bot.alerting.pagerduty import PagerDuty
from bot.alerting.view import AlertView, dedup_key
from bot.alerting.webhook import Webhook
from bot.settings import Escalation

log = logging.getLogger(__name__)

OnFailure = Callable[[AlertView, str, str], Awaitable[None]]


class Escalations:
    def __init__(self, settings: Escalation, on_failure: OnFailure) -> None:
        self.settings = settings
        self.on_failure = on_failure
        self.providers: dict[str, Provider] = {}
        self._session: aiohttp.ClientSession | None = None
        self._chains: dict[tuple[int, str], asyncio.Task[None]] = {}

    @property
    def enabled(self) -> bool:
        return self.settings.anywhere

    async def start(self) -> None:
        if not self.enabled:
            return
        self._session = aiohttp.ClientSession()
        if self.settings.pagerduty_key:
            self.providers["pagerduty"] = PagerDuty(
                self._session, self.settings.pagerduty_url, self.settings.pagerduty_key
            )
        if self.settings.webhook_url and self.settings.webhook_secret:
            self.providers["webhook"] = Webhook(
                self._session, self.settings.webhook_url, self.settings.webhook_secret
            )

    async def stop(self, timeout: float = 5.0) -> None:
        """Give deliveries in flight a moment, then give up on them."""
        pending = {t for t in self._chains.values() if not t.done()}
        if pending:
            _, late = await asyncio.wait(pending, timeout=timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def settled(self) -> None:
        """Wait for every delivery in flight (tests)."""
        while pending := [t for t in self._chains.values() if not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)

    def names(self) -> list[str]:
        return [p.name for p in self.providers.values()]

    def refs(self, alert: AlertView) -> dict[str, str]:
        """The references an escalation will have, known before sending (the dedup key),
        so they are written before anything is sent."""
        return {key: dedup_key(alert) for key in self.providers}

    def open(self, alert: AlertView) -> None:
        """Escalate to every provider, in the background."""
        for key, provider in self.providers.items():
            self._queue(alert, key, functools.partial(provider.open, alert), "escalating to")

    def update(self, alert: AlertView, refs: dict[str, str]) -> None:
        for key, ref in refs.items():
            if provider := self.providers.get(key):
                send = functools.partial(provider.update, alert, ref)
                self._queue(alert, key, send, "updating")

    def resolve(self, alert: AlertView, refs: dict[str, str]) -> None:
        for key, ref in refs.items():
            if provider := self.providers.get(key):
                send = functools.partial(provider.resolve, alert, ref)
                self._queue(alert, key, send, "resolving")

    def _queue(
        self, alert: AlertView, key: str, send: Callable[[], Awaitable[object]], what: str
    ) -> None:
        provider = self.providers[key]
        chain = (alert.incident_id, key)
        before = self._chains.get(chain)

        async def call() -> None:
            await send()

        async def deliver() -> None:
            if before is not None:
                await asyncio.gather(before, return_exceptions=True)
            label = f"{what} {provider.name} for incident {alert.incident_id}"
            try:
                await with_retries(call, label, self.settings.retries, self.settings.backoff)
            except DeliveryError as exc:
                log.warning("%s failed for good: %s", label, exc)
                try:
                    await self.on_failure(alert, provider.name, str(exc))
                except Exception:  # telling Slack is best effort; the log has it
                    log.exception("could not report the failed delivery")

        task = asyncio.get_running_loop().create_task(deliver())
        self._chains[chain] = task
        task.add_done_callback(lambda t: self._forget(chain, t))

    def _forget(self, chain: tuple[int, str], task: asyncio.Task[None]) -> None:
        if self._chains.get(chain) is task:
            del self._chains[chain]
