"""Agents end to end: real `gateway agent run` processes on loopback, the bot's hub, Slack.

Places differ by what they resolve: each agent has its own DNS server (or a dead one),
as agents in other regions or inside a VPC would.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time

import httpx
import pytest

from bot.agents import keys, protocol
from tests.conftest import run_cli
from tests.servers.agents import AgentLab
from tests.servers.dns_server import DnsServer
from tests.servers.misbehave import Behaviour, closed_port, serve
from tests.slack.stand_in import SlackStandIn


@pytest.fixture
def slack():
    with SlackStandIn() as stand_in:
        yield stand_in


def test_keygen_writes_a_private_key_only_its_owner_reads_and_prints_the_public_key(tmp_path):
    result = run_cli("agent", "keygen", str(tmp_path / "west.key"))
    assert result.code == 0
    public = result.stdout.strip()
    assert public.startswith("ed25519:") and len(public) == len("ed25519:") + 44
    assert stat.S_IMODE(os.stat(tmp_path / "west.key").st_mode) == 0o600
    again = run_cli("agent", "keygen", str(tmp_path / "west.key"))
    assert again.code == 2 and "never overwrites" in again.stderr


async def _ask(lab: AgentLab, text: str) -> str:
    await lab.command(text)
    await lab.until(
        lambda: any("From every place" in str(m) for m in lab.slack.messages().values())
    )
    tops = [m for m in lab.tops() if "everywhere" in str(m) or "from" in m["text"]]
    top = tops[-1]
    thread = lab.slack.thread(top["ts"])
    return top["text"] + str(top["blocks"]) + "".join(str(r) for r in thread)


async def test_failing_from_west_fine_from_here_and_east(slack, tmp_path):
    with serve(Behaviour.OK) as site, DnsServer() as good:
        good.add_a("site.test", "127.0.0.1")
        lab = await AgentLab(
            slack, tmp_path, ("east", "west"), GATEWAY_RESOLVERS=good.address
        ).start()
        try:
            lab.agent("east", "--allow-private", "--resolver", good.address, place="Frankfurt")
            dead = f"127.0.0.1:{closed_port()}"  # nothing answers DNS there
            lab.agent("west", "--allow-private", "--resolver", dead, place="Oregon")
            await lab.until_polled("east", "west")
            text = await _ask(lab, f"check http://site.test:{site.port}/ from all")
        finally:
            await lab.stop()
    assert "failing from west, fine from here, east" in text
    assert "dns_timeout" in text  # west's own cause, side by side


async def test_down_from_everywhere(slack, tmp_path):
    port = closed_port()
    lab = await AgentLab(slack, tmp_path, ("east", "west")).start()
    try:
        lab.agent("east", "--allow-private")
        lab.agent("west", "--allow-private")
        await lab.until_polled("east", "west")
        text = await _ask(lab, f"check http://127.0.0.1:{port}/ from east,west")
    finally:
        await lab.stop()
    assert "down from everywhere" in text and text.count("tcp_refused") >= 3


async def test_down_from_here_only(slack, tmp_path):
    with serve(Behaviour.OK) as site, DnsServer() as good, DnsServer() as wrong:
        good.add_a("site.test", "127.0.0.1")
        wrong.add_a("site.test", "127.0.0.9")  # here, the name leads where nothing listens
        lab = await AgentLab(slack, tmp_path, ("east",), GATEWAY_RESOLVERS=wrong.address).start()
        try:
            lab.agent("east", "--allow-private", "--resolver", good.address)
            await lab.until_polled("east")
            text = await _ask(lab, f"check http://site.test:{site.port}/ from all")
        finally:
            await lab.stop()
    assert "down from here only" in text


async def test_agents_lists_place_version_and_contact_and_never_an_unenrolled_key(slack, tmp_path):
    lab = await AgentLab(slack, tmp_path, ("east",)).start()
    try:
        lab.agent("east", place="Frankfurt <!channel>")
        rogue_key = str(tmp_path / "rogue.key")
        keys.generate(rogue_key)
        rogue = lab.agent("mallory", key=rogue_key)  # a key the operator never enrolled
        impostor = lab.agent("east", key=rogue_key)  # an enrolled name with the wrong key
        await lab.until_polled("east")
        await asyncio.sleep(1.5)  # time for the rogues to try
        await lab.command("agents")
        await lab.until(lambda: lab.ephemerals())
        listed = lab.ephemerals()[-1]
        contacts = await lab.hub.contacts()
    finally:
        await lab.stop()
    assert "east" in listed and "Frankfurt" in listed and "last contact" in listed
    assert "version" in listed
    assert "<!channel>" not in listed
    assert "mallory" not in listed and [c.agent for c in contacts] == ["east"]
    assert "401" in rogue.log() and "401" in impostor.log()


async def _hostile_agent(lab: AgentLab, name: str) -> None:
    """An enrolled agent gone bad: it answers its job with text meant to hurt."""
    key = keys.load_private(lab.keys[name][0])
    bot = keys.parse_public(lab.bot_public)
    seen = protocol.SeenNonces()

    async def post(client: httpx.AsyncClient, path: str, data: dict) -> httpx.Response:
        body = json.dumps(data).encode()
        headers = protocol.sign_request(key, name, "POST", path, body, time.time())
        return await client.post(path, content=body, headers=headers)

    async with httpx.AsyncClient(base_url=lab.url, timeout=30) as client:
        while True:
            jobs = (await post(client, "/agent/v1/poll", {"wait": 5})).json()["jobs"]
            for signed in jobs:
                job = protocol.open_job(bot, signed, name, time.time(), seen)
                result = {
                    "verdict": {
                        "status": "down",
                        "cause": "<!channel> not_a_cause",
                        "summary": "<!channel> <https://evil.example|click> @here " + "x" * 5000,
                    },
                    "gateway": {"product": "<!here>"},
                    "http": {
                        "status": "502",
                        "attempts": [{"headers": [["cf-ray", "abc-<!channel>"]]}],
                    },
                }
                await post(client, "/agent/v1/result", {"job": job.id, "result": result})
                return


async def test_an_agents_answer_is_hostile_input_escaped_and_bounded(slack, tmp_path):
    with serve(Behaviour.OK) as site:
        lab = await AgentLab(slack, tmp_path, ("east",)).start()
        try:
            bad = asyncio.create_task(_hostile_agent(lab, "east"))
            await asyncio.sleep(0.3)
            text = await _ask(lab, f"check http://127.0.0.1:{site.port}/ from east")
            await asyncio.wait_for(bad, 10)
        finally:
            await lab.stop()
    assert "failing from east, fine from here" in text
    assert "<!channel>" not in text and "<!here>" not in text
    assert "<https://evil.example" not in text and "not_a_cause" not in text
    assert "x" * 400 not in text  # clipped


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["agent"], "agent takes keygen PATH or run"),
        (["agent", "run", "--bot", "http://x"], "required"),
        (
            ["agent", "run", "--bot", "ftp://x", "--bot-key", "k", "--name", "w", "--key", "k"],
            "--bot takes the bot's http(s) URL",
        ),
        (
            ["agent", "run", "--bot", "http://x", "--bot-key", "nope", "--name", "w", "--key", "k"],
            "ed25519:BASE64",
        ),
        (
            ["agent", "run", "--bot", "http://x", "--bot-key", "k", "--name", "W!", "--key", "k"],
            "--name",
        ),
    ],
)
def test_an_unusable_agent_command_is_one_line(args, says):
    result = run_cli(*args)
    assert result.code == 2 and says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
