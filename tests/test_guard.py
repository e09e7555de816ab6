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
