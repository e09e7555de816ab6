"""A watch's failure confirmed from the agents before it alerts, held (and noted once) if not.

The check runner (bot/watch/runner.py) asks `confirm` when a failure would open an
alert, `holds` whether the state machine must hold it, and `note_once` for the one
quiet note of "down from here only".
"""

from __future__ import annotations

from dataclasses import replace

from bot.agents.confirm import Confirmer
from checks.diagnose import Diagnosis
from checks.run import CheckOptions


class AgentGate:
    def __init__(self, confirmer: Confirmer) -> None:
        self.confirmer = confirmer
        self.held: dict[int, str] = {}  # watch id → the headline from every place
        self.told: set[int] = set()  # watches whose note is out, until they recover

    async def confirm(
        self, watch_id: int, diagnosis: Diagnosis, options: CheckOptions
    ) -> Diagnosis:
        """Ask the agents; a confirmed failure's summary says from where, else it is held."""
        self.held.pop(watch_id, None)
        if diagnosis.healthy:
            return diagnosis
        confirmation = await self.confirmer(diagnosis, options)
        if confirmation is None:
            return diagnosis
        if not confirmation.confirmed:
            self.held[watch_id] = confirmation.headline
            return diagnosis
        return replace(diagnosis, summary=f"{diagnosis.summary} · {confirmation.headline}")

    def holds(self, watch_id: int, healthy: bool) -> bool:
        if healthy:
            self.held.pop(watch_id, None)
            self.told.discard(watch_id)
            return False
        return watch_id in self.held

    def note_once(self, watch_id: int) -> str | None:
        """The headline of a held failure for its quiet note, the first time only."""
        if watch_id not in self.held or watch_id in self.told:
            return None
        self.told.add(watch_id)
        return self.held[watch_id]
