"""One way to run the bot (`serve`, `shell`): on uvloop where it is installed.

uvloop's C event loop takes a third off a loopback check (connect, handshake,
reads) and off the bot's own request handling, which is what a bot running
thousands of watches spends its CPU on; asyncio's loop stays the fallback where
uvloop cannot be installed. A one-shot `gateway check` keeps asyncio's loop:
there, importing uvloop costs more than it saves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`, on uvloop when available."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(main)
