"""The one alert of an incident: posting it, editing it, replying in its thread.

The watch service decides *when* (bot/watch/state.py says which event); this
module decides *what the channel sees*. Incidents are written before their
alert is posted ("announced", no ts yet: the post is under way). A crash inside
that window (Slack may have posted without our learning the ts) is reconciled
at the next start: the channel's recent history is searched for the alert by its
buttons, which name the watch and the incident; found, it is adopted and kept
up to date; surely absent, it is posted; when the history cannot be read, it is
posted with a note in its thread that an identical alert may sit just above.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.alerting import Escalations, SlackAlerts, Threaded
from bot.chat import CannotLook, Chat, NotInChannel
from bot.render import alerts
from bot.render.slack import Message, button_data, thread_messages
from bot.settings import Escalation
from bot.watch.model import WatchInfo, future
from bot.watch.records import IncidentRecord, IncidentUpdate, NewIncident, Store
from bot.watch.state import Event, diagnosis_key
from checks.diagnose import Diagnosis
from checks.steps import body_excerpt
from checks.target import parse_target

log = logging.getLogger(__name__)

# How the alert names the gateway when only the incident's key is at hand.
_GATEWAY_WORDS = {"-": None, "unknown": "not recognised"}
LOOK_TIMEOUT = 15.0  # seconds to look back for one alert
CLOCK_SKEW = 120.0  # seconds: how far back from `announced_at` the lost alert is looked for
MAYBE_TWICE = (
    ":information_source: I restarted while posting this alert and could not look back in "
    "this channel, so the same alert may also appear just above; this one is kept up to date."
)


class Incidents:
    """Posts, edits and replies for incidents, on one chat and one store."""

    def __init__(
        self,
        store: Store,
        chat: Chat,
        clock: Callable[[], datetime],
        escalation: Escalation | None = None,
    ) -> None:
        self.store = store
        self.chat = chat
        self.clock = clock
        self.slack: Threaded = SlackAlerts(chat)  # the Slack delivery: its reference is alert_ts
        self.escalations = Escalations(escalation or Escalation(), self._escalation_failed)
        self._maybe_posted: set[int] = set()  # incidents whose alert a crash may have posted

    async def act(
        self,
        info: WatchInfo,
        event: Event,
        diagnosis: Diagnosis,
        incident: IncidentRecord | None,
        now: datetime,
    ) -> None:
        """Do what the state machine's event asks for this watch's incident."""
        if event in (Event.NOTHING, Event.HELD):
            return
        key = diagnosis_key(diagnosis.http_status, diagnosis.cause.code, diagnosis.product)
        if event is Event.OPENED and incident is not None and incident.resolved_at is None:
            event = Event.STILL_DOWN  # an incident a crash left open: carry on with it
        # No incident behind a "down" watch (a write that failed once): open it now.
        lost = incident is None and event in (Event.STILL_DOWN, Event.CHANGED)
        if event is Event.OPENED or lost or (event is Event.REOPENED and incident is None):
            incident = await self.store.create_incident(
                NewIncident(
                    watch_id=info.id,
                    channel=info.channel,
                    failing_since=info.memory.failing_since or now,
                    diagnosis_key=key,
                    last_summary=diagnosis.summary,
                    excerpt=_excerpt(diagnosis),
                    failure_count=info.memory.failures,
                )
            )
            await self.announce(info, incident, diagnosis)
            return
        if incident is None:
            return
        # saved with the incident's next change (below)
        incident = replace(incident, failure_count=info.memory.failures or incident.failure_count)
        if event is Event.REOPENED:
            await self._reopen(info, incident, diagnosis, key)
        elif event in (Event.STILL_DOWN, Event.CHANGED):
            before = incident.diagnosis_key
            incident = await self._update(incident, diagnosis, key)
            if not incident.announced_at and not self.muted(info):
                await self.announce(info, incident, diagnosis)  # a mute ran out
                return
            await self.edit(info, incident, diagnosis)
            if event is Event.CHANGED and not incident.acknowledged_by and not self.muted(info):
                await self.reply(
                    info,
                    incident,
                    alerts.changed_reply(_readable(before), _readable(key), diagnosis.summary),
                )
        elif event is Event.RECOVERING:
            await self.edit(info, incident, diagnosis, recovering=True)
        elif event is Event.RECOVERED:
            await self._recovered(info, incident, now)

    async def announce(
        self, info: WatchInfo, incident: IncidentRecord, diagnosis: Diagnosis
    ) -> None:
        """Post the one alert of an incident, and its diagnosis in the thread."""
        if self.muted(info):
            return
        announced = self.clock()
        # Written first: after a crash between here and the post, no second alert.
        incident = await self.change(incident, IncidentUpdate(announced_at=announced))
        view = self.view(info, incident, diagnosis)
        ts = await self.slack.open(view)
        if ts is None:  # Slack said no: not posted, so the next check tries again
            await self.change(incident, IncidentUpdate(announced_at=None))
            return
        await self.change(incident, IncidentUpdate(alert_ts=ts))
        if incident.id in self._maybe_posted:
            self._maybe_posted.discard(incident.id)
            await self.slack.note(view, ts, MAYBE_TWICE)
        await self.slack.details(view, ts, thread_messages(diagnosis))

    async def reconcile(self, info: WatchInfo, incident: IncidentRecord) -> None:
        """An alert whose post was under way when the bot died: find it, or let it be posted."""
        if incident.resolved_at or not incident.announced_at or incident.alert_ts:
            return
        since = incident.announced_at.timestamp() - CLOCK_SKEW
        try:
            ts = await asyncio.wait_for(
                self.chat.find_posted(
                    info.channel, since, lambda m: _is_alert_of(m, info.id, incident.id)
                ),
                LOOK_TIMEOUT,
            )
        except (CannotLook, TimeoutError) as exc:
            log.warning(
                "incident %s: its alert may have been posted before a crash, and the history of "
                "%s cannot be read (%s); posting it again with a note",
                incident.id,
                info.channel,
                exc or type(exc).__name__,
            )
            self._maybe_posted.add(incident.id)
            ts = None
        if ts:
            log.info("incident %s: found its alert %s, posted before a crash", incident.id, ts)
            await self.change(incident, IncidentUpdate(alert_ts=ts))
            return
        # never posted: the next check posts it
        await self.change(incident, IncidentUpdate(announced_at=None))

    async def _reopen(
        self, info: WatchInfo, incident: IncidentRecord, diagnosis: Diagnosis, key: str
    ) -> None:
        incident = await self.change(
            incident,
            IncidentUpdate(
                flaps=incident.flaps + 1,
                resolved_at=None,
                recovered_at=None,
                failure_count=incident.failure_count,
            ),
        )
        incident = await self._update(incident, diagnosis, key)
        if not incident.alert_ts:
            await self.announce(info, incident, diagnosis)
            return
        await self.edit(info, incident, diagnosis)
        if not self.muted(info):
            await self.reply(
                info, incident, alerts.reopened_reply(incident.flaps, diagnosis.summary)
            )

    async def _update(
        self, incident: IncidentRecord, diagnosis: Diagnosis, key: str
    ) -> IncidentRecord:
        return await self.change(
            incident,
            IncidentUpdate(
                diagnosis_key=key,
                last_summary=diagnosis.summary,
                excerpt=_excerpt(diagnosis),
                failure_count=incident.failure_count,
            ),
        )

    async def change(self, incident: IncidentRecord, update: IncidentUpdate) -> IncidentRecord:
        """Store a change of an incident; the record as it is now."""
        await self.store.update_incident(incident.id, update)
        return update.applied_to(incident)

    async def _recovered(self, info: WatchInfo, incident: IncidentRecord, now: datetime) -> None:
        incident = await self.change(incident, IncidentUpdate(resolved_at=now, recovered_at=now))
        view = self.view(info, incident, None)
        if incident.escalated_at:  # PagerDuty and the webhook hear it too, in the background
            self.escalations.resolve(view, deliveries(incident))
        if not incident.alert_ts:
            if incident.announced_at:  # the alert's ts was lost in a crash: say it anyway
                await self.say(self.chat, info.channel, alerts.recovery_reply(view))
            return  # else never announced (muted all along): nothing to close
        await self.slack.resolve(view, incident.alert_ts)

    async def edit(
        self,
        info: WatchInfo,
        incident: IncidentRecord,
        diagnosis: Diagnosis | None = None,
        recovering: bool = False,
    ) -> None:
        if incident.alert_ts:
            view = self.view(info, incident, diagnosis, recovering)
            await self.slack.update(view, incident.alert_ts)

    async def reply(
        self, info: WatchInfo, incident: IncidentRecord, message: Message, broadcast: bool = False
    ) -> None:
        if incident.alert_ts:
            view = self.view(info, incident, None)
            await self.slack.reply(view, incident.alert_ts, message, broadcast)

    # --- between checks: an open incident's clock (bot/watch/state.py `alarms`) ----------

    async def remind(
        self, info: WatchInfo, incident: IncidentRecord, now: datetime
    ) -> IncidentRecord:
        """Still down, unacknowledged: a reply in the thread, broadcast, naming `notify`."""
        incident = await self.change(incident, IncidentUpdate(reminded_at=now))
        await self.reply(
            info, incident, alerts.reminder(self.view(info, incident, None), now), broadcast=True
        )
        return incident

    async def escalate(
        self, info: WatchInfo, incident: IncidentRecord, now: datetime
    ) -> IncidentRecord:
        """Page outside Slack, once; the deliveries are written before they are sent."""
        view = self.view(info, incident, None)
        refs = {**deliveries(incident), **self.escalations.refs(view)}
        incident = await self.change(
            incident, IncidentUpdate(escalated_at=now, deliveries=json.dumps(refs))
        )
        self.escalations.open(view)
        since = incident.announced_at or incident.failing_since
        await self.edit(info, incident)
        await self.reply(info, incident, alerts.escalated(self.escalations.names(), now - since))
        return incident

    async def acknowledged(self, info: WatchInfo, incident: IncidentRecord) -> None:
        """Someone acknowledged in Slack: so does PagerDuty, and the webhook hears it."""
        if incident.escalated_at:
            self.escalations.update(self.view(info, incident, None), deliveries(incident))

    async def withdrawn(self, info: WatchInfo, incident: IncidentRecord) -> None:
        """The watch is going away mid-incident: what was escalated is resolved there."""
        if incident.escalated_at:
            self.escalations.resolve(self.view(info, incident, None), deliveries(incident))

    async def _escalation_failed(self, view: alerts.AlertView, name: str, reason: str) -> None:
        incident = await self.store.incident(view.incident_id)
        if incident is not None and incident.alert_ts:
            await self.slack.reply(view, incident.alert_ts, alerts.escalation_failed(name, reason))

    def view(
        self,
        info: WatchInfo,
        incident: IncidentRecord,
        diagnosis: Diagnosis | None,
        recovering: bool = False,
    ) -> alerts.AlertView:
        status, cause, product = _split_key(incident.diagnosis_key)
        state = "resolved" if incident.resolved_at else ("recovering" if recovering else "down")
        return alerts.AlertView(
            watch_id=info.id,
            incident_id=incident.id,
            host=parse_target(info.url).host,
            url=info.url,
            state=state,
            verdict=diagnosis.status if diagnosis and not diagnosis.healthy else "down",
            summary=incident.last_summary,
            cause=cause,
            gateway=(diagnosis.product_name if diagnosis else None)
            or _GATEWAY_WORDS.get(product, product),
            http_statuses=diagnosis.samples
            if diagnosis
            else ((int(status),) if status.isdigit() else ()),
            excerpt=incident.excerpt or "",
            failing_since=incident.failing_since,
            last_check_at=info.memory.last_checked_at or self.clock(),
            failure_count=incident.failure_count,
            acknowledged_by=incident.acknowledged_by,
            muted_until=future(info.muted_until, self.clock()),
            healthy_checks=info.memory.successes,
            healthy_needed=info.recover_after,
            resolved_at=incident.resolved_at,
            flaps=incident.flaps,
            channel=info.channel,
            notify=info.notify,
            muted_by=info.muted_by,
            mute_reason=info.mute_reason,
            escalated_to=tuple(
                provider.name
                for key, provider in self.escalations.providers.items()
                if incident.escalated_at and key in deliveries(incident)
            ),
        )

    def muted(self, info: WatchInfo) -> bool:
        return future(info.muted_until, self.clock()) is not None

    async def say(self, chat: Chat, channel: str, message: Message) -> None:
        try:
            await chat.post(channel, message)
        except NotInChannel:
            await chat.respond(message, in_channel=True)


def deliveries(incident: IncidentRecord) -> dict[str, str]:
    """Where an incident was delivered besides Slack (whose reference is alert_ts)."""
    try:
        found = json.loads(incident.deliveries or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _is_alert_of(message: dict[str, Any], watch_id: int, incident_id: int) -> bool:
    """Whether a message from the channel's history is this incident's alert (by its buttons)."""
    for block in message.get("blocks") or []:
        if not isinstance(block, dict) or block.get("type") != "actions":
            continue
        for element in block.get("elements") or []:
            data = button_data(str(element.get("value", ""))) if isinstance(element, dict) else {}
            if data.get("w") == watch_id and data.get("i") == incident_id:
                return True
    return False


def _excerpt(diagnosis: Diagnosis) -> str:
    failing = [s for s in diagnosis.evidence.http if s.status is not None and not s.ok]
    return body_excerpt(failing[-1], 200) if failing else ""


def _split_key(key: str) -> tuple[str, str, str]:
    parts = [*key.split("|"), "-", "-", "-"][:3]
    return parts[0], parts[1], parts[2]


def _readable(key: str) -> str:
    status, cause, product = _split_key(key)
    words = [status if status != "-" else "no response", cause]
    if product != "-":
        words.append(f"from {product}")
    return " ".join(words)
