"""The diagnosis as Slack messages: progress, verdict, and the thread. Pure.

Every string that came from a probed server (headers, page excerpts,
certificate names, evidence) goes through `bot.render.mrkdwn`'s `inert` or
`code`, so no site can make the bot mention `@channel`, a person, post a
disguised link, or change how the message is formatted. Blocks are built with
slack_sdk's models, which refuse anything past Block Kit's limits; long
content is split across sections and messages below those limits, and every
message carries a plain-text fallback.
"""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    PlainTextObject,
    SectionBlock,
)

from bot.render.mrkdwn import (
    BLOCKS_PER_MESSAGE,
    SECTION_LIMIT,
    TEXT_LIMIT,
    Message,
    clip,
    code,
    code_sections,
    escape,
    inert,
    mrkdwn,
    sections,
    to_messages,
)
from checks.diagnose import Diagnosis
from checks.models import Progress, Target

__all__ = [
    "BLOCKS_PER_MESSAGE",
    "SECTION_LIMIT",
    "TEXT_LIMIT",
    "Message",
    "button_data",
    "button_value",
    "escape",
    "notice",
    "progress_message",
    "thread_messages",
    "usage_message",
    "verdict_message",
    "visitor_messages",
]

HEADER_LIMIT = 150
BUTTON_VALUE_LIMIT = 2000

STATUS_EMOJI = {"healthy": ":white_check_mark:", "degraded": ":warning:", "down": ":red_circle:"}
STATUS_WORD = {"healthy": "works", "degraded": "is degraded", "down": "is down"}
STEP_EMOJI = {True: ":white_check_mark:", False: ":x:", None: ":heavy_minus_sign:"}

ACTION_RERUN = "gateway_rerun"
ACTION_WATCH = "gateway_watch"
ACTION_VISITOR = "gateway_visitor"

# --- progress and verdict --------------------------------------------------------------


def progress_message(target: Target, user_id: str, events: list[Progress]) -> Message:
    """The message everyone sees while the check runs, updated as probes finish."""
    done = " · ".join(f"{_mark(e.ok)} {escape(e.text)}" for e in events) or "resolving…"
    url = code(target.url)
    blocks: list[Block] = [
        SectionBlock(
            text=mrkdwn(f":hourglass_flowing_sand: Checking {url}… requested by <@{user_id}>")
        ),
        ContextBlock(elements=[mrkdwn(clip(done, TEXT_LIMIT))]),
    ]
    return to_messages(f"Checking {escape(target.url)}… requested by <@{user_id}>", blocks)[0]


def _mark(ok: bool | None) -> str:
    return {True: "✓", False: "✗", None: "·"}[ok]


def verdict_message(diagnosis: Diagnosis, user_id: str, watch_button: bool = True) -> Message:
    """The verdict: status, cause, gateway, codes seen, time, and what to press next."""
    evidence = diagnosis.evidence
    target = evidence.target
    cause = diagnosis.cause
    emoji = STATUS_EMOJI[diagnosis.status]
    title = clip(f"{target.host} {STATUS_WORD[diagnosis.status]}", HEADER_LIMIT)
    gateway = diagnosis.product_name or (
        "no HTTP answer" if diagnosis.product is None else "not recognised"
    )
    if diagnosis.front:
        gateway += f" behind {diagnosis.front}"
    statuses = " ".join(str(s) if s is not None else "—" for s in diagnosis.samples) or "—"
    fields = [
        mrkdwn(f"*Status*\n{emoji} {diagnosis.status}"),
        mrkdwn(f"*Likely cause*\n`{cause.code}` ({cause.confidence:.0%})"),
        mrkdwn(f"*Gateway*\n{escape(gateway)}"),
        mrkdwn(f"*HTTP*\n{escape(statuses)}"),
        mrkdwn(f"*Checked in*\n{evidence.duration_ms:.0f} ms"),
        mrkdwn(f"*Target*\n{code(target.url)}"),
    ]
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=f"{_plain_emoji(diagnosis.status)} {title}")),
        SectionBlock(text=mrkdwn(f"*{escape(diagnosis.summary)}*"), fields=fields),
    ]
    for warning in diagnosis.warnings:
        blocks.append(SectionBlock(text=mrkdwn(f":warning: {escape(warning)}")))
    when = evidence.checked_at.strftime("%H:%M:%S UTC") if evidence.checked_at else ""
    blocks.append(
        ContextBlock(
            elements=[
                mrkdwn(
                    f"Requested by <@{user_id}> · {when} · "
                    "the explanation and the fixes are in the thread"
                )
            ]
        )
    )
    buttons = _buttons(target, cause.code, watch_button)
    if buttons:
        blocks.append(ActionsBlock(block_id="gateway_verdict_actions", elements=buttons))
    text = (
        f"{emoji} {target.host} {STATUS_WORD[diagnosis.status]}: "
        f"{escape(diagnosis.summary)} ({cause.code}, {cause.confidence:.0%})"
    )
    return to_messages(text, blocks)[0]


