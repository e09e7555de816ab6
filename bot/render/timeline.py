"""An incident's record worded: the timeline for Slack or a terminal, the postmortem draft.

One wording, several encoders: a `Style` says how a time, a person, the bot's own words and
a site's text are written (Slack mrkdwn with `<!date^…>` tokens, or Markdown, or plain text).
Text that came from a site is always passed through the style's `remote`, which makes it
inert; people are named by their Slack IDs, never by a guessed name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.record.model import Event, Kind, Record
from bot.record.timeline import last_diagnosis, tally_line
from bot.render.alerts import duration, slack_date, slack_time
from bot.render.mrkdwn import Message, clip, code_block, escape, inert, sections, to_messages
from checks.text import printable

EXCERPT_LIMIT = 300
REASON_LIMIT = 200


@dataclass(frozen=True)
class Style:
    time: Callable[[datetime], str]  # a moment inside the incident
    date: Callable[[datetime], str]  # a moment with its day
    person: Callable[[str], str]  # a Slack user ID
    own: Callable[[str], str]  # the bot's own words
    remote: Callable[[str], str]  # text a site (or a person) sent: made inert
    code: Callable[[str], str]  # a code word the bot chose (a cause code)


def _utc(moment: datetime, fmt: str) -> str:
    return f"{moment.astimezone(UTC):{fmt}} UTC"


# What formats inside a line (text from a site never starts a line of the draft, so the
# line-start markers `#`, `-`, `1.` need no escape); `&` so no entity is decoded.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|~&])")


def md_inert(value: str) -> str:
    """A site's text in Markdown prose: one line, every formatting character escaped."""
    one_line = printable(" ".join(str(value).split()))
    return _MD_SPECIAL.sub(r"\\\1", one_line)


def md_code(value: str) -> str:
    """A word inside a Markdown code span: shown literally, so only backticks must go."""
    return printable(" ".join(str(value).split())).replace("`", "'") or " "


SLACK = Style(
    time=lambda m: slack_time(m, "{time_secs}"),
    date=slack_date,
    person=lambda user: f"<@{user}>",
    own=escape,
    remote=inert,
    code=lambda word: f"`{escape(word)}`",
)
MARKDOWN = Style(
    time=lambda m: _utc(m, "%H:%M:%S"),
    date=lambda m: _utc(m, "%Y-%m-%d %H:%M"),
    person=lambda user: f"<@{md_inert(user)}>",
    own=lambda text: text,
    remote=md_inert,
    code=lambda word: f"`{md_code(word)}`",
)
TEXT = Style(
    time=lambda m: _utc(m, "%H:%M:%S"),
    date=lambda m: _utc(m, "%Y-%m-%d %H:%M"),
    person=lambda user: f"@{printable(user)}",
    own=lambda text: text,
    remote=lambda text: " ".join(printable(str(text)).split()),
    code=lambda word: printable(word),
)


def describe(event: Event, style: Style) -> str:
    """One event in a line (without its time)."""
    data = event.data
    who = style.person(event.actor) if event.actor else "the bot"
    if event.kind in (Kind.OPENED, Kind.REOPENED, Kind.CHANGED):
        said = _said(data, style)
        if event.kind is Kind.OPENED:
            return f"alert opened: {said}"
        if event.kind is Kind.REOPENED:
            return f"failing again soon after recovering (flap {data.get('flaps', '?')}): {said}"
        return f"changed from {style.remote(data.get('before', '?'))} to {said}"
    if event.kind is Kind.ACKNOWLEDGED:
        return f"acknowledged by {who}"
    if event.kind is Kind.MUTED:
        until = data.get("until")
        words = f"muted by {who}"
        if until:
            words += f" until {style.date(datetime.fromisoformat(until))}"
        if data.get("reason"):
            words += f": {style.remote(clip(data['reason'], REASON_LIMIT))}"
        return words
    if event.kind is Kind.UNMUTED:
        return f"unmuted by {who}" if event.actor else "the mute window ended"
    if event.kind is Kind.REMINDED:
        return "reminded the thread: still down, nobody had acknowledged"
    if event.kind is Kind.ESCALATED:
        return f"escalated to {style.remote(data.get('to', '?'))}"
    if event.kind is Kind.ESCALATION_FAILED:
        reason = style.remote(clip(data.get("reason", ""), REASON_LIMIT))
        return f"escalation to {style.remote(data.get('to', '?'))} failed: {reason}"
    seconds = float(data.get("downtime_s", "0") or 0)
    return f"recovered after {duration(timedelta(seconds=seconds))} down"


def _said(data: dict[str, str], style: Style) -> str:
    status = data.get("status") or "no HTTP answer"
    product = f" from {style.remote(data['product'])}" if data.get("product") else ""
    words = f"{style.remote(status)}{product}, cause {style.code(data.get('cause', '?'))}"
    if data.get("summary"):
        words += f" ({style.remote(clip(data['summary'], 200))})"
    return words


def lines(record: Record, style: Style) -> list[str]:
    """The timeline, a line per entry, starting with the first failed check."""
    out = [f"{style.time(record.started_at)}  first failed check"]
    out += [f"{style.time(e.at)}  {describe(e, style)}" for e in record.events]
    if record.open:
        out.append("still open")
    return out


def headline(record: Record, style: Style) -> str:
    """`site.com: down 14 min, from <date> to <time>` or `…: down since <date>, still open`."""
    host = style.remote(record.host)
    if record.recovered_at is None or record.downtime is None:
        return f"{host}: down since {style.date(record.started_at)}, still open"
    return (
        f"{host}: down {duration(record.downtime)}, from {style.date(record.started_at)} "
        f"to {style.date(record.recovered_at)}"
    )


def timeline_messages(record: Record) -> list[Message]:
    """The timeline in Slack, for the alert's thread."""
    text = [
        f":spiral_note_pad: *Timeline of {headline(record, SLACK)}*",
        *[f"• {line}" for line in lines(record, SLACK)],
        f"_{escape(tally_line(record.tally))}_",
    ]
    diagnosed = last_diagnosis(record)
    if diagnosed and diagnosed.excerpt:
        text.append("The page said: " + code_block([clip(diagnosed.excerpt, EXCERPT_LIMIT)]))
    fallback = f"Timeline of {printable(record.host)}"
    return to_messages(fallback, sections("\n".join(text)))


def list_message(records: list[Record], host: str) -> Message:
    """`timeline TARGET all`: the last incidents with their durations."""
    if not records:
        return Message(text=f"No incident recorded for {inert(host)}.")
    rows = [f"*The last {len(records)} incidents of {inert(host)}*"]
    for record in records:
        rows.append(f"• #{record.id} {headline(record, SLACK)}")
    return to_messages(f"Incidents of {printable(host)}", sections("\n".join(rows)))[0]
