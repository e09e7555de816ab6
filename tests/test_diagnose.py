"""The pure diagnosis: evidence in, ranked causes out.

Real servers cover what loopback can produce; here the evidence of CDNs and
platforms that cannot run here is written down as their documented answers
(from the products' own documentation), and every cause code (docs/reference.md) is
shown to be reachable.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.render.as_json import to_dict
from checks.diagnose import diagnose
from checks.knowledge import CAUSE_CODES, PRODUCTS, load
from checks.models import (
    Certificate,
    DnsAnswer,
    DnsResult,
    Ending,
    ErrorKind,
    Evidence,
    HttpSample,
    TcpAttempt,
    Timings,
    TlsResult,
)
from checks.target import parse_target

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ADDRESS = "203.0.113.10"


def evidence(
    *samples: HttpSample,
    tcp: tuple[TcpAttempt, ...] | None = None,
    tls: TlsResult | None = None,
    dns: DnsResult | None = None,
    target: str = "https://site.example/",
) -> Evidence:
    parsed = parse_target(target)
    dns = dns or DnsResult(name=parsed.host, answers=(DnsAnswer("system", (ADDRESS,)),))
    if tcp is None:
        tcp = (TcpAttempt(ADDRESS, parsed.port, ms=10.0),)
    return Evidence(target=parsed, dns=dns, tcp=tcp, tls=tls, http=samples, checked_at=NOW)


def response(
    status: int,
    body: str = "",
    headers: dict[str, str] | None = None,
    address: str = ADDRESS,
    first_byte_ms: float = 40.0,
    reason: str = "",
) -> HttpSample:
    return HttpSample(
        address=address,
        url="https://site.example/",
        status=status,
        reason=reason,
        headers=tuple((headers or {}).items()),
        body=body,
        timings=Timings(connect_ms=10.0, first_byte_ms=first_byte_ms, total_ms=first_byte_ms + 1),
    )


def failure(kind: ErrorKind, detail: str = "", address: str = ADDRESS) -> HttpSample:
    return HttpSample(address=address, url="https://site.example/", error=kind, detail=detail)


NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n"
    "</body>\r\n</html>\r\n"
)
# Apache Traffic Server 9.2.9's body_factory page for a name it cannot resolve
ATS_DNS = (
    "<HTML>\n<HEAD>\n<TITLE>Unknown Host</TITLE>\n</HEAD>\n\n"
    '<BODY BGCOLOR="white" FGCOLOR="black">\n<H1>Unknown Host</H1>\n<HR>\n\n'
    '<FONT FACE="Helvetica,Arial"><B>\nDescription: Unable to locate the server requested ---\n'
    "the server does not have a DNS entry.  Perhaps there is a misspelling\n"
    "in the server name, or the server no longer exists.  Double-check the\n"
    "name and try again.\n</B></FONT>\n<HR>\n</BODY>\n"
)
ALB_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)


def top(ev: Evidence) -> str:
    return diagnose(ev).cause.code


def test_the_knowledge_covers_the_contract():
    knowledge = load()
    assert set(knowledge.causes) == set(CAUSE_CODES)
    assert set(knowledge.products) == set(PRODUCTS)
    for cause in knowledge.causes.values():
        assert cause.title and cause.explanation and cause.owner and cause.visitor


@pytest.mark.parametrize(
    ("ev", "code"),
    [
        (
            evidence(dns=DnsResult("site.example", (DnsAnswer("s", error=ErrorKind.NXDOMAIN),))),
            "dns_nxdomain",
        ),
        (
            evidence(dns=DnsResult("site.example", (DnsAnswer("s", error=ErrorKind.NO_ADDRESS),))),
            "dns_no_address",
        ),
        (
            evidence(dns=DnsResult("site.example", (DnsAnswer("s", error=ErrorKind.SERVFAIL),))),
            "dns_servfail",
        ),
        (
            evidence(dns=DnsResult("site.example", (DnsAnswer("s", error=ErrorKind.DNS_TIMEOUT),))),
            "dns_timeout",
        ),
        (
            evidence(
                response(200),
                dns=DnsResult(
                    "site.example", (DnsAnswer("a", (ADDRESS,)), DnsAnswer("b", ("198.51.100.1",)))
                ),
            ),
            "dns_mismatch",
        ),
        (
            evidence(
                failure(ErrorKind.REFUSED), tcp=(TcpAttempt(ADDRESS, 443, error=ErrorKind.REFUSED),)
            ),
            "tcp_refused",
        ),
        (
            evidence(
                failure(ErrorKind.TIMEOUT), tcp=(TcpAttempt(ADDRESS, 443, error=ErrorKind.TIMEOUT),)
            ),
            "tcp_timeout",
        ),
        (
            evidence(
                failure(ErrorKind.UNREACHABLE),
                tcp=(TcpAttempt(ADDRESS, 443, error=ErrorKind.UNREACHABLE),),
            ),
            "tcp_unreachable",
        ),
        (evidence(failure(ErrorKind.RESET)), "connection_reset"),
        (
            evidence(
                response(200),
                tls=TlsResult(ADDRESS, 443, "site.example", error=ErrorKind.TLS_EXPIRED),
            ),
            "tls_expired",
        ),
        (
            evidence(
                response(200),
                tls=TlsResult(ADDRESS, 443, "site.example", error=ErrorKind.TLS_HOSTNAME),
            ),
            "tls_hostname_mismatch",
        ),
        (
            evidence(
                response(200),
                tls=TlsResult(ADDRESS, 443, "site.example", error=ErrorKind.TLS_UNTRUSTED),
            ),
            "tls_untrusted",
        ),
        (
            evidence(
                failure(ErrorKind.TLS_HANDSHAKE),
                tls=TlsResult(ADDRESS, 443, "site.example", error=ErrorKind.TLS_HANDSHAKE),
            ),
            "tls_handshake_failed",
        ),
        (evidence(failure(ErrorKind.NO_RESPONSE)), "response_timeout"),
        (evidence(response(502, NGINX_502, {"Server": "nginx/1.22.1"})), "upstream_refused"),
        (evidence(response(504, "", {"Server": "nginx"})), "upstream_timeout"),
        (
            evidence(
                response(
                    502,
                    "<html><body><h1>502 Bad Gateway</h1>\nThe server returned an "
                    "invalid or incomplete response.\n</body></html>",
                )
            ),
            "upstream_bad_response",
        ),
        (
            evidence(response(526, "", {"Server": "cloudflare", "CF-RAY": "8a1b2c3d4e5f-AMS"})),
            "upstream_tls",
        ),
        (
            evidence(response(503, "no healthy upstream", {"server": "envoy"})),
            "no_healthy_upstream",
        ),
        (evidence(response(503, "", {"Retry-After": "600"})), "service_unavailable"),
        (evidence(response(429)), "rate_limited"),
        (evidence(response(200), response(502, address="203.0.113.11")), "partial_outage"),
        (evidence(response(500)), "server_error"),
        (evidence(response(501)), "not_implemented"),
        (evidence(response(403)), "forbidden"),
        (evidence(response(404)), "not_found"),
        (evidence(failure(ErrorKind.REDIRECT_LOOP)), "redirect_loop"),
        (evidence(response(200, first_byte_ms=4000)), "slow_response"),
        (evidence(response(200)), "healthy"),
        (
            evidence(response(500, ATS_DNS, {"Server": "ATS/9.2.9"}, reason="Cannot find server.")),
            "upstream_dns",
        ),
        (
            # Phusion Passenger's own 503 when its request queue overflows
            evidence(
                response(
                    503,
                    "<h1>This website is under heavy load (queue full)</h1><p>We're sorry, too "
                    "many people are accessing this website at the same time.</p>",
                    {"Server": "nginx/1.24.0 + Phusion Passenger 6.0.18"},
                )
            ),
            "upstream_overloaded",
        ),
        (
            evidence(response(502, "upstream response header too large", {"Server": "edge"})),
            "upstream_header_too_big",
        ),
    ],
)
def test_every_cause_code_is_reachable(ev, code):
    assert top(ev) == code


# client_closed is a log-only cause: a check is the client, it never gives up on itself.
LOG_ONLY = {"client_closed"}


def test_all_codes_are_covered_by_the_table_above():
    params = test_every_cause_code_is_reachable.pytestmark[0].args[1]
    assert {code for _, code in params} == set(CAUSE_CODES) - LOG_ONLY


@pytest.mark.parametrize(
    ("status", "headers", "body", "product", "code"),
    [
        (
            521,
            {"Server": "cloudflare", "CF-RAY": "8a1-AMS"},
            "<title>site.example | 521: Web server is down</title> Cloudflare Ray ID: 8a1",
            "cloudflare",
            "upstream_refused",
        ),
        (522, {"Server": "cloudflare", "CF-RAY": "8a1-AMS"}, "", "cloudflare", "upstream_timeout"),
        (
            520,
            {"Server": "cloudflare", "CF-RAY": "8a1-AMS"},
            "",
            "cloudflare",
            "upstream_bad_response",
        ),
        (502, {"Server": "awselb/2.0"}, ALB_502, "aws_elb", "upstream_bad_response"),
        (503, {"Server": "awselb/2.0"}, "", "aws_elb", "no_healthy_upstream"),
        (
            504,
            {
                "Server": "CloudFront",
                "X-Cache": "Error from cloudfront",
                "Via": "1.1 abc.cloudfront.net (CloudFront)",
            },
            "Generated by cloudfront (CloudFront)",
            "cloudfront",
            "upstream_timeout",
        ),
        (
            503,
            {"Via": "1.1 vegur"},
            "Application Error ... heroku logs --tail",
            "heroku",
            "upstream_refused",
        ),
        (
            504,
            {"Server": "Vercel", "X-Vercel-Error": "FUNCTION_INVOCATION_TIMEOUT"},
            "",
            "vercel",
            "upstream_timeout",
        ),
        (
            503,
            {"X-Served-By": "cache-ams21", "X-Fastly-Request-Id": "1"},
            "Error 503 Backend is unhealthy",
            "fastly",
            "no_healthy_upstream",
        ),
        (
            503,
            {"Server": "squid/5.7", "X-Squid-Error": "ERR_CONNECT_FAIL 111"},
            "",
            "squid",
            "upstream_refused",
        ),
        (
            503,
            {"server": "envoy"},
            "upstream connect error or disconnect/reset before headers. reset reason: "
            "connection failure",
            "envoy",
            "upstream_refused",
        ),
        (
            502,
            {"Server": "Microsoft-IIS/10.0"},
            "HTTP Error 502.3 - Bad Gateway 0x80072ee2",
            "iis",
            "upstream_timeout",
        ),
        (502, {"Server": "Fly/1a2b"}, "", "fly", "upstream_refused"),
        (
            503,
            {"x-azure-ref": "0abc"},
            "Our services aren't available right now",
            "azure",
            "upstream_refused",
        ),
        (504, {"Server": "AkamaiGHost"}, "Reference #18.1", "akamai", "upstream_timeout"),
        (502, {"Via": "1.1 google"}, "That’s an error.", "gcp_lb", "upstream_refused"),
        (
            502,
            {"Server": "Netlify", "x-nf-request-id": "1"},
            "",
            "netlify",
            "upstream_bad_response",
        ),
    ],
)
def test_documented_answers_of_cdns_and_platforms(status, headers, body, product, code):
    result = diagnose(evidence(response(status, body, headers)))
    assert result.product == product
    assert result.cause.code == code


def test_the_alb_page_that_looks_like_nginx_is_not_named_nginx():
    result = diagnose(evidence(response(502, ALB_502, {"Server": "awselb/2.0"})))
    assert result.product == "aws_elb"


def test_nginx_page_passed_through_cloudflare_names_both_hops():
    result = diagnose(
        evidence(response(502, NGINX_502, {"Server": "cloudflare", "CF-RAY": "8a1-AMS"}))
    )
    assert result.product == "nginx"
    assert result.front == "cloudflare"


def test_varnish_503_is_read_by_how_long_it_took():
    headers = {"X-Varnish": "32770", "Via": "1.1 varnish (Varnish/7.1)"}
    body = "<h1>Error 503 Backend fetch failed</h1><p>Guru Meditation:</p>"
    fast = diagnose(evidence(response(503, body, headers, first_byte_ms=3)))
    slow = diagnose(evidence(response(503, body, headers, first_byte_ms=1005)))
    assert fast.cause.code == "upstream_refused"
    assert slow.cause.code == "upstream_timeout"


def test_apache_answers_503_when_its_backend_refuses():
    body = (
        "<title>503 Service Unavailable</title><p>The server is temporarily unable to "
        "service your request due to maintenance downtime or capacity problems.</p>"
        "<address>Apache/2.4.66 (Debian) Server at site.example Port 80</address>"
    )
    result = diagnose(evidence(response(503, body, {"Server": "Apache/2.4.66 (Debian)"})))
    assert result.product == "apache"
    assert result.cause.code == "upstream_refused"


def test_a_502_that_comes_and_goes_is_a_bad_pool_member():
    result = diagnose(
        evidence(response(200), response(502, NGINX_502, {"Server": "nginx"}), response(200))
    )
    assert result.cause.code == "partial_outage"
    assert result.status == "degraded"
    assert "upstream_refused" in [c.code for c in result.causes]


def test_owner_fixes_are_written_for_the_product_that_answered():
    result = diagnose(evidence(response(502, NGINX_502, {"Server": "nginx/1.22.1"})))
    owner = " ".join(result.cause.owner)
    assert "error.log" in owner


def test_the_notes_people_ask_for_come_with_a_502():
    result = diagnose(evidence(response(502, NGINX_502, {"Server": "nginx"})))
    titles = " ".join(n.title.lower() for n in result.notes)
    texts = " ".join(n.text for n in result.notes)
    assert "hack" in titles
    assert "search" in titles or "seo" in titles
    for code in ("504", "503"):
        assert code in texts


def test_a_certificate_about_to_expire_is_a_warning_not_a_failure():
    cert = Certificate(
        subject="CN=site.example",
        issuer="CN=CA",
        sans=("site.example",),
        not_before=NOW - timedelta(days=80),
        not_after=NOW + timedelta(days=5),
        self_signed=False,
    )
    tls = TlsResult(ADDRESS, 443, "site.example", certificate=cert, version="TLSv1.3")
    result = diagnose(evidence(response(200), tls=tls))
    assert result.status == "healthy"
    assert any("expires in 4 days" in w or "expires in 5 days" in w for w in result.warnings)


def test_the_json_contract():
    data = to_dict(diagnose(evidence(response(502, NGINX_502, {"Server": "nginx/1.22.1"}))))
    assert data["schema"] == 1
    assert set(data["target"]) >= {"input", "url", "scheme", "host", "port"}
    assert set(data["verdict"]) >= {"status", "cause", "confidence", "summary"}
    assert data["verdict"]["status"] in ("healthy", "degraded", "down")
    assert data["causes"] and data["causes"][0]["code"] == data["verdict"]["cause"]
    for cause in data["causes"]:
        assert set(cause) >= {"code", "confidence", "title", "explanation", "evidence", "fixes"}
        assert cause["code"] in CAUSE_CODES
        assert isinstance(cause["confidence"], float) and 0 < cause["confidence"] <= 1
        assert set(cause["fixes"]) == {"owner", "visitor"}
        assert all(isinstance(s, str) for s in cause["fixes"]["owner"] + cause["evidence"])
    confidences = [c["confidence"] for c in data["causes"]]
    assert confidences == sorted(confidences, reverse=True)
    assert data["gateway"]["product"] == "nginx"
    assert "Server: nginx/1.22.1" in data["gateway"]["evidence"]
    assert data["http"] == {**data["http"], "status": 502, "samples": [502]}
    assert isinstance(data["duration_ms"], int)
    assert data["verdict"]["summary"].startswith("nginx answered 502")


def test_a_machine_without_ipv6_does_not_call_dual_stack_sites_partially_down():
    v6 = "2001:db8::10"
    ev = evidence(
        response(200),
        failure(ErrorKind.NO_ROUTE, "ENETUNREACH", address=v6),
        response(200),
        tcp=(
            TcpAttempt(ADDRESS, 443, ms=3.0),
            TcpAttempt(v6, 443, error=ErrorKind.NO_ROUTE, detail="ENETUNREACH"),
        ),
    )
    result = diagnose(ev)
    assert result.cause.code == "healthy" and result.status == "healthy"
    assert any("no IPv6 route" in w and v6 in w for w in result.warnings)
    # the attempt is still shown in what was checked
    assert any(v6 in line for step in result.steps for line in step.lines)


def test_an_ipv6_address_that_is_really_unreachable_still_counts():
    v6 = "2001:db8::10"
    ev = evidence(
        response(200),
        failure(ErrorKind.UNREACHABLE, "EHOSTUNREACH", address=v6),
        tcp=(
            TcpAttempt(ADDRESS, 443, ms=3.0),
            TcpAttempt(v6, 443, error=ErrorKind.UNREACHABLE, detail="EHOSTUNREACH"),
        ),
    )
    assert diagnose(ev).cause.code == "partial_outage"


# --- general evidence: what a product no rule knows still says ---------------------------


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("Connection refused", "upstream_refused"),
        ("Connection Timed Out", "upstream_timeout"),
        ("Invalid HTTP Response", "upstream_bad_response"),
        ("Malformed Server Response Status", "upstream_bad_response"),
        ("Cannot find server.", "upstream_dns"),
    ],
)
def test_a_reason_phrase_that_names_the_cause_is_read_whoever_sent_it(reason, code):
    status = 504 if "Timed" in reason else 502
    result = diagnose(
        evidence(response(status, "", {"Server": "mystery-proxy/1.0"}, reason=reason))
    )
    assert result.product == "unknown"
    assert result.cause.code == code
    assert any(reason in line for line in result.cause.evidence)


def test_a_plain_reason_phrase_says_nothing_more():
    plain = diagnose(evidence(response(502, "", reason="Bad Gateway")))
    assert plain.cause.code == "upstream_refused"
    assert plain.cause.confidence < 0.6, "a bare 502 is thin evidence"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("connection failed", "upstream_refused"),
        ("I/O timeout", "upstream_timeout"),
        ("I/O error (head)", "upstream_bad_response"),
        ("failed to parse the response", "upstream_bad_response"),
        ("Name or service not known", "upstream_dns"),
    ],
)
def test_h2o_one_line_pages_name_the_cause(body, code):
    headers = {"Server": "h2o/2.2.5", "content-type": "text/plain; charset=utf-8"}
    result = diagnose(evidence(response(502, body, headers, reason="Gateway Error")))
    assert result.product == "h2o"
    assert result.cause.code == code


def test_an_applications_long_500_page_mentioning_a_refusal_stays_its_own_error():
    trace = "Traceback (most recent call last): " + "frame line " * 60
    body = f"<h1>Server Error</h1><pre>{trace} psycopg2.OperationalError: connection refused</pre>"
    assert top(evidence(response(500, body))) == "server_error"


def test_a_slow_502_is_a_timeout_or_a_killed_worker_not_a_refusal():
    """PHP-FPM request_terminate_timeout, uWSGI harakiri, gunicorn WORKER TIMEOUT: nginx
    sees the upstream close after seconds and answers its stock 502."""
    headers = {"Server": "nginx/1.22.1"}
    slow = diagnose(evidence(*(response(502, NGINX_502, headers, first_byte_ms=2400),) * 3))
    fast = diagnose(evidence(*(response(502, NGINX_502, headers, first_byte_ms=12),) * 3))
    assert slow.cause.code == "upstream_timeout"
    assert [c.code for c in slow.causes][:2] == ["upstream_timeout", "upstream_overloaded"]
    assert any("2.4 s" in line for line in slow.cause.evidence)
    assert fast.cause.code == "upstream_refused"
    assert "upstream_timeout" not in [c.code for c in fast.causes]


def test_one_slow_sample_among_fast_ones_does_not_make_a_timeout():
    headers = {"Server": "nginx/1.22.1"}
    samples = [response(502, NGINX_502, headers, first_byte_ms=ms) for ms in (12, 1500, 14)]
    assert top(evidence(*samples)) == "upstream_refused"


def test_a_slow_answer_far_away_is_not_a_timeout_by_itself():
    """The wait is counted after connect: 1 s of round trips is not a slow upstream."""
    sample = HttpSample(
        address=ADDRESS,
        url="https://site.example/",
        status=502,
        headers=(("Server", "nginx"),),
        body=NGINX_502,
        timings=Timings(connect_ms=400.0, tls_ms=800.0, first_byte_ms=1650.0),
    )
    assert top(evidence(sample)) == "upstream_refused"


@pytest.mark.parametrize(
    ("headers", "product"),
    [
        ({"Server": "lighttpd/1.4.69"}, "lighttpd"),
        ({"Server": "h2o/2.2.5"}, "h2o"),
        ({"Server": "nghttpx"}, "nghttpx"),
        ({"Server": "ATS/9.2.9"}, "trafficserver"),
        ({"Via": "http/1.1 traffic_server (ApacheTrafficServer/9.2.9 [c sEf ])"}, "trafficserver"),
    ],
)
def test_a_bare_503_from_a_proxy_is_its_upstream_failing_not_maintenance(headers, product):
    page = (
        "<html><head><title>503 Service Unavailable</title></head>"
        "<body><h1>503 Service Unavailable</h1></body></html>"
    )
    result = diagnose(evidence(response(503, page, headers)))
    assert result.product == product
    assert result.cause.code == "upstream_refused"
    with_retry = diagnose(evidence(response(503, page, {**headers, "Retry-After": "120"})))
    assert with_retry.cause.code == "service_unavailable"


def test_a_503_the_application_wrote_is_still_its_own():
    page = "<h1>We'll be back soon</h1><p>Scheduled maintenance until 14:00 UTC.</p>"
    assert top(evidence(response(503, page, {"Server": "h2o/2.2.5"}))) == "service_unavailable"


def test_lighttpd_500_page_is_its_backend_failing():
    page = (
        '<?xml version="1.0" encoding="iso-8859-1"?>\n<!DOCTYPE html>\n<html><head><title>'
        "500 Internal Server Error</title></head><body><h1>500 Internal Server Error</h1>"
        "</body></html>"
    )
    headers = {"Server": "lighttpd/1.4.69"}
    assert top(evidence(response(500, page, headers, first_byte_ms=5))) == "upstream_bad_response"
    assert top(evidence(response(500, page, headers, first_byte_ms=2200))) == "upstream_timeout"
    # PHP's own fatal error relayed by lighttpd: an empty body, the application's fault
    assert top(evidence(response(500, "", headers))) == "server_error"


def test_an_unnamed_product_keeps_its_own_headers_as_evidence():
    result = diagnose(evidence(response(502, "", {"Server": "mystery-proxy/1.0"})))
    assert result.product == "unknown"
    assert "Server: mystery-proxy/1.0" in result.product_evidence


def test_no_answer_while_other_attempts_got_a_gateway_page_is_the_upstream():
    headers = {"Server": "nginx/1.22.1"}
    slow = response(502, NGINX_502, headers, first_byte_ms=2000)
    result = diagnose(evidence(slow, slow, failure(ErrorKind.NO_RESPONSE, "no response")))
    assert result.cause.code == "upstream_timeout"
    alone = diagnose(evidence(failure(ErrorKind.NO_RESPONSE, "no response")))
    assert alone.cause.code == "response_timeout"


def test_which_side_closed_and_how_is_evidence():
    closed = HttpSample(
        address=ADDRESS,
        url="https://site.example/",
        error=ErrorKind.RESET,
        detail="the server closed the connection without sending a byte",
        ending=Ending.CLOSED,
    )
    reset = HttpSample(
        address=ADDRESS, url="https://site.example/", error=ErrorKind.RESET, ending=Ending.RESET
    )
    assert any("cleanly" in line for line in diagnose(evidence(closed)).cause.evidence)
    assert any("(RST)" in line for line in diagnose(evidence(reset)).cause.evidence)


@pytest.mark.parametrize(
    ("headers", "reason", "body"),
    [
        ({"Server": "ATS/9.2.9"}, "Malformed Server Response Status", ""),
        ({"Server": "h2o/2.2.5"}, "Gateway Error", "I/O error (head)"),
        (
            {"Server": "squid/5.7", "X-Squid-Error": "ERR_ZERO_SIZE_OBJECT 0"},
            "Bad Gateway",
            "<p><b>Zero Sized Reply</b></p>",
        ),
    ],
)
def test_a_broken_answer_after_seconds_is_a_worker_killed_at_its_limit(headers, reason, body):
    """gunicorn's WORKER TIMEOUT behind each: the gateway says "closed" or "empty", the
    time says the worker was killed (lab: 2.4-3 s)."""
    slow = diagnose(evidence(response(502, body, headers, first_byte_ms=2500, reason=reason)))
    fast = diagnose(evidence(response(502, body, headers, first_byte_ms=15, reason=reason)))
    assert slow.cause.code == "upstream_timeout"
    assert fast.cause.code == "upstream_bad_response"


@pytest.mark.parametrize(
    ("headers", "product"),
    [
        ({"Via": "1.1 edge-7 (lighttpd)"}, "lighttpd"),
        ({"X-Powered-By": "gunicorn"}, "gunicorn"),
        ({"Server": "Traefik"}, "traefik"),
    ],
)
def test_a_product_that_names_itself_in_a_header_is_named(headers, product):
    assert diagnose(evidence(response(502, "", headers))).product == product


def test_a_status_a_product_is_sure_of_is_not_overruled_by_a_word_on_its_page():
    """A site's one custom page for every 5xx names all failures; nginx's 504 decides."""
    page = (
        "<h1>Sorry, something went wrong</h1><p>Our servers are having trouble right now. "
        "This can happen when the application is restarting (connection refused), "
        "or when a page takes too long. Please try again in a few minutes. If the problem "
        "persists, write to support with the time of the error and what you were doing, "
        "and we will look into it as soon as we can. Thank you for your patience.</p>"
    )
    result = diagnose(evidence(response(504, page, {"Server": "nginx/1.22.1"})))
    assert result.cause.code == "upstream_timeout"


def test_a_200_whose_body_is_cut_short_by_the_server_is_not_working():
    cut = HttpSample(
        address=ADDRESS,
        url="https://site.example/",
        status=200,
        body="<html><body>half a pa",
        body_truncated=True,
        ending=Ending.RESET,
        timings=Timings(connect_ms=10.0, first_byte_ms=40.0, total_ms=45.0),
    )
    result = diagnose(evidence(cut))
    assert result.cause.code == "upstream_bad_response"
    assert any("middle of the body" in line for line in result.cause.evidence)
    capped = HttpSample(
        address=ADDRESS,
        url="https://site.example/",
        status=200,
        body="x" * 100,
        body_truncated=True,  # the check's own cap: nothing wrong with the site
        timings=Timings(connect_ms=10.0, first_byte_ms=40.0, total_ms=45.0),
    )
    assert diagnose(evidence(capped)).cause.code == "healthy"


def test_a_bare_503_that_took_seconds_is_a_timeout():
    page = "<title>503 Service Unavailable</title><h1>503 Service Unavailable</h1>"
    headers = {"Server": "lighttpd/1.4.69"}
    result = diagnose(evidence(response(503, page, headers, first_byte_ms=2500)))
    assert result.cause.code == "upstream_timeout"
    assert result.cause.confidence > result.causes[1].confidence + 0.2


@settings(max_examples=200, deadline=None)
@given(
    status=st.integers(min_value=500, max_value=599),
    reason=st.text(max_size=80),
    body=st.text(max_size=2000),
    waited=st.floats(min_value=0, max_value=60_000, allow_nan=False),
)
def test_any_reason_page_and_time_give_a_ranked_calibrated_answer(status, reason, body, waited):
    result = diagnose(evidence(response(status, body, first_byte_ms=10 + waited, reason=reason)))
    confidences = [c.confidence for c in result.causes]
    assert confidences == sorted(confidences, reverse=True)
    assert all(0 < c <= 0.99 for c in confidences)
    assert result.status in ("down", "degraded")  # degraded: a page that says "rate limit"
