"""What a person types becomes a target, or one clear line and exit 2."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checks.dns import ResolverAddress
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


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("http://[127.0.0.1]/", "brackets hold an IPv6 address"),
        ("https://[::1", "never closed"),
        ("http://[example.com]/", "brackets hold an IPv6 address"),
        ("http://[::1]x/", "unexpected 'x'"),
        ("http://[fe80::1%eth0]/", "zoned IPv6"),
        ("http://a]b/", "brackets go around IPv6"),
        ("http://1:2:3/", "write an IPv6 address in brackets"),
        ("xn--zz.com", "not a valid international host name"),
        ("xn--a.com", "not a valid international host name"),
        ("exa\u200bmple.com", "U+200B ZERO WIDTH SPACE"),
        ("ex\u00adample.com", "U+00AD SOFT HYPHEN"),
        ("\u202eexample.com", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("example.com\u2066", "U+2066"),
        ("exam\x1bple.com", "control character"),
        ("http://site.com/\x85", "control character"),
        ("http://a..b/", "empty label"),
        ("javascript:alert(1)", "unsupported scheme javascript"),
        ("data:text/html,hi", "unsupported scheme data"),
        ("site.com:+80", "not a number from 1 to 65535"),
        ("site.com:٣", "not a number from 1 to 65535"),
        ("0x7f.1", "looks like an IP address"),
        ("http:/site.com", "is missing a slash"),
        ("https:site.com", "is missing a slash"),
        ("１２７.０.０.１", "looks like an IP address"),
    ],
)
def test_hostile_targets_are_refused_in_one_line_never_a_traceback(text, says):
    with pytest.raises(TargetError, match=re.escape(says)):
        parse_target(text)
    result = run_cli("check", "--", text)
    assert result.code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and says in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("straße.de", "https://xn--strae-oqa.de/"),  # IDNA 2008, not 2003's strasse.de
        ("BÜCHER.example", "https://xn--bcher-kva.example/"),  # UTS 46 maps upper case
        ("ｅｘａｍｐｌｅ．com", "https://example.com/"),  # full-width letters and dot map
        ("xn--strae-oqa.de", "https://xn--strae-oqa.de/"),  # valid punycode stays
        ("2001:db8::1", "https://[2001:db8::1]/"),  # a bare IPv6 literal
        ("http://[::ffff:127.0.0.1]:8080/", "http://[::ffff:7f00:1]:8080/"),
        ("https://site.com/a#fragment", "https://site.com/a"),
        ("http://site.com/<!channel>?q=`x`", "http://site.com/%3C!channel%3E?q=%60x%60"),
        ("site.com/straße", "https://site.com/stra%C3%9Fe"),
    ],
)
def test_names_follow_idna_2008_and_urls_are_normalised_as_browsers_do(text, url):
    assert parse_target(text).url == url


@pytest.mark.parametrize(
    ("resolver", "says"),
    [
        ("::1", "write an IPv6 resolver in brackets"),
        ("::1:5353", "write an IPv6 resolver in brackets"),
        ("[::1", "never closed"),
        ("[127.0.0.1]:53", "brackets hold an IPv6 address"),
        ("[::1]:99999", "invalid port"),
        ("[::1]x", "expected :PORT"),
        ("127.0.0.1:", "invalid port"),
    ],
)
def test_resolvers_take_ipv6_only_in_brackets(resolver, says):
    result = run_cli("check", "site.com", "--resolver", resolver)
    assert result.code == 2
    assert says in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("text", "shown"),
    [("[::1]:5353", "[::1]:5353"), ("[::1]", "::1"), ("127.0.0.1:5353", "127.0.0.1:5353")],
)
def test_resolvers_people_type(text, shown):
    assert str(ResolverAddress.parse(text)).strip("[]") == shown.strip("[]")


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80))
def test_any_text_is_a_target_or_one_line_refusal(text):
    try:
        target = parse_target(text)
    except TargetError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    assert target.scheme in ("http", "https") and 0 < target.port < 65536
    assert parse_target(target.url).url == target.url  # what it prints parses back the same
    assert target.url.isascii() and target.url.isprintable()


_URLISH = st.builds(
    lambda scheme, host, port, path: f"{scheme}{host}{port}{path}",
    st.sampled_from(["", "http://", "https://", "HTTP://", "ftp://", "//", "javascript:"]),
    st.one_of(
        st.from_regex(r"\[[0-9a-fA-F:.%a-z]{0,20}\]?", fullmatch=True),
        st.from_regex(r"[a-z0-9.\-_]{0,20}", fullmatch=True),
        st.text(min_size=1, max_size=12),
        st.ip_addresses().map(str),
    ),
    st.sampled_from(["", ":", ":0", ":80", ":65536", ":99999", ":-1", ":8443", ":x"]),
    st.sampled_from(["", "/", "/a?b=c", "#f", "/%zz", "/\u200b", "?x"]),
)


@settings(max_examples=600, deadline=None)
@given(_URLISH)
def test_any_url_shaped_text_is_a_target_or_one_line_refusal(text):
    test_any_text_is_a_target_or_one_line_refusal.hypothesis.inner_test(text)
