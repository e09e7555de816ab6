"""Shared fixtures: the CLI as a user runs it, Slack's stand-in, a DNS server and a PKI on
loopback."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cli import main
from tests.harness import Watcher
from tests.servers.dns_server import DnsServer
from tests.servers.tls import Pki
from tests.slack.stand_in import SlackStandIn

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict:
        return json.loads(self.stdout)

    @property
    def cause(self) -> str:
        return self.json["verdict"]["cause"]

    @property
    def codes(self) -> list[str]:
        return [c["code"] for c in self.json["causes"]]


def run_cli(*args: str, env: dict[str, str] | None = None) -> CliResult:
    """Run `gateway ARGS` in this process, as the console script would, and capture it."""
    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update({k: v for k, v in saved.items() if not k.startswith("GATEWAY_")})
        os.environ.update(env or {})
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return CliResult(code, out.getvalue(), err.getvalue())


def run_gateway_process(*args: str, timeout: float = 60, **kwargs) -> CliResult:
    """Run the real `gateway` entry point in a child process."""
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        **kwargs,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def check_json(target: str, *flags: str) -> CliResult:
    """`gateway check TARGET --json --allow-private FLAGS`, the form most tests use."""
    return run_cli("check", target, "--json", "--allow-private", *flags)


@pytest.fixture
def slack():
    """Slack's Web API stand-in (tests/slack/stand_in.py), fresh for each test."""
    with SlackStandIn() as stand_in:
        yield stand_in


@pytest.fixture
async def watcher(slack, tmp_path):
    """A started watch service and Gateway on a SQLite file (tests/harness.py `Watcher`),
    stopped after the test; a test that needs other settings makes its own Watcher."""
    async with Watcher(slack, tmp_path) as bot:
        yield bot


@pytest.fixture
def dns_server():
    with DnsServer() as server:
        yield server


@pytest.fixture(scope="session")
def pki() -> Pki:
    return Pki()


@pytest.fixture(scope="session")
def ca_bundle(pki: Pki, tmp_path_factory) -> str:
    return pki.ca_pem_path(tmp_path_factory.mktemp("ca"))
