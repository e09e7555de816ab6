"""App Home and the watch modal, over HTTP as Slack sends them (signed), with the real
watch service, scheduler and database behind, and the Slack stand-in recording views.
"""

from __future__ import annotations

import json

import httpx

from bot.slack_app import build_app
from tests.harness import Front
from tests.servers.misbehave import Behaviour, serve
from tests.slack.signing import (
    SIGNING_SECRET,
    block_actions_body,
    event_body,
    view_submission_body,
)
from tests.slack.stand_in import SlackStandIn
from tests.test_watch import INTERVAL, NGINX_502, Watcher

SHOP = "<html><body><h1>Blue mug</h1><button>Add to cart</button></body></html>"


class HomeBot:
    """A Watcher served over HTTP at /slack/events, as Slack reaches the bot."""

    def __init__(self, slack: SlackStandIn, tmp_path) -> None:
        self.slack = slack
        self.watcher = Watcher(
            slack,
            tmp_path,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            GATEWAY_REMIND_EVERY="0",
            GATEWAY_ESCALATE_AFTER="0",
        )

    async def __aenter__(self) -> HomeBot:
        await self.watcher.start()
        app = build_app(self.watcher.settings, self.watcher.gateway, self.watcher.client)
        self.front = await Front().open(app)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.front.close()
        await self.watcher.stop()

    async def post(self, body: str, json_body: bool = False) -> httpx.Response:
        return await self.front.post(body, json_body)

    async def open_home(self, user: str = "U5") -> None:
        response = await self.post(
            event_body({"type": "app_home_opened", "user": user, "tab": "home"}), json_body=True
        )
        assert response.status_code == 200

    async def click(self, action_id: str, value: str, **fields) -> httpx.Response:
        return await self.post(block_actions_body(action_id, value, **fields))

    def home_text(self, user: str = "U5") -> str:
        return json.dumps(self.slack.homes().get(user, {}), ensure_ascii=False)


async def test_app_home_is_published_when_opened_and_again_after_a_change(slack, tmp_path):
    with serve(Behaviour.OK) as site:
        async with HomeBot(slack, tmp_path) as bot:
            await bot.watcher.command(f"watch {site.url()} every {INTERVAL}", channel="C1")
            await bot.open_home()
            await bot.watcher.until(lambda: site.url() in bot.home_text())
            home = slack.homes()["U5"]
            assert home["type"] == "home"
            assert "<#C1>" in bot.home_text() and ":large_green_circle:" in bot.home_text()
            buttons = [
                e["action_id"]
                for b in home["blocks"]
                if b["type"] == "actions"
                for e in b["elements"]
            ]
            assert buttons == ["gateway_home_recheck", "gateway_home_mute", "gateway_home_edit"]
            published = len(slack.calls_to("views.publish"))
            site.switch(Behaviour.STATUS, **NGINX_502)  # the change: an incident opens
            await bot.watcher.until(lambda: "down since" in bot.home_text())
            assert len(slack.calls_to("views.publish")) > published
            assert ":red_circle:" in bot.home_text() and "nginx answered 502" in bot.home_text()
            strip = bot.home_text().split("24 h ")[1][:24]
            assert set(strip) <= set("🟩🟨🟥⬜") and strip[-1] != "⬜", "24 hours, this one seen"
            watch_id = next(iter(bot.watcher.service.watches))
            await bot.click("gateway_home_mute", json.dumps({"w": watch_id}), channel_id="")
            await bot.watcher.until(lambda: "muted until" in bot.home_text())
            assert "muted from App Home" in bot.home_text()


async def test_the_modal_submission_creates_the_watch_it_describes(slack, tmp_path):
    with serve(Behaviour.STATUS, status=200, body=SHOP) as site:
        async with HomeBot(slack, tmp_path) as bot:
            response = await bot.click("gateway_home_new", "{}", trigger_id="trig-1")
            assert response.status_code == 200
            await bot.watcher.until(lambda: slack.modals())
            modal = slack.modals()[0]
            assert modal["trigger_id"] == "trig-1"
            assert modal["view"]["callback_id"] == "gateway_watch_modal"
            values = {
                "target": {"value": {"type": "plain_text_input", "value": site.url()}},
                "channel": {
                    "value": {"type": "conversations_select", "selected_conversation": "C7"}
                },
                "every": {"value": {"type": "plain_text_input", "value": "0.5s"}},
                "after": {"value": {"type": "plain_text_input", "value": "3"}},
                "expect": {
                    "value": {
                        "type": "plain_text_input",
                        "value": 'expect 200 contains "Add to cart" slow 800ms',
                    }
                },
                "notify": {"value": {"type": "multi_users_select", "selected_users": ["U0DANA"]}},
                "mute": {"value": {"type": "static_select", "selected_option": None}},
                "reason": {"value": {"type": "plain_text_input", "value": None}},
            }
            response = await bot.post(view_submission_body(modal["view"], values, user_id="U5"))
            assert response.status_code == 200 and not response.content.strip()
            await bot.watcher.until(lambda: bot.watcher.service.watches)
            watch = next(iter(bot.watcher.service.watches.values()))
            assert (watch.url, watch.channel, watch.interval_s) == (site.url(), "C7", 0.5)
            assert watch.fail_after == 3 and watch.notify == ("U0DANA",)
            assert watch.expect.statuses == (200,) and watch.expect.contains == ("Add to cart",)
            assert watch.expect.slow_ms == 800
            said = [m["text"] for m in slack.messages().values() if m["channel"] == "C7"]
            assert any("<@U5> is now watching" in t and "<@U0DANA>" in t for t in said)


