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

    def runs(self, watch_id: int) -> bool:
        """This replica checks that watch and holds its memory (else the database does)."""
        owns = getattr(self.fleet, "owns", None)
        return bool(owns(watch_id)) if callable(owns) else self.fleet.leading

    @property
    def alarms(self) -> bool:
        """This replica's clock reminds and escalates (exactly one does)."""
        return self.fleet.leading

    async def tell(self, what: str, watch_id: int) -> None:
        """Tell the replica that runs the watch that it changed (NOTIFY; alone: nothing)."""
        await self.fleet.notify(what, watch_id)
