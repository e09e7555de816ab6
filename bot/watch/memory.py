"""The `Store` in memory: the same records and rules as the SQL store, no database.

For tests of what the bot does with its watches that do not test the database
itself, and for trying the bot out. Lost at exit.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import fields, replace
from datetime import datetime, timedelta

from bot.spec import WatchSpec
from bot.watch.records import (
    CheckRecord,
    IncidentRecord,
    IncidentUpdate,
    NewIncident,
    StoreError,
    WatchRecord,
    WatchUpdate,
    expect_columns,
)
from bot.watch.shards import shard_of
from bot.watch.store import HISTORY_KEEP, MAX_WATCHES_PER_CHANNEL


class MemoryStore:
    def __init__(self) -> None:
        self._watches: dict[int, WatchRecord] = {}
        self._incidents: dict[int, IncidentRecord] = {}
        self._checks: list[CheckRecord] = []
        self._ids = {"watch": 0, "incident": 0}

    def _next(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    async def open(self) -> MemoryStore:
        return self

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def counts(self) -> tuple[int, int]:
        open_incidents = sum(1 for i in self._incidents.values() if i.resolved_at is None)
        return len(self._watches), open_incidents

    # --- watches ------------------------------------------------------------------------

    async def upsert_watch(
        self,
        *,
        team: str,
        channel: str,
        spec: WatchSpec,
        created_by: str,
        now: datetime,
        recover_after: int = 2,
        team_limit: int | None = None,
    ) -> tuple[WatchRecord, bool]:
        settings = {
            "interval_s": spec.interval_s,
            "fail_after": spec.fail_after,
            "notify": " ".join(spec.notify) or None,
        }
        settings["expectations"], settings["header_assertion"] = expect_columns(spec.expect)
        found = await self.find_watch(channel, spec.url)
        if found is not None:
            usable = type(found.recover_after) is int and 1 <= found.recover_after <= 100
            record = replace(
                found,
                **settings,  # type: ignore[arg-type]
                recover_after=found.recover_after if usable else recover_after,
                state=found.state if found.state in ("healthy", "down") else "healthy",
                unusable_reported=None,
            )
            self._watches[record.id] = record
            return record, False
        count = sum(1 for w in self._watches.values() if w.channel == channel)
        if count >= MAX_WATCHES_PER_CHANNEL:
            raise StoreError(
                f"this channel already watches {count} sites, the most it may; unwatch one first"
            )
        team_count = sum(1 for w in self._watches.values() if w.team == team)
        if team_limit is not None and team_count >= team_limit:
            raise StoreError(
                f"this workspace already watches {team_count} sites, the most it may; "
                "unwatch one first"
            )
        record = WatchRecord(
            id=self._next("watch"),
            team=team,
            channel=channel,
            url=spec.url,
            target_input=spec.target.input,
            recover_after=recover_after,
            created_by=created_by,
            created_at=now,
            state="healthy",
            failures=0,
            successes=0,
            **settings,  # type: ignore[arg-type]
        )
        self._watches[record.id] = record
        return record, True

    async def watches(
        self, channel: str | None = None, shards: Collection[int] | None = None
    ) -> list[WatchRecord]:
        found = sorted(self._watches.values(), key=lambda w: w.id)
        return [
            w
            for w in found
            if (channel is None or w.channel == channel)
            and (shards is None or shard_of(w.id) in shards)
        ]

    async def watch_keys(self) -> list[tuple[int, str, str, bool | None]]:
        return [(w.id, w.channel, w.url, w.unusable_reported) for w in await self.watches()]

    async def watch(self, watch_id: int) -> WatchRecord | None:
        return self._watches.get(watch_id)

    async def find_watch(self, channel: str, url: str) -> WatchRecord | None:
        return next(
            (w for w in self._watches.values() if (w.channel, w.url) == (channel, url)), None
        )

    async def delete_watch(self, watch_id: int) -> None:
        self._watches.pop(watch_id, None)
        self._incidents = {k: i for k, i in self._incidents.items() if i.watch_id != watch_id}
        self._checks = [c for c in self._checks if c.watch_id != watch_id]

    async def update_watch(self, watch_id: int, update: WatchUpdate) -> None:
        if watch_id in self._watches:
            self._watches[watch_id] = update.applied_to(self._watches[watch_id])

    # --- incidents ----------------------------------------------------------------------

    def _of(self, watch_id: int, open_only: bool) -> list[IncidentRecord]:
        found = [i for i in self._incidents.values() if i.watch_id == watch_id]
        return sorted(
            (i for i in found if not open_only or i.resolved_at is None), key=lambda i: i.id
        )

    async def open_incident(self, watch_id: int) -> IncidentRecord | None:
        found = self._of(watch_id, open_only=True)
        return found[-1] if found else None

    async def open_incidents_of(self, watch_ids: list[int]) -> dict[int, IncidentRecord]:
        found = {}
        for watch_id in watch_ids:
            incident = await self.open_incident(watch_id)
            if incident is not None:
                found[watch_id] = incident
        return found

    async def open_incidents(self) -> list[IncidentRecord]:
        return sorted(
            (i for i in self._incidents.values() if i.resolved_at is None), key=lambda i: i.id
        )

    async def last_incident(self, watch_id: int) -> IncidentRecord | None:
        found = self._of(watch_id, open_only=False)
        return found[-1] if found else None

    async def incident(self, incident_id: int) -> IncidentRecord | None:
        return self._incidents.get(incident_id)

    async def create_incident(self, new: NewIncident) -> IncidentRecord:
        values = {f.name: getattr(new, f.name) for f in fields(NewIncident)}
        incident = IncidentRecord(id=self._next("incident"), key=uuid.uuid4().hex, **values)
        self._incidents[incident.id] = incident
        return incident

    async def update_incident(self, incident_id: int, update: IncidentUpdate) -> None:
        if incident_id in self._incidents:
            self._incidents[incident_id] = update.applied_to(self._incidents[incident_id])

    # --- history ------------------------------------------------------------------------

    async def write_behind(
        self, records: list[CheckRecord], states: dict[int, WatchUpdate]
    ) -> None:
        self._checks += [r for r in records if r.watch_id in self._watches]
        for watch_id, update in states.items():
            await self.update_watch(watch_id, update)

    async def availability(self, watch_ids: list[int], since: datetime) -> dict[int, float]:
        found = {}
        for watch_id in watch_ids:
            checks = [c for c in self._checks if c.watch_id == watch_id and c.at >= since]
            if checks:
                found[watch_id] = sum(c.status == "healthy" for c in checks) / len(checks)
        return found

    async def hourly_availability(
        self, watch_ids: list[int], now: datetime, hours: int = 24
    ) -> dict[int, tuple[float | None, ...]]:
        since = now - timedelta(hours=hours)
        found: dict[int, tuple[float | None, ...]] = {}
        for watch_id in watch_ids:
            shares: list[float | None] = []
            for hour in range(hours):
                start = since + timedelta(hours=hour)
                end = start + timedelta(hours=1) if hour < hours - 1 else now + timedelta(days=1)
                checks = [c for c in self._checks if c.watch_id == watch_id and start <= c.at < end]
                healthy = sum(c.status == "healthy" for c in checks)
                shares.append(healthy / len(checks) if checks else None)
            found[watch_id] = tuple(shares)
        return found

    async def prune_history(self, now: datetime) -> int:
        before = len(self._checks)
        self._checks = [c for c in self._checks if c.at >= now - HISTORY_KEEP]
        return before - len(self._checks)
