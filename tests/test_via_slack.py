"""`/gateway check TARGET via IP` in Slack: the broken link in the verdict, the origins below."""

from __future__ import annotations

from dataclasses import replace

import pytest

from checks.dns import ResolverAddress
from tests.servers.misbehave import Behaviour, serve
from tests.slack.stand_in import SlackStandIn
from tests.test_slack_bot import Bot, all_text
from tests.test_via import EDGE, LIVE, _cloudflare
from tests.test_watch import Watcher, text_of


@pytest.fixture
def slack():
    with SlackStandIn() as stand_in:
        yield stand_in


def _resolving(bot: Bot, dns_server) -> None:
    settings = bot.gateway.work.settings
    resolvers = (ResolverAddress.parse(dns_server.address),)
    bot.gateway.work.settings = replace(
        settings, check=replace(settings.check, resolvers=resolvers)
    )


async def test_check_via_names_the_broken_link_in_the_verdict(slack, dns_server):
    dns_server.add_a("edge.test", EDGE)
    hostile = _cloudflare(521, "Web server is down <!channel> <https://evil.example|win>")
    with (
        serve(Behaviour.STATUS, host=EDGE, **hostile) as edge,
        serve(Behaviour.OK, host=LIVE, port=edge.port),
    ):
        async with Bot(slack) as bot:
            _resolving(bot, dns_server)
            response = await bot.command(f"check http://edge.test:{edge.port}/ via {LIVE}")
            assert response.status_code == 200
            verdict = await bot.verdict()
    text = all_text(verdict)
    assert "Broken link: between the edge and the origin" in text
    assert "Cloudflare cannot connect to the origin" in text
    replies = [all_text(r) for r in slack.thread(verdict["ts"])]
    assert "Straight to the origin" in replies[0] and LIVE in replies[0]
    assert "works" in replies[0]
    everything = text + "".join(replies)
    assert "<!channel>" not in everything and "<https://evil.example" not in everything


async def test_a_private_via_is_refused_in_one_line(slack, dns_server):
    async with Bot(slack) as bot:
        settings = bot.gateway.work.settings
        bot.gateway.work.settings = replace(
            settings, check=replace(settings.check, allow_private=False)
        )
        await bot.command("check example.com via 10.1.2.3")
        assert await slack.wait_for_async(
            lambda s: any(
                "10.1.2.3 is a private address" in m["text"] for m in s.messages().values()
            ),
            10,
        ), slack.calls


async def test_an_unusable_via_gets_the_usage(slack):
    async with Bot(slack) as bot:
        response = await bot.command("check example.com via origin.example")
    assert "via takes an origin's IP address" in response.text


async def test_a_watch_with_an_origin_names_the_broken_link_in_its_alert(
    slack, tmp_path, dns_server
):
    dns_server.add_a("edge.test", EDGE)
    with (
        serve(Behaviour.STATUS, host=EDGE, **_cloudflare(522, "Connection timed out")) as edge,
        serve(Behaviour.OK, host=LIVE, port=edge.port) as origin,
    ):
        bot = await Watcher(slack, tmp_path, GATEWAY_RESOLVERS=dns_server.address).start()
        try:
            await bot.command(f"watch http://edge.test:{edge.port}/ every 0.3s origin {LIVE}")
            assert "is now watching" in bot.tops()[0]["text"]
            await bot.until(lambda: bot.alerts())
            alert = text_of(bot.alerts()[0])
            asked = len(origin.requests)
        finally:
            await bot.stop()
    assert "broken link: Cloudflare gets no answer in time from the origin" in alert
    assert asked >= 1


async def test_a_watch_with_a_private_origin_is_refused_before_anything_is_stored(slack, tmp_path):
    bot = await Watcher(slack, tmp_path, GATEWAY_ALLOW_PRIVATE="0").start()
    try:
        answer = await bot.command("watch example.com origin 192.168.1.9")
        listed = await bot.command("watches")
    finally:
        await bot.stop()
    assert "192.168.1.9 is a private address" in answer
    assert not any("example.com" in m["text"] for m in bot.tops()), listed
