"""The App Home tab and the watch modal, as Block Kit views. Pure.

Home: the workspace's watches grouped by channel, each with its state, last
check, a 24 h availability strip, its open incident and its mute, and buttons
to re-check, mute and edit. The modal creates or edits a watch with the same
fields as `/gateway watch … ` (bot/modal.py reads it back).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.alert_syntax import mentions
from bot.render.alerts import duration, mute_words, slack_date
from bot.render.slack import escape
from bot.spec import WatchSpec

ACTION_HOME_NEW = "gateway_home_new"
ACTION_HOME_RECHECK = "gateway_home_recheck"
ACTION_HOME_MUTE = "gateway_home_mute"
ACTION_HOME_UNMUTE = "gateway_home_unmute"
ACTION_HOME_EDIT = "gateway_home_edit"
MODAL_CALLBACK = "gateway_watch_modal"
MOST_WATCHES_SHOWN = 30  # two blocks each; a Home view holds 100 blocks
MUTE_CHOICES = (("1h", "1 hour"), ("2h", "2 hours"), ("4h", "4 hours"), ("1d", "1 day"))
_STATE_EMOJI = {"healthy": ":large_green_circle:", "down": ":red_circle:"}


@dataclass(frozen=True)
class HomeWatch:
    id: int
    channel: str
    spec: WatchSpec
    state: str
    last_checked_at: datetime | None
    availability: float | None
    strip: tuple[float | None, ...]  # share of healthy checks per hour, oldest first
    muted_until: datetime | None = None
    muted_by: str | None = None
    mute_reason: str | None = None
    incident_summary: str | None = None
    incident_since: datetime | None = None


def strip_text(strip: tuple[float | None, ...]) -> str:
    """One square per hour: green all healthy, yellow some failures, red mostly down."""
    squares = []
    for share in strip:
        if share is None:
            squares.append("⬜")
        elif share >= 0.999:
            squares.append("🟩")
        elif share >= 0.5:
            squares.append("🟨")
        else:
            squares.append("🟥")
    return "".join(squares)


def home_view(watches: list[HomeWatch]) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Watched sites"}},
        {
            "type": "section",
            "text": _md(
                f"{len(watches)} watch{'es' if len(watches) != 1 else ''} in this workspace. "
                "Alerts go to the channel of each watch."
            ),
            "accessory": _button("New watch", ACTION_HOME_NEW, "{}", style="primary"),
        },
    ]
    by_channel: dict[str, list[HomeWatch]] = {}
    for watch in watches[:MOST_WATCHES_SHOWN]:
        by_channel.setdefault(watch.channel, []).append(watch)
    for channel, group in by_channel.items():
        blocks.append({"type": "divider"})
        blocks.append({"type": "section", "text": _md(f"*<#{channel}>*")})
        for watch in group:
            blocks += _watch_blocks(watch)
    if len(watches) > MOST_WATCHES_SHOWN:
        more = len(watches) - MOST_WATCHES_SHOWN
        blocks.append(
            {"type": "context", "elements": [_md(f"…and {more} more: `/gateway watches`")]}
        )
    return {"type": "home", "blocks": blocks}


def _watch_blocks(watch: HomeWatch) -> list[dict[str, Any]]:
    emoji = _STATE_EMOJI.get(watch.state, ":white_circle:")
    last = slack_date(watch.last_checked_at) if watch.last_checked_at else "not yet"
    share = f"{watch.availability:.2%}" if watch.availability is not None else "—"
    lines = [
        f"{emoji} *{escape(watch.spec.url)}* · {watch.state} · every "
        f"{duration(timedelta(seconds=watch.spec.interval_s))} · last check {last}",
        f"24 h {strip_text(watch.strip)} {share}",
    ]
    if watch.incident_summary and watch.incident_since:
        lines.append(
            f":rotating_light: down since {slack_date(watch.incident_since)}: "
            f"{escape(watch.incident_summary)}"
        )
    if watch.muted_until:
        lines.append(":mute: " + mute_words(watch.muted_until, watch.muted_by, watch.mute_reason))
    extras = []
    expect = watch.spec.expect.describe()
    if expect:
        extras.append(escape(expect))
    if watch.spec.notify:
        extras.append("notifies " + mentions(watch.spec.notify))
    if extras:
        lines.append(" · ".join(extras))
    value = json.dumps({"w": watch.id})
    mute = (
        _button("Unmute", ACTION_HOME_UNMUTE, value)
        if watch.muted_until
        else _button("Mute 1h", ACTION_HOME_MUTE, value)
    )
    return [
        {"type": "section", "text": _md("\n".join(lines)[:3000])},
        {
            "type": "actions",
            "block_id": f"home_watch_{watch.id}",
            "elements": [
                _button("Re-check now", ACTION_HOME_RECHECK, value),
                mute,
                _button("Edit", ACTION_HOME_EDIT, value),
            ],
        },
    ]


@dataclass(frozen=True)
class ModalValues:
    """What the modal shows first: a new watch's defaults, or an existing watch."""

    watch_id: int | None = None
    channel: str | None = None
    spec: WatchSpec | None = None  # None: a new watch, nothing known yet

    @property
    def url(self) -> str:
        return self.spec.url if self.spec else ""

    @property
    def every(self) -> str:
        interval = self.spec.interval if self.spec else None
        return _every(interval) if interval else "5m"

    @property
    def after(self) -> int:
        return (self.spec.after if self.spec else None) or 2

    @property
    def expect(self) -> str:
        return self.spec.expect.describe() if self.spec else ""

    @property
    def notify_people(self) -> tuple[str, ...]:
        return tuple(i for i in self.spec.notify if not i.startswith("S")) if self.spec else ()

    @property
    def notify_groups(self) -> tuple[str, ...]:
        return tuple(i for i in self.spec.notify if i.startswith("S")) if self.spec else ()


