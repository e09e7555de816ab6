"""`gateway check` and `gateway explain` on servers the first lab never ran.

Apache Traffic Server, lighttpd (mod_proxy, and PHP-FPM over FastCGI), h2o, nghttpx
(TLS front), Squid as an accelerator, and nginx before real PHP-FPM, uWSGI and
gunicorn, failing on purpose (tests/servers/unseen_lab.py lists every case and the
truth about it). Each failure goes through `check` on its live loopback URL, which
must name the front server and the cause; what every server logged meanwhile goes
through `explain --json`, which must put the right cause first. What the servers
answered is recorded in docs/proxy-signatures.md.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import check_json, run_cli
from tests.servers.unseen_capture import Outcome, UnseenLab, fetch, run_case
from tests.servers.unseen_lab import ANSWERS, CASES, Case

pytestmark = pytest.mark.proxy

# (case, log) pairs: every log each case must (or must not) prove something in
LOGGED = [(case, log) for case in CASES for log in case.logs]
# client_closed is "no server fault": a readiness probe that connects and leaves says so
HARMLESS = {"client_closed"}


@pytest.fixture(scope="module")
def lab():
    running = UnseenLab()
    running.outcomes = {}  # type: ignore[attr-defined]
    yield running
    running.close()


def _outcome(lab: UnseenLab, case: Case) -> Outcome:
    """The case run once through `check` (its logs kept for the explain tests)."""
    outcomes: dict[str, Outcome] = lab.outcomes  # type: ignore[attr-defined]
    if case.id not in outcomes:

        def once_raw_then_check(stack):
            raw = fetch(stack, case.path)
            return raw, check_json(stack.url(case.path), "--timeout", "20", *stack.check_flags())

        outcomes[case.id] = run_case(lab, case, once_raw_then_check)
    return outcomes[case.id]


def test_every_case_has_its_recorded_answer():
    assert set(ANSWERS) == {c.name for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_front_server_answers_as_recorded(lab, case):
    (reply, seconds), _ = _outcome(lab, case).result
    status_line, at_least = ANSWERS[case.name]
    assert reply.split(b"\r\n", 1)[0].decode("latin-1") == status_line, reply[:300]
    if at_least == 0:
        assert seconds < 0.5, seconds
    elif at_least is not None:
        assert seconds >= at_least, seconds


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_check_names_the_front_server_and_the_cause(lab, case):
    _, result = _outcome(lab, case).result
    data = result.json
    if case.cause == "healthy":
        assert (result.code, result.cause) == (0, "healthy"), data["causes"][0]
        return
    assert result.code == 1, data["verdict"]
    assert data["gateway"]["product"] == case.product, data["gateway"]
    assert result.cause in (case.cause, *case.also), (data["http"], result.codes)
    assert case.cause in result.codes, (data["http"], result.codes)


@pytest.mark.parametrize(("case", "log"), LOGGED, ids=[f"{c.id}-{log}" for c, log in LOGGED])
def test_explain_reads_what_each_server_logged(lab, case, log, tmp_path):
    text = _outcome(lab, case).logs.get(log, "")
    expected = case.logs[log]
    pasted = tmp_path / "pasted.log"
    pasted.write_text(text)
    if expected is None:
        if text.strip():
            result = run_cli("explain", "--json", str(pasted))
            causes = {f["cause"] for f in result.json["findings"]} if result.stdout else set()
            assert causes <= HARMLESS, (text, causes)
        return
    assert text.strip(), f"{log} wrote nothing"
    result = run_cli("explain", "--json", str(pasted))
    assert result.code == 0, (text, result.stderr)
    finding = result.json["findings"][0]
    assert (finding["product"], finding["cause"]) == (log, expected), text


@pytest.mark.parametrize(("route", "status"), [("ok", "200"), ("refused", "502"), ("hang", "504")])
def test_nghttpx_answers_the_same_over_http2(lab, route, status):
    """The lab's check and captures speak HTTP/1.1 to nghttpx; curl speaks HTTP/2."""
    curl = shutil.which("curl")
    if not curl:
        pytest.skip("curl not installed")
    front = lab.stack("nghttpx").front
    out = subprocess.run(
        [curl, "-s", "-o", "/dev/null", "--http2", "--cacert", str(front.ca_file), "-m", "10",
         "-w", "%{http_version} %{http_code}", front.url(f"/{route}/x")],
        capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip
    assert out.stdout == f"2 {status}", out
