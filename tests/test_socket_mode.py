"""`gateway serve` in Socket Mode, driven as Slack drives it, without Slack.

The Slack stand-in (tests/slack/stand_in.py, tests/slack/socket_mode.py) answers
`apps.connections.open` with a ws:// URL on loopback, says `hello` on the WebSocket, and
sends the envelopes a workspace would send; the bot runs as a person starts it
(`python -m bot.cli serve` with SLACK_APP_TOKEN) and diagnoses a real server on loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.verbs import USAGE
from tests.conftest import ROOT
from tests.servers.misbehave import Behaviour, serve
from tests.slack.stand_in import SlackStandIn

APP_TOKEN = "xapp-1-A1-test"
BOT_TOKEN = "xoxb-test"


# -- the stand-in against the SDK's own Socket Mode client --------------------------------------


async def test_apps_connections_open_wants_an_app_token(slack):
    results = {}
    for token in (None, BOT_TOKEN, "garbage", APP_TOKEN):
        client = AsyncWebClient(base_url=slack.api_url)
        try:
            response = await client.apps_connections_open(app_token=token)
            results[token] = response["url"]
        except SlackApiError as exc:
            results[token] = exc.response["error"]
    assert results[None] == "not_authed"
    assert results[BOT_TOKEN] == "not_allowed_token_type"
    assert results["garbage"] == "invalid_auth"
    assert results[APP_TOKEN].startswith(f"ws://127.0.0.1:{slack.port}/socket-mode/link/?ticket=")
    last = slack.calls_to("apps.connections.open")[-1]
    assert last.token == APP_TOKEN and last.token_in_header and last.http_method == "POST"
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"ws://127.0.0.1:{slack.port}/socket-mode/link/?ticket=forged")
    assert refused.value.status == 401 and slack.socket_refused


async def test_the_sdk_client_connects_acks_and_reconnects_when_told(slack):
    received: list[dict] = []

    async def on_message(client, message, raw):
        received.append(message)

    async def on_request(client, request):
        body = {"text": "pong"} if request.payload.get("text") == "ping" else None
        await client.send_socket_mode_response(
            SocketModeResponse(envelope_id=request.envelope_id, payload=body)
        )

    client = SocketModeClient(
        app_token=APP_TOKEN, web_client=AsyncWebClient(base_url=slack.api_url)
    )
    client.message_listeners.append(on_message)
    client.socket_mode_request_listeners.append(on_request)
    try:
        await client.connect()
        assert await slack.wait_for_async(lambda s: received, 5)
        hello = received[0]
        assert hello["type"] == "hello" and hello["num_connections"] == 1
        assert hello["connection_info"]["app_id"] == "A1"
        first = slack.socket_connections[0]
        assert first.token == APP_TOKEN and first.pings >= 1  # the SDK pings on connect

        bare = await asyncio.to_thread(slack.send_slash_command, "check site.test")
        answered = await asyncio.to_thread(slack.send_slash_command, "ping", channel_id="C9")
        assert await slack.wait_for_ack_async(bare) == {"envelope_id": bare}
        assert (await slack.wait_for_ack_async(answered))["payload"] == {"text": "pong"}
        assert slack.acks == {bare: None, answered: {"text": "pong"}}
        envelope = slack.envelope(bare)
        assert envelope.type == "slash_commands" and envelope.accepts_response_payload
        assert envelope.payload["command"] == "/gateway"
        assert envelope.payload["response_url"].startswith(slack.url)
        assert envelope.ack_seconds is not None and envelope.ack_seconds < 1
        shown = slack.ephemerals()  # Slack shows a slash command's ack payload to its user
        assert [(e["text"], e["channel"], e["via"]) for e in shown] == [("pong", "C9", "ack")]

        await asyncio.to_thread(slack.send_disconnect, "refresh_requested", grace=0.5)
        assert await slack.wait_for_async(
            lambda s: len(s.socket_connections) == 2 and s.socket_connected == 1, 5
        )
        assert len(slack.calls_to("apps.connections.open")) == 2  # a fresh URL
        assert slack.socket_connections[0].sent[-1]["type"] == "disconnect"
        again = await asyncio.to_thread(slack.send_block_action, "gateway_rerun", "{}")
        assert await slack.wait_for_ack_async(again) == {"envelope_id": again}
        assert slack.envelope(again).connection == 2

        slack.socket_url_params = {"debug_reconnects": "true"}
        slack.socket_debug_reconnect_after = 0.2
        slack.socket_disconnect_grace = 0.2
        await asyncio.to_thread(slack.send_disconnect, "refresh_requested", grace=0.2)
        assert await slack.wait_for_async(lambda s: len(s.socket_connections) >= 4, 5)
        assert slack.socket_connections[2].query["debug_reconnects"] == "true"
    finally:
        await client.close()
    assert await slack.wait_for_async(lambda s: s.socket_connected == 0, 5)
    assert slack.socket_unmatched == []


# -- `gateway serve` with SLACK_APP_TOKEN ----------------------------------------------------------


class Serve:
    """`python -m bot.cli serve` in Socket Mode, in a clean environment and directory."""

    def __init__(self, slack: SlackStandIn, cwd, app_token: str = APP_TOKEN) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SLACK_", "GATEWAY_")) and k != "PORT"
        }
        env.update(
            PYTHONPATH=str(ROOT),
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_APP_TOKEN=app_token,
            SLACK_API_URL=slack.api_url,
            GATEWAY_ALLOW_PRIVATE="1",
            GATEWAY_TIMEOUT="3",
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output = ""

    def stop(self, within: float = 5.0) -> tuple[int | None, float]:
        """SIGTERM; the exit status (None if it had to be killed) and how long it took."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.output, _ = self.proc.communicate(timeout=within)
            code = self.proc.returncode
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.output, _ = self.proc.communicate()
            code = None
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def site():
    with serve(Behaviour.STATUS, status=502) as server:
        yield server


