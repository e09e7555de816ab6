"""The SSRF guard: private and metadata targets are refused unless allowed."""

import pytest

from checks.guard import address_class
from tests.conftest import run_cli
from tests.servers.misbehave import Behaviour, serve


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("169.254.10.10", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.100.100.200", "cloud metadata"),
        ("::ffff:127.0.0.1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
    ],
)
def test_non_public_addresses_are_classified(address, kind):
    assert address_class(address) == kind


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::6810:85e5", "1.1.1.1"])
def test_public_addresses_pass(address):
    assert address_class(address) is None


def test_a_loopback_target_is_refused_by_default_and_allowed_with_the_flag():
    with serve(Behaviour.OK) as site:
        refused = run_cli("check", site.url())
        assert refused.code == 2
        assert "127.0.0.1 is a loopback address" in refused.stderr
        assert "--allow-private" in refused.stderr
        assert len(site.requests) == 0
        allowed = run_cli("check", site.url(), "--allow-private")
        assert allowed.code == 0


def test_a_name_that_resolves_to_loopback_is_refused_before_any_connection(dns_server):
    with serve(Behaviour.OK) as site:
        dns_server.add_a("sneaky.test", "127.0.0.1")
        result = run_cli(
            "check", f"http://sneaky.test:{site.port}/", "--resolver", dns_server.address
        )
        assert result.code == 2
        assert "sneaky.test (127.0.0.1)" in result.stderr
        assert len(site.requests) == 0


def test_a_name_mixing_public_and_private_addresses_is_refused(dns_server):
    dns_server.add_a("mixed.test", "93.184.216.34", "10.0.0.5")
    result = run_cli("check", "mixed.test", "--resolver", dns_server.address)
    assert result.code == 2 and "10.0.0.5 is a private address" in result.stderr


def test_metadata_names_are_refused_without_a_lookup(dns_server):
    result = run_cli(
        "check",
        "http://metadata.google.internal/computeMetadata/v1/",
        "--resolver",
        dns_server.address,
    )
    assert result.code == 2 and "metadata" in result.stderr
    assert dns_server.queries == []


def test_the_environment_setting_allows_private_targets():
    with serve(Behaviour.OK) as site:
        result = run_cli("check", site.url(), env={"GATEWAY_ALLOW_PRIVATE": "1"})
        assert result.code == 0


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
        ("2002:a9fe:a9fe::", "cloud metadata"),  # 6to4 of 169.254.169.254
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 well-known prefix
        ("64:ff9b::a9fe:a9fe", "cloud metadata"),
        ("64:ff9b:1:7f00:0:100::", "loopback"),  # local-use NAT64, /48 layout
        ("64:ff9b:1::c0a8:101", "private"),  # local-use NAT64, /96 layout
        ("64:ff9b:1::808:808", "private"),  # local-use: translated inside its own network
        ("::7f00:1", "loopback"),  # IPv4-compatible
        ("::ffff:a00:1", "private"),  # IPv4-mapped
        ("::ffff:0:7f00:1", "loopback"),  # SIIT IPv4-translated
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),  # Teredo client 127.0.0.1
        ("2001:0:a00:1:8000:63bf:f7f7:f7f7", "private"),  # Teredo server 10.0.0.1
        ("2a00:1450::5efe:7f00:1", "loopback"),  # ISATAP interface id
        ("2a00:1450::200:5efe:a00:1", "private"),
    ],
)
def test_ipv6_forms_that_embed_ipv4_are_judged_by_the_address_they_embed(address, kind):
    assert address_class(address) == kind


@pytest.mark.parametrize(
    "address",
    [
        "2002:808:808::1",  # 6to4 of 8.8.8.8
        "64:ff9b::808:808",  # NAT64 of 8.8.8.8
        "::ffff:8.8.8.8",
        "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # Teredo: public server, public client
        "2a00:1450::200:5efe:808:808",  # ISATAP under a public prefix, public IPv4
    ],
)
def test_embedded_public_ipv4_stays_public(address):
    assert address_class(address) is None


def test_a_6to4_form_of_loopback_is_refused_before_any_connection():
    result = run_cli("check", "http://[2002:7f00:1::1]/")
    assert result.code == 2
    assert "2002:7f00:1::1 is a loopback address, the 6to4 form of 127.0.0.1" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_name_whose_aaaa_is_nat64_of_a_private_address_is_refused(dns_server):
    dns_server.add_aaaa("nat64.test", "64:ff9b::a00:5")
    result = run_cli("check", "nat64.test", "--resolver", dns_server.address)
    assert result.code == 2
    assert "the NAT64 form of 10.0.0.5" in result.stderr
