"""Prometheus blackbox_exporter (Debian's package) on loopback, the peer a check is compared to.

Started with a config written here (an `http_2xx` module, the benchmark's CA for
HTTPS); each probe asks `/probe` and reads the exporter's own
`probe_duration_seconds`, the time it spent probing (resolve, connect, TLS,
request), so the exporter's HTTP front and the Prometheus text are not counted.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

from tests.servers.misbehave import wait_for_port

BINARY = "prometheus-blackbox-exporter"
_DURATION = re.compile(r"^probe_duration_seconds ([0-9.e+-]+)$", re.MULTILINE)
_SUCCESS = re.compile(r"^probe_success 1$", re.MULTILINE)


def available() -> bool:
    return shutil.which(BINARY) is not None


def start(tmp: Path, port: int, ca: str | None) -> subprocess.Popen:
    """The exporter on 127.0.0.1:`port`, one module, its files in `tmp`."""
    tls = f"\n      tls_config:\n        ca_file: {ca}" if ca else ""
    config = tmp / "blackbox.yml"
    config.write_text(
        "modules:\n"
        "  http_2xx:\n"
        "    prober: http\n"
        "    timeout: 10s\n"
        "    http:\n"
        "      preferred_ip_protocol: ip4\n"
        "      ip_protocol_fallback: false" + tls + "\n"
    )
    proc = subprocess.Popen(
        [
            BINARY,
            f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=error",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port("127.0.0.1", port)
    return proc


def probe_ms(port: int, url: str) -> float:
    """One probe of `url`; its own duration in milliseconds."""
    query = urllib.parse.urlencode({"target": url, "module": "http_2xx"})
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/probe?{query}", timeout=15) as answer:
        text = answer.read().decode()
    if not _SUCCESS.search(text):
        raise RuntimeError(f"blackbox_exporter could not probe {url}")
    found = _DURATION.search(text)
    if found is None:
        raise RuntimeError("blackbox_exporter gave no probe_duration_seconds")
    return float(found.group(1)) * 1000


def median_probe_ms(port: int, url: str, runs: int) -> float:
    probe_ms(port, url)  # warm up
    return statistics.median(probe_ms(port, url) for _ in range(runs))
