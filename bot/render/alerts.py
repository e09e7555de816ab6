"""Watch alerts as Slack messages: the alert, its edits, its thread replies. Pure.

One alert per incident; everything after it is an edit or a reply in its
thread. Remote text (the error page's excerpt, a certificate's subject) goes
through `bot.render.mrkdwn` like everything else that reaches Slack: shown in
code that it cannot close, never as formatting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    PlainTextObject,
)

from bot.alert_syntax import mentions
from bot.alerting.view import AlertView as AlertView  # what every alert renders
from bot.render.mrkdwn import (
    Message,
    clip,
    code,
    code_block,
    mrkdwn,
    sections,
    to_messages,
)
from bot.render.mrkdwn import (
    escape as escape,  # the watch service escapes what it says with it too
)
from bot.render.slack import HEADER_LIMIT
from bot.spec import WatchSpec
from checks.expect import Expectations

ACTION_ACK = "gateway_ack"
ACTION_MUTE = "gateway_mute"
ACTION_RECHECK = "gateway_recheck"
ACTION_UNWATCH = "gateway_unwatch"


def duration(delta: timedelta) -> str:
    """`14 min`, `2 h 5 min`, `40 s`: how people say a downtime."""
    exact = max(0.0, delta.total_seconds())
    if exact < 10:
        return f"{exact:.1f} s".replace(".0 s", " s")
    seconds = int(exact)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _hhmm(moment: datetime) -> str:
    """A time each reader sees in their own zone (Slack's date token), UTC as fallback."""
    return slack_time(moment)


def slack_time(moment: datetime, style: str = "{time}") -> str:
    epoch = int(moment.timestamp())
    return f"<!date^{epoch}^{style}|{moment.astimezone(UTC):%H:%M} UTC>"


def slack_date(moment: datetime) -> str:
    """`Today 14:05` in the reader's zone; `2026-11-25 14:05 UTC` as fallback."""
    epoch = int(moment.timestamp())
    fallback = f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{fallback}>"


def mute_words(until: datetime, by: str | None, reason: str | None) -> str:
    """`muted until 16:00 by @dana: deploy of v42` (the reason escaped: it is typed text)."""
    words = f"muted until {slack_date(until)}"
    if by:
        words += f" by <@{by}>"
    if reason:
        words += f": {escape(reason)}"
    return words


def alert_message(view: AlertView) -> Message:
    if view.state == "resolved" and view.resolved_at is not None:
        return _resolved(view)
    emoji, word = (
        (":warning:", "is degraded")
        if view.verdict == "degraded"
        else (":rotating_light:", "is down")
    )
    if view.state == "recovering":
        emoji, word = ":large_yellow_circle:", "is recovering"
    title = clip(f"{view.host} {word}", HEADER_LIMIT - 3)
    statuses = " ".join(str(s) if s is not None else "—" for s in view.http_statuses) or "—"
    lines = [
        f"*{escape(view.summary)}*",
        f"Failing since *{_hhmm(view.failing_since)}* "
        f"({duration(view.last_check_at - view.failing_since)}) · "
        f"{view.failure_count} failed check{'s' if view.failure_count != 1 else ''}"
        + (f" · {view.flaps} flap{'s' if view.flaps != 1 else ''}" if view.flaps else ""),
        f"Gateway: {escape(view.gateway or 'no HTTP answer')} · HTTP {escape(statuses)} · "
        f"cause `{view.cause}`",
    ]
    if view.excerpt:
        lines.append(f"The page says: {code_block([clip(view.excerpt, 300)])}")
    if view.notify and view.state == "down" and not view.acknowledged_by:
        lines.append("cc " + mentions(view.notify))
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=_plain(view) + " " + title))]
    blocks += sections("\n".join(lines))
    context = [f"Last check {_hhmm(view.last_check_at)}", code(view.url)]
    if view.state == "recovering":
        context.insert(0, f"{view.healthy_checks}/{view.healthy_needed} healthy checks")
    if view.acknowledged_by:
        context.append(f"acknowledged by <@{view.acknowledged_by}>")
    if view.muted_until:
        context.append(mute_words(view.muted_until, view.muted_by, view.mute_reason))
    if view.escalated_to:
        context.append("escalated to " + " and ".join(view.escalated_to))
    blocks.append(ContextBlock(elements=[mrkdwn(" · ".join(context))]))
    blocks.append(ActionsBlock(block_id="gateway_alert_actions", elements=_buttons(view)))
    text = f"{emoji} {view.host} {word}: {escape(view.summary)}"
    if view.notify and view.state == "down" and not view.muted_until:
        text += " " + mentions(view.notify)
    return to_messages(text, blocks)[0]


