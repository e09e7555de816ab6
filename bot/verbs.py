"""Every `/gateway` verb and every button: one registration each, with its help.

A handler only admits: it parses what it was given and returns the `Answer`
(text now, or work for after the ack). Database need and rate limit are the
registration's; the table applies them (bot/dispatch.py). A new verb is one
`@VERBS.verb(...)` here: usage line, grammar, command type and handler together.
"""

from __future__ import annotations

from typing import Protocol

from bot import commands
from bot.agents import conversation as agents
from bot.chat import Chat
from bot.commands import (
    Check,
    CommandError,
    Explain,
    Help,
    ListAgents,
    ListWatches,
    Mute,
    Timeline,
    Unmute,
    Unwatch,
)
from bot.commands import Watch as WatchCommand
from bot.dispatch import CHECKS, WATCH_REQUESTS, Answer, Registry, Request
from bot.limits import RateLimiter
from bot.render import slack as render
from bot.render.alerts import (
    ACTION_ACK,
    ACTION_MUTE,
    ACTION_RECHECK,
    ACTION_TIMELINE,
    ACTION_UNWATCH,
)
from bot.render.home import (
    ACTION_HOME_EDIT,
    ACTION_HOME_MUTE,
    ACTION_HOME_NEW,
    ACTION_HOME_RECHECK,
    ACTION_HOME_UNMUTE,
)
from bot.watch.service import Press, WatchService
from bot.work import Work, target_from
from checks.guard import TargetRefused
from checks.via import vet_vias


class Desk(Protocol):
    """What a handler works with (the `Gateway` in bot/service.py)."""

    @property
    def limiter(self) -> RateLimiter: ...

    @property
    def has_database(self) -> bool: ...

    @property
    def work(self) -> Work: ...

    @property
    def watches(self) -> WatchService | None: ...

    def on_parsed(self, chat: Chat, request: Request, command: object) -> Answer: ...

    def on_explain(
        self, chat: Chat, request: Request, text: str, thread_ts: str | None = None
    ) -> Answer: ...

    def store_watch(self, chat: Chat, request: Request, command: WatchCommand) -> Answer: ...


VERBS: Registry[Desk] = Registry(
    heading="*Usage*",
    footer="A target can be `site.com`, `site.com:8443`, `http://site.com:8080/health` or an IP.",
    bare=lambda word: Check(commands.target(word)),
)


def _watching(desk: Desk) -> WatchService:
    """The watch service of a handler registered with `database=True` (so it exists)."""
    assert desk.watches is not None
    return desk.watches


# --- the verbs, in the order the help lists them --------------------------------------


@VERBS.verb(
    "check",
    usage="• `/gateway check site.com`: diagnose now (or just `/gateway site.com`)\n"
    "• `/gateway check site.com via 203.0.113.10 [via IP…]`: also ask the origin directly, "
    "and name the broken link (the edge, between the edge and the origin, the origin)\n"
    "• `/gateway check site.com from all` (or `from west,east`): the same check from the "
    "agents too, side by side",
    parse=lambda words, _raw: commands.check(words),
    command=Check,
    limit=CHECKS,
)
def check(desk: Desk, chat: Chat, request: Request, command: Check) -> Answer:
    names = agents.chosen(desk.work.agents, command.sources) if command.sources else []
    if isinstance(names, str):
        return Answer(text=f":satellite_antenna: {render.escape(names)}")
    work = desk.work.check(chat, request, command.target, command.via, names)
    return Answer(work=work, after_acks=True)


@VERBS.verb(
    "watch",
    usage="• `/gateway watch site.com [every 30s|5m|1h] [after N] [expect 200] "
    '[contains "TEXT"] [!contains "TEXT"] [header NAME: VALUE] [slow 800ms] [origin IP] '
    "[notify @group @person…]`: "
    "alert this channel when it breaks (`origin IP`: asked directly when the site fails)",
    parse=lambda words, _raw: commands.watch(words),
    command=WatchCommand,
    database=True,
    limit=WATCH_REQUESTS,
)
def watch(desk: Desk, chat: Chat, request: Request, command: WatchCommand) -> Answer:
    try:  # an origin passes the private-address guard before anything is stored
        vet_vias(command.expect.origins, desk.work.settings.check.allow_private)
    except TargetRefused as exc:
        return Answer(text=f":no_entry: {render.escape(exc)}")
    return desk.store_watch(chat, request, command)


