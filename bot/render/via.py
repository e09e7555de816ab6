"""`check TARGET via IP` in Slack: the broken link in the verdict, each origin in the thread.

Pure, like `bot.render.slack`; every remote string goes through `escape`.
"""

from __future__ import annotations

from dataclasses import replace

from slack_sdk.models.blocks import Block, ContextBlock, SectionBlock

from bot.render.mrkdwn import Message, clip, code, escape, mrkdwn, to_messages
from bot.render.slack import STATUS_EMOJI, STATUS_WORD
from checks.via import ViaCheck

LINK_WORDS = {
    "edge": "the edge",
    "edge_to_origin": "between the edge and the origin",
    "origin": "the origin",
    None: "no broken link",
}


def link_line(result: ViaCheck) -> str:
    """One mrkdwn line: which link is broken, and why."""
    where = LINK_WORDS.get(result.link.blame, "no broken link")
    emoji = ":link:" if result.link.blame is None else ":broken_heart:"
    return f"{emoji} *Broken link: {where}*: {escape(clip(result.link.headline, 1500))}"


def with_link(verdict: Message, result: ViaCheck) -> Message:
    """The verdict with the broken link right under its header."""
    block = SectionBlock(text=mrkdwn(link_line(result))).to_dict()
    blocks = [*verdict.blocks[:1], block, *verdict.blocks[1:]]
    where = LINK_WORDS.get(result.link.blame, "no broken link")
    text = f"{verdict.text} · broken link: {where}: {escape(clip(result.link.headline, 500))}"
    return replace(verdict, text=clip(text, 3000), blocks=blocks)


def origin_messages(result: ViaCheck) -> list[Message]:
    """Each origin asked directly: its verdict, cause and the statuses it gave."""
    blocks: list[Block] = [SectionBlock(text=mrkdwn("*Straight to the origin*"))]
    for via, diagnosis in result.origins:
        statuses = " ".join(str(s) if s is not None else "—" for s in diagnosis.samples) or "—"
        gateway = diagnosis.product_name or (
            "no HTTP answer" if diagnosis.product is None else "not recognised"
        )
        blocks.append(
            SectionBlock(
                text=mrkdwn(
                    f"{STATUS_EMOJI[diagnosis.status]} via {code(via)} "
                    f"{STATUS_WORD[diagnosis.status]}: {escape(clip(diagnosis.summary, 500))}"
                )
            )
        )
        blocks.append(
            ContextBlock(
                elements=[
                    mrkdwn(
                        f"`{diagnosis.cause.code}` ({diagnosis.cause.confidence:.0%}) · "
                        f"gateway {escape(gateway)} · HTTP {escape(statuses)} · "
                        f"{diagnosis.evidence.duration_ms:.0f} ms"
                    )
                ]
            )
        )
    vias = ", ".join(via for via, _ in result.origins)
    return to_messages(f"Straight to the origin: {vias}", blocks)
