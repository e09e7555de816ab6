"""The incident's record: `/gateway timeline SITE` in the alert's thread, the postmortem draft,
and the record kept across restarts, several incidents, mutes, failed escalations and
retention. End to end with the real scheduler and a SQLite file, the Slack stand-in, and
loopback sites that fail on purpose.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.record.model import Event, Kind, Record
from bot.record.timeline import check_word, tally_line
from bot.render.postmortem import draft, fenced
from tests.servers.escalation import PagerDutyStandIn
from tests.servers.misbehave import Behaviour, serve
from tests.slack.stand_in import SlackStandIn
from tests.test_alerts import QUIET, ack, replies
from tests.test_watch import INTERVAL, NGINX_502, Watcher, text_of

T0 = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)


@pytest.fixture
def slack():
    with SlackStandIn() as stand_in:
        yield stand_in


def thread_text(slack, alert) -> str:
    return "\n".join(text_of(m) for m in slack.thread(alert["ts"]))


async def timeline(bot: Watcher, site_url: str, extra: str = "") -> None:
    await bot.command(f"timeline {site_url}{extra}")


# --- pure: what the record says ------------------------------------------------------------


def test_checks_are_tallied_in_words_people_use():
    assert check_word(502, "upstream_refused", "nginx", healthy=False) == "502 from nginx"
    assert check_word(None, "response_timeout", None, healthy=False) == "timeout"
    assert check_word(None, "dns_nxdomain", None, healthy=False) == "DNS failure"
    assert check_word(200, "healthy", "nginx", healthy=True) == "healthy"
    line = tally_line({"502 from nginx": 38, "timeout": 3})
    assert line == "41 checks: 502 from nginx 38 times, timeout 3 times"
    assert tally_line({}) == "no checks recorded"


def _record(excerpt: str = "", summary: str = "nginx answered 502") -> Record:
    opened = Event(
        T0 + timedelta(seconds=20),
        Kind.OPENED,
        data={
            "status": "502",
            "cause": "upstream_refused",
            "product": "nginx",
            "summary": summary,
            "excerpt": excerpt,
        },
    )
    acked = Event(T0 + timedelta(minutes=3), Kind.ACKNOWLEDGED, actor="U0DANA")
    recovered = Event(T0 + timedelta(minutes=14), Kind.RECOVERED, data={"downtime_s": "840"})
    return Record(
        id=1,
        uid="abc",
        team="T1",
        channel="C1",
        url="https://shop.example/",
        host="shop.example",
        started_at=T0,
        alert_ts="1.000001",
        recovered_at=T0 + timedelta(minutes=14),
        tally={"502 from nginx": 40},
        events=(opened, acked, recovered),
    )


def test_the_draft_has_every_section_a_postmortem_needs():
    text = draft(_record())
    for heading in (
        "## Summary",
        "## Impact",
        "## Timeline (UTC)",
        "## Cause as diagnosed",
        "## What was done",
        "## Open questions",
    ):
        assert heading in text
    assert "Downtime: 14 min" in text
    assert "acknowledged by <@U0DANA>" in text
    assert "- Cause: `upstream_refused`: The application behind nginx is down" in text
    assert "- [ ] Why did the application behind the gateway stop listening" in text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.text(max_size=200))
def test_hostile_page_text_cannot_format_the_draft(excerpt, summary):
    text = draft(_record(excerpt=excerpt, summary=summary))
    headings = [line for line in _outside_fences(text) if line.startswith("#")]
    assert all(h.startswith(("# Postmortem draft", "## ")) for h in headings)
    assert "<!channel>" not in text and "<!here>" not in text
    # the evidence fence is never closed early: every fence line is the bot's own
    fence = fenced(excerpt).splitlines()[0]
    assert fenced(excerpt).count(fence) == 2


def _outside_fences(text: str) -> list[str]:
    """The draft's lines outside fenced code (a fence closes only with the same backticks)."""
    out, fence = [], None
    for line in text.splitlines():
        if fence is None and line.startswith("```"):
            fence = line
        elif fence is not None and line == fence:
            fence = None
        elif fence is None:
            out.append(line)
    return out


