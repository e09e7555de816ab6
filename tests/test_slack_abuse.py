"""Everyone in a workspace can type anything and press any button with any value.

The bot runs in HTTP mode with its watches on a SQLite file; commands and clicks are
POSTed signed exactly as Slack signs them; the Slack stand-in records what people see.
"""

from __future__ import annotations

import json

import pytest

from bot.chat import SlackChat
from bot.service import Gateway
from bot.slack_app import build_app, web_client
from bot.watch.service import WatchService
from bot.watch.store import Store
from tests.harness import Front, bot_settings
from tests.servers.misbehave import Behaviour, closed_port, serve
from tests.slack.signing import (
    block_actions_body,
    signed_headers,
    slash_command_body,
)
from tests.slack.stand_in import SlackStandIn


class WatchingBot:
    """`gateway serve` in HTTP mode, in this process, with watches on a SQLite file."""

    def __init__(self, slack: SlackStandIn, tmp_path, **env: str) -> None:
        self.slack = slack
        self.settings = bot_settings(slack, f"sqlite:///{tmp_path}/gateway.sqlite3", **env)
        self.front = Front()
        self.url = self.front.url

    async def __aenter__(self) -> WatchingBot:
        client = web_client(self.settings)
        self.store = Store(self.settings.database_url)
        self.watches = WatchService(self.store, self.settings, SlackChat(client))
        self.gateway = Gateway(self.settings, watches=self.watches)
        await self.watches.start()
        await self.front.open(build_app(self.settings, self.gateway, client))
        self.http = self.front.http
        return self

    async def __aexit__(self, *exc) -> None:
        await self.gateway.drain(10)
        await self.front.close()
        await self.watches.stop()

    async def command(
        self, text: str, *, team: str = "T1", channel: str = "C1", user: str = "U1"
    ) -> str:
        """Send `/gateway TEXT` as Slack does; the ack's text (the ephemeral answer)."""
        body = slash_command_body(
            text,
            team_id=team,
            channel_id=channel,
            user_id=user,
            response_url=self.slack.response_url("cmd", channel=channel),
        )
        response = await self.http.post(self.url, content=body, headers=signed_headers(body))
        assert response.status_code == 200, response.text
        return response.text

    async def click(
        self,
        action_id: str,
        value: str,
        *,
        team: str = "T1",
        channel: str = "C1",
        user: str = "U1",
        message_ts: str = "1700000000.000100",
    ) -> None:
        body = block_actions_body(
            action_id,
            value,
            team_id=team,
            channel_id=channel,
            user_id=user,
            message_ts=message_ts,
            response_url=self.slack.response_url("act", channel=channel),
        )
        response = await self.http.post(self.url, content=body, headers=signed_headers(body))
        assert response.status_code == 200, response.text

    def tops(self) -> list[dict]:
        return [m for m in self.slack.messages().values() if not m["thread_ts"]]

    def ephemeral_texts(self, user: str | None = None) -> list[str]:
        return [e["text"] for e in self.slack.ephemerals() if user is None or e["user"] == user]

    async def until(self, predicate, timeout: float = 15.0) -> None:
        assert await self.slack.wait_for_async(lambda _: predicate(), timeout), [
            m["text"][:120] for m in self.slack.messages().values()
        ]


def button(message: dict, action_id: str) -> str:
    return next(
        e["value"]
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action_id
    )


# --- rate limits for everything that goes out on the network ---------------------------------


async def test_a_flood_of_watch_commands_from_one_person_stops_at_the_per_minute_limit(
    slack, tmp_path
):
    async with WatchingBot(slack, tmp_path) as bot:
        answers = [
            await bot.command(f"watch http://127.0.0.1:{20000 + i}/ every 1h") for i in range(30)
        ]
        await bot.gateway.drain(10)
        stored = await bot.store.watches()
    assert len(stored) == 6  # GATEWAY_USER_PER_MINUTE's default
    refused = [a for a in answers if "in the last minute" in a]
    assert len(refused) == 24 and "try again in" in refused[0]
    assert len([m for m in bot.tops() if "is now watching" in m["text"]]) == 6


