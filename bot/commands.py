"""What `/gateway …` asks for: the commands, and the grammar of each verb's words. Pure.

Which verb reads which words is the dispatch table's (bot/verbs.py). Unusable
text raises `CommandError` whose message says what was wrong; the caller shows
it with the usage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot import durations
from bot.alert_syntax import SyntaxProblem, parse_alerting, parse_span, plain_reason
from bot.spec import WatchSpec
from checks.models import Target
from checks.target import TargetError, parse_target

MAX_INTERVAL = 24 * 3600.0  # seconds; the shortest is the GATEWAY_MIN_INTERVAL setting
MAX_AFTER = 20


class CommandError(ValueError):
    """The text cannot be acted on; the message is one line for the person who typed it."""


@dataclass(frozen=True)
class Check:
    target: Target


Watch = WatchSpec  # `/gateway watch …` asks for exactly a watch's settings


@dataclass(frozen=True)
class Mute:
    target: Target
    span: timedelta
    reason: str = ""


@dataclass(frozen=True)
class Unmute:
    target: Target


@dataclass(frozen=True)
class Unwatch:
    target: Target


@dataclass(frozen=True)
class ListWatches:
    pass


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Explain:
    text: str  # the pasted lines, line breaks kept


def one_target(words: list[str], verb: str) -> Target:
    if not words:
        raise CommandError(f"`{verb}` needs a site, e.g. `/gateway {verb} example.com`")
    if len(words) > 1:
        raise CommandError(f"`{verb}` takes one site; I don't understand `{short(words[1])}`")
    return target(words[0])


def watch(words: list[str]) -> Watch:
    if not words:
        raise CommandError("`watch` needs a site, e.g. `/gateway watch example.com every 5m`")
    site = target(words[0])
    interval = after = None
    try:
        expect, notify, rest = parse_alerting(words[1:])
    except SyntaxProblem as exc:
        raise CommandError(str(exc)) from None
    while rest:
        word = rest.pop(0).lower()
        if word == "every" and rest:
            interval = parse_interval(rest.pop(0))
        elif word == "after" and rest:
            after = _count(rest.pop(0))
        else:
            raise CommandError(
                f"I don't understand `{short(word)}`: try `watch site.com every 5m after 3`"
            )
    return Watch(target=site, interval=interval, after=after, expect=expect, notify=notify)


def mute(words: list[str]) -> Mute:
    if len(words) < 3 or words[1].lower() != "for":
        raise CommandError("`mute` needs a site and how long, e.g. `/gateway mute site.com for 2h`")
    try:
        span = parse_span(words[2])
    except SyntaxProblem as exc:
        raise CommandError(str(exc)) from None
    return Mute(target(words[0]), span, plain_reason(" ".join(words[3:])))


def parse_interval(text: str) -> float:
    """`30s`, `5m`, `1h`, `90` (seconds) → seconds, at most a day.

    The lower bound is a setting (GATEWAY_MIN_INTERVAL), so the watch service checks it.
    """
    text = text.strip().lower()
    seconds = durations.seconds(text, bare="s", units="smh")
    if seconds is None:
        raise CommandError(f"`{short(text)}` is not an interval: use e.g. `30s`, `5m` or `1h`")
    if not 0 < seconds <= MAX_INTERVAL:
        raise CommandError(
            f"`every {short(text)}` is out of range: the longest interval is 24 h"
            if seconds > 0
            else f"`every {short(text)}` is not an interval: use e.g. `30s`, `5m` or `1h`"
        )
    return seconds


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) < 4) or not 1 <= int(text) <= MAX_AFTER:
        raise CommandError(
            f"`after` takes a number of failed checks from 1 to {MAX_AFTER}, not `{short(text)}`"
        )
    return int(text)


def target(text: str) -> Target:
    try:
        return parse_target(text)
    except (TargetError, ValueError) as exc:  # e.g. an IDNA error: still one line, not a 500
        raise CommandError(_one_line(str(exc)) or "that is not a site I can check") from None


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short(text: str, limit: int = 40) -> str:
    text = text.replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"
