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
    commands = parser.add_subparsers(dest="command", metavar="{check,explain,serve,shell,db}")
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
    explain = commands.add_parser("explain", help="explain pasted gateway log lines")
    explain.add_argument("file", nargs="?", help="a log file (default: standard input)")
    explain.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    commands.add_parser("serve", help="the Slack bot (Socket Mode with SLACK_APP_TOKEN, else HTTP)")
    commands.add_parser("shell", help="the same bot on a terminal chat, no Slack needed")
    db = commands.add_parser("db", help="the bot's database: `db upgrade` to the newest schema")
    db.add_argument("action", choices=["upgrade"])
    return parser


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
    # One check, then exit: asyncio's own loop (uvloop's import costs more than it saves here).
    diagnosis = asyncio.run(check(args.target, options))
    if args.json:
        from bot.render.as_json import terminal_safe_json, to_dict

        sys.stdout.write(terminal_safe_json(to_dict(diagnosis)) + "\n")
    else:
        from bot.render.terminal import print_diagnosis

        print_diagnosis(diagnosis)
    return EXIT_HEALTHY if diagnosis.healthy else EXIT_PROBLEM


def run_explain(args: argparse.Namespace) -> int:
    """Exit 0 when a line was recognized, 1 when none was, 2 for unusable input."""
    from checks.explain import MAX_BYTES, ExplainInputError, explain, read_bytes

    try:
        if args.file in (None, "-"):
            data = sys.stdin.buffer.read(MAX_BYTES + 1)
        else:
            with open(args.file, "rb") as handle:
                data = handle.read(MAX_BYTES + 1)
        explanation = explain(read_bytes(data))
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


def main(argv: Sequence[str] | None = None) -> int:
    environ = dict(os.environ)
    try:
        args = build_parser().parse_args(argv)
        if args.command == "check":
            return run_check(args, environ)
        if args.command == "explain":
            return run_explain(args)
        if args.command in ("serve", "shell"):
            from bot.app import main as app_main

            return app_main(args.command, environ)
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
