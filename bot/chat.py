"""Where the bot's messages go: Slack's Web API, or a terminal (bot/shell.py).

The conversation logic (bot/service.py) talks to a `Chat` and never to Slack
directly, which is what lets `gateway shell` be the same bot with no workspace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.render.slack import Message

log = logging.getLogger(__name__)

# Errors meaning "the bot may not post in this conversation": answer through response_url.
NOT_HERE = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}
HISTORY_PAGES = 5  # of 200 messages: a crash's lost alert is among the last few


class NotInChannel(Exception):
    """The bot cannot post in the channel (private channel or DM it was not invited to)."""


class CannotLook(Exception):
    """The channel's history cannot be read (no scope, not a member, Slack away)."""


class Chat(Protocol):
    async def post(
        self, channel: str, message: Message, thread_ts: str | None = None, broadcast: bool = False
    ) -> str | None:
        """Post; return the message's ts, None when it failed (and was logged)."""

    async def update(self, channel: str, ts: str, message: Message) -> bool:
        """Edit a message the bot posted."""

    async def ephemeral(self, channel: str, user: str, message: Message) -> None:
        """Show a message to one person."""

    async def respond(self, message: Message, in_channel: bool) -> bool:
        """Answer through the command's response_url (works where the bot is not a member)."""

    async def publish_home(self, user: str, view: dict[str, Any]) -> bool:
        """Show `view` as the person's App Home tab."""

    async def open_modal(self, trigger_id: str, view: dict[str, Any]) -> bool:
        """Open a modal in answer to a click (the trigger lasts 3 seconds)."""

    async def find_posted(
        self, channel: str, since: float, match: Callable[[dict[str, Any]], bool]
    ) -> str | None:
        """The ts of the newest top-level message since `since` (epoch s) that `match`es.

        None when there is none; CannotLook when the history cannot be read.
        """


class SlackChat:
    """A Chat on Slack's Web API; 429s are retried by the client's retry handler."""

    def __init__(self, client: AsyncWebClient, response_url: str | None = None) -> None:
        self.client = client
        self.response_url = response_url

    async def post(
        self, channel: str, message: Message, thread_ts: str | None = None, broadcast: bool = False
    ) -> str | None:
        try:
            response = await self.client.chat_postMessage(
                channel=channel,
                text=message.text,
                blocks=message.blocks or None,
                thread_ts=thread_ts,
                reply_broadcast=broadcast or None,
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            if error in NOT_HERE and thread_ts is None:
                raise NotInChannel(error) from None
            log.warning("chat.postMessage to %s failed: %s", channel, error)
            return None
        return response.get("ts")

    async def update(self, channel: str, ts: str, message: Message) -> bool:
        try:
            await self.client.chat_update(
                channel=channel, ts=ts, text=message.text, blocks=message.blocks or []
            )
        except SlackApiError as exc:
            log.warning("chat.update of %s failed: %s", ts, exc.response.get("error"))
            return False
        return True

    async def ephemeral(self, channel: str, user: str, message: Message) -> None:
        try:
            await self.client.chat_postEphemeral(
                channel=channel, user=user, text=message.text, blocks=message.blocks or None
            )
        except SlackApiError as exc:
            if not await self.respond(message, in_channel=False):
                log.warning("ephemeral message failed: %s", exc.response.get("error"))

    async def publish_home(self, user: str, view: dict[str, Any]) -> bool:
        try:
            await self.client.views_publish(user_id=user, view=view)
        except SlackApiError as exc:
            log.warning("views.publish for %s failed: %s", user, exc.response.get("error"))
            return False
        return True

    async def open_modal(self, trigger_id: str, view: dict[str, Any]) -> bool:
        try:
            await self.client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as exc:
            log.warning("views.open failed: %s", exc.response.get("error"))
            return False
        return True

    async def find_posted(
        self, channel: str, since: float, match: Callable[[dict[str, Any]], bool]
    ) -> str | None:
        cursor = None
        try:
            for _ in range(HISTORY_PAGES):
                response = await self.client.conversations_history(
                    channel=channel, oldest=f"{since:.6f}", limit=200, cursor=cursor
                )
                for message in response.get("messages") or []:
                    if isinstance(message, dict) and match(message):
                        return message.get("ts")
                cursor = (response.get("response_metadata") or {}).get("next_cursor")
                if not response.get("has_more") or not cursor:
                    return None
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else ""
            raise CannotLook(error) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise CannotLook(type(exc).__name__) from None
        raise CannotLook("too many messages since")

    async def respond(self, message: Message, in_channel: bool) -> bool:
        if not self.response_url:
            return False
        webhook = AsyncWebhookClient(self.response_url)
        try:
            response = await webhook.send(
                text=message.text,
                blocks=message.blocks or None,
                response_type="in_channel" if in_channel else "ephemeral",
                replace_original=False,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("response_url post failed: %s", type(exc).__name__)
            return False
        if response.status_code != 200:
            log.warning("response_url post answered %s: %s", response.status_code, response.body)
            return False
        return True
