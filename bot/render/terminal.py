"""The diagnosis on a terminal, with rich: verdict first, then the evidence and the fixes.

By default the report fits one screen: the verdict, the hop where it breaks, the
top causes and the first steps (`render_short`); `--full` prints every section
(`render`). Wrapped lines keep their hanging indent, so a long step still reads
as one item.

Remote text (headers, page excerpts) is added as plain `Text`, never parsed as
rich markup, so a page cannot restyle or hide parts of the report; and every
string passes `printable` on its way in, so no control character (an `ESC[2J`
in a certificate, a C1 CSI in a header) reaches the terminal, whatever a probe
let through.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console, Group
from rich.text import Text

from bot.render.wrap import Hanging, hanging
from checks.diagnose import Cause, Diagnosis
from checks.steps import Step
from checks.text import printable as _safe
from checks.via import ViaCheck

_STATUS_STYLE = {
    "healthy": ("✔ HEALTHY", "bold green"),
    "degraded": ("▲ DEGRADED", "bold yellow"),
    "down": ("✖ DOWN", "bold red"),
}
_STEP_MARK = {True: ("✔", "green"), False: ("✖", "red"), None: ("·", "dim")}
SHORT_CAUSES = 3  # causes named in the short report
SHORT_LINES = 25  # the short report's budget, in lines at the console's width
SHORT_STEPS = 3  # at most this many owner steps, fewer when the budget is spent


def render(diagnosis: Diagnosis) -> Group:
    """Everything a person needs, most important first (`--full`)."""
    parts: list[Text | Hanging] = [hanging(_headline(diagnosis), "", "  "), _facts(diagnosis)]
    parts.append(Text())
    parts += _section("What was checked")
    for step in diagnosis.steps:
        parts.append(_step(step))
        parts += [hanging(Text(_safe(line), style="dim"), "      ") for line in step.lines]
    parts += [Text(), *_section("Likely causes")]
    for number, cause in enumerate(diagnosis.causes, 1):
        parts.append(_cause_line(number, cause))
        parts.append(hanging(Text(_safe(cause.explanation)), "     "))
        parts += [
            hanging(Text(_safe(line), style="cyan"), "     • ", "       ")
            for line in cause.evidence
        ]
    top = diagnosis.cause
    if top.owner:
        parts += [Text(), *_section("What the site owner should do")]
        parts += [_numbered(n, step) for n, step in enumerate(top.owner, 1)]
    if top.visitor:
        parts += [Text(), *_section("What a visitor can try")]
        parts += [hanging(Text(_safe(step)), "  • ", "    ") for step in top.visitor]
    for note in diagnosis.notes:
        parts += [Text(), *_section(_safe(note.title))]
        parts += [hanging(Text(_safe(line)), "  ") for line in note.text.splitlines()]
    for warning in diagnosis.warnings:
        parts += [Text(), hanging(Text(_safe(warning)), "  ! ", "    ")]
    return Group(*parts)


def render_short(diagnosis: Diagnosis, width: int = 80) -> Group:
    """One screen: the verdict, the hop, the top causes, the first steps, and what
    `--full` adds. Owner steps are dropped from the end until it fits SHORT_LINES."""
    head: list[Text | Hanging] = [hanging(_headline(diagnosis), "", "  "), _facts(diagnosis)]
    if diagnosis.healthy:
        return Group(*head, Text(), Text("  (--full shows every check, step and note)", "dim"))
    head += [Text(), *_section("Where it breaks"), *_hop(diagnosis)]
    head += [Text(), *_section("Likely causes")]
    for number, cause in enumerate(diagnosis.causes[:SHORT_CAUSES], 1):
        head.append(_cause_line(number, cause, short=True))
    more = len(diagnosis.causes) - SHORT_CAUSES
    steps = [_numbered(n, step) for n, step in enumerate(diagnosis.cause.owner, 1)]
    budget = SHORT_LINES - _height(head, width) - 4  # blank, section title, the footer (2)
    shown: list[Hanging] = []
    for step in steps[:SHORT_STEPS]:
        if _height([*shown, step], width) > budget and shown:
            break
        shown.append(step)
    footer = _footer(len(steps) - len(shown), max(more, 0), diagnosis)
    if shown:
        head += [Text(), *_section("First steps for the site owner"), *shown]
    return Group(*head, hanging(Text(footer.strip(), style="dim"), "  ", "  "))


def render_via(result: ViaCheck, full: bool = False) -> Group:
    """`check --via`: the broken link first, each origin asked directly, then the edge's
    report (one screen, or every section with `--full`)."""
    edge = result.edge
    parts: list[Text | Hanging] = []
    if result.link.headline:
        label = f"⇢ {result.link.blame or 'no broken link'}"
        style = "bold red" if result.link.blame else "bold green"
        line = Text.assemble((label, style), "  ", _safe(result.link.headline))
        parts.append(hanging(line, "", "  "))
    parts += _section("Straight to the origin")
    for via, diagnosis in result.origins:
        label, style = _STATUS_STYLE[diagnosis.status]
        line = Text.assemble(
            (label, style), "  ", (f"via {via}", "bold"), " — ", _safe(diagnosis.summary)
        )
        parts.append(hanging(line, "  ", "    "))
        parts.append(hanging(Text(_safe(" · ".join(_fact_list(diagnosis))), "dim"), "    "))
    edge_report = render(edge) if full else render_short(edge)
    return Group(*parts, Text(), *_section("Through the edge"), edge_report)


def _footer(steps_left: int, causes_left: int, diagnosis: Diagnosis) -> str:
    left = []
    if steps_left:
        left.append(f"{steps_left} more step(s)")
    if causes_left:
        left.append(f"{causes_left} more cause(s)")
    left.append("the evidence")
    if diagnosis.cause.visitor:
        left.append("what a visitor can try")
    if diagnosis.notes:
        left.append("notes")
    return "  --full shows " + ", ".join(left)


def _hop(diagnosis: Diagnosis) -> list[Text | Hanging]:
    """The layers that were tried, one line each, and the link that failed."""
    lines: list[Text | Hanging] = [_step(step) for step in diagnosis.steps if step.ok is not None]
    if diagnosis.product_name and diagnosis.http_status and diagnosis.http_status >= 500:
        name = _safe(diagnosis.product_name)
        lines.append(
            hanging(
                Text.assemble(
                    ("✖", "red"),
                    f" {name} → the server behind it ({name} answered {diagnosis.http_status})",
                ),
                "  ",
                "    ",
            )
        )
    return lines


def _step(step: Step) -> Hanging:
    mark, style = _STEP_MARK[step.ok]
    return hanging(Text.assemble((mark, style), " ", _safe(step.headline)), "  ", "    ")


def _cause_line(number: int, cause: Cause, short: bool = False) -> Hanging:
    meta = f"  {cause.confidence:.0%}" + ("" if short else f" · {_safe(cause.code)}")
    text = Text.assemble((_safe(cause.title), "bold"), (meta, "dim"))
    prefix = f"  {number}. "
    return hanging(text, prefix, " " * len(prefix))


def _numbered(number: int, step: str) -> Hanging:
    prefix = f"  {number}. "
    return hanging(Text(_safe(step)), prefix, " " * len(prefix))


def _height(parts: Sequence[Text | Hanging], width: int) -> int:
    return sum(part.height(width) if isinstance(part, Hanging) else 1 for part in parts)


def _headline(diagnosis: Diagnosis) -> Text:
    label, style = _STATUS_STYLE[diagnosis.status]
    return Text.assemble(
        (label, style),
        "  ",
        (_safe(diagnosis.evidence.target.url), "bold"),
        " — ",
        _safe(diagnosis.summary),
    )


def _facts(diagnosis: Diagnosis) -> Hanging:
    return hanging(Text(_safe(" · ".join(_fact_list(diagnosis))), style="dim"), "  ")


def _fact_list(diagnosis: Diagnosis) -> list[str]:
    facts = [f"cause {diagnosis.cause.code} ({diagnosis.cause.confidence:.0%})"]
    if diagnosis.product_name:
        gateway = diagnosis.product_name
        if diagnosis.front:
            gateway += f" behind {diagnosis.front}"
        facts.append(f"gateway {gateway}")
    statuses = [str(s) if s is not None else "—" for s in diagnosis.samples]
    if statuses:
        facts.append("HTTP " + " ".join(statuses))
    facts.append(f"{diagnosis.evidence.duration_ms:.0f} ms")
    return facts


def _section(title: str) -> list[Text]:
    return [Text(title, style="bold underline")]


def print_diagnosis(
    diagnosis: Diagnosis, console: Console | None = None, full: bool = False
) -> None:
    console = console or Console(highlight=False)
    if full:
        console.print(render(diagnosis))
    else:
        console.print(render_short(diagnosis, max(20, console.width)))


def print_via(result: ViaCheck, console: Console | None = None, full: bool = False) -> None:
    (console or Console(highlight=False)).print(render_via(result, full))
