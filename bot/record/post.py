"""`/gateway timeline TARGET [all]` and the alert's Timeline button: the record, posted.

The timeline goes in the alert's thread (where the incident was handled), then the
postmortem draft as a message and, where the app may upload files, as a `.md` file. A person
sees only the records of the channel and workspace they asked from.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Protocol

from bot.chat import Chat, NotInChannel
from bot.record.model import Record
from bot.record.recorder import Recorder
from bot.render.mrkdwn import Message, inert
from bot.render.postmortem import draft, draft_messages
from bot.render.timeline import list_message, timeline_messages
from checks.models import Target

log = logging.getLogger(__name__)
ALERT_WAIT_STEPS = 15  # of 0.2 s: how long a timeline waits for an alert being posted


class Uploads(Protocol):
    async def upload(
        self, channel: str, thread_ts: str | None, filename: str, content: str, title: str
    ) -> bool:
        """Attach a text file to the conversation (or its thread); False when not allowed."""


AlertOf = Callable[[int], Awaitable[str | None]]  # incident id -> its alert's ts


class Timelines:
    def __init__(self, recorder: Recorder, alert_of: AlertOf | None = None) -> None:
        self.recorder = recorder
        self.alert_of = alert_of  # the alert's ts, when the record has not learnt it yet

    async def command(
        self, chat: Chat, team: str, channel: str, user: str, target: Target, every: bool
    ) -> None:
        """`timeline TARGET` (the latest incident) or `timeline TARGET all` (the last 10)."""
        if every:
            found = await self.recorder.recent(team, channel, target.url, limit=10)
            await _say(chat, channel, list_message(found, target.host))
            return
        record = await self.recorder.latest(team, channel, target.url)
        if record is None:
            await chat.ephemeral(
                channel,
                user,
                Message(
                    text=f"No incident of {inert(target.url)} is recorded in this channel "
                    "(records are kept for GATEWAY_KEEP_INCIDENTS, 90 days by default)."
                ),
            )
            return
        await self.post(chat, record)

    async def button(
        self, chat: Chat, team: str, channel: str, user: str, watch_id: int, incident_id: int
    ) -> None:
        """The Timeline button of an alert: that alert's incident, if it is this channel's."""
        record_id = None
        if self.recorder.keeping:
            store = self.recorder.store
            record_id = await store.by_incident(team, channel, watch_id, incident_id)
        record = await self.recorder.store.record(record_id) if record_id else None
        if record is None:
            await chat.ephemeral(
                channel, user, Message(text="No record of this incident is kept in this channel.")
            )
            return
        await self.post(chat, record)

    async def post(self, chat: Chat, record: Record) -> None:
        """The timeline and the postmortem draft, in the alert's thread."""
        if record.alert_ts is None and record.open:
            record = replace(record, alert_ts=await self._alert_soon(record))
        thread = record.alert_ts
        for message in timeline_messages(record):
            posted = await _post(chat, record.channel, message, thread)
            thread = thread or posted
        for message in draft_messages(record):
            await _post(chat, record.channel, message, thread)
        upload = getattr(chat, "upload", None)
        if upload is not None:
            name = f"postmortem-{record.host[:60]}-{record.started_at:%Y%m%d-%H%M}.md"
            title = f"Postmortem draft: {record.host[:100]}"
            if not await upload(record.channel, thread, name, draft(record), title):
                log.info("postmortem file not uploaded (no files:write?); the message has it")

    async def _alert_soon(self, record: Record) -> str | None:
        """An open incident's alert may be in the middle of being posted: wait for its ts
        a moment (the incident row learns it first), then go without a thread."""
        if record.incident_id is None or self.alert_of is None:
            return None
        for _ in range(ALERT_WAIT_STEPS):
            ts = await self.alert_of(record.incident_id)
            if ts:
                return ts
            await asyncio.sleep(0.2)
        return None


async def _post(chat: Chat, channel: str, message: Message, thread: str | None) -> str | None:
    try:
        return await chat.post(channel, message, thread_ts=thread)
    except NotInChannel:
        await chat.respond(message, in_channel=True)
        return None


async def _say(chat: Chat, channel: str, message: Message) -> None:
    await _post(chat, channel, message, None)
