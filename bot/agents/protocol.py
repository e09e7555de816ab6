"""The agent protocol, pure: what is signed, how it is read back, and every refusal.

Agent → bot: every request carries `X-Gateway-Agent`, `-Timestamp`, `-Nonce` and
`-Signature`, an Ed25519 signature over the method, path, name, timestamp, nonce
and the body's SHA-256; the bot holds only the agents' public keys.
Bot → agent: every job is a canonical JSON payload signed with the bot's key,
naming one agent, with an expiry and a nonce; the agent pins the bot's public
key and refuses a job that is forged, expired, replayed or for another agent, so
neither a tampered database row nor a proxy in between can turn agents into
scanners.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bot.agents import keys

VERSION = "v1"
MAX_SKEW = 60.0  # seconds a request's timestamp may be off the bot's clock
MAX_JOB_LIFE = 300.0  # seconds a job may live, whatever the bot says
MAX_TIMEOUT = 60.0  # the longest check a job may ask for
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
_NONCE = re.compile(r"^[0-9a-f]{32}$")
HEADERS = ("X-Gateway-Agent", "X-Gateway-Timestamp", "X-Gateway-Nonce", "X-Gateway-Signature")


class Refused(ValueError):
    """A request or a job is refused; `reason` is a short code, the message one line."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def new_nonce() -> str:
    return secrets.token_hex(16)


def request_message(
    method: str, path: str, agent: str, timestamp: str, nonce: str, body: bytes
) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join(
        [f"gateway-agent-{VERSION}", method.upper(), path, agent, timestamp, nonce, digest]
    ).encode()


def sign_request(
    key: Ed25519PrivateKey, agent: str, method: str, path: str, body: bytes, now: float
) -> dict[str, str]:
    timestamp, nonce = f"{now:.3f}", new_nonce()
    signature = keys.sign(key, request_message(method, path, agent, timestamp, nonce, body))
    return dict(zip(HEADERS, (agent, timestamp, nonce, signature), strict=True))


@dataclass(frozen=True)
class Caller:
    """An agent whose request was verified."""

    name: str
    nonce: str
    timestamp: float


def verify_request(
    enrolled: Mapping[str, Ed25519PublicKey],
    headers: Mapping[str, str],
    method: str,
    path: str,
    body: bytes,
    now: float,
) -> Caller:
    """The caller, once its signature, clock and name check out; Refused otherwise.

    The nonce's freshness is the caller's to record (it is shared by every replica).
    """
    agent, stamp, nonce, signature = (headers.get(h, "") for h in HEADERS)
    if not agent or not stamp or not nonce or not signature:
        raise Refused("unsigned", "the request is not signed")
    key = enrolled.get(agent)
    if key is None:
        raise Refused("unknown_agent", "no agent of that name is enrolled")
    if not _NONCE.match(nonce):
        raise Refused("bad_nonce", "the nonce is not 32 hex digits")
    try:
        when = float(stamp)
    except ValueError:
        raise Refused("bad_timestamp", "the timestamp is not a number") from None
    if not abs(now - when) <= MAX_SKEW:
        raise Refused("stale", f"the request's clock is more than {MAX_SKEW:.0f} s off")
    if not keys.verify(key, signature, request_message(method, path, agent, stamp, nonce, body)):
        raise Refused("bad_signature", "the signature does not match the agent's key")
    return Caller(agent, nonce, when)


@dataclass(frozen=True)
class Job:
    """One check the bot asks of one agent."""

    id: str
    agent: str
    target: str  # the URL, as the bot parsed it
    timeout: float
    samples: int
    issued: float
    expires: float
    nonce: str

    def payload(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


def sign_job(key: Ed25519PrivateKey, job: Job) -> dict[str, str]:
    payload = job.payload()
    return {"payload": payload, "signature": keys.sign(key, _job_message(payload))}


def _job_message(payload: str) -> bytes:
    return f"gateway-job-{VERSION}\n{payload}".encode()


class SeenNonces:
    """The job nonces an agent has run, kept until their jobs expire (replays refused)."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def first_time(self, nonce: str, until: float, now: float) -> bool:
        if len(self._until) > 10_000 or any(t < now for t in list(self._until.values())[:64]):
            self._until = {n: t for n, t in self._until.items() if t >= now}
        if nonce in self._until:
            return False
        self._until[nonce] = until
        return True


def open_job(
    bot_key: Ed25519PublicKey, signed: object, me: str, now: float, seen: SeenNonces
) -> Job:
    """A job signed by the pinned bot key, for this agent, unexpired, never seen; or Refused."""
    if not isinstance(signed, dict):
        raise Refused("malformed", "a job is an object")
    payload, signature = signed.get("payload"), signed.get("signature")
    if not isinstance(payload, str) or not isinstance(signature, str) or len(payload) > 8192:
        raise Refused("malformed", "a job has a payload and a signature")
    if not keys.verify(bot_key, signature, _job_message(payload)):
        raise Refused("bad_signature", "the job is not signed by the bot's key")
    job = _parse_job(payload)
    if job.agent != me:
        raise Refused("foreign", f"the job is for another agent ({job.agent})")
    if job.expires <= now:
        raise Refused("expired", "the job has expired")
    if job.expires - job.issued > MAX_JOB_LIFE or job.issued > now + MAX_SKEW:
        raise Refused("malformed", "the job's lifetime is out of bounds")
    if not seen.first_time(job.nonce, job.expires, now):
        raise Refused("replayed", "the job was already run (its nonce is not new)")
    return job


def _parse_job(payload: str) -> Job:
    try:
        data = json.loads(payload)
        job = Job(
            id=str(data["id"])[:64],
            agent=str(data["agent"]),
            target=str(data["target"]),
            timeout=float(data["timeout"]),
            samples=int(data["samples"]),
            issued=float(data["issued"]),
            expires=float(data["expires"]),
            nonce=str(data["nonce"]),
        )
    except (ValueError, KeyError, TypeError):
        raise Refused("malformed", "the job's payload is not a job") from None
    if not 0.5 <= job.timeout <= MAX_TIMEOUT or not 1 <= job.samples <= 10:
        raise Refused("malformed", "the job's timeout or samples are out of bounds")
    if not _NONCE.match(job.nonce) or len(job.target) > 2100:
        raise Refused("malformed", "the job's nonce or target is out of bounds")
    return job
