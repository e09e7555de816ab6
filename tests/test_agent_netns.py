"""Agents in network namespaces of their own, one with its route to the site dropped.

The test makes two namespaces joined to this one by veth pairs, two addresses on this
namespace's loopback (the site's and the hub's), and runs a real `gateway agent run`
inside each namespace. `west` gets an `unreachable` route to the site's address: the
same check fails from there alone. Everything is removed at the end; no packet leaves
the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT
from tests.servers.agents import AgentLab
from tests.servers.proxies import free_port
from tests.slack.stand_in import SlackStandIn
from tests.test_agents import _ask

PAGE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def places() -> Iterator[dict[str, str]]:
    """Two namespaces (east, west); the site's and the hub's addresses on this loopback."""
    if shutil.which("ip") is None:
        pytest.skip("needs `ip` from iproute2")
    block = random.randint(1, 200)
    site, hub = f"10.211.{block}.250", f"10.211.{block}.251"
    tag = f"{block:03d}{random.randint(0, 9999):04d}"
    made: list[str] = []
    try:
        try:
            for address in (site, hub):
                _ip("addr", "add", f"{address}/32", "dev", "lo")
        except subprocess.CalledProcessError as exc:
            pytest.skip(f"cannot add an address here: {exc.stderr.decode().strip()}")
        for number, name in enumerate(("east", "west")):
            ns, outside, inside = f"gwa{tag}{name[0]}", f"gv{tag}{name[0]}0", f"gv{tag}{name[0]}1"
            try:
                _ip("netns", "add", ns)
            except subprocess.CalledProcessError as exc:
                pytest.skip(f"cannot create a network namespace here: {exc.stderr.decode()}")
            made.append(ns)
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", ns)
            _ip("addr", "add", f"10.211.{block}.{4 * number + 1}/30", "dev", outside)
            _ip("link", "set", outside, "up")
            _ip("-n", ns, "addr", "add", f"10.211.{block}.{4 * number + 2}/30", "dev", inside)
            _ip("-n", ns, "link", "set", inside, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "route", "add", "default", "via", f"10.211.{block}.{4 * number + 1}")
        _ip("-n", made[1], "route", "add", "unreachable", f"{site}/32")  # west: no way there
        yield {"site": site, "hub": hub, "east": made[0], "west": made[1]}
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        for address in (site, hub):
            subprocess.run(["ip", "addr", "del", f"{address}/32", "dev", "lo"], capture_output=True)


@contextlib.asynccontextmanager
async def _site(host: str, port: int):
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(PAGE)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, host, port)
    try:
        yield
    finally:
        server.close()


@pytest.mark.netns
async def test_failing_from_the_namespace_whose_route_is_dropped(places, tmp_path):
    port, hub_port = free_port(), free_port()
    with SlackStandIn() as slack:
        lab = await AgentLab(slack, tmp_path, ("east", "west")).start()
        outside = await lab.hub.serve(places["hub"], hub_port)
        url = f"http://{places['hub']}:{hub_port}"
        agents = []
        try:
            async with _site(places["site"], port):
                for name in ("east", "west"):
                    process = subprocess.Popen(  # noqa: ASYNC220 (started once, before the check)
                        ["ip", "netns", "exec", places[name], sys.executable, "-m", "bot.cli",
                         "agent", "run", "--bot", url, "--bot-key", lab.bot_public,
                         "--name", name, "--key", lab.keys[name][0], "--allow-private"],
                        cwd=ROOT,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )  # fmt: skip
                    agents.append(process)
                await lab.until_polled("east", "west")
                text = await _ask(lab, f"check http://{places['site']}:{port}/ from all")
        finally:
            for process in agents:
                process.terminate()
                process.wait(10)
            await lab.hub.stop()
            await outside.cleanup()
            await lab.stop()
    assert "failing from west, fine from here, east" in text
    assert "tcp_unreachable" in text