async def test_a_workspace_holds_at_most_its_watch_cap_across_its_channels(slack, tmp_path):
    async with WatchingBot(
        slack, tmp_path, GATEWAY_TEAM_MAX_WATCHES="3", GATEWAY_USER_PER_MINUTE="1000"
    ) as bot:
        for i in range(3):
            assert (
                await bot.command(f"watch http://127.0.0.1:{20000 + i}/ every 1h", channel=f"C{i}")
                == ""
            )
        refusal = await bot.command("watch http://127.0.0.1:20009/ every 1h", channel="C9")
        other_team = await bot.command("watch http://127.0.0.1:20009/ every 1h", team="T2")
        await bot.gateway.drain(10)
        stored = await bot.store.watches()
    assert "this workspace already watches 3 sites" in refusal
    assert other_team == ""  # the cap is per workspace
    assert sorted(w.team for w in stored) == ["T1", "T1", "T1", "T2"]


@pytest.mark.parametrize("action_id", ["gateway_rerun", "gateway_watch"])
async def test_verdict_buttons_pressed_in_a_loop_stop_at_the_per_minute_limit(
    slack, tmp_path, action_id
):
    value = json.dumps({"t": f"http://127.0.0.1:{closed_port()}/", "c": "tcp_refused"})
    async with WatchingBot(slack, tmp_path, GATEWAY_USER_IN_FLIGHT="100") as bot:
        for _ in range(12):
            await bot.click(action_id, value)
        await bot.gateway.drain(15)
        await bot.until(lambda: len(bot.ephemeral_texts("U1")) >= 6)
    refused = [t for t in bot.ephemeral_texts("U1") if "in the last minute" in t]
    assert len(refused) == 6


async def test_re_check_now_pressed_in_a_loop_stops_at_the_per_minute_limit(slack, tmp_path):
    with serve(Behaviour.STATUS, status=502) as site:
        async with WatchingBot(slack, tmp_path, GATEWAY_USER_IN_FLIGHT="100") as bot:
            await bot.command(f"watch {site.url()} every 0.3s", user="U2")
            await bot.until(lambda: any("is down" in m["text"] for m in bot.tops()))
            alert = next(m for m in bot.tops() if "is down" in m["text"])
            value = button(alert, "gateway_recheck")
            for _ in range(12):
                await bot.click("gateway_recheck", value, message_ts=alert["ts"])
            await bot.until(lambda: len(bot.ephemeral_texts("U1")) >= 6)
    refused = [t for t in bot.ephemeral_texts("U1") if "in the last minute" in t]
    assert len(refused) == 6


# --- buttons act only on their own workspace and channel ------------------------------------


async def alerting(bot: WatchingBot, site, channel: str = "C1", team: str = "T1") -> dict:
    await bot.command(f"watch {site.url()} every 0.3s", team=team, channel=channel)

    def alert():
        return next(
            (m for m in bot.tops() if m["channel"] == channel and "is down" in m["text"]), None
        )

    await bot.until(alert)
    return alert()


@pytest.mark.parametrize(
    ("team", "channel"),
    [("T2", "C1"), ("T2", "C2"), ("T1", "C2")],
    ids=["another workspace", "another workspace and channel", "another channel"],
)
async def test_alert_buttons_pressed_elsewhere_are_refused_and_change_nothing(
    slack, tmp_path, team, channel
):
    with serve(Behaviour.STATUS, status=502) as site:
        async with WatchingBot(slack, tmp_path) as bot:
            alert = await alerting(bot, site)
            value = button(alert, "gateway_ack")
            for action_id in ("gateway_ack", "gateway_mute", "gateway_recheck", "gateway_unwatch"):
                await bot.click(
                    action_id,
                    value,
                    team=team,
                    channel=channel,
                    user="U666",
                    message_ts=alert["ts"],
                )
            await bot.until(lambda: len(bot.ephemeral_texts("U666")) >= 4)
            await bot.gateway.drain(10)
            stored = await bot.store.watches()
            incident = await bot.store.open_incident(stored[0].id) if stored else None
    assert len(stored) == 1, "not unwatched"
    assert stored[0].muted_until is None, "not muted"
    assert incident is not None and incident.acknowledged_by is None, "not acknowledged"
    texts = bot.ephemeral_texts("U666")
    assert len(texts) == 4 and all("does not belong to a watch of this channel" in t for t in texts)
    assert "U666" not in json.dumps(bot.slack.messages())  # nothing said in anyone's channel


