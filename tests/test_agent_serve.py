"""`gateway serve` (HTTP mode) with agents enrolled, all real processes: the agents reach the
bot on PORT, `/gateway agents` lists them, `check … from all` answers side by side."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from bot.agents import keys
from tests.conftest import ROOT
from tests.servers.agents import AgentProcess, keypair
from tests.servers.misbehave import Behaviour, serve
from tests.servers.proxies import free_port
from tests.slack.signing import SIGNING_SECRET, slash_command_body
from tests.slack.stand_in import SlackStandIn
from tests.test_run_modes import clean_env, post_once_serving


def test_serve_hosts_the_agents_on_its_port(tmp_path):
    port = free_port()
    bot_key, bot_public = keypair(tmp_path, "bot")
    west_key, west_public = keypair(tmp_path, "west")
    _, never_public = keypair(tmp_path, "never")  # enrolled, never runs
    rogue_key, _ = keypair(tmp_path, "rogue")  # runs, never enrolled
    env = clean_env(
        PYTHONPATH=str(ROOT),
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        PORT=str(port),
        GATEWAY_ALLOW_PRIVATE="1",
        GATEWAY_TIMEOUT="2",
        GATEWAY_AGENTS=f"west={west_public},sleepy={never_public}",
        GATEWAY_AGENT_KEY=bot_key,
    )
    url = f"http://127.0.0.1:{port}"
    with SlackStandIn() as slack, serve(Behaviour.OK) as site:
        env["SLACK_API_URL"] = slack.api_url
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        agents = [
            AgentProcess(url, bot_public, "west", west_key, "--allow-private", log_dir=tmp_path,
                         place="Oregon"),
            AgentProcess(url, bot_public, "rogue", rogue_key, log_dir=tmp_path),
        ]  # fmt: skip
        try:
            body = slash_command_body(
                "agents", response_url=slack.response_url("a", channel="C123")
            )
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # until west has polled once
                post_once_serving(f"{url}/slack/events", body)
                if slack.wait_for(
                    lambda s: any(
                        "Oregon" in str(c.args) for c in s.calls_to("chat.postEphemeral")
                    ),
                    1,
                ):
                    break
            listed = str(slack.calls_to("chat.postEphemeral")[-1].args)
            body = slash_command_body(
                f"check {site.url()} from all", response_url=slack.response_url("c", channel="C1")
            )
            post_once_serving(f"{url}/slack/events", body)
            assert slack.wait_for(
                lambda s: any("From every place" in str(m) for m in s.messages().values()), 30
            ), [a.log()[-500:] for a in agents]
        finally:
            for agent in agents:
                agent.close()
            bot.send_signal(signal.SIGTERM)
            bot.wait(15)
    assert "west" in listed and "Oregon" in listed and "sleepy" in listed
    assert "never seen" in listed and "rogue" not in listed
    text = "".join(str(m) for m in slack.messages().values())
    assert "up from everywhere" in text
    assert "sleepy" in text and "unknown" in text  # enrolled, silent: unknown, never down
    assert "401" in agents[1].log()


def _socket_mode_env(slack, tmp_path, **extra: str) -> dict[str, str]:
    bot_key, _ = keypair(tmp_path, "bot")
    _, west_public = keypair(tmp_path, "west")
    return clean_env(
        PYTHONPATH=str(ROOT),
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_APP_TOKEN="xapp-1-A1-test",
        SLACK_API_URL=slack.api_url,
        GATEWAY_ALLOW_PRIVATE="1",
        GATEWAY_AGENTS=f"west={west_public}",
        GATEWAY_AGENT_KEY=bot_key,
        **extra,
    )


def test_socket_mode_hosts_the_agents_on_gateway_agent_port(tmp_path):
    agent_port = free_port()
    with SlackStandIn() as slack:
        env = _socket_mode_env(slack, tmp_path, GATEWAY_AGENT_PORT=str(agent_port))
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        bot_public = keys.public_text(keys.load_private(tmp_path / "bot.key").public_key())
        assert slack.wait_for_socket(timeout=20), bot.poll()  # the agents' port is up first
        agent = AgentProcess(
            f"http://127.0.0.1:{agent_port}",
            bot_public,
            "west",
            str(tmp_path / "west.key"),
            "--allow-private",
            log_dir=tmp_path,
            place="Dublin",
        )
        try:
            listed = ""
            for _ in range(10):
                time.sleep(1.0)  # the agent's first poll
                slack.send_slash_command("agents")
                slack.wait_for(lambda s: bool(s.calls_to("chat.postEphemeral")), 5)
                listed = str(slack.calls_to("chat.postEphemeral")[-1].args)
                if "Dublin" in listed:
                    break
        finally:
            agent.close()
            bot.send_signal(signal.SIGTERM)
            try:
                output, _ = bot.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                bot.kill()
                output, _ = bot.communicate()
    assert "west" in listed and "Dublin" in listed, output[-3000:]
    assert bot.returncode == 0, output[-3000:]


def test_socket_mode_without_an_agent_port_is_one_line(tmp_path):
    with SlackStandIn() as slack:
        proc = subprocess.run(
            [sys.executable, "-m", "bot.cli", "serve"],
            cwd=tmp_path,
            env=_socket_mode_env(slack, tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2, proc.stderr
    assert "GATEWAY_AGENT_PORT is not set" in proc.stderr and "Traceback" not in proc.stderr
