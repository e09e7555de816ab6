"""The postmortem draft: Markdown a person finishes, written from the incident's record.

It has what the bot knows (summary, impact, timeline, the cause as diagnosed with its
evidence, what was done) and asks what it cannot know (why the upstream stopped). A site's
text is escaped so it cannot format the document, and the evidence sits in a fence longer
than any run of backticks inside it. People are named by their Slack IDs.
"""

from __future__ import annotations

import re

from slack_sdk.models.blocks import Block, SectionBlock

from bot.record.model import Record
from bot.record.timeline import Diagnosed, actions, first_diagnosis, last_diagnosis, tally_line
from bot.render.alerts import duration
from bot.render.mrkdwn import Message, clip, code_block, mrkdwn, to_messages
from bot.render.timeline import MARKDOWN, describe, headline, lines, md_code, md_inert
from checks.diagnose import fill
from checks.knowledge import load
from checks.text import printable

# What only people can answer, by the cause the bot diagnosed.
QUESTIONS = {
    "upstream_refused": "Why did the application behind the gateway stop listening: a crash, "
    "a deploy, the out-of-memory killer, a port change?",
    "upstream_timeout": "What made the application too slow to answer: a query, a call to "
    "another service, a lock, load?",
    "upstream_bad_response": "Why did the application send a broken or empty answer: a crash "
    "mid-request, a worker killed, a protocol mismatch?",
    "upstream_overloaded": "What kept every worker busy, and is the pool sized for the load?",
    "upstream_dns": "Why did the upstream's name stop resolving: a renamed service, a resolver "
    "outage?",
    "upstream_tls": "What changed in TLS between the gateway and the application: a "
    "certificate, a protocol setting?",
    "no_healthy_upstream": "Why were all backends out of the pool at once: a bad deploy, a "
    "shared dependency, a wrong health check?",
}
GENERIC = (
    "What would have told us sooner, or without a person watching?",
    "What will keep this from happening again, and who owns that?",
)
_BACKTICKS = re.compile(r"`+")


def fenced(text: str) -> str:
    """A fenced code block that no backticks inside the text can close."""
    longest = max((len(m.group()) for m in _BACKTICKS.finditer(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{printable(text, lines=True)}\n{fence}"


def draft(record: Record) -> str:
    """The whole draft, Markdown."""
    diagnosed = last_diagnosis(record) or first_diagnosis(record)
    host = md_inert(record.host)
    out = [f"# Postmortem draft: {host}", ""]
    out += [
        "_Written by gateway from its incident record. Check it and answer the open questions._",
        "",
    ]
    out += ["## Summary", "", _summary(record), ""]
    out += ["## Impact", "", *_impact(record), ""]
    out += ["## Timeline (UTC)", "", *[f"- {line}" for line in lines(record, MARKDOWN)], ""]
    out += ["## Cause as diagnosed", ""]
    if diagnosed is None:
        out += ["No diagnosis was recorded.", ""]
    else:
        out.append(f"- Cause: `{md_code(diagnosed.cause)}`" + _title(diagnosed, record))
        if diagnosed.product:
            out.append(f"- Answered by: {md_inert(diagnosed.product)}")
        out.append(f"- HTTP status: {md_inert(diagnosed.status or 'no HTTP answer')}")
        if diagnosed.summary:
            out.append(f"- The check said: {md_inert(diagnosed.summary)}")
        out.append(f"- Checks: {md_inert(tally_line(record.tally))}")
        if diagnosed.excerpt:
            out += ["", "Evidence (the page as the site sent it):", "", fenced(diagnosed.excerpt)]
        out.append("")
    out += ["## What was done", ""]
    done = [f"- {MARKDOWN.time(e.at)}: {describe(e, MARKDOWN)}" for e in actions(record)]
    out += done or ["- Nothing was recorded: nobody acknowledged, nothing was escalated."]
    out += ["", "## Open questions", ""]
    asks = [QUESTIONS.get(diagnosed.cause, "Why did it happen?")] if diagnosed else []
    out += [f"- [ ] {q}" for q in (*asks, *GENERIC)]
    return "\n".join(out) + "\n"


def _title(diagnosed: Diagnosed, record: Record) -> str:
    """`: The application behind nginx is down or not listening` (the knowledge's title)."""
    cause = load().causes.get(diagnosed.cause)
    if cause is None:
        return ""
    context = {
        "gateway": diagnosed.product or "the gateway",
        "status": diagnosed.status or "an error",
        "host": record.host,
        "port": "",
    }
    return ": " + md_inert(fill(cause.title, context))


def _summary(record: Record) -> str:
    diagnosed = last_diagnosis(record)
    said = f" {md_inert(diagnosed.summary)}." if diagnosed and diagnosed.summary else ""
    return f"{headline(record, MARKDOWN)}.{said}"


def _impact(record: Record) -> list[str]:
    end = MARKDOWN.date(record.recovered_at) if record.recovered_at else "still open"
    down = duration(record.downtime) if record.downtime is not None else "still down"
    return [
        f"- Window: {MARKDOWN.date(record.started_at)} to {end}",
        f"- Downtime: {down}",
        f"- Site: {md_inert(record.url)}",
        f"- {md_inert(tally_line(record.tally))}",
    ]


def draft_messages(record: Record) -> list[Message]:
    """The draft as Slack messages: a code block a person can copy (escaped for Slack)."""
    text = draft(record)
    fallback = f"Postmortem draft for {printable(record.host)}"
    intro = ":memo: *Postmortem draft* (Markdown, to copy and finish):"
    chunks: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if current and len(code_block([*current, line])) > 2900:
            chunks.append(code_block(current))
            current = []
        current.append(clip(line, 2800))
    if current:
        chunks.append(code_block(current))
    blocks: list[Block] = [SectionBlock(text=mrkdwn(intro))]
    blocks += [SectionBlock(text=mrkdwn(chunk)) for chunk in chunks]
    return to_messages(fallback, blocks)
