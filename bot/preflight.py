"""Every local setting of `gateway serve`, checked before any network call.

A bad database URL or a missing signing secret must be one line, exit 2, at
once: not after Slack has been called (with its retries) and a database file
has been made. Nothing here touches the network or creates a file; what can
only be known by connecting (a PostgreSQL server, a token Slack refuses) is
left to the steps after it.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from bot.settings import Settings
from bot.startup import (
    DATABASE,
    USE_INSTEAD,
    StartError,
    check_port,
    is_memory_database,
    memory_database_refused,
    shown,
    sqlite_path_problem,
)

SQLITE_MAGIC = b"SQLite format 3\x00"
# the drivers bot/watch/store.py's async_url picks (that module is slow to import)
ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def preflight_environment(environ: dict[str, str]) -> str | None:
    """The one line that stops `serve` before anything heavy is even imported, or None."""
    from bot.settings import SettingsError, from_environment, load_environment

    try:
        preflight(from_environment(load_environment(environ)))
    except (SettingsError, StartError) as exc:
        return str(exc)
    return None


def preflight(settings: Settings) -> None:
    """Raise StartError (one line) for the first local setting `serve` cannot use."""
    if not settings.bot_token:
        raise StartError(
            "SLACK_BOT_TOKEN is not set (see README, Install in Slack); "
            "`gateway shell` runs the bot without Slack"
        )
    if not settings.socket_mode and not settings.signing_secret:
        raise StartError(
            "SLACK_SIGNING_SECRET is not set: HTTP mode must verify "
            "Slack's signatures (or set SLACK_APP_TOKEN for Socket Mode)"
        )
    database_url_problem(settings.database_url, settings.allow_memory_database)
    if not settings.socket_mode:
        check_port(settings.port)  # bound and released at once: one line, nothing started


def database_url_problem(url: str, allow_memory: bool = False) -> None:
    """The URL parses, names a driver that is installed, and (SQLite) a file that can be."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise StartError(
            f"{DATABASE}={shown(url)}: not a database I can use (not a URL); {USE_INSTEAD}"
        ) from None
    try:
        driver = parsed.set(drivername=ASYNC_DRIVERS.get(parsed.drivername, parsed.drivername))
        driver.get_dialect().import_dbapi()
    except NoSuchModuleError as exc:
        reason = f"not a database I can use ({str(exc)[:120]})"
        raise StartError(f"{DATABASE}={shown(url)}: {reason}; {USE_INSTEAD}") from None
    except ImportError as exc:
        reason = f"its driver is not installed ({str(exc)[:120]})"
        raise StartError(f"{DATABASE}={shown(url)}: {reason}; {USE_INSTEAD}") from None
    if parsed.get_backend_name() != "sqlite":
        return
    if is_memory_database(url):
        if not allow_memory:
            raise memory_database_refused(url)
        return
    problem = sqlite_path_problem(url)
    if problem is not None:
        raise problem
    _sqlite_file_problem(url, Path(parsed.database or ""))


def _sqlite_file_problem(url: str, path: Path) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if path.exists():
        if not os.access(path, os.R_OK | os.W_OK):
            reason = "the file cannot be written; fix its permissions or name another file"
            raise StartError(f"{DATABASE}={shown(url)}: {reason}")
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
        if head and head != SQLITE_MAGIC:
            reason = (
                "that file is not a SQLite database; point the setting at a new or a gateway file"
            )
            raise StartError(f"{DATABASE}={shown(url)}: {reason}")
    elif not _can_create_in(folder):
        raise StartError(
            f"{DATABASE}={shown(url)}: cannot create or open the file in {folder} (is the "
            "folder writable?); name a file in a folder the bot can write"
        )


def _can_create_in(folder: Path) -> bool:
    """Whether a file can be made there: tried (and removed at once), since root passes
    os.access everywhere, /proc included."""
    probe = folder / f".gateway-probe-{os.getpid()}"
    try:
        descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return False
    os.close(descriptor)
    probe.unlink(missing_ok=True)
    return True
