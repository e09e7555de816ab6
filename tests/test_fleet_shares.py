"""Real `gateway serve` replicas on one real PostgreSQL share the checks.

Thirty watches of a loopback site, every 2 s: each replica checks a share of
them (its `gateway_checks_total` grows, its `gateway_watches` is a part of the
thirty), each watch is checked about once per interval (the times come from the
site itself, which sees every check, even one whose history a killed replica never
wrote), the replica holding the most watches is killed with SIGKILL and the
survivors check every watch within max(interval, 15 s); and a replica started
later takes a share from the others without a watch being checked twice. An
incident's reminders come from the replica checking its watch, once per period,
and go on from a survivor when that replica dies.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import pytest

from bot.watch.fleet import LEADER_LOCK
from tests.servers.misbehave import Behaviour, ServerHandle, serve
from tests.servers.postgres import PostgresServer
from tests.slack.stand_in import SlackStandIn
from tests.test_fleet import (
    INTERVAL,
    NGINX_502,
    Replica,
    _samples,
    alert_posts,
    alerts,
    fleet,
    holder_of,
)

pytestmark = pytest.mark.timeout(240)

WATCHES = 30
FAILOVER = max(INTERVAL, 15.0)
BUSY = {"GATEWAY_USER_PER_MINUTE": "1000", "GATEWAY_TEAM_PER_MINUTE": "1000"}
_databases = itertools.count(1)


@pytest.fixture(scope="module")
def postgres():
    with PostgresServer() as server:
        yield server


@pytest.fixture
def database_url(postgres: PostgresServer) -> str:
    return postgres.create_database(f"shares_{next(_databases)}")


@pytest.fixture
def slack():
    with SlackStandIn() as stand_in:
        yield stand_in


class Arrivals:
    """When each path of the site was asked for: a thread notes the site's new requests
    every 20 ms (so a time is at most that late)."""

    def __init__(self, site: ServerHandle) -> None:
        self.site = site
        self.times: dict[str, list[float]] = defaultdict(list)
        self._seen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            now, requests = time.time(), list(self.site.requests)
            for request in requests[self._seen :]:
                self.times[request.target].append(now)
            self._seen = len(requests)

    def checks(self, path: str, since: float = 0.0) -> list[float]:
        """A check's requests come together (a redirect, a retry): one check per burst."""
        checks: list[float] = []
        for at in self.times[path]:
            if at >= since and (not checks or at - checks[-1] > 0.3):
                checks.append(at)
        return checks


@contextmanager
def arrivals(site: ServerHandle) -> Iterator[Arrivals]:
    seen = Arrivals(site)
    seen._thread.start()
    try:
        yield seen
    finally:
        seen._stop.set()
        seen._thread.join(5)


def gauges(replica: Replica) -> dict[str, float]:
    answer = replica.get("/metrics")
    assert answer is not None and answer.status_code == 200
    samples = _samples(answer.text)
    return {
        "shards": samples[("gateway_shards_owned", ())],
        "watches": samples[("gateway_watches", ())],
        "checks": sum(v for (n, _), v in samples.items() if n == "gateway_checks_total"),
    }


def settle(replicas: list[Replica], watches: int, within: float = 30.0) -> list[dict]:
    """Wait until the live replicas hold fair shares of the shards and, between them,
    schedule every watch once."""
    deadline = time.monotonic() + within
    while True:
        seen = [gauges(r) for r in replicas]
        shards = sorted(int(g["shards"]) for g in seen)
        fair = 64 // len(replicas)
        if (
            sum(shards) == 64
            and shards[0] >= fair
            and shards[-1] <= fair + 1
            and sum(g["watches"] for g in seen) == watches
        ):
            return seen
        assert time.monotonic() < deadline, seen
        time.sleep(0.3)


def assert_each_checked_once_per_interval(seen: Arrivals, since: float, until: float) -> None:
    """Every watch: no two checks in one interval (a shard checked by two replicas), and
    no silence longer than the failover bound."""
    for n in range(WATCHES):
        times = seen.checks(f"/w{n}", since)
        times = [t for t in times if t <= until]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert gaps, f"/w{n} not checked"
        assert min(gaps) > INTERVAL * 0.25, (f"/w{n}", sorted(gaps)[:3])
        assert max(gaps) < FAILOVER, (f"/w{n}", sorted(gaps)[-3:])
        assert times[0] - since < FAILOVER and until - times[-1] < FAILOVER, f"/w{n}"


def watch_thirty(replicas: list[Replica], site: ServerHandle) -> None:
    for n in range(WATCHES):  # the commands taken by every replica in turn
        replicas[n % len(replicas)].command(f"watch {site.url(f'/w{n}')} every 2s")


