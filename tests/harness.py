"""What every in-process bot of the tests starts from: its settings, and its HTTP front
door as Slack reaches it (signed requests to /slack/events on a loopback port)."""

from __future__ import annotations

import httpx
from aiohttp import web
from slack_bolt.async_app import AsyncApp

from bot.app import start_http
from bot.settings import Settings, from_environment
from tests.servers.proxies import free_port
from tests.slack.signing import SIGNING_SECRET, signed_headers
from tests.slack.stand_in import SlackStandIn


def bot_settings(slack: SlackStandIn, database_url: str | None = None, **env: str) -> Settings:
    """Settings as a test's bot has them: Slack's stand-in, private targets allowed, short
    timeouts and intervals; `env` overrides or adds variables."""
    base = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "GATEWAY_ALLOW_PRIVATE": "1",
        "GATEWAY_TIMEOUT": "2",
        "GATEWAY_MIN_INTERVAL": "0.2",
    }
    if database_url is not None:
        base["GATEWAY_DATABASE_URL"] = database_url
    return from_environment({**base, **env})


class Front:
    """The bot's Bolt app served over HTTP on loopback, and a client that signs as Slack."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/slack/events"
        self.runner: web.AppRunner | None = None
        self.http = httpx.AsyncClient(timeout=10)

    async def open(self, app: AsyncApp) -> Front:
        self.runner = await start_http(app, "127.0.0.1", self.port)
        return self

    async def close(self) -> None:
        await self.http.aclose()
        if self.runner is not None:
            await self.runner.cleanup()

    async def post(
        self, body: str, json_body: bool = False, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """A request as Slack sends it: signed (unless `headers` say otherwise)."""
        sent = headers or signed_headers(body)
        if json_body:
            sent = {**sent, "Content-Type": "application/json"}
        return await self.http.post(self.url, content=body, headers=sent)
