"""The two ways to run the bot, as a person starts them: `gateway shell` and `gateway serve`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import yaml

from tests.conftest import ROOT
from tests.servers.misbehave import Behaviour, serve
from tests.servers.proxies import free_port
from tests.slack.signing import SIGNING_SECRET, signed_headers, slash_command_body
from tests.slack.stand_in import SlackStandIn


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "GATEWAY_")) and k != "PORT"
    }
    env.update(extra)
    return env


def post_once_serving(url: str, body: str, within: float = 20.0) -> httpx.Response:
    """POST a signed Slack request as soon as `gateway serve` accepts connections."""
    deadline = time.monotonic() + within
    while True:
        try:
            return httpx.post(url, content=body, headers=signed_headers(body), timeout=5)
        except httpx.ConnectError:
            assert time.monotonic() < deadline, "gateway serve did not start"
            time.sleep(0.2)


def test_the_shell_shows_the_verdict_and_the_threaded_explanation(tmp_path):
    with serve(
        Behaviour.STATUS,
        status=502,
        headers=(("Server", "nginx/1.22.1"),),
        body="<hr><center>nginx/1.22.1</center>",
    ) as site:
        lines = f"/gateway check {site.url()}\n/click 3\n/quit\n"
        proc = subprocess.run(
            [sys.executable, "-m", "bot.cli", "shell"],
            input=lines,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env=clean_env(PYTHONPATH=str(ROOT), COLUMNS="200"),
        )
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr
    assert "Checking" in out and "(edited)" in out
    assert "nginx answered 502" in out
    for part in (
        "in the thread of #1",
        "What was checked",
        "Likely causes",
        "What the site owner should do",
        "What a visitor",
        "[1] Re-run",
    ):
        assert part in out, part
    assert "only you can see this" in out  # the visitor advice, pressed with /click 3


def test_serve_without_a_token_says_what_to_set(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        env=clean_env(PYTHONPATH=str(ROOT)),
    )
    assert proc.returncode == 2
    assert "SLACK_BOT_TOKEN is not set" in proc.stderr and "Traceback" not in proc.stderr


def test_serve_in_http_mode_reads_dotenv_and_answers_a_signed_command(tmp_path):
    port = free_port()
    with SlackStandIn() as slack, serve(Behaviour.STATUS, status=504) as site:
        (tmp_path / ".env").write_text(
            f"SLACK_BOT_TOKEN=xoxb-from-dotenv\nSLACK_SIGNING_SECRET={SIGNING_SECRET}\n"
            f"PORT={port}\nSLACK_API_URL={slack.api_url}\nGATEWAY_ALLOW_PRIVATE=1\n"
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve"],
            cwd=tmp_path,
            env=clean_env(PYTHONPATH=str(ROOT)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            body = slash_command_body(
                f"check {site.url()}", response_url=slack.response_url("cmd", channel="C123")
            )
            answer = post_once_serving(f"http://127.0.0.1:{port}/slack/events", body)
            assert answer.status_code == 200
            assert slack.wait_for(lambda s: len(s.calls_to("chat.postMessage")) >= 5, 20)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
    calls = slack.calls_to("chat.postMessage")
    assert calls[0].token == "xoxb-from-dotenv"
    verdict = next(m for m in slack.messages().values() if not m["thread_ts"])
    assert "upstream_timeout" in verdict["text"]


def test_the_manifest_is_a_socket_mode_app_with_only_the_scopes_it_uses():
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert manifest["display_information"]["name"] == "gateway"
    command = manifest["features"]["slash_commands"][0]
    assert command["command"] == "/gateway"
    assert command["description"] and command["usage_hint"]
    assert "url" not in command  # Socket Mode manifests carry no URLs
    # `notify @group @person` arrives as IDs (<!subteam^S…>, <@U…>) only when escaped
    assert command["should_escape"] is True
    home = manifest["features"]["app_home"]
    assert home["home_tab_enabled"] is True and home["messages_tab_enabled"] is False
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == [
        "channels:history",  # to find an alert a crash posted without its ts (README)
        "channels:read",  # Home and the modal: whether a channel is public
        "chat:write",
        "chat:write.public",
        "commands",
        "files:write",  # the postmortem draft attached to an incident's thread (timeline)
        "groups:history",
        "groups:read",  # who is in a private channel (a watch's own people)
    ]
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    assert "request_url" not in settings["interactivity"]
    assert settings["event_subscriptions"] == {"bot_events": ["app_home_opened"]}


def test_serve_watches_alerts_and_takes_an_acknowledgement(tmp_path):
    from tests.slack.signing import block_actions_body

    port = free_port()
    with SlackStandIn() as slack, serve(Behaviour.STATUS, status=502) as site:
        env = clean_env(
            PYTHONPATH=str(ROOT),
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            PORT=str(port),
            SLACK_API_URL=slack.api_url,
            GATEWAY_ALLOW_PRIVATE="1",
            GATEWAY_MIN_INTERVAL="0.2",
            GATEWAY_TIMEOUT="2",
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        url = f"http://127.0.0.1:{port}/slack/events"
        try:
            body = slash_command_body(
                f"watch {site.url()} every 0.3s",
                response_url=slack.response_url("w", channel="C123"),
            )
            post_once_serving(url, body)

            def alert(s):
                return next(
                    (
                        m
                        for m in s.messages().values()
                        if not m["thread_ts"] and "is down" in m["text"]
                    ),
                    None,
                )

            assert slack.wait_for(alert, 20)
            message = alert(slack)
            ack = next(
                e
                for b in message["blocks"]
                if b["type"] == "actions"
                for e in b["elements"]
                if e["action_id"] == "gateway_ack"
            )
            click = block_actions_body(
                "gateway_ack",
                ack["value"],
                channel_id="C123",
                message_ts=message["ts"],
                user_id="U777",
                response_url=slack.response_url("a", channel="C123"),
            )
            answer = httpx.post(url, content=click, headers=signed_headers(click), timeout=5)
            assert answer.status_code == 200
            assert slack.wait_for(
                lambda s: "acknowledged by <@U777>" in str(s.messages()[message["ts"]]["blocks"]),
                10,
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)
    assert (tmp_path / "gateway.sqlite3").exists()  # the default database, where it runs
    assert (
        len([m for m in slack.messages().values() if not m["thread_ts"] and "is down" in m["text"]])
        == 1
    )
