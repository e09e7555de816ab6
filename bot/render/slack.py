"""The diagnosis as Slack messages: progress, verdict, and the thread. Pure.

Every string that came from a probed server (headers, page excerpts,
certificate names, evidence) goes through `escape`, so no site can make the bot
mention `@channel`, a person, or post a disguised link. Blocks are built with
slack_sdk's models, which refuse anything past Block Kit's limits; long
content is split across sections and messages below those limits, and every
message carries a plain-text fallback.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from checks.diagnose import Diagnosis
from checks.models import Progress, Target

SECTION_LIMIT = 3000
BLOCKS_PER_MESSAGE = 50
HEADER_LIMIT = 150
TEXT_LIMIT = 3000
BUTTON_VALUE_LIMIT = 2000

STATUS_EMOJI = {"healthy": ":white_check_mark:", "degraded": ":warning:", "down": ":red_circle:"}
STATUS_WORD = {"healthy": "works", "degraded": "is degraded", "down": "is down"}
STEP_EMOJI = {True: ":white_check_mark:", False: ":x:", None: ":heavy_minus_sign:"}

ACTION_RERUN = "gateway_rerun"
ACTION_WATCH = "gateway_watch"
ACTION_VISITOR = "gateway_visitor"

_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Message:
    """One Slack message: the fallback text and its blocks (as dicts)."""

    text: str
    blocks: list[dict] = field(default_factory=list)


def escape(text: object) -> str:
    """Make remote text inert in mrkdwn: &, <, > as entities; @channel-style words defused."""
    value = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: "@\u200b" + m.group(1), value)


def _mrkdwn(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text, verbatim=True)


def _sections(text: str) -> list[Block]:
    """As many sections as `text` needs, split on line breaks below the section limit."""
    chunks: list[str] = []
    current = ""
    for raw_line in text.split("\n"):
        line = _clip(raw_line, SECTION_LIMIT)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > SECTION_LIMIT:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current:
        chunks.append(current)
    return [SectionBlock(text=_mrkdwn(chunk)) for chunk in chunks if chunk.strip()]


def _code_sections(lines: list[str]) -> list[Block]:
    """Lines in code blocks, each section's fence closed inside its own limit."""
    blocks: list[Block] = []
    chunk: list[str] = []
    for line in lines:
        if chunk and len("\n".join([*chunk, line])) + 6 > SECTION_LIMIT:
            blocks.append(SectionBlock(text=_mrkdwn("```" + "\n".join(chunk) + "```")))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(SectionBlock(text=_mrkdwn("```" + "\n".join(chunk) + "```")))
    return blocks


def _to_messages(text: str, blocks: list[Block]) -> list[Message]:
    """Split blocks into messages of at most BLOCKS_PER_MESSAGE, each with the fallback."""
    dicts = [block.to_dict() for block in blocks]  # validates every limit
    messages = []
    for start in range(0, len(dicts), BLOCKS_PER_MESSAGE):
        part = dicts[start : start + BLOCKS_PER_MESSAGE]
        suffix = "" if start == 0 else " (continued)"
        messages.append(Message(text=_clip(text + suffix, TEXT_LIMIT), blocks=part))
    return messages or [Message(text=_clip(text, TEXT_LIMIT))]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- progress and verdict --------------------------------------------------------------


def progress_message(target: Target, user_id: str, events: list[Progress]) -> Message:
    """The message everyone sees while the check runs, updated as probes finish."""
    done = " · ".join(f"{_mark(e.ok)} {escape(e.text)}" for e in events) or "resolving…"
    url = escape(target.url)
    blocks: list[Block] = [
        SectionBlock(
            text=_mrkdwn(f":hourglass_flowing_sand: Checking *{url}*… requested by <@{user_id}>")
        ),
        ContextBlock(elements=[_mrkdwn(_clip(done, TEXT_LIMIT))]),
    ]
    return _to_messages(f"Checking {target.url}… requested by <@{user_id}>", blocks)[0]


def _mark(ok: bool | None) -> str:
    return {True: "✓", False: "✗", None: "·"}[ok]


