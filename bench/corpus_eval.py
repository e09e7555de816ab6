"""How well `gateway explain` reads the corpus of real log lines (tests/fixtures/corpus/).

Prints, for one split (held by default, the third nobody tunes on), the accuracy on
causes and products per product and overall, per confidence band, and how many
records got no finding at all.  `make bench-corpus`, or
`python bench/corpus_eval.py --split tune|held|all`.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.corpus import Score, load, score_all

BANDS = ((0.0, 0.5, "<0.5"), (0.5, 0.7, "0.5-0.7"), (0.7, 0.9, "0.7-0.9"), (0.9, 1.01, ">=0.9"))


def _row(name: str, scores: list[Score]) -> str:
    n = len(scores)
    causes = sum(s.cause_right for s in scores)
    products = sum(s.product_right for s in scores)
    silent = sum(s.silent for s in scores)
    return (
        f"{name:<16}{n:>6}{causes / n:>9.0%}{products / n:>10.0%}"
        f"{sum(s.right for s in scores) / n:>8.0%}{silent:>8}"
    )


def report(scores: list[Score]) -> list[str]:
    """The lines the bench prints: per product, overall, per confidence band."""
    head = f"{'product':<16}{'lines':>6}{'cause':>9}{'product':>10}{'both':>8}{'silent':>8}"
    by_product: dict[str, list[Score]] = defaultdict(list)
    for s in scores:
        by_product[s.record.product].append(s)
    lines = [head]
    lines += [_row(p, by_product[p]) for p in sorted(by_product)]
    lines += ["-" * len(head), _row("overall", scores), ""]
    lines.append(f"{'confidence':<16}{'lines':>6}{'cause':>9}{'product':>10}{'both':>8}")
    for low, high, name in BANDS:
        band = [s for s in scores if s.confidence is not None and low <= s.confidence < high]
        if band:
            lines.append(_row(name, band)[:-8])
        else:
            lines.append(f"{name:<16}{0:>6}")
    silent = sum(s.silent for s in scores)
    lines.append(f"{'silent':<16}{silent:>6}  (no finding at all: counted wrong above)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("held", "tune", "all"), default="held")
    args = parser.parse_args()
    split = None if args.split == "all" else args.split
    scores = score_all(load(), split)
    print(f"corpus split: {args.split} ({len(scores)} records)")
    print("\n".join(report(scores)))


if __name__ == "__main__":
    main()