@VERBS.verb(
    "unwatch",
    usage="• `/gateway unwatch site.com`: stop watching",
    parse=lambda words, _raw: Unwatch(commands.one_target(words, "unwatch")),
    command=Unwatch,
    database=True,
)
def unwatch(desk: Desk, chat: Chat, request: Request, command: Unwatch) -> Answer:
    work = _watching(desk).unwatch(chat, request.channel, request.user, command.target)
    return Answer(work=work)


@VERBS.verb(
    "watches",
    usage="• `/gateway watches`: this channel's watches and their state",
    parse=lambda _words, _raw: ListWatches(),
    command=ListWatches,
    database=True,
)
def watches(desk: Desk, chat: Chat, request: Request, command: ListWatches) -> Answer:
    return Answer(work=_watching(desk).list_watches(chat, request.channel, request.user))


@VERBS.verb(
    "mute",
    usage="• `/gateway mute site.com for 2h [reason]` / `/gateway unmute site.com`: "
    "planned work, checks go on, alerts wait for the end of the window",
    parse=lambda words, _raw: commands.mute(words),
    command=Mute,
    database=True,
)
def mute(desk: Desk, chat: Chat, request: Request, command: Mute) -> Answer:
    return Answer(work=_watching(desk).mute_command(chat, request.channel, request.user, command))


@VERBS.verb(
    "unmute",
    usage="",  # told on the line of `mute`
    parse=lambda words, _raw: Unmute(commands.one_target(words, "unmute")),
    command=Unmute,
    database=True,
)
def unmute(desk: Desk, chat: Chat, request: Request, command: Unmute) -> Answer:
    work = _watching(desk).unmute_command(chat, request.channel, request.user, command.target)
    return Answer(work=work)


@VERBS.verb(
    "agents",
    usage="• `/gateway agents`: the agents, their place, version and last contact",
    parse=lambda _words, _raw: ListAgents(),
    command=ListAgents,
)
def list_agents(desk: Desk, chat: Chat, request: Request, command: ListAgents) -> Answer:
    return Answer(work=agents.list_agents(desk.work.agents, chat, request.channel, request.user))


@VERBS.verb(
    "timeline",
    usage="• `/gateway timeline site.com [all]`: the last incident's record in its alert's "
    "thread, and a postmortem draft (`all`: the last 10 incidents)",
    parse=lambda words, _raw: commands.timeline(words),
    command=Timeline,
    database=True,
)
def timeline(desk: Desk, chat: Chat, request: Request, command: Timeline) -> Answer:
    timelines = _watching(desk).timelines
    work = timelines.command(
        chat, request.team, request.channel, request.user, command.target, command.every
    )
    return Answer(work=work)


def _explain_words(_words: list[str], raw: str) -> Explain:
    if not raw:
        raise CommandError("`explain` needs log lines: `/gateway explain` then paste them")
    return Explain(raw)


@VERBS.verb(
    "explain",
    usage="• `/gateway explain LOG LINES`: what pasted gateway log lines prove\n"
    "  (or the message shortcut *Explain with gateway* on a message holding them)",
    parse=_explain_words,
    command=Explain,
)
def explain(desk: Desk, chat: Chat, request: Request, command: Explain) -> Answer:
    return desk.on_explain(chat, request, command.text)


@VERBS.verb(
    "help",
    "-h",
    "--help",
    "?",
    usage="• `/gateway help`: this message",
    parse=lambda _words, _raw: Help(),
    command=Help,
)
def help_(desk: Desk, chat: Chat, request: Request, command: Help) -> Answer:
    return Answer(text=USAGE)


USAGE = VERBS.usage()


def parse_command(text: str) -> object:
    """The command `/gateway TEXT` asks for; `CommandError` (one line) if none."""
    return VERBS.parse(text)


# --- the buttons of a verdict ---------------------------------------------------------


@VERBS.action(render.ACTION_VISITOR)
def visitor(desk: Desk, chat: Chat, request: Request, value: str) -> Answer:
    return Answer(work=desk.work.visitor_advice(chat, request, value))


@VERBS.action(render.ACTION_RERUN)
def rerun(desk: Desk, chat: Chat, request: Request, value: str) -> Answer:
    target = target_from(value)
    if isinstance(target, str):
        return Answer(text=f"{render.escape(target)}; run `/gateway check SITE` again.")
    return desk.on_parsed(chat, request, Check(target))


