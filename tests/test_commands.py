"""The `/gateway` command parser: whatever anyone types, a command or one clear line."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.commands import (
    MAX_AFTER,
    MAX_INTERVAL,
    Check,
    CommandError,
    Help,
    ListWatches,
    Unwatch,
    Watch,
)
from bot.verbs import parse_command

WORDS = st.sampled_from(
    [
        "check",
        "watch",
        "unwatch",
        "watches",
        "help",
        "every",
        "after",
        "example.com",
        "http://[127.0.0.1]/",
        "https://[::1",
        "xn--zz.com",
        "straße.de",
        "5m",
        "0s",
        "99999999999h",
        "1e400",
        "0",
        "21",
        "٣",
        "`",
        "<!channel>",
    ]
)
# Mostly command-shaped text (verbs, targets, numbers), and some of anything at all.
TEXTS = st.one_of(
    st.lists(st.one_of(WORDS, st.text(max_size=30)), max_size=6).map(" ".join),
    st.text(max_size=300),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS)
@example("watch example.com every 99999999999h")
@example("watch example.com after 99999")
@example("watch example.com after " + "9" * 5000)
@example("watch example.com every " + "9" * 5000 + "h")
@example("check http://[127.0.0.1]/")
@example("https://[::1")
@example("http://[example.com]/")
def test_any_text_is_a_command_or_one_line_of_usage_error(text):
    try:
        command = parse_command(text)
    except CommandError as exc:
        message = str(exc)
        assert message and "\n" not in message and len(message) <= 400, message
        assert "Traceback" not in message
        return
    assert isinstance(command, Check | Watch | Unwatch | ListWatches | Help)
    if isinstance(command, Watch):
        assert command.interval is None or 0 < command.interval <= MAX_INTERVAL
        assert command.after is None or 1 <= command.after <= MAX_AFTER


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("watch example.com every 99999999999h", "longest interval is 24 h"),
        ("watch example.com every 25h", "longest interval is 24 h"),
        ("watch example.com every 86401s", "longest interval is 24 h"),
        ("watch example.com every 0s", "not an interval"),
        ("watch example.com after 0", "from 1 to 20"),
        ("watch example.com after 21", "from 1 to 20"),
        ("watch example.com after 100", "from 1 to 20"),
        ("watch example.com after ٣", "from 1 to 20"),
        ("watch example.com every ٣m", "not an interval"),
    ],
)
def test_numbers_out_of_the_contracts_bounds_are_refused_with_the_reason(text, says):
    with pytest.raises(CommandError, match=says):
        parse_command(text)


@pytest.mark.parametrize(
    ("text", "interval", "after"),
    [
        ("watch example.com every 24h after 20", 86400.0, 20),
        ("watch example.com every 1440m after 1", 86400.0, 1),
        ("watch example.com every 30s", 30.0, None),
    ],
)
def test_the_bounds_themselves_are_accepted(text, interval, after):
    command = parse_command(text)
    assert isinstance(command, Watch)
    assert (command.interval, command.after) == (interval, after)


@pytest.mark.parametrize("text", ["timeline x", "agentz all", "frobnicate example.com now"])
def test_an_unknown_verb_gets_the_help_not_a_default_verb(text):
    from bot.service import Gateway, Request
    from bot.settings import from_environment
    from bot.verbs import USAGE

    gateway = Gateway(from_environment({}))
    answer = gateway.on_command(None, Request("T1", "C1", "U1", text))
    verb = text.split()[0]
    assert answer.work is None and answer.prepare is None
    assert answer.text is not None
    assert f"unknown command `{verb}`" in answer.text
    assert answer.text.endswith(USAGE)


def test_every_verb_has_its_line_of_help_and_every_line_a_verb():
    from bot.verbs import USAGE, VERBS

    for name, verb in VERBS.verbs.items():
        if verb.usage:
            assert verb.usage in USAGE
        told = verb.usage or next(v.usage for v in VERBS.verbs.values() if f" {name} " in v.usage)
        assert f"/gateway {name}" in told or name in ("-h", "--help", "?")
