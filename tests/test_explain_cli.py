"""`gateway explain [--json] [FILE]` as a person runs it: exit 0 when a line was
recognized, 1 when none was, 2 with one line on stderr for unusable input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, run_cli

REFUSED = (
    '2026/11/25 14:46:55 [error] 1#1: *4 connect() failed (111: Connection refused) while connecting to upstream, client: 1.2.3.4, server: s, request: "GET /?t=1 HTTP/1.1", upstream: "http://127.0.1.1:9099/", host: "s"\n'
    '2026/11/25 14:47:02 [error] 1#1: *5 connect() failed (111: Connection refused) while connecting to upstream, client: 1.2.3.4, server: s, request: "GET /?t=1 HTTP/1.1", upstream: "http://127.0.1.1:9099/", host: "s"\n'
    "a line nobody knows\n"
)


def stdin_run(*args: str, data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "explain", *args],
        input=data,
        capture_output=True,
        timeout=60,
        cwd=ROOT,
    )


def test_json_has_the_contract_s_shape(tmp_path):
    path = tmp_path / "error.log"
    path.write_text(REFUSED)
    result = run_cli("explain", "--json", str(path))
    assert result.code == 0 and result.stderr == ""
    data = result.json
    assert (data["schema"], data["lines"], data["recognized"]) == (1, 3, 2)
    (finding,) = data["findings"]
    assert {
        "product",
        "cause",
        "confidence",
        "count",
        "first_seen",
        "last_seen",
        "upstream",
        "evidence",
        "title",
        "explanation",
        "owner",
    } <= set(finding)
    assert finding == finding | {
        "product": "nginx",
        "cause": "upstream_refused",
        "confidence": 0.95,
        "count": 2,
        "first_seen": "2026-11-25T14:46:55",
        "last_seen": "2026-11-25T14:47:02",
        "upstream": "127.0.1.1:9099",
        "evidence": "connect() failed (111: Connection refused) while connecting to upstream",
    }
    assert finding["owner"] and "nginx" in finding["title"]


def test_standard_input_is_read_by_default_and_the_report_is_for_people():
    proc = stdin_run(data=REFUSED.encode())
    out = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr
    assert "2 of 3 line(s) recognized" in out and "upstream_refused" in out
    assert "127.0.1.1:9099" in out and "What the owner should do" in out
    assert "not recognized, counted, not guessed" in out


def test_nothing_recognized_exits_1_and_says_what_it_reads(tmp_path):
    path = tmp_path / "app.log"
    path.write_text("INFO started\nINFO listening on 8080\n")
    result = run_cli("explain", str(path))
    assert result.code == 1
    assert "NOTHING RECOGNIZED" in result.stdout and "nginx" in result.stdout
    assert run_cli("explain", "--json", str(path)).json == {
        "schema": 1,
        "findings": [],
        "lines": 2,
        "recognized": 0,
        "unrecognized": 2,
        "more_findings": 0,
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no log lines given"),
        (b"\x00\x01binary\x00", "binary"),
        (b"x" * (1024 * 1024 + 1), "over the 1 MiB limit"),
    ],
)
def test_unusable_input_exits_2_with_one_line(tmp_path, content, message):
    path = tmp_path / "input"
    path.write_bytes(content)
    result = run_cli("explain", "--json", str(path))
    assert result.code == 2 and result.stdout == ""
    assert result.stderr.startswith("gateway: ") and message in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_missing_file_exits_2_with_one_line(tmp_path):
    result = run_cli("explain", str(tmp_path / "nope.log"))
    assert (result.code, result.stderr) == (
        2,
        f"gateway: {tmp_path / 'nope.log'}: No such file or directory\n",
    )


def test_more_than_a_mebibyte_on_standard_input_is_refused_not_read_forever():
    proc = stdin_run("--json", data=b"y\n" * (600 * 1024))
    assert proc.returncode == 2 and proc.stdout == b""
    assert b"over the 1 MiB limit" in proc.stderr and proc.stderr.count(b"\n") == 1


def test_remote_text_reaches_the_terminal_as_text_never_markup_or_control_codes(tmp_path):
    line = (
        '2026/11/25 14:46:55 [error] 1#1: *4 limiting requests, excess: 0.5 by zone "[blink]x\x1b[31m", '
        'client: 1.2.3.4, server: s, request: "GET / HTTP/1.1", host: "s"'
    )
    path = tmp_path / "error.log"
    path.write_text(line)
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "explain", str(path)],
        capture_output=True,
        timeout=60,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "FORCE_COLOR": "1", "TERM": "xterm-256color"},
    )
    out = proc.stdout.decode()
    assert proc.returncode == 0
    assert "[blink]x" in out  # shown literally, not obeyed
    assert "\x1b[31m" not in out and "\x1b[5m" not in out


def test_the_json_is_one_object_and_nothing_else(tmp_path):
    path = tmp_path / "error.log"
    path.write_text(REFUSED * 3)
    result = run_cli("explain", "--json", str(path))
    assert result.stdout.count("\n") == 1
    json.loads(result.stdout)
