"""Work after an ack waits for the burst's acks, but never long."""

import asyncio
import time

from bot.ack_first import AckFirst


async def test_work_starts_only_once_acks_have_stopped_arriving():
    gate = AckFirst(quiet=0.05, max_wait=5)
    started: list[float] = []

    async def work() -> None:
        started.append(time.monotonic())

    tasks = []
    for _ in range(5):  # a burst: an ack every 10 ms
        tasks.append(asyncio.create_task(gate.after_ack(work())))
        last_ack = time.monotonic()
        await asyncio.sleep(0.01)
    await asyncio.gather(*tasks)
    assert len(started) == 5
    assert min(started) >= last_ack + 0.05


async def test_a_burst_that_never_ends_does_not_hold_the_work_back():
    gate = AckFirst(quiet=0.05, max_wait=0.1)
    started = asyncio.Event()

    async def work() -> None:
        started.set()

    first = asyncio.create_task(gate.after_ack(work()))
    for _ in range(200):  # acks every 5 ms for a second
        gate.note_ack()
        await asyncio.sleep(0.005)
        if started.is_set():
            break
    await first
    assert started.is_set()
    assert not first.cancelled()
