"""What an agent adds to a check, and whether three agents keep up with 1,000
confirmations a minute.

Starts nginx on loopback (plain HTTP), the bot's hub on a SQLite file (as `gateway
serve` runs it) and three real `gateway agent run` processes, then:

- times the bot's own check of the URL (1 sample), and its CPU per check;
- times the same check asked of one agent through the hub (job signed and written,
  long-poll, the agent's check, the result posted and read back): the difference is
  the agent's added latency; CPU per job on the bot (signing, the database, HTTP) and
  in the agent process (read from /proc);
- asks all three agents at 1,000 confirmations a minute (3,000 jobs a minute) for
  `--seconds`, and reports the rate reached, p50/p95 and answers missed.

Prints Markdown; the README quotes it. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.loopback_site import start_nginx  # noqa: E402
from bot import loop  # noqa: E402
from bot.agents import keys  # noqa: E402
from bot.agents.hub import Hub  # noqa: E402
from bot.agents.settings import from_environment  # noqa: E402
from bot.agents.store import AgentStore  # noqa: E402
from bot.migrations import open_migrated  # noqa: E402
from checks.run import CheckOptions, check  # noqa: E402
from tests.servers.proxies import free_port  # noqa: E402

NAMES = ("east", "west", "north")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def ms(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000


async def own_checks(url: str, runs: int) -> tuple[float, float]:
    options = CheckOptions(allow_private=True, samples=1, timeout=5)
    await check(url, options)
    times = []
    cpu = time.process_time()
    for _ in range(runs):
        started = time.perf_counter()
        await check(url, options)
        times.append(time.perf_counter() - started)
    return statistics.median(times), (time.process_time() - cpu) / runs


async def one_agent(hub: Hub, url: str, runs: int, agent_pid: int) -> tuple[float, float, float]:
    await hub.ask(["east"], url, 5.0, 1)
    times = []
    cpu, agent_cpu = time.process_time(), cpu_seconds(agent_pid)
    for _ in range(runs):
        started = time.perf_counter()
        places = await hub.ask(["east"], url, 5.0, 1)
        assert places[0].status == "healthy", places
        times.append(time.perf_counter() - started)
    bot_cpu = (time.process_time() - cpu) / runs
    return statistics.median(times), bot_cpu, (cpu_seconds(agent_pid) - agent_cpu) / runs


async def confirmations(
    hub: Hub, url: str, per_minute: int, seconds: float, pids: list[int]
) -> dict[str, float]:
    """`per_minute` asks of all three agents, started on a steady beat."""
    gap = 60.0 / per_minute
    times: list[float] = []
    missed = 0
    cpu, agents_cpu = time.process_time(), sum(cpu_seconds(p) for p in pids)

    async def one() -> None:
        nonlocal missed
        started = time.perf_counter()
        places = await hub.ask(list(NAMES), url, 5.0, 1)
        times.append(time.perf_counter() - started)
        missed += sum(p.status != "healthy" for p in places)

    tasks = []
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        tasks.append(asyncio.create_task(one()))
        await asyncio.sleep(max(0.0, began + len(tasks) * gap - time.perf_counter()))
    await asyncio.gather(*tasks)
    took = time.perf_counter() - began
    return {
        "asks": len(tasks),
        "rate": len(tasks) / took * 60,
        "p50": ms(times, 0.5),
        "p95": ms(times, 0.95),
        "missed": missed,
        "bot_cpu": (time.process_time() - cpu) / took,
        "agents_cpu": (sum(cpu_seconds(p) for p in pids) - agents_cpu) / took,
    }


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="agent-bench-"))
    site_port = free_port()
    nginx = start_nginx(tmp, site_port)
    url = f"http://127.0.0.1:{site_port}/"
    bot_key = tmp / "bot.key"
    bot_public = keys.generate(bot_key)
    agent_keys = {name: keys.generate(tmp / f"{name}.key") for name in NAMES}
    enrolled = ",".join(f"{n}={k}" for n, k in agent_keys.items())
    settings = from_environment({"GATEWAY_AGENTS": enrolled, "GATEWAY_AGENT_KEY": str(bot_key)})
    store = await open_migrated(f"sqlite:///{tmp}/bench.sqlite3")
    hub = Hub(settings, AgentStore(store.engine))
    port = free_port()
    runner = await hub.serve("127.0.0.1", port)
    agents = [
        subprocess.Popen(  # noqa: ASYNC220 (started once, before anything is measured)
            [sys.executable, "-m", "bot.cli", "agent", "run", "--bot", f"http://127.0.0.1:{port}",
             "--bot-key", bot_public, "--name", name, "--key", str(tmp / f"{name}.key"),
             "--allow-private"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name in NAMES
    ]  # fmt: skip
    try:
        while {c.agent for c in await hub.contacts()} != set(NAMES):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        own, own_cpu = await own_checks(url, args.runs)
        asked, bot_cpu, agent_cpu = await one_agent(hub, url, args.runs, agents[0].pid)
        print("| | median | CPU per check |")
        print("|---|---|---|")
        print(f"| the bot's own check (1 sample) | {own * 1000:.1f} ms | {own_cpu * 1000:.2f} ms |")
        print(
            f"| the same check through one agent | {asked * 1000:.1f} ms "
            f"(+{(asked - own) * 1000:.1f} ms) | bot {bot_cpu * 1000:.2f} ms, "
            f"agent {agent_cpu * 1000:.2f} ms |"
        )
        load = await confirmations(hub, url, args.per_minute, args.seconds, [a.pid for a in agents])
        print()
        print(
            f"3 agents × {args.per_minute:,} confirmations a minute for {args.seconds:.0f} s: "
            f"{load['asks']:.0f} asks ({load['rate']:,.0f}/min, {3 * load['asks']:.0f} jobs), "
            f"p50 {load['p50']:.0f} ms, p95 {load['p95']:.0f} ms, "
            f"{load['missed']:.0f} answers missed; CPU: bot {load['bot_cpu']:.0%} of a core, "
            f"3 agents {load['agents_cpu']:.0%}"
        )
    finally:
        for agent in agents:
            agent.terminate()
        for agent in agents:
            agent.wait(10)
        await hub.stop()
        await runner.cleanup()
        await store.close()
        nginx.terminate()
        nginx.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--per-minute", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30.0)
    loop.run(main(parser.parse_args()))
