"""What this replica does among the fleet's, asked in one place.

Which watches it runs (checks, and acts on their buttons' state) and whether its
alarm clock acts (reminders, escalations, mute ends). The fleet (bot/watch/fleet.py)
decides; the watch service only asks here, never the fleet's flags directly.
"""

from __future__ import annotations

from typing import Protocol


class Fleet(Protocol):
    """The part of a fleet (`Solo` or `PostgresFleet`) the role reads and tells."""

    leading: bool

    async def notify(self, what: str, watch_id: int) -> None: ...


class Role:
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    @property
    def leading(self) -> bool:
        """This replica runs watches now (alone, or the fleet's leader)."""
        return self.fleet.leading

    @property
    def _shared(self) -> bool:
        """The fleet shares the watches out (it says which it owns), or one replica runs all."""
        return callable(getattr(self.fleet, "owns", None))

    def runs(self, watch_id: int) -> bool:
        """This replica checks that watch and holds its memory (else the database does)."""
        if self._shared:
            return bool(self.fleet.owns(watch_id))  # type: ignore[attr-defined]
        return self.fleet.leading

    @property
    def runs_any(self) -> bool:
        """This replica runs some watches (so it re-reads the table now and then)."""
        if self._shared:
            return bool(getattr(self.fleet, "shards", True))
        return self.fleet.leading

    @property
    def alarms(self) -> bool:
        """This replica's clock reminds and escalates: each watch's alarms are done once, by
        the replica that runs it (its clock only looks at the watches it holds)."""
        return True if self._shared else self.fleet.leading

    async def tell(self, what: str, watch_id: int) -> None:
        """Tell the replica that runs the watch that it changed (NOTIFY; alone: nothing)."""
        await self.fleet.notify(what, watch_id)