def _plain(view: AlertView) -> str:
    if view.state == "recovering":
        return "🟡"
    return "⚠️" if view.verdict == "degraded" else "🚨"


def _resolved(view: AlertView) -> Message:
    assert view.resolved_at is not None
    down_for = duration(view.resolved_at - view.failing_since)
    text = (
        f":white_check_mark: {view.host} recovered: it was down for {down_for} "
        f"(down since {_hhmm(view.failing_since)}, back at {_hhmm(view.resolved_at)})"
    )
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=clip(f"✅ {view.host} resolved", HEADER_LIMIT))),
        *sections(
            f"Down for *{down_for}*: down since {_hhmm(view.failing_since)}, back at "
            f"{_hhmm(view.resolved_at)}. Last cause: `{view.cause}` "
            f"({escape(view.summary)})"
        ),
    ]
    context = [f"{view.failure_count} failed checks"]
    if view.acknowledged_by:
        context.append(f"acknowledged by <@{view.acknowledged_by}>")
    blocks.append(ContextBlock(elements=[mrkdwn(" · ".join(context))]))
    return to_messages(text, blocks)[0]


def _buttons(view: AlertView) -> list[ButtonElement]:
    value = json.dumps({"w": view.watch_id, "i": view.incident_id}, separators=(",", ":"))
    buttons = []
    if not view.acknowledged_by:
        buttons.append(
            ButtonElement(text="Acknowledge", action_id=ACTION_ACK, value=value, style="primary")
        )
    buttons += [
        ButtonElement(text="Mute 1h", action_id=ACTION_MUTE, value=value),
        ButtonElement(text="Re-check now", action_id=ACTION_RECHECK, value=value),
        ButtonElement(text="Unwatch", action_id=ACTION_UNWATCH, value=value, style="danger"),
    ]
    return buttons


def recovery_reply(view: AlertView) -> Message:
    assert view.resolved_at is not None
    down_for = duration(view.resolved_at - view.failing_since)
    text = (
        f":white_check_mark: {view.host} recovered after {down_for} "
        f"(down since {_hhmm(view.failing_since)})."
    )
    if view.notify:
        text += " " + mentions(view.notify)
    return Message(text=text, blocks=[b.to_dict() for b in sections(text)])


def changed_reply(before: str, after: str, summary: str) -> Message:
    text = (
        f":arrows_counterclockwise: The diagnosis changed: `{escape(before)}` → "
        f"`{escape(after)}`\n*{escape(summary)}*"
    )
    return Message(
        text=f"The diagnosis changed: {escape(after)}",
        blocks=[b.to_dict() for b in sections(text)],
    )


def reopened_reply(flaps: int, summary: str) -> Message:
    text = (
        f":repeat: Failing again ({flaps} change{'s' if flaps != 1 else ''} between up "
        f"and down in the last 30 min): *{escape(summary)}*. Kept in this thread instead "
        "of a new alert."
    )
    return Message(text=text, blocks=[b.to_dict() for b in sections(text)])


def reminder(view: AlertView, now: datetime) -> Message:
    """Still down and nobody has acknowledged: said in the thread and to the channel."""
    text = (
        f":bell: {escape(view.host)} is still {view.verdict} after "
        f"{duration(now - view.failing_since)} and nobody has acknowledged it: "
        f"*{escape(view.summary)}*"
    )
    if view.notify:
        text += " " + mentions(view.notify)
    return note(text)


