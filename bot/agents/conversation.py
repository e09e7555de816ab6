"""`check TARGET from all|NAME,…` and `agents`, as the conversation needs them.

Kept apart from bot/service.py so the hooks there stay a few lines: which agents
a `from` names, the places side by side, and the `agents` answer.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from bot.agents import ui
from bot.agents.hub import Hub
from bot.agents.places import HERE, Place, from_diagnosis, headline
from bot.chat import Chat
from bot.render.mrkdwn import Message
from checks.diagnose import Diagnosis
from checks.models import Target
from checks.run import CheckOptions

NO_AGENTS = "No agents are enrolled here, so I can only check from here (see docs/agents.md)."


def chosen(hub: Hub | None, sources: tuple[str, ...]) -> list[str] | str:
    """The agents a `from` names, or one line saying why not."""
    if hub is None or not hub.names:
        return NO_AGENTS
    if sources == ("all",):
        return hub.names
    unknown = [name for name in sources if name not in hub.names]
    if unknown:
        return f"no agent is enrolled as {', '.join(unknown)} (enrolled: {', '.join(hub.names)})"
    return list(sources)


async def ask(hub: Hub, names: list[str], target: Target, options: CheckOptions) -> list[Place]:
    return await hub.ask(names, target.url, options.timeout, options.samples)


def decorate(
    verdict: Message, thread: list[Message], diagnosis: Diagnosis, places: list[Place]
) -> tuple[Message, list[Message]]:
    """The verdict with the headline from every place, and the places first in the thread."""
    everyone = [from_diagnosis(HERE, diagnosis), *places]
    title = headline(everyone)
    return ui.with_headline(verdict, title), [*ui.places_messages(title, everyone), *thread]


async def agents_message(hub: Hub | None) -> Message:
    if hub is None:
        return ui.agents_message([], [], datetime.now(UTC))
    return ui.agents_message(
        hub.names, await hub.contacts(), datetime.fromtimestamp(time.time(), UTC)
    )


async def list_agents(hub: Hub | None, chat: Chat, channel: str, user: str) -> None:
    """`/gateway agents`, to the person who asked."""
    await chat.ephemeral(channel, user, await agents_message(hub))
