"""Several `gateway serve` replicas on one PostgreSQL behaving as one bot, sharing the checks.

The watches are split into SHARDS shards (bot/watch/shards.py: `watch_id % 64`).
A replica checks the watches of the shards it holds, and it holds a shard by
holding a session-level advisory lock, `pg_try_advisory_lock(SHARD_LOCKS, shard)`,
on a connection of its own (the lock connection). The fleet's members are the
lock connections themselves (`application_name = 'gateway-fleet'` in
pg_stat_activity), so a replica is a member exactly as long as its locks can
live: a replica killed with SIGKILL (or a machine gone, once PostgreSQL notices)
loses its session, its locks and its membership at once. Every second each
replica reads the members and which shards are held (pg_locks), and takes one
step towards its fair share (SHARDS // N, a shard more for the first SHARDS % N
members by pid): over it, it hands the surplus over; under it, it tries for free
shards. So a newcomer gets a share within seconds, and a dead replica's shards
are taken by the survivors.

Handing a shard over never checks a watch twice: the giver stops its watches'
jobs, waits for their running checks, writes their memory (last_checked_at
among it) and only then unlocks; the taker waits TAKEOVER_GRACE after winning a
lock (a replica whose lock connection was cut, not killed, notices at its next
round and stops first), then reads the watches from the database and schedules
each at its last check plus its interval (an overdue one within 5 s). Failover:
TRY_EVERY + TAKEOVER_GRACE + at most 5 s, within max(interval, 15 s).

Everything about one watch happens on the replica that holds its shard: its
checks, alerts and recoveries, and its reminders, escalations and mute windows
(the alarm clock sweeps the watches held here), because all of them read and
write the watch's memory and its incident under one in-process lock; a second
process acting on the same incident would need a lock across processes. What
changes a watch is written to the database and announced with `NOTIFY`, which
every replica `LISTEN`s for; the holder acts on it. Each replica re-reads the
watches table every RESYNC seconds in case a notification was lost.

One replica also leads (`pg_try_advisory_lock(LEADER_LOCK)`) for the chores that
are the fleet's and no watch's: pruning the check history. The lock is the one the
versions before shards led with, the leader checking every watch: while such a
leader holds it (a rolling upgrade), the members hold no shard, so no watch is
checked twice; once it is gone they share the watches. With SQLite there is
one process (`Solo`): it holds every shard and leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot import metrics
from bot.watch.shards import ALL, fair_share, plan, shard_of

log = logging.getLogger(__name__)

CHANNEL = "gateway_watches"
LEADER_LOCK = 0x6761_7465_0002  # pg_try_advisory_lock key: the replica doing the chores
SHARD_LOCKS = 0x6761_7465  # pg_try_advisory_lock(SHARD_LOCKS, shard): who checks a shard
APPLICATION = "gateway-fleet"  # the lock connections' application_name: the members
TRY_EVERY = 1.0  # seconds between rounds: members read, shards taken or given, heartbeat
HEARTBEAT_TIMEOUT = 3.0
# A replica that wins a shard waits this long before it checks its watches: a replica whose
# lock connection was cut (not killed) notices at its next round and stops first.
# Takeover: TRY_EVERY + TAKEOVER_GRACE + at most 5 s for an overdue watch.
TAKEOVER_GRACE = 2 * TRY_EVERY
# The lock connection's socket, on the server's side: a leader whose machine vanished
# (no FIN, no RST) is given up on in about 5 s instead of TCP's hours, freeing its locks.
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


MEMBERS = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1"
)
HELD = (
    "SELECT objid::int FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND classid = $1::int::oid AND objsubid = 2"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
# A leader of the versions where one replica checked every watch: LEADER_LOCK held by a
# session that is no member. While one runs (a rolling upgrade), the members check nothing.
OLD_LEADER = (
    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
    " AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid"
    " AND a.application_name <> $3 AND a.datname = current_database()"
)
TAKE = "SELECT s FROM unnest($2::int[]) AS s WHERE pg_try_advisory_lock($1, s)"
GIVE = "SELECT count(pg_advisory_unlock($1, s)) FROM unnest($2::int[]) AS s"


class Members(Protocol):
    """What a fleet drives: the watch service."""

    async def shards_changed(
        self, gained: frozenset[int], lost: frozenset[int], handing_over: bool
    ) -> None:
        """Start checking the watches of `gained`; stop those of `lost`. Handing over,
        finish their running checks and write their memory first (the locks are let go
        after); otherwise they are already someone else's: just forget them."""

    async def changed(self, what: str, watch_id: int) -> None: ...


