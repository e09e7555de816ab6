"""The agent protocol, pure: what is accepted, and each refusal with its reason."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.agents import protocol
from bot.agents.places import Place, from_answer, headline, pop_of
from bot.agents.protocol import Job, Refused, SeenNonces

BOT = Ed25519PrivateKey.generate()
AGENT = Ed25519PrivateKey.generate()
NOW = 1_800_000_000.0


def job(**changes) -> Job:
    values = dict(
        id="j1",
        agent="west",
        target="https://site.test/",
        timeout=5.0,
        samples=3,
        issued=NOW,
        expires=NOW + 30,
        nonce="0" * 32,
    )
    values.update(changes)
    return Job(**values)


def test_a_good_job_opens_once():
    seen = SeenNonces()
    signed = protocol.sign_job(BOT, job())
    assert protocol.open_job(BOT.public_key(), signed, "west", NOW, seen) == job()
    with pytest.raises(Refused) as again:
        protocol.open_job(BOT.public_key(), signed, "west", NOW + 1, seen)
    assert again.value.reason == "replayed"


@pytest.mark.parametrize(
    ("signed", "reason"),
    [
        (protocol.sign_job(Ed25519PrivateKey.generate(), job()), "bad_signature"),
        (protocol.sign_job(BOT, job(agent="east")), "foreign"),
        (protocol.sign_job(BOT, job(expires=NOW - 1)), "expired"),
        (protocol.sign_job(BOT, job(expires=NOW + 10_000)), "malformed"),
        (protocol.sign_job(BOT, job(timeout=600.0)), "malformed"),
        (protocol.sign_job(BOT, job(nonce="short")), "malformed"),
        ({"payload": 1, "signature": "x"}, "malformed"),
        ("not a job", "malformed"),
    ],
)
def test_each_refusal_of_a_job(signed, reason):
    with pytest.raises(Refused) as refused:
        protocol.open_job(BOT.public_key(), signed, "west", NOW, SeenNonces())
    assert refused.value.reason == reason


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0), st.integers(min_value=1, max_value=255))
def test_any_changed_byte_of_a_signed_job_is_refused(position, flip):
    signed = protocol.sign_job(BOT, job())
    payload = bytearray(signed["payload"].encode())
    payload[position % len(payload)] ^= flip
    tampered = {"payload": payload.decode("latin-1"), "signature": signed["signature"]}
    with pytest.raises(Refused):
        protocol.open_job(BOT.public_key(), tampered, "west", NOW, SeenNonces())


def test_a_request_is_verified_against_the_enrolled_key_and_the_clock():
    body = b'{"wait": 0}'
    headers = protocol.sign_request(AGENT, "west", "POST", "/agent/v1/poll", body, NOW)
    enrolled = {"west": AGENT.public_key()}
    caller = protocol.verify_request(enrolled, headers, "POST", "/agent/v1/poll", body, NOW + 5)
    assert caller.name == "west"
    cases = {
        "bad_signature": (enrolled, headers, "/agent/v1/result", body, NOW),
        "stale": (enrolled, headers, "/agent/v1/poll", body, NOW + 3600),
        "unknown_agent": ({}, headers, "/agent/v1/poll", body, NOW),
    }
    for reason, (keys_, heads, path, data, now) in cases.items():
        with pytest.raises(Refused) as refused:
            protocol.verify_request(keys_, heads, "POST", path, data, now)
        assert refused.value.reason == reason


@pytest.mark.parametrize(
    ("places", "says"),
    [
        ([("here", "down"), ("west", "down"), ("east", "down")], "down from everywhere"),
        ([("here", "down"), ("west", "healthy")], "down from here only"),
        (
            [("here", "healthy"), ("west", "down"), ("east", "healthy")],
            "failing from west, fine from here, east",
        ),
        ([("here", "down"), ("west", "unknown")], "no agent answered in time"),
        ([("here", "down"), ("west", "unknown"), ("east", "healthy")], "down from here only"),
        ([("here", "healthy"), ("west", "healthy")], "up from everywhere"),
    ],
)
def test_the_headline_across_places(places, says):
    assert headline([Place(name, status) for name, status in places]).startswith(says)


@pytest.mark.parametrize(
    ("headers", "pop"),
    [
        ([("CF-RAY", "8a1b2c3d4e5f6a7b-AMS")], "AMS"),
        ([("x-amz-cf-pop", "FRA56-P1")], "FRA56"),
        ([("X-Served-By", "cache-lhr7380-LHR, cache-fra1-FRA")], "LHR"),
        ([("cf-ray", "abc-<!channel>")], None),
        ([("server", "nginx")], None),
    ],
)
def test_the_point_of_presence_a_cdn_names(headers, pop):
    assert pop_of(headers) == pop


def test_an_answer_that_is_not_a_verdict_is_unknown_never_down():
    for text in (None, "not json", "[]", '{"verdict": {"status": "on fire"}}'):
        assert from_answer("west", text, ["tcp_refused"], ["nginx"]).status == "unknown"


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"GATEWAY_AGENTS": "west"}, "write NAME=ed25519:PUBLICKEY"),
        ({"GATEWAY_AGENTS": "west=ed25519:AAAA"}, "west: the public key is not 32 bytes"),
        ({"GATEWAY_AGENTS": "West!=ed25519:AAAA"}, "lower-case letters"),
        ({"GATEWAY_AGENT_PORT": "99999"}, "GATEWAY_AGENT_PORT takes a whole number"),
        ({"GATEWAY_CONFIRM_FROM": "-1"}, "GATEWAY_CONFIRM_FROM takes a whole number"),
        ({"GATEWAY_AGENT_KEY": "/nonexistent.key"}, "GATEWAY_AGENT_KEY: /nonexistent.key"),
    ],
)
def test_an_unusable_agent_setting_is_one_line_naming_it(environ, says):
    from bot.settings import SettingsError, from_environment

    with pytest.raises(SettingsError) as problem:
        from_environment(environ)
    assert says in str(problem.value) and "\n" not in str(problem.value)


def test_agents_without_the_bots_key_are_refused_at_start():
    from bot.settings import SettingsError, from_environment

    public = protocol.keys.public_text(AGENT.public_key())
    with pytest.raises(SettingsError, match="GATEWAY_AGENT_KEY is not"):
        from_environment({"GATEWAY_AGENTS": f"west={public}"})
