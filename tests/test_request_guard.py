"""/slack/events as an attacker meets it: unsigned, malformed, stale or flooding requests
are a 401 and one short log line at most every 10 s, never the body, never a 500."""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from bot.app import start_http
from bot.service import Gateway
from bot.settings import from_environment
from bot.slack_app import build_app
from tests.servers.proxies import free_port
from tests.slack.signing import SIGNING_SECRET, signed_headers, slash_command_body
from tests.slack.stand_in import SlackStandIn

HOOK = "https://hooks.slack.com/commands/T1/SECRETHOOK"


@pytest.fixture
async def bot():
    with SlackStandIn() as slack:
        settings = from_environment(
            {
                "SLACK_BOT_TOKEN": "xoxb-test",
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": slack.api_url,
            }
        )
        gateway = Gateway(settings)
        port = free_port()
        runner = await start_http(
            build_app(settings, gateway), "127.0.0.1", port, signing_secret=SIGNING_SECRET
        )
        async with httpx.AsyncClient(timeout=10) as http:
            yield http, f"http://127.0.0.1:{port}/slack/events"
        await gateway.drain(5)
        await runner.cleanup()


BODY = slash_command_body("help", channel_id="C1", response_url=HOOK)
NOW = str(int(time.time()))
CASES = {
    "unsigned, large": ({}, BODY + "&x=" + "A" * 200_000),
    "a timestamp that is no number": ({"X-Slack-Request-Timestamp": "abc"}, BODY),
    "a timestamp of 400 digits": ({"X-Slack-Request-Timestamp": "9" * 400}, BODY),
    "a malformed signature": ({"X-Slack-Request-Timestamp": NOW, "X-Slack-Signature": "x"}, BODY),
    "a bad body, unsigned": (
        {"X-Slack-Request-Timestamp": NOW, "X-Slack-Signature": "v0=" + "0" * 64},
        b"\xff\xfe{not json",
    ),
    "stale but genuine": (signed_headers(BODY, timestamp=int(time.time()) - 3600), BODY),
}


async def test_every_unauthenticated_request_is_a_401_in_few_short_lines(bot, caplog):
    http, url = bot
    caplog.set_level(logging.INFO)
    for headers, body in CASES.values():
        for _ in range(20):  # a flood
            answer = await http.post(url, content=body, headers=headers)
            assert answer.status_code == 401, (headers, answer.text)
    records = [r for r in caplog.records if not r.name.startswith("httpx")]  # the client's
    logged = [r.getMessage() for r in records]
    assert len(logged) <= 2, logged
    text = "\n".join(logged)
    assert "AAAA" not in text and "SECRETHOOK" not in text and "hooks.slack.com" not in text
    assert all(len(line) < 300 for line in logged)
    assert not any(r.exc_info for r in records), "no traceback"


async def test_a_genuine_request_still_gets_through(bot):
    http, url = bot
    answer = await http.post(url, content=BODY, headers=signed_headers(BODY))
    assert answer.status_code == 200 and "/gateway" in answer.text
