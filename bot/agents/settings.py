"""GATEWAY_AGENTS, GATEWAY_AGENT_KEY, GATEWAY_AGENT_PORT, GATEWAY_CONFIRM_FROM → typed settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bot.agents import keys
from bot.agents.protocol import NAME

MAX_AGENTS = 50


class AgentSettingsError(ValueError):
    """A GATEWAY_AGENT* setting is unusable; the message names it."""


@dataclass(frozen=True)
class AgentSettings:
    enrolled: Mapping[str, Ed25519PublicKey] = field(default_factory=dict)
    key: Ed25519PrivateKey | None = None
    port: int | None = None  # Socket Mode's port for /agent/v1/…
    confirm_from: int | None = None  # None: half of the agents that answer, at least 1

    @property
    def on(self) -> bool:
        return bool(self.enrolled) and self.key is not None


def from_environment(environ: Mapping[str, str]) -> AgentSettings:
    enrolled = _enrolled(environ.get("GATEWAY_AGENTS", ""))
    path = environ.get("GATEWAY_AGENT_KEY", "").strip()
    key = None
    if path:
        try:
            key = keys.load_private(path)
        except keys.KeyFileError as exc:
            raise AgentSettingsError(f"GATEWAY_AGENT_KEY: {exc}") from None
    if enrolled and key is None:
        raise AgentSettingsError(
            "GATEWAY_AGENTS is set but GATEWAY_AGENT_KEY is not: every job must be signed "
            "(make a key with `gateway agent keygen PATH`)"
        )
    return AgentSettings(
        enrolled=enrolled,
        key=key,
        port=_int(environ, "GATEWAY_AGENT_PORT", 1, 65535),
        confirm_from=_int(environ, "GATEWAY_CONFIRM_FROM", 0, MAX_AGENTS),
    )


def _enrolled(text: str) -> dict[str, Ed25519PublicKey]:
    found: dict[str, Ed25519PublicKey] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, equals, public = item.partition("=")
        name = name.strip().lower()
        if not equals or not NAME.match(name):
            raise AgentSettingsError(
                "GATEWAY_AGENTS: write NAME=ed25519:PUBLICKEY, comma-separated "
                "(names: lower-case letters, digits, . _ -, up to 32)"
            )
        if name in found:
            raise AgentSettingsError(f"GATEWAY_AGENTS: {name} is enrolled twice")
        try:
            found[name] = keys.parse_public(public)
        except keys.KeyFileError as exc:
            raise AgentSettingsError(f"GATEWAY_AGENTS: {name}: {exc}") from None
    if len(found) > MAX_AGENTS:
        raise AgentSettingsError(f"GATEWAY_AGENTS: at most {MAX_AGENTS} agents")
    return found


def _int(environ: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    text = environ.get(name, "").strip()
    if not text:
        return None
    if not text.isdigit() or not low <= int(text) <= high:
        raise AgentSettingsError(f"{name} takes a whole number from {low} to {high}, not {text!r}")
    return int(text)
