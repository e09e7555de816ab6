"""Run the unseen-servers lab's cases (tests/servers/unseen_lab.py) and see or keep
what came out.

:class:`UnseenLab` starts each stack once, on first use; :func:`run_case` makes one
case happen (with its concurrent holders, if any) through a caller's action, and
returns what every log of the stack got meanwhile.

``python -m tests.servers.unseen_capture [--write] [stack ...]`` prints, for each
case, the reply a client got (status line, headers, body, time) and each log's new
lines; ``--write`` also stores those logs as tests/fixtures/logs/<log>/<case>.log.
``--score`` instead runs each case through ``gateway check`` and its logs through
``gateway explain`` and prints how many came out right.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.servers.proxies import _describe, _message_complete, raw_get
from tests.servers.unseen import NghttpxProxy
from tests.servers.unseen_lab import CASES, FIXTURES, STACKS, Backends, Case, Stack, log_name

__all__ = ["Outcome", "UnseenLab", "fetch", "run_case"]


class UnseenLab:
    """Stacks started lazily, one at a time: asking for another stops the one before
    (the cases come stack by stack, and 2 cores do not run them all at once)."""

    def __init__(self) -> None:
        self.backends: Backends | None = None
        self.stacks: dict[str, Stack] = {}

    def stack(self, key: str) -> Stack:
        if key not in self.stacks:
            for other in self.stacks.values():
                other.close()
            self.stacks.clear()
            if self.backends is None:
                self.backends = Backends()
            self.stacks[key] = STACKS[key](self.backends)
        return self.stacks[key]

    def close(self) -> None:
        for stack in self.stacks.values():
            stack.close()
        self.stacks.clear()
        if self.backends is not None:
            self.backends.close()
            self.backends = None


@dataclass
class Outcome:
    """What each log got while the case ran, and what the action returned."""

    logs: dict[str, str]
    result: Any


def fetch(stack: Stack, path: str, timeout: float = 15.0) -> tuple[bytes, float]:
    """One GET through the stack's front (TLS for nghttpx); raw reply and seconds."""
    front = stack.front
    if not isinstance(front, NghttpxProxy):
        return raw_get(front.host, front.port, path, timeout=timeout)
    ctx = ssl.create_default_context(cafile=str(front.ca_file))
    ctx.set_alpn_protocols(["http/1.1"])
    request = f"GET {path} HTTP/1.1\r\nHost: {front.host}:{front.port}\r\n\r\n".encode()
    data = b""
    start = time.monotonic()
    with (
        socket.create_connection((front.host, front.port), timeout=timeout) as raw,
        ctx.wrap_socket(raw, server_hostname=front.host) as sock,
    ):
        sock.sendall(request)
        while not _message_complete(data):
            try:
                chunk = sock.recv(65536)
            except (OSError, TimeoutError):
                break
            if not chunk:
                break
            data += chunk
    return data, time.monotonic() - start


def _hold(stack: Stack, case: Case) -> None:
    """Start the case's holders (daemon threads) and give them time to get a worker."""
    if not case.hold:
        return
    for _ in range(case.holders):
        threading.Thread(
            target=lambda: _quietly(fetch, stack, case.hold, 40.0), daemon=True
        ).start()
        time.sleep(0.15)
    time.sleep(0.5)


def _quietly(func: Callable[..., Any], *args: Any) -> None:
    with contextlib.suppress(Exception):
        func(*args)


def _drain(stack: Stack, deadline: float = 15.0) -> None:
    """For a front whose log is written late (Traffic Server's buffered error.log), wait
    until everything the previous case made it write is in: make it log one line of its
    own (a request to a refused route, with a unique path) and wait for that line, which
    it writes after the earlier ones."""
    route = stack.front.marker_route
    if not route:
        return
    token = f"/{route}/drain-{uuid.uuid4().hex}"
    _quietly(fetch, stack, token, 10.0)
    end = time.monotonic() + deadline
    while time.monotonic() < end and token not in stack.logs().get(_front_key(stack), ""):
        time.sleep(0.1)


def _front_key(stack: Stack) -> str:
    return next(iter(stack.log_files()))


