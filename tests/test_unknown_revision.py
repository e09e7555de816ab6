"""A database at a schema revision this version does not know (a newer release, then a
rollback; two rows in alembic_version): one line naming what to do, exit 2, so systemd
stops restarting (deploy/gateway.service: RestartPreventExitStatus=2)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.servers.proxies import free_port
from tests.slack.stand_in import SlackStandIn
from tests.test_run_modes import clean_env
from tests.test_serve_resilience import run_serve, serve_env


def _database(tmp_path, *versions: str) -> str:
    url = f"sqlite:///{tmp_path}/g.sqlite3"
    env = clean_env(PYTHONPATH=str(ROOT), GATEWAY_DATABASE_URL=url)
    made = subprocess.run(
        [sys.executable, "-m", "bot.cli", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    with sqlite3.connect(tmp_path / "g.sqlite3") as db:
        db.execute("DELETE FROM alembic_version")
        for version in versions:
            db.execute("INSERT INTO alembic_version VALUES (?)", (version,))
    return url


CASES = [(("0099",), "revision 0099, which this version"), (("0002", "0003"), "2 schema revisions")]


@pytest.mark.parametrize(("versions", "says"), CASES, ids=["newer", "two rows"])
def test_db_upgrade_says_it_in_one_line_with_exit_2(tmp_path, versions, says):
    url = _database(tmp_path, *versions)
    env = clean_env(PYTHONPATH=str(ROOT), GATEWAY_DATABASE_URL=url)
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert says in lines[0] and "GATEWAY_DATABASE_URL" in lines[0]


@pytest.mark.parametrize(("versions", "says"), CASES, ids=["newer", "two rows"])
def test_serve_says_it_in_one_line_with_exit_2(tmp_path, versions, says):
    url = _database(tmp_path, *versions)
    with SlackStandIn() as slack:
        done = run_serve(tmp_path, serve_env(slack, free_port(), url))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and says in lines[0], done.stderr
