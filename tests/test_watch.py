"""Watches end to end: the real scheduler, a real SQLite file, short intervals, a local
site that the test breaks and heals, and the Slack stand-in recording what the channel sees.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from datetime import UTC, datetime, timedelta

import pytest

from bot.service import Request
from bot.verbs import parse_command
from tests.harness import INTERVAL, Watcher
from tests.servers.dns_server import DnsServer
from tests.servers.misbehave import Behaviour, serve

NGINX_502 = dict(
    status=502,
    headers=(("Server", "nginx/1.22.1"),),
    body="<html><head><title>502 Bad Gateway</title></head><body>"
    "<center><h1>502 Bad Gateway</h1></center><hr><center>nginx/1.22.1"
    "</center></body></html>",
)


def text_of(message: dict) -> str:
    return message["text"] + str(message.get("blocks"))


async def test_one_alert_a_thread_a_recovery_and_the_edit(slack, watcher):
    bot = watcher
    with serve(Behaviour.OK) as site:
        await bot.command(f"watch {site.url()} every {INTERVAL}")
        confirmation = bot.tops()[0]
        assert "is now watching" in confirmation["text"]
        await asyncio.sleep(1.0)
        assert bot.alerts() == []  # healthy: not a word
        site.switch(Behaviour.STATUS, **NGINX_502)
        await bot.until(lambda: bot.alerts())
        await asyncio.sleep(1.5)  # several more failed checks
        alerts = bot.alerts()
        assert len(alerts) == 1, "one alert, however long it stays down"
        alert = alerts[0]
        assert "is down" in alert["text"] and "nginx answered 502" in text_of(alert)
        assert "Failing since" in text_of(alert)
        assert "502 Bad Gateway" in text_of(alert)  # what the page said, excerpted
        assert alert["updated"] >= 1  # the alert is kept current, quietly
        thread = slack.thread(alert["ts"])
        assert any("What was checked" in text_of(r) for r in thread)
        assert any("What the site owner should do" in text_of(r) for r in thread)
        site.switch(Behaviour.OK)
        await bot.until(
            lambda: any("recovered after" in r["text"] for r in slack.thread(alert["ts"]))
        )
        recovery = next(r for r in slack.thread(alert["ts"]) if "recovered after" in r["text"])
        assert recovery["reply_broadcast"] is True
        edited = slack.messages()[alert["ts"]]
        assert "resolved" in text_of(edited) and "down since" in edited["text"]
        assert len(bot.alerts()) == 1


async def restart_mid_incident(slack, make_watcher, site) -> dict:
    """Alert, restart the bot, see nothing repeated, heal the site, see the recovery.

    Returns the alert. `make_watcher()` gives a fresh Watcher on the same database.
    """
    bot = await make_watcher().start()
    alert = await bot.watch_until_alert(site)
    await bot.stop()

    again = await make_watcher().start()
    try:
        assert len(again.service.watches) == 1  # rebuilt from the database
        runs = again.service.scheduler.runs
        await asyncio.sleep(2.0)
        assert again.service.scheduler.runs > runs + 2
        assert len(again.alerts()) == 1, "no second alert for the announced incident"
        site.switch(Behaviour.OK)
        await again.until(
            lambda: any("recovered after" in r["text"] for r in slack.thread(alert["ts"]))
        )
        assert len(again.alerts()) == 1
    finally:
        await again.stop()
    return alert


async def test_a_restart_mid_incident_repeats_nothing_and_loses_nothing(slack, tmp_path):
    with serve(Behaviour.STATUS, **NGINX_502) as site:
        await restart_mid_incident(slack, lambda: Watcher(slack, tmp_path), site)


async def test_a_recovery_while_the_bot_was_down_is_reported_on_the_next_check(slack, tmp_path):
    with serve(Behaviour.STATUS, **NGINX_502) as site:
        # 5 healthy checks close an incident here, so only the "away" rule can close it at once
        bot = await Watcher(slack, tmp_path, GATEWAY_RECOVER_AFTER="5").start()
        await bot.command(f"watch {site.url()} every 1s")
        await bot.until(lambda: bot.alerts())
        alert = bot.alerts()[0]
        await bot.stop()
        site.switch(Behaviour.OK)
        await asyncio.sleep(3.0)  # the bot is away for 3 intervals

        async with Watcher(slack, tmp_path, GATEWAY_RECOVER_AFTER="5") as again:
            await again.until(
                lambda: any("recovered after" in r["text"] for r in slack.thread(alert["ts"])), 4
            )
            assert again.service.scheduler.runs <= 2  # the first check after the restart


async def test_a_changed_diagnosis_is_replied_in_the_thread(slack, watcher):
    bot = watcher
    with serve(Behaviour.STATUS, **NGINX_502) as site:
        alert = await bot.watch_until_alert(site)
        site.switch(Behaviour.STATUS, status=504, headers=(("Server", "nginx/1.22.1"),))
        await bot.until(
            lambda: any("diagnosis changed" in r["text"] for r in slack.thread(alert["ts"]))
        )
        change = next(r for r in slack.thread(alert["ts"]) if "changed" in r["text"])
        assert "upstream_timeout" in text_of(change)
        await asyncio.sleep(1.0)
        changes = [r for r in slack.thread(alert["ts"]) if "diagnosis changed" in r["text"]]
        assert len(changes) == 1  # said once, not at every check
        assert len(bot.alerts()) == 1


async def test_acknowledge_stops_the_noise_not_the_checking(slack, watcher):
    bot = watcher
    with serve(Behaviour.STATUS, **NGINX_502) as site:
        alert = await bot.watch_until_alert(site)
        actions = next(b for b in alert["blocks"] if b["type"] == "actions")
        value = next(e["value"] for e in actions["elements"] if e["action_id"] == "gateway_ack")
        answer = bot.gateway.on_alert_action(
            bot.chat, Request("T1", "C1", "U7"), "gateway_ack", value
        )
        await bot.gateway.spawn(answer.work)
        assert "acknowledged by <@U7>" in text_of(slack.messages()[alert["ts"]])
        site.switch(Behaviour.STATUS, status=504)
        runs = bot.service.scheduler.runs
        await asyncio.sleep(1.2)
        assert bot.service.scheduler.runs > runs  # still checking
        assert not any("diagnosis changed" in r["text"] for r in slack.thread(alert["ts"]))
        site.switch(Behaviour.OK)
        await bot.until(
            lambda: any("recovered after" in r["text"] for r in slack.thread(alert["ts"]))
        )


async def test_flapping_is_folded_into_the_open_incident(slack, watcher):
    bot = watcher
    with serve(Behaviour.STATUS, **NGINX_502) as site:
        alert = await bot.watch_until_alert(site)
        for _ in range(2):
            site.switch(Behaviour.OK)
            await bot.until(lambda: "resolved" in text_of(slack.messages()[alert["ts"]]))
            site.switch(Behaviour.STATUS, **NGINX_502)
            await bot.until(lambda: "resolved" not in text_of(slack.messages()[alert["ts"]]))

        def flaps():
            return [r for r in slack.thread(alert["ts"]) if "Failing again" in r["text"]]

        await bot.until(lambda: len(flaps()) == 2)
        assert "2 changes" in flaps()[-1]["text"]
        assert len(bot.alerts()) == 1, "flaps stay in one incident"


async def test_mute_silences_the_thread_for_an_hour(slack, watcher):
    bot = watcher
    with serve(Behaviour.STATUS, **NGINX_502) as site:
        alert = await bot.watch_until_alert(site)
        value = next(
            e["value"]
            for b in alert["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == "gateway_mute"
        )
        await bot.gateway.spawn(
            bot.gateway.on_alert_action(
                bot.chat, Request("T1", "C1", "U7"), "gateway_mute", value
            ).work
        )
        assert "muted until" in text_of(slack.messages()[alert["ts"]])
        before = len(slack.thread(alert["ts"]))
        site.switch(Behaviour.STATUS, status=504)
        await asyncio.sleep(1.2)
        assert len(slack.thread(alert["ts"])) == before


async def test_the_bot_holds_alerts_when_its_own_network_is_in_trouble(slack, tmp_path):
    dns = DnsServer().start()
    port = dns.port
    dns.add_a("a.test", "127.0.0.1")
    dns.add_a("b.test", "127.0.0.1")
    with serve(Behaviour.OK) as site:
        bot = await Watcher(
            slack, tmp_path, GATEWAY_RESOLVERS=dns.address, GATEWAY_TIMEOUT="1"
        ).start()
        try:
            await bot.command(f"watch http://a.test:{site.port}/ every {INTERVAL}")
            await bot.command(f"watch http://b.test:{site.port}/ every {INTERVAL}")
            await asyncio.sleep(0.8)
            dns.close()  # the bot's resolver is gone: every lookup times out
            await bot.until(lambda: any("holding alerts" in m["text"] for m in bot.tops()))
            await asyncio.sleep(2.0)
            notices = [m for m in bot.tops() if "holding alerts" in m["text"]]
            assert len(notices) == 1, "said once"
            assert bot.alerts() == [], "no alert while the failures are the bot's own"
            dns = DnsServer(port=port).start()
            dns.add_a("a.test", "127.0.0.1")
            dns.add_a("b.test", "127.0.0.1")
            await bot.until(lambda: any("network is back" in m["text"] for m in bot.tops()))
            assert bot.alerts() == []
        finally:
            await bot.stop()
            dns.close()


async def test_a_certificate_about_to_expire_is_warned_about_once(slack, tmp_path, pki, ca_bundle):
    soon = datetime.now(UTC) + timedelta(days=5)
    leaf = pki.ca.issue_cert("127.0.0.1", not_after=soon)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    with serve(Behaviour.OK, ssl_context=context) as site:
        async with Watcher(slack, tmp_path, GATEWAY_CA_BUNDLE=ca_bundle) as bot:
            await bot.command(f"watch https://127.0.0.1:{site.port}/ every {INTERVAL}")
            await bot.until(lambda: any("certificate" in m["text"] for m in bot.tops()))
            await asyncio.sleep(1.2)
            warnings = [m for m in bot.tops() if "expires in" in m["text"]]
            assert len(warnings) == 1
            assert "4 days" in warnings[0]["text"] or "5 days" in warnings[0]["text"]
            assert bot.alerts() == []


async def test_watch_commands_and_the_list(slack, watcher):
    bot = watcher
    with serve(Behaviour.OK) as site:
        too_often = await bot.command(f"watch {site.url()} every 0.1s")
        assert "too often" in too_often and "shortest interval" in too_often
        await bot.command(f"watch {site.url()} every {INTERVAL}")
        await bot.command(f"watch {site.url()} every 1m after 3")
        assert len(bot.service.watches) == 1, "watching twice updates the watch"
        assert "changed the watch" in bot.tops()[-1]["text"]
        await bot.command(f"watch {site.url()} every {INTERVAL}")
        await asyncio.sleep(1.5)
        await bot.service.flush()
        await bot.command("watches")
        listing = slack.calls_to("chat.postEphemeral")[-1].args["text"]
        assert site.url() in listing and "healthy" in listing
        assert "24 h availability 100.00%" in listing
        await bot.command(f"unwatch {site.url()}")
        assert bot.service.watches == {} and "stopped watching" in bot.tops()[-1]["text"]
        await bot.command(f"unwatch {site.url()}")
        assert "does not watch" in slack.calls_to("chat.postEphemeral")[-1].args["text"]


async def test_a_channel_holds_at_most_50_watches(slack, tmp_path):
    async with Watcher(slack, tmp_path, GATEWAY_USER_PER_MINUTE="1000") as bot:
        for i in range(50):
            await bot.command(f"watch http://127.0.0.1:{10000 + i}/ every 1h")
        refusal = await bot.command("watch http://127.0.0.1:20000/ every 1h")
        assert "the most it may" in refusal
        assert len(bot.service.watches) == 50


def test_watch_syntax_errors_are_explained():
    from bot.commands import CommandError

    for text, says in [
        ("watch", "needs a site"),
        ("watch x.com every soon", "not an interval"),
        ("watch x.com after zero", "after"),
        ("watch x.com hourly", "understand"),
    ]:
        with pytest.raises(CommandError, match=says):
            parse_command(text)
    command = parse_command("watch x.com every 5m after 3")
    assert (command.interval, command.after) == (300.0, 3)


async def test_the_verdicts_watch_button_subscribes_the_channel(watcher):
    bot = watcher
    with serve(Behaviour.OK) as site:
        value = json.dumps({"t": site.url(), "c": "healthy"})
        answer = await bot.gateway.settle(
            bot.gateway.on_watch_button(bot.chat, Request("T1", "C1", "U5"), value)
        )
        await bot.gateway.spawn(answer.work)
        assert len(bot.service.watches) == 1
        watch = next(iter(bot.service.watches.values()))
        assert watch.url == site.url() and watch.interval_s == 300
        assert "<@U5> is now watching" in bot.tops()[-1]["text"]


async def test_a_hanging_site_and_slack_errors_stop_nobody_else(slack, tmp_path):
    with (
        serve(Behaviour.HANG) as stuck,
        serve(Behaviour.STATUS, **NGINX_502) as broken,
        serve(Behaviour.OK) as fine,
    ):
        async with Watcher(slack, tmp_path) as bot:
            for site in (stuck, broken, fine):
                await bot.command(f"watch {site.url()} every {INTERVAL}")
            slack.fail_next("chat.postMessage", "internal_error", times=3)
            await asyncio.sleep(3.0)
            await bot.service.flush()
            rows = {w.url: w for w in bot.service.watches.values()}
            fine_checks = await _history_count(bot, rows[fine.url()].id)
            assert fine_checks >= 5, "the healthy watch kept its rhythm"
            await bot.until(lambda: bot.alerts())  # the broken one alerts despite Slack errors


async def _history_count(bot: Watcher, watch_id: int) -> int:
    from sqlalchemy import func, select

    from bot.watch.store import CheckRow

    async with bot.service.store.session() as session:
        return (
            await session.execute(
                select(func.count()).select_from(CheckRow).where(CheckRow.watch_id == watch_id)
            )
        ).scalar_one()


async def test_recovery_needs_the_configured_number_of_healthy_checks(slack, tmp_path):
    with serve(Behaviour.STATUS, **NGINX_502) as site:
        async with Watcher(slack, tmp_path, GATEWAY_RECOVER_AFTER="4") as bot:
            alert = await bot.watch_until_alert(site)
            site.switch(Behaviour.OK)
            await bot.until(lambda: "2/4 healthy checks" in text_of(slack.messages()[alert["ts"]]))
            await bot.until(
                lambda: any("recovered after" in r["text"] for r in slack.thread(alert["ts"]))
            )


async def test_watching_from_a_channel_the_bot_cannot_post_in_is_refused(slack, tmp_path):
    slack.add_channel("G9", "private", is_private=True, is_member=False)
    async with Watcher(slack, tmp_path) as bot:
        chat = type(bot.chat)(bot.client, slack.response_url("w", channel="G9"))
        answer = await bot.gateway.answer_command(
            chat, Request("T1", "G9", "U1", "watch http://127.0.0.1:9/ every 1h")
        )
        await bot.gateway.spawn(answer.work)
        assert bot.service.watches == {}
        assert any("/invite @gateway" in e["text"] for e in slack.ephemerals())


async def test_unwatching_in_the_middle_of_a_check_loses_no_other_history(slack, tmp_path):
    with serve(Behaviour.HANG) as stuck, serve(Behaviour.OK) as fine:
        async with Watcher(slack, tmp_path) as bot:
            await bot.command(f"watch {stuck.url()} every {INTERVAL}")
            await bot.command(f"watch {fine.url()} every {INTERVAL}")
            await asyncio.sleep(0.8)  # the stuck watch is inside its 2 s check now
            await bot.command(f"unwatch {stuck.url()}")
            await asyncio.sleep(2.5)
            await bot.service.flush()
            fine_id = next(w.id for w in bot.service.watches.values() if w.url == fine.url())
            assert await _history_count(bot, fine_id) >= 5


async def test_an_error_page_with_nul_bytes_still_alerts(slack, tmp_path):
    body = "<html><body><h1>502 Bad Gateway</h1>\x00\x00 binary junk \x1b[31m</body></html>"
    with serve(Behaviour.STATUS, status=502, body=body) as site:
        async with Watcher(slack, tmp_path) as bot:
            await bot.command(f"watch {site.url()} every {INTERVAL}")
            await bot.until(lambda: bot.alerts())
            text = text_of(bot.alerts()[0])
            assert "binary junk" in text and "\\x00" not in text and "\x00" not in text


async def test_the_watch_service_runs_on_the_memory_store_as_on_the_database(slack, tmp_path):
    """The Store seam: the same alert, acknowledgement and recovery with no database."""
    with serve(Behaviour.STATUS, **NGINX_502) as site:
        async with Watcher(slack, tmp_path, memory=True) as bot:
            alert = await bot.watch_until_alert(site)
            assert "nginx answered 502" in text_of(alert)
            site.switch(Behaviour.OK)
            await bot.until(
                lambda: any("recovered after" in r["text"] for r in slack.thread(alert["ts"]))
            )
            store = bot.service.store
            assert await store.open_incidents() == []
            (watch,) = await store.watches()
            incident = await store.last_incident(watch.id)
            assert incident is not None and incident.alert_ts == alert["ts"]
            assert incident.resolved_at is not None
    assert not (tmp_path / "gateway.sqlite3").exists(), "no database file was made"
