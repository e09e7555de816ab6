"""`gateway explain` on pastes as people paste them: under prefixes, inside JSON, as
fragments, over several lines, in formats of servers the first lab never ran, and lines
whose format is known but whose message is not (a lead and what to paste next, never a
confident cause).

The lines are written here in each product's own format, with the wording its source
writes (checks/knowledge/logs.toml names the source file beside each pattern).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date

import pytest

from checks.explain import explain, from_slack
from checks.explain.paste import lines

NGINX_REFUSED = (
    "2026/11/25 14:46:55 [error] 812#812: *4 connect() failed (111: Connection refused) while "
    'connecting to upstream, client: 203.0.113.9, server: shop, request: "GET / HTTP/1.1", '
    'upstream: "http://10.0.0.7:8080/", host: "shop.example"'
)


def top(text: str, today: date | None = None):
    result = explain(text, today=today)
    assert result.findings, text
    return result.findings[0]


# ------------------------------------------------------------------------- prefixes


@pytest.mark.parametrize(
    "prefix",
    [
        "[pod/web-7d9c4/nginx] ",
        "pod/web-7d9c4 ",
        "nginx_1  | ",
        "web-1  | ",
        "Nov 25 14:46:55 web1 nginx[812]: ",
        "<13>Nov 25 14:46:55 web1 nginx[812]: ",
        "2026-11-25T14:46:55.123456789Z stderr F ",
        "2026-11-25T14:46:55+00:00 web1 nginx[812]: ",
        "/var/log/nginx/error.log:",
        "/var/log/nginx/error.log:12:",
        "12: ",
        "> ",
        "&gt; ",
        "`",
        "**",
    ],
)
def test_a_line_under_any_prefix_is_read(prefix):
    finding = top(prefix + NGINX_REFUSED)
    assert (finding.product, finding.cause) == ("nginx", "upstream_refused")
    assert finding.first_seen == "2026-11-25T14:46:55"  # the line's own time


def test_a_fragment_without_its_timestamp_takes_the_prefix_s_time():
    fragment = (
        "connect() to unix:/run/php/php8.2-fpm.sock failed (11: Resource temporarily "
        "unavailable) while connecting to upstream"
    )
    finding = top(f"2026-11-25T14:46:55Z web1 nginx[812]: {fragment}")
    assert (finding.product, finding.cause) == ("nginx", "upstream_overloaded")
    assert finding.first_seen == "2026-11-25T14:46:55"
    assert top(fragment).first_seen is None


def test_a_syslog_time_is_dated_by_today_and_an_event_keeps_it():
    event = (
        "Nov 25 14:46:55 lb1 haproxy[901]: Server app/web1 is DOWN, reason: Layer4 "
        'connection problem, info: "Connection refused", check duration: 0ms. 1 active and '
        "0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
    )
    assert top(event, today=date(2026, 12, 3)).first_seen == "2026-11-25T14:46:55"
    assert top(event, today=date(2027, 1, 2)).first_seen == "2026-11-25T14:46:55"
    assert top(event, today=date(2026, 11, 20)).first_seen == "2025-11-25T14:46:55"
    assert top(event).first_seen is None  # no year known: no time made up


def test_crlf_fences_quotes_and_slack_escapes_are_undone():
    pasted = f"here it is:```\r\n&gt; {NGINX_REFUSED}\r\n```\r\n"
    result = explain(from_slack(pasted))
    assert (result.recognized, result.findings[0].cause) == (1, "upstream_refused")


def test_the_product_is_named_by_the_prefix_when_the_wording_is_go_s():
    line = 'traefik_1  | time="2026-11-25T14:46:55Z" level=debug msg="vulcand/oxy: Error forwarding, err: dial tcp 172.18.0.5:8080: connect: connection refused"'
    finding = top(line)
    assert (finding.product, finding.cause, finding.upstream) == (
        "traefik",
        "upstream_refused",
        "172.18.0.5:8080",
    )
    bare = top("Error: connect ECONNREFUSED 127.0.0.1:3000")
    assert (bare.product, bare.cause) == ("unknown", "upstream_refused")
    assert bare.confidence < 0.9


# ----------------------------------------------------------------------------- JSON


def test_a_json_log_line_is_read_by_its_message():
    docker = json.dumps(
        {"log": NGINX_REFUSED + "\n", "stream": "stderr", "time": "2026-11-25T14:46:55.1Z"}
    )
    finding = top(docker)
    assert (finding.product, finding.cause, finding.upstream) == (
        "nginx",
        "upstream_refused",
        "10.0.0.7:8080",
    )
    cloudflared = json.dumps(
        {
            "level": "error",
            "error": "Unable to reach the origin service. The service may be down or it may "
            "not be responding to traffic from cloudflared: dial tcp [::1]:8080: connect: "
            "connection refused",
            "originService": "http://localhost:8080",
            "time": "2026-11-25T14:46:55Z",
        }
    )
    finding = top(cloudflared)
    assert (finding.product, finding.cause, finding.first_seen) == (
        "cloudflared",
        "upstream_refused",
        "2026-11-25T14:46:55",
    )


def test_structured_access_logs_nested_and_pretty_printed():
    haproxy = json.dumps({"connection": {"termination_state": "sC--"}, "status": 503})
    assert top(haproxy).cause == "upstream_timeout"
    envoy = '{"start_time":"2026-11-25T14:46:55Z","response_code":503,"response_flags":"UF"}'
    assert (top(envoy).product, top(envoy).cause) == ("envoy", "upstream_refused")
    pretty = json.dumps(
        {"level": "error", "logger": "http.log.error", "msg": "EOF", "status": 502}, indent=2
    )
    assert (top(pretty).product, top(pretty).cause) == ("caddy", "upstream_bad_response")


# --------------------------------------------------------- pages and responses pasted


def test_a_response_with_its_headers_names_who_answered():
    gcp = "HTTP/2 503\ncontent-type: text/plain\nvia: 1.1 google\n\nno healthy upstream"
    assert (top(gcp).product, top(gcp).cause) == ("gcp_lb", "no_healthy_upstream")
    envoy = "HTTP/1.1 503 Service Unavailable\nserver: envoy\n\nno healthy upstream"
    assert (top(envoy).product, top(envoy).cause) == ("envoy", "no_healthy_upstream")
    squid = (
        "HTTP/1.1 503 Service Unavailable\r\nServer: squid/5.7\r\nX-Squid-Error: ERR_DNS_FAIL 0\r\n"
    )
    assert (top(squid).product, top(squid).cause) == ("squid", "upstream_dns")
    ats = "HTTP/1.1 502 Connection refused\nServer: ATS/9.2.0\n"
    assert (top(ats).product, top(ats).cause) == ("trafficserver", "upstream_refused")


def test_an_error_page_over_several_lines_is_read_whole():
    page = "Proxy Error\n\nThe proxy server received an invalid response from an upstream server.\nReason: Error reading from remote server\n"
    assert (top(page).product, top(page).cause) == ("apache", "upstream_bad_response")


# ---------------------------------------------- known format, unknown message: a lead


def test_an_access_line_says_what_it_saw_and_what_to_paste_next():
    line = '203.0.113.9 - - [25/Nov/2026:14:46:55 +0000] "GET /cart?sid=s3cr3t HTTP/1.1" 502 157 "-" "curl/8.4.0"'
    result = explain(line)
    (finding,) = result.findings
    assert finding.product == "nginx" and finding.status == 502
    assert finding.confidence <= 0.3  # a lead, never a confident cause
    assert finding.next and "error log" in finding.next
    assert "s3cr3t" not in json.dumps(dataclasses.asdict(finding))
    assert "502" in finding.title and "does not say why" in finding.title
    ok = '203.0.113.9 - - [25/Nov/2026:14:46:55 +0000] "GET / HTTP/1.1" 200 157 "-" "curl/8.4.0"'
    assert explain(ok).findings == ()
    closed = top(ok.replace('" 200 ', '" 499 '))
    assert (closed.cause, closed.next) == ("client_closed", None)


def test_weak_general_matches_are_less_sure_than_specific_ones():
    specific = top(NGINX_REFUSED)
    general = top("proxy error: could not reach backend: Connection refused")
    assert general.cause == specific.cause == "upstream_refused"
    assert general.confidence < specific.confidence


# ------------------------------------------------------- servers the first lab never ran


@pytest.mark.parametrize(
    ("line", "product", "cause"),
    [
        (
            "20261125.14h46m55s CONNECT: attempt fail [CONNECTION_ERROR] to 127.0.0.1:8080 for host='shop' connection_result=ECONNREFUSED [111] error=ECONNREFUSED [111] retry_attempts=0 url='http://shop/?t=s3cr3t'",
            "trafficserver",
            "upstream_refused",
        ),
        (
            "1795618015.123 2 203.0.113.9 ERR_CONNECT_FAIL/502 426 GET http://shop/?t=s3cr3t - DIRECT/127.0.0.1 text/html",
            "trafficserver",
            "upstream_refused",
        ),
        (
            "1795618015.123 1 203.0.113.9 TCP_MISS/503 4012 GET http://shop/?t=s3cr3t - HIER_NONE/- text/html",
            "squid",
            "upstream_refused",
        ),
        ("2026/11/25 14:46:55 kid1| Detected DEAD Parent: origin", "squid", "no_healthy_upstream"),
        (
            "2026-11-25 14:46:55: (gw_backend.c.290) establishing connection failed: socket: tcp:127.0.0.1:9000: Connection refused",
            "lighttpd",
            "upstream_refused",
        ),
        (
            "[lib/core/proxy.c] in request:shop.example/s3cr3t:I/O timeout",
            "h2o",
            "upstream_timeout",
        ),
        (
            "2026-11-25T14:46:55.123+00:00 4101 4102 7f3a WARN (shrpx_http_downstream_connection.cc:1577) [DCONN:0x55d4c2e0] Backend connect failed; addr=127.0.0.1:8080: errno=111",
            "nghttpx",
            "upstream_refused",
        ),
        ("*** HARAKIRI ON WORKER 1 (pid: 2231, try: 1) ***", "uwsgi", "upstream_timeout"),
        (
            'Wed Nov 25 14:46:55 2026 - *** uWSGI listen queue of socket "127.0.0.1:3031" (fd: 3) full !!! (101/100) ***',
            "uwsgi",
            "upstream_overloaded",
        ),
        ("invalid request block size: 4420 (max 4096)...skip", "uwsgi", "upstream_header_too_big"),
        (
            "[25-Nov-2026 14:46:55] WARNING: [pool www] server reached pm.max_children setting (5), consider raising it",
            "php-fpm",
            "upstream_overloaded",
        ),
        (
            "[2026-11-25 14:46:55 +0000] [1] [CRITICAL] WORKER TIMEOUT (pid:17)",
            "gunicorn",
            "upstream_timeout",
        ),
        (
            '2026/11/25 14:46:55 [error] 812#812: *9 shop-app could not be resolved (3: Host not found), client: 203.0.113.9, server: shop, request: "GET /?t=s3cr3t HTTP/1.1", host: "shop"',
            "nginx",
            "upstream_dns",
        ),
        (
            '2026-11-25T14:46:55.119257+00:00 heroku[router]: at=error code=H12 desc="Request timeout" method=GET path="/s3cr3t" host=shop dyno=web.1 connect=0ms service=30000ms status=503 bytes=0',
            "heroku",
            "upstream_timeout",
        ),
    ],
)
def test_servers_the_first_lab_never_ran(line, product, cause):
    result = explain(line)
    finding = result.findings[0]
    assert (finding.product, finding.cause) == (product, cause)
    assert "s3cr3t" not in json.dumps(dataclasses.asdict(finding))


def test_pastes_are_split_into_lines_with_their_wrappings_kept_apart():
    (pasted,) = lines("[pod/kong-7d9c/proxy] 2026/11/25 14:46:55 [error] x")
    assert pasted.prefix == "[pod/kong-7d9c/proxy] "
    assert pasted.line.startswith("2026/11/25")


def test_terminal_colours_are_taken_off():
    coloured = f"\x1b[36mnginx_1  |\x1b[0m {NGINX_REFUSED}"
    assert (top(coloured).product, top(coloured).cause) == ("nginx", "upstream_refused")


def test_an_application_that_cannot_reach_its_database_is_not_a_refused_upstream():
    finding = top("psycopg2.OperationalError: could not connect to server: Connection refused")
    assert finding.cause == "server_error" and finding.confidence <= 0.6
    assert "database" in finding.title


def test_a_caddy_access_line_with_a_5xx_asks_for_its_error_line():
    line = json.dumps(
        {"level": "info", "ts": 1795618015.4, "logger": "http.log.access.log0", "status": 502}
        | {"msg": "handled request"}
    )
    finding = top(line)
    assert (finding.product, finding.status) == ("caddy", 502)
    assert finding.confidence <= 0.3 and "http.log.error" in (finding.next or "")


def test_the_time_a_502_took_tells_a_refused_connect_from_an_answer_that_broke_off():
    line = '203.0.113.9 - - [25/Nov/2026:14:46:55 +0000] "GET / HTTP/1.1" 502 157 "-" "curl" rt={rt} uct="-" uht="-" urt="{rt}"'
    fast, slow = top(line.format(rt="0.001")), top(line.format(rt="30.001"))
    assert (fast.cause, slow.cause) == ("upstream_refused", "upstream_bad_response")
    assert max(fast.confidence, slow.confidence) <= 0.5  # a lead from timing, not a proof


@pytest.mark.parametrize(
    ("line", "cause"),
    [
        ("curl: (7) Failed to connect to shop.example port 443: Connection refused", "tcp_refused"),
        ("curl: (6) Could not resolve host: shop.example", "dns_nxdomain"),
        ("curl: (60) SSL certificate problem: certificate has expired", "tls_expired"),
        ("curl: (52) Empty reply from server", "connection_reset"),
        ("This site can't be reached ... ERR_TOO_MANY_REDIRECTS", "redirect_loop"),
    ],
)
def test_a_client_s_own_error_is_the_site_s_not_an_upstream_s(line, cause):
    finding = top(line)
    assert finding.cause == cause and finding.product == "unknown"
    assert "port its port" not in finding.title  # no placeholder filled with a stand-in
