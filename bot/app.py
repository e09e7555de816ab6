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
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import SQLAlchemyError

from bot import logs, loop
from bot.agents.confirm import Confirmer
from bot.agents.gate import AgentGate
from bot.agents.hub import Hub
from bot.agents.store import AgentStore
from bot.chat import Chat, SlackChat
from bot.health import Health
from bot.preflight import preflight
from bot.render import alerts
from bot.request_guard import RequestGuard
from bot.service import Gateway
from bot.settings import Settings, SettingsError, from_environment, load_environment
from bot.slack_app import build_app, web_client
from bot.slack_ready import SlackReady
from bot.startup import (
    StartError,
    database_error,
    port_error,
    sqlite_path_problem,
)
from bot.watch.fleet import TROUBLE as FLEET_TROUBLE
from bot.watch.fleet import Owned, PostgresFleet, Solo, fleet_for, own_sqlite
from bot.watch.service import WatchService
from bot.watch.store import SqlStore, Store

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
        quiet_libraries()
        if mode == "shell":  # the chat is the terminal: only warnings and errors beside it
            logging.getLogger().setLevel(logging.WARNING)
            loop.run(run_shell(settings))
        else:
            loop.run(serve(settings))
    except (SettingsError, StartError) as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def quiet_libraries() -> None:
    """No line per request, job or retry from the libraries; their known conditions are
    said once, in our own words (bot/slack_ready.py, bot/logs.py)."""
    # slack_bolt.RequestVerification logs a refused request's whole body at INFO; the
    # guard in front of it (bot/request_guard.py) says it in one short line instead
    for noisy in ("httpx", "apscheduler", "alembic", "slack_sdk", "slack_bolt.RequestVerification"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


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


def shell_settings(settings: Settings) -> Settings:
    """One person on their own machine: no SSRF to fear (unless GATEWAY_ALLOW_PRIVATE is
    set), and no per-person limit apart from the workspace's, since they are the only one."""
    limits = settings.limits
    limits = replace(
        limits, user_in_flight=limits.team_in_flight, user_per_minute=limits.team_per_minute
    )
    settings = replace(settings, shell=True, limits=limits)
    if not settings.allow_private_set:
        settings = replace(settings, check=replace(settings.check, allow_private=True))
    return settings


async def run_shell(settings: Settings) -> None:
    from bot.shell import Shell

    settings = shell_settings(settings)
    shell = Shell(None)
    # its own database: a watch made here is never picked up by a `serve`
    watches = await start_watches(settings, shell.chat, url=settings.shell_database_url)
    shell.gateway = Gateway(settings, watches=watches)
    hub = start_agents(settings, shell.gateway, watches)
    runner = None
    try:
        if hub is not None:
            port = settings.agents.port or settings.port
            try:
                runner = await hub.serve("0.0.0.0", port)
            except OSError as exc:
                raise port_error(port, exc) from None
        await shell.run()
    finally:
        if hub is not None:
            await hub.stop()
        if runner is not None:
            await runner.cleanup()
        await watches.stop()


async def serve(settings: Settings) -> None:
    preflight(settings)  # every local setting, before Slack or the database: one line
    session = aiohttp.ClientSession()
    client = web_client(settings, session)
    ready = SlackReady(settings.api_url)
    try:
        await _verify_tokens(settings, client, ready)
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
    hub = start_agents(settings, gateway, watches)
    health = Health(watches, slack=ready)
    health.start()
    try:
        await _serve(settings, gateway, build_app(settings, gateway, client), health)
    finally:
        await ready.stop()
        if hub is not None:
            await hub.stop()
        await health.stop()
        await gateway.drain(timeout=15)
        await watches.stop()
        await session.close()


def start_agents(settings: Settings, gateway: Gateway, watches: WatchService) -> Hub | None:
    """The agents' hub on the watches' database, when agents are enrolled (bot/agents)."""
    store = watches.store
    if not settings.agents.on or not isinstance(store, SqlStore):  # jobs need the database
        return None
    hub = Hub(settings.agents, AgentStore(store.engine))
    gateway.work.agents = hub
    watches.runner.agents = AgentGate(Confirmer(hub, settings.agents.confirm_from))

    async def tell_silent(name: str, age: float) -> None:
        """One notice in each channel that watches a site (their alerts wait on agents)."""
        text = alerts.escape(
            f"The agent {name} has not polled for {age / 60:.0f} min: until it does, its "
            "answers are unknown (see `/gateway agents`)."
        )
        for channel in sorted({info.channel for info in watches.watches.values()}):
            await watches.incidents.say(watches.core.chat, channel, alerts.note(text))

    hub.on_silent = tell_silent
    hub.start()
    return hub


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


async def _verify_tokens(settings: Settings, client: AsyncWebClient, ready: SlackReady) -> None:
    """Say at once, in one line, when Slack refuses a token (the SDK would retry for ever);
    when Slack cannot be reached, keep asking in the background (bot/slack_ready.py)."""
    if not await ready.first("SLACK_BOT_TOKEN", client.auth_test):
        ready.keep_asking(client.auth_test)
        return
    if settings.socket_mode:
        app_token = settings.app_token or ""

        async def connections_open() -> object:
            return await client.apps_connections_open(app_token=app_token)

        if not await ready.first("SLACK_APP_TOKEN", connections_open):
            ready.keep_asking(client.auth_test)
            return
    ready.answered.set()


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
    agents = None
    hub = gateway.work.agents
    if hub is not None and settings.socket_mode:
        if not settings.agents.port:
            raise StartError("GATEWAY_AGENT_PORT is not set: in Socket Mode agents need a port")
        try:
            agents = await hub.serve("0.0.0.0", settings.agents.port)
        except OSError as exc:
            raise port_error(settings.agents.port, exc) from None
    try:
        await _serve_slack(settings, app, health, stop, hub)
    finally:
        health.ready = False
        if own is not None:
            await own.cleanup()
        if agents is not None and hub is not None:
            await hub.stop()
            await agents.cleanup()


async def _serve_slack(
    settings: Settings,
    app: AsyncApp,
    health: Health,
    stop: asyncio.Event,
    hub: Hub | None = None,
) -> None:
    if settings.socket_mode:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        handler = AsyncSocketModeHandler(app, settings.app_token)
        # Connect once Slack answers (bot/slack_ready.py backs off meanwhile, one line per
        # attempt), and stay stoppable while waiting.
        connecting = asyncio.get_running_loop().create_task(_connect_when_answered(handler, health))
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
        try:
            runner = await start_http(
                app, "0.0.0.0", settings.port, health, settings.signing_secret, hub
            )
        except OSError as exc:
            raise port_error(settings.port, exc) from None
        log.info("listening for Slack on port %s at /slack/events", settings.port)
        health.ready = True
        await stop.wait()
        health.ready = False
        if hub is not None:
            await hub.stop()  # its held polls end first, so the server stops at once
        await runner.cleanup()


async def _connect_when_answered(handler: AsyncSocketModeHandler, health: Health) -> None:
    if health.slack is not None:
        await health.slack.answered.wait()
    await handler.connect_async()  # type: ignore[no-untyped-call]


async def start_http(
    app: AsyncApp,
    host: str,
    port: int,
    health: Health | None = None,
    signing_secret: str | None = None,
    hub: Hub | None = None,
) -> web.AppRunner:
    """Serve the Bolt app's aiohttp application on host:port (tests use loopback), with
    /healthz, /readyz and /metrics beside /slack/events when `health` is given; with the
    signing secret, only requests Slack signed reach Bolt (bot/request_guard.py); and the
    agents' /agent/v1/… when `hub` is."""
    web_app = app.web_app(path="/slack/events", port=port)
    if signing_secret:
        web_app.middlewares.append(RequestGuard(signing_secret).handle)
    if health is not None:
        health.add_routes(web_app)
    if hub is not None:
        hub.add_routes(web_app)
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
