"""The bot's own health: `GET /healthz`, `GET /readyz` and `GET /metrics`.

/healthz is 200 while the event loop turns (a ticker notices stalls) and the
database answers a trivial query within a few seconds, else 503 with the reason
in one line; /readyz is 200 once the bot can take commands and until it begins
to stop. In HTTP mode they are routes of the same aiohttp server as
/slack/events; in Socket Mode (or on METRICS_PORT) a small server of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from bot import metrics
from bot.slack_ready import SlackReady
from bot.watch.service import WatchService

DATABASE_TIMEOUT = 3.0
TICK = 0.5
STALL = 5.0  # a tick this late means something blocked the event loop


class Health:
    def __init__(self, watches: WatchService, slack: SlackReady | None = None) -> None:
        self.watches = watches
        self.slack = slack  # None: no Slack to wait for (tests of the health routes)
        self.ready = False
        self.stall = 0.0  # the worst lateness of a tick in the last minute, seconds
        self._stall_at = 0.0
        self._ticker: asyncio.Task[None] | None = None
        metrics.REPLICA.info({"replica": watches.fleet.replica})

    def start(self) -> None:
        self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def stop(self) -> None:
        self.ready = False
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics)

    async def serve(self, host: str, port: int) -> web.AppRunner:
        """A server of its own (Socket Mode, METRICS_PORT)."""
        app = web.Application()
        self.add_routes(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        return runner

    async def problem(self) -> str | None:
        """Why this replica is unhealthy, or None."""
        if self.stall > STALL and time.monotonic() - self._stall_at < 60:
            return f"the event loop stalled for {self.stall:.1f} s"
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT):
                await self.watches.store.ping()
        except TimeoutError:
            return f"the database did not answer within {DATABASE_TIMEOUT:g} s"
        except (SQLAlchemyError, OSError) as exc:
            return f"the database did not answer: {type(exc).__name__}"
        return await self.watches.fleet.problem()

    async def healthz(self, _request: web.Request) -> web.Response:
        reason = await self.problem()
        if reason:
            return web.Response(status=503, text=f"unhealthy: {reason}\n")
        return web.Response(text="ok\n")

    async def readyz(self, _request: web.Request) -> web.Response:
        reason = await self.not_ready()
        if reason:
            return web.Response(status=503, text=f"not ready: {reason}\n")
        return web.Response(text="ready\n")

    async def not_ready(self) -> str | None:
        """Why commands cannot be taken yet: starting or stopping, Slack never answered
        auth.test, or the database does not answer."""
        if self.slack is not None and not self.slack.answered.is_set():
            return self.slack.reason
        if not self.ready:
            return "starting or stopping"
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT):
                await self.watches.store.ping()
        except TimeoutError:
            return f"the database did not answer within {DATABASE_TIMEOUT:g} s"
        except (SQLAlchemyError, OSError) as exc:
            return f"the database did not answer: {type(exc).__name__}"
        return None

    async def metrics(self, _request: web.Request) -> web.Response:
        await self._refresh()
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _refresh(self) -> None:
        """Gauges read at scrape time (the database's counts within a short deadline)."""
        metrics.LEADER.set(1 if self.watches.leading else 0)
        metrics.SHARDS_OWNED.set(len(self.watches.fleet.shards))
        metrics.WATCHES.set(len(self.watches.watches))
        with contextlib.suppress(TimeoutError, SQLAlchemyError, OSError):
            async with asyncio.timeout(DATABASE_TIMEOUT):
                stored, open_incidents = await self.watches.store.counts()
                metrics.WATCHES_STORED.set(stored)
                metrics.OPEN_INCIDENTS.set(open_incidents)

    async def _tick(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(TICK)
            late = time.monotonic() - before - TICK
            if late > STALL:
                self.stall, self._stall_at = late, time.monotonic()