class Solo:
    """One process owns the database (SQLite): it holds every shard from the start, alone."""

    def __init__(self) -> None:
        self.replica = replica_name()
        self.leading = False
        self.shards: frozenset[int] = frozenset()

    def owns(self, watch_id: int) -> bool:
        return bool(self.shards)

    async def start(self, members: Members) -> None:
        self.leading, self.shards = True, ALL
        metrics.SHARDS_OWNED.set(len(ALL))
        await members.shards_changed(ALL, frozenset(), handing_over=False)

    async def notify(self, what: str, watch_id: int) -> None:
        return None  # nobody else to tell

    async def problem(self) -> str | None:
        return None

    async def stop(self) -> None:
        self.leading, self.shards = False, frozenset()


class PostgresFleet:
    """Shards by advisory lock, members by lock session, changes by LISTEN/NOTIFY
    (see the module doc)."""

    def __init__(self, url: str) -> None:
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.replica = replica_name()
        self.leading = False
        self.connected = False
        self.takeover_grace = TAKEOVER_GRACE
        self.shards: frozenset[int] = frozenset()  # whose watches this replica checks
        self._held: set[int] = set()  # whose locks it holds: those, and the ones arriving
        self._arriving: dict[int, float] = {}  # shard → when its lock was won (monotonic)
        self._random = random.Random()
        self._members: Members | None = None
        self._connection: Any = None  # an asyncpg connection (asyncpg has no type hints)
        self._backend = 0  # the lock connection's backend pid: this replica, as a member
        self._use = asyncio.Lock()  # one query at a time on the one connection
        self._task: asyncio.Task[None] | None = None
        self._handling: set[asyncio.Task[None]] = set()

    def owns(self, watch_id: int) -> bool:
        """Whether this replica checks (and alarms, and acts on) this watch now."""
        return shard_of(watch_id) in self.shards

    async def start(self, members: Members) -> None:
        self._members = members
        await self._connect()  # the first connection's failure is the caller's to report
        await self._round()
        self._task = asyncio.get_running_loop().create_task(self._forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._close()  # closing the connection releases the locks
        self.leading, self.shards = False, frozenset()
        self._held.clear()
        self._arriving.clear()

    async def notify(self, what: str, watch_id: int) -> None:
        """Tell every replica (the one holding the watch's shard acts on it) of a change."""
        payload = f"{self.replica}|{what}|{watch_id}"
        try:
            async with self._use:
                if self._connection is None:
                    raise ConnectionError("not connected")
                await self._connection.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
        except TROUBLE as exc:
            # the holder's resync picks the change up within RESYNC seconds
            log.warning("could not notify the fleet of %s %s: %s", what, watch_id, exc)

    async def problem(self) -> str | None:
        return None if self.connected else "lost its connection to the fleet's lock"

    # --- inner workings ----------------------------------------------------------------

    async def _connect(self) -> None:
        import asyncpg

        self._connection = await asyncpg.connect(
            self.dsn,
            timeout=10,
            server_settings={**DEAD_PEER_SETTINGS, "application_name": APPLICATION},
        )
        await self._connection.add_listener(CHANNEL, self._heard)
        self._backend = await self._connection.fetchval("SELECT pg_backend_pid()")
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
            await asyncio.sleep(self._until_next_round())
            try:
                if self._connection is None or self._connection.is_closed():
                    await self._close()
                    await self._lose_all("its lock connection closed")
                    await self._connect()
                await self._round()
            except TROUBLE as exc:
                log.warning("fleet connection trouble: %s", exc)
                await self._close()
                await self._lose_all(f"lost the lock connection ({type(exc).__name__})")
            except Exception:  # e.g. the database failed while taking shards: let go of them
                log.exception("taking or giving shards failed; letting the other replicas")
                await self._close()
                await self._lose_all("an error while taking or giving shards")

    def _until_next_round(self) -> float:
        """A second, or less when a shard's grace ends sooner."""
        if not self._arriving:
            return TRY_EVERY
        ready = min(self._arriving.values()) + self.takeover_grace - time.monotonic()
        return min(TRY_EVERY, max(0.05, ready))

    async def _round(self) -> None:
        """Read the members and the held shards (the query doubles as the heartbeat), take
        one step towards the fair share, then start on the shards whose grace is over."""
        assert self._connection is not None and self._members is not None
        async with self._use:
            old = 0
            if not self.leading:
                self.leading = await self._connection.fetchval(
                    "SELECT pg_try_advisory_lock($1)", LEADER_LOCK, timeout=HEARTBEAT_TIMEOUT
                )
            if not self.leading:
                old = await self._connection.fetchval(
                    OLD_LEADER,
                    LEADER_LOCK >> 32,
                    LEADER_LOCK & 0xFFFF_FFFF,
                    APPLICATION,
                    timeout=HEARTBEAT_TIMEOUT,
                )
            members = await self._connection.fetch(MEMBERS, APPLICATION, timeout=HEARTBEAT_TIMEOUT)
            taken = await self._connection.fetch(HELD, SHARD_LOCKS, timeout=HEARTBEAT_TIMEOUT)
        target = 0 if old else fair_share([row[0] for row in members], self._backend)
        moves = plan(self._held, target, [row[0] for row in taken], self._random)
        if moves.release:
            await self._give(frozenset(moves.release))
        if moves.take:
            async with self._use:
                won = await self._connection.fetch(
                    TAKE, SHARD_LOCKS, list(moves.take), timeout=HEARTBEAT_TIMEOUT
                )
            now = time.monotonic()
            for row in won:
                self._held.add(row[0])
                self._arriving[row[0]] = now
        ready = frozenset(
            s for s, at in self._arriving.items() if time.monotonic() - at >= self.takeover_grace
        )
        if ready:
            for shard in ready:
                del self._arriving[shard]
            self.shards |= ready
            self._said(f"took {len(ready)}")
            await self._members.shards_changed(ready, frozenset(), handing_over=False)

    async def _give(self, shards: frozenset[int]) -> None:
        """Hand shards over: their checks finished and written down, then the locks let go."""
        assert self._connection is not None and self._members is not None
        active = shards & self.shards
        self.shards -= active
        for shard in shards:
            self._arriving.pop(shard, None)
        if active:
            self._said(f"gave {len(active)} to a newcomer")
            await self._members.shards_changed(frozenset(), active, handing_over=True)
        async with self._use:
            await self._connection.fetchval(
                GIVE, SHARD_LOCKS, sorted(shards), timeout=HEARTBEAT_TIMEOUT
            )
        self._held -= shards

    async def _lose_all(self, why: str) -> None:
        """The lock connection is gone, and with it every lock: stop checking at once."""
        lost, self.shards = self.shards, frozenset()
        self._held.clear()
        self._arriving.clear()
        self.leading = False
        metrics.SHARDS_OWNED.set(0)
        if lost and self._members is not None:
            log.warning("this replica (%s) stopped checking its shards: %s", self.replica, why)
            with contextlib.suppress(Exception):  # forgetting is in memory; never fails twice
                await self._members.shards_changed(frozenset(), lost, handing_over=False)

    def _said(self, what: str) -> None:
        metrics.SHARDS_OWNED.set(len(self.shards))
        log.info(
            "this replica (%s) %s shards: it checks %d of %d",
            self.replica,
            what,
            len(self.shards),
            len(ALL),
        )

    def _heard(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        replica, _, rest = payload.partition("|")
        what, _, watch_id = rest.partition("|")
        if replica == self.replica or not watch_id.isdigit() or self._members is None:
            return
        if not self.owns(int(watch_id)):
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
