"""Who sees and changes a watch: only people in its channel, in its own workspace, from
every surface outside the channel (the Home tab and its buttons, the modal opened to
edit and submitted). Over HTTP, signed, with the Slack stand-in saying who is where."""

from __future__ import annotations

import json

import pytest

from tests.servers.misbehave import Behaviour, serve
from tests.slack.signing import view_submission_body
from tests.slack.stand_in import SlackStandIn
from tests.test_app_home import HomeBot


@pytest.fixture
def slack():
    with SlackStandIn() as stand_in:
        stand_in.add_channel("GSECRET", "secret", is_private=True, members={"U1", "UBOT"})
        stand_in.add_channel("CPUBLIC", "public", is_private=False)
        stand_in.add_channel("COTHER", "theirs", is_private=False, team="T2")
        yield stand_in


def home_value(bot: HomeBot, watch_id: int) -> str:
    return json.dumps({"w": watch_id})


async def watched(bot: HomeBot, site, channel: str) -> int:
    await bot.watcher.command(f"watch {site.url()} every 1h", channel=channel, user="U1")
    await bot.watcher.until(
        lambda: any(w.channel == channel for w in bot.watcher.service.watches.values())
    )
    return next(i for i, w in bot.watcher.service.watches.items() if w.channel == channel)


async def test_home_shows_only_the_watches_of_channels_the_person_may_see(slack, tmp_path):
    with serve(Behaviour.OK) as secret_site, serve(Behaviour.OK) as public_site:
        async with HomeBot(slack, tmp_path) as bot:
            await watched(bot, secret_site, "GSECRET")
            await watched(bot, public_site, "CPUBLIC")
            await bot.open_home("U1")  # in the private channel
            await bot.open_home("U5")  # not in it
            await bot.watcher.until(lambda: {"U1", "U5"} <= set(slack.homes()))
            await bot.watcher.until(lambda: public_site.url() in bot.home_text("U5"))
            assert secret_site.url() in bot.home_text("U1")
            assert secret_site.url() not in bot.home_text("U5")
            assert "GSECRET" not in bot.home_text("U5")


@pytest.mark.parametrize("action", ["gateway_home_mute", "gateway_home_recheck"])
async def test_home_buttons_on_a_watch_the_person_may_not_see_do_nothing(slack, tmp_path, action):
    with serve(Behaviour.OK) as site:
        async with HomeBot(slack, tmp_path) as bot:
            watch_id = await watched(bot, site, "GSECRET")
            checks_before = len(site.requests)
            response = await bot.click(action, home_value(bot, watch_id), user_id="U5")
            assert response.status_code == 200
            await bot.watcher.gateway.drain(5)
            info = bot.watcher.service.watches[watch_id]
            assert info.muted_until is None, "muted by someone not in the channel"
            assert len(site.requests) == checks_before, "re-checked by someone not in it"


async def test_edit_opens_an_empty_modal_for_a_watch_the_person_may_not_see(slack, tmp_path):
    with serve(Behaviour.OK) as site:
        async with HomeBot(slack, tmp_path) as bot:
            watch_id = await watched(bot, site, "GSECRET")
            await bot.click(
                "gateway_home_edit", home_value(bot, watch_id), user_id="U5", trigger_id="t-5"
            )
            await bot.watcher.until(lambda: slack.modals())
            shown = json.dumps(slack.modals()[0]["view"])
            assert site.url() not in shown and "GSECRET" not in shown


def _values(url: str, channel: str) -> dict:
    return {
        "target": {"value": {"type": "plain_text_input", "value": url}},
        "channel": {"value": {"type": "conversations_select", "selected_conversation": channel}},
        "every": {"value": {"type": "plain_text_input", "value": "1h"}},
        "mute": {"value": {"type": "static_select", "selected_option": {"value": "1d"}}},
        "reason": {"value": {"type": "plain_text_input", "value": "mine now"}},
    }


@pytest.mark.parametrize(
    ("channel", "user", "team"),
    [("GSECRET", "U5", "T1"), ("COTHER", "U1", "T1"), ("GSECRET", "U9", "T2")],
    ids=["private, not a member", "another workspace's channel", "a user of another workspace"],
)
async def test_the_modal_cannot_rewrite_or_mute_a_watch_through_its_channel(
    slack, tmp_path, channel, user, team
):
    with serve(Behaviour.OK) as site:
        async with HomeBot(slack, tmp_path) as bot:
            if channel == "GSECRET":
                watch_id = await watched(bot, site, "GSECRET")
            await bot.click("gateway_home_new", "{}", trigger_id="t-new")
            await bot.watcher.until(lambda: slack.modals())
            view = slack.modals()[0]["view"]
            body = view_submission_body(
                view, _values(site.url(), channel), user_id=user, team_id=team
            )
            response = await bot.post(body)
            await bot.watcher.gateway.drain(5)
            assert response.status_code == 200
            assert "choose a channel of this workspace" in response.text
            watches = bot.watcher.service.watches
            if channel == "GSECRET":
                assert watches[watch_id].muted_until is None
                assert watches[watch_id].spec.interval_s == 3600
            assert not any(w.channel == "COTHER" for w in watches.values())


async def test_a_member_still_edits_and_mutes_through_the_modal(slack, tmp_path):
    with serve(Behaviour.OK) as site:
        async with HomeBot(slack, tmp_path) as bot:
            watch_id = await watched(bot, site, "GSECRET")
            await bot.click("gateway_home_new", "{}", trigger_id="t-new", user_id="U1")
            await bot.watcher.until(lambda: slack.modals())
            view = slack.modals()[0]["view"]
            response = await bot.post(
                view_submission_body(view, _values(site.url(), "GSECRET"), user_id="U1")
            )
            assert response.status_code == 200 and not response.content.strip()
            await bot.watcher.until(
                lambda: bot.watcher.service.watches[watch_id].muted_until is not None
            )
