"""Log lines: text for people, or one JSON object per line (GATEWAY_LOG_FORMAT=json) with
the watch, incident or request a line concerns, taken from a context variable that
follows the work into its tasks. Tokens and secrets are scrubbed from every line.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

_CONTEXT: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "gateway_log_context", default=None
)
# Slack's token shapes: bot, user, app-level, refresh, configuration tokens
_TOKENS = re.compile(r"\b(xox[a-z]|xapp|xoxe(?:\.xox[a-z])?)-[A-Za-z0-9-]+")
REDACTED = "[redacted]"


@contextlib.contextmanager
def context(**values: object) -> Iterator[None]:
    """Lines logged inside (and in tasks started inside) carry these fields."""
    token = _CONTEXT.set(
        {**(_CONTEXT.get() or {}), **{k: v for k, v in values.items() if v is not None}}
    )
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def bind(**values: object) -> None:
    """Add fields for the rest of this task (a task's context is its own copy)."""
    _CONTEXT.set({**(_CONTEXT.get() or {}), **{k: v for k, v in values.items() if v is not None}})


class _Scrub:
    def __init__(self, secrets: list[str]) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return _TOKENS.sub(REDACTED, text)


class JsonFormatter(logging.Formatter):
    def __init__(self, scrub: _Scrub) -> None:
        super().__init__()
        self.scrub = scrub

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **(_CONTEXT.get() or {}),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return self.scrub(json.dumps(line, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    def __init__(self, scrub: _Scrub) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.scrub = scrub

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = _CONTEXT.get() or {}
        if fields:
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return self.scrub(text)


def configure(log_format: str = "text", secrets: list[str | None] | None = None) -> None:
    """The root logger's one handler on stderr, in the chosen format, secrets scrubbed."""
    scrub = _Scrub([s for s in secrets or [] if s])
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(scrub) if log_format == "json" else TextFormatter(scrub))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
