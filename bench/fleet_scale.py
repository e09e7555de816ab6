"""Two `gateway serve` replicas on one PostgreSQL: does the fleet check each watch once?

Starts a throwaway PostgreSQL (tests/servers/postgres.py), a healthy nginx on
loopback, the Slack stand-in, and N real `gateway serve` processes (default 2,
HTTP mode) on the one database holding W watches (default 10,000) every I
seconds (default 60). After one interval of warm-up it measures for a few
minutes: checks per second (from the history the fleet wrote), the schedule lag
p99 (from the leader's `gateway_scheduler_lag_seconds` histogram, so a bucket's
upper bound), the CPU each replica used (from /proc), and, per watch, how many
times it was checked in the window and the shortest gap between two of its checks
(checked once per interval means no gap shorter than half an interval).
`--kill-leader-at S` SIGKILLs the leader S seconds into the window and reports
how long the watches went unchecked. Loopback only.
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


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def scrape(port: int) -> dict:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    except httpx.HTTPError:
        return {}
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def lag_p99(before: dict, after: dict) -> float:
    """The 99th percentile of the lag histogram's growth between two scrapes (a bucket bound)."""
    buckets = sorted(
        (float(dict(labels)["le"]), value - before.get((name, labels), 0.0))
        for (name, labels), value in after.items()
        if name == "gateway_scheduler_lag_seconds_bucket"
    )
    total = buckets[-1][1] if buckets else 0
    for bound, count in buckets:
        if total and count >= 0.99 * total:
            return bound
    return float("nan")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--watches", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--seconds", type=float, default=180.0, help="measured, after warm-up")
    parser.add_argument("--kill-leader-at", type=float, default=None)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmpdir,
        PostgresServer(max_connections="100") as pg,
        SlackStandIn() as slack,
    ):
        tmp = Path(tmpdir)
        site_port = free_port()
        nginx = start_nginx(tmp, site_port)
        asyncio.run(seed(pg.url, args.watches, site_port, args.interval))
        replicas = []
        try:
            for n in range(args.replicas):
                port = free_port()
                env = {
                    k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GATEWAY_"))
                } | {
                    "PYTHONPATH": str(ROOT),
                    "SLACK_BOT_TOKEN": "xoxb-bench",
                    "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                    "SLACK_API_URL": slack.api_url,
                    "PORT": str(port),
                    "GATEWAY_DATABASE_URL": pg.url,
                    "GATEWAY_ALLOW_PRIVATE": "1",
                    "GATEWAY_MIN_INTERVAL": "1",
                    "GATEWAY_TIMEOUT": "5",
                    "GATEWAY_LOG_FORMAT": "json",
                }
                log = open(tmp / f"replica{n}.log", "w")  # noqa: SIM115
                process = subprocess.Popen(
                    [sys.executable, "-m", "bot.cli", "serve"],
                    cwd=tmp,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                replicas.append((process, port))
            time.sleep(args.interval)  # warm-up: the first runs are spread over an interval
            leader = next(p for p in replicas if scrape(p[1]).get(("gateway_leader", ())) == 1)
            before = scrape(leader[1])
            cpu_before = {p.pid: cpu_seconds(p.pid) for p, _ in replicas}
            start = time.time()
            killed_at = None
            if args.kill_leader_at is not None:
                time.sleep(args.kill_leader_at)
                leader[0].send_signal(signal.SIGKILL)
                killed_at = time.time()
                time.sleep(args.seconds - args.kill_leader_at)
            else:
                time.sleep(args.seconds)
            end = time.time()
            alive = [p for p in replicas if p[0].poll() is None]
            cpu = {p.pid: cpu_seconds(p.pid) - cpu_before[p.pid] for p, _ in alive}
            now_leader = next(
                (p for p in alive if scrape(p[1]).get(("gateway_leader", ())) == 1), None
            )
            after = scrape(now_leader[1]) if now_leader else {}
            if now_leader is not leader:  # a new leader: its lags since it took over
                before = {}
            time.sleep(2)  # the write-behind of the last second
            rows = asyncio.run(history(pg.url, start, end))
        finally:
            for process, _ in replicas:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process, _ in replicas:
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
            nginx.terminate()
            nginx.wait(10)
    per_watch: dict[int, list[float]] = {}
    for watch_id, at in rows:
        per_watch.setdefault(watch_id, []).append(at)
    gaps = [b - a for times in per_watch.values() for a, b in itertools.pairwise(times)]
    elapsed = end - start
    expected_each = elapsed / args.interval
    counts = [len(t) for t in per_watch.values()]
    short = sum(1 for g in gaps if g < args.interval / 2)
    print(
        f"{args.replicas} replicas × {args.watches} watches every {args.interval:g} s on one "
        f"PostgreSQL, a healthy nginx on loopback, measured {elapsed:.0f} s after one interval\n"
    )
    print(
        "| checks/s (expected) | lag p99 (leader) | CPU per replica | watches checked "
        "| checks per watch (expected) | gaps < interval/2 | longest gap |"
    )
    print("|---|---|---|---|---|---|---|")
    cpu_text = " / ".join(f"{c / elapsed:.0%}" for c in cpu.values())
    print(
        f"| {len(rows) / elapsed:.1f} ({args.watches / args.interval:.1f}) "
        f"| ≤ {lag_p99(before, after) * 1000:.0f} ms | {cpu_text} "
        f"| {len(per_watch)} of {args.watches} "
        f"| {min(counts, default=0)}–{max(counts, default=0)} ({expected_each:.1f}) "
        f"| {short} | {max(gaps, default=0):.1f} s |"
    )
    if killed_at is not None:
        print(f"\nleader SIGKILLed {killed_at - start:.0f} s into the window")


if __name__ == "__main__":
    main()
