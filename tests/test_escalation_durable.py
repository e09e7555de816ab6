"""Escalations as a crash meets them: an incident's dedup key is never reused (SQLite
reuses a deleted row's id), and a page decided before a kill -9 is sent by whoever
leads next (the outbox)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bot.alerting.pagerduty import dedup_key
from bot.migrations import open_migrated
from bot.spec import WatchSpec
from bot.watch.incidents import Incidents
from bot.watch.model import watch_info
from bot.watch.records import NewIncident
from checks.target import parse_target
from tests.servers.misbehave import Behaviour, serve
from tests.servers.proxies import free_port
from tests.slack.stand_in import SlackStandIn
from tests.test_serve_resilience import Serving, serve_env

NOW = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)


async def test_an_incident_after_a_deleted_watch_gets_a_dedup_key_never_seen(tmp_path):
    store = await open_migrated(f"sqlite:///{tmp_path}/g.sqlite3")
    incidents = Incidents(store, chat=None, clock=lambda: NOW)  # type: ignore[arg-type]
    keys, ids = [], []
    try:
        for site in ("a.example", "b.example"):
            row, _ = await store.upsert_watch(
                team="T1",
                channel="C1",
                spec=WatchSpec(parse_target(site), interval=60, after=2),
                created_by="U1",
                now=NOW,
            )
            incident = await store.create_incident(
                NewIncident(
                    watch_id=row.id,
                    channel="C1",
                    failing_since=NOW,
                    diagnosis_key="502|x|nginx",
                    last_summary="nginx answered 502",
                )
            )
            ids.append(incident.id)
            keys.append(dedup_key(incidents.view(watch_info(row), incident, None)))
            await store.delete_watch(row.id)
    finally:
        await store.close()
    assert ids[0] == ids[1], "SQLite handed the deleted incident's id on (the trap)"
    assert keys[0] != keys[1], "the new outage would fold into the stale PagerDuty incident"


class PagerDuty(ThreadingHTTPServer):
    """Events API v2 on loopback, in a thread of its own: 500 while `down`, else 202."""

    def __init__(self) -> None:
        self.down = True
        self.received: list[dict] = []
        self.tries = 0
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: PagerDuty

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.tries += 1
        if self.server.down:
            self.send_response(500)
            self.end_headers()
            return
        self.server.received.append(json.loads(body))
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "success"}')

    def log_message(self, *args) -> None:
        pass


def _wait(condition, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_a_page_decided_before_a_kill_9_is_sent_by_the_next_start(tmp_path):
    pagerduty = PagerDuty()
    db = tmp_path / "gateway.sqlite3"
    with SlackStandIn() as slack, serve(Behaviour.STATUS, status=502) as site:
        env = serve_env(
            slack,
            free_port(),
            f"sqlite:///{db}",
            GATEWAY_REMIND_EVERY="0",
            GATEWAY_ESCALATE_AFTER="1s",
            GATEWAY_PAGERDUTY_ROUTING_KEY="R0UTINGKEY",
            GATEWAY_PAGERDUTY_URL=pagerduty.url,
            GATEWAY_RETRY_BACKOFF="30s",  # the first try fails; the second is far away
        )
        first = Serving(tmp_path, env, name="first")
        try:
            first.command(f"watch {site.url()} every 0.3s", slack)
            assert _wait(lambda: pagerduty.tries >= 1, 30), first.log()
            first.kill()  # PagerDuty never got the page
        finally:
            first.stop()
        with sqlite3.connect(db) as stored:
            escalated = stored.execute("SELECT escalated_at FROM incidents").fetchall()
        assert escalated and escalated[0][0], "the thread says it escalated"
        assert pagerduty.received == []
        pagerduty.down = False
        second = Serving(tmp_path, env, name="second")
        try:
            second.command("help", slack)
            assert _wait(lambda: pagerduty.received, 30), second.log()
        finally:
            second.stop()
    pagerduty.shutdown()
    trigger = pagerduty.received[0]
    assert trigger["event_action"] == "trigger" and trigger["dedup_key"].startswith("gateway-")
    with sqlite3.connect(db) as stored:
        assert stored.execute("SELECT count(*) FROM escalation_outbox").fetchone() == (0,)
    assert "Traceback" not in second.log()
