"""The watch modal's submission read back into the same commands the slash command makes.

Pure. Each field is parsed by the parser the slash command uses, so the modal
and `/gateway watch …` can never disagree; a field that does not parse comes
back as an error on that field (Slack shows it under the input).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.alert_syntax import SyntaxProblem, parse_alerting, parse_span, plain_reason, tokenize
from bot.commands import CommandError, Mute, Watch, parse_interval
from checks.target import TargetError, parse_target


@dataclass(frozen=True)
class Submission:
    channel: str
    watch: Watch
    mute: Mute | None
    watch_id: int | None


def read_submission(view: dict[str, Any]) -> Submission | dict[str, str]:
    """The submission, or {block_id: one-line error} for Slack to show."""
    values = (view.get("state") or {}).get("values") or {}
    field = {block: (values.get(block) or {}).get("value") or {} for block in values}
    errors: dict[str, str] = {}
    meta = _metadata(view.get("private_metadata"))

    url = (field.get("target", {}).get("value") or "").strip()
    try:
        target = parse_target(url)
    except TargetError as exc:
        errors["target"] = str(exc)
    channel = field.get("channel", {}).get("selected_conversation") or ""
    if not channel:
        errors["channel"] = "choose the channel the alerts go to"
    interval = after = None
    try:
        interval = parse_interval(field.get("every", {}).get("value") or "5m")
    except CommandError as exc:
        errors["every"] = str(exc)
    after_text = (field.get("after", {}).get("value") or "2").strip()
    if not (after_text.isascii() and after_text.isdigit()) or not 1 <= int(after_text) <= 20:
        errors["after"] = "a number of failed checks from 1 to 20"
    else:
        after = int(after_text)
    expect_text = field.get("expect", {}).get("value") or ""
    try:
        expect, _, rest = parse_alerting(tokenize(expect_text))
        if rest:
            errors["expect"] = f"I don't understand `{rest[0][:40]}`: e.g. `expect 200 slow 800ms`"
    except SyntaxProblem as exc:
        errors["expect"] = str(exc)
    people = tuple(
        u for u in field.get("notify", {}).get("selected_users") or () if _is_id(u, "UW")
    )
    groups = tuple(g for g in meta.get("groups") or () if isinstance(g, str) and _is_id(g, "S"))
    span = None
    choice = (field.get("mute", {}).get("selected_option") or {}).get("value")
    if choice:
        try:
            span = parse_span(choice)
        except SyntaxProblem as exc:
            errors["mute"] = str(exc)
    if errors:
        return errors
    watch = Watch(
        target=target,
        interval=interval,
        after=after,
        expect=expect,
        notify=tuple(dict.fromkeys(groups + people))[:10],
    )
    reason = plain_reason(field.get("reason", {}).get("value") or "")
    mute = Mute(target, span, reason) if span else None
    watch_id = meta.get("w") if isinstance(meta.get("w"), int) else None
    return Submission(channel=channel, watch=watch, mute=mute, watch_id=watch_id)


def _metadata(text: str | None) -> dict[str, Any]:
    try:
        found = json.loads(text or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _is_id(text: str, prefixes: str) -> bool:
    return 3 <= len(text) <= 21 and text[0] in prefixes and text.isalnum() and text.isupper()