async def test_a_modal_field_that_does_not_parse_is_answered_on_that_field(slack, tmp_path):
    async with HomeBot(slack, tmp_path) as bot:
        await bot.click("gateway_home_new", "{}", trigger_id="trig-2")
        await bot.watcher.until(lambda: slack.modals())
        values = {
            "target": {"value": {"type": "plain_text_input", "value": "http://127.0.0.1:9/"}},
            "channel": {"value": {"type": "conversations_select", "selected_conversation": "C7"}},
            "every": {"value": {"type": "plain_text_input", "value": "soon"}},
            "after": {"value": {"type": "plain_text_input", "value": "²"}},
        }
        response = await bot.post(view_submission_body(slack.modals()[0]["view"], values))
        answer = response.json()
        assert answer["response_action"] == "errors"
        assert set(answer["errors"]) == {"every", "after"}
        assert "not an interval" in answer["errors"]["every"]
        assert bot.watcher.service.watches == {}


async def test_the_verdicts_watch_button_opens_the_modal_for_that_site(slack, tmp_path):
    async with HomeBot(slack, tmp_path) as bot:
        value = json.dumps({"t": "http://127.0.0.1:8080/health", "c": "healthy"})
        await bot.click("gateway_watch", value, channel_id="C3", trigger_id="trig-3")
        await bot.watcher.until(lambda: slack.modals())
        view = slack.modals()[0]["view"]
        blocks = {b.get("block_id"): b for b in view["blocks"]}
        assert blocks["target"]["element"]["initial_value"] == "http://127.0.0.1:8080/health"
        assert blocks["channel"]["element"]["initial_conversation"] == "C3"
        assert bot.watcher.service.watches == {}, "nothing is watched until it is submitted"


async def test_edit_opens_the_watch_as_it_is_and_saving_changes_it_in_place(slack, tmp_path):
    with serve(Behaviour.OK) as site:
        async with HomeBot(slack, tmp_path) as bot:
            await bot.watcher.command(
                f'watch {site.url()} every 1m after 3 contains "ok" '
                "notify <!subteam^S0ONCALL|@oncall-web> <@U0DANA|dana>",
                channel="C1",
            )
            watch_id = next(iter(bot.watcher.service.watches))
            await bot.click("gateway_home_edit", json.dumps({"w": watch_id}), trigger_id="t4")
            await bot.watcher.until(lambda: slack.modals())
            view = slack.modals()[0]["view"]
            blocks = {b.get("block_id"): b for b in view["blocks"]}
            assert blocks["every"]["element"]["initial_value"] == "1m"
            assert blocks["after"]["element"]["initial_value"] == "3"
            assert blocks["expect"]["element"]["initial_value"] == 'contains "ok"'
            assert blocks["notify"]["element"]["initial_users"] == ["U0DANA"]
            assert view["title"]["text"] == "Edit watch"
            values = {
                "target": {"value": {"type": "plain_text_input", "value": site.url()}},
                "channel": {
                    "value": {"type": "conversations_select", "selected_conversation": "C1"}
                },
                "every": {"value": {"type": "plain_text_input", "value": "2m"}},
                "after": {"value": {"type": "plain_text_input", "value": "3"}},
                "expect": {"value": {"type": "plain_text_input", "value": 'contains "ok"'}},
                "notify": {"value": {"type": "multi_users_select", "selected_users": ["U0DANA"]}},
                "mute": {"value": {"type": "static_select", "selected_option": {"value": "2h"}}},
                "reason": {"value": {"type": "plain_text_input", "value": "moving racks"}},
            }
            await bot.post(view_submission_body(view, values, user_id="U5"))
            await bot.watcher.until(
                lambda: bot.watcher.service.watches[watch_id].muted_until is not None
            )
            watch = bot.watcher.service.watches[watch_id]
            assert list(bot.watcher.service.watches) == [watch_id], "edited, not added"
            assert watch.interval_s == 120 and watch.notify == ("S0ONCALL", "U0DANA")
            assert watch.mute_reason == "moving racks" and watch.muted_by == "U5"
