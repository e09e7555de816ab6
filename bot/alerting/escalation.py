"""Escalation outside Slack: PagerDuty and/or the webhook, in the background, retried.

Every delivery runs in a task of its own with retries and backoff, so an outage
of PagerDuty or the webhook never holds up a check or a Slack message. The
events of one incident reach one provider in order (a resolve never overtakes
its trigger); when every attempt fails, `on_failure` says so (in the thread).
With an outbox (bot/alerting/outbox.py) each event is written before it is sent
and deleted after, and `resend_pending` sends what a killed process left.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiohttp

from bot.alerting.base import DeliveryError, Provider, with_retries
from bot.alerting.outbox import Outbox
from bot.alerting.pagerduty import PagerDuty
from bot.alerting.view import AlertView, dedup_key
from bot.alerting.webhook import Webhook
from bot.settings import Escalation
from bot.watch.records import IncidentUpdate

log = logging.getLogger(__name__)

_WHAT = {"open": "escalating to", "update": "updating", "resolve": "resolving"}
OnFailure = Callable[[AlertView, str, str], Awaitable[None]]


class Escalations:
    def __init__(
        self, settings: Escalation, on_failure: OnFailure, outbox: Outbox | None = None
    ) -> None:
        self.settings = settings
        self.on_failure = on_failure
        self.outbox = outbox
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

    async def open(
        self, alert: AlertView, incident: tuple[int, IncidentUpdate] | None = None
    ) -> None:
        """Escalate to every provider, in the background; with an outbox, the events are
        written first, together with the incident's change (`incident`: id, values)."""
        events = [(key, "open", dedup_key(alert)) for key in self.providers]
        await self._write_and_queue(alert, events, incident)

    async def update(self, alert: AlertView, refs: dict[str, str]) -> None:
        events = [(key, "update", ref) for key, ref in refs.items() if key in self.providers]
        await self._write_and_queue(alert, events)

    async def resolve(self, alert: AlertView, refs: dict[str, str]) -> None:
        events = [(key, "resolve", ref) for key, ref in refs.items() if key in self.providers]
        await self._write_and_queue(alert, events)

    async def resend_pending(self, mine: Callable[[int], bool] = lambda _watch_id: True) -> int:
        """Queue what the outbox still holds (a killed process's events) for the watches
        that are `mine`, oldest first."""
        if self.outbox is None:
            return 0
        pending = [e for e in await self.outbox.pending() if mine(e.alert.watch_id)]
        for event in pending:
            if event.provider not in self.providers:  # no longer configured: nowhere to send
                await self.outbox.done(event.id)
                continue
            self._queue(event.alert, event.provider, event.action, event.ref, event.id)
        if pending:
            log.info("sending %d escalation event(s) left by an earlier run", len(pending))
        return len(pending)

    async def _write_and_queue(
        self,
        alert: AlertView,
        events: list[tuple[str, str, str]],
        incident: tuple[int, IncidentUpdate] | None = None,
    ) -> None:
        if self.outbox is not None and (events or incident):
            ids: list[int | None] = list(await self.outbox.add(alert, events, incident))
        else:
            ids = [None] * len(events)
        for (key, action, ref), row_id in zip(events, ids, strict=True):
            self._queue(alert, key, action, ref, row_id)

    def _queue(self, alert: AlertView, key: str, action: str, ref: str, row_id: int | None) -> None:
        provider = self.providers[key]
        chain = (alert.incident_id, key)
        before = self._chains.get(chain)
        what = _WHAT[action]

        async def call() -> None:
            if action == "open":
                await provider.open(alert)
            elif action == "update":
                await provider.update(alert, ref)
            else:
                await provider.resolve(alert, ref)

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
            if row_id is not None and self.outbox is not None:
                try:  # delivered or given up on (and said): not for the next leader
                    await self.outbox.done(row_id)
                except Exception:  # the database is away: sent again later, harmlessly
                    log.warning("could not clear escalation event %s from the outbox", row_id)

        task = asyncio.get_running_loop().create_task(deliver())
        self._chains[chain] = task
        task.add_done_callback(lambda t: self._forget(chain, t))

    def _forget(self, chain: tuple[int, str], task: asyncio.Task[None]) -> None:
        if self._chains.get(chain) is task:
            del self._chains[chain]
