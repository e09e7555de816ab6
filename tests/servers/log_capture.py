"""Write the lab's real proxy logs as fixtures for `gateway explain`.

``python -m tests.servers.log_capture [product ...]`` starts each proxy of
tests/servers/proxies.py in front of the misbehaving backends of
tests/servers/misbehave.py, sends one request per failure mode (two where the
second differs), and writes what the proxy logged meanwhile, byte for byte, to
``tests/fixtures/logs/<product>/<mode>.log`` (``startup.log``: what it logged
before the first request, e.g. health checks). Loopback only; about a minute
per product.
"""

from __future__ import annotations

import os
import shutil
import ssl
import sys
import time
from pathlib import Path

from tests.servers.misbehave import Behaviour, hanging_connect, serve
from tests.servers.proxies import PRODUCTS, failure_routes, raw_get

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "logs"
# What the explainer reads: the products whose logs say why (squid's cache.log does not).
CAPTURED = ("nginx", "haproxy", "apache2", "varnish", "caddy")
# Requests per mode: the second request differs for these (health marks, limits).
TWICE = ("hc", "limited503", "limited429")


def capture_logs(product: str, out: Path = FIXTURES) -> list[str]:  # pragma: no cover - a tool
    """Run every failure mode through ``product`` and write its logs; the files written."""
    import trustme

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    cls = PRODUCTS[product]
    if not shutil.which(cls.binary, path="/usr/sbin:/usr/bin:" + os.environ["PATH"]):
        raise SystemExit(f"{product} is not installed")
    backends = {
        "ok": serve(Behaviour.OK),
        "hang": serve(Behaviour.HANG),
        "close": serve(Behaviour.CLOSE_EARLY),
        "reset": serve(Behaviour.RESET),
        "garbage": serve(Behaviour.GARBAGE),
        "bad_header": serve(Behaviour.BAD_HEADER),
        "backend503": serve(Behaviour.STATUS, status=503, headers={"Retry-After": "30"}),
        "tls": serve(Behaviour.OK, ssl_context=server_ctx),
        "dies": serve(Behaviour.OK),
        "dies_hanging": serve(Behaviour.OK),
    }
    hang_port, hang_closer = hanging_connect()
    kwargs: dict[str, object] = {"retries": 0} if product == "haproxy" else {}
    proxy = cls(failure_routes(product, backends, hang_port), **kwargs)  # type: ignore[arg-type]
    folder = out / ("apache" if product == "apache2" else product)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        time.sleep(1.0)  # let health checks run and say so
        backends["dies"].refuse()
        backends["dies_hanging"].blackhole()
        seen = len(proxy.log_text())
        (folder / "startup.log").write_text(proxy.log_text()[:seen])
        written.append("startup.log")
        for mode in proxy.routes:
            for _ in range(2 if mode in TWICE else 1):
                raw_get(proxy.host, proxy.port, f"/{mode}/x?session=lab-secret", timeout=5)
            time.sleep(0.5 if product == "varnish" else 0.2)
            text = proxy.log_text()
            (folder / f"{mode}.log").write_text(text[seen:])
            written.append(f"{mode}.log")
            seen = len(text)
    finally:
        proxy.close()
        hang_closer()
        for backend in backends.values():
            backend.close()
    return written


if __name__ == "__main__":  # pragma: no cover
    for name in sys.argv[1:] or CAPTURED:
        files = capture_logs(name)
        print(f"{name}: {len(files)} files")