async def test_a_button_naming_its_own_watch_but_another_watchs_incident_is_refused(
    slack, tmp_path
):
    with serve(Behaviour.STATUS, status=502) as site, serve(Behaviour.STATUS, status=503) as other:
        async with WatchingBot(slack, tmp_path) as bot:
            theirs = await alerting(bot, site, channel="C9", team="T2")
            mine = await alerting(bot, other, channel="C1")
            their = json.loads(button(theirs, "gateway_ack"))
            forged = json.dumps(
                {"w": json.loads(button(mine, "gateway_ack"))["w"], "i": their["i"]}
            )
            for action_id in ("gateway_ack", "gateway_mute", "gateway_unwatch"):
                await bot.click(action_id, forged, user="U666", message_ts=mine["ts"])
            await bot.until(lambda: len(bot.ephemeral_texts("U666")) >= 3)
            await bot.gateway.drain(10)
            incident = await bot.store.incident(their["i"])
            stored = await bot.store.watches()
    assert incident.acknowledged_by is None
    assert len(stored) == 2 and all(w.muted_until is None for w in stored)


@pytest.mark.parametrize(
    "value",
    ['{"w": true, "i": true}', '{"w": 1e400}', '{"w": 99999999999999999999999}', "[1]", "", "x"],
)
async def test_a_button_value_that_names_nothing_gets_one_line_not_an_error(slack, tmp_path, value):
    async with WatchingBot(slack, tmp_path) as bot:
        for action_id in ("gateway_ack", "gateway_mute", "gateway_recheck", "gateway_unwatch"):
            await bot.click(action_id, value, user="U666")
        await bot.until(lambda: len(bot.ephemeral_texts("U666")) >= 4)


# --- a refused target is never announced ------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:9/",
        "http://localhost:9/",
        "http://169.254.169.254/",
        "metadata.google.internal",
    ],
)
async def test_a_private_target_is_refused_for_a_watch_without_being_announced(
    slack, tmp_path, target
):
    async with WatchingBot(slack, tmp_path, GATEWAY_ALLOW_PRIVATE="0") as bot:
        await bot.command(f"watch {target} every 1h")
        await bot.until(lambda: bot.ephemeral_texts("U1"))
        await bot.gateway.drain(10)
        stored = await bot.store.watches()
    assert "refusing" in bot.ephemeral_texts("U1")[0]
    assert stored == []
    assert bot.tops() == [], "nothing was said in the channel"


@pytest.mark.parametrize(
    "value",
    [
        '{"t": ["http://example.com/"], "c": ["x"]}',
        '{"t": "http://[127.0.0.1]/", "c": {"a": 1}}',
        '{"t": "https://[::1", "c": "tcp_refused"}',
        '{"t": 5}',
        "null",
    ],
)
async def test_verdict_buttons_with_forged_values_answer_in_one_line(
    slack, tmp_path, caplog, value
):
    async with WatchingBot(slack, tmp_path) as bot:
        for action_id in ("gateway_rerun", "gateway_watch", "gateway_visitor"):
            await bot.click(action_id, value, user="U666")
        await bot.until(lambda: len(bot.ephemeral_texts("U666")) >= 2)
        await bot.gateway.drain(10)
        stored = await bot.store.watches()
    assert all("too old" in t or "holds no target" in t for t in bot.ephemeral_texts("U666"))
    assert stored == [] and bot.tops() == []
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_a_watch_while_the_database_is_down_is_refused_in_one_line_within_the_ack(
    slack, tmp_path
):
    from tests.servers.postgres import PostgresServer

    with PostgresServer() as pg:
        async with WatchingBot(slack, tmp_path, GATEWAY_DATABASE_URL=pg.url) as bot:
            pg.stop()
            answer = await bot.command("watch http://127.0.0.1:20000/ every 1h")
            await bot.gateway.drain(10)
    assert answer.startswith(":warning: I could not save that just now")
    assert "\n" not in answer and "nothing was changed" in answer
    assert bot.tops() == [], "never announced"
