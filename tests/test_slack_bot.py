"""The Slack bot in HTTP mode, driven as Slack drives it.

Slash commands and button clicks are POSTed to /slack/events signed exactly as
Slack signs them; the bot's Web API calls go to a local stand-in for Slack
(SLACK_API_URL), which records them and validates the blocks. The sites it
diagnoses are real servers on loopback.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace

import httpx

from bot.service import Gateway
from bot.settings import Limits
from bot.slack_app import build_app
from tests.harness import Front, bot_settings
from tests.servers.misbehave import Behaviour, closed_port, serve
from tests.slack.signing import (
    block_actions_body,
    signed_headers,
    slash_command_body,
)
from tests.slack.stand_in import SlackStandIn

HOSTILE_BODY = (
    "<html><body><h1>502 Bad Gateway</h1> <!channel> <!here> @everyone <@U999> "
    "<https://evil.example|click for your bonus> &amp; more</body></html>"
)


class Bot:
    """A running bot (HTTP mode, on loopback) and a way to talk to it as Slack does."""

    def __init__(self, slack: SlackStandIn, limits: Limits | None = None) -> None:
        self.slack = slack
        settings = bot_settings(slack, GATEWAY_TIMEOUT="3")
        if limits:
            settings = replace(settings, limits=limits)
        self.gateway = Gateway(settings)
        self.app = build_app(settings, self.gateway)
        self.front = Front()
        self.port, self.url = self.front.port, self.front.url

    async def __aenter__(self) -> Bot:
        await self.front.open(self.app)
        self.http = self.front.http
        return self

    async def __aexit__(self, *exc) -> None:
        await self.gateway.drain(10)
        await self.front.close()

    async def command(
        self, text: str, *, channel: str = "C123", user: str = "U123", headers: dict | None = None
    ) -> httpx.Response:
        body = slash_command_body(
            text,
            channel_id=channel,
            user_id=user,
            response_url=self.slack.response_url("cmd", channel=channel),
        )
        return await self.http.post(self.url, content=body, headers=headers or signed_headers(body))

    async def click(
        self, action_id: str, value: str, message_ts: str, channel: str = "C123"
    ) -> httpx.Response:
        body = block_actions_body(
            action_id,
            value,
            channel_id=channel,
            message_ts=message_ts,
            response_url=self.slack.response_url("act", channel=channel),
        )
        return await self.http.post(self.url, content=body, headers=signed_headers(body))

    async def verdict(self, timeout: float = 15.0) -> dict:
        """The first top-level message once it has become a verdict with its thread."""

        def done(stand_in: SlackStandIn) -> bool:
            tops = [m for m in stand_in.messages().values() if not m["thread_ts"]]
            return (
                bool(tops)
                and "Checking" not in tops[0]["text"]
                and len(stand_in.thread(tops[0]["ts"])) >= 4
            )

        assert await self.slack.wait_for_async(done, timeout), self.slack.calls
        await self.gateway.drain(10)
        return next(m for m in self.slack.messages().values() if not m["thread_ts"])


def all_text(message: dict) -> str:
    return message["text"] + json.dumps(message.get("blocks") or [])


async def test_a_check_acks_at_once_then_posts_progress_verdict_and_thread(slack):
    with serve(
        Behaviour.STATUS,
        status=502,
        headers=(("Server", "nginx/1.22.1"),),
        body="<center>nginx/1.22.1</center>",
    ) as site:
        async with Bot(slack) as bot:
            started = time.perf_counter()
            response = await bot.command(f"check {site.url()}")
            ack_ms = (time.perf_counter() - started) * 1000
            assert response.status_code == 200 and response.text == ""
            assert ack_ms < 3000  # Slack's deadline; the benchmark measures the real figure
            verdict = await bot.verdict()
    first_post = slack.calls_to("chat.postMessage")[0]
    assert "Checking" in first_post.args["text"] and "<@U123>" in first_post.args["text"]
    assert first_post.args["unfurl_links"] is False
    assert verdict["updated"] >= 1  # the progress message became the verdict
    text = all_text(verdict)
    assert "nginx answered 502" in text and "upstream_refused" in text
    assert "Re-run" in text and "Visitor advice" in text
    replies = slack.thread(verdict["ts"])
    assert [r["thread_ts"] for r in replies] == [verdict["ts"]] * len(replies)
    bodies = [all_text(r) for r in replies]
    assert "What was checked" in bodies[0]
    assert "Likely causes" in bodies[1]
    assert "What the site owner should do" in bodies[2] and "error.log" in bodies[2]
    assert "What a visitor" in bodies[3]
    assert any("hacked" in b for b in bodies) and any("search ranking" in b for b in bodies)
    assert all(r["text"] for r in replies)  # a plain-text fallback on every message
    errors = [c for c in slack.calls if c.response.get("ok") is False]
    assert errors == []  # every block was valid


async def test_help_and_unusable_text_get_an_ephemeral_usage(slack):
    async with Bot(slack) as bot:
        helped = await bot.command("help")
        wrong = await bot.command("check ftp://x")
        empty = await bot.command("")
    assert "/gateway watch" in helped.text
    assert "unsupported scheme ftp://" in wrong.text
    assert "/gateway check" in wrong.text
    assert "which site" in empty.text
    assert slack.calls_to("chat.postMessage") == []


async def test_bad_signatures_and_stale_timestamps_are_refused(slack):
    async with Bot(slack) as bot:
        body = slash_command_body("check example.com")
        forged = await bot.http.post(
            bot.url, content=body, headers=signed_headers(body, secret="not-the-secret")
        )
        stale = await bot.http.post(
            bot.url, content=body, headers=signed_headers(body, timestamp=int(time.time()) - 6 * 60)
        )
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        unsigned = await bot.http.post(bot.url, content=body, headers=form)
    assert forged.status_code == stale.status_code == unsigned.status_code == 401
    assert slack.calls_to("chat.postMessage") == []


async def test_a_private_channel_without_the_bot_is_answered_through_response_url(slack):
    port = closed_port()
    slack.add_channel("G777", "secret-incident", is_private=True, is_member=False)
    async with Bot(slack) as bot:
        await bot.command(f"check http://127.0.0.1:{port}/", channel="G777")
        assert await slack.wait_for_async(
            lambda s: any("invite" in e["text"].lower() for e in s.ephemerals()), 15
        )
        await bot.gateway.drain()
    in_channel = [m for m in slack.messages().values() if m["via"] == "response_url"]
    assert in_channel and "tcp_refused" in all_text(in_channel[0])
    assert len(slack.calls_to("response_url")) <= 5


async def test_a_rate_limited_post_is_retried_after_retry_after(slack):
    with serve(Behaviour.STATUS, status=503, headers=(("Retry-After", "60"),)) as site:
        async with Bot(slack) as bot:
            slack.rate_limit_next("chat.postMessage", retry_after=1, times=1)
            await bot.command(f"check {site.url()}")
            verdict = await bot.verdict(20)
    assert "service_unavailable" in all_text(verdict)
    statuses = [c.status for c in slack.calls_to("chat.postMessage")]
    assert statuses[0] == 429 and statuses[1] == 200


async def test_other_api_errors_lose_nothing_else(slack):
    with serve(Behaviour.STATUS, status=500) as site:
        async with Bot(slack) as bot:
            slack.fail_next("chat.update", "internal_error", times=5)
            await bot.command(f"check {site.url()}")
            assert await slack.wait_for_async(
                lambda s: sum(1 for m in s.messages().values() if m["thread_ts"]) >= 4, 15
            )
            await bot.gateway.drain()
    tops = [m for m in slack.messages().values() if not m["thread_ts"]]
    # the edit failed, so the verdict was posted as a new message and the thread hangs on it
    assert any("server_error" in all_text(m) for m in tops)


async def test_hostile_text_from_the_site_is_escaped(slack):
    headers = (("Server", "<!channel> <@U999>"), ("Via", "1.1 <https://evil.example|x>"))
    with serve(Behaviour.STATUS, status=502, body=HOSTILE_BODY, headers=headers) as site:
        async with Bot(slack) as bot:
            await bot.command(f"check {site.url()}")
            verdict = await bot.verdict()
    everything = [verdict, *slack.thread(verdict["ts"])]
    for message in everything:
        text = all_text(message)
        for raw in ("<!channel>", "<!here>", "<@U999>", "<https://evil", "@everyone"):
            assert raw not in text, (raw, text[:500])
    joined = " ".join(all_text(m) for m in everything)
    assert "&lt;!channel&gt;" in joined  # shown, but inert


async def test_per_user_limits_answer_with_a_friendly_message(slack):
    limits = Limits(user_in_flight=1, user_per_minute=10)
    with serve(Behaviour.HANG) as site:
        async with Bot(slack, limits) as bot:
            first = await bot.command(f"check {site.url()}")
            second = await bot.command(f"check {site.url()}")
            other_user = await bot.command(f"check {site.url()}", user="U456")
            assert first.text == "" and other_user.text == ""
            assert "already have 1 checks running" in second.text
            await bot.gateway.drain()


async def test_per_minute_limit(slack):
    limits = Limits(user_in_flight=10, user_per_minute=2)
    async with Bot(slack, limits) as bot:
        answers = [await bot.command(f"check http://127.0.0.1:{closed_port()}/") for _ in range(3)]
        await bot.gateway.drain()
    assert answers[0].text == answers[1].text == ""
    assert "2 checks or watches in the last minute" in answers[2].text


async def test_a_slow_check_delays_nobody_elses_ack(slack):
    with serve(Behaviour.HANG) as slow, serve(Behaviour.OK) as fast:
        async with Bot(slack) as bot:
            await bot.command(f"check {slow.url()}", user="U1")
            started = time.perf_counter()
            acks = await asyncio.gather(
                *(bot.command(f"check {fast.url()}", user=f"U{i + 10}") for i in range(5))
            )
            elapsed = time.perf_counter() - started
            assert all(a.status_code == 200 for a in acks)
            assert elapsed < 2.0  # the hanging check takes 3 s; the acks did not wait for it
            await bot.gateway.drain()
    verdicts = [m for m in slack.messages().values() if not m["thread_ts"]]
    assert sum("works" in m["text"] for m in verdicts) == 5


async def test_buttons_rerun_and_visitor_advice(slack):
    with serve(Behaviour.STATUS, status=504) as site:
        async with Bot(slack) as bot:
            await bot.command(f"check {site.url()}")
            verdict = await bot.verdict()
            actions = next(b for b in verdict["blocks"] if b["type"] == "actions")
            values = {e["action_id"]: e["value"] for e in actions["elements"]}
            await bot.click("gateway_visitor", values["gateway_visitor"], verdict["ts"])
            assert await slack.wait_for_async(lambda s: s.calls_to("chat.postEphemeral"), 10)
            await bot.click("gateway_rerun", values["gateway_rerun"], verdict["ts"])
            assert await slack.wait_for_async(
                lambda s: len([m for m in s.messages().values() if not m["thread_ts"]]) == 2, 10
            )
            await bot.gateway.drain()
    advice = slack.calls_to("chat.postEphemeral")[0].args
    assert advice["user"] == "U123" and "visitor" in advice["text"].lower()


async def test_a_public_channel_works_without_an_invitation(slack):
    slack.add_channel("C999", "public-incident", is_private=False, is_member=False)
    async with Bot(slack) as bot:
        await bot.command(f"check http://127.0.0.1:{closed_port()}/", channel="C999")
        verdict = await bot.verdict()
    assert verdict["channel"] == "C999" and "tcp_refused" in all_text(verdict)


async def test_progress_is_shown_while_a_slow_check_runs(slack):
    with serve(Behaviour.SLOW, delay=2.2) as site:
        async with Bot(slack) as bot:
            await bot.command(f"check {site.url()}")
            await bot.verdict(20)
    updates = [
        c.args["text"] + json.dumps(c.args.get("blocks")) for c in slack.calls_to("chat.update")
    ]
    progress = [u for u in updates if "Checking" in u]
    assert progress, "the progress message was edited before the verdict"
    assert "TCP 1/1 open" in progress[0]
    assert "slow_response" in updates[-1] or "response_timeout" in updates[-1]


async def test_enormous_remote_content_stays_within_block_kit_limits(slack):
    headers = (*((f"X-Junk-{i}", "x" * 900) for i in range(60)), ("Server", "y" * 5000))
    body = "<html><body>" + ("<p>" + "z" * 5000 + "</p>\n") * 12 + "</body></html>"
    with serve(Behaviour.STATUS, status=500, headers=headers, body=body) as site:
        async with Bot(slack) as bot:
            await bot.command(f"check {site.url()}")
            verdict = await bot.verdict()
    assert [c for c in slack.calls if c.response.get("ok") is False] == []
    assert "server_error" in all_text(verdict)
