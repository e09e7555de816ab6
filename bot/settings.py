"""The bot's settings: environment (and `.env`) in, one typed, frozen object out.

Read once at start-up; nothing else in the bot reads `os.environ`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from bot import durations
from bot.agents.settings import AgentSettings, AgentSettingsError
from bot.agents.settings import from_environment as agent_settings
from checks.dns import ResolverAddress
from checks.run import DEFAULT_SAMPLES, DEFAULT_TIMEOUT, MAX_SAMPLES, CheckOptions
from checks.target import TargetError, parse_target

DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_PAGERDUTY_URL = "https://events.pagerduty.com"


class SettingsError(ValueError):
    """A setting is unusable; the message names it."""


MAX_TIMEOUT = 120.0  # seconds a check may take, at most


@dataclass(frozen=True)
class Limits:
    """How much one person and one workspace may ask of the bot."""

    user_in_flight: int = 2
    user_per_minute: int = 6
    team_in_flight: int = 20
    team_per_minute: int = 60
    checks_in_flight: int = 50
    team_max_watches: int = 500  # beside the 50 a channel may hold


@dataclass(frozen=True)
class Escalation:
    """When to remind and escalate an unacknowledged incident, and where to page."""

    remind_every: float | None = 1800.0  # seconds; None = never
    escalate_after: float | None = 900.0  # seconds; None = never
    pagerduty_key: str | None = None
    pagerduty_url: str = DEFAULT_PAGERDUTY_URL
    webhook_url: str | None = None
    webhook_secret: str | None = None
    retries: int = 5  # attempts per event before the thread is told it failed
    backoff: float = 1.0  # seconds before the second attempt; doubles after each

    @property
    def anywhere(self) -> bool:
        return bool(self.pagerduty_key or self.webhook_url)


@dataclass(frozen=True)
class Settings:
    bot_token: str | None = None
    app_token: str | None = None
    signing_secret: str | None = None
    port: int = 3000
    api_url: str = DEFAULT_API_URL
    database_url: str = "sqlite:///gateway.sqlite3"
    min_interval: float = 60.0
    canary: str | None = None
    recover_after: int = 2
    check: CheckOptions = field(default_factory=CheckOptions)
    limits: Limits = field(default_factory=Limits)
    allow_private_set: bool = False
    escalation: Escalation = field(default_factory=Escalation)
    allow_memory_database: bool = False
    # the service (docs/operations.md)
    shell_database_url: str = "sqlite:///gateway-shell.sqlite3"
    metrics_port: int | None = None
    log_format: str = "text"
    shell: bool = False  # `gateway shell`: one local person, words for a terminal chat
    agents: AgentSettings = field(default_factory=AgentSettings)  # bot/agents/settings.py
    keep_incidents: float = 90 * 86400.0  # seconds an incident's record is kept after it ended

    @property
    def socket_mode(self) -> bool:
        return bool(self.app_token)

    @property
    def has_slack(self) -> bool:
        return bool(self.bot_token)


def load_environment(
    environ: dict[str, str] | None = None, env_file: Path | None = None
) -> dict[str, str]:
    """The process environment over `.env` (the environment wins, as dotenv does)."""
    path = env_file or Path.cwd() / ".env"
    values: dict[str, str] = {}
    if path.is_file():
        values = {k: v for k, v in dotenv_values(path).items() if v is not None}
    values.update(environ if environ is not None else os.environ)
    return values


def check_from_environment(environ: dict[str, str]) -> CheckOptions:
    """How a check runs (GATEWAY_RESOLVERS, _ALLOW_PRIVATE, _CA_BUNDLE, _TIMEOUT, _SAMPLES):
    the bot's settings and `gateway check`'s defaults, read one way."""
    return CheckOptions(
        resolvers=_resolvers(environ.get("GATEWAY_RESOLVERS", "")),
        allow_private=_flag(environ.get("GATEWAY_ALLOW_PRIVATE")),
        ca_bundle=_file(environ, "GATEWAY_CA_BUNDLE"),
        timeout=_number(environ, "GATEWAY_TIMEOUT", DEFAULT_TIMEOUT, 0.5, MAX_TIMEOUT),
        samples=int(_number(environ, "GATEWAY_SAMPLES", DEFAULT_SAMPLES, 1, MAX_SAMPLES)),
    )


def from_environment(environ: dict[str, str]) -> Settings:
    """Build settings; every unusable value is a SettingsError naming the variable."""
    allow_text = environ.get("GATEWAY_ALLOW_PRIVATE")
    check = check_from_environment(environ)
    limits = Limits(
        user_in_flight=int(_number(environ, "GATEWAY_USER_IN_FLIGHT", 2, 1, 100)),
        user_per_minute=int(_number(environ, "GATEWAY_USER_PER_MINUTE", 6, 1, 1000)),
        team_in_flight=int(_number(environ, "GATEWAY_TEAM_IN_FLIGHT", 20, 1, 1000)),
        team_per_minute=int(_number(environ, "GATEWAY_TEAM_PER_MINUTE", 60, 1, 10000)),
        checks_in_flight=int(_number(environ, "GATEWAY_CHECKS_IN_FLIGHT", 50, 1, 10000)),
        team_max_watches=int(_number(environ, "GATEWAY_TEAM_MAX_WATCHES", 500, 1, 1_000_000)),
    )
    api_url = (environ.get("SLACK_API_URL") or "").strip() or DEFAULT_API_URL
    parts = urlsplit(api_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(
            f"SLACK_API_URL must be an http(s) URL such as {DEFAULT_API_URL}, not {api_url!r}"
        )
    if not api_url.endswith("/"):
        api_url += "/"
    return Settings(
        bot_token=environ.get("SLACK_BOT_TOKEN") or None,
        app_token=environ.get("SLACK_APP_TOKEN") or None,
        signing_secret=environ.get("SLACK_SIGNING_SECRET") or None,
        port=int(_number(environ, "PORT", 3000, 1, 65535)),
        api_url=api_url,
        database_url=environ.get("GATEWAY_DATABASE_URL") or "sqlite:///gateway.sqlite3",
        min_interval=_seconds(environ, "GATEWAY_MIN_INTERVAL", 60.0, 0.1, 86400.0),
        canary=_canary(environ.get("GATEWAY_CANARY")),
        recover_after=int(_number(environ, "GATEWAY_RECOVER_AFTER", 2, 1, 100)),
        check=check,
        limits=limits,
        allow_private_set=allow_text is not None and allow_text.strip() != "",
        escalation=_escalation(environ),
        allow_memory_database=_flag(environ.get("GATEWAY_ALLOW_MEMORY_DATABASE")),
        metrics_port=int(_number(environ, "METRICS_PORT", 0, 1, 65535)) or None,
        log_format=_log_format(environ.get("GATEWAY_LOG_FORMAT")),
        agents=_agents(environ),
        keep_incidents=_keep(environ.get("GATEWAY_KEEP_INCIDENTS")),
    )


def _agents(environ: dict[str, str]) -> AgentSettings:
    try:
        return agent_settings(environ)
    except AgentSettingsError as exc:
        raise SettingsError(str(exc)) from None


def _keep(text: str | None) -> float:
    """GATEWAY_KEEP_INCIDENTS: `90d` (the default), `48h`, or plain days; 1 hour to 10 years."""
    text = (text or "").strip()
    if not text:
        return 90 * 86400.0
    kept = durations.seconds(text, bare="d", units="hd")
    if kept is None or not 3600 <= kept <= 3650 * 86400:
        raise SettingsError(
            f"GATEWAY_KEEP_INCIDENTS must be a time such as 90d or 48h (1 hour to 10 years), "
            f"not {text[:40]!r}"
        )
    return kept


def _escalation(environ: dict[str, str]) -> Escalation:
    webhook_url = _url(environ, "GATEWAY_WEBHOOK_URL")
    secret = (environ.get("GATEWAY_WEBHOOK_SECRET") or "").strip() or None
    if webhook_url and not secret:
        raise SettingsError(
            "GATEWAY_WEBHOOK_SECRET must be set with GATEWAY_WEBHOOK_URL: "
            "the receiver needs it to verify X-Gateway-Signature"
        )
    return Escalation(
        remind_every=duration(environ, "GATEWAY_REMIND_EVERY", 1800.0),
        escalate_after=duration(environ, "GATEWAY_ESCALATE_AFTER", 900.0),
        pagerduty_key=(environ.get("GATEWAY_PAGERDUTY_ROUTING_KEY") or "").strip() or None,
        pagerduty_url=_url(environ, "GATEWAY_PAGERDUTY_URL") or DEFAULT_PAGERDUTY_URL,
        webhook_url=webhook_url,
        webhook_secret=secret,
        backoff=duration(environ, "GATEWAY_RETRY_BACKOFF", 1.0) or 1.0,
    )


def duration(environ: dict[str, str], name: str, default: float) -> float | None:
    """`30s`, `5m`, `2h` or plain seconds; `0` means never (None). At most 7 days."""
    text = (environ.get(name) or "").strip().lower()
    if not text:
        return default
    found = durations.seconds(text, bare="s", units="smh")
    seconds = -1.0 if found is None else found
    if not 0 <= seconds <= 7 * 86400:
        raise SettingsError(f"{name} must be a duration such as 30s, 15m or 2h, not {text!r}")
    return seconds or None


def _seconds(environ: dict[str, str], name: str, default: float, low: float, high: float) -> float:
    """A duration setting: plain seconds, or with `s`, `m` or `h`."""
    text = (environ.get(name) or "").strip().lower()
    found = durations.seconds(text, bare="s", units="smh")
    if not text or found is None:
        return _number(environ, name, default, low, high)  # the one-line error, or the default
    value = found
    if not low <= value <= high:
        raise SettingsError(f"{name} must be from {low:g} s to {high:g} s, not {text!r}")
    return value


def _url(environ: dict[str, str], name: str) -> str | None:
    text = (environ.get(name) or "").strip()
    if not text:
        return None
    if not re.match(r"^https?://[^\s/]+", text):
        raise SettingsError(f"{name} must be an http:// or https:// URL, not {text[:60]!r}")
    return text.rstrip("/")


def _log_format(text: str | None) -> str:
    value = (text or "text").strip().lower()
    if value not in ("text", "json"):
        raise SettingsError(f"GATEWAY_LOG_FORMAT must be text or json, not {text!r}")
    return value


def _file(environ: dict[str, str], name: str) -> str | None:
    path = (environ.get(name) or "").strip()
    if path and not os.path.isfile(path):
        raise SettingsError(f"{name}={path}: no such file; name a PEM file of CA certificates")
    return path or None


def _canary(text: str | None) -> str | None:
    if not text or not text.strip():
        return None
    try:
        return parse_target(text.strip()).url
    except TargetError as exc:
        raise SettingsError(f"GATEWAY_CANARY: {exc}") from None


def _flag(text: str | None) -> bool:
    return (text or "").strip().lower() in ("1", "true", "yes", "on")


def _resolvers(text: str) -> tuple[ResolverAddress, ...]:
    try:
        return tuple(ResolverAddress.parse(r) for r in text.split(",") if r.strip())
    except ValueError as exc:
        raise SettingsError(f"GATEWAY_RESOLVERS: {exc}") from None


def _number(environ: dict[str, str], name: str, default: float, low: float, high: float) -> float:
    text = (environ.get(name) or "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise SettingsError(f"{name} must be a number from {low:g} to {high:g}, not {text!r}")
    return value