def _every(seconds: float) -> str:
    """An interval as the modal's field shows it: `5m`, `1h`, `90s`."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def watch_modal(values: ModalValues) -> dict[str, Any]:
    editing = values.watch_id is not None
    channel: dict[str, Any] = {
        "type": "conversations_select",
        "action_id": "value",
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
    }
    if values.channel:
        channel["initial_conversation"] = values.channel
    people: dict[str, Any] = {
        "type": "multi_users_select",
        "action_id": "value",
        "max_selected_items": 10,
    }
    if values.notify_people:
        people["initial_users"] = list(values.notify_people)
    blocks = [
        _input("target", "Site", _text_input(values.url, "site.com or https://site.com/health")),
        _input("channel", "Alert in", channel),
        _input("every", "Check every", _text_input(values.every, "30s, 5m, 1h")),
        _input("after", "Alert after N failed checks", _text_input(str(values.after), "1 to 20")),
        _input(
            "expect",
            "Expectations",
            _text_input(values.expect, 'expect 200  contains "Add to cart"  slow 800ms'),
            optional=True,
            hint="Also failing: another status, a missing (or, with !contains, present) text, "
            "a slower answer. Without `slow`, 2 s counts as slow.",
        ),
        _input("notify", "Notify", people, optional=True),
        _input(
            "mute",
            "Mute for",
            {
                "type": "static_select",
                "action_id": "value",
                "options": [_option(label, value) for value, label in MUTE_CHOICES],
            },
            optional=True,
        ),
        _input("reason", "Mute reason", _text_input("", "deploy of v42"), optional=True),
    ]
    if values.notify_groups:  # user groups come from the slash command; the modal keeps them
        blocks.insert(
            6,
            {
                "type": "context",
                "elements": [_md("Also notifies " + mentions(values.notify_groups))],
            },
        )
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK,
        "private_metadata": json.dumps(
            {"w": values.watch_id, "groups": list(values.notify_groups)}
        ),
        "title": {"type": "plain_text", "text": "Edit watch" if editing else "Watch a site"},
        "submit": {"type": "plain_text", "text": "Save" if editing else "Watch"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def _md(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _text_input(initial: str, placeholder: str) -> dict[str, Any]:
    element = {
        "type": "plain_text_input",
        "action_id": "value",
        "placeholder": {"type": "plain_text", "text": placeholder[:150]},
    }
    if initial:
        element["initial_value"] = initial
    return element


def _input(
    block_id: str,
    label: str,
    element: dict[str, Any],
    optional: bool = False,
    hint: str | None = None,
) -> dict[str, Any]:
    block = {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": label},
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = {"type": "plain_text", "text": hint[:2000]}
    return block


def _option(label: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": label}, "value": value}
