"""Remote text never formats a Slack message and never reaches a terminal as control codes.

Property tests (Hypothesis) hold the escaping functions to their promise for any
text; the message tests run hostile evidence through the real renderers, and
the Slack ones through the bot, driven as Slack drives it, against a real site.
"""

from __future__ import annotations

import html
import io
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from bot.render import alerts, terminal
from bot.render.mrkdwn import code, code_block, escape, inert
from bot.render.slack import thread_messages, verdict_message
from checks.diagnose import diagnose
from checks.models import Certificate, Hop, TlsResult
from checks.text import printable
from tests.servers.misbehave import Behaviour, serve
from tests.test_diagnose import evidence, response
from tests.test_slack_bot import Bot, all_text

# Everything Slack reads as formatting, and the invisible characters that glue it on.
MARKUP = "`*_~<>&@:!#|\n\r\t\u200b\u200c\u200d\u2060\ufeff\u00ad\u202e\u2028\x1b\x85\x9b"
HOSTILE_TEXT = st.text(alphabet=st.sampled_from(MARKUP) | st.characters(), max_size=120)
_LIVE = re.compile(r"<[!@#]|<https?:|<mailto:", re.IGNORECASE)
_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")
_EMOJI = re.compile(r":[a-z0-9+'\-_]+:", re.IGNORECASE)
_BROADCAST = re.compile(r"(?<!\u200b)\b(channel|here|everyone)\b", re.IGNORECASE)


def _controls(text: str, allowed: str = "") -> list[str]:
    return [
        hex(ord(c)) for c in text if (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0) and c not in allowed
    ]


