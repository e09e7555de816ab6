"""`gateway agent keygen PATH` and `gateway agent run …`: the agent's command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
from urllib.parse import urlsplit

from bot.agents import keys
from bot.agents.protocol import NAME
from bot.agents.runner import Agent, AgentConfig
from checks.dns import ResolverAddress


class AgentUsageError(ValueError):
    """An unusable flag or key; the message is the one line shown."""


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    agent = commands.add_parser("agent", help="a vantage point in another place (keygen, run)")
    verbs = agent.add_subparsers(dest="agent_command", metavar="{keygen,run}")
    keygen = verbs.add_parser(
        "keygen", help="make an Ed25519 key (mode 0600); print its public key"
    )
    keygen.add_argument("path")
    run = verbs.add_parser("run", help="dial the bot and run the checks it signs")
    run.add_argument("--bot", required=True, metavar="URL", help="the bot's base URL")
    run.add_argument("--bot-key", required=True, metavar="ed25519:PUBLICKEY")
    run.add_argument("--name", required=True, help="this agent's enrolled name")
    run.add_argument("--key", required=True, metavar="PATH", help="this agent's private key")
    run.add_argument("--resolver", action="append", metavar="IP[:PORT]")
    run.add_argument("--allow-private", action="store_true")


def main(args: argparse.Namespace, environ: dict[str, str]) -> int:
    if args.agent_command == "keygen":
        try:
            print(keys.generate(args.path))
        except keys.KeyFileError as exc:
            raise AgentUsageError(str(exc)) from None
        return 0
    if args.agent_command != "run":
        raise AgentUsageError("agent takes keygen PATH or run --bot URL …")
    config = _config(args, environ)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(_run(Agent(config)))
    return 0


def _config(args: argparse.Namespace, environ: dict[str, str]) -> AgentConfig:
    parts = urlsplit(args.bot)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AgentUsageError(f"--bot takes the bot's http(s) URL, not {args.bot[:60]!r}")
    name = args.name.strip().lower()
    if not NAME.match(name):
        raise AgentUsageError("--name: lower-case letters, digits, . _ -, up to 32")
    try:
        bot_key = keys.parse_public(args.bot_key)
        key = keys.load_private(args.key)
        resolvers = tuple(ResolverAddress.parse(r) for r in args.resolver or ())
    except (keys.KeyFileError, ValueError) as exc:
        raise AgentUsageError(str(exc)) from None
    place = (environ.get("GATEWAY_AGENT_PLACE") or "").strip() or socket.gethostname()
    return AgentConfig(
        bot_url=args.bot.rstrip("/"),
        bot_key=bot_key,
        name=name,
        key=key,
        resolvers=resolvers,
        allow_private=args.allow_private,
        ca_bundle=environ.get("GATEWAY_CA_BUNDLE") or None,
        place=place,
    )


async def _run(agent: Agent) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Where the loop cannot take signals (not the main thread, or Windows), Ctrl-C
        # still ends the agent through KeyboardInterrupt, which `gateway` answers.
        with contextlib.suppress(RuntimeError, NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    print(f"gateway agent {agent.config.name}: polling {agent.config.bot_url}", file=sys.stderr)
    await agent.run(stop)
