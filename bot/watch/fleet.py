"""Several `gateway serve` replicas on one PostgreSQL behaving as one bot.

One replica leads: it holds a session-level `pg_try_advisory_lock` on a
connection of its own, and only the leader schedules and runs the watches'
checks (APScheduler stays the in-process clock). The lock lives and dies with
that connection, so a replica killed with SIGKILL (or a machine gone, once
PostgreSQL notices) frees it, and another replica, which tries for it every
second, takes over and rebuilds the jobs from the watches table. Every replica
answers commands and buttons; what changes a watch is written to the database
and announced with `NOTIFY`, which the leader `LISTEN`s for, so a watch added on
any replica is scheduled within a moment. The leader also re-reads the watches
table every RESYNC seconds, in case a notification was lost with a connection.

Why one leader and not rows claimed with `SELECT … FOR UPDATE SKIP LOCKED`: a
watch's state machine keeps its memory (failures in a row, the open incident)
in the process that checks it and writes it behind once a second; one checker
per watch keeps that memory whole, and one process runs 10,000 watches a minute
at about half a core (docs/benchmarks.md), so sharing the checks would buy
little and cost a claim round-trip per check. With SQLite there is one process
(`Solo`): it always leads.

Work that must happen once per fleet, not once per replica (a periodic sweep
for reminders, say), runs where `WatchService.leading` is true; work inside a
watch's check already runs on the leader only.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

log = logging.getLogger(__name__)

CHANNEL = "gateway_watches"
LEADER_LOCK = 0x6761_7465_0002  # pg_try_advisory_lock key: the replica that checks
TRY_EVERY = 1.0  # seconds between a follower's attempts, and the leader's heartbeats
HEARTBEAT_TIMEOUT = 3.0
# A replica that wins the lock waits this long before it checks anything: a leader whose
# lock connection was cut (not killed) notices at its next heartbeat and stops first.
# (A silent network leaves PostgreSQL holding the lock for far longer than a heartbeat's
# timeout.) Takeover: TRY_EVERY + TAKEOVER_GRACE + at most 5 s for an overdue watch.
TAKEOVER_GRACE = 2 * TRY_EVERY
# The lock connection's socket, on the server's side: a leader whose machine vanished
# (no FIN, no RST) is given up on in about 5 s instead of TCP's hours, freeing the lock.
DEAD_PEER_SETTINGS = {
    "tcp_keepalives_idle": "2",
    "tcp_keepalives_interval": "1",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "5000",  # ms: unacknowledged data (the heartbeat's answer)
}
RESYNC = 30.0

try:  # SQLite-only installs have no asyncpg; Solo needs none
    from asyncpg import InterfaceError, PostgresError

    TROUBLE: tuple[type[BaseException], ...] = (
        OSError,
        ConnectionError,
        TimeoutError,
        PostgresError,
        InterfaceError,
    )
except ImportError:
    TROUBLE = (OSError, ConnectionError, TimeoutError)

Changed = Callable[[str, int], Awaitable[None]]


def replica_name() -> str:
    """host:pid, what logs and metrics call this replica."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Members(Protocol):
    """What a fleet drives: the watch service."""

    async def lead(self) -> None: ...
    async def follow(self) -> None: ...
    async def changed(self, what: str, watch_id: int) -> None: ...


class Solo:
    """One process owns the database (SQLite): it leads from the start, alone."""

    def __init__(self) -> None:
        self.replica = replica_name()
        self.leading = False

    async def start(self, members: Members) -> None:
        self.leading = True
        await members.lead()

    async def notify(self, what: str, watch_id: int) -> None:
        return None  # nobody else to tell

    async def problem(self) -> str | None:
        return None

    async def stop(self) -> None:
        self.leading = False


