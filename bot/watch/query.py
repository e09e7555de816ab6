"""What the watches look like from outside the service (App Home, the modal): read-only.

A watch this replica runs shows its memory; one run elsewhere shows the database's copy.
"""

from __future__ import annotations

from datetime import timedelta

from bot.render.home import HomeWatch
from bot.watch.core import Watched
from bot.watch.model import WatchInfo, future, unusable, watch_info


class WatchQuery:
    def __init__(self, core: Watched) -> None:
        self._core = core

    async def info(self, watch_id: int) -> WatchInfo | None:
        """One watch, or None when it is gone or cannot run."""
        return await self._core.info(watch_id)

    async def home_watches(self, team: str) -> list[HomeWatch]:
        """A workspace's watches as its Home tab lists them, by channel and site."""
        core, store = self._core, self._core.store
        now = core.clock()
        rows = [r for r in await store.watches() if r.team == team]
        ids = [r.id for r in rows]
        availability = await store.availability(ids, now - timedelta(hours=24))
        strips = await store.hourly_availability(ids, now)
        incidents = await store.open_incidents_of(ids)
        found = []
        for row in sorted(rows, key=lambda r: (r.channel, r.url)):
            info = core.watches.get(row.id)
            if info is None and not core.role.runs(row.id) and unusable(row) is None:
                info = watch_info(row)  # run elsewhere: the database's copy
            if info is None:
                continue
            incident = incidents.get(row.id) if info.memory.state == "down" else None
            found.append(
                HomeWatch(
                    id=row.id,
                    channel=row.channel,
                    spec=info.spec,
                    state=info.memory.state,
                    last_checked_at=info.memory.last_checked_at,
                    availability=availability.get(row.id),
                    strip=strips.get(row.id, ()),
                    muted_until=future(info.muted_until, now),
                    muted_by=info.muted_by,
                    mute_reason=info.mute_reason,
                    incident_summary=incident.last_summary if incident else None,
                    incident_since=incident.failing_since if incident else None,
                )
            )
        return found

    async def find(self, channel: str, url: str) -> int | None:
        """The id of the watch of `url` in `channel`, if there is one."""
        row = await self._core.store.find_watch(channel, url)
        return row.id if row is not None else None
