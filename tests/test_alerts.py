"""Alerts that reach the right people, stay quiet during planned work, and catch failures
that answer 200: end to end, with the real scheduler and database, the Slack stand-in, and
loopback stand-ins for PagerDuty and a webhook receiver.
"""

from __future__ import annotations

import asyncio

from tests.servers.escalation import PagerDutyStandIn, WebhookReceiver
from tests.servers.misbehave import Behaviour, serve
from tests.test_watch import INTERVAL, NGINX_502, Watcher, text_of

ONCALL = "<!subteam^S0ONCALL|@oncall-web>"
DANA = "<@U0DANA|dana>"
QUIET = {"GATEWAY_REMIND_EVERY": "0", "GATEWAY_ESCALATE_AFTER": "0"}
MAINTENANCE = (
    "<html><head><title>Shop</title></head><body><h1>We'll be back soon</h1>"
    "<p>Down for scheduled maintenance until 18:00.</p></body></html>"
)


def replies(slack, alert, words: str) -> list[dict]:
    return [r for r in slack.thread(alert["ts"]) if words in r["text"]]


def thread_of(slack, alert) -> str:
    return " ".join(text_of(r) for r in slack.thread(alert["ts"]))


async def ack(bot: Watcher, alert: dict, user: str = "U7") -> None:
    actions = next(b for b in alert["blocks"] if b["type"] == "actions")
    value = next(e["value"] for e in actions["elements"] if e["action_id"] == "gateway_ack")
    answer = bot.gateway.on_alert_action(bot.chat, _request(user), "gateway_ack", value)
    await bot.gateway.spawn(answer.work)


def _request(user: str):
    from bot.service import Request

    return Request("T1", "C1", user)


async def test_the_notify_list_is_mentioned_by_id_when_it_opens_and_recovers(slack, tmp_path):
    with serve(Behaviour.STATUS, **NGINX_502) as site:
        async with Watcher(slack, tmp_path, **QUIET) as bot:
            await bot.command(f"watch {site.url()} every {INTERVAL} notify {ONCALL} {DANA}")
            confirmation = bot.tops()[0]["text"]
            assert "Alerts notify <!subteam^S0ONCALL> <@U0DANA>" in confirmation
            await bot.until(lambda: bot.alerts())
            alert = bot.alerts()[0]
            assert alert["text"].endswith("<!subteam^S0ONCALL> <@U0DANA>")
            assert "cc <!subteam^S0ONCALL> <@U0DANA>" in text_of(alert)
            assert "dana" not in alert["text"]  # IDs only: the label Slack sent is not kept
            site.switch(Behaviour.OK)
            await bot.until(lambda: replies(slack, alert, "recovered after"))
            recovery = replies(slack, alert, "recovered after")[0]
            assert "<!subteam^S0ONCALL> <@U0DANA>" in recovery["text"]
            assert recovery["reply_broadcast"] is True


async def test_a_bare_name_cannot_be_notified(slack, tmp_path):
    async with Watcher(slack, tmp_path, **QUIET) as bot:
        text = await bot.command("watch http://127.0.0.1:9/ notify @channel")
        assert "I can't tell who" in text and "<!channel>" not in text
        assert bot.service.watches == {}


async def test_an_unacknowledged_incident_is_reminded_until_someone_acknowledges(slack, tmp_path):
    with serve(Behaviour.STATUS, **NGINX_502) as site:
        async with Watcher(
            slack, tmp_path, GATEWAY_REMIND_EVERY="2s", GATEWAY_ESCALATE_AFTER="0"
        ) as bot:
            await bot.command(f"watch {site.url()} every {INTERVAL} notify {DANA}")
            await bot.until(lambda: bot.alerts())
            alert = bot.alerts()[0]
            await bot.until(lambda: replies(slack, alert, "nobody has acknowledged"))
            reminder = replies(slack, alert, "nobody has acknowledged")[0]
            assert reminder["reply_broadcast"] is True, "the channel sees it too"
            assert "<@U0DANA>" in reminder["text"] and "still down after" in reminder["text"]
            await ack(bot, alert)
            seen = len(replies(slack, alert, "nobody has acknowledged"))
            await asyncio.sleep(5.0)  # two more reminder periods
            assert len(replies(slack, alert, "nobody has acknowledged")) == seen
            assert len(bot.alerts()) == 1


