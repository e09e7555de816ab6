"""DNS failures, told apart, against a real DNS server on a loopback port."""

import time

from tests.conftest import check_json
from tests.servers.dns_server import DnsServer
from tests.servers.misbehave import Behaviour, serve


def test_a_name_that_does_not_exist(dns_server):
    dns_server.nxdomain("gone.test")
    result = check_json("gone.test", "--resolver", dns_server.address)
    assert result.code == 1
    assert result.cause == "dns_nxdomain"
    assert result.json["verdict"]["status"] == "down"
    assert result.json["gateway"]["product"] is None
    assert result.json["http"] == {"status": None, "samples": [], "attempts": []}
    assert "NXDOMAIN" in " ".join(result.json["causes"][0]["evidence"])


def test_a_name_without_addresses(dns_server):
    dns_server.nodata("empty.test")
    result = check_json("empty.test", "--resolver", dns_server.address)
    assert result.cause == "dns_no_address"


def test_servfail(dns_server):
    dns_server.servfail("broken.test")
    result = check_json("broken.test", "--resolver", dns_server.address)
    assert result.cause == "dns_servfail"


def test_a_resolver_that_never_answers_keeps_the_deadline(dns_server):
    dns_server.drop("silent.test")
    started = time.perf_counter()
    result = check_json("silent.test", "--resolver", dns_server.address, "--timeout", "2")
    elapsed = time.perf_counter() - started
    assert result.cause == "dns_timeout"
    assert elapsed < 2.0 + 0.5
    assert result.json["duration_ms"] <= 2000


def test_the_cname_chain_is_shown(dns_server):
    with serve(Behaviour.OK) as site:
        dns_server.add_cname("www.site.test", "edge.cdn.test")
        dns_server.add_a("edge.cdn.test", "127.0.0.1")
        result = check_json(f"http://www.site.test:{site.port}/", "--resolver", dns_server.address)
    assert result.code == 0 and result.cause == "healthy"
    assert result.json["dns"]["cnames"] == ["edge.cdn.test"]
    assert result.json["dns"]["addresses"] == ["127.0.0.1"]
    dns_step = result.json["checks"][0]
    assert dns_step["layer"] == "dns" and "CNAME edge.cdn.test" in " ".join(dns_step["lines"])


def test_resolvers_that_disagree(dns_server):
    with serve(Behaviour.OK) as site, DnsServer() as other:
        dns_server.add_a("moved.test", "127.0.0.1")
        other.add_a("moved.test", "127.0.0.2")
        result = check_json(
            f"http://moved.test:{site.port}/",
            "--resolver",
            dns_server.address,
            "--resolver",
            other.address,
        )
    assert "dns_mismatch" in result.codes
    evidence = " ".join(
        next(c for c in result.json["causes"] if c["code"] == "dns_mismatch")["evidence"]
    )
    assert "127.0.0.1" in evidence and "127.0.0.2" in evidence


def test_one_resolver_knows_the_name_and_the_other_does_not(dns_server):
    with serve(Behaviour.OK) as site, DnsServer() as other:
        dns_server.add_a("new.test", "127.0.0.1")
        other.nxdomain("new.test")
        result = check_json(
            f"http://new.test:{site.port}/",
            "--resolver",
            dns_server.address,
            "--resolver",
            other.address,
        )
    assert result.cause == "dns_mismatch"
    assert result.json["verdict"]["status"] == "degraded"


def test_resolvers_from_the_environment(dns_server):
    from tests.conftest import run_cli

    dns_server.nxdomain("gone.test")
    result = run_cli("check", "gone.test", "--json", env={"GATEWAY_RESOLVERS": dns_server.address})
    assert result.cause == "dns_nxdomain"
    assert ("gone.test", "A") in dns_server.queries
