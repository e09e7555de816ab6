"""Slack mrkdwn, safely: how text of every origin goes into a message. Pure.

Three kinds of text reach a message, and each has one function:

- `escape`: the bot's own words (knowledge text, with a host or port filled in).
  Its formatting is meant; only `&`, `<`, `>` become entities and `@channel`-style
  words are defused.
- `inert`: text a site sent (a header, a reason phrase, a redirect's Location,
  an evidence line quoting them) shown in prose. Nothing in it can format:
  no mention, link, bold, italic, strike, code, quote, emoji or line break.
- `code` / `code_block`: remote text shown literally in a code span or block
  that it cannot close.

Slack has no backslash escape, so the characters that open and close
formatting (`` ` * _ ~ ``) are replaced by look-alikes that format nothing;
invisible characters, which could glue or split formatting, are dropped; control
characters become U+FFFD. The Block Kit helpers every renderer shares live
here too, so no renderer reaches into another's private names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.models.blocks import Block, MarkdownTextObject, SectionBlock

from checks.text import printable

__all__ = [
    "BLOCKS_PER_MESSAGE",
    "SECTION_LIMIT",
    "TEXT_LIMIT",
    "Message",
    "clip",
    "code",
    "code_block",
    "code_sections",
    "escape",
    "inert",
    "mrkdwn",
    "sections",
    "to_messages",
]

SECTION_LIMIT = 3000
BLOCKS_PER_MESSAGE = 50
TEXT_LIMIT = 3000

# not \b: a look-alike such as ˋ (a backtick made inert) counts as a word character
_BROADCAST = re.compile(r"@(channel|here|everyone)(?![A-Za-z0-9])", re.IGNORECASE)
_ENTITIES = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;"}
# What opens or closes formatting, and a look-alike that does not.
_LOOKALIKES = {
    ord("`"): "\u02cb",  # ˋ modifier letter grave accent
    ord("*"): "\u2217",  # ∗ asterisk operator
    ord("~"): "\u223c",  # ∼ tilde operator
}
# `_` inside a word (snake_case, aws_elb) can neither open nor close italics: kept.
_LOOSE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_UNDERSCORE = "\u02cd"  # ˍ modifier letter low macron
_BACKTICK = {ord("`"): "\u02cb"}
# Invisible characters that can join or split what Slack parses (zero-width space,
# joiners, word joiner, soft hyphen, BOM, invisible operators, Mongolian vowel separator).
_INVISIBLE = dict.fromkeys(
    [0x00AD, 0x180E, 0x200B, 0x200C, 0x200D, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xFEFF]
)
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\u2028\u2029\x0b\x0c\x85]")
_EMOJI = re.compile(r":(?=[a-z0-9_+'\-]+:)", re.IGNORECASE)  # a colon that opens `:name:`


def escape(value: object) -> str:
    """The bot's own text: &, <, > as entities; @channel-style words defused."""
    return _defuse(str(value).translate(_ENTITIES))


def inert(value: object) -> str:
    """Remote text in prose: one line, shown as sent, unable to change any formatting."""
    one_line = _LINE_BREAKS.sub(" ", str(value))
    safe = printable(one_line).translate(_INVISIBLE).translate(_ENTITIES).translate(_LOOKALIKES)
    safe = _LOOSE_UNDERSCORE.sub(_UNDERSCORE, safe)
    safe = _EMOJI.sub(":\u2060", safe)  # `:fire:` shown as words, not as an emoji
    if safe.startswith("&gt;"):  # a quote needs `>` first on its line
        safe = "\u203a" + safe[4:]
    return _defuse(safe)


def code(value: object) -> str:
    """Remote text as an inline code span (`` `…` ``) that it can neither close nor break."""
    return f"`{_code_line(value) or ' '}`"


def code_block(lines: list[str] | tuple[str, ...]) -> str:
    """Lines of remote text in one ``` block; no line can close the fence."""
    return "```" + "\n".join(_code_line(line) or " " for line in lines) + "```"


def _code_line(value: object) -> str:
    one_line = _LINE_BREAKS.sub(" ", str(value))
    safe = printable(one_line).translate(_INVISIBLE).translate(_ENTITIES).translate(_BACKTICK)
    return _defuse(safe)


def _defuse(value: str) -> str:
    return _BROADCAST.sub(lambda m: "@\u200b" + m.group(1), value)


# --- Block Kit pieces every renderer shares ----------------------------------------------


@dataclass(frozen=True)
class Message:
    """One Slack message: the fallback text and its blocks (as dicts)."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


def clip(value: str, limit: int) -> str:
    """At most `limit` characters, an ellipsis marking a cut. Clip before escaping."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def mrkdwn(value: str) -> MarkdownTextObject:
    """A mrkdwn text object, verbatim: Slack adds no links or mentions of its own."""
    return MarkdownTextObject(text=value, verbatim=True)


def sections(value: str) -> list[Block]:
    """As many sections as `value` needs, split on line breaks below the section limit."""
    chunks: list[str] = []
    current = ""
    for raw_line in value.split("\n"):
        line = clip(raw_line, SECTION_LIMIT)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > SECTION_LIMIT:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current:
        chunks.append(current)
    return [SectionBlock(text=mrkdwn(chunk)) for chunk in chunks if chunk.strip()]


def code_sections(lines: list[str]) -> list[Block]:
    """Remote lines in code blocks, each section's fence closed inside its own limit."""
    blocks: list[Block] = []
    chunk: list[str] = []
    for line in lines:
        if chunk and len(code_block([*chunk, line])) > SECTION_LIMIT:
            blocks.append(SectionBlock(text=mrkdwn(code_block(chunk))))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(SectionBlock(text=mrkdwn(code_block(chunk))))
    return blocks


def to_messages(fallback: str, blocks: list[Block]) -> list[Message]:
    """Split blocks into messages of at most BLOCKS_PER_MESSAGE, each with the fallback."""
    dicts = [block.to_dict() for block in blocks]  # validates every limit
    messages = []
    for start in range(0, len(dicts), BLOCKS_PER_MESSAGE):
        part = dicts[start : start + BLOCKS_PER_MESSAGE]
        suffix = "" if start == 0 else " (continued)"
        messages.append(Message(text=clip(fallback + suffix, TEXT_LIMIT), blocks=part))
    return messages or [Message(text=clip(fallback, TEXT_LIMIT))]
