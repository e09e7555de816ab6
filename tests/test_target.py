"""What a person types becomes a target, or one clear line and exit 2."""

import pytest

from checks.target import TargetError, parse_target
from tests.conftest import run_cli, run_gateway_process


@pytest.mark.parametrize(
    ("text", "url", "scheme", "host", "port"),
    [
        ("site.com", "https://site.com/", "https", "site.com", 443),
        ("Site.COM.", "https://site.com/", "https", "site.com", 443),
        ("site.com:8443", "https://site.com:8443/", "https", "site.com", 8443),
        ("site.com:80", "http://site.com/", "http", "site.com", 80),
        ("http://site.com:8080/health", "http://site.com:8080/health", "http", "site.com", 8080),
        ("https://[2001:db8::1]/", "https://[2001:db8::1]/", "https", "2001:db8::1", 443),
        ("203.0.113.7", "https://203.0.113.7/", "https", "203.0.113.7", 443),
        ("http://site.com/a?b=1", "http://site.com/a?b=1", "http", "site.com", 80),
        ("<http://site.com|site.com>", "http://site.com/", "http", "site.com", 80),
        ("bücher.example", "https://xn--bcher-kva.example/", "https", "xn--bcher-kva.example", 443),
    ],
)
def test_targets_people_type(text, url, scheme, host, port):
    target = parse_target(text)
    assert (target.url, target.scheme, target.host, target.port) == (url, scheme, host, port)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "no target given"),
        ("   ", "no target given"),
        ("http://", "no host name"),
        ("ftp://x", "unsupported scheme ftp://"),
        ("a" * 3000 + ".com", "the limit is 2048"),
        ("a" * 300 + ".com", "DNS allows 253"),
        ("site.com:99999", "not a number from 1 to 65535"),
        ("site.com:0", "port 0"),
        ("exa mple.com", "contains spaces"),
        ("-bad-.com", "not a valid host name"),
        ("user:pw@site.com", "credentials"),
        ("999.1.1.1", "not a valid one"),
    ],
)
def test_unusable_targets_get_one_line_and_exit_2(text, says):
    with pytest.raises(TargetError, match=says):
        parse_target(text)
    result = run_cli("check", "--", text)
    assert result.code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and says in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["check", "site.com", "--timeout", "abc"], "--timeout takes a number"),
        (["check", "site.com", "--timeout", "0"], "--timeout takes a number"),
        (["check", "site.com", "--samples", "0"], "--samples takes a number"),
        (["check", "site.com", "--resolver", "not-an-ip"], "is not an IP address"),
        (["check", "site.com", "--ca-bundle", "/nonexistent.pem"], "no such file"),
        (["check"], "the following arguments are required: target"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_flags_get_one_line_and_exit_2(args, says):
    result = run_cli(*args)
    assert result.code == 2
    assert says in result.stderr and result.stderr.count("\n") == 1


def test_the_real_entry_point_refuses_without_a_traceback():
    result = run_gateway_process("check", "http://")
    assert result.code == 2
    assert result.stderr.startswith("gateway: ") and "Traceback" not in result.stderr
