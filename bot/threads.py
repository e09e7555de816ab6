"""A verdict's thread, remembered so a Re-run edits it instead of posting a second one.

Re-run is pressed on the verdict message itself; the new verdict replaces it, and
the explanation in its thread is edited in place, message for message (a shorter
explanation blanks the replies it no longer needs). What each verdict's thread
holds is kept in memory for the last few hundred checks: after a restart the
Re-run posts the thread once more, as a first run does.
"""

from __future__ import annotations

from collections import OrderedDict

from bot.chat import Chat
from bot.render.slack import Message, notice

REMEMBERED = 500  # verdicts whose thread replies are known
SUPERSEDED = "_(the re-run's explanation is above)_"


class Threads:
    """verdict (channel, ts) → the ts of its replies, oldest first."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self._replies: OrderedDict[tuple[str, str], list[str]] = OrderedDict()
        self._size = size

    async def write(self, chat: Chat, channel: str, ts: str, messages: list[Message]) -> None:
        """Post `messages` in ts's thread, editing the replies a previous run posted there."""
        old = self._replies.pop((channel, ts), [])
        replies: list[str] = []
        for number, message in enumerate(messages):
            if number < len(old) and await chat.update(channel, old[number], message):
                replies.append(old[number])
                continue
            posted = await chat.post(channel, message, thread_ts=ts)
            if posted:
                replies.append(posted)
        for extra in old[len(messages) :]:
            if await chat.update(channel, extra, notice(SUPERSEDED)):
                replies.append(extra)
        self._replies[(channel, ts)] = replies
        while len(self._replies) > self._size:
            self._replies.popitem(last=False)
