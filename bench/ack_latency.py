"""How fast `/gateway` is acknowledged when many people ask at once.

Runs `gateway serve` (HTTP mode) as its own process, pointed at a local
stand-in for Slack's Web API, and fires rounds of 50 concurrent slash commands
signed as Slack signs them, each checking a healthy site on loopback. Reports
the ack latency (p50, p99, max: the time to Slack's HTTP 200, which must stay
under 3 s) and how long until all 50 verdicts and threads were posted.

The peer, in alternating rounds of the same run: a bare Bolt app that only
acks (bench/bare_bolt.py), configured as the bot is. The ratio of the two p99s
is the figure to watch; this machine's absolute times drift. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers.misbehave import Behaviour, serve  # noqa: E402
from tests.servers.proxies import free_port  # noqa: E402
from tests.slack.signing import SIGNING_SECRET, signed_headers, slash_command_body  # noqa: E402
from tests.slack.stand_in import SlackStandIn  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def fire(
    url: str, site_url: str, response_urls: list[str], round_number: int, conn, peer: bool = False
) -> None:
    """In a process of its own: send the commands at once, report each ack's latency.

    Kept apart from the Slack stand-in (which serves the bot's API calls in this
    process) so that the stand-in's work does not slow down the measuring side.
    """

    async def main() -> list[float]:
        async with httpx.AsyncClient(
            timeout=30, limits=httpx.Limits(max_connections=len(response_urls))
        ) as client:

            async def command(i: int) -> float:
                body = slash_command_body(
                    f"check {site_url}",
                    user_id=f"U{round_number}x{i}{'p' if peer else ''}",
                    response_url=response_urls[i],
                )
                headers = signed_headers(body)
                started = time.perf_counter()
                response = await client.post(url, content=body, headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                assert response.status_code == 200 and response.text == "", response.text
                return elapsed

            return list(await asyncio.gather(*(command(i) for i in range(len(response_urls)))))

    conn.send(asyncio.run(main()))
    conn.close()


async def one_round(
    url: str, slack: SlackStandIn, site_url: str, concurrency: int, round_number: int
) -> tuple[list[float], float]:
    before = len([m for m in slack.messages().values() if not m["thread_ts"]])
    urls = [slack.response_url(f"r{round_number}-{i}") for i in range(concurrency)]
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=fire, args=(url, site_url, urls, round_number, send))
    process.start()
    started = time.perf_counter()
    acks = await asyncio.to_thread(receive.recv)
    process.join(30)

    def all_done(s: SlackStandIn) -> bool:
        tops = [m for m in s.messages().values() if not m["thread_ts"]]
        done = [m for m in tops[before:] if "Checking" not in m["text"]]
        return len(done) >= concurrency and all(len(s.thread(m["ts"])) >= 4 for m in done)

    assert await slack.wait_for_async(all_done, 120), "not every verdict arrived"
    return acks, (time.perf_counter() - started) * 1000


async def peer_round(url: str, slack: SlackStandIn, concurrency: int, number: int) -> list[float]:
    """The same burst sent to the bare Bolt app; only the acks are measured."""
    urls = [slack.response_url(f"p{number}-{i}") for i in range(concurrency)]
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=fire, args=(url, "peer.example", urls, number, send, True))
    process.start()
    acks = await asyncio.to_thread(receive.recv)
    process.join(30)
    return acks


async def wait_up(url: str) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(100):
            try:
                await client.get(url)
                return
            except httpx.ConnectError:
                await asyncio.sleep(0.1)


async def run(rounds: int, concurrency: int) -> None:
    port, peer_port = free_port(), free_port()
    with (
        SlackStandIn() as slack,
        serve(Behaviour.OK) as site,
        tempfile.TemporaryDirectory() as workdir,
    ):
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GATEWAY_"))},
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "PORT": str(port),
            "GATEWAY_ALLOW_PRIVATE": "1",
            "GATEWAY_TEAM_IN_FLIGHT": "1000",
            "GATEWAY_TEAM_PER_MINUTE": "10000",
            "PYTHONPATH": str(ROOT),
        }
        bot = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-m", "bot.cli", "serve"],
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        peer = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, str(ROOT / "bench" / "bare_bolt.py"), str(peer_port)],
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}/slack/events"
        peer_url = f"http://127.0.0.1:{peer_port}/slack/events"
        try:
            await wait_up(url)
            await wait_up(peer_url)
            acks: list[float] = []
            peer_acks: list[float] = []
            completions: list[float] = []
            for number in range(rounds + 1):
                round_acks, completion = await one_round(
                    url, slack, site.url(), concurrency, number
                )
                round_peer = await peer_round(peer_url, slack, concurrency, number)
                if number:  # round 0 warms both up (imports, first connections)
                    acks += round_acks
                    peer_acks += round_peer
                    completions.append(completion)
        finally:
            for process in (bot, peer):
                process.send_signal(signal.SIGTERM)
                process.wait(30)
    print(
        f"{rounds} rounds of {concurrency} concurrent signed slash commands, "
        f"`gateway serve` in HTTP mode, a healthy loopback site\n"
    )
    print(
        "| app | ack p50 | ack p99 | ack max | all verdicts + threads posted (median per round) |"
    )
    print("|---|---|---|---|---|")
    print(
        f"| gateway serve | {statistics.median(acks):.1f} ms | {percentile(acks, 0.99):.1f} ms "
        f"| {max(acks):.1f} ms | {statistics.median(completions):.0f} ms |"
    )
    print(
        f"| bare Bolt app | {statistics.median(peer_acks):.1f} ms "
        f"| {percentile(peer_acks, 0.99):.1f} ms | {max(peer_acks):.1f} ms | – |"
    )
    ratio = percentile(acks, 0.99) / percentile(peer_acks, 0.99)
    print(f"\nack p99, gateway ÷ bare Bolt: {ratio:.2f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(run(args.rounds, args.concurrency))


if __name__ == "__main__":
    main()
