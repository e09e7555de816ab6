"""What reaches /slack/events before Bolt: only requests Slack signed, recently.

Bolt answers an unsigned request with 401 but logs its whole body at INFO (33 MB/s
from one client that sends large bodies), answers a malformed timestamp or body with
a 500 and a traceback, and logs a stale genuine request with its `response_url`. This
guard checks the signature and the timestamp itself, first: anything else is a 401
with one short log line, at most one per 10 s (with how many were not logged), and
never the body.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler

log = logging.getLogger("gateway.requests")

MAX_SKEW = 300  # seconds, as Slack's own verification allows
LOG_EVERY = 10.0  # seconds between two lines about refused requests
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"^v0=[0-9a-f]{64}$")


class RequestGuard:
    """An aiohttp middleware for the Slack route: Slack's signature, or 401."""

    def __init__(
        self,
        signing_secret: str,
        path: str = "/slack/events",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secret = signing_secret.encode()
        self.path = path
        self.clock = clock
        self._logged_at = -LOG_EVERY
        self._unlogged = 0

    @web.middleware
    async def handle(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != self.path or request.method != "POST":
            return await handler(request)
        reason = await self.refusal(request)
        if reason is not None:
            self._note(reason, request.remote)
            return web.json_response({"error": "invalid request"}, status=401)
        return await handler(request)

    async def refusal(self, request: web.Request) -> str | None:
        """Why the request is not Slack's, or None. The body is read (aiohttp keeps it for
        Bolt) only once the headers look right."""
        stamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not _TIMESTAMP.match(stamp):
            return "no usable X-Slack-Request-Timestamp"
        if not _SIGNATURE.match(signature):
            return "no usable X-Slack-Signature"
        if abs(self.clock() - int(stamp)) > MAX_SKEW:
            return "a timestamp more than 5 minutes off (stale or replayed)"
        body = await request.read()
        signed = b"v0:" + stamp.encode() + b":" + body
        expected = "v0=" + hmac.new(self.secret, signed, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return "a signature that does not match"
        return None

    def _note(self, reason: str, remote: str | None) -> None:
        now = time.monotonic()
        if now - self._logged_at < LOG_EVERY:
            self._unlogged += 1
            return
        more = f" ({self._unlogged} more since the last line)" if self._unlogged else ""
        log.warning("refused a request to %s from %s: %s%s", self.path, remote, reason, more)
        self._logged_at, self._unlogged = now, 0
