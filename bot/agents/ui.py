"""The agents in Slack: a check seen from every place, side by side, and `/gateway agents`.

Pure. An agent's words (its place, version, summary) are hostile input: escaped like
any site's text, and clipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from slack_sdk.models.blocks import Block, ContextBlock, SectionBlock

from bot.agents.places import Place
from bot.agents.store import Contact
from bot.render.mrkdwn import Message, clip, escape, mrkdwn, to_messages

EMOJI = {
    "healthy": ":white_check_mark:",
    "degraded": ":warning:",
    "down": ":red_circle:",
    "unknown": ":grey_question:",
    "refused": ":no_entry:",
}


def with_headline(verdict: Message, title: str) -> Message:
    """The verdict with the places' headline right under its header."""
    block = SectionBlock(text=mrkdwn(f":earth_africa: *{escape(title)}*")).to_dict()
    return replace(
        verdict,
        text=clip(f"{verdict.text} · {title}", 3000),
        blocks=[*verdict.blocks[:1], block, *verdict.blocks[1:]],
    )


def places_messages(title: str, places: Sequence[Place]) -> list[Message]:
    blocks: list[Block] = [SectionBlock(text=mrkdwn(f"*From every place: {escape(title)}*"))]
    for place in places:
        facts = [f"`{place.cause}`" if place.cause else "", _http(place.http_status)]
        if place.pop:
            facts.append(f"PoP {escape(place.pop)}")
        line = " · ".join(f for f in facts if f)
        blocks.append(
            SectionBlock(
                text=mrkdwn(
                    f"{EMOJI.get(place.status, '')} *{escape(place.name)}*: {place.status}"
                    + (f" · {line}" if line else "")
                    + (f"\n{escape(clip(place.summary, 300))}" if place.summary else "")
                )
            )
        )
    plain = "; ".join(f"{p.name}: {p.status}" for p in places)
    return to_messages(clip(f"{title}: {plain}", 2000), blocks)


def held_note(url: str, headline: str) -> Message:
    """A watch's failure the agents did not confirm: one quiet note, no page."""
    text = f"{url}: {headline}; not confirmed by the agents, so nobody is paged."
    return Message(text=escape(text), blocks=[SectionBlock(text=mrkdwn(escape(text))).to_dict()])


def _http(status: int | None) -> str:
    return f"HTTP {status}" if status is not None else ""


def agents_message(enrolled: Sequence[str], contacts: Sequence[Contact], now: datetime) -> Message:
    """`/gateway agents`: each enrolled agent, its place, version and last contact."""
    if not enrolled:
        text = "No agents are enrolled (the operator sets GATEWAY_AGENTS; see docs/agents.md)."
        return Message(text=text, blocks=[SectionBlock(text=mrkdwn(text)).to_dict()])
    by_name = {c.agent: c for c in contacts}
    lines = []
    for name in enrolled:
        contact = by_name.get(name)
        if contact is None:
            lines.append(f"{EMOJI['unknown']} *{escape(name)}*: never seen")
            continue
        age = (now - contact.last_seen).total_seconds()
        mark = EMOJI["healthy"] if age < 120 else ":warning:"
        lines.append(
            f"{mark} *{escape(name)}*: {escape(clip(contact.place, 120)) or 'no place given'}"
            f" · version {escape(clip(contact.version, 64)) or '?'}"
            f" · last contact {_ago(age)}" + (" (silent)" if age >= 120 else "")
        )
    blocks: list[Block] = [SectionBlock(text=mrkdwn("*Agents*\n" + "\n".join(lines)))]
    blocks.append(ContextBlock(elements=[mrkdwn("`/gateway check SITE from all` asks them")]))
    return to_messages(f"Agents: {', '.join(enrolled)}", blocks)[0]


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{max(0, seconds):.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"