def _plain_emoji(status: str) -> str:
    return {"healthy": "✅", "degraded": "⚠️", "down": "🔴"}[status]


def button_data(value: str) -> dict[str, Any]:
    """A button's value back as the dict it was made from ({} when it is not one)."""
    try:
        data = json.loads(value)
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def button_value(target: Target, cause: str) -> str | None:
    value = json.dumps({"t": target.url, "c": cause}, separators=(",", ":"))
    return value if len(value) <= BUTTON_VALUE_LIMIT else None


def _buttons(target: Target, cause: str, watch_button: bool) -> list[ButtonElement]:
    value = button_value(target, cause)
    if value is None:
        return []
    buttons = [ButtonElement(text="Re-run", action_id=ACTION_RERUN, value=value)]
    if watch_button:
        buttons.append(ButtonElement(text="Watch this site", action_id=ACTION_WATCH, value=value))
    buttons.append(ButtonElement(text="Visitor advice", action_id=ACTION_VISITOR, value=value))
    return buttons


# --- the thread ------------------------------------------------------------------------


def thread_messages(diagnosis: Diagnosis) -> list[Message]:
    """The explanation, in order: checks, causes, owner's fixes, visitor's steps, notes."""
    messages: list[Message] = []
    messages += _checked(diagnosis)
    messages += _causes(diagnosis)
    messages += _owner(diagnosis)
    messages += visitor_messages(diagnosis.cause.visitor, diagnosis.evidence.target.host)
    messages += _notes(diagnosis)
    return messages


def _checked(diagnosis: Diagnosis) -> list[Message]:
    blocks: list[Block] = [SectionBlock(text=mrkdwn("*What was checked*"))]
    for step in diagnosis.steps:
        blocks += sections(f"{STEP_EMOJI[step.ok]} *{inert(clip(step.headline, 300))}*")
        blocks += code_sections([clip(line, 300) for line in step.lines[:30]])
    summary = "; ".join(f"{s.layer.upper()} {_mark(s.ok)}" for s in diagnosis.steps)
    return to_messages(f"What was checked: {summary}", blocks)


def _causes(diagnosis: Diagnosis) -> list[Message]:
    blocks: list[Block] = [SectionBlock(text=mrkdwn("*Likely causes, most likely first*"))]
    for number, cause in enumerate(diagnosis.causes, 1):
        text = (
            f"*{number}. {escape(cause.title)}* · `{cause.code}` · "
            f"{cause.confidence:.0%}\n{escape(cause.explanation)}"
        )
        blocks += sections(text)
        if cause.evidence:
            evidence = "\n".join("• " + inert(clip(e, 300)) for e in cause.evidence[:12])
            blocks.append(ContextBlock(elements=[mrkdwn(clip(evidence, TEXT_LIMIT))]))
    names = ", ".join(f"{c.code} {c.confidence:.0%}" for c in diagnosis.causes)
    return to_messages(f"Likely causes: {names}", blocks)


def _owner(diagnosis: Diagnosis) -> list[Message]:
    steps = diagnosis.cause.owner
    if not steps:
        return []
    product = diagnosis.product_name
    heading = "*What the site owner should do*" + (
        f" (written for {escape(product)})" if product else ""
    )
    numbered = "\n".join(f"{n}. {escape(step)}" for n, step in enumerate(steps, 1))
    blocks = sections(f"{heading}\n{numbered}")
    return to_messages(f"What the site owner should do: {len(steps)} steps", blocks)


def visitor_messages(steps: tuple[str, ...], host: str) -> list[Message]:
    if not steps:
        return []
    bullets = "\n".join(f"• {escape(step)}" for step in steps)
    blocks = sections(f"*What a visitor of {escape(host)} can try*\n{bullets}")
    return to_messages(f"What a visitor of {host} can try", blocks)


def _notes(diagnosis: Diagnosis) -> list[Message]:
    if not diagnosis.notes:
        return []
    blocks: list[Block] = []
    for note in diagnosis.notes:
        if blocks:
            blocks.append(DividerBlock())
        blocks += sections(f"*{escape(note.title)}*\n{escape(note.text)}")
    titles = "; ".join(n.title for n in diagnosis.notes)
    return to_messages(f"Notes: {titles}", blocks)


def usage_message(problem: str | None, usage: str) -> Message:
    """An ephemeral answer to unusable text: what was wrong, then how to use the command."""
    lead = f":thinking_face: {escape(problem)}\n\n" if problem else ""
    text = lead + usage
    return Message(text=text, blocks=[b.to_dict() for b in sections(text)])


def notice(text: str) -> Message:
    """A short message from the bot itself (limits, refusals, errors)."""
    return Message(text=text, blocks=[b.to_dict() for b in sections(text)])
