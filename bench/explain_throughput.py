"""How fast `gateway explain` reads a paste, and what the worst 1 MiB costs.

Builds pastes from the lab's real log fixtures (tests/fixtures/logs/) and from
hostile shapes, each near the 1 MiB input limit, and times `checks.explain.explain`
on them in-process (warm; the median of a few runs, by the wall clock and in CPU time:
on a shared machine the CPU time is the steadier figure). Prints a Markdown table that
docs/explain.md quotes. No network.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from checks.explain import MAX_BYTES, explain, read_text  # noqa: E402

RUNS = 5


def _fill(unit: str) -> str:
    """`unit` repeated up to just under the 1 MiB limit."""
    data = (unit * (MAX_BYTES // max(1, len(unit.encode())) + 1)).encode()
    return data[: MAX_BYTES - 16].decode("utf-8", errors="ignore")


def cases() -> dict[str, str]:
    fixtures = sorted((ROOT / "tests" / "fixtures" / "logs").glob("*/*.log"))
    real = "\n".join(p.read_text() for p in fixtures) + "\n"
    nginx = (ROOT / "tests" / "fixtures" / "logs" / "nginx" / "refused.log").read_text()
    return {
        "the lab's real logs, all products, repeated to 1 MiB": _fill(real),
        "nginx error.log, refused, repeated to 1 MiB": _fill(nginx),
        "10,000 varnishlog FetchError lines": "\n".join(
            f"--  FetchError     backend b{i}: fail errno 111 (Connection refused)"
            for i in range(10_000)
        ),
        "1 MiB of an application's own log (no gateway line)": _fill(
            "".join(
                f"2026-11-25 14:46:{i % 60:02d},123 INFO [worker-{i % 7}] processed job {i} "
                f"in {i % 97} ms for user u{i}\n"
                for i in range(20_000)
            )
        ),
        "1 MiB of HTML error pages, one <html> after another": _fill("<html>") + "</html>",
        "1 MiB of one line": "x" * (MAX_BYTES - 16),
        "1 MiB of two-byte lines (the most lines)": _fill("a\n"),
    }


def main() -> None:
    print("| paste | size | lines | recognized | median time | median CPU time |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, text in cases().items():
        text = read_text(text)
        times, cpu = [], []
        for _ in range(RUNS):
            start, start_cpu = time.perf_counter(), time.process_time()
            result = explain(text)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        size = len(text.encode()) / 1024
        print(
            f"| {name} | {size:,.0f} KiB | {result.lines:,} | {result.recognized:,} | "
            f"{statistics.median(times) * 1000:,.0f} ms | {statistics.median(cpu) * 1000:,.0f} ms |"
        )


if __name__ == "__main__":
    main()
