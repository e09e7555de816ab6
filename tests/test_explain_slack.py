"""`/gateway explain` and the message shortcut "Explain with gateway", driven as Slack
drives them (signed requests to the bot in HTTP mode, a stand-in for the Web API).

The pasted text is hostile on purpose: tokens in query strings, `<!channel>`,
backticks; none of it may come back out, and every message must pass Block Kit's
limits (the stand-in validates them).
"""

from __future__ import annotations

import json

import pytest
import yaml

from bot.slack_app import SHORTCUT_EXPLAIN
from tests.conftest import ROOT
from tests.servers.misbehave import closed_port
from tests.servers.proxies import NginxProxy
from tests.slack.signing import message_action_body, signed_headers
from tests.test_slack_bot import Bot, all_text

NGINX_LINES = (
    '2026/11/25 14:46:55 [error] 1#1: *4 connect() failed (111: Connection refused) while connecting to upstream, client: 203.0.113.9, server: shop, request: "GET /login?token=paste-secret HTTP/1.1", upstream: "http://127.0.1.1:9099/login?token=paste-secret", host: "shop.example"\n'
    '2026/11/25 14:47:02 [error] 1#1: *9 connect() failed (111: Connection refused) while connecting to upstream, client: 203.0.113.9, server: shop, request: "GET / HTTP/1.1", upstream: "http://127.0.1.1:9099/", host: "shop.example", referrer: "https://shop.example/?session=paste-secret"\n'
    "some chatter that is not a log line\n"
)
HOSTILE = (
    '2026/11/25 14:46:55 [error] 1#1: *4 limiting requests, excess: 0.5 by zone "<!channel>`x`@here", '
    'client: 1.2.3.4, server: s, request: "GET /?a=paste-secret HTTP/1.1", host: "s"\n'
)


async def shortcut(bot: Bot, message_ts: str, text: str, thread_ts: str | None = None):
    body = message_action_body(
        SHORTCUT_EXPLAIN,
        message_ts,
        text,
        thread_ts=thread_ts,
        response_url=bot.slack.response_url("sc", channel="C123"),
    )
    return await bot.http.post(bot.url, content=body, headers=signed_headers(body))


async def test_explain_answers_in_the_channel_with_the_cause_and_only_the_proof(slack):
    async with Bot(slack) as bot:
        response = await bot.command("explain\n" + NGINX_LINES)
        assert response.status_code == 200 and not response.text
        assert await slack.wait_for_async(lambda s: len(s.messages()) == 1, 10)
        await bot.gateway.drain()
    (message,) = slack.messages().values()
    text = all_text(message)
    assert message["thread_ts"] is None and message["user"] != "U999"
    assert "2 of 3 line(s) recognized" in text and "upstream_refused" in text
    assert "connect() failed (111: Connection refused) while connecting to upstream" in text
    assert "127.0.1.1:9099" in text and "<@U123>" in text
    assert "paste-secret" not in text and "GET /" not in text
    assert [c for c in slack.calls if c.response.get("ok") is False] == []


async def test_hostile_markup_and_backticks_in_a_paste_stay_inert(slack):
    async with Bot(slack) as bot:
        await bot.command("explain " + HOSTILE)
        assert await slack.wait_for_async(lambda s: len(s.messages()) == 1, 10)
        await bot.gateway.drain()
    (message,) = slack.messages().values()
    text = json.dumps(message["blocks"])
    assert "rate_limited" in text
    assert "<!channel>" not in text and "<!here>" not in text
    assert "@\\u200bchannel" in text and "@\\u200bhere" in text  # words, defused
    assert "`x`" not in text  # the code span cannot be closed early
    assert "paste-secret" not in all_text(message)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("explain", "`explain` needs log lines"),
        ("explain \x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f\x10\x11", "looks binary"),
    ],
)
async def test_an_unusable_paste_gets_a_one_line_ephemeral_answer(slack, text, reason):
    async with Bot(slack) as bot:
        response = await bot.command(text)
    assert reason in response.text
    assert slack.calls_to("chat.postMessage") == []


async def test_ten_thousand_pasted_lines_get_a_bounded_answer(slack):
    lines = "\n".join(
        f"--  FetchError     backend b{i}: fail errno 111 (Connection refused)"
        for i in range(10_000)
    )
    async with Bot(slack) as bot:
        await bot.command("explain " + lines)
        assert await slack.wait_for_async(lambda s: len(s.messages()) == 1, 20)
        await bot.gateway.drain()
    (message,) = slack.messages().values()
    assert len(message["blocks"]) <= 50 and len(message["text"]) <= 3000
    assert "10000 of 10000 line(s) recognized" in all_text(message)
    assert "more group(s)" in all_text(message)


