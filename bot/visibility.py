"""Who may see and change a watch: the people in its channel, in its own workspace.

Home and the modal reach watches by id, from outside any channel, so they must ask.
A public channel is open to everyone in its workspace; a private one only to its
members (`conversations.members`); a channel Slack does not know for this
workspace (`channel_not_found`: another workspace's, or a private one the bot is not
in) to nobody. When Slack cannot be asked, the answer is no. Answers are kept for a
minute, per person and channel, so a Home tab over many channels costs few calls.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

KEEP = 60.0  # seconds an answer is kept
MEMBER_PAGES = 10  # of 1,000 members: a private channel larger than that is refused
MOST_REMEMBERED = 10_000


async def slack_can_see(client: AsyncWebClient, user: str, channel: str) -> bool:
    """Whether `user` may see `channel`, as Slack says (the bot token's workspace)."""
    if not user or not channel:
        return False
    try:
        info = (await client.conversations_info(channel=channel)).get("channel") or {}
        if not info.get("is_private") and not info.get("is_im") and not info.get("is_mpim"):
            return True
        cursor = None
        for _ in range(MEMBER_PAGES):
            page = await client.conversations_members(channel=channel, limit=1000, cursor=cursor)
            if user in (page.get("members") or []):
                return True
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return False
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else None
        log.info("channel %s is not visible to %s: %s", channel, user, error)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("could not ask Slack who is in %s: %s", channel, type(exc).__name__)
    return False


class Visibility:
    """A minute's memory of `can_see` answers, per person and channel."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._known: dict[tuple[str, str], tuple[bool, float]] = {}

    async def can_see(
        self, ask: Callable[[str, str], Awaitable[bool]], user: str, channel: str
    ) -> bool:
        key = (user, channel)
        known = self._known.get(key)
        now = self.clock()
        if known is not None and known[1] > now:
            return known[0]
        answer = await ask(user, channel)
        if len(self._known) >= MOST_REMEMBERED:
            self._known.clear()
        self._known[key] = (answer, now + KEEP)
        return answer

    async def visible(
        self, ask: Callable[[str, str], Awaitable[bool]], user: str, channels: Iterable[str]
    ) -> set[str]:
        """The channels of `channels` that `user` may see (each asked once)."""
        return {c for c in dict.fromkeys(channels) if await self.can_see(ask, user, c)}


CHANNEL_REFUSED = "choose a channel of this workspace that you are in"
ASK_WITHIN = 2.0  # seconds: the modal's answer is due within Slack's 3


async def modal_channel_refused(
    can_see: Callable[[str, str], Awaitable[bool]], user: str, view: dict[str, Any]
) -> str | None:
    """Why the modal's channel cannot be used by `user` (said on the field), or None.
    Asked before the ack, within ASK_WITHIN seconds; no answer in time is a refusal."""
    values = (view.get("state") or {}).get("values") or {}
    field = (values.get("channel") or {}).get("value") or {}
    channel = field.get("selected_conversation") if isinstance(field, dict) else None
    if not isinstance(channel, str) or not channel:
        return None  # bot/modal.py says "choose the channel" on the field
    try:
        async with asyncio.timeout(ASK_WITHIN):
            if await can_see(user, channel):
                return None
    except TimeoutError:
        return "Slack did not say in time whether you are in that channel; try again"
    return CHANNEL_REFUSED
