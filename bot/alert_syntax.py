"""The alerting words of `/gateway`: who to notify, what to expect, how long to mute. Pure.

Mentions are kept as Slack IDs only (`S…` a user group, `U…`/`W…` a person), taken
from the escaped forms Slack sends (`<!subteam^S…|@oncall-web>`, `<@U…|dana>`)
when the slash command has `should_escape`; a bare `@name` is refused, since
text alone could name anyone.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

from bot import durations
from checks.expect import Expectations

MAX_NOTIFY = 10
MAX_TEXT = 200
MAX_MUTE = timedelta(days=7)
MAX_SLOW_MS = 60_000.0
MAX_HEADER_NAME = 64
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$")  # an RFC 9110 token
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_TOKEN = re.compile(r'"([^"]*)"|“([^”]*)”|(\S+)')
_GROUP = re.compile(r"^<!subteam\^(S[A-Z0-9]{1,20})(?:\|[^>]*)?>$")
_PERSON = re.compile(r"^<@([UW][A-Z0-9]{1,20})(?:\|[^>]*)?>$")
_LABELLED = re.compile(r"<[^|>]*\|([^>]*)>")


class SyntaxProblem(ValueError):
    """One line for the person who typed it."""


def tokenize(text: str) -> list[str]:
    """Words, with "quoted text" (straight or curly quotes) kept as one word.

    Slack escapes &, < and > in command text; a quoted text is unescaped (it is
    compared with a page, never posted unescaped).
    """
    words = []
    for quoted, curly, word in _TOKEN.findall(text or ""):
        if word:
            words.append(word)
        else:
            words.append('"' + html.unescape(quoted or curly) + '"')
    return words


def unquote(word: str) -> str | None:
    return word[1:-1] if len(word) >= 2 and word[0] == word[-1] == '"' else None


def mention_id(word: str) -> str | None:
    """`S…`, `U…` or `W…` from Slack's escaped mention, or None."""
    match = _GROUP.match(word) or _PERSON.match(word)
    return match.group(1) if match else None


def mention(slack_id: str) -> str:
    """The mrkdwn that notifies a stored ID (built from the ID, never from stored text)."""
    return f"<!subteam^{slack_id}>" if slack_id.startswith("S") else f"<@{slack_id}>"


def mentions(ids: tuple[str, ...]) -> str:
    return " ".join(mention(i) for i in ids)


def parse_alerting(words: list[str]) -> tuple[Expectations, tuple[str, ...], list[str]]:
    """Take `expect`, `contains`, `!contains`, `header`, `slow` and `notify` out of the words.

    Returns the expectations, the notify IDs and the words left for the caller.
    """
    statuses: list[int] = []
    contains: list[str] = []
    absent: list[str] = []
    slow: float | None = None
    header: tuple[str, str] | None = None
    notify: list[str] = []
    rest: list[str] = []
    words = list(words)
    while words:
        word = words.pop(0)
        low = word.lower()
        if low == "expect":
            if not words or not _number(words[0]):
                raise SyntaxProblem(
                    "`expect` takes HTTP statuses, e.g. `expect 200` or `expect 200 301`"
                )
            while words and _number(words[0]):
                statuses.append(_status(words.pop(0)))
        elif low in ("contains", "!contains"):
            text = unquote(words.pop(0)) if words else None
            if not text or not text.strip() or len(text) > MAX_TEXT:
                raise SyntaxProblem(
                    f"`{low}` takes a quoted text of 1 to {MAX_TEXT} characters, "
                    f'e.g. `{low} "Add to cart"`'
                )
            (contains if low == "contains" else absent).append(text)
        elif low == "slow":
            slow = _milliseconds(words.pop(0) if words else "")
        elif low == "header":
            if header is not None:
                raise SyntaxProblem("a watch takes one `header` rule")
            header = _header(words)
        elif low == "notify":
            if not words or mention_id(words[0]) is None:
                raise SyntaxProblem(_NOT_A_MENTION.format(word=_short(words[0] if words else "")))
            while words and words[0].startswith("<") and words[0].endswith(">"):
                found = mention_id(words[0])
                if found is None:
                    raise SyntaxProblem(_NOT_A_MENTION.format(word=_short(words[0])))
                words.pop(0)
                if found not in notify:
                    notify.append(found)
            if words and words[0].startswith("@"):
                raise SyntaxProblem(_NOT_A_MENTION.format(word=_short(words[0])))
        else:
            rest.append(word)
    if len(notify) > MAX_NOTIFY:
        raise SyntaxProblem(f"`notify` names at most {MAX_NOTIFY} groups and people")
    if len(set(statuses)) > 10 or len(contains) + len(absent) > 5:
        raise SyntaxProblem("a watch takes at most 10 statuses and 5 texts")
    expect = Expectations(
        tuple(dict.fromkeys(statuses)), tuple(contains), tuple(absent), slow, header
    )
    return expect, tuple(notify), rest


