"""Why `gateway serve` cannot start, said in one line an operator can act on.

The database (GATEWAY_DATABASE_URL) and the port (PORT) are the settings that
fail only when used; their errors arrive as driver exceptions with tracebacks of
40 to 190 lines. This module turns each into one sentence that names the setting
and what to do. Pure, except for looking at the SQLite file's path to say why it
could not be opened.
"""

from __future__ import annotations

import errno
import os
import re
import socket
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DATABASE = "GATEWAY_DATABASE_URL"
USE_INSTEAD = "use sqlite:///PATH (a file) or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"


class StartError(RuntimeError):
    """The bot cannot start; the message is one line saying what to set."""


def shown(url: str) -> str:
    """The URL as it may appear in a log line: never its password."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # not even a URL: still hide what looks like a password
        return repr(re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url[:200]))
    return url if parsed.password is None else parsed.render_as_string(hide_password=True)


def sqlite_path_problem(url: str) -> StartError | None:
    """A SQLite file that cannot be, known from its path alone (before any driver runs)."""
    if not _is_sqlite(url) or is_memory_database(url):
        return None
    path = Path(make_url(url).database or "")
    folder = path.parent
    if path.is_dir():
        reason = "that path is a folder, not a file; name a file inside it, e.g. gateway.sqlite3"
    elif not folder.exists():
        reason = f"the folder {folder} does not exist; create it or name a file in another folder"
    elif not folder.is_dir():
        reason = f"{folder} is not a folder; name a file in a folder that exists"
    else:
        return None
    return StartError(f"{DATABASE}={shown(url)}: {reason}")


def is_memory_database(url: str) -> bool:
    """`sqlite://`, `sqlite:///:memory:` and the like: gone when the process ends."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return False
    if not parsed.drivername.startswith("sqlite"):
        return False
    database = parsed.database or ""
    return (
        database in ("", ":memory:")
        or database.startswith("file::memory:")
        or parsed.query.get("mode") == "memory"
    )


def database_error(url: str, exc: BaseException) -> StartError:
    """One line for a database that could not be opened, with what to do about it."""
    return StartError(f"{DATABASE}={shown(url)}: {_database_reason(url, exc)}")


def _database_reason(url: str, exc: BaseException) -> str:
    text = _first_line(exc)
    lowered = text.lower()
    kind = type(exc).__name__
    original = getattr(exc, "orig", None)
    original_kind = type(original).__name__ if original is not None else ""
    from bot.migrations import UnknownRevision  # only on this path: alembic is slow to load

    if isinstance(exc, UnknownRevision):  # its message says what to do
        return str(exc)
    if isinstance(exc, ImportError):
        return f"its driver is not installed ({text}); {USE_INSTEAD}"
    if kind in ("NoSuchModuleError", "ArgumentError") or "async driver" in lowered:
        return f"not a database I can use ({text}); {USE_INSTEAD}"
    if "file is not a database" in lowered:
        return "that file is not a SQLite database; point the setting at a new or a gateway file"
    foreign = "tables of another program" in lowered or "already exists" in lowered
    if foreign or "no such column" in lowered or "no such table" in lowered:
        return (
            "the database holds tables of another program (or another version) under the "
            "same names; give the bot a database of its own"
        )
    if "Undefined" in original_kind:
        return (
            "the database holds tables of another program (or another version) under the "
            "same names; give the bot a database of its own"
        )
    if _is_sqlite(url):
        return _sqlite_reason(url, text)
    if "password" in lowered or "authentication" in lowered or "Authorization" in original_kind:
        return "the server refused the user name or password; check them in the URL"
    if "does not exist" in lowered:
        return f"{text}; create it first (createdb) or name an existing database"
    refused = isinstance(exc, ConnectionRefusedError) or "connect call failed" in lowered
    if refused or "refused" in lowered:
        return "nothing accepts connections there; start the database or correct the host and port"
    if isinstance(exc, OSError | TimeoutError) or "timeout" in lowered:
        return f"cannot reach the database ({text}); check the host and port"
    return f"cannot use the database ({text})"


def _sqlite_reason(url: str, text: str) -> str:
    database = make_url(url).database or ""
    path = Path(database)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        return "that path is a folder, not a file; name a file inside it, e.g. gateway.sqlite3"
    if not folder.exists():
        return f"the folder {folder} does not exist; create it or name a file in another folder"
    if not folder.is_dir():
        return f"{folder} is not a folder; name a file in a folder that exists"
    if "readonly" in text.lower() or (path.exists() and not os.access(path, os.W_OK)):
        return "the file cannot be written; fix its permissions or name another file"
    if "unable to open" in text.lower():
        return (
            f"cannot create or open the file in {folder} (is the folder writable?); "
            "name a file in a folder the bot can write"
        )
    return f"cannot use the SQLite file ({text})"


def memory_database_refused(url: str) -> StartError:
    return StartError(
        f"{DATABASE}={shown(url)} keeps the watches in memory: every restart would lose them; "
        "name a file (sqlite:///gateway.sqlite3) or PostgreSQL, or set "
        "GATEWAY_ALLOW_MEMORY_DATABASE=1 to run without keeping anything"
    )


def port_error(port: int, exc: OSError) -> StartError:
    if exc.errno == errno.EADDRINUSE:
        return StartError(
            f"PORT={port} is already in use by another program; stop it or set PORT to a free port"
        )
    if exc.errno == errno.EACCES:
        return StartError(f"PORT={port} needs privileges to listen on; set PORT above 1023")
    return StartError(f"PORT={port}: cannot listen there ({_first_line(exc)}); set another PORT")


def _is_sqlite(url: str) -> bool:
    try:
        return make_url(url).drivername.startswith("sqlite")
    except (ArgumentError, ValueError):
        return False


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None)
    text = str(original if original is not None else exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line[:200]


def check_port(port: int, host: str = "0.0.0.0") -> None:
    """Refuse at once, before anything starts, a PORT that cannot be listened on.

    Bound with SO_REUSEADDR as the server will be, so a port in TIME_WAIT is not "busy".
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise port_error(port, exc) from None
