"""An explanation of log lines, rendered: JSON (the contract's shape), terminal, Slack.

Pure. The only remote text in an explanation is each finding's evidence and
upstream (already one bounded line without control characters); Slack gets them
escaped and inside code spans whose backticks cannot be closed early, the
terminal gets them as plain rich `Text`, never parsed as markup.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rich.console import Console, Group
from rich.text import Text
from slack_sdk.models.blocks import Block, ContextBlock, SectionBlock

from checks.diagnose import Diagnosis
from checks.explain import Explanation, Finding, settling_line
from checks.knowledge import load as load_knowledge
from checks.knowledge.logs import load_logs

from .mrkdwn import SECTION_LIMIT, TEXT_LIMIT, Message, clip, code, escape, mrkdwn

SCHEMA = 1
SETTLE_BELOW = 0.9  # a check's top cause less sure than this: say which log line settles it
_USER_ID = re.compile(r"^[UW][A-Z0-9]{1,20}$")
SLACK_FINDINGS = 5
SLACK_OWNER_STEPS = 4


# ---------------------------------------------------------------------------------- JSON


def to_dict(explanation: Explanation) -> dict[str, Any]:
    """The contract's object; extra keys beside the fixed ones."""
    return {
        "schema": SCHEMA,
        "findings": [_finding_dict(f) for f in explanation.findings],
        "lines": explanation.lines,
        "recognized": explanation.recognized,
        "unrecognized": explanation.unrecognized,
        "more_findings": explanation.more_findings,
    }


def _finding_dict(finding: Finding) -> dict[str, Any]:
    return {
        "product": finding.product,
        "cause": finding.cause,
        "confidence": round(finding.confidence, 2),
        "count": finding.count,
        "first_seen": finding.first_seen,
        "last_seen": finding.last_seen,
        "upstream": finding.upstream,
        "evidence": finding.evidence,
        "title": finding.title,
        "explanation": finding.explanation,
        "owner": list(finding.owner),
        "status": finding.status,
        "log": finding.log,
        "source": finding.source,
        "next": finding.next,
    }


# ------------------------------------------------------------------------------ terminal


def render_terminal(explanation: Explanation) -> Group:
    parts: list[Text] = [_headline(explanation), Text()]
    explained: set[tuple[str, str]] = set()
    for number, finding in enumerate(explanation.findings, 1):
        parts.append(
            Text.assemble(
                f"{number}. ",
                (finding.title, "bold"),
                (f"  {finding.confidence:.0%} · {finding.cause} · {finding.product}", "dim"),
            )
        )
        parts.append(Text("   " + _facts(finding), style="dim"))
        parts.append(Text.assemble("   ", (finding.evidence, "cyan")))
        if finding.next:
            parts.append(Text.assemble("   ", ("Next: ", "bold yellow"), finding.next))
        if (finding.product, finding.cause) not in explained:
            explained.add((finding.product, finding.cause))
            parts.append(Text("   " + finding.explanation))
            parts.append(Text("   What the owner should do:", style="bold"))
            parts += [Text(f"     {n}. {step}") for n, step in enumerate(finding.owner, 1)]
        parts.append(Text())
    if explanation.more_findings:
        parts.append(Text(f"… and {explanation.more_findings} more groups of lines.", style="dim"))
    if not explanation.findings:
        parts.append(Text(_known_products(), style="dim"))
    return Group(*parts)


def print_explanation(explanation: Explanation, console: Console | None = None) -> None:
    (console or Console(highlight=False)).print(render_terminal(explanation))


def _headline(explanation: Explanation) -> Text:
    if not explanation.findings:
        return Text.assemble(
            ("? NOTHING RECOGNIZED", "bold yellow"),
            f"  none of {explanation.lines} line(s) is a gateway failure line this tool knows",
        )
    top = explanation.findings[0]
    return Text.assemble(
        ("✔ EXPLAINED", "bold green"),
        f"  {explanation.recognized} of {explanation.lines} line(s) recognized; "
        f"most telling: {top.product} · {top.cause}",
        (
            f" ({explanation.unrecognized} not recognized, counted, not guessed)"
            if explanation.unrecognized
            else ""
        ),
    )


def _facts(
    finding: Finding,
    upstream: Callable[[str], str] = str,
    log: Callable[[str], str] = str,
) -> str:
    """The finding's count, times, upstream, status and log, each through its own quoting."""
    facts = [f"{finding.count} line(s)"]
    if finding.first_seen:
        when = finding.first_seen.replace("T", " ")
        if finding.last_seen and finding.last_seen != finding.first_seen:
            when += " → " + finding.last_seen.replace("T", " ")
        facts.append(when)
    if finding.upstream:
        facts.append(f"upstream {upstream(finding.upstream)}")
    if finding.status:
        facts.append(f"visitors got {finding.status}")
    facts.append(f"from {log(finding.log)}")
    return " · ".join(facts)


