"""The alerting words of `/gateway` and the alerting settings: what they accept, what they
refuse, and the one line that says why."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.commands import CommandError, Mute, Unmute, Watch
from bot.settings import SettingsError, from_environment
from bot.verbs import parse_command
from checks.expect import Expectations


@pytest.mark.parametrize(
    ("text", "expect", "notify"),
    [
        ("watch x.com", Expectations(), ()),
        ("watch x.com expect 200 301", Expectations(statuses=(200, 301)), ()),
        ('watch x.com contains "Add to cart"', Expectations(contains=("Add to cart",)), ()),
        ("watch x.com !contains “maintenance”", Expectations(absent=("maintenance",)), ()),
        ('watch x.com contains "Fish &amp; chips"', Expectations(contains=("Fish & chips",)), ()),
        ("watch x.com slow 800ms", Expectations(slow_ms=800), ()),
        ("watch x.com slow 2s", Expectations(slow_ms=2000), ()),
        (
            "watch x.com every 5m notify <!subteam^S0ONCALL|@oncall-web> <@U0DANA|dana> <@W9>",
            Expectations(),
            ("S0ONCALL", "U0DANA", "W9"),
        ),
        ("watch x.com notify <@U1> <@U1>", Expectations(), ("U1",)),
        (
            "watch x.com header X-Served-By: edge-1",
            Expectations(header=("X-Served-By", "edge-1")),
            (),
        ),
        ("watch x.com header x-cache:HIT", Expectations(header=("x-cache", "HIT")), ()),
        (
            'watch x.com header Cache-Control: "no-store, private" slow 800ms',
            Expectations(slow_ms=800, header=("Cache-Control", "no-store, private")),
            (),
        ),
        ("watch x.com header X-A: a&amp;b", Expectations(header=("X-A", "a&b")), ()),
    ],
)
def test_watch_takes_expectations_and_who_to_notify(text, expect, notify):
    command = parse_command(text)
    assert isinstance(command, Watch)
    assert (command.expect, command.notify) == (expect, notify)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("watch x.com notify @dana", "I can't tell who"),
        ("watch x.com notify", "I can't tell who"),
        ("watch x.com notify <@dana>", "I can't tell who"),
        ("watch x.com notify <!channel>", "I can't tell who"),
        ("watch x.com expect", "HTTP statuses"),
        ("watch x.com expect 99", "not an HTTP status"),
        ("watch x.com contains maintenance", "quoted text"),
        ('watch x.com contains ""', "quoted text"),
        ("watch x.com slow soon", "`slow` takes a time"),
        ("watch x.com slow 120s", "from 1 ms to 60 s"),
        ("watch x.com header", "`header` takes a response header"),
        ("watch x.com header X-Served-By edge-1", "`header` takes a response header"),
        ("watch x.com header X-A:", "1 to 200 characters"),
        ('watch x.com header X-A: ""', "1 to 200 characters"),
        ("watch x.com header X-A: " + "v" * 201, "1 to 200 characters"),
        ("watch x.com header b@d: v", "is not a header name"),
        ("watch x.com header " + "X" * 65 + ": v", "is not a header name"),
        ("watch x.com header X-A: 1 header X-B: 2", "one `header` rule"),
        ("mute x.com", "needs a site and how long"),
        ("mute x.com 2h", "needs a site and how long"),
        ("mute x.com for ever", "not a duration"),
        ("mute x.com for 8d", "up to 7 days"),
        ("unmute", "needs a site"),
    ],
)
def test_unusable_alerting_words_are_refused_with_the_reason(text, says):
    with pytest.raises(CommandError, match=says):
        parse_command(text)


def test_mute_keeps_its_reason_as_plain_text_and_unmute_its_site():
    command = parse_command("mute x.com for 2h deploy of v42 with <@U1|dana> &amp; <b>co</b>")
    assert command == Mute(
        parse_command("check x.com").target,
        timedelta(hours=2),
        "deploy of v42 with dana & <b>co</b>",
    )
    assert isinstance(parse_command("unmute x.com"), Unmute)
    assert parse_command("mute x.com for 7d").span == timedelta(days=7)


@pytest.mark.parametrize(
    ("environ", "remind", "escalate"),
    [
        ({}, 1800.0, 900.0),
        ({"GATEWAY_REMIND_EVERY": "4s", "GATEWAY_ESCALATE_AFTER": "2m"}, 4.0, 120.0),
        ({"GATEWAY_REMIND_EVERY": "1h", "GATEWAY_ESCALATE_AFTER": "90"}, 3600.0, 90.0),
        ({"GATEWAY_REMIND_EVERY": "0", "GATEWAY_ESCALATE_AFTER": "0s"}, None, None),
    ],
)
def test_reminder_and_escalation_settings_take_s_m_h_and_zero_means_never(
    environ, remind, escalate
):
    escalation = from_environment(environ).escalation
    assert (escalation.remind_every, escalation.escalate_after) == (remind, escalate)


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"GATEWAY_REMIND_EVERY": "soon"}, "GATEWAY_REMIND_EVERY must be a duration"),
        ({"GATEWAY_ESCALATE_AFTER": "-5m"}, "GATEWAY_ESCALATE_AFTER must be a duration"),
        ({"GATEWAY_WEBHOOK_URL": "http://127.0.0.1:9/hook"}, "GATEWAY_WEBHOOK_SECRET must be set"),
        ({"GATEWAY_PAGERDUTY_URL": "events.example"}, "must be an http:// or https:// URL"),
    ],
)
def test_unusable_alerting_settings_are_one_line_naming_the_variable(environ, says):
    with pytest.raises(SettingsError, match=says):
        from_environment(environ)


@pytest.mark.parametrize(("text", "seconds"), [("90", 90.0), ("0.2s", 0.2), ("5m", 300.0)])
def test_the_shortest_watch_interval_takes_units_too(text, seconds):
    assert from_environment({"GATEWAY_MIN_INTERVAL": text}).min_interval == seconds


@pytest.mark.parametrize(
    ("text", "says"), [("2d", "must be a number"), ("48h", "must be from 0.1 s to 86400 s")]
)
def test_an_unusable_shortest_interval_is_one_line(text, says):
    with pytest.raises(SettingsError, match=f"GATEWAY_MIN_INTERVAL {says}"):
        from_environment({"GATEWAY_MIN_INTERVAL": text})


WORDS = st.sampled_from(
    [
        "watch",
        "mute",
        "x.com",
        "for",
        "2h",
        "expect",
        "200",
        "²",
        "contains",
        "!contains",
        "slow",
        "800ms",
        "notify",
        "<@U1>",
        "<!subteam^S1|@a>",
        "@dana",
        '"',
        '"a b"',
        "“",
        "”",
        "every",
        "5m",
        "after",
        "3",
        "&amp;",
        "<",
        ">",
        "<@>",
        "0",
        "1d",
        "8d",
        "-1",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(WORDS | st.text(max_size=8), max_size=8))
def test_any_alerting_text_is_a_command_or_one_line(words):
    for verb in ("watch", "mute"):
        text = " ".join([verb, "x.com", *words])
        try:
            parse_command(text)
        except CommandError as exc:
            assert "\n" not in str(exc) and str(exc)
