"""The store's seam: frozen records out, typed updates in, and the `Store` protocol.

Callers never hold an ORM row: they get `WatchRecord`s and `IncidentRecord`s, and
change what is stored with a `WatchUpdate` or an `IncidentUpdate`, whose unset
fields are left alone. Two implementations: SQL (bot/watch/store.py, SQLite or
PostgreSQL) and memory (bot/watch/memory.py, for tests that need no database).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, fields, replace
from datetime import datetime
from enum import Enum
from typing import Any, Final, Protocol, TypeVar

from bot.spec import WatchSpec
from checks.expect import Expectations


class _Unset(Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET  # an update's field left alone (None is a value: "cleared")


class StoreError(ValueError):
    """A request the store refuses (too many watches); the message is for the person."""


@dataclass(frozen=True)
class WatchRecord:
    """A row of the watches table, as stored (the values may be ones no command accepts)."""

    id: int
    team: str
    channel: str
    url: str
    target_input: str
    interval_s: float
    fail_after: int
    recover_after: int
    created_by: str
    created_at: datetime
    state: str
    failures: int
    successes: int
    failing_since: datetime | None = None
    last_checked_at: datetime | None = None
    last_status: str | None = None
    unusable_reported: bool | None = None
    last_summary: str | None = None
    muted_until: datetime | None = None
    cert_warned: str | None = None
    notify: str | None = None  # Slack IDs, spaced
    expectations: str | None = None  # JSON (checks/expect.py)
    muted_by: str | None = None
    mute_reason: str | None = None
    header_assertion: str | None = None  # `Name: value`

    @property
    def expect(self) -> Expectations:
        """What the watch expects, from its two columns (ValueError if unreadable)."""
        found = json.loads(self.expectations or "{}")
        expect = Expectations.from_dict(found if isinstance(found, dict) else None)
        if self.header_assertion:
            name, _, value = self.header_assertion.partition(":")
            expect = replace(expect, header=(name.strip(), value.strip()))
        return expect


def expect_columns(expect: Expectations) -> tuple[str | None, str | None]:
    """(expectations JSON, header assertion) as the watches table stores them."""
    rest = replace(expect, header=None)
    header = f"{expect.header[0]}: {expect.header[1]}" if expect.header else None
    return (json.dumps(rest.to_dict()) if rest.any else None), header


@dataclass(frozen=True)
class IncidentRecord:
    id: int
    watch_id: int
    channel: str
    failing_since: datetime
    announced_at: datetime | None = None
    alert_ts: str | None = None
    diagnosis_key: str = ""
    last_summary: str = ""
    excerpt: str = ""
    failure_count: int = 0
    flaps: int = 0
    acknowledged_by: str | None = None
    recovered_at: datetime | None = None
    resolved_at: datetime | None = None
    reminded_at: datetime | None = None
    escalated_at: datetime | None = None
    deliveries: str | None = None  # JSON: {"pagerduty": dedup_key, "webhook": …}
    key: str | None = None  # random, never reused: the dedup key outside Slack (0006)

    def delivery_refs(self) -> dict[str, str]:
        """Where the incident was escalated: provider name → its reference there."""
        try:
            found = json.loads(self.deliveries or "{}")
        except ValueError:
            return {}
        if not isinstance(found, dict):
            return {}
        return {str(k): str(v) for k, v in found.items()}


@dataclass(frozen=True)
class NewIncident:
    watch_id: int
    channel: str
    failing_since: datetime
    diagnosis_key: str
    last_summary: str
    excerpt: str = ""
    failure_count: int = 0


@dataclass(frozen=True)
class CheckRecord:
    watch_id: int
    at: datetime
    status: str
    cause: str
    http_status: int | None
    duration_ms: float


R = TypeVar("R")


class _Update:
    def values(self) -> dict[str, Any]:
        """The fields set, by column name."""
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not UNSET}  # type: ignore[arg-type]

    def applied_to(self, record: R) -> R:
        return replace(record, **self.values())  # type: ignore[type-var]


@dataclass(frozen=True)
class WatchUpdate(_Update):
    """A change of a watch's state (its settings change through `upsert_watch`)."""

    state: str | _Unset = UNSET
    failures: int | _Unset = UNSET
    successes: int | _Unset = UNSET
    failing_since: datetime | _Unset | None = UNSET
    last_checked_at: datetime | _Unset | None = UNSET
    muted_until: datetime | _Unset | None = UNSET
    muted_by: str | _Unset | None = UNSET
    mute_reason: str | _Unset | None = UNSET
    cert_warned: str | _Unset | None = UNSET
    unusable_reported: bool | _Unset | None = UNSET


@dataclass(frozen=True)
class IncidentUpdate(_Update):
    announced_at: datetime | _Unset | None = UNSET
    alert_ts: str | _Unset | None = UNSET
    diagnosis_key: str | _Unset = UNSET
    last_summary: str | _Unset = UNSET
    excerpt: str | _Unset = UNSET
    failure_count: int | _Unset = UNSET
    flaps: int | _Unset = UNSET
    acknowledged_by: str | _Unset | None = UNSET
    recovered_at: datetime | _Unset | None = UNSET
    resolved_at: datetime | _Unset | None = UNSET
    reminded_at: datetime | _Unset | None = UNSET
    escalated_at: datetime | _Unset | None = UNSET
    deliveries: str | _Unset | None = UNSET


class Store(Protocol):
    """What the bot asks of its database; every method is one short transaction."""

    async def open(self) -> Store: ...
    async def close(self) -> None: ...
    async def ping(self) -> None:
        """Raise unless the database answers (the health check)."""

    async def counts(self) -> tuple[int, int]:
        """(watches stored, incidents open), for the metrics."""
        ...

    async def upsert_watch(
        self,
        *,
        team: str,
        channel: str,
        spec: WatchSpec,  # its defaults filled in
        created_by: str,
        now: datetime,
        recover_after: int = 2,
        team_limit: int | None = None,
    ) -> tuple[WatchRecord, bool]: ...
    async def watches(
        self, channel: str | None = None, shards: Collection[int] | None = None
    ) -> list[WatchRecord]: ...
    async def watch_keys(self) -> list[tuple[int, str, str, bool | None]]: ...
    async def watch(self, watch_id: int) -> WatchRecord | None: ...
    async def find_watch(self, channel: str, url: str) -> WatchRecord | None: ...
    async def delete_watch(self, watch_id: int) -> None: ...
    async def update_watch(self, watch_id: int, update: WatchUpdate) -> None: ...

    async def open_incident(self, watch_id: int) -> IncidentRecord | None: ...
    async def open_incidents_of(self, watch_ids: list[int]) -> dict[int, IncidentRecord]: ...
    async def open_incidents(self) -> list[IncidentRecord]: ...
    async def last_incident(self, watch_id: int) -> IncidentRecord | None: ...
    async def incident(self, incident_id: int) -> IncidentRecord | None: ...
    async def create_incident(self, new: NewIncident) -> IncidentRecord: ...
    async def update_incident(self, incident_id: int, update: IncidentUpdate) -> None: ...

    async def write_behind(
        self, records: list[CheckRecord], states: dict[int, WatchUpdate]
    ) -> None: ...
    async def availability(self, watch_ids: list[int], since: datetime) -> dict[int, float]: ...
    async def hourly_availability(
        self, watch_ids: list[int], now: datetime, hours: int = 24
    ) -> dict[int, tuple[float | None, ...]]: ...
    async def prune_history(self, now: datetime) -> int: ...