def test_a_hostile_summary_cannot_start_a_heading_or_a_link():
    evil = "\n# Owned\n[click](http://evil.example) <!channel> `x` **bold**"
    text = draft(_record(summary=evil, excerpt="```\n# also owned\n```"))
    assert "\n# Owned" not in text
    assert "\n````\n```\n# also owned\n```\n````\n" in text  # inside a longer fence
    assert "[click](http" not in text
    assert "<!channel>" not in text


# --- end to end in Slack -------------------------------------------------------------------


async def test_timeline_in_the_alert_thread_names_cause_ack_recovery_and_downtime(slack, tmp_path):
    with serve(Behaviour.STATUS, **NGINX_502) as site:
        bot = await Watcher(slack, tmp_path, **QUIET).start()
        try:
            alert = await bot.watch_until_alert(site)
            await ack(bot, alert, user="U0DANA")
            await asyncio.sleep(0.8)  # a few more failed checks
            site.switch(Behaviour.OK)
            await bot.until(lambda: replies(slack, alert, "recovered after"))
            await timeline(bot, site.url())
            await bot.until(lambda: replies(slack, alert, "Postmortem draft"))
            thread = thread_text(slack, alert)
            assert "Timeline of" in thread
            assert "alert opened: 502 from nginx, cause `upstream_refused`" in thread
            assert "acknowledged by <@U0DANA>" in thread
            assert "recovered after" in thread and "down" in thread
            assert "checks: 502 from nginx" in thread
            assert "<!date^" in thread  # times in each reader's own zone
            draft_msg = replies(slack, alert, "Postmortem draft")[0]
            assert draft_msg["thread_ts"] == alert["ts"]
            files = slack.files
            assert len(files) == 1 and files[0]["filename"].endswith(".md")
            assert files[0]["thread_ts"] == alert["ts"] and files[0]["channel"] == "C1"
            assert "## Cause as diagnosed" in files[0]["text"]
            assert "acknowledged by <@U0DANA>" in files[0]["text"]
        finally:
            await bot.stop()


async def test_the_timeline_button_on_the_alert_posts_the_same_record(slack, tmp_path):
    with serve(Behaviour.STATUS, **NGINX_502) as site:
        bot = await Watcher(slack, tmp_path, **QUIET).start()
        try:
            alert = await bot.watch_until_alert(site)
            actions = next(b for b in alert["blocks"] if b["type"] == "actions")
            value = next(
                e["value"] for e in actions["elements"] if e["action_id"] == "gateway_timeline"
            )
            from bot.service import Request

            # pressed in another channel: refused, nothing posted there
            other = bot.gateway.on_alert_action(
                bot.chat, Request("T1", "C2", "U9"), "gateway_timeline", value
            )
            await bot.gateway.spawn(other.work)
            assert not replies(slack, alert, "Timeline of")
            answer = bot.gateway.on_alert_action(
                bot.chat, Request("T1", "C1", "U9"), "gateway_timeline", value
            )
            await bot.gateway.spawn(answer.work)
            await bot.until(lambda: replies(slack, alert, "Timeline of"))
            assert "still open" in thread_text(slack, alert)
        finally:
            await bot.stop()


async def test_a_restart_mid_incident_keeps_the_record(slack, tmp_path):
    with serve(Behaviour.STATUS, **NGINX_502) as site:
        bot = await Watcher(slack, tmp_path, **QUIET).start()
        alert = await bot.watch_until_alert(site)
        await ack(bot, alert, user="U0DANA")
        await bot.stop()
        bot = await Watcher(slack, tmp_path, **QUIET).start()  # the same database
        try:
            site.switch(Behaviour.OK)
            await bot.until(lambda: replies(slack, alert, "recovered after"))
            await timeline(bot, site.url())
            await bot.until(lambda: replies(slack, alert, "Timeline of"))
            thread = thread_text(slack, alert)
            assert "alert opened" in thread and "acknowledged by <@U0DANA>" in thread
            assert "recovered after" in thread
        finally:
            await bot.stop()