def test_three_replicas_share_thirty_watches_and_survive_losing_the_busiest(
    tmp_path, slack, database_url
):
    with (
        serve(Behaviour.OK) as site,
        arrivals(site) as seen,
        fleet(3, tmp_path, slack, database_url, **BUSY) as replicas,
    ):
        watch_thirty(replicas, site)
        settle(replicas, WATCHES)
        time.sleep(2 * INTERVAL)  # every watch's first check is done
        before = [gauges(r) for r in replicas]
        started = time.time()
        time.sleep(10 * INTERVAL)
        after = [gauges(r) for r in replicas]
        checked = [a["checks"] - b["checks"] for a, b in zip(after, before, strict=True)]
        assert all(c > 0 for c in checked), checked  # every replica checks a share
        assert all(0 < a["watches"] < WATCHES for a in after), after
        expected = WATCHES * 10  # about once per interval each
        assert expected * 0.8 <= sum(checked) <= expected * 1.1, (checked, expected)
        assert_each_checked_once_per_interval(seen, started, time.time())

        busiest = max(replicas, key=lambda r: gauges(r)["watches"])
        busiest.kill()
        killed = time.time()
        survivors = [r for r in replicas if r is not busiest]
        settle(survivors, WATCHES, within=FAILOVER)
        time.sleep(FAILOVER)
        assert_each_checked_once_per_interval(seen, started, time.time())
        for n in range(WATCHES):  # each checked again, by a survivor, within the bound
            assert any(killed < t < killed + FAILOVER for t in seen.checks(f"/w{n}")), n


def test_a_replica_started_later_takes_a_share_and_no_watch_is_checked_twice(
    tmp_path, slack, database_url
):
    with (
        serve(Behaviour.OK) as site,
        arrivals(site) as seen,
        fleet(2, tmp_path, slack, database_url, **BUSY) as replicas,
    ):
        watch_thirty(replicas, site)
        settle(replicas, WATCHES)
        time.sleep(2 * INTERVAL)
        started = time.time()
        late = Replica("late", tmp_path, slack, database_url, **BUSY)
        try:
            late.wait_ready()
            everyone = [*replicas, late]
            shares = settle(everyone, WATCHES, within=FAILOVER)
            assert 0 < shares[-1]["watches"] < WATCHES, shares
            checks = gauges(late)["checks"]
            time.sleep(3 * INTERVAL)
            assert gauges(late)["checks"] > checks  # the newcomer checks its share
            assert_each_checked_once_per_interval(seen, started, time.time())
        finally:
            late.stop()


def reminders(slack: SlackStandIn) -> list[float]:
    """When a reminder was posted (monotonic), oldest first."""
    return [
        c.at
        for c in slack.calls_to("chat.postMessage")
        if c.response.get("ok") and c.args.get("thread_ts") and ":bell:" in c.args["text"]
    ]


def test_reminders_come_once_per_period_from_the_watch_holder_and_go_on_after_it_dies(
    tmp_path, slack, database_url
):
    with (
        serve(Behaviour.STATUS, **NGINX_502) as site,
        fleet(3, tmp_path, slack, database_url, GATEWAY_REMIND_EVERY="4s") as replicas,
    ):
        replicas[0].command(f"watch {site.url()} every 2s")
        assert slack.wait_for(lambda s: alerts(s), 30)
        assert slack.wait_for(lambda s: len(reminders(s)) >= 2, 20)
        time.sleep(8)
        holder = holder_of(replicas)
        holder.kill()
        killed = time.monotonic()
        holder_of([r for r in replicas if r is not holder])
        time.sleep(16)
    times = reminders(slack)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) > 4 * 0.75, gaps  # never twice in a period: one replica reminds
    assert max(gaps) < 4 + FAILOVER, gaps  # and a survivor took the clock over
    assert sum(1 for t in times if t > killed) >= 2, (times, killed)
    assert alert_posts(slack) == 1


def test_while_a_leader_of_the_one_leader_kind_checks_everything_no_replica_takes_a_shard(
    tmp_path, slack, database_url
):
    """A rolling upgrade from replicas where one leader checked every watch: while such a
    leader holds its lock (here, a session that is no member of the sharing fleet), the
    new replicas check nothing, so no watch is checked by both; once it is gone they
    share the watches."""

    async def hold(release: asyncio.Event, held: threading.Event) -> None:
        connection = await asyncpg.connect(database_url)  # no gateway-fleet application_name
        try:
            assert await connection.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK)
            held.set()
            await asyncio.to_thread(release.wait)
        finally:
            await connection.close()

    release, held = threading.Event(), threading.Event()
    old = threading.Thread(target=asyncio.run, args=(hold(release, held),), daemon=True)
    old.start()
    try:
        assert held.wait(10)
        with serve(Behaviour.OK) as site, fleet(2, tmp_path, slack, database_url) as replicas:
            replicas[0].command(f"watch {site.url()} every 2s")
            time.sleep(3 * INTERVAL)
            assert [gauges(r)["shards"] for r in replicas] == [0, 0]
            assert site.requests == []  # the old leader's to check
            release.set()
            old.join(10)
            settle(replicas, 1, within=FAILOVER)
            assert slack.wait_for(lambda _: site.requests, FAILOVER)
    finally:
        release.set()
        old.join(10)
