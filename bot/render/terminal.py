"""The diagnosis on a terminal, with rich: verdict first, then the evidence and the fixes.

Remote text (headers, page excerpts) is added as plain `Text`, never parsed as
rich markup, so a page cannot restyle or hide parts of the report; and every
string passes `printable` on its way in, so no control character (an `ESC[2J`
in a certificate, a C1 CSI in a header) reaches the terminal, whatever a probe
let through.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.text import Text

from checks.diagnose import Diagnosis
from checks.text import printable as _safe

_STATUS_STYLE = {
    "healthy": ("✔ HEALTHY", "bold green"),
    "degraded": ("▲ DEGRADED", "bold yellow"),
    "down": ("✖ DOWN", "bold red"),
}
_STEP_MARK = {True: ("✔", "green"), False: ("✖", "red"), None: ("·", "dim")}


def render(diagnosis: Diagnosis) -> Group:
    """Everything a person needs, most important first."""
    parts: list[Text] = [_headline(diagnosis), _facts(diagnosis), Text()]
    parts += _section("What was checked")
    for step in diagnosis.steps:
        mark, style = _STEP_MARK[step.ok]
        parts.append(Text.assemble("  ", (mark, style), " ", _safe(step.headline)))
        parts += [Text("      " + _safe(line), style="dim") for line in step.lines]
    parts += [Text(), *_section("Likely causes")]
    for number, cause in enumerate(diagnosis.causes, 1):
        parts.append(
            Text.assemble(
                f"  {number}. ",
                (_safe(cause.title), "bold"),
                (f"  {cause.confidence:.0%} · {_safe(cause.code)}", "dim"),
            )
        )
        parts.append(Text("     " + _safe(cause.explanation)))
        parts += [Text("     • " + _safe(line), style="cyan") for line in cause.evidence]
    top = diagnosis.cause
    if top.owner:
        parts += [Text(), *_section("What the site owner should do")]
        parts += [Text(f"  {n}. {_safe(step)}") for n, step in enumerate(top.owner, 1)]
    if top.visitor:
        parts += [Text(), *_section("What a visitor can try")]
        parts += [Text(f"  • {_safe(step)}") for step in top.visitor]
    for note in diagnosis.notes:
        parts += [Text(), *_section(_safe(note.title))]
        parts += [Text("  " + _safe(line)) for line in note.text.splitlines()]
    for warning in diagnosis.warnings:
        parts += [Text(), Text.assemble(("  ! ", "bold yellow"), _safe(warning))]
    return Group(*parts)


def _headline(diagnosis: Diagnosis) -> Text:
    label, style = _STATUS_STYLE[diagnosis.status]
    return Text.assemble(
        (label, style),
        "  ",
        (_safe(diagnosis.evidence.target.url), "bold"),
        " — ",
        _safe(diagnosis.summary),
    )


def _facts(diagnosis: Diagnosis) -> Text:
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
    return Text("  " + _safe(" · ".join(facts)), style="dim")


def _section(title: str) -> list[Text]:
    return [Text(title, style="bold underline")]


def print_diagnosis(diagnosis: Diagnosis, console: Console | None = None) -> None:
    (console or Console(highlight=False)).print(render(diagnosis))
