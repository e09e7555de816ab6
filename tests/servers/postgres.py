"""A throwaway PostgreSQL server on a loopback port, for tests.

It runs Debian's PostgreSQL binaries (/usr/lib/postgresql/N/bin, the newest N) on
a fresh cluster in a temporary directory: `initdb -A trust`, then `postgres` in
the foreground of its own process group, listening on 127.0.0.1 only (on a free
port, with its Unix socket in the temporary directory, never /var/run), fsync
off, and one database created for the test.

PostgreSQL refuses to run as root. When the tests run as root, initdb and the
server run as Debian's `postgres` OS user (the child process drops to its uid
and gid before exec, with no supplementary groups), and the temporary directory
is handed to that user; as any other user they simply run as that user.

    with PostgresServer() as pg:
        pg.url  # "postgresql://postgres@127.0.0.1:PORT/gateway"
        pg.create_database("another")  # its URL, on the same server

Missing binaries, or root without a `postgres` user, skip the test (pytest.skip).
Leaving the block stops the server (a fast shutdown: SIGINT to the postmaster,
which exits after its children; SIGKILL to it and its children if it lingers)
and removes the temporary directory.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

__all__ = ["PostgresServer", "find_bin_dir"]

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
SUPERUSER = "postgres"  # the role initdb creates (-U); trust lets anyone connect as it


def find_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/N/bin holding initdb, postgres, psql, pg_isready."""
    found = []
    for directory in glob.glob("/usr/lib/postgresql/*/bin"):
        path = Path(directory)
        version = path.parent.name
        if all((path / tool).is_file() for tool in ("initdb", "postgres", "psql", "pg_isready")):
            found.append((int(version) if version.isdigit() else 0, path))
    return max(found)[1] if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """Start with `with PostgresServer() as pg:` (or .start() / .stop())."""

    def __init__(self, database: str = "gateway", **settings: str) -> None:
        self.database = database
        self.settings = settings  # extra `-c name=value` server settings
        self.port = 0
        self.tmp: Path | None = None
        self.process: subprocess.Popen | None = None
        bin_dir = find_bin_dir()
        if bin_dir is None:
            pytest.skip(
                "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin "
                "(apt-get install postgresql)"
            )
        self.bin = bin_dir
        self._as_user: dict = {}
        if os.geteuid() == 0:  # PostgreSQL will not run as root
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip(
                    "running as root and there is no `postgres` OS user to run "
                    "PostgreSQL as (PostgreSQL refuses to run as root)"
                )
            self._uid, self._gid = account.pw_uid, account.pw_gid
            self._as_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        else:
            self._uid, self._gid = os.geteuid(), os.getegid()

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{self.database}"

    def create_database(self, name: str) -> str:
        """Create another (empty) database on this server; its URL."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"a plain name, please: {name!r}")
        self._psql(f'CREATE DATABASE "{name}"')
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{name}"

    @property
    def log(self) -> str:
        """What the server wrote to its log so far (for failure messages)."""
        if self.tmp is None:
            return ""
        with contextlib.suppress(OSError):
            return (self.tmp / "server.log").read_text(errors="replace")
        return ""

    # --- life cycle ----------------------------------------------------------------------

    def start(self) -> PostgresServer:
        self.tmp = Path(tempfile.mkdtemp(prefix="gateway-postgres-"))
        try:
            (self.tmp / "socket").mkdir()
            for path in (self.tmp, self.tmp / "socket"):
                os.chown(path, self._uid, self._gid)
            self._run(
                "initdb",
                "-D",
                str(self.tmp / "data"),
                "-A",
                "trust",
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
            for _attempt in range(3):  # another process may take the free port first
                if self._serve():
                    break
            else:
                raise RuntimeError(f"PostgreSQL did not start:\n{self.log[-3000:]}")
            self.create_database(self.database)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            self._end(process)
        tmp, self.tmp = self.tmp, None
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- inner workings ----------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        return {
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "LC_ALL": "C",
            "LANG": "C",
            "PGTZ": "UTC",
            "HOME": str(self.tmp),
        }

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [str(self.bin / tool), *args],
            cwd=self.tmp,
            env=self._env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            **self._as_user,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def _psql(self, sql: str) -> None:
        self._run(
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            "-d",
            "postgres",
            "-c",
            sql,
        )

    def _serve(self) -> bool:
        """Start `postgres` on a free port; True once it accepts connections."""
        assert self.tmp is not None
        self.port = _free_port()
        settings = {
            "listen_addresses": "127.0.0.1",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "50",
            "shared_buffers": "16MB",
            **self.settings,
        }
        command = [
            str(self.bin / "postgres"),
            "-D",
            str(self.tmp / "data"),
            "-p",
            str(self.port),
            "-k",
            str(self.tmp / "socket"),
        ]
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        with open(self.tmp / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.tmp,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **self._as_user,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:  # exited: the port was taken, or worse
                self.process = None
                return False
            if self._accepts():
                return True
            time.sleep(0.05)
        process, self.process = self.process, None
        self._end(process)
        raise RuntimeError(
            f"PostgreSQL did not accept connections within {START_TIMEOUT:.0f} s:"
            f"\n{self.log[-3000:]}"
        )

    def _accepts(self) -> bool:
        done = subprocess.run(
            [
                str(self.bin / "pg_isready"),
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
                "-t",
                "1",
            ],
            env=self._env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=5,
        )
        return done.returncode == 0

    @staticmethod
    def _end(process: subprocess.Popen) -> None:
        """A fast shutdown (SIGINT to the postmaster); SIGKILL to it and its children if not."""
        process.send_signal(signal.SIGINT)  # a no-op if it already exited
        try:
            process.wait(STOP_TIMEOUT)  # the postmaster exits after all its children
        except subprocess.TimeoutExpired:
            # Its children (found before it dies, while they are still its) each call
            # setsid(), so its process group alone would not reach them.
            for pid in [process.pid, *_children(process.pid)]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            process.wait(STOP_TIMEOUT)


def _children(parent: int) -> list[int]:
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")"
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == parent:
                found.append(int(Path(stat).parent.name))
    return found