_NOT_A_MENTION = (
    "`notify` takes Slack user groups and people picked from the autocomplete "
    "(e.g. `notify @oncall-web @dana`); I can't tell who `{word}` is"
)


def plain_reason(text: str, limit: int = 200) -> str:
    """A mute's reason as plain text: Slack's escapes undone, mentions as their names.

    It is escaped again wherever it is shown, so it can never notify anyone.
    """
    text = _LABELLED.sub(lambda m: m.group(1), text)
    text = html.unescape(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_span(text: str) -> timedelta:
    """A mute's length: `30m`, `2h`, `1d`, up to 7 days."""
    seconds = durations.seconds(text, bare=None, units="smhd")
    if seconds is None:
        raise SyntaxProblem(f"`{_short(text)}` is not a duration: use e.g. `30m`, `2h` or `1d`")
    span = timedelta(seconds=seconds)
    if not timedelta(0) < span <= MAX_MUTE:
        raise SyntaxProblem("a mute lasts up to 7 days")
    return span


def _number(word: str) -> bool:
    """ASCII digits only (`²`.isdigit() is true, and int() refuses it)."""
    return word.isascii() and word.isdigit()


def _status(text: str) -> int:
    status = int(text)
    if not 100 <= status <= 599:
        raise SyntaxProblem(f"`{_short(text)}` is not an HTTP status (100 to 599)")
    return status


_HEADER_USAGE = (
    "`header` takes a response header's name and the value it must have, "
    'e.g. `header X-Served-By: edge-1` or `header Cache-Control: "no-store, private"`'
)


def _header(words: list[str]) -> tuple[str, str]:
    """`NAME: VALUE`, `NAME:VALUE` or `NAME: "VALUE WITH SPACES"`, taken off the words.

    The name is a header name (letters, digits and `-` and the like, at most 64); the
    value 1 to 200 characters, no control characters; Slack's escapes are undone.
    """
    if not words or ":" not in words[0]:
        raise SyntaxProblem(_HEADER_USAGE)
    name, _, value = words.pop(0).partition(":")
    if not value and words:
        value = words.pop(0)
    quoted = unquote(value)
    value = html.unescape(quoted if quoted is not None else value).strip()
    if not _HEADER_NAME.match(name):
        raise SyntaxProblem(
            f"`{_short(name)}` is not a header name (letters, digits and `-`, "
            f"at most {MAX_HEADER_NAME}): {_HEADER_USAGE}"
        )
    if not value or len(value) > MAX_TEXT or _CONTROL.search(value):
        raise SyntaxProblem(
            f"a `header` value is 1 to {MAX_TEXT} characters on one line: {_HEADER_USAGE}"
        )
    return name, value


def _milliseconds(text: str) -> float:
    seconds = durations.seconds(text, bare="ms", units="xs")
    if seconds is None:
        raise SyntaxProblem(f"`slow` takes a time such as `800ms` or `2s`, not `{_short(text)}`")
    value = seconds * 1000
    if not 1 <= value <= MAX_SLOW_MS:
        raise SyntaxProblem("`slow` takes from 1 ms to 60 s")
    return value


def _short(text: str, limit: int = 40) -> str:
    text = text.replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"
