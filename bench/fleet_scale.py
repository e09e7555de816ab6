"""`gateway serve` replicas on one PostgreSQL: do they share the checks, each watch once?

Starts a throwaway PostgreSQL (tests/servers/postgres.py), a healthy nginx on
loopback and the Slack stand-in; then, for each replica count asked for (default
1, 2 and 3), a fresh database holding W watches (default 30,000) every I seconds
(default 60) and that many real `gateway serve` processes (HTTP mode). After one
interval of warm-up it measures for a few minutes: checks per second (from the
history the fleet wrote), the schedule lag p99 (the replicas'
`gateway_scheduler_lag_seconds` histograms added up, so a bucket's upper bound),
the CPU each replica used (from /proc), the shards each holds, and, per watch,
how many times it was checked in the window, the gaps between two of its checks
(checked once per interval: none under half an interval I, doubled; none over
I + 15 s, late) and the longest. `--kill-at S` adds a run of the largest
count in which the replica holding the most watches is SIGKILLed S seconds into
the window. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from bench.loopback_site import start_nginx  # noqa: E402
from bench.watch_scale import create_watches  # noqa: E402
from bot.migrations import open_migrated  # noqa: E402
from tests.servers.postgres import PostgresServer  # noqa: E402
from tests.servers.proxies import free_port  # noqa: E402
from tests.slack.signing import SIGNING_SECRET  # noqa: E402
from tests.slack.stand_in import SlackStandIn  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
FAILOVER = 15.0  # seconds a takeover may add to a watch's gap


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def scrape(port: int) -> dict:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    except httpx.HTTPError:
        return {}
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def lag_p99(growth: dict[float, float]) -> float:
    """The 99th percentile of the lag histograms' growth (a bucket's upper bound)."""
    buckets = sorted(growth.items())
    total = buckets[-1][1] if buckets else 0
    for bound, count in buckets:
        if total and count >= 0.99 * total:
            return bound
    return float("nan")


def lag_growth(before: dict, after: dict) -> dict[float, float]:
    return {
        float(dict(labels)["le"]): value - before.get((name, labels), 0.0)
        for (name, labels), value in after.items()
        if name == "gateway_scheduler_lag_seconds_bucket"
    }


async def history(url: str, since: float, until: float) -> list[tuple[int, float]]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT watch_id, extract(epoch from at) AS t FROM checks"
            " WHERE at >= to_timestamp($1) AND at < to_timestamp($2) ORDER BY watch_id, at",
            since,
            until,
        )
    finally:
        await connection.close()
    return [(r["watch_id"], float(r["t"])) for r in rows]


async def seed(url: str, watches: int, port: int, interval: float) -> None:
    store = await open_migrated(url)
    try:
        await create_watches(store, watches, port, interval)
    finally:
        await store.close()


@dataclass
class Replica:
    process: subprocess.Popen
    port: int
    cpu: float = 0.0  # seconds used in the window
    growth: dict[float, float] = field(default_factory=dict)  # its lag histogram's
    shards: int = 0
    watches: int = 0


def start_replica(tmp: Path, name: str, database: str, slack: SlackStandIn) -> Replica:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GATEWAY_"))} | {
        "PYTHONPATH": str(ROOT),
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "PORT": str(port),
        "GATEWAY_DATABASE_URL": database,
        "GATEWAY_ALLOW_PRIVATE": "1",
        "GATEWAY_MIN_INTERVAL": "1",
        "GATEWAY_TIMEOUT": "5",
        "GATEWAY_LOG_FORMAT": "json",
    }
    log = open(tmp / f"{name}.log", "w")  # noqa: SIM115 (the child's; closed at exit)
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve"], cwd=tmp, env=env, stdout=log, stderr=log
    )
    return Replica(process, port)


def stop(replicas: list[Replica]) -> None:
    for replica in replicas:
        if replica.process.poll() is None:
            replica.process.send_signal(signal.SIGTERM)
    for replica in replicas:
        try:
            replica.process.wait(60)
        except subprocess.TimeoutExpired:
            replica.process.kill()


def gauge(samples: dict, name: str) -> int:
    return int(samples.get((name, ()), 0))


def window(replicas: list[Replica], seconds: float, kill_at: float | None) -> float | None:
    """Measure each replica's CPU and lag over `seconds`; SIGKILL the busiest at `kill_at`."""
    before = {id(r): (scrape(r.port), cpu_seconds(r.process.pid)) for r in replicas}
    killed_at = None
    if kill_at is not None:
        time.sleep(kill_at)
        busiest = max(replicas, key=lambda r: gauge(scrape(r.port), "gateway_watches"))
        samples = scrape(busiest.port)
        busiest.cpu = cpu_seconds(busiest.process.pid) - before[id(busiest)][1]
        busiest.growth = lag_growth(before[id(busiest)][0], samples)
        busiest.shards, busiest.watches = (
            gauge(samples, "gateway_shards_owned"),
            gauge(samples, "gateway_watches"),
        )
        busiest.process.send_signal(signal.SIGKILL)
        busiest.process.wait(10)
        killed_at = time.time()
        time.sleep(seconds - kill_at)
    else:
        time.sleep(seconds)
    for replica in replicas:
        if replica.process.poll() is not None:
            continue
        samples = scrape(replica.port)
        replica.cpu = cpu_seconds(replica.process.pid) - before[id(replica)][1]
        replica.growth = lag_growth(before[id(replica)][0], samples)
        replica.shards = gauge(samples, "gateway_shards_owned")
        replica.watches = gauge(samples, "gateway_watches")
    return killed_at


