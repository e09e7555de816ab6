"""A SQLite file locked by another program (a backup, a hand in `sqlite3`): a new watch
is written before its ack, and Slack waits 3 s for the ack. The answer must come in
time and say the database is busy, and nothing is half written."""

from __future__ import annotations

import sqlite3
import time

from bot.service import DATABASE_TROUBLE
from tests.harness import Watcher
from tests.servers.misbehave import Behaviour, serve
from tests.slack.stand_in import SlackStandIn

SLACK_ACK_DEADLINE = 3.0


async def test_a_watch_on_a_locked_sqlite_file_is_answered_within_slacks_deadline(tmp_path):
    with SlackStandIn() as slack, serve(Behaviour.OK) as site:
        async with Watcher(slack, tmp_path) as bot:
            holder = sqlite3.connect(tmp_path / "gateway.sqlite3", isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")  # another program holds the write lock
            try:
                started = time.monotonic()
                said = await bot.command(f"watch {site.url()} every 1h")
                took = time.monotonic() - started
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            assert said == DATABASE_TROUBLE
            assert took < SLACK_ACK_DEADLINE, f"the ack would come after {took:.1f} s"
            assert bot.service.watches == {}
            said = await bot.command(f"watch {site.url()} every 1h")  # free again: it works
            assert said is None