async def test_two_incidents_of_one_site_latest_first_and_all_lists_both(slack, tmp_path):
    with serve(Behaviour.STATUS, **NGINX_502) as site:
        bot = await Watcher(slack, tmp_path, **QUIET).start()
        try:
            first = await bot.watch_until_alert(site)
            site.switch(Behaviour.OK)
            await bot.until(lambda: replies(slack, first, "recovered after"))
            # past the flap window a new failure is a new incident: move its memory back
            from bot.record.store import records

            async with bot.service.store.engine.begin() as db:
                await db.execute(
                    records.update().values(started_at=T0, recovered_at=T0 + timedelta(minutes=5))
                )
            await bot.command(f"unwatch {site.url()}")
            site.switch(Behaviour.STATUS, status=504, headers=(("Server", "nginx"),), body="")
            await bot.command(f"watch {site.url()} every {INTERVAL}")
            await bot.until(lambda: [a for a in bot.alerts() if a["ts"] != first["ts"]])
            second = [a for a in bot.alerts() if a["ts"] != first["ts"]]
            assert "is down" in second[-1]["text"], "a new alert for the second incident"
            await timeline(bot, site.url())
            await bot.until(lambda: replies(slack, second[-1], "Timeline of"))
            assert "504" in thread_text(slack, second[-1])
            await timeline(bot, site.url(), " all")
            listing = [m for m in bot.tops() if "last 2 incidents" in m["text"] + str(m["blocks"])]
            assert listing, [m["text"] for m in bot.tops()]
            assert "down 5 min" in text_of(listing[0]) and "still open" in text_of(listing[0])
        finally:
            await bot.stop()


async def test_a_mute_window_inside_an_incident_is_in_the_record(slack, tmp_path):
    with serve(Behaviour.STATUS, **NGINX_502) as site:
        bot = await Watcher(slack, tmp_path, **QUIET).start()
        try:
            alert = await bot.watch_until_alert(site)
            await bot.command(f"mute {site.url()} for 1h deploy of v42", user="U0OPS")
            await bot.command(f"unmute {site.url()}", user="U0OPS")
            await timeline(bot, site.url())
            await bot.until(lambda: replies(slack, alert, "Timeline of"))
            thread = thread_text(slack, alert)
            assert "muted by <@U0OPS> until" in thread and "deploy of v42" in thread
            assert "unmuted by <@U0OPS>" in thread
        finally:
            await bot.stop()


async def test_an_escalation_that_failed_is_in_the_record(slack, tmp_path):
    async with PagerDutyStandIn("R0UTINGKEY") as pagerduty:
        pagerduty.fail_next(1000)
        with serve(Behaviour.STATUS, **NGINX_502) as site:
            bot = await Watcher(
                slack,
                tmp_path,
                GATEWAY_REMIND_EVERY="0",
                GATEWAY_ESCALATE_AFTER="1s",
                GATEWAY_PAGERDUTY_ROUTING_KEY="R0UTINGKEY",
                GATEWAY_PAGERDUTY_URL=pagerduty.url,
                GATEWAY_RETRY_BACKOFF="0.1s",
            ).start()
            try:
                alert = await bot.watch_until_alert(site)
                await bot.until(lambda: replies(slack, alert, "could not reach PagerDuty"))
                await timeline(bot, site.url())
                await bot.until(lambda: replies(slack, alert, "Timeline of"))
                thread = thread_text(slack, alert)
                assert "escalated to PagerDuty" in thread
                assert "escalation to PagerDuty failed" in thread
                draft_text = slack.files[-1]["text"]
                assert "escalation to PagerDuty failed" in draft_text
            finally:
                await bot.stop()