async def test_escalation_triggers_acknowledges_and_resolves_with_one_dedup_key(slack, tmp_path):
    async with (
        PagerDutyStandIn("R0UTINGKEY") as pagerduty,
        WebhookReceiver("s3cret") as webhook,
    ):
        pagerduty.fail_next(2)  # an outage first: the trigger is retried, not lost
        with serve(Behaviour.STATUS, **NGINX_502) as site:
            async with Watcher(
                slack,
                tmp_path,
                GATEWAY_REMIND_EVERY="0",
                GATEWAY_ESCALATE_AFTER="1s",
                GATEWAY_PAGERDUTY_ROUTING_KEY="R0UTINGKEY",
                GATEWAY_PAGERDUTY_URL=pagerduty.url,
                GATEWAY_WEBHOOK_URL=webhook.url,
                GATEWAY_WEBHOOK_SECRET="s3cret",
                GATEWAY_RETRY_BACKOFF="0.2s",
            ) as bot:
                alert = await bot.watch_until_alert(site)
                await bot.until(lambda: replies(slack, alert, "Escalated to"))
                note = replies(slack, alert, "Escalated to")[0]["text"]
                assert "Escalated to PagerDuty and the webhook" in note
                await bot.until(lambda: pagerduty.actions() and webhook.events())
                assert "escalated to PagerDuty and the webhook" in text_of(
                    slack.messages()[alert["ts"]]
                )
                trigger = pagerduty.received[0]
                assert trigger["payload"]["source"] == "127.0.0.1"
                assert trigger["payload"]["severity"] == "critical"
                assert "nginx answered 502" in trigger["payload"]["summary"]
                await ack(bot, alert)
                await bot.until(lambda: len(pagerduty.actions()) == 2)
                site.switch(Behaviour.OK)
                await bot.until(lambda: len(pagerduty.actions()) == 3)
                await bot.until(lambda: len(webhook.events()) == 3)
                actions = pagerduty.actions()
                assert [a for a, _ in actions] == ["trigger", "acknowledge", "resolve"]
                assert len({key for _, key in actions}) == 1, "one dedup key for the incident"
                assert webhook.events() == ["escalated", "acknowledged", "resolved"]
                assert {e["dedup_key"] for e in webhook.received} == {actions[0][1]}
                assert webhook.received[-1]["incident"]["resolved_at"]
                assert webhook.refused == [], "every webhook call carried a valid signature"
                assert pagerduty.refused == [(500, "outage"), (500, "outage")]
                assert len(replies(slack, alert, "Escalated to")) == 1, "escalated once"


async def test_unwatching_an_escalated_incident_resolves_it_in_pagerduty(slack, tmp_path):
    async with PagerDutyStandIn("R0UTINGKEY") as pagerduty:
        with serve(Behaviour.STATUS, **NGINX_502) as site:
            async with Watcher(
                slack,
                tmp_path,
                GATEWAY_REMIND_EVERY="0",
                GATEWAY_ESCALATE_AFTER="1s",
                GATEWAY_PAGERDUTY_ROUTING_KEY="R0UTINGKEY",
                GATEWAY_PAGERDUTY_URL=pagerduty.url,
            ) as bot:
                await bot.watch_until_alert(site)
                await bot.until(lambda: pagerduty.actions())
                await bot.command(f"unwatch {site.url()}")
                await bot.until(lambda: len(pagerduty.actions()) == 2)
                (trigger, key), (resolve, same) = pagerduty.actions()
                assert (trigger, resolve) == ("trigger", "resolve") and key == same


