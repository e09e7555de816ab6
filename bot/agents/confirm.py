"""A watch's failure, confirmed from the agents before anyone is paged.

GATEWAY_CONFIRM_FROM agents must find the site failing too (default: half of the
agents that answer, at least 1; 0 = never ask). An agent that misses the deadline
is unknown, never down; when every agent that answered finds the site fine, it
is "down from here only": one quiet note, no page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bot.agents.hub import Hub
from bot.agents.places import HERE, Place, from_diagnosis, headline
from checks.diagnose import Diagnosis
from checks.run import CheckOptions


@dataclass(frozen=True)
class Confirmation:
    confirmed: bool  # alert: enough agents find it failing too, or none could say
    headline: str
    places: tuple[Place, ...]

    @property
    def here_only(self) -> bool:
        return self.headline == "down from here only"


def judge(places: tuple[Place, ...], confirm_from: int | None) -> Confirmation:
    """Pure: the places (here first) → whether the failure is confirmed, and the headline."""
    agents = [p for p in places if p.name != HERE and p.known]
    failing = sum(p.failing for p in agents)
    if not agents:  # nobody could say otherwise: the bot's own view stands
        return Confirmation(True, headline(places), places)
    needed = confirm_from if confirm_from else max(1, math.ceil(len(agents) / 2))
    return Confirmation(failing >= min(needed, len(agents)), headline(places), places)


class Confirmer:
    def __init__(self, hub: Hub, confirm_from: int | None) -> None:
        self.hub = hub
        self.confirm_from = confirm_from

    async def __call__(self, diagnosis: Diagnosis, options: CheckOptions) -> Confirmation | None:
        if self.confirm_from == 0 or not self.hub.names:
            return None
        url = diagnosis.evidence.target.url
        agents = await self.hub.ask(self.hub.names, url, options.timeout, options.samples)
        return judge((from_diagnosis(HERE, diagnosis), *agents), self.confirm_from)