async def test_hostile_page_text_stays_inert_in_the_thread_and_the_draft(slack, tmp_path):
    evil = "<!channel> ``` # Owned [x](http://evil.example) *bold* :fire:"
    with serve(Behaviour.STATUS, status=502, headers=(("Server", "nginx"),), body=evil) as site:
        bot = await Watcher(slack, tmp_path, **QUIET).start()
        try:
            alert = await bot.watch_until_alert(site)
            await timeline(bot, site.url())
            await bot.until(lambda: replies(slack, alert, "Postmortem draft"))
            for message in slack.thread(alert["ts"]):
                assert "<!channel>" not in text_of(message)
            md = slack.files[-1]["text"]
            assert "<!channel>" not in md and "\n# Owned" not in md
        finally:
            await bot.stop()


async def test_records_past_the_retention_are_forgotten(slack, tmp_path):
    with serve(Behaviour.STATUS, **NGINX_502) as site:
        bot = await Watcher(slack, tmp_path, GATEWAY_KEEP_INCIDENTS="2d", **QUIET).start()
        try:
            await bot.watch_until_alert(site)
            site.switch(Behaviour.OK)
            await bot.until(lambda: any("recovered" in a["text"] for a in bot.alerts()))
            service = bot.service
            now = datetime.now(UTC)
            assert await service.prune_records(now + timedelta(days=1)) == 0
            assert await service.prune_records(now + timedelta(days=3)) == 1
            await timeline(bot, site.url())
            assert any("No incident" in e["text"] for e in slack.ephemerals())
        finally:
            await bot.stop()


def test_a_bad_retention_setting_is_one_line():
    from bot.settings import SettingsError, from_environment

    with pytest.raises(SettingsError, match="GATEWAY_KEEP_INCIDENTS"):
        from_environment({"GATEWAY_KEEP_INCIDENTS": "99999999999999999999d"})
    assert from_environment({"GATEWAY_KEEP_INCIDENTS": "30d"}).keep_incidents == 30 * 86400


async def test_incident_show_prints_the_draft_in_a_terminal(slack, tmp_path):
    with serve(Behaviour.STATUS, **NGINX_502) as site:
        bot = await Watcher(slack, tmp_path, **QUIET).start()
        try:
            await bot.watch_until_alert(site)
        finally:
            await bot.stop()
    env = {"GATEWAY_DATABASE_URL": bot.db, "PATH": "/usr/bin:/bin"}
    shown = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot.cli", "incident", "show", "1", "--markdown"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("# Postmortem draft: 127.0.0.1")
    assert "## Timeline (UTC)" in shown.stdout
    missing = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot.cli", "incident", "show", "999"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "no incident '999'" in missing.stderr


def test_the_timeline_verb_is_parsed_and_bounded():
    from bot.commands import CommandError, Timeline
    from bot.verbs import parse_command

    assert parse_command("timeline shop.example") == Timeline(
        parse_command("check shop.example").target  # type: ignore[union-attr]
    )
    assert parse_command("timeline shop.example all").every is True  # type: ignore[union-attr]
    with pytest.raises(CommandError):
        parse_command("timeline")
    with pytest.raises(CommandError):
        parse_command("timeline a.example b.example")


async def test_two_replicas_starting_one_record_share_it(tmp_path):
    """Whichever replica saw an event first, the record is one: the loser reads the winner's."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from bot.migrations import upgrade
    from bot.record.store import RecordStore
    from bot.watch.store import async_url

    url = f"sqlite:///{tmp_path}/shared.sqlite3"
    engines = [create_async_engine(async_url(url)) for _ in range(2)]
    try:
        await upgrade(engines[0])
        stores = [RecordStore(engine) for engine in engines]
        fields = dict(team="T1", channel="C1", url="https://a.example/", host="a.example")
        ids = await asyncio.gather(
            *(s.start("1:1:0.000", started_at=T0, **fields) for s in stores for _ in range(3))
        )
        assert len(set(ids)) == 1
        await stores[0].add(ids[0], Event(T0, Kind.ACKNOWLEDGED, actor="U1"))
        await stores[1].add(ids[0], Event(T0, Kind.REMINDED))
        for store in stores:
            record = await store.record(ids[0])
            assert record is not None
            assert [e.kind for e in record.events] == [Kind.ACKNOWLEDGED, Kind.REMINDED]
    finally:
        for engine in engines:
            await engine.dispose()
