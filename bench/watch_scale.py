"""Can one bot process keep 10,000 watches on schedule?

Creates N watches (default 10,000) of a healthy site on loopback (nginx) in a
SQLite file, starts the real WatchService (jobs rebuilt from the database,
APScheduler, write-behind history) in this one process, lets it run for a few
minutes, and reports checks per second, schedule lag (p50, p99, max: how late
each check started against its jittered scheduled time), the CPU the process
used and its memory. The Slack side is a chat that only counts posts: a
healthy site posts nothing. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.loopback_site import start_nginx  # noqa: E402
from bot import loop  # noqa: E402
from bot.migrations import open_migrated  # noqa: E402
from bot.render.slack import Message  # noqa: E402
from bot.settings import from_environment  # noqa: E402
from bot.watch.service import WatchService  # noqa: E402
from bot.watch.store import Store, WatchRow  # noqa: E402
from tests.servers.proxies import free_port  # noqa: E402


class CountingChat:
    """Counts what the bot would post; a healthy fleet should post nothing."""

    def __init__(self) -> None:
        self.posts = 0

    async def post(
        self, channel: str, message: Message, thread_ts: str | None = None, broadcast: bool = False
    ) -> str | None:
        self.posts += 1
        return f"{self.posts}.0"

    async def update(self, channel: str, ts: str, message: Message) -> bool:
        return True

    async def ephemeral(self, channel: str, user: str, message: Message) -> None:
        return None

    async def respond(self, message: Message, in_channel: bool) -> bool:
        return True


async def create_watches(store: Store, count: int, port: int, interval: float) -> None:
    """Insert the watches in one transaction (the bench's set-up, not what it measures)."""
    now = datetime.now(UTC)
    async with store.session.begin() as session:
        session.add_all(
            [
                WatchRow(
                    team="T1",
                    channel=f"C{i // 50}",
                    url=f"http://127.0.0.1:{port}/w{i}",
                    target_input=f"http://127.0.0.1:{port}/w{i}",
                    interval_s=interval,
                    fail_after=2,
                    recover_after=2,
                    created_by="UBENCH",
                    created_at=now,
                    state="healthy",
                    failures=0,
                    successes=0,
                )
                for i in range(count)
            ]
        )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def run(count: int, interval: float, seconds: float, database: str, port: int) -> dict:
    settings = from_environment(
        {"GATEWAY_ALLOW_PRIVATE": "1", "GATEWAY_TIMEOUT": "5", "GATEWAY_DATABASE_URL": database}
    )
    store = await open_migrated(database)
    await create_watches(store, count, port, interval)
    await store.close()
    chat = CountingChat()
    service = WatchService(Store(database), settings, chat, max_in_flight=500)
    rss_before = rss_mb()
    cpu_before = time.process_time()
    started = time.monotonic()
    await service.start()
    warm = interval  # the first interval spreads the first runs; measure after it
    await asyncio.sleep(warm)
    service.scheduler.lags.clear()
    runs_before = service.scheduler.runs
    cpu_warm = time.process_time()
    measured_from = time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - measured_from
    runs = service.scheduler.runs - runs_before
    lags = list(service.scheduler.lags)
    cpu = time.process_time() - cpu_warm
    await service.stop()
    availability = await _availability(database)
    return {
        "watches": count,
        "interval": interval,
        "seconds": elapsed,
        "checks_per_s": runs / elapsed,
        "expected_per_s": count / interval,
        "lag_p50": statistics.median(lags),
        "lag_p99": percentile(lags, 0.99),
        "lag_max": max(lags),
        "cpu_share": cpu / elapsed,
        "rss_mb": rss_mb(),
        "rss_growth_mb": rss_mb() - rss_before,
        "posts": chat.posts,
        "healthy_share": availability,
        "startup_s": warm + (measured_from - started - warm),
        "cpu_total_s": time.process_time() - cpu_before,
    }


async def _availability(database: str) -> float:
    from sqlalchemy import func, select

    from bot.watch.store import CheckRow

    store = await open_migrated(database)
    async with store.session() as session:
        total = (await session.execute(select(func.count()).select_from(CheckRow))).scalar_one()
        healthy = (
            await session.execute(
                select(func.count()).select_from(CheckRow).where(CheckRow.status == "healthy")
            )
        ).scalar_one()
    await store.close()
    return healthy / total if total else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--watches", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument(
        "--seconds",
        type=float,
        default=180.0,
        help="how long to measure, after one interval of warm-up",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        port = free_port()
        nginx = start_nginx(tmp, port)
        try:
            result = loop.run(
                run(
                    args.watches,
                    args.interval,
                    args.seconds,
                    f"sqlite:///{tmp}/bench.sqlite3",
                    port,
                )
            )
        finally:
            nginx.terminate()
            nginx.wait(10)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{result['watches']} watches every {result['interval']:g} s of a healthy nginx on "
        f"loopback, one process, measured {result['seconds']:.0f} s after one interval of "
        "warm-up\n"
    )
    print(
        "| checks/s (expected) | lag p50 | lag p99 | lag max | CPU of one core | RSS (peak) "
        "| posts | checks healthy |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {result['checks_per_s']:.1f} ({result['expected_per_s']:.1f}) "
        f"| {result['lag_p50'] * 1000:.0f} ms | {result['lag_p99'] * 1000:.0f} ms "
        f"| {result['lag_max'] * 1000:.0f} ms | {result['cpu_share']:.0%} "
        f"| {result['rss_mb']:.0f} MB ({peak:.0f} MB) | {result['posts']} "
        f"| {result['healthy_share']:.2%} |"
    )
    per_check = result["cpu_share"] / result["checks_per_s"] * 1000
    print(
        f"\nCPU per scheduled check: {per_check:.2f} ms "
        f"({result['checks_per_s']:.0f} checks/s at {result['cpu_share']:.0%} of one core)"
    )


if __name__ == "__main__":
    main()
