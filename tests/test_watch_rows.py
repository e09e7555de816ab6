"""Stored watches that no command would accept today: skipped, reported, and set right."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from bot.migrations import open_migrated
from tests.servers.misbehave import Behaviour, closed_port, serve
from tests.slack.stand_in import SlackStandIn
from tests.specs import stored_spec
from tests.test_watch import Watcher


async def _seed(url: str, rows: list[tuple[str, float, int]]) -> None:
    store = await open_migrated(url)
    try:
        for target, interval, after in rows:
            await store.upsert_watch(
                team="T1",
                channel="C1",
                spec=stored_spec(target, target, interval, after),
                created_by="U1",
                now=datetime.now(UTC),
            )
    finally:
        await store.close()


async def test_a_skipped_watch_is_listed_and_watching_it_again_sets_it_right(tmp_path):
    with SlackStandIn() as slack, serve(Behaviour.OK) as site:
        bot = Watcher(slack, tmp_path)
        await _seed(bot.settings.database_url, [(site.url(), 1e15, 2), (site.url() + "x", 0.3, 0)])
        await bot.start()
        try:
            assert bot.service.watches == {}
            await bot.command("watches")
            listing = slack.calls_to("chat.postEphemeral")[-1].args["text"]
            assert listing.count("not running (unusable settings)") == 2
            await bot.until(lambda: len([m for m in bot.tops() if "not running" in m["text"]]) == 2)
            texts = " ".join(m["text"] for m in bot.tops())
            assert "up to 24 h" in texts and "`after` of 0" in texts
            await bot.command(f"watch {site.url()} every 0.3s")
            await bot.until(lambda: any("changed the watch" in m["text"] for m in bot.tops()))
            assert [w.url for w in bot.service.watches.values()] == [site.url()]
            await bot.command(f"unwatch {site.url()}x")
            assert await bot.service.store.watches() != []
            assert [r.url for r in await bot.service.store.watches()] == [site.url()]
        finally:
            await bot.stop()


async def test_a_row_edited_by_hand_into_nonsense_can_still_be_unwatched(tmp_path):
    target = f"http://127.0.0.1:{closed_port()}/"
    with SlackStandIn() as slack:
        bot = Watcher(slack, tmp_path)
        await _seed(bot.settings.database_url, [(target, 60.0, 2)])
        with sqlite3.connect(tmp_path / "gateway.sqlite3") as db:
            db.execute("UPDATE watches SET last_checked_at = 'soon'")
        await bot.start()
        try:
            await bot.until(lambda: any("cannot be read" in m["text"] for m in bot.tops()))
            await bot.command("watches")
            await bot.command(f"unwatch {target}")
            await bot.until(lambda: any("stopped watching" in m["text"] for m in bot.tops()))
            with sqlite3.connect(tmp_path / "gateway.sqlite3") as db:
                assert db.execute("SELECT count(*) FROM watches").fetchone() == (0,)
        finally:
            await bot.stop()