@settings(max_examples=500, deadline=None)
@given(HOSTILE_TEXT)
def test_inert_text_cannot_format_anything(text):
    out = inert(text)
    assert not set(out) & set("`*~<>\n\r")
    assert not re.search(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", out)  # only inside words
    assert not _controls(out)
    assert not _LIVE.search(out) and not _ENTITY.search(out)
    assert not _EMOJI.search(out)
    assert not out.startswith("&gt;")
    assert not re.search(r"@(channel|here|everyone)", out, re.IGNORECASE)
    assert not set(out) & set("\u200c\u200d\ufeff\u00ad\u202e\u2028")
    # what was sent is still shown: letters and digits survive in order
    assert [c for c in html.unescape(out) if c.isascii() and c.isalnum()] == [
        c for c in printable(text) if c.isascii() and c.isalnum()
    ]


@settings(max_examples=500, deadline=None)
@given(HOSTILE_TEXT)
def test_a_code_span_cannot_be_closed_or_broken_by_what_it_holds(text):
    out = code(text)
    assert out.startswith("`") and out.endswith("`") and out.count("`") == 2
    assert len(out) > 2 and "\n" not in out
    assert not set(out) & set("<>") and not _ENTITY.search(out)
    assert not _controls(out)


@settings(max_examples=300, deadline=None)
@given(st.lists(HOSTILE_TEXT, min_size=1, max_size=5))
def test_a_code_block_cannot_be_closed_by_its_lines(lines):
    out = code_block(lines)
    assert out.startswith("```") and out.endswith("```")
    assert "`" not in out[3:-3]
    assert out[3:-3].count("\n") == len(lines) - 1
    assert not set(out) & set("<>") and not _ENTITY.search(out) and not _controls(out, "\n")


@settings(max_examples=300, deadline=None)
@given(HOSTILE_TEXT)
def test_escaped_text_holds_no_live_mention_or_link(text):
    out = escape(text)
    assert not set(out) & set("<>") and not _ENTITY.search(out)
    assert not re.search(r"@(channel|here|everyone)", out, re.IGNORECASE)


@settings(max_examples=300, deadline=None)
@given(HOSTILE_TEXT)
def test_printable_text_holds_no_control_character(text):
    assert not _controls(printable(text))
    assert not _controls(printable(text, lines=True), "\n\t")
    assert not set(printable(text)) & set("\u202e\u2028\u2066")


# --- whole messages ------------------------------------------------------------------

PAYLOAD = (
    "`x` *bold* _it_ ~s~ ```pre``` \n> quote <!channel> <@U1> <http://evil|x> "
    ":rotating_light: @here a\u200b*b*\u200bc &amp; \x1b[2J \x9b31m \u202eevil"
)
FORMATTED = ("*bold*", "_it_", "~s~", "```pre", "`x`", "\n>", ":rotating_light:", "*b*")


def _hostile_diagnosis(payload: str = PAYLOAD):
    sample = response(
        502,
        body=f"<h1>502 Bad Gateway</h1><p>{payload}</p>",
        headers={"Server": payload, "Via": payload, "Location": payload},
    )
    sample = replace(
        sample,
        reason=payload,
        redirects=(Hop(url="https://site.example/", status=302, location=payload),),
    )
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    cert = Certificate(
        subject=f"CN={payload}",
        issuer=f"CN={payload}",
        sans=(payload,),
        not_before=now - timedelta(days=400),
        not_after=now - timedelta(days=1),
        self_signed=True,
    )
    tls = TlsResult(
        address="203.0.113.10",
        port=443,
        server_name="site.example",
        error=None,
        certificate=cert,
    )
    from checks.models import ErrorKind

    tls = replace(tls, error=ErrorKind.TLS_EXPIRED, detail=f"expired: {payload}")
    return diagnose(evidence(sample, sample, tls=tls))


def _mrkdwn_texts(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["text"]] if node.get("type") == "mrkdwn" else []
        return found + [t for value in node.values() for t in _mrkdwn_texts(value)]
    if isinstance(node, list):
        return [t for value in node for t in _mrkdwn_texts(value)]
    return []


def _assert_formatting_is_the_bots_own(texts: list[str]) -> None:
    """Code fences and spans balanced; outside them, no remote formatting at all."""
    assert texts
    # The bot's own tokens: the requester's mention, and times as Slack date tokens.
    own = re.compile(r"<@U123>|<!date\^\d+\^\{[a-z_]+\}(?: \{time\})?\|[0-9: -]+UTC>")
    for text in (own.sub("", t) for t in texts):
        assert not _LIVE.search(text), text
        assert text.count("```") % 2 == 0, text
        assert text.replace("```", "").count("`") % 2 == 0, text
        assert not _controls(text, "\n"), text
        assert "\u202e" not in text
        prose = re.sub(r"`[^`]*`", "", re.sub(r"```.*?```", "", text, flags=re.DOTALL))
        for marker in FORMATTED:
            assert marker not in prose, (marker, text)


def test_remote_text_in_the_verdict_and_thread_cannot_format_them():
    diagnosis = _hostile_diagnosis()
    messages = [verdict_message(diagnosis, "U123"), *thread_messages(diagnosis)]
    texts = [t for m in messages for t in _mrkdwn_texts(m.blocks)]
    _assert_formatting_is_the_bots_own(texts)
    joined = "\n".join(texts)
    assert "bold" in joined and "&lt;!channel&gt;" in joined  # shown, inert


@settings(max_examples=60, deadline=None)
@given(HOSTILE_TEXT)
def test_any_remote_text_leaves_the_messages_formatting_alone(payload):
    diagnosis = _hostile_diagnosis(payload)
    messages = [verdict_message(diagnosis, "U123"), *thread_messages(diagnosis)]
    for text in (t.replace("<@U123>", "") for m in messages for t in _mrkdwn_texts(m.blocks)):
        assert not _LIVE.search(text)
        assert text.count("```") % 2 == 0
        assert text.replace("```", "").count("`") % 2 == 0
        assert not _controls(text, "\n")


def test_the_certificate_warning_keeps_the_subject_inside_code():
    subject = "CN=`a` *b* <!channel> _c_\nfoo"
    message = alerts.cert_warning("site.example", 5, datetime(2026, 12, 1, tzinfo=UTC), subject)
    texts = _mrkdwn_texts(message.blocks)
    _assert_formatting_is_the_bots_own(texts)
    assert "`CN=ˋaˋ *b* &lt;!channel&gt; _c_ foo`" in texts[0]


def test_an_alert_shows_the_page_in_a_block_it_cannot_close():
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    view = alerts.AlertView(
        watch_id=1,
        incident_id=2,
        host="site.example",
        url="https://site.example/*a*_b_",
        state="down",
        verdict="down",
        summary="nginx answered 502",
        cause="upstream_refused",
        gateway="nginx",
        http_statuses=(502,),
        excerpt=PAYLOAD,
        failing_since=now,
        last_check_at=now,
        failure_count=2,
    )
    _assert_formatting_is_the_bots_own(_mrkdwn_texts(alerts.alert_message(view).blocks))


def test_the_terminal_shows_hostile_evidence_without_a_control_character():
    diagnosis = _hostile_diagnosis()
    out = io.StringIO()
    terminal.print_diagnosis(diagnosis, Console(file=out, width=120, color_system=None))
    shown = out.getvalue()
    assert not _controls(shown, "\n"), _controls(shown, "\n")
    assert "\u202e" not in shown
    assert "[2J" in shown  # the text is there, its escape byte is not


@settings(max_examples=60, deadline=None)
@given(HOSTILE_TEXT)
def test_any_remote_text_reaches_the_terminal_without_control_characters(payload):
    out = io.StringIO()
    diagnosis = _hostile_diagnosis(payload)
    terminal.print_diagnosis(diagnosis, Console(file=out, width=120, color_system=None))
    assert not _controls(out.getvalue(), "\n")


# --- through the bot, against a real site ----------------------------------------------------


async def test_a_site_s_backticks_and_markup_do_not_format_the_verdict_or_thread(slack):
    body = f"<html><body><h1>502 Bad Gateway</h1>{PAYLOAD}</body></html>"
    headers = (("Server", "`nginx` *x* _y_"), ("Via", "1.1 ```pre``` ~s~"))
    with serve(Behaviour.STATUS, status=502, body=body, headers=headers) as site:
        async with Bot(slack) as bot:
            await bot.command(f"check {site.url()}")
            verdict = await bot.verdict()
    everything = [verdict, *slack.thread(verdict["ts"])]
    texts = [t for m in everything for t in _mrkdwn_texts(m.get("blocks") or [])]
    _assert_formatting_is_the_bots_own(texts)
    assert "nginx" in " ".join(all_text(m) for m in everything)


@pytest.mark.parametrize(
    "value",
    [
        json.dumps({"t": "http://[127.0.0.1]/", "c": "healthy"}),
        json.dumps({"t": "https://[::1", "c": "healthy"}),
        json.dumps({"t": "http://[example.com]/", "c": ["x"]}),
        json.dumps({"t": "exa\u200bmple.com", "c": {}}),
        json.dumps({"t": 7}),
        "not json at all",
    ],
)
async def test_a_tampered_button_gets_a_reason_never_a_500(slack, value):
    async with Bot(slack) as bot:
        for action in ("gateway_rerun", "gateway_watch", "gateway_visitor"):
            answer = await bot.click(action, value, "1700000000.000100")
            assert answer.status_code == 200, (action, answer.text)
        await bot.gateway.drain()
    ephemerals = [c.args["text"] for c in slack.calls_to("chat.postEphemeral")]
    assert len(ephemerals) == 2  # Re-run and Watch say why; Visitor advice has nothing to say
    assert all("\n" not in text.strip() for text in ephemerals)


async def test_an_unusable_target_typed_in_slack_gets_one_line(slack):
    async with Bot(slack) as bot:
        for text in ("check http://[127.0.0.1]/", "check https://[::1", "check xn--zz.com"):
            answer = await bot.command(text)
            assert answer.status_code == 200
            assert answer.text and "Traceback" not in answer.text
