"""Acks first: work that follows an ack waits until a burst of requests has been acked.

Slack gives each request 3 s, and a burst (an incident, fifty people typing
`/gateway check` at once) arrives faster than one event loop can ack it if
the checks of the first requests start at once: their probes, rendering and
posts then sit between the later requests and their acks. Started a moment
after the last ack, the work still begins within a quarter of a second, and
every ack of the burst goes out as fast as a bare Bolt app's would
(bench/ack_latency.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

QUIET = 0.02  # seconds without a new ack before work starts
MAX_WAIT = 0.25  # work never waits longer than this for a burst to end


class AckFirst:
    def __init__(self, quiet: float = QUIET, max_wait: float = MAX_WAIT) -> None:
        self._quiet = quiet
        self._max_wait = max_wait
        self._last_ack = 0.0

    def note_ack(self) -> None:
        """A request was just acked: work waits for the quiet after it."""
        self._last_ack = time.monotonic()

    def after_ack(self, work: Coroutine[Any, Any, None]) -> Coroutine[Any, Any, None]:
        """`work`, started once acks have stopped arriving (or after MAX_WAIT)."""
        self.note_ack()
        return self._when_quiet(work)

    async def _when_quiet(self, work: Coroutine[Any, Any, None]) -> None:
        waited_until = time.monotonic() + self._max_wait
        while True:
            now = time.monotonic()
            quiet_for = now - self._last_ack
            if quiet_for >= self._quiet or now >= waited_until:
                break
            await asyncio.sleep(min(self._quiet - quiet_for, waited_until - now))
        await work
