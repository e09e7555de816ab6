"""What an open incident's clock costs: one sweep of the alarm clock, and the Home tab.

Creates N watches (default 10,000) in a SQLite file, D of them down with an
announced, unacknowledged incident (default 500), and times one sweep of the
alarm clock as the bot runs it every tick: first with nothing due (the usual
case), then with a reminder due on every open incident (each one a thread reply
to a chat that only counts). Then it times building the Home tab's data for a
workspace of 50 watches with a day of checks each (1,440 per watch: one a
minute). No network: the chat counts, nothing is checked.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.watch_scale import CountingChat  # noqa: E402
from bot.migrations import opened  # noqa: E402
from bot.settings import from_environment  # noqa: E402
from bot.watch.model import watch_info  # noqa: E402
from bot.watch.service import WatchService  # noqa: E402
from bot.watch.store import CheckRow, IncidentRow, Store, WatchRow  # noqa: E402


class HomeChat(CountingChat):
    async def publish_home(self, user: str, view: dict) -> bool:
        return True

    async def open_modal(self, trigger_id: str, view: dict) -> bool:
        return True


async def fill(store: Store, watches: int, down: int, now: datetime) -> None:
    async with store.session.begin() as session:
        for i in range(watches):
            state = "down" if i < down else "healthy"
            session.add(
                WatchRow(
                    team="T1" if i < 50 else "T2",
                    channel=f"C{i % 40}",
                    url=f"http://127.0.0.1:{10000 + i}/",
                    target_input=f"127.0.0.1:{10000 + i}",
                    interval_s=60.0,
                    fail_after=2,
                    created_by="U1",
                    created_at=now,
                    state=state,
                    failures=5 if state == "down" else 0,
                    successes=0,
                    last_checked_at=now,
                )
            )
        await session.flush()
        for i in range(down):
            session.add(
                IncidentRow(
                    watch_id=i + 1,
                    channel=f"C{i % 40}",
                    failing_since=now - timedelta(hours=1),
                    announced_at=now - timedelta(hours=1),
                    alert_ts=f"{i}.0",
                    diagnosis_key="502|upstream_refused|nginx",
                    last_summary="nginx answered 502",
                )
            )
        for watch_id in range(1, 51):  # a day of checks for the Home tab's workspace
            session.add_all(
                CheckRow(
                    watch_id=watch_id,
                    at=now - timedelta(minutes=m),
                    status="healthy" if m % 97 else "down",
                    cause="healthy",
                    http_status=200,
                    duration_ms=12.0,
                )
                for m in range(1440)
            )


async def main(watches: int, down: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = from_environment(
            {
                "GATEWAY_DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
                "GATEWAY_REMIND_EVERY": "30m",
            }
        )
        now = datetime.now(UTC)
        chat = HomeChat()
        service = WatchService(Store(settings.database_url), settings, chat, clock=lambda: now)
        await opened(service.store)
        await fill(service.store, watches, down, now)
        for row in await service.store.watches():
            service.watches[row.id] = watch_info(row)

        async def sweep() -> float:
            started = time.perf_counter()
            await service.sweep()
            return time.perf_counter() - started

        quiet = await sweep()  # an hour since the alert, reminded never: all due at once
        posts = chat.posts
        again = await sweep()  # just reminded: nothing due
        started = time.perf_counter()
        home = await service.home.watches("T1")
        home_s = time.perf_counter() - started
        await service.store.close()
    print(f"{watches} watches, {down} down with an open incident")
    print(f"sweep with a reminder due on each of the {down}: {quiet * 1000:.0f} ms ({posts} posts)")
    print(f"sweep with nothing due: {again * 1000:.0f} ms")
    print(f"Home tab data for {len(home)} watches with 1,440 checks each: {home_s * 1000:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--watches", type=int, default=10_000)
    parser.add_argument("--down", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main(args.watches, args.down))