async def test_a_pagerduty_outage_never_holds_up_slack(slack, tmp_path):
    async with PagerDutyStandIn("R0UTINGKEY") as pagerduty:
        pagerduty.fail_next(1000)
        with serve(Behaviour.STATUS, **NGINX_502) as site:
            async with Watcher(
                slack,
                tmp_path,
                GATEWAY_REMIND_EVERY="0",
                GATEWAY_ESCALATE_AFTER="1s",
                GATEWAY_PAGERDUTY_ROUTING_KEY="R0UTINGKEY",
                GATEWAY_PAGERDUTY_URL=pagerduty.url,
                GATEWAY_RETRY_BACKOFF="0.1s",
            ) as bot:
                alert = await bot.watch_until_alert(site)
                await bot.until(lambda: replies(slack, alert, "Escalated to PagerDuty"))
                site.switch(Behaviour.OK)  # Slack hears the recovery while PagerDuty is down
                await bot.until(lambda: replies(slack, alert, "recovered after"))
                await bot.until(lambda: replies(slack, alert, "could not reach PagerDuty"))
                assert pagerduty.received == []


async def test_a_mute_window_holds_the_alert_then_releases_it_if_still_failing(slack, tmp_path):
    with serve(Behaviour.OK) as site:
        async with Watcher(slack, tmp_path, **QUIET) as bot:
            await bot.command(f"watch {site.url()} every {INTERVAL}")
            await bot.command(f"mute {site.url()} for 4s deploy of <b>v42</b> &amp; more")
            said = bot.tops()[-1]["text"]
            assert "<@U1> muted" in said and "deploy of &lt;b&gt;v42&lt;/b&gt; &amp; more" in said
            site.switch(Behaviour.STATUS, **NGINX_502)
            await asyncio.sleep(2.0)  # failing, inside the window
            assert bot.alerts() == [], "planned work: held"
            await bot.command("watches")
            listing = slack.calls_to("chat.postEphemeral")[-1].args["text"]
            assert "down" in listing and "muted until" in listing and "by <@U1>" in listing
            assert "deploy of &lt;b&gt;v42" in listing
            runs = bot.service.scheduler.runs
            await bot.until(lambda: bot.alerts(), timeout=10)  # the window ended, still failing
            assert bot.service.scheduler.runs > runs, "checks went on"
            alert = bot.alerts()[0]
            assert "nginx answered 502" in text_of(alert)
            assert "muted" not in text_of(alert)


async def test_muting_an_open_alert_shows_who_why_and_until_when_and_holds_reminders(
    slack, tmp_path
):
    with serve(Behaviour.STATUS, **NGINX_502) as site:
        async with Watcher(
            slack, tmp_path, GATEWAY_REMIND_EVERY="2s", GATEWAY_ESCALATE_AFTER="0"
        ) as bot:
            alert = await bot.watch_until_alert(site)
            await bot.command(f"mute {site.url()} for 1h deploy of v42", user="U8")
            edited = text_of(slack.messages()[alert["ts"]])
            assert "muted until <!date^" in edited and "by <@U8>: deploy of v42" in edited
            assert replies(slack, alert, "<@U8> muted this watch until")
            reminded = len(replies(slack, alert, "nobody has acknowledged"))
            await asyncio.sleep(4.5)  # two reminder periods, inside the window
            assert len(replies(slack, alert, "nobody has acknowledged")) == reminded


async def test_a_muted_site_that_heals_in_the_window_never_alerts(slack, tmp_path):
    with serve(Behaviour.STATUS, **NGINX_502) as site:
        async with Watcher(slack, tmp_path, **QUIET) as bot:
            await bot.command(f"watch {site.url()} every {INTERVAL}")
            await bot.command(f"mute {site.url()} for 3s")
            await asyncio.sleep(1.5)
            site.switch(Behaviour.OK)
            await asyncio.sleep(3.0)
            assert bot.alerts() == []
            assert next(iter(bot.service.watches.values())).muted_until is None, "window over"


async def test_unmute_opens_a_held_alert_at_once(slack, tmp_path):
    with serve(Behaviour.STATUS, **NGINX_502) as site:
        async with Watcher(slack, tmp_path, **QUIET) as bot:
            await bot.command(f"watch {site.url()} every {INTERVAL}")
            await bot.command(f"mute {site.url()} for 2h maintenance")
            await asyncio.sleep(1.5)
            assert bot.alerts() == []
            await bot.command(f"unmute {site.url()}")
            assert "unmuted" in bot.tops()[-1]["text"] or bot.alerts()
            await bot.until(lambda: bot.alerts())