class PostgresFleet:
    """Leader election by advisory lock, changes by LISTEN/NOTIFY (see the module doc)."""

    def __init__(self, url: str) -> None:
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.replica = replica_name()
        self.leading = False
        self.connected = False
        self.takeover_grace = TAKEOVER_GRACE
        self._members: Members | None = None
        self._connection: Any = None  # an asyncpg connection (asyncpg is untyped)
        self._use = asyncio.Lock()  # one query at a time on the one connection
        self._task: asyncio.Task[None] | None = None
        self._handling: set[asyncio.Task[None]] = set()

    async def start(self, members: Members) -> None:
        self._members = members
        await self._connect()  # the first connection's failure is the caller's to report
        await self._round()
        self._task = asyncio.get_running_loop().create_task(self._forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._close()  # closing the connection releases the lock
        self.leading = False

    async def notify(self, what: str, watch_id: int) -> None:
        """Tell every replica (the leader acts on it) that a watch changed."""
        payload = f"{self.replica}|{what}|{watch_id}"
        try:
            async with self._use:
                if self._connection is None:
                    raise ConnectionError("not connected")
                await self._connection.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
        except TROUBLE as exc:
            # the leader's resync picks the change up within RESYNC seconds
            log.warning("could not notify the fleet of %s %s: %s", what, watch_id, exc)

    async def problem(self) -> str | None:
        return None if self.connected else "lost its connection to the fleet's lock"

    # --- inner workings ----------------------------------------------------------------

    async def _connect(self) -> None:
        import asyncpg

        self._connection = await asyncpg.connect(
            self.dsn, timeout=10, server_settings=DEAD_PEER_SETTINGS
        )
        await self._connection.add_listener(CHANNEL, self._heard)
        self.connected = True

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        self.connected = False
        if connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 5)
            if not connection.is_closed():
                connection.terminate()

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(TRY_EVERY)
            try:
                if self._connection is None or self._connection.is_closed():
                    await self._close()
                    await self._step_down("its lock connection closed")
                    await self._connect()
                await self._round()
            except TROUBLE as exc:
                log.warning("fleet connection trouble: %s", exc)
                await self._close()
                await self._step_down(f"lost the lock connection ({type(exc).__name__})")
            except Exception:  # e.g. the database failed while taking the lead: let go of it
                log.exception("taking or keeping the lead failed; letting another replica lead")
                await self._close()
                await self._step_down("an error while leading")

    async def _round(self) -> None:
        """A follower tries for the lock; the leader checks its connection still answers."""
        assert self._connection is not None and self._members is not None
        async with self._use:
            if self.leading:
                await self._connection.fetchval("SELECT 1", timeout=HEARTBEAT_TIMEOUT)
                return
            got = await self._connection.fetchval(
                "SELECT pg_try_advisory_lock($1)", LEADER_LOCK, timeout=HEARTBEAT_TIMEOUT
            )
        if got:
            await asyncio.sleep(self.takeover_grace)
            self.leading = True
            log.info("this replica (%s) leads: it schedules the watches", self.replica)
            await self._members.lead()

    async def _step_down(self, why: str) -> None:
        if self.leading and self._members is not None:
            self.leading = False
            log.warning("this replica (%s) stopped leading: %s", self.replica, why)
            with contextlib.suppress(Exception):  # forgetting is in memory; never fails twice
                await self._members.follow()

    def _heard(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        replica, _, rest = payload.partition("|")
        what, _, watch_id = rest.partition("|")
        if replica == self.replica or not watch_id.isdigit() or self._members is None:
            return
        if not self.leading:
            return
        task = asyncio.get_running_loop().create_task(self._members.changed(what, int(watch_id)))
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)


def fleet_for(url: str) -> Solo | PostgresFleet:
    """The fleet a database URL implies: PostgreSQL shares, anything else is solo."""
    try:
        postgres = make_url(url).get_backend_name() == "postgresql"
    except (ArgumentError, ValueError):
        return Solo()  # not a URL: opening the database says so, in one line
    return PostgresFleet(url) if postgres else Solo()


class Owned(RuntimeError):
    """Another process owns this SQLite database; the message says which, in one line."""


def own_sqlite(url: str) -> int | None:
    """Hold an exclusive lock on `FILE.lock` next to a SQLite database for this process's
    life (the kernel drops it when the process dies, however it dies); None when the
    database is not a SQLite file. Raises Owned when another process holds it."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None  # not a URL: opening the database says so, in one line
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database).resolve()
    try:
        descriptor = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None  # nor could the database be made there: opening it says why, in one line
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(descriptor, 32).decode(errors="replace").strip() or "?"
        os.close(descriptor)
        raise Owned(
            f"another gateway (pid {holder}) already runs on {path}: one process owns a "
            "SQLite database (several replicas need PostgreSQL, see docs/operations.md)"
        ) from None
    os.ftruncate(descriptor, 0)
    os.write(descriptor, f"{os.getpid()}\n".encode())
    _own_inode(path, descriptor)
    return descriptor


_HELD: list[int] = []  # the database files this process holds (open for its life)


def _own_inode(path: Path, lock_descriptor: int) -> None:
    """Lock the database file itself too: a lock file is found by name, so a hard link (or
    a bind mount) to the same file under another name would get a second owner. flock
    locks the inode, whatever name opened it, and is apart from SQLite's own fcntl locks."""
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return  # opening the database says why, in one line
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        os.close(lock_descriptor)
        raise Owned(
            f"another gateway already runs on {path} under another name (a hard link or "
            "a bind mount of the same file): one process owns a SQLite database (several "
            "replicas need PostgreSQL, see docs/operations.md)"
        ) from None
    _HELD.append(descriptor)
