"""`gateway serve` and `gateway shell`: settings in, a running bot out.

serve: Socket Mode when SLACK_APP_TOKEN is set (no public URL needed), else
HTTP on PORT at /slack/events with Slack's signatures verified.
shell: the same bot on a terminal chat; what `make run` starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import sqlite3
import sys
import threading
from collections.abc import Awaitable, Callable
from dataclasses import replace

import aiohttp
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import SQLAlchemyError

from bot import logs, loop
from bot.chat import Chat, SlackChat
from bot.health import Health
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
from bot.watch.fleet import TROUBLE as FLEET_TROUBLE
from bot.watch.fleet import Owned, PostgresFleet, Solo, fleet_for, own_sqlite
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
    try:
        settings = from_environment(load_environment(environ))
        logs.configure(
            settings.log_format, [settings.bot_token, settings.app_token, settings.signing_secret]
        )
        for noisy in ("httpx", "apscheduler", "alembic"):  # a line per request or job: noise
            logging.getLogger(noisy).setLevel(logging.WARNING)
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


def db_upgrade(environ: dict[str, str]) -> int:
    """`gateway db upgrade`: the schema to the newest revision, one line either way."""
    from bot.migrations import upgrade_url

    try:
        settings = from_environment(load_environment(environ))
        problem = sqlite_path_problem(settings.database_url)
        if problem is not None:
            raise problem
        print(f"gateway: {loop.run(upgrade_url(settings.database_url))}")
    except (SettingsError, StartError) as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    except DATABASE_ERRORS as exc:
        print(f"gateway: {database_error(settings.database_url, exc)}", file=sys.stderr)
        return 2
    return 0


async def run_shell(settings: Settings) -> None:
    from bot.shell import Shell

    if not settings.allow_private_set:  # one person on their own machine: no SSRF to fear
        settings = replace(settings, check=replace(settings.check, allow_private=True))
    shell = Shell(None)
    # its own database: a watch made here is never picked up by a `serve`
    watches = await start_watches(settings, shell.chat, url=settings.shell_database_url)
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
        watches = await start_watches(
            settings, SlackChat(client), fleet=fleet_for(settings.database_url)
        )
    except StartError:
        await session.close()
        raise
    gateway = Gateway(settings, watches=watches)
    health = Health(watches)
    health.start()
    try:
        await _serve(settings, gateway, build_app(settings, gateway, client), health)
    finally:
        await health.stop()
        await gateway.drain(timeout=15)
        await watches.stop()
        await session.close()


async def start_watches(
    settings: Settings,
    chat: Chat,
    *,
    url: str | None = None,
    fleet: Solo | PostgresFleet | None = None,
) -> WatchService:
    """Open the database (its schema brought to the newest revision) and start the watches,
    or say in one line why the database is unusable. With SQLite this process owns the
    file: a second one is refused (bot/watch/fleet.py)."""
    url = url or settings.database_url
    problem = sqlite_path_problem(url)
    if problem is not None:
        raise problem
    try:
        own_sqlite(url)
    except Owned as exc:
        raise StartError(str(exc)) from None
    except OSError as exc:
        raise database_error(url, exc) from None
    store: Store | None = None
    watches: WatchService | None = None
    try:
        store = Store(url)
        watches = WatchService(store, settings, chat, fleet=fleet)
        await watches.start()
    except (*DATABASE_ERRORS, *FLEET_TROUBLE) as exc:
        log.debug("the database could not be opened", exc_info=True)
        if watches is not None:
            with contextlib.suppress(Exception):
                await watches.fleet.stop()
        if store is not None:
            with contextlib.suppress(Exception):
                await store.close()
        await _driver_threads_done()
        raise database_error(url, exc) from None
    return watches


async def _driver_threads_done(within: float = 2.0) -> None:
    """Let aiosqlite's thread finish closing a failed connection while the loop still runs;
    else it reports to a closed loop, and that is a traceback on the operator's terminal."""
    for _ in range(int(within / 0.01)):
        if not any("_connection_worker_thread" in t.name for t in threading.enumerate()):
            return
        await asyncio.sleep(0.01)


async def _verify_tokens(settings: Settings, client: AsyncWebClient) -> None:
    """Say at once, in one line, when Slack refuses a token (the SDK would retry for ever)."""
    checks: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("SLACK_BOT_TOKEN", client.auth_test)
    ]
    if settings.socket_mode:
        app_token = settings.app_token or ""
        checks.append(
            (
                "SLACK_APP_TOKEN",
                functools.partial(client.apps_connections_open, app_token=app_token),
            )
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


async def _serve(settings: Settings, gateway: Gateway, app: AsyncApp, health: Health) -> None:
    stop = _stop_event()
    own = None
    if settings.metrics_port and (settings.socket_mode or settings.metrics_port != settings.port):
        try:
            own = await health.serve("0.0.0.0", settings.metrics_port)
        except OSError as exc:
            raise StartError(
                f"METRICS_PORT={settings.metrics_port}: cannot listen there "
                f"({exc.strerror or type(exc).__name__}); set another port"
            ) from None
        log.info("health and metrics on port %s", settings.metrics_port)
    try:
        await _serve_slack(settings, app, health, stop)
    finally:
        health.ready = False
        if own is not None:
            await own.cleanup()


async def _serve_slack(
    settings: Settings, app: AsyncApp, health: Health, stop: asyncio.Event
) -> None:
    if settings.socket_mode:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        handler = AsyncSocketModeHandler(app, settings.app_token)
        # Connecting retries for as long as Slack is unreachable: stay stoppable meanwhile.
        connect = handler.connect_async()  # type: ignore[no-untyped-call]
        connecting = asyncio.get_running_loop().create_task(connect)
        stopping = asyncio.get_running_loop().create_task(stop.wait())
        await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if connecting.done() and not connecting.cancelled() and connecting.exception():
            stopping.cancel()
            raise StartError(f"Socket Mode failed: {connecting.exception()}")
        if not stopping.done():
            log.info("connected to Slack in Socket Mode")
            health.ready = True
            await stopping
            health.ready = False
        connecting.cancel()
        await asyncio.gather(connecting, return_exceptions=True)
        await handler.close_async()  # type: ignore[no-untyped-call]
    else:
        if not settings.signing_secret:
            raise StartError(
                "SLACK_SIGNING_SECRET is not set: HTTP mode must verify "
                "Slack's signatures (or set SLACK_APP_TOKEN for Socket Mode)"
            )
        try:
            runner = await start_http(app, "0.0.0.0", settings.port, health)
        except OSError as exc:
            raise port_error(settings.port, exc) from None
        log.info("listening for Slack on port %s at /slack/events", settings.port)
        health.ready = True
        await stop.wait()
        health.ready = False
        await runner.cleanup()


async def start_http(
    app: AsyncApp, host: str, port: int, health: Health | None = None
) -> web.AppRunner:
    """Serve the Bolt app's aiohttp application on host:port (tests use loopback), with
    /healthz, /readyz and /metrics beside /slack/events when `health` is given."""
    web_app = app.web_app(path="/slack/events", port=port)
    if health is not None:
        health.add_routes(web_app)
    runner = web.AppRunner(web_app, access_log=None)
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
