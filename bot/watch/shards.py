"""The watches split into shards, and each replica's fair share of them (pure).

A watch belongs to shard `watch_id % SHARDS`: ids come from a sequence, so the
shards hold the same number of watches give or take one. A replica holds a shard
by holding a PostgreSQL advisory lock (bot/watch/fleet.py); which shards it aims
for is decided here, from nothing but the fleet's members (their lock sessions'
backend pids, which every replica reads alike) and what each holds.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable
from dataclasses import dataclass

SHARDS = 64  # fine enough that 3 replicas differ by one shard (22/21/21), few enough locks
ALL = frozenset(range(SHARDS))


def shard_of(watch_id: int) -> int:
    return watch_id % SHARDS


def fair_share(members: Iterable[int], me: int, shards: int = SHARDS) -> int:
    """How many shards `me` should hold among `members`: SHARDS // N, the first
    SHARDS % N members by pid one more, so that the shares add up to SHARDS."""
    ranked = sorted(set(members) | {me})
    base, extra = divmod(shards, len(ranked))
    return base + (1 if ranked.index(me) < extra else 0)


@dataclass(frozen=True)
class Moves:
    take: tuple[int, ...] = ()
    release: tuple[int, ...] = ()


def plan(held: Collection[int], target: int, taken: Collection[int], rng: random.Random) -> Moves:
    """One step towards the fair share: over it, let go of the surplus; under it, try
    for as many free shards (held by nobody: `taken` is every shard held by anyone) as
    are missing. Random picks, so that replicas taking at once seldom want the same."""
    if len(held) > target:
        return Moves(release=tuple(sorted(rng.sample(sorted(held), len(held) - target))))
    free = sorted(ALL - set(taken) - set(held))
    want = min(target - len(held), len(free))
    return Moves(take=tuple(sorted(rng.sample(free, want)))) if want > 0 else Moves()
