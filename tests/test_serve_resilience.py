"""`gateway serve` as an operator runs it: bad settings, bad rows, and kill -9 at bad moments.

Each test runs the real `gateway serve` in a child process against the Slack stand-in,
with its database on a real SQLite file (or a real PostgreSQL), and looks at what the
operator sees on stderr and what the channel sees in Slack.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bot.migrations import open_migrated
from tests.conftest import ROOT
from tests.servers.misbehave import Behaviour, closed_port, serve
from tests.servers.postgres import PostgresServer
from tests.servers.proxies import free_port
from tests.slack.signing import SIGNING_SECRET, signed_headers, slash_command_body
from tests.slack.stand_in import SlackStandIn
from tests.specs import stored_spec
from tests.test_run_modes import clean_env


def serve_env(slack: SlackStandIn, port: int, database_url: str, **extra: str) -> dict[str, str]:
    return clean_env(
        PYTHONPATH=str(ROOT),
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        PORT=str(port),
        GATEWAY_DATABASE_URL=database_url,
        GATEWAY_ALLOW_PRIVATE="1",
        GATEWAY_MIN_INTERVAL="0.2",
        GATEWAY_TIMEOUT="2",
        **extra,
    )


def run_serve(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=env,
    )


class Serving:
    """A `gateway serve` child process; its stderr (the log) goes to a file."""

    def __init__(self, cwd: Path, env: dict[str, str], name: str = "serve") -> None:
        self.log_path = cwd / f"{name}.log"
        self.env = env
        self.url = f"http://127.0.0.1:{env['PORT']}/slack/events"
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "serve"],
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def log(self) -> str:
        return self.log_path.read_text()

    def command(self, text: str, slack: SlackStandIn, within: float = 30.0) -> httpx.Response:
        """POST `/gateway TEXT` signed, as soon as the bot accepts connections."""
        body = slash_command_body(
            text, channel_id="C1", response_url=slack.response_url("cmd", channel="C1")
        )
        deadline = time.monotonic() + within
        while True:
            assert self.proc.poll() is None, self.log()
            try:
                return httpx.post(self.url, content=body, headers=signed_headers(body), timeout=5)
            except httpx.TransportError:
                assert time.monotonic() < deadline, "gateway serve did not start: " + self.log()
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


# --- unusable settings: one line, never a traceback -------------------------------------------


def _not_sqlite(tmp: Path) -> str:
    path = tmp / "notes.sqlite3"
    path.write_text("These are my notes, not a database. " * 40)
    return f"sqlite:///{path}"


def _another_schema(tmp: Path) -> str:
    path = tmp / "other.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE watches (id INTEGER PRIMARY KEY, owner TEXT, wristband TEXT)")
        db.execute("INSERT INTO watches (owner, wristband) VALUES ('ann', 'leather')")
    return f"sqlite:///{path}"


BAD_DATABASES = [
    ("a missing folder", lambda t: f"sqlite:///{t}/missing/gateway.sqlite3", "does not exist"),
    ("an unwritable path", lambda t: "sqlite:////proc/gateway.sqlite3", "cannot create or open"),
    ("a directory", lambda t: f"sqlite:///{t}", "a folder, not a file"),
    ("a file that is not SQLite", _not_sqlite, "not a SQLite database"),
    ("a SQLite file of another program", _another_schema, "tables of another program"),
    ("an unknown driver", lambda t: "nosuch://db.example/gateway", "not a database I can use"),
    ("a driver not installed", lambda t: "mysql://u:p@127.0.0.1/gateway", "not installed"),
    ("no URL at all", lambda t: "gateway.sqlite3", "not a database I can use"),
    (
        "a PostgreSQL that refuses connections",
        lambda t: f"postgresql://gateway:s3cret@127.0.0.1:{closed_port()}/gateway",
        "nothing accepts connections",
    ),
    ("SQLite in memory", lambda t: "sqlite://", "keeps the watches in memory"),
    ("SQLite in memory, spelled out", lambda t: "sqlite:///:memory:", "in memory"),
]


@pytest.mark.parametrize(
    ("make_url", "says"),
    [(make, says) for _, make, says in BAD_DATABASES],
    ids=[name for name, _, _ in BAD_DATABASES],
)
def test_an_unusable_database_url_is_one_line_naming_the_setting(slack, tmp_path, make_url, says):
    work = tmp_path / "work"
    work.mkdir()
    proc = run_serve(work, serve_env(slack, free_port(), make_url(tmp_path)))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("gateway: GATEWAY_DATABASE_URL=") and says in lines[0], lines[0]
    assert "s3cret" not in proc.stderr  # never a password


def test_a_postgresql_without_that_database_is_one_line(slack, tmp_path):
    with PostgresServer() as pg:
        url = pg.url.rsplit("/", 1)[0] + "/no_such_database"
        proc = run_serve(tmp_path, serve_env(slack, free_port(), url))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "GATEWAY_DATABASE_URL" in lines[0] and "does not exist" in lines[0]


def test_a_port_already_in_use_is_one_line_naming_port(slack, tmp_path):
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_serve(tmp_path, serve_env(slack, port, f"sqlite:///{tmp_path}/g.sqlite3"))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0] == (
        f"gateway: PORT={port} is already in use by another program; "
        "stop it or set PORT to a free port"
    )


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("SLACK_API_URL", "not-a-url", "SLACK_API_URL must be an http(s) URL"),
        ("SLACK_API_URL", "ftp://slack.example/api/", "SLACK_API_URL must be an http(s) URL"),
        ("GATEWAY_CA_BUNDLE", "/nonexistent/ca.pem", "GATEWAY_CA_BUNDLE=/nonexistent/ca.pem"),
        ("GATEWAY_TEAM_MAX_WATCHES", "lots", "GATEWAY_TEAM_MAX_WATCHES must be a number"),
    ],
)
def test_other_unusable_settings_are_one_line_naming_them(slack, tmp_path, setting, value, says):
    env = serve_env(slack, free_port(), f"sqlite:///{tmp_path}/g.sqlite3") | {setting: value}
    proc = run_serve(tmp_path, env)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("gateway: ") and says in lines[0], lines[0]


def test_an_in_memory_database_serves_when_explicitly_allowed(slack, tmp_path):
    env = serve_env(slack, free_port(), "sqlite://", GATEWAY_ALLOW_MEMORY_DATABASE="1")
    bot = Serving(tmp_path, env)
    try:
        assert "/gateway watch" in bot.command("help", slack).text
    finally:
        bot.stop()


# --- a bad row never stops the bot -------------------------------------------------------------


async def _store_watches(url: str, rows: list[tuple[str, float]]) -> None:
    store = await open_migrated(url)
    try:
        for target, interval in rows:
            await store.upsert_watch(
                team="T1",
                channel="C1",
                spec=stored_spec(target, target, interval, 2),
                created_by="U1",
                now=datetime.now(UTC),
            )
    finally:
        await store.close()


def test_a_watch_stored_with_an_impossible_interval_is_skipped_and_said_once(slack, tmp_path):
    url = f"sqlite:///{tmp_path}/gateway.sqlite3"
    with serve(Behaviour.OK) as site:
        bad, good = f"http://127.0.0.1:{closed_port()}/", site.url()
        unreadable = f"http://127.0.0.1:{closed_port()}/edited"
        # What `every 99999999999h` stored before the bound: serve died at every start.
        rows = [(bad, 99999999999 * 3600.0), (good, 0.3), (unreadable, 60.0)]
        asyncio.run(_store_watches(url, rows))
        with sqlite3.connect(tmp_path / "gateway.sqlite3") as db:  # edited by hand, badly
            db.execute(
                "UPDATE watches SET created_at = 'last tuesday' WHERE url = ?", (unreadable,)
            )
        env = serve_env(slack, free_port(), url)
        logs = []
        for run in range(2):
            bot = Serving(tmp_path, env, name=f"serve{run}")
            try:
                listing = bot.command("watches", slack)
                assert listing.status_code == 200
                assert slack.wait_for(
                    lambda s: any(good in e["text"] for e in s.ephemerals()), 15
                ), bot.log()
                assert slack.wait_for(
                    lambda s: any(
                        "not running the watch" in m["text"] for m in s.messages().values()
                    ),
                    15,
                )
                time.sleep(1.0)  # the good watch is checked meanwhile
            finally:
                bot.stop()
            logs.append(bot.log())
    told = [m for m in slack.messages().values() if "not running the watch" in m["text"]]
    assert len(told) == 2, "each said once in the channel, not at every start"
    assert all(m["channel"] == "C1" for m in told)
    interval = next(m["text"] for m in told if bad in m["text"])
    edited = next(m["text"] for m in told if unreadable in m["text"])
    assert "24 h" in interval and "every 5m` sets it right" in interval
    assert "cannot be read" in edited and "unwatch" in edited
    for log in logs:
        assert "Traceback" not in log
        assert len([line for line in log.splitlines() if "skipping watch" in line]) == 2
    listing = next(e["text"] for e in slack.ephemerals() if good in e["text"])
    assert "not running" in listing and "healthy" in listing


# --- kill -9 loses nothing and repeats nothing -------------------------------------------------


def test_a_watch_acknowledged_is_stored_even_if_the_bot_is_killed_right_after(slack, tmp_path):
    db = tmp_path / "gateway.sqlite3"
    env = serve_env(slack, free_port(), f"sqlite:///{db}")
    bot = Serving(tmp_path, env)
    try:
        assert bot.command("help", slack).status_code == 200  # up and answering
        target = f"http://127.0.0.1:{closed_port()}/"
        body = slash_command_body(
            f"watch {target} every 1h",
            channel_id="C1",
            response_url=slack.response_url("w", channel="C1"),
        )
        answer = httpx.post(bot.url, content=body, headers=signed_headers(body), timeout=5)
        bot.kill()  # the instant Slack has its ack
    finally:
        bot.stop()
    assert answer.status_code == 200 and answer.text == ""
    with sqlite3.connect(db) as stored:
        urls = [row[0] for row in stored.execute("SELECT url FROM watches")]
    assert urls == [target]


def _alerts(slack: SlackStandIn) -> list[dict]:
    """The alerts in the channel, whatever their state (down, recovering, resolved)."""
    return [
        m
        for m in slack.messages().values()
        if not m["thread_ts"] and ("is down" in m["text"] or "down since" in m["text"])
    ]


@pytest.mark.parametrize("history", [True, False], ids=["history readable", "no history scope"])
def test_killed_while_slack_answers_the_alert_post_the_restart_posts_no_second_alert(
    slack, tmp_path, history
):
    if not history:
        slack.scopes -= {"channels:history", "groups:history"}
    db = tmp_path / "gateway.sqlite3"
    env = serve_env(slack, free_port(), f"sqlite:///{db}")
    with serve(Behaviour.STATUS, status=502) as site:
        first = Serving(tmp_path, env, name="first")
        try:
            assert first.command("help", slack).status_code == 200
            first.command(f"watch {site.url()} every 0.3s", slack)
            assert slack.wait_for(lambda s: "is now watching" in str(s.messages()), 15)
            slack.answer_late_next("chat.postMessage", 60)  # the alert: posted, never answered
            assert slack.wait_for(lambda s: _alerts(s), 20), first.log()
            first.kill()  # while Slack is still answering the alert's post
        finally:
            first.stop()
        assert len(_alerts(slack)) == 1
        second = Serving(tmp_path, env, name="second")
        try:
            assert second.command("help", slack).status_code == 200
            time.sleep(3.0)  # many failed checks after the restart
            assert len(_alerts(slack)) == (1 if history else 2), second.log()
            site.switch(Behaviour.OK)
            assert slack.wait_for(
                lambda s: any("resolved" in str(m["blocks"]) for m in _alerts(s)), 20
            ), second.log()
        finally:
            second.stop()
    alerts = _alerts(slack)
    if history:
        assert "resolved" in str(alerts[0]["blocks"]), (
            "the first alert is closed, not down for ever"
        )
    else:
        later = alerts[-1]
        assert "resolved" in str(later["blocks"])
        assert any("may also appear just above" in r["text"] for r in slack.thread(later["ts"]))
    assert "Traceback" not in second.log()
