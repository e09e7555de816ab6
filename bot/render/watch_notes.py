"""What the watch service says in a channel, worded for Slack: the service passes plain
values (who, which site, how long), and only this module writes mentions, emoji and
markup, escaping every value that came from a person or a site."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.alert_syntax import mentions
from bot.render.alerts import duration, escape, failing_words, note, slack_date
from bot.render.mrkdwn import Message
from bot.spec import WatchSpec


def announced(user: str, spec: WatchSpec, created: bool) -> Message:
    """A new or changed watch, with what counts as a failure and who is told."""
    every = duration(timedelta(seconds=spec.interval_s))
    verb = "is now watching" if created else "changed the watch of"
    after = spec.fail_after
    text = (
        f":eyes: <@{user}> {verb} {escape(spec.url)}: a check every {every}; an alert here "
        f"after {after} failed check{'s' if after != 1 else ''}, and the recovery in its thread."
    )
    if spec.expect.any:
        text += f" A failure also means: {escape(failing_words(spec.expect))}."
    if spec.notify:
        text += f" Alerts notify {mentions(spec.notify)}."
    return note(text)


def too_often(interval: float, shortest: float) -> str:
    return (
        f"Checks every {duration(timedelta(seconds=interval))} are too often: the shortest "
        f"interval here is {duration(timedelta(seconds=shortest))}."
    )


def url_too_long(most: int) -> str:
    return f"URLs longer than {most} characters cannot be watched."


def refused(reason: str) -> str:
    """A request refused, as one line (escaped)."""
    return f":no_entry: {escape(reason)}"


def cannot_post_here() -> Message:
    return note(
        ":no_entry: I can't post in this channel, so I couldn't alert here. Invite me "
        "with `/invite @gateway`, then watch again."
    )


def stopped_watching(user: str, url: str) -> Message:
    return note(f":wave: <@{user}> stopped watching {escape(url)}.")


def dropped(url: str, reason: str) -> Message:
    """The target is refused now (e.g. it resolves to a private address): the watch goes."""
    return note(f":no_entry: I stopped watching {escape(url)}: {escape(reason)}")


def not_watched(url: str) -> Message:
    """The one answer for a command about a site this channel does not watch."""
    return note(
        f"This channel does not watch {escape(url)}; `/gateway watches` lists what it watches."
    )


def not_running(url: str, problem: str, unreadable: bool) -> Message:
    """A stored watch skipped at start-up, and how to set it right (or remove it)."""
    site = escape(url)
    fix = (
        f"`/gateway unwatch {site}` removes it."
        if unreadable  # only removing helps
        else f"`/gateway watch {site} every 5m` sets it right, "
        f"`/gateway unwatch {site}` removes it."
    )
    return note(f":warning: I am not running the watch of {site}: {problem}. {fix}")


def button_refused() -> Message:
    return note(
        ":no_entry: That button does not belong to a watch of this channel "
        "(or its watch is gone); `/gateway watches` lists what this channel watches."
    )


def acknowledged(user: str) -> Message:
    return note(
        f":eyes: <@{user}> acknowledged. I keep checking quietly and will say here when "
        "it recovers."
    )


def muted(user: str, url: str, span: timedelta, until: datetime, reason: str | None) -> Message:
    return note(
        f":mute: <@{user}> muted {escape(url)} for {duration(span)}, until {slack_date(until)}"
        + (f": {escape(reason)}" if reason else "")
        + ". Checks go on; if it still fails when the window ends, the alert opens then."
    )


def not_muted(url: str) -> Message:
    return note(f"{escape(url)} is not muted.")


def unmuted(user: str, url: str) -> Message:
    return note(f":bell: <@{user}> unmuted {escape(url)}; alerts resume.")
