"""Escalation events kept in the database until they are delivered.

An escalation decided and then lost to a kill -9 is a page nobody gets, while the
thread says it was sent. So each PagerDuty or webhook event is written first (with
the incident's change, in one transaction), deleted once delivered or given up on,
and whoever leads next sends what is left, in the order it was written. An event
may then arrive twice; PagerDuty folds it into the same incident by its dedup key,
and the webhook's receiver sees the same `dedup_key`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from bot.alerting.view import AlertView
from bot.watch.records import IncidentUpdate
from bot.watch.store import IncidentRow, OutboxRow, Store

_DATETIMES = {"failing_since", "last_check_at", "muted_until", "resolved_at"}
_TUPLES = {"http_statuses", "notify", "escalated_to"}


@dataclass(frozen=True)
class Pending:
    """One event still to send: its row, the provider's key, what to do, the alert."""

    id: int
    provider: str
    action: str
    ref: str
    alert: AlertView


def to_json(alert: AlertView) -> str:
    values: dict[str, Any] = dataclasses.asdict(alert)
    for name in _DATETIMES:
        if values[name] is not None:
            values[name] = values[name].isoformat()
    return json.dumps(values, separators=(",", ":"))


def from_json(text: str) -> AlertView:
    values = json.loads(text)
    known = {f.name for f in dataclasses.fields(AlertView)}
    values = {k: v for k, v in values.items() if k in known}
    for name in _DATETIMES & values.keys():
        if values[name] is not None:
            values[name] = datetime.fromisoformat(values[name])
    for name in _TUPLES & values.keys():
        values[name] = tuple(values[name])
    return AlertView(**values)


class Outbox:
    """The outbox table, one short transaction per call."""

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    async def add(
        self,
        alert: AlertView,
        events: list[tuple[str, str, str]],
        incident: tuple[int, IncidentUpdate] | None = None,
    ) -> list[int]:
        """Write (provider, action, ref) events for `alert`, with the incident's own
        change when given, in one transaction; their row ids in order."""
        body = to_json(alert)
        ids = []
        async with self.store.session.begin() as session:
            values = incident[1].values() if incident is not None else {}
            if incident is not None and values:
                incident_id = incident[0]
                await session.execute(
                    update(IncidentRow).where(IncidentRow.id == incident_id).values(**values)
                )
            for provider, action, ref in events:
                result = await session.execute(
                    insert(OutboxRow)
                    .values(
                        incident_id=alert.incident_id,
                        provider=provider,
                        action=action,
                        ref=ref,
                        alert=body,
                        created_at=self.clock(),
                    )
                    .returning(OutboxRow.id)
                )
                ids.append(result.scalar_one())
        return ids

    async def done(self, row_id: int) -> None:
        async with self.store.session.begin() as session:
            await session.execute(delete(OutboxRow).where(OutboxRow.id == row_id))

    async def pending(self) -> list[Pending]:
        """Everything not yet delivered, oldest first; a row that cannot be read is dropped."""
        async with self.store.session() as session:
            rows = list((await session.execute(select(OutboxRow).order_by(OutboxRow.id))).scalars())
        found = []
        for row in rows:
            try:
                alert = from_json(row.alert)
            except (ValueError, TypeError, KeyError):
                await self.done(row.id)
                continue
            found.append(Pending(row.id, row.provider, row.action, row.ref, alert))
        return found
