"""The dispatch table: every `/gateway` verb and every button, in one place.

Each entry says what handles it, whether it needs the bot's database and which
rate limit it counts against; a verb also brings its grammar and its line of
help (Errbot's `@botcmd`: the help lives with the command). Adding a verb is
one registration (see bot/verbs.py). Text whose first word is no verb gets the
help with "unknown command", never a default verb; a lone word is a target
(`/gateway site.com`). A pressed button nobody registered does nothing.

Transport-free and pure apart from the rate limiter: Slack and the terminal
both go through it (bot/service.py).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any, Generic, Protocol, TypeVar

from bot.alert_syntax import tokenize
from bot.chat import Chat
from bot.commands import CommandError, short
from bot.limits import RateLimiter, Refused, Ticket

CHECKS = "checks"  # rate-limit keys: the word a refusal uses ("too many checks")
WATCH_REQUESTS = "watch requests"
NO_DATABASE = "Watching sites needs the bot's database; it is not set up here."


@dataclass(frozen=True)
class Request:
    """Who asked, where, and for what: the parts of a slash command or click we use."""

    team: str
    channel: str
    user: str
    text: str = ""
    response_url: str | None = None
    trigger_id: str | None = None  # a click's: lets the answer be a modal


@dataclass(frozen=True)
class Answer:
    """The immediate answer to a command: an ephemeral text, or nothing (work follows).

    `prepare`, when set, must be awaited (see `Gateway.settle`) before the ack: it is the
    short write that has to be durable once Slack has been told "got it", and it gives
    the real Answer.
    """

    text: str | None = None
    work: Coroutine[Any, Any, None] | None = None
    prepare: Coroutine[Any, Any, Answer] | None = None
    # work that probes or parses (a check, a re-check, an explanation) waits until the
    # burst it came in has been acked (bot/ack_first.py); short work starts at once
    after_acks: bool = False
    admitted: bool = False  # already counted against a rate limit (one answer, one ticket)


class Desk(Protocol):
    """What the table needs of whoever answers: the limits, and whether it has a database."""

    @property
    def limiter(self) -> RateLimiter: ...

    @property
    def has_database(self) -> bool: ...


D = TypeVar("D", bound=Desk)
Parse = Callable[[list[str], str], object]  # the words after the verb, and its raw text


@dataclass(frozen=True)
class Verb(Generic[D]):
    names: tuple[str, ...]
    usage: str  # its line in the help ("" when another verb's line tells it)
    parse: Parse
    command: type  # what `parse` returns; one verb per command type
    handle: Callable[[D, Chat, Request, Any], Answer]
    database: bool = False
    limit: str | None = None


@dataclass(frozen=True)
class Action(Generic[D]):
    action_id: str
    handle: Callable[[D, Chat, Request, str], Answer]
    database: bool = False
    limit: str | None = None


class Registry(Generic[D]):
    """Verbs and actions, registered with decorators, answered through one admission."""

    def __init__(
        self, heading: str, footer: str, bare: Callable[[str], object] | None = None
    ) -> None:
        self.heading, self.footer, self.bare = heading, footer, bare
        self.verbs: dict[str, Verb[D]] = {}
        self.by_command: dict[type, Verb[D]] = {}
        self.actions: dict[str, Action[D]] = {}

    def verb(
        self,
        *names: str,
        usage: str,
        parse: Parse,
        command: type,
        database: bool = False,
        limit: str | None = None,
    ) -> Callable[[Callable[[D, Chat, Request, Any], Answer]], Callable[..., Answer]]:
        def register(handle: Callable[[D, Chat, Request, Any], Answer]) -> Callable[..., Answer]:
            entry = Verb(names, usage, parse, command, handle, database, limit)
            for name in names:
                assert name not in self.verbs, f"the verb {name} is registered twice"
                self.verbs[name] = entry
            assert command not in self.by_command, f"{command.__name__} has two verbs"
            self.by_command[command] = entry
            return handle

        return register

    def action(
        self, *action_ids: str, database: bool = False, limit: str | None = None
    ) -> Callable[[Callable[[D, Chat, Request, str], Answer]], Callable[..., Answer]]:
        def register(handle: Callable[[D, Chat, Request, str], Answer]) -> Callable[..., Answer]:
            for action_id in action_ids:
                assert action_id not in self.actions, f"the action {action_id} is registered twice"
                self.actions[action_id] = Action(action_id, handle, database, limit)
            return handle

        return register

    def usage(self) -> str:
        lines = [self.heading]
        lines += [verb.usage for verb in dict.fromkeys(self.verbs.values()) if verb.usage]
        return "\n".join([*lines, self.footer])

    def parse(self, text: str) -> object:
        """The command the text asks for; `CommandError` (one line) when there is none."""
        words = tokenize(text)
        if not words:
            raise CommandError("tell me which site to check, e.g. `/gateway check example.com`")
        verb = self.verbs.get(words[0].lower())
        if verb is not None:
            return verb.parse(words[1:], text.lstrip()[len(words[0]) :].strip())
        if len(words) == 1 and self.bare is not None:
            return self.bare(words[0])
        raise CommandError(f"unknown command `{short(words[0])}`")

    def answer(self, desk: D, chat: Chat, request: Request, command: object) -> Answer:
        """Run a parsed command's handler, admitted by the verb's needs."""
        verb = self.by_command.get(type(command))
        if verb is None:  # every command type has its verb: a missing one is a bug here
            raise TypeError(f"no verb answers {type(command).__name__}")
        if verb.database and not desk.has_database:
            return Answer(text=NO_DATABASE)
        return admit(desk.limiter, request, verb.limit, verb.handle(desk, chat, request, command))

    def press(self, desk: D, chat: Chat, request: Request, action_id: str, value: str) -> Answer:
        """A button: its handler, admitted by its needs; unknown or unusable ones do nothing."""
        action = self.actions.get(action_id)
        if action is None or (action.database and not desk.has_database):
            return Answer()
        return admit(desk.limiter, request, action.limit, action.handle(desk, chat, request, value))


def admit(limiter: RateLimiter, request: Request, limit: str | None, answer: Answer) -> Answer:
    """The one rate-limit gate: an answer that has work to do holds a ticket while it runs.

    Refused: the work is dropped (never started) and the person is told why. An answer
    with only text costs nothing, so a typo never uses up anybody's checks.
    """
    if limit is None or answer.admitted or (answer.work is None and answer.prepare is None):
        return answer
    ticket = ticket_for(limiter, request, limit)
    if isinstance(ticket, str):
        for coroutine in (answer.work, answer.prepare):
            if coroutine is not None:
                coroutine.close()
        return Answer(text=f":hourglass: {ticket}.")
    return hold(ticket, answer)


def ticket_for(limiter: RateLimiter, request: Request, limit: str) -> Ticket | str:
    """A ticket under the limit named, or the refusal's reason (one line)."""
    try:
        return limiter.acquire(request.team, request.user, limit)
    except Refused as exc:
        return str(exc)


def hold(ticket: Ticket, answer: Answer) -> Answer:
    """The same answer, with the ticket released when its work (or its failed prepare) ends."""
    if answer.prepare is not None:
        return replace(answer, prepare=_prepared(ticket, answer.prepare), admitted=True)
    if answer.work is not None:
        return replace(answer, work=_holding(ticket, answer.work), admitted=True)
    ticket.release()
    return replace(answer, admitted=True)


async def _prepared(ticket: Ticket, prepare: Coroutine[Any, Any, Answer]) -> Answer:
    try:
        answer = await prepare
    except BaseException:
        ticket.release()
        raise
    return hold(ticket, answer)


async def _holding(ticket: Ticket, work: Coroutine[Any, Any, None]) -> None:
    with ticket:
        await work
