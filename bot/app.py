"""`gateway serve` and `gateway shell`: settings in, a running bot out.

serve: Socket Mode when SLACK_APP_TOKEN is set (no public URL needed), else
HTTP on PORT at /slack/events with Slack's signatures verified.
shell: the same bot on a terminal chat; what `make run` starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sqlite3
import sys
import threading
from dataclasses import replace

import aiohttp
from aiohttp import web
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot import loop
from bot.chat import SlackChat
from bot.service import Gateway
from bot.settings import Settings, SettingsError, from_environment, load_environment
from bot.slack_app import build_app, web_client
from bot.startup import (
    StartError,
    check_port,
    database_error,
    is_memory_database,
    memory_database_refused,
    port_error,
    sqlite_path_problem,
)
from bot.watch.service import WatchService
from bot.watch.store import Store

log = logging.getLogger("gateway")


# What a database that cannot be opened raises, from SQLAlchemy, its drivers or the OS.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    SQLAlchemyError,
    OSError,
    sqlite3.Error,
    ImportError,  # a dialect whose driver is not installed
)
with contextlib.suppress(ImportError):
    import asyncpg

    DATABASE_ERRORS += (asyncpg.PostgresError, asyncpg.InterfaceError)


def main(mode: str, environ: dict[str, str]) -> int:
    for noisy in ("httpx", "apscheduler"):  # a line per request or job run is noise here
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = from_environment(load_environment(environ))
        if mode == "shell":
            loop.run(run_shell(settings))
        else:
            loop.run(serve(settings))
    except (SettingsError, StartError) as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


async def run_shell(settings: Settings) -> None:
    from bot.shell import Shell

    if not settings.allow_private_set:  # one person on their own machine: no SSRF to fear
        settings = replace(settings, check=replace(settings.check, allow_private=True))
    shell = Shell(None)
    watches = await start_watches(settings, shell.chat)
    shell.gateway = Gateway(settings, watches=watches)
    try:
        await shell.run()
    finally:
        await watches.stop()


async def serve(settings: Settings) -> None:
    if not settings.bot_token:
        raise StartError(
            "SLACK_BOT_TOKEN is not set (see README, Install in Slack); "
            "`gateway shell` runs the bot without Slack"
        )
    if is_memory_database(settings.database_url) and not settings.allow_memory_database:
        raise memory_database_refused(settings.database_url)
    if not settings.socket_mode and settings.signing_secret:
        check_port(settings.port)  # before the database and Slack: one line, nothing started
    session = aiohttp.ClientSession()
    client = web_client(settings, session)
    try:
        await _verify_tokens(settings, client)
    except StartError:
        await session.close()
        raise
    try:
        watches = await start_watches(settings, SlackChat(client))
    except StartError:
        await session.close()
        raise
    gateway = Gateway(settings, watches=watches)
    try:
        await _serve(settings, gateway, build_app(settings, gateway, client))
    finally:
        await gateway.drain(timeout=15)
        await watches.stop()
        await session.close()


async def start_watches(settings: Settings, chat) -> WatchService:
    """Open the database and start the watches, or say in one line why the database is unusable."""
    problem = sqlite_path_problem(settings.database_url)
    if problem is not None:
        raise problem
    store: Store | None = None
    try:
        store = Store(settings.database_url)
        watches = WatchService(store, settings, chat)
        await watches.start()
    except DATABASE_ERRORS as exc:
        log.debug("the database could not be opened", exc_info=True)
        if store is not None:
            with contextlib.suppress(Exception):
                await store.close()
        await _driver_threads_done()
        raise database_error(settings.database_url, exc) from None
    return watches


async def _driver_threads_done(within: float = 2.0) -> None:
    """Let aiosqlite's thread finish closing a failed connection while the loop still runs;
    else it reports to a closed loop, and that is a traceback on the operator's terminal."""
    for _ in range(int(within / 0.01)):
        if not any("_connection_worker_thread" in t.name for t in threading.enumerate()):
            return
        await asyncio.sleep(0.01)


async def _verify_tokens(settings: Settings, client) -> None:
    """Say at once, in one line, when Slack refuses a token (the SDK would retry for ever)."""
    checks = [("SLACK_BOT_TOKEN", client.auth_test)]
    if settings.socket_mode:
        checks.append(
            ("SLACK_APP_TOKEN", lambda: client.apps_connections_open(app_token=settings.app_token))
        )
    for name, call in checks:
        try:
            await call()
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else "refused"
            raise StartError(f"Slack refused {name}: {error}") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning(
                "cannot reach Slack at %s yet (%s); will keep trying",
                settings.api_url,
                type(exc).__name__,
            )
            return


async def _serve(settings: Settings, gateway: Gateway, app) -> None:
    stop = _stop_event()
    if settings.socket_mode:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        handler = AsyncSocketModeHandler(app, settings.app_token)
        # Connecting retries for as long as Slack is unreachable: stay stoppable meanwhile.
        connecting = asyncio.get_running_loop().create_task(handler.connect_async())
        stopping = asyncio.get_running_loop().create_task(stop.wait())
        await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if connecting.done() and not connecting.cancelled() and connecting.exception():
            stopping.cancel()
            raise StartError(f"Socket Mode failed: {connecting.exception()}")
        if not stopping.done():
            log.info("connected to Slack in Socket Mode")
            await stopping
        connecting.cancel()
        await asyncio.gather(connecting, return_exceptions=True)
        await handler.close_async()
    else:
        if not settings.signing_secret:
            raise StartError(
                "SLACK_SIGNING_SECRET is not set: HTTP mode must verify "
                "Slack's signatures (or set SLACK_APP_TOKEN for Socket Mode)"
            )
        try:
            runner = await start_http(app, "0.0.0.0", settings.port)
        except OSError as exc:
            raise port_error(settings.port, exc) from None
        log.info("listening for Slack on port %s at /slack/events", settings.port)
        await stop.wait()
        await runner.cleanup()


async def start_http(app, host: str, port: int) -> web.AppRunner:
    """Serve the Bolt app's aiohttp application on host:port (tests use loopback)."""
    runner = web.AppRunner(app.web_app(path="/slack/events", port=port))
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(RuntimeError):  # not in the main thread
            loop.add_signal_handler(sig, stop.set)
    return stop
