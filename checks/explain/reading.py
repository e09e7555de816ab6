"""What `gateway explain` accepts as input: up to 1 MiB of text, never binary.

Kept apart from the engine so the CLI, the Slack command and the shortcut refuse
the same inputs with the same one-line reasons.
"""

from __future__ import annotations

import re

MAX_BYTES = 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
_SLACK_LINK = re.compile(r"<([^<>|\s]{1,2000})(?:\|([^<>]{0,2000}))?>")
_SLACK_SPECIAL = re.compile(
    r"<([!@#])([^<>|\s^]{1,200})(?:\^[^<>|\s]{0,200})?(?:\|([^<>]{0,200}))?>"
)


class ExplainInputError(ValueError):
    """The input cannot be explained; the message says why in one line."""


def read_bytes(data: bytes) -> str:
    """Bytes (a file, stdin) as text, or ExplainInputError."""
    if len(data) > MAX_BYTES:
        raise ExplainInputError(
            f"the input is {len(data):,} bytes, over the 1 MiB limit; pass the lines around "
            "the failure (e.g. tail -n 2000 error.log | gateway explain)"
        )
    if b"\x00" in data:
        raise ExplainInputError("the input is binary (it holds NUL bytes), not log text")
    return read_text(data.decode("utf-8", errors="replace"))


def read_text(text: str) -> str:
    """Text as pasted, checked: not empty, not over 1 MiB, not mostly binary."""
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_BYTES:
        raise ExplainInputError(
            f"the text is {size:,} bytes, over the 1 MiB limit; paste the lines around the failure"
        )
    if not text.strip():
        raise ExplainInputError(
            "no log lines given: paste lines of a gateway's error or access log"
        )
    if "\x00" in text:
        raise ExplainInputError("the input is binary (it holds NUL bytes), not log text")
    if len(_CONTROL.findall(text)) > max(8, len(text) // 20):
        raise ExplainInputError("the input looks binary (control characters), not log text")
    return text


def from_slack(text: str) -> str:
    """Log lines as Slack delivers them, back to what was pasted.

    Slack escapes & < > as entities and turns URLs into <url|label> links (in
    message text, and in slash-command text when the command escapes it).
    """
    text = _SLACK_SPECIAL.sub(_special, text)
    text = _SLACK_LINK.sub(lambda m: m.group(2) or m.group(1), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _special(match: re.Match[str]) -> str:
    """<!channel> → @channel, <@U1|ann> → @ann, <#C1|ops> → #ops: words, not mentions."""
    kind, name, label = match.groups()
    if label:
        return label if label[:1] in "@#" else ("#" if kind == "#" else "@") + label
    return ("#" if kind == "#" else "@") + name
