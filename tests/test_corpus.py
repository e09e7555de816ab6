"""The corpus of real log lines (tests/fixtures/corpus/): where each line came from, how
much it covers, the split nobody may move lines across, and how well `gateway explain`
reads the held-out third, which nobody tunes on."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.corpus import CORPUS, CorpusError, load, score_all, split_of

MAJOR = (
    "nginx",
    "apache",
    "haproxy",
    "envoy",
    "traefik",
    "caddy",
    "cloudflared",
    "aws_elb",
    "gunicorn",
    "uwsgi",
    "php-fpm",
    "varnish",
    "squid",
)
RECORDS = load()


def test_the_corpus_holds_at_least_300_real_pastes() -> None:
    assert len(RECORDS) >= 300


def test_it_spans_at_least_20_products_and_20_formats() -> None:
    assert len({r.product for r in RECORDS}) >= 20
    assert len({r.format for r in RECORDS}) >= 20


@pytest.mark.parametrize("product", MAJOR)
def test_every_major_product_has_at_least_10_lines(product: str) -> None:
    assert sum(r.product == product for r in RECORDS) >= 10


def test_every_line_names_the_public_page_it_was_copied_from() -> None:
    for record in RECORDS:
        assert record.source.startswith("https://"), record.id
        assert len(record.established.split()) >= 3, record.id


def test_the_split_is_the_one_each_id_gives() -> None:
    assert all(r.split == split_of(r.id) for r in RECORDS)
    held = sum(r.split == "held" for r in RECORDS)
    assert len(RECORDS) / 5 < held < len(RECORDS) / 2


def _write(tmp_path: Path, **change: str) -> Path:
    raw = json.loads(CORPUS.read_text(encoding="utf-8").splitlines()[0])
    raw.update(change)
    path = tmp_path / "lines.jsonl"
    path.write_text(json.dumps(raw) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "change",
    [
        {"split": "other"},
        {"product": "nginx-plus"},
        {"cause": "broken"},
        {"source": "a thread somewhere"},
        {"established": " "},
    ],
)
def test_a_record_that_breaks_the_rules_is_refused(tmp_path: Path, change: dict[str, str]) -> None:
    with pytest.raises(CorpusError):
        load(_write(tmp_path, **change))


def test_a_line_moved_to_the_other_split_is_refused(tmp_path: Path) -> None:
    first = RECORDS[0]
    moved = "tune" if first.split == "held" else "held"
    with pytest.raises(CorpusError, match="split"):
        load(_write(tmp_path, split=moved))


def test_a_repeated_paste_is_refused(tmp_path: Path) -> None:
    line = CORPUS.read_text(encoding="utf-8").splitlines()[0]
    twin = json.loads(line)
    twin["id"] += "-twin"
    twin["split"] = split_of(twin["id"])
    path = tmp_path / "lines.jsonl"
    path.write_text(line + "\n" + json.dumps(twin) + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="repeats"):
        load(path)


def test_held_out_third_is_at_least_90_percent() -> None:
    scores = score_all(RECORDS, "held")
    causes = sum(s.cause_right for s in scores) / len(scores)
    products = sum(s.product_right for s in scores) / len(scores)
    wrong = Counter(
        f"{s.record.product}/{s.record.cause} -> {s.product}/{s.cause}"
        for s in scores
        if not s.right
    )
    assert causes >= 0.9 and products >= 0.9, (
        f"held out: causes {causes:.0%}, products {products:.0%} of {len(scores)}; "
        f"most missed: {wrong.most_common(8)}"
    )
