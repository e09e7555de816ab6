"""The bot's side of the agents: `/agent/v1/poll` and `/agent/v1/result`, and asking.

Agents long-poll: a poll waits (up to `wait` seconds) until a job for that agent
is in the database, so a job reaches an agent within a fraction of a second and
an idle agent costs one request every half minute. Every request is verified
(`protocol.verify_request`) and its nonce recorded in the database, so a replay
is refused by every replica; every job handed out was signed when it was made.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from bot import metrics
from bot.agents import protocol
from bot.agents.places import Place, from_answer
from bot.agents.protocol import Job, Refused
from bot.agents.settings import AgentSettings
from bot.agents.store import AgentStore, Contact, utc
from checks.knowledge import load as load_knowledge

log = logging.getLogger(__name__)

POLL_LIMIT = 4 * 1024  # bytes of a poll's body
RESULT_LIMIT = 512 * 1024  # bytes of a result's body
MAX_WAIT = 30.0  # seconds a poll may be held
DB_POLL = 0.5  # seconds between looks at the database (another replica's jobs and answers)
SEEN_EVERY = 5.0  # seconds between writes of one agent's last contact
SILENT_AFTER = 120.0  # seconds without a poll before an agent counts as silent
JOB_SLACK = 8.0  # seconds beyond the check's own timeout for an agent to answer


class Hub:
    def __init__(
        self, settings: AgentSettings, store: AgentStore, clock: Callable[[], float] = time.time
    ) -> None:
        assert settings.key is not None
        self.settings = settings
        self.store = store
        self.clock = clock
        self._pollers: set[asyncio.Event] = set()  # held polls: woken by this replica's jobs
        self._answered: dict[str, asyncio.Event] = {}  # job id → its asker's wake-up
        self._seen: dict[str, tuple[float, str, str]] = {}  # agent → last write, version, place
        self._watchdog: asyncio.Task[None] | None = None
        # told once (fleet-wide) of an agent gone silent: the app posts it where watches are
        self.on_silent: Callable[[str, float], Awaitable[None]] | None = None
        self._closing = False  # held polls end at once: a stopping server waits for them

    @property
    def names(self) -> list[str]:
        return sorted(self.settings.enrolled)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/agent/v1/poll", self.poll)
        app.router.add_post("/agent/v1/result", self.result)

    async def serve(self, host: str, port: int) -> web.AppRunner:
        app = web.Application(client_max_size=RESULT_LIMIT)
        self.add_routes(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        return runner

    # --- the agents' requests -------------------------------------------------------

    async def _verified(self, request: web.Request, limit: int) -> tuple[str, bytes]:
        body = b""
        while len(body) <= limit:  # read() gives what has arrived: up to EOF, within the cap
            chunk = await request.content.read(limit + 1 - len(body))
            if not chunk:
                break
            body += chunk
        if len(body) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))
        now = self.clock()
        try:
            caller = protocol.verify_request(
                self.settings.enrolled, request.headers, request.method, request.path, body, now
            )
        except Refused as exc:
            log.warning("agent request refused: %s", exc.reason)
            raise web.HTTPUnauthorized(text=json.dumps({"error": exc.reason})) from None
        expires = utc(now + 2 * protocol.MAX_SKEW)
        if not await self.store.first_nonce(caller.name, caller.nonce, expires):
            log.warning("agent request refused: replayed")
            raise web.HTTPUnauthorized(text=json.dumps({"error": "replayed"}))
        return caller.name, body

    async def poll(self, request: web.Request) -> web.Response:
        agent, body = await self._verified(request, POLL_LIMIT)
        hello = _object(body)
        version = str(hello.get("version", ""))[:64]
        place = str(hello.get("place", ""))[:120]
        wait = hello.get("wait", 0)
        wait = min(MAX_WAIT, max(0.0, float(wait))) if isinstance(wait, int | float) else 0.0
        await self._saw(agent, version, place)
        deadline = time.monotonic() + wait
        woken = asyncio.Event()  # set by `ask` on this replica: look again at once
        self._pollers.add(woken)
        try:
            while True:
                woken.clear()  # before looking: a job written meanwhile wakes the next wait
                jobs = await self.store.take(agent, utc(self.clock()))
                if jobs or time.monotonic() >= deadline or self._closing:
                    return web.json_response(
                        {"jobs": [{"payload": j.payload, "signature": j.signature} for j in jobs]}
                    )
                left = max(0.0, deadline - time.monotonic())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), timeout=min(DB_POLL, left))
        finally:
            self._pollers.discard(woken)

    async def result(self, request: web.Request) -> web.Response:
        agent, body = await self._verified(request, RESULT_LIMIT)
        data = _object(body)
        job_id, answer = data.get("job"), data.get("result")
        if not isinstance(job_id, str) or not isinstance(answer, dict):
            raise web.HTTPBadRequest(text=json.dumps({"error": "malformed"}))
        outcome = await self.store.finish(
            agent, job_id[:64], json.dumps(answer)[:RESULT_LIMIT], utc(self.clock())
        )
        if outcome == "ok" and job_id in self._answered:  # asked on this replica: wake it
            self._answered[job_id].set()
        status = {"ok": 200, "unknown": 404, "done": 409, "expired": 410}[outcome]
        return web.json_response({"result": outcome}, status=status)

    # --- asking -------------------------------------------------------------------

    async def ask(
        self, names: Sequence[str], url: str, timeout: float, samples: int
    ) -> list[Place]:
        """One job per named agent; each answer read back, or unknown at the deadline."""
        assert self.settings.key is not None
        now = self.clock()
        life = min(protocol.MAX_JOB_LIFE, timeout + JOB_SLACK)
        jobs = {
            name: Job(
                id=uuid.uuid4().hex,
                agent=name,
                target=url,
                timeout=min(protocol.MAX_TIMEOUT, timeout),
                samples=samples,
                issued=now,
                expires=now + life,
                nonce=protocol.new_nonce(),
            )
            for name in names
        }
        rows = []
        for name, job in jobs.items():
            signed = protocol.sign_job(self.settings.key, job)
            rows.append(
                (job.id, name, signed["payload"], signed["signature"], utc(now), utc(job.expires))
            )
        ids = [job.id for job in jobs.values()]
        answered = asyncio.Event()
        self._answered.update(dict.fromkeys(ids, answered))
        try:
            await self.store.add_jobs(rows)
            self._wake_polls()
            answers = await self._answers(ids, answered, time.monotonic() + life)
        finally:
            for job_id in ids:
                self._answered.pop(job_id, None)
        knowledge = load_knowledge()
        return [
            from_answer(name, answers.get(job.id), knowledge.causes, knowledge.products)
            for name, job in jobs.items()
        ]

    async def _answers(
        self, ids: list[str], answered: asyncio.Event, deadline: float
    ) -> dict[str, str]:
        """The answers in the database by the deadline: woken by this replica's result
        handler, and looking every DB_POLL seconds for answers another replica took."""
        answers: dict[str, str] = {}
        while True:  # no answer can be there yet when the jobs were just written: wait first
            left = deadline - time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(answered.wait(), timeout=max(0.0, min(DB_POLL, left)))
            answered.clear()
            answers = await self.store.results(ids)
            if len(answers) == len(ids) or deadline - time.monotonic() <= 0:
                return answers

    async def _saw(self, agent: str, version: str, place: str) -> None:
        """Write an agent's last contact, at most every SEEN_EVERY seconds (or on a change)."""
        now = self.clock()
        last = self._seen.get(agent)
        if last is not None and now - last[0] < SEEN_EVERY and last[1:] == (version, place):
            return
        self._seen[agent] = (now, version, place)
        await self.store.seen(agent, version, place, utc(now))

    def _wake_polls(self) -> None:
        for woken in self._pollers:
            woken.set()

    # --- silence ------------------------------------------------------------------

    async def contacts(self) -> list[Contact]:
        """The enrolled agents' last contacts (an unenrolled key never shows)."""
        return [c for c in await self.store.contacts() if c.agent in self.settings.enrolled]

    def start(self) -> None:
        self._watchdog = asyncio.get_running_loop().create_task(self._watch_silence())

    async def stop(self) -> None:
        """End the held polls (before the HTTP server stops) and the watchdog."""
        self._closing = True
        self._wake_polls()
        if self._watchdog is not None:
            self._watchdog.cancel()
            await asyncio.gather(self._watchdog, return_exceptions=True)

    async def _watch_silence(self) -> None:
        while True:
            try:
                await self.check_silence()
                await self.store.prune(utc(self.clock()))
            except Exception:  # the watchdog must outlive a database hiccup
                log.exception("agent watchdog failed")
            await asyncio.sleep(15)

    async def check_silence(self) -> list[str]:
        """Update the metric; tell (once, fleet-wide) of each agent silent for too long."""
        now = self.clock()
        told = []
        seen = {c.agent: c for c in await self.contacts()}
        for name in self.names:
            contact = seen.get(name)
            age = now - contact.last_seen.timestamp() if contact else float("inf")
            metrics.AGENT_LAST_SEEN.labels(agent=name).set(age if contact else -1)
            silent = contact is not None and age > SILENT_AFTER and not contact.silent_told
            if silent and await self.store.told_silent(name):
                log.warning("agent %s has been silent for %.0f s", name, age)
                told.append(name)
                if self.on_silent is not None:
                    await self.on_silent(name, age)
        return told


def _object(body: bytes) -> dict[str, object]:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise web.HTTPBadRequest(text=json.dumps({"error": "malformed"})) from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text=json.dumps({"error": "malformed"}))
    return data
