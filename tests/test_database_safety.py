"""The database as a crash or a careless hand leaves it: a schema revision this version
does not know (a newer release, then a rollback; two rows in alembic_version) is one line
naming what to do, exit 2, so systemd stops restarting (RestartPreventExitStatus=2); a
hard link to the SQLite file gives it no second owner."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from bot.migrations import head
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


def test_a_hard_link_to_the_sqlite_file_gets_no_second_owner(tmp_path):
    import os

    from tests.test_serve_resilience import Serving

    url = _database(tmp_path, head())
    other = tmp_path / "elsewhere"
    other.mkdir()
    os.link(tmp_path / "g.sqlite3", other / "same.sqlite3")
    with SlackStandIn() as slack:
        first = Serving(tmp_path, serve_env(slack, free_port(), url))
        try:
            assert first.command("help", slack).status_code == 200
            second = run_serve(
                other, serve_env(slack, free_port(), f"sqlite:///{other}/same.sqlite3")
            )
        finally:
            first.stop()
    lines = second.stderr.strip().splitlines()
    assert second.returncode == 2 and len(lines) == 1, second.stderr
    assert "another gateway already runs" in lines[0] and "hard link" in lines[0]