def verdict_message(diagnosis: Diagnosis, user_id: str, watch_button: bool = True) -> Message:
    """The verdict: status, cause, gateway, codes seen, time, and what to press next."""
    evidence = diagnosis.evidence
    target = evidence.target
    cause = diagnosis.cause
    emoji = STATUS_EMOJI[diagnosis.status]
    title = _clip(f"{target.host} {STATUS_WORD[diagnosis.status]}", HEADER_LIMIT)
    gateway = diagnosis.product_name or (
        "no HTTP answer" if diagnosis.product is None else "not recognised"
    )
    if diagnosis.front:
        gateway += f" behind {diagnosis.front}"
    statuses = " ".join(str(s) if s is not None else "—" for s in diagnosis.samples) or "—"
    fields = [
        _mrkdwn(f"*Status*\n{emoji} {diagnosis.status}"),
        _mrkdwn(f"*Likely cause*\n`{cause.code}` ({cause.confidence:.0%})"),
        _mrkdwn(f"*Gateway*\n{escape(gateway)}"),
        _mrkdwn(f"*HTTP*\n{escape(statuses)}"),
        _mrkdwn(f"*Checked in*\n{evidence.duration_ms:.0f} ms"),
        _mrkdwn(f"*Target*\n{escape(target.url)}"),
    ]
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=f"{_plain_emoji(diagnosis.status)} {title}")),
        SectionBlock(text=_mrkdwn(f"*{escape(diagnosis.summary)}*"), fields=fields),
    ]
    for warning in diagnosis.warnings:
        blocks.append(SectionBlock(text=_mrkdwn(f":warning: {escape(warning)}")))
    when = evidence.checked_at.strftime("%H:%M:%S UTC") if evidence.checked_at else ""
    blocks.append(
        ContextBlock(
            elements=[
                _mrkdwn(
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
    return _to_messages(text, blocks)[0]


def _plain_emoji(status: str) -> str:
    return {"healthy": "✅", "degraded": "⚠️", "down": "🔴"}[status]


def button_data(value: str) -> dict:
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
    blocks: list[Block] = [SectionBlock(text=_mrkdwn("*What was checked*"))]
    for step in diagnosis.steps:
        blocks += _sections(f"{STEP_EMOJI[step.ok]} *{escape(step.headline)}*")
        blocks += _code_sections([escape(_clip(line, 300)) for line in step.lines[:30]])
    summary = "; ".join(f"{s.layer.upper()} {_mark(s.ok)}" for s in diagnosis.steps)
    return _to_messages(f"What was checked: {summary}", blocks)


def _causes(diagnosis: Diagnosis) -> list[Message]:
    blocks: list[Block] = [SectionBlock(text=_mrkdwn("*Likely causes, most likely first*"))]
    for number, cause in enumerate(diagnosis.causes, 1):
        text = (
            f"*{number}. {escape(cause.title)}* · `{cause.code}` · "
            f"{cause.confidence:.0%}\n{escape(cause.explanation)}"
        )
        blocks += _sections(text)
        if cause.evidence:
            evidence = "\n".join("• " + escape(_clip(e, 300)) for e in cause.evidence[:12])
            blocks.append(ContextBlock(elements=[_mrkdwn(_clip(evidence, TEXT_LIMIT))]))
    names = ", ".join(f"{c.code} {c.confidence:.0%}" for c in diagnosis.causes)
    return _to_messages(f"Likely causes: {names}", blocks)


def _owner(diagnosis: Diagnosis) -> list[Message]:
    steps = diagnosis.cause.owner
    if not steps:
        return []
    product = diagnosis.product_name
    heading = "*What the site owner should do*" + (
        f" (written for {escape(product)})" if product else ""
    )
    numbered = "\n".join(f"{n}. {escape(step)}" for n, step in enumerate(steps, 1))
    blocks = _sections(f"{heading}\n{numbered}")
    return _to_messages(f"What the site owner should do: {len(steps)} steps", blocks)


def visitor_messages(steps: tuple[str, ...], host: str) -> list[Message]:
    if not steps:
        return []
    bullets = "\n".join(f"• {escape(step)}" for step in steps)
    blocks = _sections(f"*What a visitor of {escape(host)} can try*\n{bullets}")
    return _to_messages(f"What a visitor of {host} can try", blocks)


def _notes(diagnosis: Diagnosis) -> list[Message]:
    if not diagnosis.notes:
        return []
    blocks: list[Block] = []
    for note in diagnosis.notes:
        if blocks:
            blocks.append(DividerBlock())
        blocks += _sections(f"*{escape(note.title)}*\n{escape(note.text)}")
    titles = "; ".join(n.title for n in diagnosis.notes)
    return _to_messages(f"Notes: {titles}", blocks)


def usage_message(problem: str | None, usage: str) -> Message:
    """An ephemeral answer to unusable text: what was wrong, then how to use the command."""
    lead = f":thinking_face: {escape(problem)}\n\n" if problem else ""
    text = lead + usage
    return Message(text=text, blocks=[b.to_dict() for b in _sections(text)])


def notice(text: str) -> Message:
    """A short message from the bot itself (limits, refusals, errors)."""
    return Message(text=text, blocks=[b.to_dict() for b in _sections(text)])
