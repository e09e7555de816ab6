"""`gateway explain` on what the servers the first lab never ran wrote
(tests/fixtures/logs/<log>/<case>.log, written by tests/servers/unseen_capture.py).

Two views: each captured file as a whole (the cause tests/servers/unseen_lab.py
gives that log for that case comes first), and each *distinct* telling line on
its own, as people paste a single line: the line is taken from the fixtures, never
written here; only which line it is and what it proves are.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from checks.explain import explain
from tests.servers.unseen_lab import CASES

FIXTURES = Path(__file__).parent / "fixtures" / "logs"
HARMLESS = {"client_closed"}

FILES = [
    (log, case.name, cause)
    for case in CASES
    for log, cause in case.logs.items()
    if (FIXTURES / log / f"{case.name}.log").is_file()
]

B, R, T = "upstream_bad_response", "upstream_refused", "upstream_timeout"
# log folder, a regex that finds the line in that folder's fixtures, what the line proves
TELLING = [
    ("nginx", r'FastCGI sent in stderr: "Primary script unknown"', "not_found"),
    ("nginx", r"recv\(\) failed \(104: Connection reset by peer\) while reading response", B),
    ("nginx", r"upstream prematurely closed connection while reading response header", B),
    ("nginx", r"upstream sent too big header", "upstream_header_too_big"),
    ("nginx", r"connect\(\) to unix:\S+ failed \(2: No such file or directory\)", R),
    ("nginx", r"connect\(\) to unix:\S+ failed \(11: Resource temporarily unavailable\)",
     "upstream_overloaded"),
    ("nginx", r'connect\(\) failed \(111: Connection refused\) .*upstream: "fastcgi://', R),
    ("nginx", r'connect\(\) failed \(111: Connection refused\) .*upstream: "uwsgi://', R),
    ("nginx", r'upstream timed out \(110: .*upstream: "fastcgi://', T),
    ("nginx", r'upstream timed out \(110: .*upstream: "uwsgi://', T),
    ("nginx", r"PHP message: PHP Fatal error:  Allowed memory size", "server_error"),
    ("php-fpm", r'said into stderr: "NOTICE: PHP message: PHP Fatal error:  Uncaught',
     "server_error"),
    ("uwsgi", r"DAMN ! worker \d+ \(pid: \d+\) died :\( trying respawn", B),
    ("gunicorn", r"\[ERROR\] Error handling request", "server_error"),
    ("php-fpm", r"execution timed out \([\d.]+ sec\), terminating", T),
    ("php-fpm", r"exited on signal 9 \(SIGKILL\)", B),
    ("php-fpm", r"server reached pm.max_children setting", "upstream_overloaded"),
    ("uwsgi", r"\*\*\* HARAKIRI ON WORKER", T),
    ("uwsgi", r"HARAKIRI \[core \d+\]", T),
    ("uwsgi", r"DAMN ! worker \d+ \(pid: \d+\) died, killed by signal 9", B),
    ("gunicorn", r"\[CRITICAL\] WORKER TIMEOUT", T),
    ("gunicorn", r"Worker with pid \d+ was terminated due to signal 9", B),
    ("lighttpd", r"establishing connection failed: socket: tcp:\S+: Connection refused", R),
    ("lighttpd", r"establishing connection failed: socket: unix:\S+: No such file", R),
    ("lighttpd", r"read timeout on socket", T),
    ("lighttpd", r"FastCGI-stderr:Primary script unknown", "not_found"),
    ("lighttpd", r"read\(\) \d+ \d+: Connection reset by peer", B),
    ("lighttpd", r"response not received, request sent", B),
    ("h2o", r":connection failed$", R),
    ("h2o", r":I/O timeout$", T),
    ("h2o", r":I/O error \(head\)$", B),
    ("h2o", r":failed to parse the response$", B),
    ("nghttpx", r"Backend connect failed; addr=\S+: errno=111", R),
    ("nghttpx", r"Could not connect \d+ times in a row", R),
    ("trafficserver", r"CONNECT: attempt fail \[CONNECTION_ERROR\]", R),
    ("trafficserver", r"DNS Error: looking up", "upstream_dns"),
    ("squid", r"WARNING: HTTP: Invalid Response: No object data received", B),
]  # fmt: skip


def _line(folder: str, pattern: str) -> str:
    """The first line of the folder's unseen-lab fixtures that the pattern finds."""
    names = {case.name for case in CASES}
    for path in sorted((FIXTURES / folder).glob("*.log")):
        if path.stem in names:
            for line in path.read_text().splitlines():
                if re.search(pattern, line):
                    return line
    raise AssertionError(f"no line of {folder}/ matches {pattern!r}")


@pytest.mark.parametrize(
    ("log", "name", "cause"), FILES, ids=[f"{log}-{name}" for log, name, _ in FILES]
)
def test_each_captured_log_is_explained(log, name, cause):
    found = explain((FIXTURES / log / f"{name}.log").read_text()).findings
    if cause is None:
        assert {f.cause for f in found} <= HARMLESS, [(f.cause, f.evidence) for f in found]
        return
    assert found, "nothing recognised"
    assert (found[0].product, found[0].cause) == (log, cause), [
        (f.product, f.cause, f.evidence) for f in found
    ]


@pytest.mark.parametrize(
    ("folder", "pattern", "cause"), TELLING, ids=[f"{f}-{c}-{i}" for i, (f, _, c) in
                                                  enumerate(TELLING)]
)  # fmt: skip
def test_each_distinct_line_alone_names_its_cause(folder, pattern, cause):
    line = _line(folder, pattern)
    found = explain(line).findings
    assert found, f"nothing recognised in {line!r}"
    assert (found[0].product, found[0].cause) == (folder, cause), line


def test_the_lines_are_distinct():
    lines = [_line(folder, pattern) for folder, pattern, _ in TELLING]
    assert len(set(lines)) == len(lines)


def test_every_unseen_lab_fixture_is_a_case_of_the_lab():
    names = {(log, case.name) for case in CASES for log in case.logs}
    on_disk = {
        (p.parent.name, p.stem) for p in FIXTURES.glob("*/*.log") if p.stem in {n for _, n in names}
    }
    assert on_disk == {(log, name) for log, name, _ in FILES} and on_disk <= names
    assert len(FILES) >= 50, "the fixtures were not written"
