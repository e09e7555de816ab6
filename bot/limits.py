"""Per-user and per-workspace limits on checks in flight and per minute.

Anyone in a workspace can ask for checks; these bounds keep one person (or one
script) from turning the bot into a load generator. Everything a person starts
that makes the bot go out on the network counts: a check, a Re-run, a watch (or
Watch this site), a Re-check now. Pure bookkeeping with an
injectable clock, so it is tested without sleeping.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.settings import Limits

WINDOW = 60.0


class Refused(Exception):
    """Over a limit; the message is a friendly sentence for the person who asked."""


@dataclass
class RateLimiter:
    limits: Limits
    clock: Callable[[], float] = time.monotonic
    _in_flight: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _recent: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def acquire(self, team: str, user: str, what: str = "checks") -> Ticket:
        """Count one request for `user` of `team`, or raise Refused saying why.

        `what` names the kind of request in the refusal ("checks", "watch requests");
        every kind counts against the same limits.
        """
        now = self.clock()
        user_key, team_key = f"u:{team}:{user}", f"t:{team}"
        if self._in_flight[user_key] >= self.limits.user_in_flight:
            raise Refused(
                f"you already have {self._in_flight[user_key]} {what} running; "
                "I'll take the next one when one of them is done"
            )
        if self._in_flight[team_key] >= self.limits.team_in_flight:
            raise Refused(
                f"this workspace has many {what} running right now; try again in a moment"
            )
        for key, limit, who in (
            (user_key, self.limits.user_per_minute, "you"),
            (team_key, self.limits.team_per_minute, "this workspace"),
        ):
            recent = self._trim(key, now)
            if len(recent) >= limit:
                wait = max(1, int(recent[0] + WINDOW - now) + 1)
                raise Refused(
                    f"{who} asked for {limit} checks or watches in the last minute; "
                    f"try again in {wait} s"
                )
        for key in (user_key, team_key):
            self._recent[key].append(now)
            self._in_flight[key] += 1
        return Ticket(self, (user_key, team_key))

    def _trim(self, key: str, now: float) -> deque[float]:
        recent = self._recent[key]
        while recent and recent[0] <= now - WINDOW:
            recent.popleft()
        return recent

    def _release(self, keys: tuple[str, ...]) -> None:
        for key in keys:
            self._in_flight[key] = max(0, self._in_flight[key] - 1)


@dataclass
class Ticket:
    """One admitted check; release it (or use it as a context manager) when done."""

    limiter: RateLimiter
    keys: tuple[str, ...]
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.limiter._release(self.keys)

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