def _known_products() -> str:
    products = load_knowledge().products
    names = dict.fromkeys(
        products[fmt.product].name for fmt in load_logs().formats if fmt.product != "unknown"
    )
    return (
        "It reads the logs and error pages of "
        + ", ".join(names)
        + ", and error messages in anyone's words (Go, Node.js, OpenSSL). "
        "Paste whole lines, with the error message."
    )


# --------------------------------------------------------------------------------- Slack


def slack_messages(explanation: Explanation, user: str | None = None) -> list[Message]:
    """The answer in Slack: what the lines prove, most telling first, escaped and bounded."""
    asked = f" (asked by <@{user}>)" if user and _USER_ID.match(user) else ""
    if not explanation.findings:
        text = (
            f":grey_question: None of the {explanation.lines} line(s) is a gateway failure "
            f"line I know{asked}. {_known_products()}"
        )
        return [Message(text=clip(text, TEXT_LIMIT), blocks=[_section(text).to_dict()])]
    top = explanation.findings[0]
    lead = (
        f":mag: *{explanation.recognized} of {explanation.lines} line(s) recognized*; "
        f"most telling: *{escape(top.title)}* (`{top.cause}`, {top.product}){asked}"
    )
    if explanation.unrecognized:
        lead += f"\n{explanation.unrecognized} line(s) not recognized: counted, not guessed."
    blocks: list[Block] = [_section(lead)]
    explained: set[tuple[str, str]] = set()
    for number, finding in enumerate(explanation.findings[:SLACK_FINDINGS], 1):
        text = (
            f"*{number}. {escape(finding.title)}* · `{finding.cause}` · "
            f"{finding.confidence:.0%}\n{code(finding.evidence)}"
        )
        if finding.next:
            text += f"\n:point_right: {escape(finding.next)}"
        if (finding.product, finding.cause) not in explained:
            explained.add((finding.product, finding.cause))
            steps = "\n".join(
                f"{n}. {escape(step)}"
                for n, step in enumerate(finding.owner[:SLACK_OWNER_STEPS], 1)
            )
            text += f"\n{escape(finding.explanation)}\n*What the owner should do*\n{steps}"
        blocks.append(_section(text))
        blocks.append(ContextBlock(elements=[mrkdwn(clip(_slack_facts(finding), TEXT_LIMIT))]))
    hidden = len(explanation.findings) - SLACK_FINDINGS + explanation.more_findings
    if hidden > 0:
        blocks.append(
            ContextBlock(
                elements=[mrkdwn(f"… and {hidden} more group(s); `gateway explain` shows all.")]
            )
        )
    fallback = (
        f"{explanation.recognized} of {explanation.lines} log line(s) recognized: "
        + "; ".join(f"{f.product} {f.cause} ×{f.count}" for f in explanation.findings[:5])
    )
    return [Message(text=clip(fallback, TEXT_LIMIT), blocks=[b.to_dict() for b in blocks])]


def settle_messages(diagnosis: Diagnosis) -> list[Message]:
    """For a check whose page cannot tell its causes apart: the log line that would, per
    cause, and how to have the bot read it. Nothing when the verdict is already sure."""
    product = diagnosis.product
    if not product or product == "unknown" or diagnosis.cause.confidence >= SETTLE_BELOW:
        return []
    lines = [(c, settling_line(product, c.code)) for c in diagnosis.causes]
    lines = [(cause, line) for cause, line in lines if line]
    if len(lines) < 2:
        return []
    logs = [fmt.log for fmt in load_logs().formats if fmt.product == product]
    name = diagnosis.product_name or product
    text = (
        f"*Which is it? {escape(name)}'s own log settles it.* For one failing request, "
        f"look in its {escape(logs[0])} for one of these lines:\n"
        + "\n".join(
            f"• {code(line)} means `{cause.code}` ({escape(cause.title)})" for cause, line in lines
        )
        + "\nPaste the lines with `/gateway explain` followed by the lines, or use the message "
        "shortcut *Explain with gateway* (the ⋯ menu) on a message that holds them: the answer "
        "comes in that message's thread."
    )
    fallback = f"Which is it? {name}'s log settles it: /gateway explain + the lines"
    return [Message(text=clip(fallback, TEXT_LIMIT), blocks=[_section(text).to_dict()])]


def _slack_facts(finding: Finding) -> str:
    return _facts(finding, upstream=code, log=escape)


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=mrkdwn(clip(text, SECTION_LIMIT)))
