"""How much a full check costs beyond the network work it does.

Starts a healthy site on loopback (nginx from Debian's packages, plain HTTP
and HTTPS with a trustme certificate), then, in one run so the ratios are
comparable on a noisy machine:

- times `checks.run.check` (warm, in-process, on the bot's own event loop) with 1
  and 3 samples;
- adds up the check's own phases (DNS, TCP, TLS, HTTP) for the same runs;
- times `curl -w '%{time_total}'` on the same URL;
- asks Prometheus blackbox_exporter (Debian's package) to probe the same URL and
  reads its own `probe_duration_seconds`;
- times the whole `gateway check --json` command, process start included.

Prints a Markdown table of medians; docs/benchmarks.md quotes it. Loopback only.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trustme

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import blackbox  # noqa: E402
from bench.loopback_site import start_nginx  # noqa: E402
from bot import loop  # noqa: E402
from checks.run import CheckOptions, check  # noqa: E402
from tests.servers.proxies import free_port  # noqa: E402


def phases_ms(diagnosis) -> float:
    """The check's own phases, added up as if they ran one after another."""
    ev = diagnosis.evidence
    total = ev.dns.ms
    total += max((a.ms for a in ev.tcp), default=0.0)
    total += ev.tls.ms if ev.tls else 0.0
    total += sum(s.timings.total_ms or 0.0 for s in ev.http)
    return total


async def time_checks(url: str, samples: int, runs: int, ca: str | None) -> tuple[float, float]:
    options = CheckOptions(allow_private=True, samples=samples, ca_bundle=ca)
    await check(url, options)  # warm up: imports, SSL contexts
    walls, sums = [], []
    for _ in range(runs):
        started = time.perf_counter()
        diagnosis = await check(url, options)
        walls.append((time.perf_counter() - started) * 1000)
        sums.append(phases_ms(diagnosis))
        assert diagnosis.healthy, diagnosis.summary
    return statistics.median(walls), statistics.median(sums)


def time_curl(url: str, runs: int, ca: str | None) -> float:
    args = ["curl", "-s", "-o", "/dev/null", "-w", "%{time_total}", url]
    if ca:
        args[1:1] = ["--cacert", ca]
    return statistics.median(
        float(subprocess.run(args, capture_output=True, text=True, check=True).stdout) * 1000
        for _ in range(runs)
    )


def time_command(url: str, runs: int, ca: str | None) -> float:
    args = [sys.executable, "-m", "bot.cli", "check", url, "--json", "--allow-private"]
    if ca:
        args += ["--ca-bundle", ca]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(args, capture_output=True, check=True, cwd=ROOT)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    ca = trustme.CA()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        cert, key, ca_path = tmp / "cert.pem", tmp / "key.pem", tmp / "ca.pem"
        leaf = ca.issue_cert("127.0.0.1", "localhost")
        leaf.private_key_pem.write_to_path(str(key))
        leaf.cert_chain_pems[0].write_to_path(str(cert))
        ca.cert_pem.write_to_path(str(ca_path))
        http_port, https_port, exporter_port = free_port(), free_port(), free_port()
        proc = start_nginx(tmp, http_port, https_port, cert, key)
        exporter = (
            blackbox.start(tmp, exporter_port, str(ca_path)) if blackbox.available() else None
        )
        try:
            rows = []
            for label, url, bundle in (
                ("HTTP", f"http://127.0.0.1:{http_port}/", None),
                ("HTTPS", f"https://127.0.0.1:{https_port}/", str(ca_path)),
            ):
                one, one_sum = loop.run(time_checks(url, 1, args.runs, bundle))
                three, three_sum = loop.run(time_checks(url, 3, args.runs, bundle))
                curl = time_curl(url, args.runs, bundle)
                peer = blackbox.median_probe_ms(exporter_port, url, args.runs) if exporter else None
                command = time_command(url, max(5, args.runs // 8), bundle)
                rows.append((label, one, one_sum, three, three_sum, peer, curl, command))
        finally:
            for process in (proc, exporter):
                if process is not None:
                    process.terminate()
                    process.wait(10)
    print(f"median of {args.runs} runs, milliseconds, nginx on loopback\n")
    print(
        "| site | check, 1 sample | its phases added up | check, 3 samples "
        "| its phases added up | blackbox_exporter probe | check ÷ blackbox "
        "| curl -w time_total | `gateway check --json` process |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for label, one, one_sum, three, three_sum, peer, curl, command in rows:
        peer_text = f"{peer:.2f} | {one / peer:.2f}×" if peer else "not installed | –"
        print(
            f"| {label} | {one:.2f} | {one_sum:.2f} | {three:.2f} | {three_sum:.2f} "
            f"| {peer_text} | {curl:.2f} | {command:.0f} |"
        )


if __name__ == "__main__":
    main()
