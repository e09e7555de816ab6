"""PagerDuty and the webhook as an attacker or a broken server would answer them: an
error body of any size, an answer echoing the routing key, a redirect, a replayed
request. Real aiohttp servers on loopback."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web

from bot.alerting.base import DeliveryError
from bot.alerting.pagerduty import PagerDuty
from bot.alerting.webhook import Webhook
from bot.render.alerts import AlertView

KEY = "R0UTINGKEY0123456789abcdef012345"
NOW = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
ALERT = AlertView(
    watch_id=1,
    incident_id=7,
    host="shop.example",
    url="https://shop.example/",
    state="down",
    verdict="down",
    summary="nginx answered 502",
    cause="upstream_refused",
    gateway="nginx",
    http_statuses=(502,),
    excerpt="",
    failing_since=NOW,
    last_check_at=NOW,
    failure_count=3,
)


class Server:
    """One route answered by `handler`, on 127.0.0.1."""

    def __init__(self, path: str, handler) -> None:
        self.app = web.Application()
        self.app.router.add_post(path, handler)
        self.hits: list[str] = []
        self.app.router.add_post("/elsewhere", self._elsewhere)
        self.runner = web.AppRunner(self.app)

    async def _elsewhere(self, request: web.Request) -> web.Response:
        self.hits.append("/elsewhere")
        return web.Response(status=204)

    async def __aenter__(self) -> str:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()


async def test_a_huge_pagerduty_error_body_is_read_only_up_to_its_cap():
    sent = {"bytes": 0}

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=500)
        await response.prepare(request)
        chunk = b"x" * 65536
        try:
            for _ in range(2000):  # 128 MiB offered; the client must stop reading early
                await response.write(chunk)
                sent["bytes"] += len(chunk)
        except (ConnectionResetError, RuntimeError):
            pass
        return response

    async with Server("/v2/enqueue", huge) as url, aiohttp.ClientSession() as session:
        with pytest.raises(DeliveryError) as failed:
            await PagerDuty(session, url, KEY).open(ALERT)
    assert len(str(failed.value)) < 300
    assert sent["bytes"] < 32 * 1024 * 1024, "the whole body was read"


async def test_a_pagerduty_error_never_echoes_the_routing_key():
    async def echo(request: web.Request) -> web.Response:
        event = await request.json()
        return web.json_response({"message": f"bad event {event}"}, status=400)

    async with Server("/v2/enqueue", echo) as url, aiohttp.ClientSession() as session:
        with pytest.raises(DeliveryError) as failed:
            await PagerDuty(session, url, KEY).open(ALERT)
    assert KEY not in str(failed.value) and "HTTP 400" in str(failed.value)
    assert failed.value.retry is False


async def test_the_webhook_does_not_follow_a_redirect():
    server: Server

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    server = Server("/hook", redirect)
    async with server as url, aiohttp.ClientSession() as session:
        with pytest.raises(DeliveryError) as failed:
            await Webhook(session, url + "/hook", "s3cret").open(ALERT)
    assert server.hits == [], "the signed event went to another URL"
    assert "redirect" in str(failed.value) and failed.value.retry is False


async def test_the_webhook_signature_covers_a_timestamp_so_a_replay_can_be_refused():
    seen: list[tuple[str, str, bytes]] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append(
            (
                request.headers.get("X-Gateway-Timestamp", ""),
                request.headers.get("X-Gateway-Signature", ""),
                body,
            )
        )
        return web.Response(status=204)

    async with Server("/hook", hook) as url, aiohttp.ClientSession() as session:
        await Webhook(session, url + "/hook", "s3cret").open(ALERT)
    ((stamp, sent, body),) = seen
    assert stamp.isdigit() and abs(time.time() - int(stamp)) < 60
    expected = hmac.new(b"s3cret", stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert sent == "sha256=" + expected
    body_only = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert sent != "sha256=" + body_only, "a signature of the body alone verifies forever"
