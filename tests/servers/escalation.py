"""Loopback stand-ins for PagerDuty's Events API v2 and for a webhook receiver.

Both are real aiohttp servers on 127.0.0.1 in the test's event loop. They answer
as the real ones do (PagerDuty: 202 `{"status": "success", "dedup_key": …}`,
400 for an event it would refuse) and record what they accepted. `fail_next(n)`
makes the next n requests fail with a 500 (an outage) before answering again.
The webhook receiver verifies `X-Gateway-Signature` (over `X-Gateway-Timestamp`, a dot
and the body) as a real receiver must, and answers 401 to a bad signature or a
timestamp more than five minutes off.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from aiohttp import web

ACTIONS = {"trigger", "acknowledge", "resolve"}


class _Server:
    def __init__(self) -> None:
        self.received: list[dict] = []
        self.refused: list[tuple[int, str]] = []
        self._failures = 0
        self._runner: web.AppRunner | None = None
        self.port = 0

    def fail_next(self, times: int = 1) -> None:
        self._failures += times

    async def start(self, path: str, handler) -> _Server:
        app = web.Application()
        app.router.add_post(path, self._guarded(handler))
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _guarded(self, handler):
        async def handle(request: web.Request) -> web.Response:
            if self._failures:
                self._failures -= 1
                self.refused.append((500, "outage"))
                return web.json_response({"status": "error"}, status=500)
            return await handler(request)

        return handle


class PagerDutyStandIn(_Server):
    """POST /v2/enqueue, as events.pagerduty.com answers it."""

    def __init__(self, routing_key: str) -> None:
        super().__init__()
        self.routing_key = routing_key

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> PagerDutyStandIn:
        await self.start("/v2/enqueue", self._enqueue)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def actions(self) -> list[tuple[str, str]]:
        return [(e["event_action"], e["dedup_key"]) for e in self.received]

    async def _enqueue(self, request: web.Request) -> web.Response:
        try:
            event = await request.json()
        except ValueError:
            return self._invalid("Event object is invalid")
        if event.get("routing_key") != self.routing_key:
            return self._invalid("Invalid routing key")
        if event.get("event_action") not in ACTIONS or not event.get("dedup_key"):
            return self._invalid("Event object is invalid")
        payload = event.get("payload") or {}
        if event["event_action"] == "trigger" and not (
            payload.get("summary") and payload.get("source") and payload.get("severity")
        ):
            return self._invalid("'payload' is invalid or missing")
        self.received.append(event)
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": event["dedup_key"]},
            status=202,
        )

    def _invalid(self, message: str) -> web.Response:
        self.refused.append((400, message))
        return web.json_response({"status": "invalid event", "message": message}, status=400)


class WebhookReceiver(_Server):
    """POST /hook: JSON, signed with HMAC-SHA256 of the body."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret.encode()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def __aenter__(self) -> WebhookReceiver:
        await self.start("/hook", self._hook)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def events(self) -> list[str]:
        return [e["event"] for e in self.received]

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        stamp = request.headers.get("X-Gateway-Timestamp", "")
        signed = stamp.encode() + b"." + body
        expected = "sha256=" + hmac.new(self.secret, signed, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Gateway-Signature", ""), expected):
            self.refused.append((401, "bad signature"))
            return web.Response(status=401, text="bad signature")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > 300:
            self.refused.append((401, "stale timestamp"))
            return web.Response(status=401, text="stale timestamp")
        self.received.append(json.loads(body))
        return web.Response(status=204)
