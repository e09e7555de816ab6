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
from checks.via import ViaCheck

_STATUS_STYLE = {
    "healthy": ("✔ HEALTHY", "bold green"),
    "degraded": ("▲ DEGRADED", "bold yellow"),
    "down": ("✖ DOWN", "bold red"),
}
_STEP_MARK = {True: ("✔", "green"), False: ("✖", "red"), None: ("·", "dim")}


def render(diagnosis: Diagnosis) -> Group:
    """Everything a person needs, most important first."""
    return Group(_headline(diagnosis), _facts(diagnosis), Text(), *_body(diagnosis))


def render_via(result: ViaCheck) -> Group:
    """`check --via`: the broken link first, then each origin asked directly, then the edge."""
    edge = result.edge
    parts: list[Text] = [_headline(edge)]
    if result.link.headline:
        label = f"⇢ {result.link.blame or 'no broken link'}"
        style = "bold red" if result.link.blame else "bold green"
        parts.append(Text.assemble("  ", (label, style), "  ", _safe(result.link.headline)))
    parts += [_facts(edge), Text(), *_section("Straight to the origin")]
    for via, diagnosis in result.origins:
        label, style = _STATUS_STYLE[diagnosis.status]
        parts.append(
            Text.assemble(
                "  ", (label, style), "  ", (f"via {via}", "bold"), " — ", _safe(diagnosis.summary)
            )
        )
        parts.append(Text("    " + _safe(" · ".join(_fact_list(diagnosis))), style="dim"))
    return Group(*parts, Text(), *_body(edge))


def _body(diagnosis: Diagnosis) -> list[Text]:
    parts: list[Text] = _section("What was checked")
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
    return parts


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
    return Text("  " + _safe(" · ".join(_fact_list(diagnosis))), style="dim")


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


def print_diagnosis(diagnosis: Diagnosis, console: Console | None = None) -> None:
    (console or Console(highlight=False)).print(render(diagnosis))


def print_via(result: ViaCheck, console: Console | None = None) -> None:
    (console or Console(highlight=False)).print(render_via(result))
