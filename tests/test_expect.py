"""A watch's expectations judged on real loopback sites: a 200 can fail, a 404 can pass."""

from __future__ import annotations

import pytest

from checks.expect import Expectations
from checks.run import CheckOptions, check
from tests.servers.misbehave import Behaviour, serve

MAINTENANCE = (
    "<html><head><title>Store</title></head><body><h1>We'll be back soon</h1>"
    "<p>The shop is down for scheduled Maintenance until 18:00.</p></body></html>"
)
SHOP = "<html><body><h1>Blue mug</h1><button>Add to cart</button></body></html>"


async def judged(site, expect: Expectations, samples: int = 1):
    options = CheckOptions(allow_private=True, timeout=5, samples=samples, expect=expect)
    return await check(site.url(), options)


@pytest.mark.parametrize(
    ("body", "expect", "healthy", "cause", "says"),
    [
        (SHOP, Expectations(contains=("Add to cart",)), True, "healthy", None),
        (
            MAINTENANCE,
            Expectations(contains=("Add to cart",)),
            False,
            "server_error",
            "\"Add to cart\" is not on the page; it begins: 'Store We'll be back soon",
        ),
        (
            MAINTENANCE,
            Expectations(absent=("maintenance",)),
            False,
            "service_unavailable",
            "down for scheduled Maintenance until 18:00",
        ),
        (SHOP, Expectations(absent=("maintenance",)), True, "healthy", None),
        (SHOP, Expectations(statuses=(204,)), False, "server_error", "expected HTTP 204, got 200"),
    ],
)
async def test_a_200_page_is_judged_by_what_the_watch_expects(body, expect, healthy, cause, says):
    with serve(Behaviour.STATUS, status=200, body=body) as site:
        diagnosis = await judged(site, expect)
    assert diagnosis.healthy is healthy
    assert diagnosis.cause.code == cause
    if says:
        assert any(says in line for line in diagnosis.cause.evidence), diagnosis.cause.evidence
        assert "HTTP 200" in diagnosis.summary


async def test_a_maintenance_page_summary_names_the_text_it_found():
    with serve(Behaviour.STATUS, status=200, body=MAINTENANCE) as site:
        diagnosis = await judged(site, Expectations(absent=("maintenance",)), samples=2)
    assert diagnosis.status == "down"
    assert diagnosis.summary.startswith('HTTP 200 with "maintenance" on the page')


async def test_an_expected_404_is_healthy_and_an_unexpected_one_is_not():
    with serve(Behaviour.STATUS, status=404, body="gone") as site:
        assert (await judged(site, Expectations(statuses=(404,)))).healthy
        assert (await judged(site, Expectations())).cause.code == "not_found"


async def test_a_site_slower_than_the_watch_allows_is_slow_and_the_default_is_two_seconds():
    with serve(Behaviour.SLOW, delay=0.6, status=200, body=SHOP) as site:
        slow = await judged(site, Expectations(slow_ms=300))
        default = await judged(site, Expectations())
    assert slow.cause.code == "slow_response" and slow.status == "degraded"
    line = slow.cause.evidence[0]
    assert "first byte after" in line and "the 300 ms this watch allows" in line
    assert default.healthy  # 0.6 s is under the 2 s that counts as slow without `slow`


def test_expectations_round_trip_and_describe_themselves():
    expect = Expectations(
        statuses=(200, 301), contains=("Add to cart",), absent=("oops",), slow_ms=800
    )
    assert Expectations.from_dict(expect.to_dict()) == expect
    assert expect.describe() == 'expect 200 301 contains "Add to cart" !contains "oops" slow 800ms'
    assert not Expectations().any


@pytest.mark.parametrize(
    ("sent", "rule", "healthy", "says"),
    [
        ((("X-Served-By", "edge-1"),), ("X-Served-By", "edge-1"), True, None),
        ((("x-served-by", "edge-1"),), ("X-SERVED-BY", "edge-1"), True, None),  # any case
        ((("X-Served-By", "edge-2"),), ("X-Served-By", "edge-1"), False, "x-served-by: edge-2"),
        ((("X-Served-By", "Edge-1"),), ("X-Served-By", "edge-1"), False, "x-served-by: Edge-1"),
        ((), ("X-Served-By", "edge-1"), False, "no X-Served-By header"),
        ((("X-Served-By", "edge-1 extra"),), ("X-Served-By", "edge-1"), False, "edge-1 extra"),
    ],
)
async def test_a_header_rule_needs_the_header_with_exactly_that_value(sent, rule, healthy, says):
    """The name in any case; the value exactly (so `Edge-1` is not `edge-1`); missing fails."""
    with serve(Behaviour.STATUS, status=200, body=SHOP, headers=sent) as site:
        diagnosis = await judged(site, Expectations(header=rule))
    assert diagnosis.healthy is healthy
    if says:
        assert diagnosis.cause.code == "server_error"
        evidence = " ".join(diagnosis.cause.evidence)
        assert says in evidence and f"this watch expects {rule[0]}: {rule[1]}" in evidence
        assert diagnosis.summary.startswith("HTTP 200 with ")


def test_a_header_rule_round_trips_and_describes_itself():
    expect = Expectations(header=("Cache-Control", "no-store, private"))
    assert Expectations.from_dict(expect.to_dict()) == expect and expect.any
    assert expect.describe() == 'header Cache-Control: "no-store, private"'
    assert Expectations.from_dict({"statuses": [200]}).header is None  # rows from before 0004
