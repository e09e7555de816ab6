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
import sys
from dataclasses import replace

import aiohttp
from aiohttp import web
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot import logs, loop
from bot.chat import SlackChat
from bot.health import Health
from bot.service import Gateway
from bot.settings import Settings, SettingsError, from_environment, load_environment
from bot.slack_app import build_app, web_client
from bot.watch.fleet import TROUBLE as FLEET_TROUBLE
from bot.watch.fleet import Owned, fleet_for, own_sqlite
from bot.watch.service import WatchService
from bot.watch.store import Store

log = logging.getLogger("gateway")


DATABASE_ERRORS = (SQLAlchemyError, OSError)


class StartError(RuntimeError):
    """The bot cannot start; the message is one line saying what to set."""


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
        print(f"gateway: {loop.run(upgrade_url(settings.database_url))}")
    except SettingsError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    except DATABASE_ERRORS as exc:
        print(f"gateway: {database_trouble(settings.database_url, exc)}", file=sys.stderr)
        return 2
    return 0


def database_trouble(url: str, exc: BaseException) -> str:
    """One line for a database that cannot be reached or used (never its password)."""
    where = make_url(url).render_as_string(hide_password=True)
    text = str(getattr(exc, "orig", None) or exc).strip()
    reason = f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__
    return f"cannot reach the database at {where}: {reason}"


async def run_shell(settings: Settings) -> None:
    from bot.shell import Shell

    if not settings.allow_private_set:  # one person on their own machine: no SSRF to fear
        settings = replace(settings, check=replace(settings.check, allow_private=True))
    shell = Shell(None)
    _own(settings.shell_database_url)
    watches = WatchService(Store(settings.shell_database_url), settings, shell.chat)
    shell.gateway = Gateway(settings, watches=watches)
    await _start(watches, settings.shell_database_url)
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
    session = aiohttp.ClientSession()
    client = web_client(settings, session)
    try:
        await _verify_tokens(settings, client)
    except StartError:
        await session.close()
        raise
    try:
        _own(settings.database_url)
        watches = WatchService(
            Store(settings.database_url),
            settings,
            SlackChat(client),
            fleet=fleet_for(settings.database_url),
        )
        await _start(watches, settings.database_url)
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


def _own(url: str) -> None:
    """With SQLite, this process owns the file: a second one is refused in one line."""
    try:
        own_sqlite(url)
    except Owned as exc:
        raise StartError(str(exc)) from None
    except OSError as exc:
        raise StartError(database_trouble(url, exc)) from None


async def _start(watches: WatchService, url: str) -> None:
    try:
        await watches.start()
    except (*DATABASE_ERRORS, *FLEET_TROUBLE) as exc:
        with contextlib.suppress(*DATABASE_ERRORS, *FLEET_TROUBLE):
            await watches.stop()
        raise StartError(database_trouble(url, exc)) from None


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


async def _serve(settings: Settings, gateway: Gateway, app, health: Health) -> None:
    stop = _stop_event()
    own = None
    if settings.metrics_port and (settings.socket_mode or settings.metrics_port != settings.port):
        own = await health.serve("0.0.0.0", settings.metrics_port)
        log.info("health and metrics on port %s", settings.metrics_port)
    try:
        await _serve_slack(settings, app, health, stop)
    finally:
        health.ready = False
        if own is not None:
            await own.cleanup()


async def _serve_slack(settings: Settings, app, health: Health, stop: asyncio.Event) -> None:
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
            health.ready = True
            await stopping
            health.ready = False
        connecting.cancel()
        await asyncio.gather(connecting, return_exceptions=True)
        await handler.close_async()
    else:
        if not settings.signing_secret:
            raise StartError(
                "SLACK_SIGNING_SECRET is not set: HTTP mode must verify "
                "Slack's signatures (or set SLACK_APP_TOKEN for Socket Mode)"
            )
        runner = await start_http(app, "0.0.0.0", settings.port, health)
        log.info("listening for Slack on port %s at /slack/events", settings.port)
        health.ready = True
        await stop.wait()
        health.ready = False
        await runner.cleanup()


async def start_http(app, host: str, port: int, health: Health | None = None) -> web.AppRunner:
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
