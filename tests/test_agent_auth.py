"""Every refusal: requests the bot's hub refuses, jobs a real agent refuses, and egress the
agent's own guard refuses. Each one leaves the target untouched."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import pytest

from bot.agents import keys, protocol
from bot.agents.protocol import Job
from bot.agents.store import utc
from tests.servers.agents import AgentLab
from tests.servers.dns_server import DnsServer
from tests.servers.misbehave import Behaviour, serve
from tests.slack.stand_in import SlackStandIn


@pytest.fixture
def slack():
    with SlackStandIn() as stand_in:
        yield stand_in


async def _post(lab: AgentLab, name: str, key_path: str, body: bytes, **override) -> httpx.Response:
    headers = protocol.sign_request(
        keys.load_private(key_path),
        name,
        "POST",
        "/agent/v1/poll",
        body,
        override.pop("now", time.time()),
    )
    headers.update(override)
    async with httpx.AsyncClient(base_url=lab.url) as client:
        return await client.post("/agent/v1/poll", content=body, headers=headers)


async def test_the_hub_refuses_what_is_not_an_enrolled_agents_fresh_signed_request(slack, tmp_path):
    lab = await AgentLab(slack, tmp_path, ("east",)).start()
    east_key = lab.keys["east"][0]
    body = json.dumps({"version": "1", "place": "x", "wait": 0}).encode()
    try:
        ok = await _post(lab, "east", east_key, body)
        signed = protocol.sign_request(
            keys.load_private(east_key), "east", "POST", "/agent/v1/poll", body, time.time()
        )
        async with httpx.AsyncClient(base_url=lab.url) as client:
            first = await client.post("/agent/v1/poll", content=body, headers=signed)
            replayed = await client.post("/agent/v1/poll", content=body, headers=signed)
            tampered = await client.post(
                "/agent/v1/poll",
                content=body.replace(b'"x"', b'"y"'),
                headers={**signed, "X-Gateway-Nonce": protocol.new_nonce()},
            )
            unsigned = await client.post("/agent/v1/poll", content=body)
        mallory_key = tmp_path / "mallory.key"
        keys.generate(mallory_key)
        unknown = await _post(lab, "mallory", str(mallory_key), body)
        impostor = await _post(lab, "east", str(mallory_key), body)
        stale = await _post(lab, "east", east_key, body, now=time.time() - 600)
        contacts = await lab.hub.contacts()
    finally:
        await lab.stop()
    assert ok.status_code == 200 and first.status_code == 200
    refusals = {
        "replayed": replayed,
        "bad_signature": tampered,
        "unsigned": unsigned,
        "unknown_agent": unknown,
        "stale": stale,
    }
    for reason, response in refusals.items():
        assert response.status_code == 401, reason
        assert response.json()["error"] == reason
    assert impostor.status_code == 401 and impostor.json()["error"] == "bad_signature"
    assert [c.agent for c in contacts] == ["east"]


def _job(agent: str, url: str, **changes) -> Job:
    now = time.time()
    values = dict(
        id=uuid.uuid4().hex,
        agent=agent,
        target=url,
        timeout=2.0,
        samples=1,
        issued=now,
        expires=now + 30,
        nonce=protocol.new_nonce(),
    )
    values.update(changes)
    return Job(**values)


async def test_a_real_agent_refuses_forged_tampered_expired_replayed_and_foreign_jobs(
    slack, tmp_path
):
    lab = await AgentLab(slack, tmp_path, ("east", "west")).start()
    bot = keys.load_private(lab.bot_key)
    keys.generate(tmp_path / "forger.key")
    forger = keys.load_private(tmp_path / "forger.key")
    try:
        with serve(Behaviour.OK) as target, serve(Behaviour.OK) as replay_target:
            west = lab.agent("west", "--allow-private")
            await lab.until_polled("west")
            url = target.url()
            once = protocol.sign_job(bot, _job("west", replay_target.url()))
            tampered = protocol.sign_job(bot, _job("west", "http://127.0.0.1:1/"))
            tampered["payload"] = tampered["payload"].replace("http://127.0.0.1:1/", url)
            cases = [
                protocol.sign_job(forger, _job("west", url)),  # bad_signature
                tampered,  # bad_signature: a row changed in the database
                protocol.sign_job(bot, _job("west", url, expires=time.time() - 5)),  # expired
                protocol.sign_job(bot, _job("east", url)),  # foreign: east's job, west's queue
                once,
                once,  # replayed
            ]
            now = utc(time.time())
            rows = [
                (uuid.uuid4().hex, "west", c["payload"], c["signature"], now, utc(time.time() + 30))
                for c in cases
            ]
            await lab.hub.store.add_jobs(rows)  # as a tampered database or a proxy would
            for _ in range(100):
                if west.log().count("job refused") >= 5 and replay_target.requests:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
            hits, replay_hits = len(target.requests), len(replay_target.requests)
    finally:
        await lab.stop()
    log = west.log()
    assert log.count("job refused: bad_signature") == 2, log
    assert "job refused: expired" in log and "job refused: foreign" in log
    assert "job refused: replayed" in log
    assert hits == 0 and replay_hits == 1  # the replayed job ran once, the others never


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("http://127.0.0.1:{port}/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://metadata.google.internal/", "metadata"),
        ("http://inside.test:{port}/", "private"),
        ("http://mixed.test:{port}/", "private"),
    ],
)
async def test_an_agent_without_allow_private_refuses_private_egress(slack, tmp_path, target, says):
    with serve(Behaviour.OK) as site, DnsServer() as dns:
        dns.add_a("inside.test", "10.1.2.3")
        dns.add_a("mixed.test", "203.0.113.7", "127.0.0.1")  # rebinding: all or nothing
        lab = await AgentLab(slack, tmp_path, ("east",)).start()
        try:
            lab.agent("east", "--resolver", dns.address)  # no --allow-private
            await lab.until_polled("east")
            places = await lab.hub.ask(["east"], target.format(port=site.port), 2.0, 1)
        finally:
            await lab.stop()
        assert site.requests == []
    assert places[0].status == "refused" and says in places[0].summary


async def test_bodies_are_read_whole_and_capped(slack, tmp_path):
    """A 300 KB answer arrives in many pieces and is verified whole; past the caps, 413."""
    lab = await AgentLab(slack, tmp_path, ("east",)).start()
    key = keys.load_private(lab.keys["east"][0])

    async def post(path: str, data: dict) -> httpx.Response:
        body = json.dumps(data).encode()
        headers = protocol.sign_request(key, "east", "POST", path, body, time.time())
        async with httpx.AsyncClient(base_url=lab.url) as client:
            return await client.post(path, content=body, headers=headers)

    try:
        big = await post("/agent/v1/result", {"job": "nope", "result": {"pad": "x" * 300_000}})
        huge = await post("/agent/v1/result", {"job": "nope", "result": {"pad": "x" * 600_000}})
        long_poll = await post("/agent/v1/poll", {"wait": 0, "place": "x" * 5000})
    finally:
        await lab.stop()
    assert big.status_code == 404  # signed, read whole, verified: only the job is unknown
    assert huge.status_code == 413 and long_poll.status_code == 413