def escalated(names: list[str], after: timedelta) -> Message:
    return note(
        f":pager: Escalated to {' and '.join(names)}: unacknowledged for {duration(after)}. "
        "Acknowledging here acknowledges there too."
    )


def escalation_failed(name: str, reason: str) -> Message:
    return note(
        f":warning: I could not reach {name} after several tries ({escape(reason)}); "
        "this thread is the only alert."
    )


def muted_note(user: str, until: datetime, reason: str | None) -> Message:
    text = f":mute: <@{user}> muted this watch until {slack_date(until)}"
    text += f": {escape(reason)}." if reason else "."
    return note(text + " Checks go on; alerts wait for the end of the window.")


def note(text: str) -> Message:
    return Message(text=text, blocks=[b.to_dict() for b in sections(text)])


def cert_warning(host: str, days: int, not_after: datetime, subject: str) -> Message:
    text = (
        f":lock: The certificate of *{escape(host)}* expires in *{days} days* "
        f"({not_after:%Y-%m-%d %H:%M} UTC; {code(clip(subject, 300))}). Renew it before visitors "
        "see a certificate error; I'll say this once for this certificate."
    )
    return note(text)


NETWORK_TROUBLE = (
    ":satellite_antenna: I can't reach my own DNS resolvers or my canary right "
    "now, so the failures I see may be mine, not the sites'. I'm holding alerts "
    "until my network is back."
)
NETWORK_BACK = ":satellite_antenna: My network is back; alerts resume."


@dataclass(frozen=True)
class WatchLine:
    url: str
    state: str
    spec: WatchSpec | None  # None: the stored settings are unusable
    last_checked_at: datetime | None
    availability: float | None
    muted_until: datetime | None = None
    muted_by: str | None = None
    mute_reason: str | None = None
    stored_after: int = 0  # what an unusable row says of its `after`

    @classmethod
    def unusable(cls, url: str, stored_after: int) -> WatchLine:
        state = "not running (unusable settings)"
        return cls(url, state, None, None, None, stored_after=stored_after)


def watches_message(lines: list[WatchLine], channel_watches_max: int) -> Message:
    if not lines:
        return note(
            "This channel watches no site. Start with `/gateway watch example.com every 5m`."
        )
    rows = [f"*This channel's watches* ({len(lines)} of at most {channel_watches_max})"]
    for line in lines:
        emoji = {"healthy": ":large_green_circle:", "down": ":red_circle:"}.get(
            line.state, ":white_circle:"
        )
        last = _hhmm(line.last_checked_at) if line.last_checked_at else "not yet"
        availability = f"{line.availability:.2%}" if line.availability is not None else "—"
        muted = (
            " · " + mute_words(line.muted_until, line.muted_by, line.mute_reason)
            if line.muted_until
            else ""
        )
        spec = line.spec
        interval = spec.interval_s if spec else 0.0
        after = spec.fail_after if spec else line.stored_after
        expect = spec.expect.describe() if spec else ""
        rows.append(
            f"{emoji} {code(line.url)} · {line.state} · every "
            f"{duration(timedelta(seconds=interval))} · alert after "
            f"{after} · last check {last} · 24 h availability "
            f"{availability}{muted}"
            + (f" · {escape(expect)}" if expect else "")
            + (" · notifies " + mentions(spec.notify) if spec and spec.notify else "")
        )
    return Message(text="\n".join(rows), blocks=[b.to_dict() for b in sections("\n".join(rows))])


def failing_words(expect: Expectations) -> str:
    """What counts as a failure for a watch with these expectations, in words (unescaped)."""
    parts = []
    if expect.statuses:
        parts.append("a status other than " + " or ".join(str(s) for s in expect.statuses))
    parts += [f'no "{text}" on the page' for text in expect.contains]
    parts += [f'"{text}" on the page' for text in expect.absent]
    if expect.header is not None:
        name, value = expect.header
        parts.append(f'no {name} header, or one other than "{value}"')
    parts.append(f"an answer slower than {expect.slow_threshold:g} ms")
    return ", ".join(parts)
