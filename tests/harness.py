"""What every in-process bot of the tests starts from: its settings, the watch service
and its Gateway (`Watcher`, also the `watcher` fixture of conftest.py), and its HTTP
front door as Slack reaches it (signed requests to /slack/events on a loopback port)."""

from __future__ import annotations

import httpx
from aiohttp import web
from slack_bolt.async_app import AsyncApp

from bot.app import start_http
from bot.chat import SlackChat
from bot.service import Gateway, Request
from bot.settings import Settings, from_environment
from bot.slack_app import web_client
from bot.watch.memory import MemoryStore
from bot.watch.service import WatchService
from bot.watch.store import Store
from tests.servers.proxies import free_port
from tests.slack.signing import SIGNING_SECRET, signed_headers
from tests.slack.stand_in import SlackStandIn

INTERVAL = "0.3s"  # a watch's interval in the tests: several checks a second


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


class Watcher:
    """A WatchService (and the Gateway in front of it) on a SQLite file in tmp_path."""

    def __init__(self, slack: SlackStandIn, tmp_path, memory: bool = False, **env: str) -> None:
        self.slack = slack
        self.memory = memory  # the store in memory (bot/watch/memory.py): no database at all
        self.settings = bot_settings(slack, f"sqlite:///{tmp_path}/gateway.sqlite3", **env)
        self.db = self.settings.database_url  # the store opens what a user would set
        self.service: WatchService | None = None

    async def start(self) -> Watcher:
        self.client = web_client(self.settings)
        self.chat = SlackChat(self.client)
        store = MemoryStore() if self.memory else Store(self.db)
        self.service = WatchService(store, self.settings, self.chat)
        self.gateway = Gateway(self.settings, watches=self.service)
        await self.service.start()
        return self

    async def stop(self) -> None:
        await self.gateway.drain(5)
        await self.service.stop()

    async def __aenter__(self) -> Watcher:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def command(self, text: str, channel: str = "C1", user: str = "U1") -> str | None:
        answer = await self.gateway.answer_command(self.chat, Request("T1", channel, user, text))
        if answer.work is not None:
            await self.gateway.spawn(answer.work)
        return answer.text

    async def watch_until_alert(self, site) -> dict:
        """Watch a failing site from channel C1 and return its alert once it is posted."""
        await self.command(f"watch {site.url()} every {INTERVAL}")
        await self.until(lambda: self.alerts())
        return self.alerts()[0]

    def tops(self) -> list[dict]:
        return [m for m in self.slack.messages().values() if not m["thread_ts"]]

    def alerts(self) -> list[dict]:
        return [
            m
            for m in self.tops()
            if "gateway_alert_actions" in str(m["blocks"]) or "recovered" in m["text"]
        ]

    async def until(self, predicate, timeout: float = 15.0) -> None:
        assert await self.slack.wait_for_async(lambda _: predicate(), timeout), [
            m["text"][:120] for m in self.slack.messages().values()
        ]
