"""`/gateway check TARGET via IP` in Slack: the broken link in the verdict, the origins below."""

from __future__ import annotations

from dataclasses import replace

from checks.dns import ResolverAddress
from tests.servers.misbehave import Behaviour, serve
from tests.test_slack_bot import Bot, all_text, slack  # noqa: F401 (the fixture)
from tests.test_via import EDGE, LIVE, _cloudflare


def _resolving(bot: Bot, dns_server) -> None:
    settings = bot.gateway.settings
    resolvers = (ResolverAddress.parse(dns_server.address),)
    bot.gateway.settings = replace(settings, check=replace(settings.check, resolvers=resolvers))


async def test_check_via_names_the_broken_link_in_the_verdict(slack, dns_server):  # noqa: F811
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


async def test_a_private_via_is_refused_in_one_line(slack, dns_server):  # noqa: F811
    async with Bot(slack) as bot:
        settings = bot.gateway.settings
        bot.gateway.settings = replace(settings, check=replace(settings.check, allow_private=False))
        await bot.command("check example.com via 10.1.2.3")
        assert await slack.wait_for_async(
            lambda s: any(
                "10.1.2.3 is a private address" in m["text"] for m in s.messages().values()
            ),
            10,
        ), slack.calls


async def test_an_unusable_via_gets_the_usage(slack):  # noqa: F811
    async with Bot(slack) as bot:
        response = await bot.command("check example.com via origin.example")
    assert "via takes an origin's IP address" in response.text
