"""docs/explain.md lists what `gateway explain` recognises; its tables are generated from
checks/knowledge/logs.toml and must not drift from it."""

from __future__ import annotations

from checks.knowledge.logs import load_logs
from tests.conftest import ROOT


def tables() -> str:
    """The "What it recognises" tables, as docs/explain.md must hold them."""
    logs = load_logs()
    out = []
    for fmt in logs.formats:
        if not logs.patterns[fmt.name]:
            continue  # read for its status only (listed in the prose)
        out += [
            f"### {fmt.log} (`{fmt.product}`)",
            "",
            "| the line says | proves | confidence | visitors got |",
            "| --- | --- | --- | --- |",
        ]
        for pattern in logs.patterns[fmt.name]:
            fields = fmt.fields(pattern.example) or {}
            proof = (pattern.proof(fields) or "").replace("|", "\\|").replace("`", "'")
            status = pattern.status or fields.get(fmt.status or "", "") or "–"
            out.append(f"| `{proof}` | `{pattern.cause}` | {pattern.confidence:.0%} | {status} |")
        out.append("")
    return "\n".join(out)


def test_the_docs_list_every_pattern_as_the_knowledge_has_it():
    docs = (ROOT / "docs" / "explain.md").read_text()
    current = tables()
    assert current in docs, "docs/explain.md drifted; its tables should read:\n\n" + current


def test_the_readme_points_to_the_explain_docs():
    readme = (ROOT / "README.md").read_text()
    assert "docs/explain.md" in readme and "gateway explain" in readme