def tops(slack: SlackStandIn) -> list[dict]:
    return [m for m in slack.messages().values() if not m["thread_ts"]]


def verdict_done(slack: SlackStandIn, index: int) -> bool:
    messages = tops(slack)
    return (
        len(messages) > index
        and "Checking" not in messages[index]["text"]
        and len(slack.thread(messages[index]["ts"])) >= 4
    )


def test_serve_in_socket_mode_checks_answers_help_reruns_and_stops_on_sigterm(
    slack, site, tmp_path
):
    bot = Serve(slack, tmp_path)
    try:
        assert slack.wait_for_socket(timeout=10), bot.proc.poll()
        opened = slack.calls_to("apps.connections.open")
        # one call to verify the token at start, one to connect
        assert [(c.token, c.token_in_header) for c in opened] == [(APP_TOKEN, True)] * 2
        assert slack.socket_connections[0].token == APP_TOKEN

        command = slack.send_slash_command(
            f"check {site.url()}",
            channel_id="C123",
            response_url=slack.response_url("cmd", channel="C123"),
        )
        assert slack.wait_for_ack(command, 3) == {"envelope_id": command}  # nothing to show
        assert slack.envelope(command).ack_seconds < 3  # Slack's deadline

        helped = slack.send_slash_command("help")
        assert slack.wait_for_ack(helped, 3)["payload"] == {"text": USAGE}  # Bolt's ack(text=…)

        assert slack.wait_for(lambda s: verdict_done(s, 0), 15), slack.calls
        first_post = slack.calls_to("chat.postMessage")[0]
        assert "Checking" in first_post.args["text"] and first_post.args["channel"] == "C123"
        verdict = tops(slack)[0]
        assert verdict["ts"] == first_post.response["ts"] and verdict["updated"] >= 1
        assert "502" in verdict["text"] + json.dumps(verdict["blocks"])
        replies = slack.thread(verdict["ts"])
        assert len(replies) >= 4 and {r["thread_ts"] for r in replies} == {verdict["ts"]}

        actions = next(b for b in verdict["blocks"] if b["type"] == "actions")
        values = {e["action_id"]: e["value"] for e in actions["elements"]}
        click = slack.send_block_action(
            "gateway_rerun",
            values["gateway_rerun"],
            channel_id="C123",
            message_ts=verdict["ts"],
            message_blocks=verdict["blocks"],
        )
        assert slack.wait_for_ack(click, 3) == {"envelope_id": click}
        assert slack.wait_for(lambda s: verdict_done(s, 1), 15), slack.calls
        assert "502" in tops(slack)[1]["text"]
        assert {c.token for c in slack.calls if c.method != "apps.connections.open"} == {BOT_TOKEN}
        assert [c for c in slack.calls if c.response.get("ok") is False] == []
        assert slack.socket_unmatched == []

        code, took = bot.stop()
    finally:
        bot.kill()
    assert code == 0 and took < 5, (code, took, bot.output[-3000:])
    assert "Traceback" not in bot.output, bot.output[-3000:]
    assert slack.socket_connected == 0


def test_serve_reconnects_when_slack_refreshes_the_connection(slack, tmp_path):
    bot = Serve(slack, tmp_path)
    try:
        assert slack.wait_for_socket(timeout=10), bot.proc.poll()
        # Slack warns before it closes a connection; the SDK moves at once on either message
        for count, reason in ((2, "warning"), (3, "refresh_requested")):
            slack.send_disconnect(reason, grace=1.0)
            assert slack.wait_for(
                lambda s, n=count: len(s.socket_connections) == n and s.socket_connected == 1, 5
            ), reason
        # the start-up token check, then a fresh URL for each connection
        assert len(slack.calls_to("apps.connections.open")) == 4
        helped = slack.send_slash_command("help")
        assert slack.wait_for_ack(helped, 3)["payload"]["text"] == USAGE
        assert slack.envelope(helped).connection == 3
        code, took = bot.stop()
    finally:
        bot.kill()
    assert code == 0 and took < 5, (code, took, bot.output[-3000:])


def test_a_refused_app_token_is_said_in_one_line_at_start(slack, tmp_path):
    bot = Serve(slack, tmp_path, app_token="xoxb-pasted-the-wrong-token")
    try:
        output, _ = bot.proc.communicate(timeout=20)
    finally:
        bot.kill()
    assert bot.proc.returncode == 2
    assert "gateway: Slack refused SLACK_APP_TOKEN: not_allowed_token_type" in output
    assert "Traceback" not in output
    assert len(slack.calls_to("apps.connections.open")) == 1  # no endless retrying


def test_a_refused_bot_token_is_said_in_one_line_at_start(slack, tmp_path):
    slack.fail_next("auth.test", "invalid_auth")
    bot = Serve(slack, tmp_path)
    try:
        output, _ = bot.proc.communicate(timeout=20)
    finally:
        bot.kill()
    assert bot.proc.returncode == 2
    assert "gateway: Slack refused SLACK_BOT_TOKEN: invalid_auth" in output
