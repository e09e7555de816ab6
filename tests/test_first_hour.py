"""What a new user meets first: the version, a report that fits a screen, settings
refused in one line before anything is touched."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import run_gateway_process
from tests.servers.misbehave import Behaviour, closed_port, serve
from tests.servers.proxies import free_port
from tests.slack.stand_in import SlackStandIn
from tests.test_serve_resilience import Serving, run_serve, serve_env


@pytest.fixture(scope="module")
def slack():
    with SlackStandIn() as stand_in:
        yield stand_in


def test_version_prints_the_version():
    result = run_gateway_process("--version", timeout=30)
    assert result.code == 0, result.stderr
    name, number = result.stdout.split()
    assert name == "gateway" and number[0].isdigit()


# --- `serve` checks every local setting before any network call ------------------------------

UNUSABLE_AT_ONCE = [
    ("GATEWAY_DATABASE_URL", "nosuch://db.example/gateway", "not a database I can use"),
    ("GATEWAY_DATABASE_URL", "mysql://u:s3cret@127.0.0.1/gateway", "not installed"),
    (
        "GATEWAY_DATABASE_URL",
        "postgresql://u:s3cret@db:notaport/gateway",
        "not a database I can use",
    ),
    ("GATEWAY_DATABASE_URL", "gateway.sqlite3", "not a database I can use"),
    ("GATEWAY_DATABASE_URL", "sqlite:///{tmp}/missing/gateway.sqlite3", "does not exist"),
    ("GATEWAY_DATABASE_URL", "sqlite:////proc/gateway.sqlite3", "cannot create or open"),
    ("GATEWAY_DATABASE_URL", "sqlite:///{notes}", "not a SQLite database"),
    ("SLACK_SIGNING_SECRET", "", "SLACK_SIGNING_SECRET is not set"),
]


@pytest.mark.parametrize(("setting", "value", "says"), UNUSABLE_AT_ONCE)
def test_an_unusable_local_setting_is_one_line_before_slack_and_makes_no_file(
    slack, tmp_path, setting, value, says
):
    work = tmp_path / "work"
    work.mkdir()
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes, not a database\n" * 20)
    env = serve_env(slack, free_port(), f"sqlite:///{work}/gateway.sqlite3")
    env[setting] = value.format(tmp=tmp_path, notes=notes)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    calls = len(slack.calls)
    proc = run_serve(work, env)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("gateway: ") and says in lines[0], lines
    assert "s3cret" not in proc.stderr
    assert len(slack.calls) == calls, "Slack was called before the setting was checked"
    assert sorted(p.name for p in tmp_path.rglob("*")) == before, "a file was made"


# --- readiness: Slack must have answered -----------------------------------------------------


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return None


@pytest.mark.parametrize("socket_mode", [False, True], ids=["http", "socket-mode"])
def test_readyz_says_not_ready_while_slack_never_answered(slack, tmp_path, socket_mode):
    port, metrics = free_port(), free_port()
    env = serve_env(slack, port, f"sqlite:///{tmp_path}/g.sqlite3", METRICS_PORT=str(metrics))
    env["SLACK_API_URL"] = f"http://127.0.0.1:{closed_port()}/api/"
    if socket_mode:
        env["SLACK_APP_TOKEN"] = "xapp-1-test"
    bot = Serving(tmp_path, env)
    try:
        deadline = time.monotonic() + 20
        answer = None
        while time.monotonic() < deadline:
            answer = _get(f"http://127.0.0.1:{metrics}/readyz")
            if answer is not None:
                break
            time.sleep(0.2)
        assert answer is not None, bot.log()
        assert answer.status_code == 503 and "cannot reach Slack" in answer.text, answer.text
        assert _wait_for(lambda: bot.log().count("trying again in") >= 2, 20), bot.log()
    finally:
        bot.stop()
    log = bot.log()
    assert "Traceback" not in log and "will be unused" not in log, log
    assert "A retry handler found" not in log, log
    retries = [line for line in log.splitlines() if "trying again in" in line]
    assert "trying again in 1 s" in retries[0] and "trying again in 2 s" in retries[1]


def test_readyz_is_ready_once_slack_answered(slack, tmp_path):
    port = free_port()
    bot = Serving(tmp_path, serve_env(slack, port, f"sqlite:///{tmp_path}/g.sqlite3"))
    try:
        assert _wait_for(
            lambda: (
                (r := _get(f"http://127.0.0.1:{port}/readyz")) is not None and r.status_code == 200
            ),
            20,
        ), bot.log()
    finally:
        bot.stop()
    assert "will be unused" not in bot.log()


def test_a_url_that_is_not_slacks_api_is_named_as_such(slack, tmp_path):
    with serve(Behaviour.STATUS, status=404, body="<h1>Not Found</h1>") as site:
        env = serve_env(slack, free_port(), f"sqlite:///{tmp_path}/g.sqlite3")
        env["SLACK_API_URL"] = site.url("/api/")
        proc = run_serve(tmp_path, env)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "None" not in lines[0] and "did not answer like Slack's Web API" in lines[0]
    assert "SLACK_API_URL=" in lines[0]


def _wait_for(condition, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


# --- the README a new user opens ------------------------------------------------------------


def test_the_readme_starts_with_the_two_commands_the_cli_and_a_table_of_contents():
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    start = readme[: readme.index("## What a check says")]
    assert "| `make run` |" in start and "| `make test` |" in start
    assert ".venv/bin/gateway check" in start and "pipx install ." in start
    assert "## Contents" in start
    for page in ("docs/operations.md", "docs/benchmarks.md", "docs/reference.md"):
        assert page in start and (ROOT / page).is_file()
    assert len(readme.splitlines()) < 600
    for text in (readme, *(p.read_text() for p in (ROOT / "docs").glob("*.md"))):
        assert "this machine" not in text.lower()
    assert "gateway[postgres]" not in readme  # one install form: `.[postgres]`
    assert "## Run it in production" not in readme and "## Benchmarks" not in readme
