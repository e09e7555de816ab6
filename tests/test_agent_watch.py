"""A watch's failure confirmed from the agents before it alerts; silence noticed."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from prometheus_client import REGISTRY

from bot.agents import keys, protocol
from bot.agents.hub import SILENT_AFTER
from tests.servers.agents import AgentLab
from tests.servers.dns_server import DnsServer
from tests.servers.misbehave import Behaviour, closed_port, serve
from tests.slack.stand_in import SlackStandIn
from tests.test_watch import text_of


@pytest.fixture
def slack():
    with SlackStandIn() as stand_in:
        yield stand_in


async def test_down_from_here_only_is_one_quiet_note_and_no_page(slack, tmp_path):
    with serve(Behaviour.OK) as site, DnsServer() as good, DnsServer() as wrong:
        good.add_a("site.test", "127.0.0.1")
        wrong.add_a("site.test", "127.0.0.9")  # from here the name leads nowhere
        lab = await AgentLab(slack, tmp_path, ("east",), GATEWAY_RESOLVERS=wrong.address).start()
        try:
            lab.agent("east", "--allow-private", "--resolver", good.address)
            await lab.until_polled("east")
            await lab.command(f"watch http://site.test:{site.port}/ every 0.3s after 1")
            await lab.until(lambda: any("from here only" in m["text"] for m in lab.tops()))
            await asyncio.sleep(2.0)  # several more failed checks, each confirmed again
            notes = [m for m in lab.tops() if "from here only" in m["text"]]
            alerts = lab.alerts()
        finally:
            await lab.stop()
    assert len(notes) == 1 and "nobody is paged" in notes[0]["text"]
    assert alerts == []


async def test_a_failure_confirmed_from_everywhere_alerts_and_says_so(slack, tmp_path):
    port = closed_port()
    lab = await AgentLab(slack, tmp_path, ("east", "west")).start()
    try:
        lab.agent("east", "--allow-private")
        lab.agent("west", "--allow-private")
        await lab.until_polled("east", "west")
        await lab.command(f"watch http://127.0.0.1:{port}/ every 0.3s after 1")
        await lab.until(lambda: lab.alerts())
        alert = text_of(lab.alerts()[0])
    finally:
        await lab.stop()
    assert "down from everywhere" in alert


async def test_an_agent_that_misses_the_deadline_is_unknown_never_down(slack, tmp_path):
    """east never runs its job (it is not running): the bot's own view stands, so it alerts."""
    port = closed_port()
    lab = await AgentLab(slack, tmp_path, ("east",), GATEWAY_TIMEOUT="1").start()
    try:
        await lab.command(f"watch http://127.0.0.1:{port}/ every 0.3s after 1")
        await lab.until(lambda: lab.alerts(), timeout=30)
        alert = text_of(lab.alerts()[0])
    finally:
        await lab.stop()
    assert "no agent answered in time" in alert


async def test_a_silent_agent_is_told_once_and_measured(slack, tmp_path):
    lab = await AgentLab(slack, tmp_path, ("east", "west")).start()
    site = serve(Behaviour.OK)
    try:
        await lab.command(f"watch {site.url()} every 60s")  # a channel whose alerts wait on agents
        body = json.dumps({"version": "9", "place": "lab", "wait": 0}).encode()
        headers = protocol.sign_request(
            keys.load_private(lab.keys["east"][0]),
            "east",
            "POST",
            "/agent/v1/poll",
            body,
            time.time(),
        )
        async with httpx.AsyncClient(base_url=lab.url) as client:
            assert (await client.post("/agent/v1/poll", content=body, headers=headers)).is_success
        assert await lab.hub.check_silence() == []
        seen = REGISTRY.get_sample_value("gateway_agent_last_seen_seconds", {"agent": "east"})
        never = REGISTRY.get_sample_value("gateway_agent_last_seen_seconds", {"agent": "west"})
        real = lab.hub.clock
        lab.hub.clock = lambda: real() + SILENT_AFTER + 5
        first, second = await lab.hub.check_silence(), await lab.hub.check_silence()
        late = REGISTRY.get_sample_value("gateway_agent_last_seen_seconds", {"agent": "east"})
        notices = [m["text"] for m in lab.tops() if "has not polled" in m["text"]]
    finally:
        await lab.stop()
        site.close()
    assert seen is not None and 0 <= seen < 5 and never == -1
    assert first == ["east"] and second == []
    assert late is not None and late > SILENT_AFTER
    assert len(notices) == 1 and "The agent east has not polled" in notices[0]