def run(
    args: argparse.Namespace, count: int, kill_at: float | None, context: tuple, number: int
) -> str:
    """One run: a fresh database, `count` replicas, the window; its table row."""
    pg, slack, tmp, site_port = context
    database = pg.create_database(f"fleet_{number}")
    asyncio.run(seed(database, args.watches, site_port, args.interval))
    replicas = [start_replica(tmp, f"run{number}-{n}", database, slack) for n in range(count)]
    try:
        time.sleep(args.interval)  # warm-up: the first runs are spread over an interval
        start = time.time()
        killed_at = window(replicas, args.seconds, kill_at)
        end = time.time()
        time.sleep(2)  # the write-behind of the last second
        rows = asyncio.run(history(database, start, end))
    finally:
        stop(replicas)
    return row(args, replicas, rows, end - start, killed_at and killed_at - start)


def row(
    args: argparse.Namespace,
    replicas: list[Replica],
    rows: list[tuple[int, float]],
    elapsed: float,
    killed: float | None,
) -> str:
    per_watch: dict[int, list[float]] = {}
    for watch_id, at in rows:
        per_watch.setdefault(watch_id, []).append(at)
    gaps = [b - a for times in per_watch.values() for a, b in itertools.pairwise(times)]
    counts = [len(t) for t in per_watch.values()]
    doubled = sum(1 for g in gaps if g < args.interval / 2)
    late = sum(1 for g in gaps if g > args.interval + FAILOVER)
    growth: dict[float, float] = {}
    for replica in replicas:
        for bound, value in replica.growth.items():
            growth[bound] = growth.get(bound, 0.0) + value
    per_check = sum(r.cpu for r in replicas) / max(1, len(rows)) * 1000
    cpu = " / ".join(
        f"{r.cpu / elapsed:.0%}{' †' if r.process.returncode == -signal.SIGKILL else ''}"
        for r in replicas
    )
    shares = " / ".join(f"{r.shards} ({r.watches:,})" for r in replicas)
    run_name = f"{len(replicas)}" + (f", one killed at {killed:.0f} s" if killed else "")
    return (
        f"| {run_name} | {len(rows) / elapsed:.1f} ({args.watches / args.interval:.1f}) "
        f"| {cpu} | {per_check:.2f} ms | {shares} | ≤ {lag_p99(growth) * 1000:.0f} ms "
        f"| {len(per_watch):,} | {min(counts, default=0)}–{max(counts, default=0)} "
        f"({elapsed / args.interval:.1f}) | {doubled} / {late} | {max(gaps, default=0):.1f} s |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--watches", type=int, default=30_000)
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--seconds", type=float, default=180.0, help="measured, after warm-up")
    parser.add_argument("--kill-at", type=float, default=None)
    args = parser.parse_args()
    runs = [(count, None) for count in args.replicas]
    if args.kill_at is not None:
        runs.append((max(args.replicas), args.kill_at))
    print(
        f"{args.watches:,} watches every {args.interval:g} s on one PostgreSQL, a healthy nginx "
        f"on loopback, {os.cpu_count()} cores; measured {args.seconds:.0f} s after one "
        "interval († SIGKILLed: its CPU until then)\n"
    )
    print(
        "| replicas | checks/s (expected) | CPU per replica | CPU per check "
        "| shards (watches) per replica "
        "| lag p99 | watches checked | checks per watch (expected) | gaps < I/2 / > I + 15 s "
        "| longest gap |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    with (
        tempfile.TemporaryDirectory() as tmpdir,
        PostgresServer(max_connections="100") as pg,
        SlackStandIn() as slack,
    ):
        tmp = Path(tmpdir)
        site_port = free_port()
        nginx = start_nginx(tmp, site_port)
        try:
            for number, (count, kill_at) in enumerate(runs, 1):
                print(run(args, count, kill_at, (pg, slack, tmp, site_port), number), flush=True)
        finally:
            nginx.terminate()
            nginx.wait(10)


if __name__ == "__main__":
    main()