async def test_mute_is_bounded_and_needs_a_watch(slack, tmp_path):
    async with Watcher(slack, tmp_path, **QUIET) as bot:
        assert "up to 7 days" in await bot.command("mute http://127.0.0.1:9/ for 8d")
        await bot.command("mute http://127.0.0.1:9/ for 1h")
        assert "does not watch" in slack.calls_to("chat.postEphemeral")[-1].args["text"]


async def test_a_200_maintenance_page_alerts_with_the_words_it_found(slack, tmp_path):
    with serve(Behaviour.STATUS, status=200, body=MAINTENANCE) as site:
        async with Watcher(slack, tmp_path, **QUIET) as bot:
            await bot.command(f'watch {site.url()} every {INTERVAL} !contains "maintenance"')
            assert '"maintenance" on the page' in bot.tops()[0]["text"]
            await bot.until(lambda: bot.alerts())
            alert = bot.alerts()[0]
            assert 'HTTP 200 with "maintenance" on the page' in alert["text"]
            assert "`service_unavailable`" in text_of(alert)
            await bot.until(
                lambda: "Down for scheduled maintenance until 18:00" in thread_of(slack, alert)
            )


async def test_a_200_page_without_the_expected_text_alerts(slack, tmp_path):
    with serve(Behaviour.STATUS, status=200, body=MAINTENANCE) as site:
        async with Watcher(slack, tmp_path, **QUIET) as bot:
            await bot.command(f'watch {site.url()} every {INTERVAL} contains "Add to cart"')
            await bot.until(lambda: bot.alerts())
            alert = bot.alerts()[0]
            assert 'HTTP 200 without "Add to cart"' in alert["text"]
            await bot.until(
                lambda: (
                    '"Add to cart" is not on the page; it begins:' in thread_of(slack, alert)
                    and "be back soon Down for scheduled maintenance" in thread_of(slack, alert)
                )
            )


async def test_a_response_header_rule_alerts_when_the_header_differs(slack, tmp_path):
    """`header NAME: VALUE`: said when the watch is made, listed, stored in its column, and
    an answer with another value is a failure whose alert names the header as it came."""
    sent = (("X-Served-By", "edge-2"),)
    with serve(Behaviour.STATUS, status=200, body="ok", headers=sent) as site:
        async with Watcher(slack, tmp_path, **QUIET) as bot:
            await bot.command(f"watch {site.url()} every {INTERVAL} header x-served-by: edge-1")
            assert 'no x-served-by header, or one other than "edge-1"' in bot.tops()[0]["text"]
            await bot.command("watches")
            listing = slack.calls_to("chat.postEphemeral")[-1].args["text"]
            assert "header x-served-by: edge-1" in listing
            (row,) = await bot.service.store.watches()
            assert row.header_assertion == "x-served-by: edge-1"
            await bot.until(lambda: bot.alerts())
            alert = bot.alerts()[0]
            assert "HTTP 200 with a different x-served-by" in alert["text"]
            await bot.until(
                lambda: (
                    "x-served-by: edge-2; this watch expects x-served-by: edge-1"
                    in thread_of(slack, alert)
                )
            )


async def test_a_site_slower_than_its_threshold_alerts(slack, tmp_path):
    with serve(Behaviour.SLOW, delay=0.5, status=200) as site:
        async with Watcher(slack, tmp_path, **QUIET) as bot:
            await bot.command(f"watch {site.url()} every 1s slow 200ms")
            await bot.until(lambda: bot.alerts(), timeout=20)
            alert = bot.alerts()[0]
            assert "is degraded" in alert["text"] and "`slow_response`" in text_of(alert)
            await bot.until(lambda: "the 200 ms this watch allows" in thread_of(slack, alert))


async def test_slack_is_one_provider_beside_pagerduty_and_the_webhook_and_only_it_threads():
    import aiohttp

    from bot.alerting import PagerDuty, Provider, SlackAlerts, Threaded, Webhook

    async with aiohttp.ClientSession() as session:
        providers = [
            SlackAlerts(chat=None),
            PagerDuty(session, "http://127.0.0.1:9/", "key"),
            Webhook(session, "http://127.0.0.1:9/hook", "s3cret"),
        ]
        assert all(isinstance(p, Provider) for p in providers)
        assert [isinstance(p, Threaded) for p in providers] == [True, False, False]
