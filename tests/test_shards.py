"""The shares of the shards (bot/watch/shards.py): fair, and reached in a few rounds.

The simulation plays the fleet's rounds with the lock semantics PostgreSQL gives
(a shard's lock is won by one replica at a time, a dead replica's locks are free):
whoever joins or dies, every shard ends up held by exactly one live replica, each
replica holding its fair share.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.watch.shards import ALL, SHARDS, fair_share, plan, shard_of


@given(st.sets(st.integers(1, 2**31 - 1), min_size=1, max_size=70))
def test_the_fair_shares_add_up_to_every_shard_and_differ_by_at_most_one(members):
    shares = [fair_share(members, me) for me in members]
    assert sum(shares) == SHARDS
    assert max(shares) - min(shares) <= 1


def test_watches_numbered_in_a_row_fill_the_shards_evenly():
    counts = [0] * SHARDS
    for watch_id in range(1, 30_001):
        counts[shard_of(watch_id)] += 1
    assert max(counts) - min(counts) <= 1


@given(
    st.sets(st.integers(0, SHARDS - 1)),
    st.sets(st.integers(0, SHARDS - 1)),
    st.integers(0, SHARDS),
    st.integers(0, 2**32),
)
def test_a_step_gives_only_what_it_holds_and_takes_only_what_is_free(held, others, target, seed):
    others -= held
    moves = plan(held, target, held | others, random.Random(seed))
    assert set(moves.release) <= held
    assert not set(moves.take) & (held | others)
    assert not (moves.take and moves.release)
    after = len(held) - len(moves.release) + len(moves.take)
    if len(held) > target:
        assert after == target  # the surplus goes at once
    else:
        assert after == min(target, len(held) + len(ALL - held - others))


def rounds(fleet: dict[int, set[int]], rng: random.Random, count: int) -> None:
    """`count` rounds of every live replica, in a random order each round (each reads the
    members and the held shards, then gives or tries for locks only one can win)."""
    for _ in range(count):
        for me in rng.sample(sorted(fleet), len(fleet)):
            taken = set().union(*fleet.values())
            moves = plan(fleet[me], fair_share(fleet, me), taken, rng)
            fleet[me] -= set(moves.release)
            free = ALL - set().union(*fleet.values())
            fleet[me] |= set(moves.take) & free


def assert_settled(fleet: dict[int, set[int]]) -> None:
    held = [s for shards in fleet.values() for s in shards]
    assert sorted(held) == sorted(ALL)  # every shard, once
    for me, shards in fleet.items():
        assert len(shards) == fair_share(fleet, me)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 6), st.integers(0, 3), st.integers(0, 2**32))
def test_the_fleet_settles_after_joins_and_deaths_within_three_rounds(start, change, seed):
    rng = random.Random(seed)
    pids = iter(rng.sample(range(100, 10_000), 20))
    fleet = {next(pids): set() for _ in range(start)}
    rounds(fleet, rng, 3)
    assert_settled(fleet)
    for _ in range(change):
        if len(fleet) > 1 and rng.random() < 0.5:
            del fleet[rng.choice(sorted(fleet))]  # SIGKILL: its session, locks and membership go
        else:
            fleet[next(pids)] = set()  # a newcomer
        rounds(fleet, rng, 3)
        assert_settled(fleet)
