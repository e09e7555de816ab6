"""A healthy site on loopback for the benchmarks: nginx from Debian's packages."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers.misbehave import wait_for_port  # noqa: E402


def start_nginx(
    tmp: Path,
    http_port: int,
    https_port: int | None = None,
    cert: Path | None = None,
    key: Path | None = None,
) -> subprocess.Popen:
    """nginx answering 200 on `http_port` (and over TLS on `https_port`), files in `tmp`."""
    if not shutil.which("nginx") and not Path("/usr/sbin/nginx").exists():
        raise SystemExit("the benchmarks need nginx (apt-get install nginx)")
    tls = (
        f"listen 127.0.0.1:{https_port} ssl; ssl_certificate {cert}; ssl_certificate_key {key};"
        if https_port
        else ""
    )
    conf = tmp / "nginx.conf"
    conf.write_text(f"""
worker_processes 1; daemon off; master_process on; pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off; client_body_temp_path {tmp}; proxy_temp_path {tmp};
  fastcgi_temp_path {tmp}; uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
  server {{
    listen 127.0.0.1:{http_port} backlog=4096; {tls}
    location / {{ default_type text/html; return 200 "<html><body>ok</body></html>"; }}
  }}
}}
""")
    proc = subprocess.Popen(
        [
            shutil.which("nginx") or "/usr/sbin/nginx",
            "-p",
            f"{tmp}/",
            "-c",
            str(conf),
            "-e",
            f"{tmp}/error.log",
        ],
        start_new_session=True,
    )
    for port in (http_port, https_port):
        if port and not wait_for_port("127.0.0.1", port, 10):
            proc.kill()
            raise SystemExit(f"nginx did not start: {(tmp / 'error.log').read_text()}")
    return proc