async def test_the_shortcut_on_a_colleague_s_paste_answers_in_its_thread(slack):
    pasted = "```" + NGINX_LINES + "```"
    ts = slack.post_as_user("C123", pasted, user="U999")
    async with Bot(slack) as bot:
        response = await shortcut(bot, ts, slack.messages()[ts]["text"])
        assert response.status_code == 200
        assert await slack.wait_for_async(lambda s: s.thread(ts), 10)
        await bot.gateway.drain()
    (reply,) = slack.thread(ts)
    text = all_text(reply)
    assert "upstream_refused" in text and "127.0.1.1:9099" in text
    assert "paste-secret" not in text
    assert [m for m in slack.messages().values() if not m["thread_ts"]] == [slack.messages()[ts]]


async def test_the_shortcut_on_a_reply_answers_in_the_same_thread(slack):
    parent = slack.post_as_user("C123", "the shop is down again")
    reply = slack.post_as_user(
        "C123",
        '10.1.2.3:51000 [25/Nov/2026:14:46:55.120] fe app/<NOSRV> 0/-1/-1/-1/0 503 217 - - SC-- 1/1/0/0/0 0/0 "GET / HTTP/1.1"',
        thread_ts=parent,
    )
    async with Bot(slack) as bot:
        await shortcut(bot, reply, slack.messages()[reply]["text"], thread_ts=parent)
        assert await slack.wait_for_async(lambda s: len(s.thread(parent)) == 2, 10)
        await bot.gateway.drain()
    answer = slack.thread(parent)[-1]
    assert "no_healthy_upstream" in all_text(answer) and "haproxy" in all_text(answer)


async def test_the_shortcut_on_a_message_without_log_lines_says_so_in_its_thread(slack):
    ts = slack.post_as_user("C123", "has anyone seen the 502s?")
    async with Bot(slack) as bot:
        await shortcut(bot, ts, slack.messages()[ts]["text"])
        assert await slack.wait_for_async(lambda s: s.thread(ts), 10)
        await bot.gateway.drain()
    (reply,) = slack.thread(ts)
    assert "None of the 1 line(s)" in reply["text"] and "nginx error.log" in reply["text"]


def test_the_manifest_offers_the_message_shortcut():
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    (shortcut_entry,) = manifest["features"]["shortcuts"]
    assert shortcut_entry["type"] == "message"
    assert shortcut_entry["callback_id"] == SHORTCUT_EXPLAIN == "gateway_explain"
    assert shortcut_entry["name"] == "Explain with gateway"
    assert len(shortcut_entry["description"]) <= 150


@pytest.mark.proxy
async def test_an_ambiguous_nginx_502_says_which_log_line_settles_it_and_how_to_ask(slack):
    with NginxProxy(closed_port()) as nginx:
        async with Bot(slack) as bot:
            await bot.command(f"check {nginx.url('/x')}")
            verdict = await bot.verdict(20)
    thread = " ".join(all_text(m) for m in slack.thread(verdict["ts"]))
    assert "Which is it?" in thread
    assert "connect() failed (111: Connection refused) while connecting to upstream" in thread
    assert "upstream prematurely closed connection" in thread
    assert "/gateway explain" in thread and "Explain with gateway" in thread


def test_the_shortcut_works_in_socket_mode_too(slack, tmp_path):
    from tests.test_socket_mode import Serve

    ts = slack.post_as_user("C123", NGINX_LINES)
    bot = Serve(slack, tmp_path)
    try:
        assert slack.wait_for_socket(timeout=10), bot.proc.poll()
        envelope = slack.send_message_action(SHORTCUT_EXPLAIN, ts, slack.messages()[ts]["text"])
        assert slack.wait_for_ack(envelope, 3) == {"envelope_id": envelope}
        assert slack.envelope(envelope).ack_seconds < 3
        assert slack.wait_for(lambda s: s.thread(ts), 10), slack.calls
        code, _ = bot.stop()
    finally:
        bot.kill()
    (reply,) = slack.thread(ts)
    assert "upstream_refused" in all_text(reply) and "paste-secret" not in all_text(reply)
    assert code == 0 and "Traceback" not in bot.output
