"""Several real `gateway serve` processes on one real PostgreSQL behave as one bot.

Each replica is the console entry point in a child process, in HTTP mode, its Web API
pointed at the Slack stand-in; the site is a loopback server the test breaks and heals.
The replica checking the watch (holding its shard) is killed with SIGKILL mid-incident
and mid-recovery; the test then counts, in the checks table and in what the stand-in was
asked to post, that every watch went on being checked, never twice in one interval, and
that each alert and each recovery was posted once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from bot.watch.fleet import SHARD_LOCKS
from tests.conftest import ROOT
from tests.servers.misbehave import Behaviour, serve
from tests.servers.postgres import PostgresServer
from tests.servers.proxies import free_port
from tests.slack.signing import (
    SIGNING_SECRET,
    block_actions_body,
    signed_headers,
    slash_command_body,
)
from tests.slack.stand_in import SlackStandIn
from tests.test_run_modes import clean_env

pytestmark = pytest.mark.timeout(180)

INTERVAL = 2.0  # seconds between a watch's checks (GATEWAY_MIN_INTERVAL allows it)
NGINX_502 = dict(status=502, headers=(("Server", "nginx/1.22.1"),), body="bad gateway")
_databases = itertools.count(1)


@pytest.fixture(scope="module")
def postgres():
    with PostgresServer() as server:
        yield server


@pytest.fixture
def database_url(postgres: PostgresServer) -> str:
    return postgres.create_database(f"fleet_{next(_databases)}")


class Replica:
    """One `gateway serve` child process; its log (JSON lines) in a file."""

    def __init__(self, name: str, tmp_path: Path, slack: SlackStandIn, database_url: str, **env):
        self.name = name
        self.port = free_port()  # PORT in HTTP mode, METRICS_PORT in Socket Mode
        if "SLACK_APP_TOKEN" in env:
            env["METRICS_PORT"] = str(self.port)
        self.log_path = tmp_path / f"{name}.log"
        environment = clean_env(
            PYTHONPATH=str(ROOT),
            SLACK_BOT_TOKEN="xoxb-fleet-test",
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            PORT=str(self.port),
            SLACK_API_URL=slack.api_url,
            GATEWAY_ALLOW_PRIVATE="1",
            GATEWAY_MIN_INTERVAL="1",
            GATEWAY_TIMEOUT="2",
            GATEWAY_DATABASE_URL=database_url,
            GATEWAY_LOG_FORMAT="json",
            **env,
        )
        self._log = open(self.log_path, "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve"],
            cwd=tmp_path,
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> httpx.Response | None:
        try:
            return httpx.get(self.url + path, timeout=5)
        except httpx.HTTPError:
            return None

    def wait_ready(self, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_path.read_text()[-3000:]
            answer = self.get("/readyz")
            if answer is not None and answer.status_code == 200:
                return
            time.sleep(0.2)
        raise AssertionError(f"{self.name} never ready:\n{self.log_path.read_text()[-3000:]}")

    @property
    def leading(self) -> bool:
        answer = self.get("/metrics")
        return answer is not None and "\ngateway_leader 1.0" in answer.text

    @property
    def checking(self) -> bool:
        answer = self.get("/metrics")
        return answer is not None and "\ngateway_watches 1.0" in answer.text

    def command(self, text: str, channel: str = "C1", slack: SlackStandIn | None = None) -> None:
        extra = {"response_url": slack.response_url(f"r{time.monotonic()}")} if slack else {}
        body = slash_command_body(text, channel_id=channel, **extra)
        answer = httpx.post(
            self.url + "/slack/events", content=body, headers=signed_headers(body), timeout=5
        )
        assert answer.status_code == 200, answer.text

    def click(self, action_id: str, value: str, message: dict, slack: SlackStandIn) -> None:
        body = block_actions_body(
            action_id,
            value,
            channel_id=message["channel"],
            message_ts=message["ts"],
            user_id="U777",
            response_url=slack.response_url(f"c{time.monotonic()}", channel=message["channel"]),
        )
        answer = httpx.post(
            self.url + "/slack/events", content=body, headers=signed_headers(body), timeout=5
        )
        assert answer.status_code == 200, answer.text

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()

    def log_lines(self) -> list[dict]:
        lines = []
        for line in self.log_path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                lines.append(json.loads(line))
        return lines


@contextlib.contextmanager
def fleet(count: int, tmp_path: Path, slack: SlackStandIn, database_url: str, **env):
    replicas = [Replica(f"r{n}", tmp_path, slack, database_url, **env) for n in range(count)]
    try:
        for replica in replicas:
            replica.wait_ready()
        yield replicas
    finally:
        for replica in replicas:
            replica.stop()


def leader_of(replicas: list[Replica], within: float = 20.0) -> Replica:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        leaders = [r for r in replicas if r.process.poll() is None and r.leading]
        if len(leaders) == 1:
            return leaders[0]
        assert len(leaders) < 2, "two replicas lead at once"
        time.sleep(0.2)
    raise AssertionError("no replica leads")


def holder_of(replicas: list[Replica], within: float = 20.0) -> Replica:
    """The replica checking the one watch (it holds the watch's shard)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        holders = [r for r in replicas if r.process.poll() is None and r.checking]
        if len(holders) == 1:
            return holders[0]
        assert len(holders) < 2, "two replicas check the watch"
        time.sleep(0.2)
    raise AssertionError("no replica checks the watch")


def settled(replicas: list[Replica], within: float = 20.0) -> None:
    """Wait until the replicas hold fair shares of the 64 shards (none moving)."""
    fair = 64 // len(replicas)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        shards = [_samples(r.get("/metrics").text)[("gateway_shards_owned", ())] for r in replicas]
        if sum(shards) == 64 and min(shards) >= fair and max(shards) <= fair + 1:
            return
        time.sleep(0.2)
    raise AssertionError("the shards never settled")


def check_times(database_url: str) -> list[float]:
    """When the watches were checked, oldest first (seconds since the epoch), from the
    history the fleet wrote."""

    async def query() -> list[float]:
        connection = await asyncpg.connect(database_url)
        try:
            rows = await connection.fetch("SELECT at FROM checks ORDER BY at")
        finally:
            await connection.close()
        return [row["at"].timestamp() for row in rows]

    return asyncio.run(query())


def watch_state(database_url: str) -> dict:
    async def query() -> dict:
        connection = await asyncpg.connect(database_url)
        try:
            row = await connection.fetchrow("SELECT state, failures, successes FROM watches")
        finally:
            await connection.close()
        return dict(row) if row else {}

    return asyncio.run(query())


def tops(slack: SlackStandIn) -> list[dict]:
    return [m for m in slack.messages().values() if not m["thread_ts"]]


def posts(slack: SlackStandIn) -> list[dict]:
    """Every message the bot posted (not edits), in order, whatever became of it."""
    return [c.args for c in slack.calls_to("chat.postMessage") if c.response.get("ok")]


def alerts(slack: SlackStandIn) -> list[dict]:
    """The alerts posted (each with its ts, found in the stand-in's messages)."""
    texts = [p for p in posts(slack) if not p.get("thread_ts") and " is down" in p["text"]]
    return [m for m in tops(slack) if any(m["text"] == p["text"] for p in texts)] if texts else []


def alert_posts(slack: SlackStandIn) -> int:
    return sum(1 for p in posts(slack) if not p.get("thread_ts") and " is down" in p["text"])


def recoveries(slack: SlackStandIn) -> list[dict]:
    """Recoveries posted: in the alert's thread, or on their own when a replica died
    between posting the alert and writing down its ts."""
    return [p for p in posts(slack) if "recovered after" in p["text"]]


def assert_checked_once_per_interval(times: list[float], since: float) -> None:
    """Never two checks of the watch in one interval, and never a long silence.

    Two replicas checking the same watch would make about twice the checks, some a
    moment apart. A loaded machine may start a check late (then the next on time), so
    the shortest gap allowed is a quarter of the interval, not the interval."""
    times = [t for t in times if t >= since]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps, "no checks"
    span = times[-1] - times[0]
    assert len(times) <= span / INTERVAL + 2, (len(times), span)
    assert min(gaps) > INTERVAL * 0.25, sorted(gaps)[:5]
    assert max(gaps) < 15.0, sorted(gaps)[-5:]  # a takeover within max(interval, 15 s)


def test_two_replicas_lose_the_leader_mid_incident_and_the_recovery_is_posted_once(
    tmp_path, slack, database_url
):
    with (
        serve(Behaviour.STATUS, **NGINX_502) as site,
        fleet(2, tmp_path, slack, database_url) as replicas,
    ):
        replicas[0].command(f"watch {site.url()} every 2s")
        assert slack.wait_for(lambda s: alerts(s), 30), [m["text"] for m in tops(slack)]
        alert = alerts(slack)[0]
        assert slack.wait_for(lambda s: s.thread(alert["ts"]), 10)  # its diagnosis, in the thread
        time.sleep(INTERVAL)  # a check or two into the incident
        started = time.time()
        holder = holder_of(replicas)  # the replica checking the watch
        other = next(r for r in replicas if r is not holder)
        holder.kill()
        assert holder_of(replicas) is other
        assert leader_of(replicas) is other
        time.sleep(2 * INTERVAL)
        assert alert_posts(slack) == 1, "the survivor did not alert again"
        site.switch(Behaviour.OK)
        assert slack.wait_for(lambda s: recoveries(s), 30), [
            (p.get("thread_ts"), p["text"][:80]) for p in posts(slack)
        ]
        time.sleep(2 * INTERVAL)
        assert len(recoveries(slack)) == 1
        assert recoveries(slack)[0]["thread_ts"] == alert["ts"]
        assert alert_posts(slack) == 1
        assert_checked_once_per_interval(check_times(database_url), started)


def test_three_replicas_lose_the_leader_mid_recovery_and_announce_it_once(
    tmp_path, slack, database_url
):
    with (
        serve(Behaviour.STATUS, **NGINX_502) as site,
        fleet(3, tmp_path, slack, database_url, GATEWAY_RECOVER_AFTER="4") as replicas,
    ):
        replicas[2].command(f"watch {site.url()} every 2s")
        assert slack.wait_for(lambda s: alerts(s), 30)
        alert = alerts(slack)[0]
        assert slack.wait_for(lambda s: s.thread(alert["ts"]), 10)
        site.switch(Behaviour.OK)
        deadline = time.monotonic() + 30
        while watch_state(database_url).get("successes", 0) < 1:  # recovering, not recovered
            assert time.monotonic() < deadline, watch_state(database_url)
            time.sleep(0.2)
        started = time.time()
        holder = holder_of(replicas)  # the replica checking the watch
        holder.kill()
        others = [r for r in replicas if r is not holder]
        assert holder_of(others) in others
        assert slack.wait_for(lambda s: recoveries(s), 40)
        time.sleep(2 * INTERVAL)
        assert len(recoveries(slack)) == 1
        assert recoveries(slack)[0]["thread_ts"] == alert["ts"]
        assert alert_posts(slack) == 1
        assert_checked_once_per_interval(check_times(database_url), started)


def test_a_watch_and_an_unwatch_on_any_replica_take_effect_fleet_wide_within_5_s(
    tmp_path, slack, database_url
):
    with serve(Behaviour.OK) as site, fleet(2, tmp_path, slack, database_url) as replicas:
        leader = leader_of(replicas)
        follower = next(r for r in replicas if r is not leader)
        settled(replicas)  # a shard moving at start-up would add its 2 s of grace
        asked = time.time()
        follower.command(f"watch {site.url()} every 2s")
        deadline = time.monotonic() + 5
        while not check_times(database_url):
            assert time.monotonic() < deadline, "the watch was not checked within 5 s"
            time.sleep(0.2)
        assert check_times(database_url)[0] - asked < 5
        leader.command(f"unwatch {site.url()}")  # on the other replica
        assert slack.wait_for(lambda s: any("stopped watching" in m["text"] for m in tops(s)), 5)
        time.sleep(0.5)
        requests = len(site.requests)
        time.sleep(3 * INTERVAL)
        assert len(site.requests) == requests, "still checked after the unwatch"


def test_mute_pressed_on_a_follower_silences_the_leader_within_5_s(tmp_path, slack, database_url):
    with (
        serve(Behaviour.STATUS, **NGINX_502) as site,
        fleet(2, tmp_path, slack, database_url) as replicas,
    ):
        leader = leader_of(replicas)
        follower = next(r for r in replicas if r is not leader)
        follower.command(f"watch {site.url()} every 2s")
        assert slack.wait_for(lambda s: alerts(s), 30)
        alert = alerts(slack)[0]
        value = next(
            e["value"]
            for b in alert["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == "gateway_mute"
        )
        follower.click("gateway_mute", value, alert, slack)
        assert slack.wait_for(lambda s: any("muted" in m["text"] for m in s.thread(alert["ts"])), 5)
        time.sleep(5)  # fleet-wide within 5 s
        site.switch(Behaviour.STATUS, status=504, headers=(("Server", "nginx/1.22.1"),))
        time.sleep(4 * INTERVAL)
        assert len(check_times(database_url)) >= 4  # still checked, quietly
        changed = [m for m in slack.thread(alert["ts"]) if "diagnosis changed" in m["text"]]
        assert changed == [], "the leader did not hear of the mute"


def test_a_second_serve_on_one_sqlite_file_is_refused_in_one_line(tmp_path, slack):
    first = Replica("one", tmp_path, slack, f"sqlite:///{tmp_path}/gateway.sqlite3")
    try:
        first.wait_ready()
        second = subprocess.run(
            [sys.executable, "-m", "bot.cli", "serve"],
            cwd=tmp_path,
            env=clean_env(
                PYTHONPATH=str(ROOT),
                SLACK_BOT_TOKEN="xoxb-fleet-test",
                SLACK_SIGNING_SECRET=SIGNING_SECRET,
                PORT=str(free_port()),
                SLACK_API_URL=slack.api_url,
            ),
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        first.stop()
    assert second.returncode == 2
    assert second.stderr.count("\n") == 1 and "Traceback" not in second.stderr
    assert f"another gateway (pid {first.process.pid}) already runs on" in second.stderr
    assert "gateway.sqlite3" in second.stderr


def test_the_shell_keeps_its_watches_in_a_database_of_its_own(tmp_path):
    with serve(Behaviour.OK) as site:
        done = subprocess.run(
            [sys.executable, "-m", "bot.cli", "shell"],
            input=f"/gateway watch {site.url()} every 1m\n/quit\n",
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env=clean_env(PYTHONPATH=str(ROOT), COLUMNS="200"),
        )
    assert done.returncode == 0, done.stderr
    assert "is now watching" in done.stdout
    assert not (tmp_path / "gateway.sqlite3").exists()  # where `serve` would look
    with sqlite3.connect(tmp_path / "gateway-shell.sqlite3") as db:
        assert db.execute("SELECT channel FROM watches").fetchall() == [("CSHELL",)]


def test_two_socket_mode_replicas_answer_each_command_once(tmp_path, slack, database_url):
    slack.socket_spread = True  # Slack hands each envelope to one of the app's connections
    with (
        serve(Behaviour.OK) as site,
        fleet(2, tmp_path, slack, database_url, SLACK_APP_TOKEN="xapp-1-A1-fleet") as replicas,
    ):
        assert slack.wait_for_socket(2, 20)
        sent = [slack.send_slash_command(text) for text in ["help", "watches"] * 3]
        sent.append(slack.send_slash_command(f"watch {site.url()} every 2s", channel_id="C9"))
        assert slack.wait_for(lambda s: all(e in s.acks for e in sent), 10)
        assert len({slack.envelope(e).connection for e in sent}) == 2  # both replicas served
        assert slack.socket_unmatched == []  # no envelope acked twice
        assert slack.wait_for(lambda s: len(s.calls_to("chat.postEphemeral")) >= 3, 10)
        assert slack.wait_for(lambda s: check_times(database_url), 10)  # the leader checks it
        time.sleep(1.0)
        assert len(slack.calls_to("chat.postEphemeral")) == 3  # one list per `watches`
        confirmations = [p for p in posts(slack) if "is now watching" in p["text"]]
        assert len(confirmations) == 1
        assert sum(r.leading for r in replicas) == 1


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_the_real_checks_and_health_answers(tmp_path, slack):
    database = tmp_path / "gateway.sqlite3"
    with serve(Behaviour.STATUS, **NGINX_502) as site:
        replica = Replica("solo", tmp_path, slack, f"sqlite:///{database}")
        try:
            replica.wait_ready()
            assert replica.get("/healthz").status_code == 200
            slack.rate_limit_next("chat.postMessage", retry_after=1)  # the confirmation: 429
            replica.command(f"watch {site.url()} every 1s")
            assert slack.wait_for(lambda s: alerts(s), 30)

            def checks() -> float:
                samples = _samples(replica.get("/metrics").text)
                return sum(v for (n, _), v in samples.items() if n == "gateway_checks_total")

            deadline = time.monotonic() + 20
            while checks() < 4:
                assert time.monotonic() < deadline
                time.sleep(0.3)
            scraped = _samples(replica.get("/metrics").text)
        finally:
            replica.stop()  # SIGTERM: the history is written before it exits
    with sqlite3.connect(database) as db:
        stored = dict(db.execute("SELECT status || '/' || cause, count(*) FROM checks GROUP BY 1"))
    counted = {
        f"{dict(labels)['result']}/{dict(labels)['cause']}": value
        for (name, labels), value in scraped.items()
        if name == "gateway_checks_total"
    }
    assert counted and set(counted) <= set(stored), (counted, stored)
    for key, value in counted.items():  # checks run after the scrape, before the stop: 0 to 3
        assert value <= stored[key] <= value + 3, (key, value, stored)
    total = sum(counted.values())
    assert scraped[("gateway_check_duration_seconds_count", ())] == total
    assert scraped[("gateway_scheduler_lag_seconds_count", ())] >= total
    assert scraped[("gateway_leader", ())] == 1
    assert scraped[("gateway_watches", ())] == 1
    assert scraped[("gateway_open_incidents", ())] == 1
    ok_posts = (("method", "chat.postMessage"), ("outcome", "ok"))
    assert scraped[("gateway_slack_api_calls_total", ok_posts)] >= 2  # confirmation and alert
    assert scraped[("gateway_ack_seconds_count", ())] == 1
    assert scraped[("gateway_slack_rate_limited_total", (("method", "chat.postMessage"),))] == 1
    for (name, labels), _ in scraped.items():  # bounded labels: never the site's URL
        assert str(site.port) not in str(labels), (name, labels)


def test_healthz_says_503_with_the_reason_when_the_database_goes_away(tmp_path, slack):
    with PostgresServer() as own:
        replica = Replica("db", tmp_path, slack, own.url)
        try:
            replica.wait_ready()
            assert replica.get("/healthz").text == "ok\n"
            own.stop()
            answer = replica.get("/healthz")
            assert answer.status_code == 503
            assert answer.text.startswith("unhealthy: the database did not answer")
            assert answer.text.count("\n") == 1
        finally:
            replica.stop()


def test_json_logs_name_the_watch_and_never_a_token_or_secret(tmp_path, slack):
    with serve(Behaviour.STATUS, **NGINX_502) as site:
        replica = Replica("logs", tmp_path, slack, f"sqlite:///{tmp_path}/gateway.sqlite3")
        try:
            replica.wait_ready()
            replica.command(f"watch {site.url()} every 1s")
            assert slack.wait_for(lambda s: posts(s), 10)
            slack.fail_next("chat.postMessage", "rate_limited", times=3)  # the alert fails
            assert slack.wait_for(lambda s: alerts(s), 30)
        finally:
            replica.stop()
    text = replica.log_path.read_text()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    failed = [line for line in lines if "chat.postMessage" in line["message"]]
    assert failed and all(isinstance(line.get("watch"), int) for line in failed), failed
    assert "xoxb-fleet-test" not in text and SIGNING_SECRET not in text


def test_the_log_scrubs_tokens_and_the_signing_secret_from_every_line(capsys):
    import logging

    from bot import logs

    logs.configure("json", ["xoxb-secret-bot-token", SIGNING_SECRET])
    try:
        logging.getLogger("test").warning(
            "calling with %s and %s and xapp-1-A1-other", "xoxb-secret-bot-token", SIGNING_SECRET
        )
    finally:
        logging.getLogger().handlers.clear()
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["message"] == "calling with [redacted] and [redacted] and [redacted]"


async def test_a_new_leader_continues_an_incident_whose_watch_state_was_never_written(
    slack, tmp_path
):
    """A leader killed between posting an alert and writing the watch's state leaves the
    watch "healthy" beside an open incident; the next leader continues that incident."""
    from tests.test_watch import Watcher

    with serve(Behaviour.STATUS, **NGINX_502) as site:
        bot = await Watcher(slack, tmp_path).start()
        await bot.command(f"watch {site.url()} every 0.5s")
        await bot.until(lambda: alerts(slack))
        alert = alerts(slack)[0]
        await bot.until(lambda: slack.thread(alert["ts"]))
        await bot.stop()
        with sqlite3.connect(tmp_path / "gateway.sqlite3") as db:  # the state write, lost
            db.execute("UPDATE watches SET state = 'healthy', failures = 1, successes = 0")

        again = await Watcher(slack, tmp_path).start()
        try:
            runs = again.service.scheduler.runs
            await again.until(lambda: again.service.scheduler.runs >= runs + 3)
            assert alert_posts(slack) == 1, "a second alert for the same incident"
            site.switch(Behaviour.OK)
            await again.until(lambda: recoveries(slack))
            assert [r["thread_ts"] for r in recoveries(slack)] == [alert["ts"]]
        finally:
            await again.stop()


def test_a_replica_whose_lock_connection_is_cut_stops_checking_and_one_replica_checks(
    tmp_path, slack, database_url
):
    with serve(Behaviour.OK) as site, fleet(2, tmp_path, slack, database_url) as replicas:
        settled(replicas)  # the watch's shard stays put until the cut
        replicas[0].command(f"watch {site.url()} every 2s")
        assert slack.wait_for(lambda s: check_times(database_url), 10)
        started = time.time()

        async def cut() -> int:  # what a restarted proxy or a failover of PostgreSQL does
            connection = await asyncpg.connect(database_url)
            try:  # the lock connection of the replica holding the watch's shard
                return await connection.fetchval(
                    "SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l, watches w"
                    " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2"
                    " AND l.classid = $1::int::oid AND l.objid::int = w.id % 64",
                    SHARD_LOCKS,
                )
            finally:
                await connection.close()

        assert asyncio.run(cut()) == 1
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # a replica that missed the cut would check on
            assert sum(r.leading for r in replicas) <= 1, "two replicas lead at once"
            time.sleep(0.1)
        assert leader_of(replicas) in replicas
        assert_checked_once_per_interval(check_times(database_url), started)
