"""No route to the host: only a network namespace can show it honestly.

The test makes its own namespace with an `unreachable` route for a loopback
block, runs the real `gateway` command inside it, and removes it. No packet
leaves the namespace.
"""

import json
import shutil
import subprocess
import sys
import uuid

import pytest

from tests.conftest import ROOT


@pytest.fixture
def namespace():
    if shutil.which("ip") is None:
        pytest.skip("needs `ip` from iproute2")
    name = f"gwtest-{uuid.uuid4().hex[:8]}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {made.stderr.strip()}")
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        subprocess.run(
            ["ip", "-n", name, "route", "add", "unreachable", "127.77.0.0/16", "table", "local"],
            check=True,
        )
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def check_inside(namespace: str, target: str) -> tuple[int, dict]:
    """`gateway check TARGET --json` run inside the namespace: (exit status, JSON)."""
    proc = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            namespace,
            sys.executable,
            "-m",
            "bot.cli",
            "check",
            target,
            "--json",
            "--allow-private",
            "--timeout",
            "3",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
    )
    return proc.returncode, json.loads(proc.stdout)


@pytest.mark.netns
def test_no_route_to_the_host(namespace):
    code, result = check_inside(namespace, "http://127.77.0.1/")
    assert code == 1
    assert result["verdict"]["cause"] == "tcp_unreachable"
    assert result["tcp"][0]["error"] == "unreachable"


@pytest.mark.netns
def test_no_route_at_all_to_an_ipv6_network(namespace):
    _code, result = check_inside(namespace, "http://[2001:db8::7]/")
    assert result["verdict"]["cause"] == "tcp_unreachable"
    assert result["tcp"][0]["error"] == "no_route"
    assert "this machine has no route" in result["tcp"][0]["detail"]
