"""Jobs live in the database: on PostgreSQL, one replica asks, an agent polls another,
answers there, and the first reads the answer. Replays are refused by every replica."""

from __future__ import annotations

import asyncio
import json
import time

import httpx

from bot.agents import keys, protocol
from bot.agents.hub import Hub
from bot.agents.settings import from_environment
from bot.agents.store import AgentStore
from bot.migrations import open_migrated
from tests.servers.agents import AgentProcess, keypair
from tests.servers.misbehave import Behaviour, serve
from tests.servers.postgres import PostgresServer
from tests.servers.proxies import free_port


async def test_any_replica_answers_any_agent(tmp_path):
    bot_key, bot_public = keypair(tmp_path, "bot")
    west_key, west_public = keypair(tmp_path, "west")
    settings = from_environment(
        {"GATEWAY_AGENTS": f"west={west_public}", "GATEWAY_AGENT_KEY": bot_key}
    )
    with PostgresServer() as pg, serve(Behaviour.OK) as site:
        stores = [await open_migrated(pg.url), await open_migrated(pg.url)]
        asking, polled = (Hub(settings, AgentStore(s.engine)) for s in stores)
        port = free_port()
        runner = await polled.serve("127.0.0.1", port)  # the agent knows only this replica
        agent = AgentProcess(
            f"http://127.0.0.1:{port}", bot_public, "west", west_key, "--allow-private",
            log_dir=tmp_path,
        )  # fmt: skip
        try:
            for _ in range(100):
                if await asking.contacts():
                    break
                await asyncio.sleep(0.1)
            places = await asking.ask(["west"], site.url(), 3.0, 1)
            body = json.dumps({"wait": 0}).encode()
            headers = protocol.sign_request(
                keys.load_private(west_key), "west", "POST", "/agent/v1/poll", body, time.time()
            )
            other = await asking.serve("127.0.0.1", free_port())
            async with httpx.AsyncClient() as client:
                first = await client.post(
                    f"http://127.0.0.1:{port}/agent/v1/poll", content=body, headers=headers
                )
                replay_url = f"http://127.0.0.1:{other.addresses[0][1]}/agent/v1/poll"
                replayed = await client.post(replay_url, content=body, headers=headers)
            await other.cleanup()
        finally:
            agent.close()
            await polled.stop()
            await asking.stop()
            await runner.cleanup()
            for store in stores:
                await store.close()
    assert places[0].status == "healthy" and places[0].name == "west"
    assert first.status_code == 200
    assert replayed.status_code == 401 and replayed.json()["error"] == "replayed"
