"""The corpus of real gateway log lines (tests/fixtures/corpus/, see its README).

Loads and checks the records, recomputes each one's split, and scores the explainer
on them: for every record, what `checks.explain` says against what the thread behind
the paste established. Pure: reads the one file, runs the pure explainer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from checks.explain import explain
from checks.knowledge import CAUSE_CODES, PRODUCTS

CORPUS = Path(__file__).parent / "fixtures" / "corpus" / "lines.jsonl"
KEYS = ("id", "text", "product", "cause", "source", "established", "format", "split")
SPLITS = ("held", "tune")
MAX_TEXT = 16_384


class CorpusError(ValueError):
    """A record that breaks the corpus's rules (the message names the record)."""


@dataclass(frozen=True)
class Record:
    id: str
    text: str
    product: str
    cause: str
    source: str
    established: str
    format: str
    split: str


@dataclass(frozen=True)
class Score:
    """What the explainer said about one record, and whether it matches the thread."""

    record: Record
    cause: str | None
    product: str | None
    confidence: float | None

    @property
    def silent(self) -> bool:
        return self.cause is None

    @property
    def cause_right(self) -> bool:
        return self.cause == self.record.cause

    @property
    def product_right(self) -> bool:
        return self.product == self.record.product

    @property
    def right(self) -> bool:
        return self.cause_right and self.product_right


def split_of(record_id: str) -> str:
    """The split a record's id puts it in: the first byte of sha256(id), mod 3."""
    return "held" if hashlib.sha256(record_id.encode()).digest()[0] % 3 == 0 else "tune"


def _check(raw: object, where: str) -> Record:
    if not isinstance(raw, dict):
        raise CorpusError(f"{where}: not a JSON object")
    missing = [key for key in KEYS if key not in raw]
    extra = sorted(set(raw) - set(KEYS))
    if missing or extra:
        raise CorpusError(f"{where}: missing keys {missing}, unknown keys {extra}")
    bad = [key for key in KEYS if not isinstance(raw[key], str) or not raw[key].strip()]
    if bad:
        raise CorpusError(f"{where}: empty or non-text values for {bad}")
    record = Record(**{key: raw[key] for key in KEYS})
    if record.product not in PRODUCTS or record.product == "unknown":
        raise CorpusError(f"{where}: product {record.product!r} is not a contract product")
    if record.cause not in CAUSE_CODES:
        raise CorpusError(f"{where}: cause {record.cause!r} is not a contract cause")
    url = urlsplit(record.source)
    if url.scheme != "https" or not url.netloc:
        raise CorpusError(f"{where}: source {record.source!r} is not an https URL")
    if record.split not in SPLITS or record.split != split_of(record.id):
        raise CorpusError(f"{where}: split {record.split!r} is not the one its id gives")
    if len(record.text) > MAX_TEXT:
        raise CorpusError(f"{where}: text longer than {MAX_TEXT} characters")
    return record


def load(path: Path = CORPUS) -> list[Record]:
    """Every record of the corpus, checked; unique ids and unique texts."""
    records: list[Record] = []
    ids: set[str] = set()
    texts: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path.name}:{number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as err:
            raise CorpusError(f"{where}: not JSON ({err.msg})") from None
        record = _check(raw, where)
        text = " ".join(record.text.split())
        if record.id in ids or text in texts:
            raise CorpusError(f"{where}: {record.id!r} repeats an id or a text")
        ids.add(record.id)
        texts.add(text)
        records.append(record)
    return records


def score(record: Record) -> Score:
    """Run the explainer on the record's text; its most telling finding is its answer."""
    findings = explain(record.text).findings
    if not findings:
        return Score(record, None, None, None)
    top = findings[0]
    return Score(record, top.cause, top.product, top.confidence)


def score_all(records: Iterable[Record], split: str | None = None) -> list[Score]:
    """Scores for the records of one split (every record when split is None)."""
    return [score(r) for r in records if split is None or r.split == split]
