"""`gateway check|explain|serve|shell|db`: the command line the README documents.

Exit status: 0 healthy, 1 a problem was diagnosed, 2 the input was unusable
(one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, TypeVar

from bot.settings import MAX_TIMEOUT, SettingsError, check_from_environment
from checks.dns import ResolverAddress
from checks.guard import TargetRefused
from checks.run import MAX_SAMPLES, CheckOptions, check
from checks.target import TargetError

EXIT_HEALTHY, EXIT_PROBLEM, EXIT_UNUSABLE = 0, 1, 2


N = TypeVar("N", int, float)


class UsageError(ValueError):
    """A flag or setting is unusable; the message is the one line shown."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's own exit is 2 with usage; keep one line
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gateway", description="Explain why a site answers 502, 503, 504…")
    parser.add_argument("--version", action="version", version=f"gateway {version()}")
    commands = parser.add_subparsers(
        dest="command", metavar="{check,explain,serve,shell,db,agent,incident}"
    )
    run = commands.add_parser("check", help="diagnose a site now")
    run.add_argument("target", help="site.com, site.com:8443, http://site.com:8080/health, an IP")
    run.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    run.add_argument(
        "--resolver",
        action="append",
        metavar="IP[:PORT]",
        help="ask this DNS server (repeat to compare several)",
    )
    run.add_argument(
        "--allow-private",
        action="store_true",
        default=None,
        help="permit loopback, private, link-local and metadata addresses",
    )
    run.add_argument("--ca-bundle", metavar="PATH", help="extra trusted CA certificates (PEM)")
    run.add_argument("--timeout", metavar="SECONDS", help="the whole check's deadline (default 10)")
    run.add_argument("--samples", metavar="N", help="HTTP attempts (default 3)")
    run.add_argument(
        "--full", action="store_true", help="every section (without it the report fits a screen)"
    )
    run.add_argument(
        "--via",
        action="append",
        metavar="IP",
        help="also send the same request straight to this origin address (repeat, at most 5)",
    )
    explain = commands.add_parser("explain", help="explain pasted gateway log lines")
    explain.add_argument("file", nargs="?", help="a log file (default: standard input)")
    explain.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    commands.add_parser("serve", help="the Slack bot (Socket Mode with SLACK_APP_TOKEN, else HTTP)")
    commands.add_parser("shell", help="the same bot on a terminal chat, no Slack needed")
    db = commands.add_parser("db", help="the bot's database: `db upgrade` to the newest schema")
    db.add_argument("action", choices=["upgrade"])
    from bot.agents.cli import add_parser as add_agent_parser

    add_agent_parser(commands)
    incident = commands.add_parser("incident", help="an incident's record: `incident show ID`")
    incident.add_argument("action", choices=["show"])
    incident.add_argument("id", help="the incident's number (timeline SITE all) or its uid")
    incident.add_argument(
        "--markdown", action="store_true", help="the postmortem draft, in Markdown"
    )
    return parser


