"""Agents as real processes on loopback, and the bot's side (hub, watches, Slack stand-in).

`AgentProcess` runs `gateway agent run` in a child process (its log in a file);
`AgentLab` is the bot: watches on a SQLite file, the Gateway, the real wiring of
`bot.app.start_agents`, and the hub serving /agent/v1/… on a free loopback port.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from bot.agents import keys
from bot.app import start_agents
from tests.conftest import ROOT
from tests.servers.proxies import free_port
from tests.test_watch import Watcher


def keypair(directory: Path, name: str) -> tuple[str, str]:
    """(key file, public key) made as `gateway agent keygen` makes them."""
    path = directory / f"{name}.key"
    return str(path), keys.generate(path)


class AgentProcess:
    def __init__(
        self,
        bot_url: str,
        bot_public: str,
        name: str,
        key_path: str,
        *flags: str,
        place: str | None = None,
        log_dir: Path,
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"agent-{name}-{time.monotonic_ns()}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        if place:
            env["GATEWAY_AGENT_PLACE"] = place
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bot.cli",
                "agent",
                "run",
                "--bot",
                bot_url,
                "--bot-key",
                bot_public,
                "--name",
                name,
                "--key",
                key_path,
                *flags,
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


class AgentLab(Watcher):
    """The bot with agents enrolled: GATEWAY_AGENTS and GATEWAY_AGENT_KEY as an operator sets."""

    def __init__(self, slack, tmp_path: Path, names: tuple[str, ...], **env: str) -> None:
        self.dir = tmp_path
        self.bot_key, self.bot_public = keypair(tmp_path, "bot")
        self.keys = {name: keypair(tmp_path, name) for name in names}
        enrolled = ",".join(f"{name}={public}" for name, (_, public) in self.keys.items())
        env = {"GATEWAY_AGENTS": enrolled, "GATEWAY_AGENT_KEY": self.bot_key, **env}
        super().__init__(slack, tmp_path, **env)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.agents: list[AgentProcess] = []

    async def start(self) -> AgentLab:
        await super().start()
        self.hub = start_agents(self.settings, self.gateway, self.service)
        assert self.hub is not None
        self.runner = await self.hub.serve("127.0.0.1", self.port)
        return self

    async def stop(self) -> None:
        for agent in self.agents:
            agent.close()
        await self.hub.stop()
        await self.runner.cleanup()
        await super().stop()

    def agent(self, name: str, *flags: str, key: str | None = None, **kw) -> AgentProcess:
        key_path = key or self.keys[name][0]
        process = AgentProcess(
            self.url, self.bot_public, name, key_path, *flags, log_dir=self.dir, **kw
        )
        self.agents.append(process)
        return process

    async def until_polled(self, *names: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = {c.agent for c in await self.hub.contacts()}
            if set(names) <= seen:
                return
            await asyncio.sleep(0.1)
        logs = "\n".join(a.log()[-800:] for a in self.agents)
        raise AssertionError(f"agents {names} never polled:\n{logs}")

    def ephemerals(self) -> list[str]:
        return [
            c.args.get("text", "") + str(c.args.get("blocks"))
            for c in self.slack.calls_to("chat.postEphemeral")
        ]
