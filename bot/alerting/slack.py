"""Slack as an alert channel: the one alert message, edited, with a thread of notes.

One `Provider` beside PagerDuty and the webhook, and `Threaded`: its reference is
the alert's ts, and the thread also carries the full diagnosis (`details`), which
only Slack shows.
"""

from __future__ import annotations

import logging

from bot.alerting.view import AlertView
from bot.chat import Chat, NotInChannel
from bot.render import alerts
from bot.render.slack import Message

log = logging.getLogger(__name__)


class SlackAlerts:
    """The Slack provider (bot/alerting/base.py `Threaded`)."""

    name = "Slack"

    def __init__(self, chat: Chat) -> None:
        self.chat = chat

    async def open(self, alert: AlertView) -> str | None:
        try:
            return await self.chat.post(alert.channel, alerts.alert_message(alert))
        except NotInChannel:
            log.warning("cannot post the alert in %s: the bot is not a member", alert.channel)
            return None

    async def details(self, alert: AlertView, ref: str, messages: list[Message]) -> None:
        for message in messages:
            await self.chat.post(alert.channel, message, thread_ts=ref)

    async def update(self, alert: AlertView, ref: str) -> None:
        await self.chat.update(alert.channel, ref, alerts.alert_message(alert))

    async def note(self, alert: AlertView, ref: str, text: str, broadcast: bool = False) -> None:
        await self.reply(alert, ref, alerts.note(text), broadcast)

    async def reply(
        self, alert: AlertView, ref: str, message: Message, broadcast: bool = False
    ) -> None:
        await self.chat.post(alert.channel, message, thread_ts=ref, broadcast=broadcast)

    async def resolve(self, alert: AlertView, ref: str) -> None:
        await self.update(alert, ref)
        await self.reply(alert, ref, alerts.recovery_reply(alert), broadcast=True)
