"""PagerDuty, through the Events API v2: trigger, acknowledge, resolve with one dedup key.

The dedup key is the incident's, so a re-sent trigger (after a timeout, a restart)
is the same PagerDuty incident, never a second page.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from bot.alerting.base import DeliveryError
from bot.alerting.view import AlertView, dedup_key

TIMEOUT = aiohttp.ClientTimeout(total=10)


class PagerDuty:
    name = "PagerDuty"

    def __init__(self, session: aiohttp.ClientSession, base_url: str, routing_key: str) -> None:
        self.session = session
        self.url = base_url.rstrip("/") + "/v2/enqueue"
        self.routing_key = routing_key

    async def open(self, alert: AlertView) -> str | None:
        key = dedup_key(alert)
        await self._send(
            {
                "routing_key": self.routing_key,
                "event_action": "trigger",
                "dedup_key": key,
                "payload": {
                    "summary": f"{alert.host} is {alert.verdict}: {alert.summary}"[:1024],
                    "source": alert.host,
                    "severity": "warning" if alert.verdict == "degraded" else "critical",
                    "timestamp": alert.failing_since.isoformat(),
                    "component": alert.url[:500],
                    "class": alert.cause,
                    "custom_details": {
                        "cause": alert.cause,
                        "gateway": alert.gateway,
                        "failing_since": alert.failing_since.isoformat(),
                        "failed_checks": alert.failure_count,
                        "http_statuses": list(alert.http_statuses),
                    },
                },
                "client": "gateway",
            }
        )
        return key

    async def update(self, alert: AlertView, ref: str) -> None:
        if alert.acknowledged_by:  # the only change PagerDuty hears about
            await self._send(
                {"routing_key": self.routing_key, "event_action": "acknowledge", "dedup_key": ref}
            )

    async def note(self, alert: AlertView, ref: str, text: str, broadcast: bool = False) -> None:
        return None  # PagerDuty's incident keeps its own timeline

    async def resolve(self, alert: AlertView, ref: str) -> None:
        await self._send(
            {"routing_key": self.routing_key, "event_action": "resolve", "dedup_key": ref}
        )

    async def _send(self, event: dict[str, Any]) -> None:
        try:
            async with self.session.post(self.url, json=event, timeout=TIMEOUT) as response:
                if response.status == 202:
                    return
                body = (await response.text())[:200]
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"{type(exc).__name__} from {self.url}") from None
        # 400: the event is wrong and will stay wrong; 429 and 5xx pass.
        raise DeliveryError(f"HTTP {response.status}: {body}", retry=response.status != 400)
