"""A JSON webhook: escalations, acknowledgements and resolutions POSTed, signed.

The receiver verifies `X-Gateway-Signature: sha256=HEX`, the HMAC-SHA256 of the
exact body with the shared secret, so nobody else can raise an alarm there.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import aiohttp

from bot.alerting.base import DeliveryError
from bot.alerting.view import AlertView, dedup_key

TIMEOUT = aiohttp.ClientTimeout(total=10)
HEADER = "X-Gateway-Signature"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Webhook:
    name = "the webhook"

    def __init__(self, session: aiohttp.ClientSession, url: str, secret: str) -> None:
        self.session = session
        self.url = url
        self.secret = secret

    async def open(self, alert: AlertView) -> str | None:
        await self._send("escalated", alert)
        return dedup_key(alert)

    async def update(self, alert: AlertView, ref: str) -> None:
        if alert.acknowledged_by:
            await self._send("acknowledged", alert)

    async def note(self, alert: AlertView, ref: str, text: str, broadcast: bool = False) -> None:
        return None

    async def resolve(self, alert: AlertView, ref: str) -> None:
        await self._send("resolved", alert)

    async def _send(self, event: str, alert: AlertView) -> None:
        body = json.dumps(payload(event, alert), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", HEADER: signature(self.secret, body)}
        try:
            async with self.session.post(
                self.url, data=body, headers=headers, timeout=TIMEOUT
            ) as response:
                if 200 <= response.status < 300:
                    return
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"{type(exc).__name__} from the webhook") from None
        raise DeliveryError(f"HTTP {status}", retry=status == 429 or status >= 500)


def payload(event: str, alert: AlertView) -> dict[str, Any]:
    """What the receiver gets (documented in the README)."""
    return {
        "event": event,
        "dedup_key": dedup_key(alert),
        "incident": {
            "id": alert.incident_id,
            "watch_id": alert.watch_id,
            "url": alert.url,
            "host": alert.host,
            "state": alert.state,
            "verdict": alert.verdict,
            "cause": alert.cause,
            "summary": alert.summary,
            "gateway": alert.gateway,
            "failing_since": alert.failing_since.isoformat(),
            "failed_checks": alert.failure_count,
            "acknowledged_by": alert.acknowledged_by,
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        },
    }
