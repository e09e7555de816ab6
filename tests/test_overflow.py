"""Numbers that overflow, in every place a person types one: one clear refusal, never a
500. `mute x for 99999999999999999999d` overflowed timedelta, `expect` with 5,000 digits
overflowed int(), and the modal's fields went through the same parsers."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.commands import CommandError
from bot.modal import read_submission
from bot.verbs import parse_command

HUGE = "9" * 5000


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("mute x.example for 99999999999999999999d", "up to 7 days"),
        ("mute x.example for 99999999999999999999m", "up to 7 days"),
        (f"mute x.example for {HUGE}h", "up to 7 days"),
        (f"watch x.example expect {HUGE}", "not an HTTP status"),
        (f"watch x.example expect 200 {HUGE}", "not an HTTP status"),
        (f"watch x.example every {HUGE}s", "longest interval"),
        (f"watch x.example after {HUGE}", "from 1 to 20"),
        (f"watch x.example slow {HUGE}ms", "from 1 ms to 60 s"),
    ],
)
def test_an_overflowing_number_is_one_clear_refusal(text, says):
    with pytest.raises(CommandError) as refused:
        parse_command(text)
    assert says in str(refused.value) and len(str(refused.value)) < 200


def modal(**fields: dict) -> dict:
    values = {
        "target": {"value": {"type": "plain_text_input", "value": "x.example"}},
        "channel": {"value": {"selected_conversation": "C1"}},
    }
    values.update({name: {"value": value} for name, value in fields.items()})
    return {"state": {"values": values}, "private_metadata": "{}"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("after", {"value": HUGE}),
        ("every", {"value": HUGE + "s"}),
        ("expect", {"value": f"expect {HUGE}"}),
        ("expect", {"value": f"slow {HUGE}ms"}),
        ("mute", {"selected_option": {"value": "99999999999999999999d"}}),
    ],
)
def test_the_modal_refuses_an_overflowing_field_on_that_field(field, value):
    errors = read_submission(modal(**{field: value}))
    assert isinstance(errors, dict) and set(errors) == {field}, errors


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10**60), st.sampled_from(["s", "m", "h", "d", "ms"]))
def test_any_number_with_any_unit_is_a_command_or_one_line(number, unit):
    for text in (
        f"mute x.example for {number}{unit}",
        f"watch x.example every {number}{unit}",
        f"watch x.example expect {number}",
        f"watch x.example slow {number}{unit}",
    ):
        with contextlib.suppress(CommandError):  # a command, or one line: never another error
            parse_command(text)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("reason", ["<" * 300_000, "<a" * 150_000, "<@U1|" * 60_000])
def test_a_mute_reason_built_to_backtrack_is_read_in_one_pass(reason):
    """The reason is parsed before the ack: a quadratic regex there held every ack."""
    command = parse_command(f"mute x.example for 1h {reason}")
    assert len(command.reason) <= 200
