"""What an incident's record says, reduced to facts a renderer words. Pure: no I/O.

The record's events become timeline entries; the checks' tally becomes one line ("41 checks:
502 from nginx 38 times, timeout 3 times"); the diagnosis is the last one the record holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.record.model import Event, Kind, Record

# How a check without an HTTP answer is counted, by its cause's family.
_NO_ANSWER_WORDS = {
    "tcp_timeout": "connect timeout",
    "response_timeout": "timeout",
    "tcp_refused": "connection refused",
    "tcp_unreachable": "unreachable",
    "connection_reset": "connection reset",
    "redirect_loop": "redirect loop",
}
DIAGNOSED = (Kind.OPENED, Kind.CHANGED, Kind.REOPENED)


def check_word(http_status: int | None, cause: str, product: str | None, healthy: bool) -> str:
    """How one check is counted: `502 from nginx`, `timeout`, `healthy`."""
    if healthy:
        return "healthy"
    if http_status is not None:
        return f"{http_status} from {product}" if product else str(http_status)
    if cause.startswith("dns_"):
        return "DNS failure"
    if cause.startswith("tls_"):
        return "TLS failure"
    return _NO_ANSWER_WORDS.get(cause, cause.replace("_", " "))


def tally_line(tally: dict[str, int]) -> str:
    """`41 checks: 502 from nginx 38 times, timeout 3 times` (most frequent first)."""
    total = sum(tally.values())
    if not total:
        return "no checks recorded"
    ranked = sorted(tally.items(), key=lambda kv: (-kv[1], kv[0]))
    parts = [f"{word} {_times(count)}" for word, count in ranked[:6]]
    if len(ranked) > 6:
        parts.append(f"{sum(count for _, count in ranked[6:])} other")
    return f"{total} check{'s' if total != 1 else ''}: " + ", ".join(parts)


def _times(count: int) -> str:
    return "once" if count == 1 else ("twice" if count == 2 else f"{count} times")


@dataclass(frozen=True)
class Diagnosed:
    """The diagnosis the record ends with (what the postmortem calls the cause)."""

    status: str  # the HTTP status, or "" when no answer came
    cause: str
    product: str
    summary: str
    excerpt: str


def last_diagnosis(record: Record) -> Diagnosed | None:
    for event in reversed(record.events):
        if event.kind in DIAGNOSED:
            data = event.data
            return Diagnosed(
                status=data.get("status", ""),
                cause=data.get("cause", ""),
                product=data.get("product", ""),
                summary=data.get("summary", ""),
                excerpt=data.get("excerpt", ""),
            )
    return None


def first_diagnosis(record: Record) -> Diagnosed | None:
    for event in record.events:
        if event.kind in DIAGNOSED:
            return last_diagnosis(Record(**{**record.__dict__, "events": (event,)}))
    return None


def acknowledgements(record: Record) -> tuple[Event, ...]:
    return tuple(e for e in record.events if e.kind is Kind.ACKNOWLEDGED)


def actions(record: Record) -> tuple[Event, ...]:
    """What people and the bot did about it: acknowledgements, mutes, reminders, pages."""
    done = {
        Kind.ACKNOWLEDGED,
        Kind.MUTED,
        Kind.UNMUTED,
        Kind.REMINDED,
        Kind.ESCALATED,
        Kind.ESCALATION_FAILED,
    }
    return tuple(e for e in record.events if e.kind in done)