def version() -> str:
    """The installed distribution's version (pyproject.toml), or "unknown" from a bare tree."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("gateway")
    except PackageNotFoundError:
        return "unknown"


def options_from(args: argparse.Namespace, environ: dict[str, str]) -> CheckOptions:
    """Flags first, then GATEWAY_* variables (read as the bot reads them), then defaults;
    every bad value is a UsageError."""
    try:
        base = check_from_environment(environ)
    except SettingsError as exc:
        raise UsageError(str(exc)) from None
    resolvers = base.resolvers
    if args.resolver:
        try:
            resolvers = tuple(ResolverAddress.parse(r) for r in args.resolver)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    allow = base.allow_private if args.allow_private is None else args.allow_private
    ca_bundle = args.ca_bundle or base.ca_bundle
    if ca_bundle and not os.path.isfile(ca_bundle):
        raise UsageError(f"--ca-bundle {ca_bundle}: no such file")
    timeout = _number(args.timeout, "--timeout", base.timeout, float, 0.5, MAX_TIMEOUT)
    samples = _number(args.samples, "--samples", base.samples, int, 1, MAX_SAMPLES)
    return CheckOptions(
        resolvers=resolvers,
        allow_private=allow,
        ca_bundle=ca_bundle,
        timeout=timeout,
        samples=samples,
    )


def _number(text: object, flag: str, default: N, kind: Callable[[str], N], low: N, high: N) -> N:
    if text is None or str(text).strip() == "":
        return default
    try:
        value = kind(str(text).strip())
    except ValueError:
        raise UsageError(f"{flag} takes a number from {low} to {high}, not {text!r}") from None
    if not low <= value <= high or value != value:
        raise UsageError(f"{flag} takes a number from {low} to {high}, not {text!r}")
    return value


def run_check(args: argparse.Namespace, environ: dict[str, str]) -> int:
    options = options_from(args, environ)
    if args.via:
        return _run_via(args, options)
    # One check, then exit: asyncio's own loop (uvloop's import costs more than it saves here).
    diagnosis = asyncio.run(check(args.target, options))
    if args.json:
        from bot.render.as_json import terminal_safe_json, to_dict

        sys.stdout.write(terminal_safe_json(to_dict(diagnosis)) + "\n")
    else:
        from bot.render.terminal import print_diagnosis

        print_diagnosis(diagnosis, full=args.full)
    return EXIT_HEALTHY if diagnosis.healthy else EXIT_PROBLEM


def _run_via(args: argparse.Namespace, options: CheckOptions) -> int:
    """`check --via`: every address parsed and vetted before anything is sent."""
    from checks.target import parse_target
    from checks.via import check_via, parse_vias, vet_vias

    vias = parse_vias(args.via)
    vet_vias(vias, options.allow_private)
    result = asyncio.run(check_via(parse_target(args.target), vias, options))
    if args.json:
        from bot.render.as_json import terminal_safe_json, via_to_dict

        sys.stdout.write(terminal_safe_json(via_to_dict(result)) + "\n")
    else:
        from bot.render.terminal import print_via

        print_via(result, full=args.full)
    return EXIT_HEALTHY if result.healthy else EXIT_PROBLEM


def run_explain(args: argparse.Namespace) -> int:
    """Exit 0 when a line was recognized, 1 when none was, 2 for unusable input."""
    from datetime import UTC, datetime

    from checks.explain import MAX_BYTES, ExplainInputError, explain, read_bytes

    try:
        if args.file in (None, "-"):
            data = sys.stdin.buffer.read(MAX_BYTES + 1)
        else:
            with open(args.file, "rb") as handle:
                data = handle.read(MAX_BYTES + 1)
        # today dates syslog prefixes, which carry no year
        explanation = explain(read_bytes(data), today=datetime.now(UTC).date())
    except OSError as exc:
        raise UsageError(f"{args.file}: {exc.strerror or exc}") from None
    except ExplainInputError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        from bot.render.as_json import terminal_safe_json
        from bot.render.explain import to_dict

        sys.stdout.write(terminal_safe_json(to_dict(explanation)) + "\n")
    else:
        from bot.render.explain import print_explanation

        print_explanation(explanation)
    return EXIT_HEALTHY if explanation.recognized else EXIT_PROBLEM


def run_incident(args: argparse.Namespace, environ: dict[str, str]) -> int:
    """`gateway incident show ID [--markdown]`: 0 shown, 2 not found (one line)."""
    from bot.record.cli import RecordNotFound, check_database, find, show
    from bot.settings import SettingsError, from_environment, load_environment
    from checks.text import printable

    try:
        settings = from_environment(load_environment(environ))
        check_database(settings.database_url)
        record = asyncio.run(find(settings.database_url, args.id))
    except (SettingsError, RecordNotFound) as exc:
        raise UsageError(str(exc)) from None
    sys.stdout.write(printable(show(record, args.markdown), lines=True))
    return EXIT_HEALTHY


def main(argv: Sequence[str] | None = None) -> int:
    environ = dict(os.environ)
    try:
        args = build_parser().parse_args(argv)
        if args.command == "check":
            return run_check(args, environ)
        if args.command == "explain":
            return run_explain(args)
        if args.command == "serve":  # local settings first, before the heavy imports
            from bot.preflight import preflight_environment

            problem = preflight_environment(environ)
            if problem is not None:
                print(f"gateway: {problem}", file=sys.stderr)
                return EXIT_UNUSABLE
        if args.command in ("serve", "shell"):
            from bot.app import main as app_main

            return app_main(args.command, environ)
        if args.command == "agent":
            from bot.agents.cli import AgentUsageError
            from bot.agents.cli import main as agent_main

            try:
                return agent_main(args, environ)
            except AgentUsageError as exc:
                raise UsageError(str(exc)) from None
        if args.command == "incident":
            return run_incident(args, environ)
        if args.command == "db":
            from bot.app import db_upgrade

            return db_upgrade(environ)
        build_parser().print_help(sys.stderr)
        return EXIT_UNUSABLE
    except (UsageError, TargetError, TargetRefused) as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        print("gateway: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