def run_case(
    lab: UnseenLab, case: Case, action: Callable[[Stack], Any], settle: float = 8.0
) -> Outcome:
    """Run ``action(stack)`` for ``case``; wait (bounded) for the logs it should write.

    Only what the logs got after the case began is the case's: a front with a late log
    is drained first (``_drain``), so the previous case's lines never land in this one."""
    stack = lab.stack(case.stack)
    _drain(stack)
    before = {name: len(text) for name, text in stack.logs().items()}
    _hold(stack, case)
    result = action(stack)
    expected = {name for name, cause in case.logs.items() if cause is not None}
    deadline = time.monotonic() + settle
    last, quiet_since = stack.logs(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        logs = stack.logs()
        if logs != last:
            last, quiet_since = logs, time.monotonic()
        grown = {log_name(k) for k, v in logs.items() if len(v) > before.get(k, 0)}
        if expected <= grown and time.monotonic() - quiet_since > 1.2 + stack.front.log_delay:
            break  # what it should write is there, and nothing more came for a while
    new: dict[str, str] = {}
    for key, text in stack.logs().items():
        new[log_name(key)] = new.get(log_name(key), "") + text[before.get(key, 0) :]
    return Outcome(new, result)


def capture(keys: list[str], write: bool = False) -> str:  # pragma: no cover - a tool
    out: list[str] = []
    lab = UnseenLab()
    try:
        for case in [c for c in CASES if not keys or c.stack in keys]:
            # the query string lets the fixture tests prove no client input is quoted
            path = f"{case.path}?session=lab-secret"
            outcome = run_case(lab, case, lambda s, p=path: fetch(s, p))
            data, secs = outcome.result
            out.append(f"### {case.id} ({case.path})\n\n```\n{_describe(data, secs, '')}")
            for name, text in outcome.logs.items():
                out.append(f"{name} log:")
                out += ["    " + line for line in text.splitlines()] or ["    (nothing)"]
            out.append("```\n")
            if write:
                for name in case.logs:
                    if outcome.logs.get(name, "").strip():
                        folder = FIXTURES / name
                        folder.mkdir(parents=True, exist_ok=True)
                        (folder / f"{case.name}.log").write_text(outcome.logs[name])
    finally:
        lab.close()
    return "\n".join(out)


def score(keys: list[str]) -> str:  # pragma: no cover - a tool
    """Every case through `check` and its logs through `explain`: a table and the totals."""
    import json

    from checks.explain import explain
    from tests.conftest import check_json

    rows, cause_ok, product_ok, failures, logs_ok, logs_total = [], 0, 0, 0, 0, 0
    exact, listed = 0, 0
    lab = UnseenLab()
    try:
        for case in [c for c in CASES if not keys or c.stack in keys]:
            outcome = run_case(
                lab,
                case,
                lambda s, c=case: check_json(s.url(c.path), "--timeout", "20", *s.check_flags()),
            )
            data = outcome.result.json
            product, cause = data["gateway"]["product"], data["verdict"]["cause"]
            if case.cause != "healthy":
                failures += 1
                cause_ok += cause in (case.cause, *case.also)
                exact += cause == case.cause
                listed += case.cause in [c["code"] for c in data["causes"]]
                product_ok += product == case.product
            seen = []
            for log, want in case.logs.items():
                found = explain(outcome.logs.get(log, "") or " ").findings
                got = (found[0].product, found[0].cause) if found else None
                if want is not None:
                    logs_total += 1
                    logs_ok += got == (log, want)
                seen.append(f"{log}: {got} want {want}")
            rows.append(
                f"{case.id}: check {product}/{cause} want {case.product}/{case.cause} "
                f"{data['http']['samples']} | " + "; ".join(seen)
            )
    finally:
        lab.close()
    totals = {
        "check_cause": f"{cause_ok}/{failures}",
        "check_cause_exactly_first": f"{exact}/{failures}",
        "check_truth_listed": f"{listed}/{failures}",
        "check_product": f"{product_ok}/{failures}",
        "explain_logs": f"{logs_ok}/{logs_total}",
    }
    return "\n".join([*rows, json.dumps(totals)])


if __name__ == "__main__":  # pragma: no cover
    args = sys.argv[1:]
    keys = [a for a in args if not a.startswith("--")]
    if "--score" in args:
        print(score(keys))
    else:
        print(capture(keys, write="--write" in args))
