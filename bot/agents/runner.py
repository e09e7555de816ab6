"""`gateway agent run`: a vantage point that dials the bot and runs the checks it signs.

Nothing listens here: the agent long-polls the bot over HTTPS (httpx), signs every
request, and runs only jobs signed by the pinned bot key, for its own name,
unexpired and never seen before. Checks run through the same `checks` engine with
this agent's own egress guard (private targets refused unless `--allow-private`)
and at most `concurrency` at once. No Slack token, no database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bot.agents import protocol
from bot.agents.protocol import Job, Refused, SeenNonces
from checks.dns import ResolverAddress
from checks.guard import TargetRefused
from checks.run import CheckOptions, check
from checks.target import TargetError

log = logging.getLogger(__name__)

POLL_WAIT = 25.0  # seconds the bot may hold a poll
MAX_BACKOFF = 30.0
MAX_JOBS_PER_POLL = 50


def version() -> str:
    try:
        from importlib.metadata import version as installed

        return installed("gateway")
    except Exception:  # not installed as a distribution: still an agent
        return "0"


@dataclass(frozen=True)
class AgentConfig:
    bot_url: str
    bot_key: Ed25519PublicKey
    name: str
    key: Ed25519PrivateKey
    resolvers: tuple[ResolverAddress, ...] = ()
    allow_private: bool = False
    ca_bundle: str | None = None
    concurrency: int = 4
    place: str = field(default_factory=socket.gethostname)


class Agent:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.seen = SeenNonces()
        self.slots = asyncio.Semaphore(config.concurrency)
        self.tasks: set[asyncio.Task[None]] = set()
        self.refused: list[str] = []  # the reasons of refused jobs, newest last (bounded)

    async def run(self, stop: asyncio.Event) -> None:
        timeout = httpx.Timeout(POLL_WAIT + 15, connect=10)
        async with httpx.AsyncClient(base_url=self.config.bot_url, timeout=timeout) as client:
            backoff = 1.0
            while not stop.is_set():
                try:
                    jobs = await self._until_stopped(self._poll(client), stop)
                    backoff = 1.0
                except (httpx.HTTPError, ValueError) as exc:
                    log.warning("cannot poll the bot (%s); again in %.0f s", _why(exc), backoff)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), backoff)
                    backoff = min(MAX_BACKOFF, backoff * 2)
                    continue
                for signed in jobs[:MAX_JOBS_PER_POLL]:
                    self._accept(client, signed)
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

    @staticmethod
    async def _until_stopped(work: Awaitable[list[object]], stop: asyncio.Event) -> list[object]:
        """The poll's jobs; none when told to stop meanwhile (a poll may be held 25 s)."""
        polling = asyncio.ensure_future(work)
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({polling, stopping}, return_when=asyncio.FIRST_COMPLETED)
        for task in (polling, stopping):
            task.cancel()
        await asyncio.gather(stopping, return_exceptions=True)
        if polling.cancelled() or not polling.done():
            await asyncio.gather(polling, return_exceptions=True)
            return []
        return polling.result()

    async def _poll(self, client: httpx.AsyncClient) -> list[object]:
        hello = {"version": version(), "place": self.config.place[:120], "wait": POLL_WAIT}
        response = await self._post(client, "/agent/v1/poll", hello)
        if response.status_code != 200:
            raise ValueError(f"the bot answered {response.status_code}: {response.text[:200]}")
        jobs = response.json().get("jobs")
        return jobs if isinstance(jobs, list) else []

    async def _post(
        self, client: httpx.AsyncClient, path: str, data: dict[str, object]
    ) -> httpx.Response:
        body = json.dumps(data).encode()
        headers = protocol.sign_request(
            self.config.key, self.config.name, "POST", path, body, time.time()
        )
        headers["content-type"] = "application/json"
        return await client.post(path, content=body, headers=headers)

    def _accept(self, client: httpx.AsyncClient, signed: object) -> None:
        try:
            job = protocol.open_job(
                self.config.bot_key, signed, self.config.name, time.time(), self.seen
            )
        except Refused as exc:
            log.warning("job refused: %s (%s)", exc.reason, exc)
            self.refused = [*self.refused[-99:], exc.reason]
            return
        task = asyncio.get_running_loop().create_task(self._run_job(client, job))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run_job(self, client: httpx.AsyncClient, job: Job) -> None:
        async with self.slots:
            if job.expires <= time.time():
                return  # waited past its expiry behind other jobs: the bot has moved on
            result = await self.answer(job)
        try:
            response = await self._post(
                client, "/agent/v1/result", {"job": job.id, "result": result}
            )
            if response.status_code != 200:
                log.warning(
                    "the bot did not take job %s's result: %s", job.id, response.status_code
                )
        except httpx.HTTPError as exc:
            log.warning("cannot send job %s's result (%s)", job.id, _why(exc))

    async def answer(self, job: Job) -> dict[str, object]:
        """The job's check as `gateway check --json` prints it; a refusal as {"refused": …}."""
        from bot.render.as_json import to_dict

        options = CheckOptions(
            resolvers=self.config.resolvers,
            allow_private=self.config.allow_private,
            ca_bundle=self.config.ca_bundle,
            timeout=job.timeout,
            samples=job.samples,
        )
        try:
            return to_dict(await check(job.target, options))
        except (TargetRefused, TargetError) as exc:
            log.warning("job %s refused by this agent's guard: %s", job.id, exc)
            return {"refused": str(exc)}


def _why(exc: Exception) -> str:
    return str(exc)[:200] or type(exc).__name__