@VERBS.action(render.ACTION_WATCH, limit=CHECKS)
def watch_button(desk: Desk, chat: Chat, request: Request, value: str) -> Answer:
    """Slack: the watch modal, prefilled (rate limited: a button pressed in a loop stops at
    the limits, as a watch command does); the terminal: the watch command itself."""
    target = target_from(value)
    if isinstance(target, str):
        return Answer(text=f"{render.escape(target)}; try `/gateway watch SITE`.")
    if request.trigger_id and desk.watches is not None:
        home = desk.watches.home
        return Answer(
            work=home.open_modal(
                chat, request.trigger_id, request.team, target=target, channel=request.channel
            )
        )
    return desk.on_parsed(chat, request, WatchCommand(target))


# --- the buttons of the Home tab ------------------------------------------------------


def _home_watch(value: str) -> int | None:
    watch_id = render.button_data(value).get("w")
    return watch_id if isinstance(watch_id, int) else None


@VERBS.action(ACTION_HOME_NEW, database=True)
def home_new(desk: Desk, chat: Chat, request: Request, value: str) -> Answer:
    if not request.trigger_id:
        return Answer()
    return Answer(work=_watching(desk).home.open_modal(chat, request.trigger_id, request.team))


@VERBS.action(ACTION_HOME_EDIT, database=True)
def home_edit(desk: Desk, chat: Chat, request: Request, value: str) -> Answer:
    watch_id = _home_watch(value)
    if watch_id is None or not request.trigger_id:
        return Answer()
    home = _watching(desk).home
    return Answer(
        work=home.open_modal(
            chat, request.trigger_id, request.team, watch_id=watch_id, user=request.user
        )
    )


@VERBS.action(ACTION_HOME_RECHECK, database=True, limit=CHECKS)  # out on the network
def home_recheck(desk: Desk, chat: Chat, request: Request, value: str) -> Answer:
    watch_id = _home_watch(value)
    if watch_id is None:
        return Answer()
    return Answer(work=_watching(desk).home.recheck(chat, request.team, request.user, watch_id))


@VERBS.action(ACTION_HOME_MUTE, database=True)
def home_mute(desk: Desk, chat: Chat, request: Request, value: str) -> Answer:
    watch_id = _home_watch(value)
    if watch_id is None:
        return Answer()
    return Answer(work=_watching(desk).home.mute(chat, request.team, request.user, watch_id))


@VERBS.action(ACTION_HOME_UNMUTE, database=True)
def home_unmute(desk: Desk, chat: Chat, request: Request, value: str) -> Answer:
    watch_id = _home_watch(value)
    if watch_id is None:
        return Answer()
    return Answer(work=_watching(desk).home.unmute(chat, request.team, request.user, watch_id))


# --- the buttons of a watch alert ---------------------------------------------------------
# Each acts only on a watch of the workspace and channel it was pressed in (the watch
# service checks); Re-check now goes out on the network, so it is rate limited.


def _press(request: Request) -> Press:
    return Press(team=request.team, channel=request.channel, user=request.user)


@VERBS.action(ACTION_RECHECK, database=True, limit=CHECKS)
def alert_recheck(desk: Desk, chat: Chat, request: Request, value: str) -> Answer:
    work = _watching(desk).recheck(chat, _press(request), value)
    return Answer(work=work, after_acks=True)


@VERBS.action(ACTION_ACK, database=True)
def alert_acknowledge(desk: Desk, chat: Chat, request: Request, value: str) -> Answer:
    return Answer(work=_watching(desk).acknowledge(chat, _press(request), value))


@VERBS.action(ACTION_MUTE, database=True)
def alert_mute(desk: Desk, chat: Chat, request: Request, value: str) -> Answer:
    return Answer(work=_watching(desk).mute(chat, _press(request), value))


@VERBS.action(ACTION_UNWATCH, database=True)
def alert_unwatch(desk: Desk, chat: Chat, request: Request, value: str) -> Answer:
    return Answer(work=_watching(desk).unwatch_button(chat, _press(request), value))


@VERBS.action(ACTION_TIMELINE, database=True)
def alert_timeline(desk: Desk, chat: Chat, request: Request, value: str) -> Answer:
    return Answer(work=_watching(desk).timeline_button(chat, _press(request), value))
