"""What this replica does among the fleet's, asked in one place.

Which watches it runs: checks, alerts, and the alarms of their incidents
(reminders, escalations, mute ends), all where the watch's memory is; and
whether it does the fleet's chores (pruning the history). The fleet
(bot/watch/fleet.py) decides, by shard; the watch service only asks here, never
the fleet's flags directly.
"""

from __future__ import annotations

from typing import Protocol


class Fleet(Protocol):
    """The part of a fleet (`Solo` or `PostgresFleet`) the role reads and tells."""

    leading: bool
    shards: frozenset[int]

    def owns(self, watch_id: int) -> bool: ...

    async def notify(self, what: str, watch_id: int) -> None: ...


class Role:
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    @property
    def leading(self) -> bool:
        """This replica does the fleet's chores (alone, or the fleet's leader)."""
        return self.fleet.leading

    @property
    def shards(self) -> frozenset[int]:
        """The shards whose watches this replica runs (bot/watch/shards.py)."""
        return self.fleet.shards

    @property
    def runs_any(self) -> bool:
        """This replica runs some watches (holds some shards)."""
        return bool(self.fleet.shards)

    def runs(self, watch_id: int) -> bool:
        """This replica checks that watch and holds its memory (else the database does)."""
        return self.fleet.owns(watch_id)

    @property
    def alarms(self) -> bool:
        """This replica's clock reminds and escalates: for the watches it runs, so each
        incident's clock ticks in one replica, under the watch's lock."""
        return self.runs_any

    async def tell(self, what: str, watch_id: int) -> None:
        """Tell the replica that runs the watch that it changed (NOTIFY; alone: nothing)."""
        await self.fleet.notify(what, watch_id)
