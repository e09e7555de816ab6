"""TCP and HTTP failures from servers that misbehave on purpose, on loopback."""

import time

import pytest

from tests.conftest import check_json
from tests.servers.misbehave import Behaviour, closed_port, hanging_connect, serve


def test_nothing_listens():
    port = closed_port()
    result = check_json(f"http://127.0.0.1:{port}/")
    assert result.code == 1
    assert result.cause == "tcp_refused"
    assert result.json["gateway"]["product"] is None
    assert result.json["http"]["samples"] == [None, None, None]


def test_a_connection_attempt_that_hangs_keeps_the_deadline():
    port, closer = hanging_connect()
    with closer:
        started = time.perf_counter()
        result = check_json(f"http://127.0.0.1:{port}/", "--timeout", "2")
        elapsed = time.perf_counter() - started
    assert result.cause == "tcp_timeout"
    assert elapsed < 2.5


def test_a_server_that_closes_without_answering():
    with serve(Behaviour.CLOSE_EARLY) as site:
        result = check_json(site.url())
    assert result.cause == "connection_reset"
    assert "without sending a byte" in " ".join(result.json["causes"][0]["evidence"])


def test_a_server_that_resets():
    with serve(Behaviour.RESET) as site:
        result = check_json(site.url())
    assert result.cause == "connection_reset"


def test_a_server_that_sends_garbage_shows_the_bytes():
    with serve(Behaviour.GARBAGE) as site:
        result = check_json(site.url())
    assert result.cause == "connection_reset"
    assert "upstream_bad_response" in result.codes
    assert "not valid HTTP" in " ".join(result.json["causes"][0]["evidence"])


def test_a_server_that_hangs_after_connecting_answers_within_the_deadline():
    with serve(Behaviour.HANG) as site:
        started = time.perf_counter()
        result = check_json(site.url(), "--timeout", "2")
        elapsed = time.perf_counter() - started
    assert result.cause == "response_timeout"
    assert elapsed < 2.5
    attempts = result.json["http"]["attempts"]
    assert all(a["timings_ms"]["connect_ms"] is not None for a in attempts)


@pytest.mark.parametrize(
    ("status", "headers", "cause"),
    [
        (500, (), "server_error"),
        (501, (), "not_implemented"),
        (503, (("Retry-After", "120"),), "service_unavailable"),
        (403, (), "forbidden"),
        (404, (), "not_found"),
        (410, (), "not_found"),
        (429, (("Retry-After", "30"),), "rate_limited"),
        (504, (), "upstream_timeout"),
    ],
)
def test_status_codes_from_the_service(status, headers, cause):
    with serve(Behaviour.STATUS, status=status, headers=headers) as site:
        result = check_json(site.url())
    assert result.code == 1
    assert result.cause == cause
    assert result.json["http"]["status"] == status
    assert result.json["http"]["samples"] == [status] * 3


def test_a_healthy_site():
    with serve(Behaviour.OK) as site:
        result = check_json(site.url())
    assert result.code == 0
    assert result.json["verdict"]["status"] == "healthy"
    assert result.cause == "healthy"
    assert len(site.requests) == 3


def test_samples_flag_sets_the_attempts():
    with serve(Behaviour.OK) as site:
        result = check_json(site.url(), "--samples", "5")
    assert len(result.json["http"]["samples"]) == 5 and len(site.requests) == 5


def test_a_slow_site_is_degraded():
    with serve(Behaviour.SLOW, delay=2.2) as site:
        result = check_json(site.url(), "--samples", "1", "--timeout", "5")
    assert result.cause == "slow_response"
    assert result.json["verdict"]["status"] == "degraded"
    assert result.code == 1


def test_a_redirect_loop():
    with serve(Behaviour.REDIRECT, location="/a") as site:
        result = check_json(site.url("/a"))
    assert result.cause == "redirect_loop"


def test_redirects_are_followed_to_the_final_answer():
    with (
        serve(Behaviour.STATUS, status=502) as final,
        serve(Behaviour.REDIRECT, location=final.url("/landing")) as first,
    ):
        result = check_json(first.url("/"))
    assert result.json["http"]["status"] == 502
    attempt = result.json["http"]["attempts"][0]
    assert attempt["redirects"][0]["status"] == 301
    assert attempt["url"].endswith("/landing")


def test_one_bad_address_in_the_pool_is_a_partial_outage(dns_server):
    with (
        serve(Behaviour.OK, host="127.0.0.2") as good,
        serve(Behaviour.STATUS, status=502, host="127.0.0.3", port=good.port),
    ):
        dns_server.add_a("pool.test", "127.0.0.2", "127.0.0.3")
        result = check_json(
            f"http://pool.test:{good.port}/", "--resolver", dns_server.address, "--samples", "4"
        )
    assert result.cause == "partial_outage"
    assert result.json["verdict"]["status"] == "degraded"
    assert sorted(result.json["http"]["samples"]) == [200, 200, 502, 502]
    assert "failing only at 127.0.0.3" in result.json["causes"][0]["evidence"]


def test_one_address_refusing_connections_is_a_partial_outage(dns_server):
    with serve(Behaviour.OK, host="127.0.0.2") as good:
        dns_server.add_a("half.test", "127.0.0.2", "127.0.0.4")
        result = check_json(f"http://half.test:{good.port}/", "--resolver", dns_server.address)
    assert result.cause == "partial_outage"
    tcp = {a["address"]: a["error"] for a in result.json["tcp"]}
    assert tcp == {"127.0.0.2": None, "127.0.0.4": "refused"}


def test_bare_name_with_only_plain_http_says_so(dns_server):
    with serve(Behaviour.OK, host="127.0.0.5", port=80) as site:
        dns_server.add_a("nohttps.test", "127.0.0.5")
        result = check_json("nohttps.test", "--resolver", dns_server.address)
    assert site.port == 80
    assert result.cause == "tcp_refused"
    assert result.json["plain_http"] == {"port": 80, "status": 200}
    assert "only HTTPS is missing" in " ".join(result.json["causes"][0]["evidence"])


def test_the_terminal_report_shows_remote_text_literally():
    from tests.conftest import run_cli

    body = (
        "<html><body>[bold red]FAKE: all good[/bold red] [link=https://evil]x[/link]</body></html>"
    )
    headers = (("Server", "[blink]nginx[/blink]"),)
    with serve(Behaviour.STATUS, status=500, body=body, headers=headers) as site:
        result = run_cli("check", site.url(), "--allow-private", "--full")
    assert "[bold red]FAKE: all good[/bold red]" in result.stdout  # shown, not obeyed
    assert "[blink]nginx[/blink]" in result.stdout
