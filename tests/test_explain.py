"""The pure explainer: log lines in, the causes they prove out.

Lines for products that run here come from the lab (tests/fixtures/logs/, tested in
tests/test_explain_fixtures.py); the ones below are written in each product's own
documented format (the source is in checks/knowledge/logs.toml beside each pattern).
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.explain import ExplainInputError, explain, from_slack, read_bytes, read_text
from checks.explain.engine import MAX_EVIDENCE, MAX_FINDINGS, settling_line
from checks.knowledge import CAUSE_CODES, PRODUCTS
from checks.knowledge.logs import load_logs

NGINX = '2026/11/25 14:46:55 [error] 812#812: *4 {}, client: 203.0.113.9, server: shop, request: "GET /cart?id=1 HTTP/1.1", upstream: "http://10.0.0.7:8080/cart?id=1", host: "shop.example"'
APACHE = "[Wed Nov 25 14:46:55.819761 2026] [{}] [pid 4101:tid 4120] {}"
HAPROXY = '10.1.2.3:51000 [25/Nov/2026:14:46:55.120] fe app/{} {} {} 217 - - {} 1/1/0/0/3 0/0 "GET /cart HTTP/1.1"'
ENVOY = '[2026-11-25T14:46:55.310Z] "GET /api/v1/cart HTTP/2" {} {} 0 19 0 - "10.0.35.28" "curl/8.4.0" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "shop" "10.0.2.1:8080"'
ALB = 'http 2026-11-25T14:46:55.186641Z app/my-lb/50dc6c495c0c9188 192.168.131.39:2817 {} 0.000 {} -1 {} {} 34 366 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/t/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2026-11-25T14:46:55.186000Z "forward" "-" "-" "-" "-" "-" "-"'


def traefik(down: int, origin: int) -> str:
    return json.dumps(
        {
            "ClientHost": "203.0.113.9",
            "DownstreamStatus": down,
            "OriginStatus": origin,
            "RequestPath": "/cart",
            "ServiceAddr": "172.18.0.5:8080",
            "StartUTC": "2026-11-25T14:46:55.123456789Z",
        }
    )


def caddy(msg: str, status: int) -> str:
    return json.dumps(
        {
            "level": "error",
            "ts": 1795618015.4,
            "logger": "http.log.error.log0",
            "msg": msg,
            "status": status,
        }
    )


CASES = [
    # nginx error.log
    (
        NGINX.format("connect() failed (111: Connection refused) while connecting to upstream"),
        "nginx",
        "upstream_refused",
    ),
    (
        NGINX.format("connect() failed (113: No route to host) while connecting to upstream"),
        "nginx",
        "upstream_refused",
    ),
    (
        NGINX.format("connect() failed (110: Connection timed out) while connecting to upstream"),
        "nginx",
        "upstream_timeout",
    ),
    (
        NGINX.format("upstream timed out (110: Connection timed out) while connecting to upstream"),
        "nginx",
        "upstream_timeout",
    ),
    (
        NGINX.format(
            "upstream timed out (110: Connection timed out) while reading response header from upstream"
        ),
        "nginx",
        "upstream_timeout",
    ),
    (
        NGINX.format(
            "upstream prematurely closed connection while reading response header from upstream"
        ),
        "nginx",
        "upstream_bad_response",
    ),
    (
        NGINX.format(
            'upstream sent invalid header: "x\\x20..." while reading response header from upstream'
        ),
        "nginx",
        "upstream_bad_response",
    ),
    (
        NGINX.format("upstream sent too big header while reading response header from upstream"),
        "nginx",
        "upstream_header_too_big",
    ),
    (
        NGINX.format("no live upstreams while connecting to upstream"),
        "nginx",
        "no_healthy_upstream",
    ),
    (
        NGINX.format(
            "SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number) while SSL handshaking to upstream"
        ),
        "nginx",
        "upstream_tls",
    ),
    (
        NGINX.format(
            "upstream SSL certificate verify error: (10:certificate has expired) while SSL handshaking to upstream"
        ),
        "nginx",
        "upstream_tls",
    ),
    (NGINX.format("access forbidden by rule"), "nginx", "forbidden"),
    (NGINX.format('limiting requests, excess: 20.050 by zone "api"'), "nginx", "rate_limited"),
    # Apache error_log (mod_proxy, mod_proxy_fcgi, the MPM)
    (
        APACHE.format(
            "proxy:error",
            "(111)Connection refused: AH00957: http: attempt to connect to 10.0.0.7:8080 (10.0.0.7:8080) failed",
        ),
        "apache",
        "upstream_refused",
    ),
    (
        APACHE.format(
            "proxy_http:error",
            "[client 203.0.113.9:40062] AH01114: HTTP: failed to make connection to backend: 10.0.0.7",
        ),
        "apache",
        "upstream_refused",
    ),
    (
        APACHE.format(
            "proxy:error",
            "(111)Connection refused: AH00957: FCGI: attempt to connect to 127.0.0.1:9000 (127.0.0.1:9000) failed",
        ),
        "apache",
        "upstream_refused",
    ),
    (
        APACHE.format(
            "proxy_fcgi:error",
            "[client 203.0.113.9:40062] AH01079: failed to make connection to backend: 127.0.0.1",
        ),
        "apache",
        "upstream_refused",
    ),
    (
        APACHE.format(
            "proxy_http:error",
            "(70007)The timeout specified has expired: [client 203.0.113.9:40084] AH01102: error reading status line from remote server 10.0.0.7:8080",
        ),
        "apache",
        "upstream_timeout",
    ),
    (
        APACHE.format(
            "proxy_http:error",
            "(104)Connection reset by peer: [client 203.0.113.9:40108] AH01102: error reading status line from remote server 10.0.0.7:8080",
        ),
        "apache",
        "upstream_bad_response",
    ),
    (
        APACHE.format(
            "proxy_http:warn",
            "[client 203.0.113.9:40134] AH01106: bad HTTP/1.1 header returned by /cart?id=1 (GET)",
        ),
        "apache",
        "upstream_bad_response",
    ),
    (
        APACHE.format(
            "proxy_fcgi:error", "[client 203.0.113.9:40134] AH01067: Failed to read FastCGI header"
        ),
        "apache",
        "upstream_bad_response",
    ),
    (
        APACHE.format(
            "mpm_event:error",
            "AH00161: server reached MaxRequestWorkers setting, consider raising the MaxRequestWorkers setting",
        ),
        "apache",
        "service_unavailable",
    ),
    (
        APACHE.format(
            "proxy_balancer:error",
            "[client 203.0.113.9:40152] AH01171: balancer://app: No workers in balancer",
        ),
        "apache",
        "no_healthy_upstream",
    ),
    # HAProxy httplog termination states, <NOSRV>, and events
    (HAPROXY.format("web1", "0/0/-1/-1/3004", 503, "SC--"), "haproxy", "upstream_refused"),
    (HAPROXY.format("web1", "0/0/-1/-1/4004", 503, "sC--"), "haproxy", "upstream_timeout"),
    (HAPROXY.format("web1", "0/0/0/-1/30001", 504, "sH--"), "haproxy", "upstream_timeout"),
    (HAPROXY.format("web1", "0/0/0/-1/0", 502, "SH--"), "haproxy", "upstream_bad_response"),
    (HAPROXY.format("web1", "0/0/0/-1/0", 502, "PH--"), "haproxy", "upstream_bad_response"),
    (HAPROXY.format("web1", "0/0/0/3/240", 200, "CD--"), "haproxy", "client_closed"),
    (HAPROXY.format("<NOSRV>", "0/-1/-1/-1/0", 503, "SC--"), "haproxy", "no_healthy_upstream"),
    (
        'Nov 25 14:46:55 lb1 haproxy[901]: Server app/web1 is DOWN, reason: Layer4 connection problem, info: "Connection refused", check duration: 0ms. 0 active and 0 backup servers left.',
        "haproxy",
        "no_healthy_upstream",
    ),
    (
        'Nov 25 14:46:55 lb1 haproxy[901]: Health check for server app/web1 failed, reason: Layer4 connection problem, info: "Connection refused", check duration: 0ms, status: 0/2 DOWN.',
        "haproxy",
        "upstream_refused",
    ),
    (
        "Nov 25 14:46:55 lb1 haproxy[901]: backend app has no server available!",
        "haproxy",
        "no_healthy_upstream",
    ),
    # Varnish varnishlog FetchError
    (
        "--  FetchError     backend default: fail errno 111 (Connection refused)",
        "varnish",
        "upstream_refused",
    ),
    ("--  FetchError     first byte timeout", "varnish", "upstream_timeout"),
    ("--  FetchError     HTC eof (-1)", "varnish", "upstream_bad_response"),
    ("--  FetchError     backend default: unhealthy", "varnish", "no_healthy_upstream"),
    (
        'Nov 25 14:46:55 lb1 haproxy[901]: 10.1.2.3:51000 [25/Nov/2026:14:46:55.120] fe app/web1 0/0/0/-1/30001 504 194 - - sH-- 1/1/0/0/0 0/0 "GET / HTTP/1.1"',
        "haproxy",
        "upstream_timeout",
    ),
    (
        "  1001 FetchError     b backend default: fail errno 110 (Connection timed out)",
        "varnish",
        "upstream_timeout",
    ),
    # Caddy's JSON error log
    (
        caddy("dial tcp 10.0.0.7:8080: connect: connection refused", 502),
        "caddy",
        "upstream_refused",
    ),
    (caddy("net/http: timeout awaiting response headers", 504), "caddy", "upstream_timeout"),
    (caddy("EOF", 502), "caddy", "upstream_bad_response"),
    (caddy("x509: certificate has expired or is not yet valid", 502), "caddy", "upstream_tls"),
    (caddy("no upstreams available", 503), "caddy", "no_healthy_upstream"),
    # Envoy %RESPONSE_FLAGS%
    (ENVOY.format(503, "UF"), "envoy", "upstream_refused"),
    (ENVOY.format(503, "UF,URX"), "envoy", "upstream_refused"),
    (ENVOY.format(503, "URX"), "envoy", "upstream_refused"),
    (ENVOY.format(503, "UH"), "envoy", "no_healthy_upstream"),
    (ENVOY.format(504, "UT"), "envoy", "upstream_timeout"),
    (ENVOY.format(503, "UC"), "envoy", "upstream_bad_response"),
    (ENVOY.format(404, "NR"), "envoy", "not_found"),
    (ENVOY.format(503, "UO"), "envoy", "service_unavailable"),
    # Traefik's JSON access log
    (traefik(502, 0), "traefik", "upstream_refused"),
    (traefik(504, 0), "traefik", "upstream_timeout"),
    (traefik(503, 0), "traefik", "no_healthy_upstream"),
    (traefik(500, 500), "traefik", "server_error"),
    # PHP-FPM and gunicorn (application servers: named as such)
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
    # AWS ALB: the load balancer's status against the target's
    (ALB.format("-", -1, 503, "-"), "aws_elb", "no_healthy_upstream"),
    (ALB.format("10.0.0.1:80", -1, 504, "-"), "aws_elb", "upstream_timeout"),
    (ALB.format("10.0.0.1:80", -1, 502, "-"), "aws_elb", "upstream_bad_response"),
    (ALB.format("10.0.0.1:80", "0.120", 502, 502), "aws_elb", "server_error"),
    # Cloudflare's 52x, as a page title pasted and as a Logpush record
    ("shop.example | 521: Web server is down", "cloudflare", "upstream_refused"),
    (
        "Error 522 Ray ID: 8e1f2a3b4c5d6e7f • 2026-11-25 14:46:55 UTC Connection timed out",
        "cloudflare",
        "upstream_timeout",
    ),
    ("shop.example | 525: SSL handshake failed", "cloudflare", "upstream_tls"),
    ("520: Web server is returning an unknown error", "cloudflare", "upstream_bad_response"),
    (
        '{"EdgeResponseStatus":524,"EdgeStartTimestamp":1795618015000000000,"OriginIP":"198.51.100.7","OriginResponseStatus":0}',
        "cloudflare",
        "upstream_timeout",
    ),
]


@pytest.mark.parametrize(("line", "product", "cause"), CASES)
def test_each_product_s_line_proves_its_cause(line, product, cause):
    result = explain(line)
    assert (result.lines, result.recognized) == (1, 1)
    (finding,) = result.findings
    assert (finding.product, finding.cause) == (product, cause)
    assert finding.evidence and len(finding.evidence) <= MAX_EVIDENCE
    assert finding.title and finding.explanation and finding.owner


def test_every_pattern_names_a_product_and_cause_of_the_contract_and_its_source():
    logs = load_logs()
    for fmt in logs.formats:
        assert fmt.product in PRODUCTS
        for pattern in logs.patterns[fmt.name]:
            assert pattern.cause in CAUSE_CODES
            assert pattern.source


def test_lines_are_grouped_by_what_they_prove_with_first_and_last_seen():
    lines = [
        '2026/11/25 14:46:55 [error] 1#1: *4 connect() failed (111: Connection refused) while connecting to upstream, client: 1.2.3.4, server: s, request: "GET / HTTP/1.1", upstream: "http://127.0.1.1:9099/", host: "s"',
        "a line nobody knows",
        '2026/11/25 14:47:02 [error] 1#1: *9 connect() failed (111: Connection refused) while connecting to upstream, client: 1.2.3.5, server: s, request: "GET /b HTTP/1.1", upstream: "http://127.0.1.1:9099/b", host: "s"',
        '2026/11/25 14:46:58 [error] 1#1: *7 connect() failed (111: Connection refused) while connecting to upstream, client: 1.2.3.6, server: s, request: "GET /c HTTP/1.1", upstream: "http://127.0.1.1:9099/c", host: "s"',
        '2026/11/25 14:47:00 [error] 1#1: *8 upstream timed out (110: Connection timed out) while reading response header from upstream, client: 1.2.3.6, server: s, request: "GET /d HTTP/1.1", upstream: "http://127.0.1.2:9099/d", host: "s"',
    ]
    result = explain("\n".join(lines))
    assert (result.lines, result.recognized, result.unrecognized) == (5, 4, 1)
    refused, timeout = result.findings
    assert (refused.cause, refused.count, refused.upstream) == (
        "upstream_refused",
        3,
        "127.0.1.1:9099",
    )
    assert (refused.first_seen, refused.last_seen) == ("2026-11-25T14:46:55", "2026-11-25T14:47:02")
    assert (
        refused.evidence
        == "connect() failed (111: Connection refused) while connecting to upstream"
    )
    assert "nginx" in refused.title and refused.status == 502
    assert any("error.log" in step for step in refused.owner)  # nginx's own fix steps first
    assert (timeout.cause, timeout.count, timeout.upstream) == (
        "upstream_timeout",
        1,
        "127.0.1.2:9099",
    )


def test_a_client_that_went_away_is_not_called_a_working_site():
    (finding,) = explain(HAPROXY.format("web1", "0/0/0/3/240", 200, "CD--")).findings
    assert finding.cause == "client_closed"
    assert finding.title == "The client went away; the server side was not at fault"
    assert "works from here" not in finding.explanation


def test_application_servers_are_named_though_the_gateway_is_not():
    (finding,) = explain(
        "[2026-11-25 14:46:55 +0000] [1] [CRITICAL] WORKER TIMEOUT (pid:17)"
    ).findings
    assert (finding.product, finding.log) == ("gunicorn", "gunicorn error log")
    assert finding.title.startswith("gunicorn killed a worker")


def test_unknown_lines_are_counted_not_guessed():
    result = explain("everything is slow today\n502 Bad Gateway\nGET / 200\n")
    assert (result.lines, result.recognized, result.findings) == (3, 0, ())


def test_times_are_read_in_each_product_s_own_clock_format():
    cases = {
        NGINX.format("access forbidden by rule"): "2026-11-25T14:46:55",
        APACHE.format(
            "mpm_event:error", "AH00161: server reached MaxRequestWorkers setting"
        ): "2026-11-25T14:46:55",
        HAPROXY.format("web1", "0/0/-1/-1/3004", 503, "SC--"): "2026-11-25T14:46:55",
        ENVOY.format(503, "UF"): "2026-11-25T14:46:55",
        traefik(502, 0): "2026-11-25T14:46:55",
        caddy("EOF", 502): "2026-11-25T14:46:55",  # epoch seconds, as UTC
        ALB.format("-", -1, 503, "-"): "2026-11-25T14:46:55",
        "[25-Nov-2026 14:46:55] WARNING: [pool www] server reached pm.max_children setting (5)": "2026-11-25T14:46:55",
        "[2026-11-25 14:46:55 +0000] [1] [CRITICAL] WORKER TIMEOUT (pid:17)": "2026-11-25T14:46:55",
    }
    for line, seen in cases.items():
        (finding,) = explain(line).findings
        assert (finding.first_seen, finding.last_seen) == (seen, seen), line


def test_prefixes_quotes_and_code_fences_around_pasted_lines_are_fine():
    line = NGINX.format("no live upstreams while connecting to upstream")
    pasted = f"```\n> Nov 25 14:46:55 web1 nginx[812]: {line}\n```"
    result = explain(pasted)
    assert (result.lines, result.recognized) == (1, 1)
    assert result.findings[0].cause == "no_healthy_upstream"


def test_slack_escaping_is_undone_before_reading():
    escaped = (
        "10.1.2.3:51000 [25/Nov/2026:14:46:55.120] fe app/&lt;NOSRV&gt; 0/-1/-1/-1/0 503 217 - - "
        'SC-- 1/1/0/0/0 0/0 "GET /?a=1&amp;b=2 HTTP/1.1"\n'
        "2026/11/25 14:46:55 [error] 1#1: *4 no live upstreams while connecting to upstream, "
        'client: 1.2.3.4, server: s, request: "GET / HTTP/1.1", upstream: "<http://app/|http://app/>", host: "s"'
    )
    result = explain(from_slack(escaped))
    assert [f.cause for f in result.findings] == ["no_healthy_upstream", "no_healthy_upstream"]
    assert {f.upstream for f in result.findings} == {"app/NOSRV", "app"}


def test_the_settling_line_for_an_ambiguous_verdict_comes_from_the_knowledge():
    assert settling_line("nginx", "upstream_refused") == (
        "connect() failed (111: Connection refused) while connecting to upstream"
    )
    assert settling_line("varnish", "upstream_timeout").startswith("backend r2: fail errno 110")
    assert settling_line("squid", "upstream_refused") == "TCP connection to 127.0.0.1/8080 failed"
    assert settling_line("fastly", "upstream_refused") is None


# ---------------------------------------------------------------------------- privacy

SECRET = "s3cr3tT0k3n"
PRIVATE_LINES = [
    f'2026/11/25 14:46:55 [error] 1#1: *4 connect() failed (111: Connection refused) while connecting to upstream, client: 1.2.3.4, server: s, request: "GET /login?token={SECRET} HTTP/1.1", upstream: "http://user:{SECRET}@10.0.0.7:8080/login?token={SECRET}", host: "s", referrer: "https://s/?session={SECRET}"',
    f'2026/11/25 14:46:55 [error] 1#1: *4 upstream sent invalid header: "Set-Cookie: sid={SECRET}" while reading response header from upstream, client: 1.2.3.4, server: s, request: "GET / HTTP/1.1", upstream: "http://10.0.0.7:8080/", host: "s"',
    f"[Wed Nov 25 14:46:55.819761 2026] [proxy_http:warn] [pid 1:tid 2] [client 1.2.3.4:5] AH01106: bad HTTP/1.1 header returned by /a?key={SECRET} (GET), referer: https://s/?k={SECRET}",
    f"[Wed Nov 25 14:46:55.819761 2026] [proxy:error] [pid 1:tid 2] [client 1.2.3.4:5] AH00898: Error reading from remote server returned by /a?key={SECRET}",
    f'10.1.2.3:51000 [25/Nov/2026:14:46:55.120] fe app/web1 0/0/-1/-1/3004 503 217 sid={SECRET} auth={SECRET} SC-- 1/1/0/0/3 0/0 {{Bearer {SECRET}}} "GET /?token={SECRET} HTTP/1.1"',
    json.dumps(
        {
            "level": "error",
            "ts": 1795618015.4,
            "logger": "http.log.error",
            "msg": "EOF",
            "status": 502,
            "request": {
                "uri": f"/?t={SECRET}",
                "headers": {"Cookie": [f"sid={SECRET}"], "Authorization": [f"Bearer {SECRET}"]},
            },
        }
    ),
    json.dumps(
        {
            "DownstreamStatus": 502,
            "OriginStatus": 0,
            "RequestPath": f"/?t={SECRET}",
            "request_Authorization": f"Bearer {SECRET}",
            "request_Cookie": f"sid={SECRET}",
            "ServiceAddr": "10.0.0.7:8080",
        }
    ),
    f'[2026-11-25T14:46:55.310Z] "GET /api?token={SECRET} HTTP/2" 503 UF 0 19 0 - "10.0.35.28" "curl/8.4.0" "x" "shop" "10.0.2.1:8080"',
    f'http 2026-11-25T14:46:55.186641Z app/lb/1 1.2.3.4:2817 - -1 -1 -1 503 - 34 366 "GET http://s:80/?token={SECRET} HTTP/1.1" "curl/7.46.0" - -',
    f"[25-Nov-2026 14:46:55] WARNING: [pool www] child 2231, script '/var/www/index.php' (request: \"GET /index.php?token={SECRET}\") execution timed out (30.012 sec), terminating",
]


@pytest.mark.parametrize("line", PRIVATE_LINES)
def test_the_answer_quotes_the_proof_never_tokens_cookies_queries_or_request_lines(line):
    result = explain(line)
    assert result.recognized == 1
    assert SECRET not in json.dumps([dataclasses.asdict(f) for f in result.findings])
    quoted = " ".join(f"{f.evidence} {f.upstream}" for f in result.findings)
    assert "GET " not in quoted and "?" not in quoted


# ------------------------------------------------------------------- hostile input


def test_ten_thousand_lines_give_a_bounded_answer():
    lines = [
        f"--  FetchError     backend b{i}: fail errno 111 (Connection refused)"
        for i in range(10_000)
    ]
    result = explain(read_text("\n".join(lines)))
    assert (result.lines, result.recognized) == (10_000, 10_000)
    assert len(result.findings) == MAX_FINDINGS
    assert result.more_findings == 10_000 - MAX_FINDINGS


def test_json_nested_past_the_parser_s_depth_is_just_an_unknown_line():
    result = explain('{"a":' * 5000 + "1" + "}" * 5000)
    assert (result.lines, result.recognized) == (1, 0)


def test_one_mebibyte_of_one_line_is_read_without_a_finding():
    text = read_bytes(b"a" * (1024 * 1024))
    assert (explain(text).lines, explain(text).recognized) == (1, 0)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "no log lines given"),
        (b" \n\t\n", "no log lines given"),
        (b"a" * (1024 * 1024 + 1), "over the 1 MiB limit"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", "binary"),
        (bytes(range(1, 32)) * 50, "looks binary"),
    ],
)
def test_unusable_input_is_refused_in_one_line(data, reason):
    with pytest.raises(ExplainInputError, match=reason) as caught:
        read_bytes(data)
    assert "\n" not in str(caught.value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=3000) | st.binary(max_size=3000).map(lambda b: b.decode("latin-1")))
def test_any_text_gives_a_bounded_result_never_an_exception(text):
    try:
        text = read_text(text)
    except ExplainInputError:
        return
    result = explain(text)
    assert 0 <= result.recognized <= result.lines
    assert len(result.findings) <= MAX_FINDINGS
    assert sum(f.count for f in result.findings) <= result.recognized
    for finding in result.findings:
        assert len(finding.evidence) <= MAX_EVIDENCE
        assert not any(ord(ch) < 32 for ch in finding.evidence + (finding.upstream or ""))


_REAL = [line for line, _, _ in CASES]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(_REAL), min_size=1, max_size=5),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40),
)
def test_real_lines_with_junk_around_them_never_break_the_explainer(lines, junk):
    text = "\n".join(junk + line + junk[::-1] for line in lines)
    try:
        text = read_text(text)
    except ExplainInputError:
        return
    result = explain(text)
    assert result.lines >= 1 and len(result.findings) <= MAX_FINDINGS
