"""Real reverse proxies from Debian's packages, run on loopback for tests.

Each class starts one product (nginx, haproxy, apache2, varnish, caddy, squid)
as an unprivileged-port process with its own config, pid file, logs and temp
dirs inside a temporary directory, bound to 127.0.0.1 on a free port, with
short upstream timeouts (1 s by default) so failure modes show up fast. The
system-wide services and everything under /etc are never used.

A proxy fronts one or more *routes*: ``/<name>/...`` is proxied (path kept) to
that route's backend; the route named ``""`` is ``/``::

    with serve(Behaviour.HANG) as hang, NginxProxy({
        "refused": closed_port(),           # int: http://127.0.0.1:<port>
        "hang": hang.url(),                 # a URL: scheme, host and port are used
        "none": None,                       # no usable server at all
        "tls": Route(tls.url(), verify_tls=True, trusted_ca=other_ca_pem),
        "limited": Route(ok.url(), rate_limit="1r/m"),
    }) as proxy:
        httpx.get(proxy.url("/hang/x"))     # -> 504 after ~1 s
        proxy.log_text()                    # the proxy's error log

``backend=None`` is each product's own "nothing to send it to": nginx an
upstream whose servers are all ``down``, haproxy a backend without servers,
apache2 a balancer without members, varnish ``backend none``, caddy an upstream
failed by its active health check, squid a path no cache_peer may serve.

Every class calls ``pytest.skip`` with a reason when its binary is missing.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

import pytest

from tests.servers.misbehave import closed_port

__all__ = [
    "PRODUCTS",
    "ApacheProxy",
    "CaddyProxy",
    "HAProxyProxy",
    "NginxProxy",
    "Proxy",
    "ProxyStartError",
    "Route",
    "SquidProxy",
    "VarnishProxy",
    "capture",
    "free_port",
    "raw_get",
    "start_proxy",
]

SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
APACHE_MODULES = Path("/usr/lib/apache2/modules")
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]*$")


class ProxyStartError(RuntimeError):
    """The proxy did not come up; the message carries its log tails."""


@dataclass(frozen=True)
class Route:
    """Where ``/<name>/`` goes and how.

    backend: ``"http://127.0.0.1:8080"``/``"https://..."``, a port on 127.0.0.1,
        or None for "no usable server" (see the module doc).
    verify_tls: for https backends: verify the backend's certificate. None keeps
        the product's default (nginx/apache2/squid: off, caddy: on, haproxy: on).
        apache2 has one global ``SSLProxy*`` setting: the first https route's wins.
        varnish cannot do https backends (ValueError).
    trusted_ca: PEM file of CAs trusted for the backend (default: the system
        bundle, which a trustme certificate is not in).
    health_check: haproxy: ``check inter 100ms fall 1``; nginx: a second,
        refused server and ``max_fails=1`` so failures lead to "no live
        upstreams"; caddy: active health checks; varnish: a ``.probe`` starting
        sick; apache2 and squid ignore it (squid probes its peers anyway).
    rate_limit: nginx only: ``limit_req`` rate such as ``"1r/m"`` (burst 0,
        nodelay), answered with ``limit_status``.
    """

    backend: str | int | None
    verify_tls: bool | None = None
    trusted_ca: str | os.PathLike[str] | None = None
    health_check: bool = False
    rate_limit: str | None = None
    limit_status: int = 503

    @property
    def scheme(self) -> str:
        return _split_backend(self.backend)[0]

    @property
    def host(self) -> str:
        return _split_backend(self.backend)[1]

    @property
    def port(self) -> int:
        return _split_backend(self.backend)[2]

    @property
    def tls(self) -> bool:
        return self.backend is not None and self.scheme == "https"

    @property
    def ca_file(self) -> str:
        return str(self.trusted_ca or SYSTEM_CA_BUNDLE)


def _split_backend(backend: str | int | None) -> tuple[str, str, int]:
    if backend is None:
        raise ValueError("route has no backend")
    if isinstance(backend, int):
        return "http", "127.0.0.1", backend
    parts = urlsplit(backend if "://" in backend else f"http://{backend}")
    scheme = parts.scheme or "http"
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if scheme == "https" else 80)
    if not (host.startswith("127.") or host in ("localhost", "::1")):
        raise ValueError(f"backends must be on loopback, not {host!r}")
    return scheme, host, port


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _hostport(route: Route) -> str:
    host = f"[{route.host}]" if ":" in route.host else route.host
    return f"{host}:{route.port}"


class Proxy:
    """Base class: temp dir, free port, Popen in its own session, readiness, teardown."""

    product: ClassVar[str] = ""
    binary: ClassVar[str] = ""
    start_timeout: ClassVar[float] = 15.0
    # how late its log may be written after the event (seconds; buffered logs)
    log_delay: ClassVar[float] = 0.0
    # a route whose every request writes one log line (with its path) right away, to
    # tell where a late log has caught up; "" when the log is never late
    marker_route: ClassVar[str] = ""

    def __init__(
        self,
        routes: Mapping[str, Route | str | int | None] | Route | str | int | None,
        *,
        timeout: float = 1.0,
        host: str = "127.0.0.1",
        keep_tmp: bool = False,
    ) -> None:
        if not isinstance(routes, Mapping):
            routes = {"": routes}
        self.routes: dict[str, Route] = {}
        for name, route in routes.items():
            if not _NAME_RE.match(name):
                raise ValueError(f"route name {name!r}: letters, digits, '-' and '_' only")
            self.routes[name] = route if isinstance(route, Route) else Route(route)
        self.timeout = timeout
        self.host = host
        self.keep_tmp = keep_tmp
        self.port = 0
        self.tmp = Path()
        self.proc: subprocess.Popen[bytes] | None = None
        self._extra_procs: list[subprocess.Popen[bytes]] = []
        self._closed = False
        self._start()

    # -- public -----------------------------------------------------------------
    def url(self, path: str = "/") -> str:
        if not path.startswith("/"):
            path = "/" + path
        return f"http://{self.host}:{self.port}{path}"

    def route_url(self, name: str, rest: str = "") -> str:
        """URL of ``rest`` under route ``name``, e.g. route_url("hang", "x")."""
        return self.url(f"/{name}/{rest}" if name else f"/{rest}")

    @property
    def error_log(self) -> Path:
        return self.tmp / "error.log"

    @property
    def access_log(self) -> Path:
        return self.tmp / "access.log"

    def log_text(self) -> str:
        """The proxy's error log (for haproxy/caddy: their log stream; varnish: varnishlog)."""
        try:
            return self.error_log.read_text(errors="replace")
        except OSError:
            return ""

    def access_log_text(self) -> str:
        try:
            return self.access_log.read_text(errors="replace")
        except OSError:
            return ""

    def wait_log(self, pattern: str, timeout: float = 5.0) -> re.Match[str] | None:
        """Wait (bounded) until the error log matches the regex ``pattern``."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.log_text())
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def close(self) -> None:
        """Stop the daemon's whole process group (and helpers); remove the temp dir."""
        if self._closed:
            return
        self._closed = True
        _live.discard(self)
        for proc in [*self._extra_procs, self.proc]:
            if proc is not None:
                _stop_group(proc)
        if not self.keep_tmp and self.tmp != Path():
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.host}:{self.port} routes={list(self.routes)}>"

    # -- for subclasses ---------------------------------------------------------
    def command(self) -> list[str]:
        raise NotImplementedError

    def write_config(self) -> None:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": str(self.tmp),
            "LANG": "C",
            "TMPDIR": str(self.tmp),
        }

    def accepts(self) -> bool:
        """Whether the daemon takes connections yet (its TCP port; unix-socket servers differ)."""
        with (
            contextlib.suppress(OSError),
            socket.create_connection((self.host, self.port), timeout=0.5),
        ):
            return True
        return False

    def after_start(self) -> None:
        """Extra readiness (e.g. wait for health checks); runs after the port answers."""

    def log_files(self) -> list[Path]:
        return [self.error_log, self.tmp / "stderr.log", self.tmp / "stdout.log"]

    @classmethod
    def find_binary(cls) -> str:
        found = shutil.which(cls.binary) or shutil.which(
            cls.binary, path="/usr/sbin:/usr/bin:/sbin:/bin"
        )
        if not found:
            pytest.skip(f"{cls.product}: binary {cls.binary!r} not installed")
        return found

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    # -- machinery ---------------------------------------------------------------
    def _start(self) -> None:
        self.exe = self.find_binary()
        self.tmp = Path(tempfile.mkdtemp(prefix=f"lab-{self.product}-"))
        self.tmp.chmod(0o755)
        _live.add(self)
        last_error: Exception | None = None
        try:
            for _attempt in range(3):
                self.port = free_port(self.host)
                try:
                    self.write_config()
                    self._spawn()
                    self.after_start()
                    return
                except ProxyStartError as exc:  # e.g. the free port was taken meanwhile
                    last_error = exc
                    for proc in [*self._extra_procs, self.proc]:
                        if proc is not None:
                            _stop_group(proc)
                    self._extra_procs.clear()
                    self.proc = None
                    if "in use" not in str(exc).lower():
                        break
            raise last_error or ProxyStartError(f"{self.product} did not start")
        except BaseException:
            self.close()
            raise

    def _spawn(self) -> None:
        out = (self.tmp / "stdout.log").open("ab")
        err = (self.tmp / "stderr.log").open("ab")
        try:
            self.proc = subprocess.Popen(
                self.command(),
                cwd=self.tmp,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        finally:
            out.close()
            err.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ProxyStartError(
                    f"{self.product} exited with {self.proc.returncode} at start\n"
                    + self._log_tails()
                )
            if self.accepts():
                return
            time.sleep(0.05)
        raise ProxyStartError(
            f"{self.product} did not listen on {self.host}:{self.port} "
            f"within {self.start_timeout}s\n" + self._log_tails()
        )

    def _log_tails(self) -> str:
        parts = [f"command: {' '.join(self.command())}"]
        for path in self.log_files():
            tail = _tail(path)
            if tail:
                parts.append(f"--- {path.name} ---\n{tail}")
        return "\n".join(parts)


# Proxies not closed yet: stopped at interpreter exit so no daemon outlives the tests.
_live: weakref.WeakSet[Proxy] = weakref.WeakSet()


@atexit.register
def _close_leftovers() -> None:
    for proxy in list(_live):
        with contextlib.suppress(Exception):
            proxy.close()


def _stop_group(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the whole process group, then SIGKILL whatever is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(2)


def _secs(value: float) -> str:
    """A duration in whole seconds (at least 1) for products that only take seconds."""
    return str(max(1, round(value)))


def _ms(value: float) -> str:
    return f"{round(value * 1000)}ms"


# =============================================================================== nginx


class NginxProxy(Proxy):
    product = "nginx"
    binary = "nginx"

    def command(self) -> list[str]:
        return [
            self.exe,
            "-p",
            f"{self.tmp}/",
            "-c",
            str(self.tmp / "nginx.conf"),
            "-e",
            str(self.error_log),
        ]

    def write_config(self) -> None:
        t = self.tmp
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (t / sub).mkdir(exist_ok=True)
        to = _ms(self.timeout)
        http: list[str] = []
        servers: list[str] = []
        for i, (name, route) in enumerate(self.routes.items()):
            up = f"r{i}"
            lines = [f"location /{name}{'/' if name else ''} {{"]
            if route.backend is None:
                # Every server marked down: nginx answers 502 "no live upstreams".
                http.append(f"upstream {up} {{ server 127.0.0.1:9 down; }}")
                lines.append(f"    proxy_pass http://{up};")
            elif route.health_check:
                # Failures are counted (max_fails=1): the 1st request gets the error, the
                # next ones "no live upstreams" until fail_timeout expires.
                extra = closed_port()
                http.append(
                    f"upstream {up} {{ server {_hostport(route)} max_fails=1 fail_timeout=30s; "
                    f"server 127.0.0.1:{extra} max_fails=1 fail_timeout=30s; }}"
                )
                lines.append(f"    proxy_pass {route.scheme}://{up};")
            else:
                lines.append(f"    proxy_pass {route.scheme}://{_hostport(route)};")
            if route.tls:
                lines.append("    proxy_ssl_server_name on;")
                lines.append(f"    proxy_ssl_name {route.host};")
                if route.verify_tls:
                    lines.append("    proxy_ssl_verify on;")
                    lines.append(f"    proxy_ssl_trusted_certificate {route.ca_file};")
            if route.rate_limit:
                zone = f"rl{i}"
                http.append(
                    f"limit_req_zone $binary_remote_addr zone={zone}:1m rate={route.rate_limit};"
                )
                lines.append(f"    limit_req zone={zone} nodelay;")
                lines.append(f"    limit_req_status {route.limit_status};")
            lines.append("}")
            servers.extend(lines)
        user = "user root root;\n" if self.as_root else ""
        conf = f"""\
{user}worker_processes 1;
daemon off;
master_process on;
pid {t}/nginx.pid;
error_log {self.error_log} info;
events {{ worker_connections 256; }}
http {{
    log_format lab '$remote_addr [$time_local] "$request" $status $body_bytes_sent '
                   'upstream=$upstream_addr upstream_status=$upstream_status '
                   'rt=$request_time urt=$upstream_response_time';
    access_log {self.access_log} lab;
    client_body_temp_path {t}/client_body;
    proxy_temp_path {t}/proxy;
    fastcgi_temp_path {t}/fastcgi;
    uwsgi_temp_path {t}/uwsgi;
    scgi_temp_path {t}/scgi;
    proxy_connect_timeout {to};
    proxy_send_timeout {to};
    proxy_read_timeout {to};
    proxy_ssl_session_reuse off;
    {chr(10).join("    " + h for h in http).strip()}
    server {{
        listen {self.host}:{self.port};
        server_name localhost;
{chr(10).join("        " + s for s in servers)}
    }}
}}
"""
        (t / "nginx.conf").write_text(conf)


# ============================================================================= haproxy


class HAProxyProxy(Proxy):
    product = "haproxy"
    binary = "haproxy"

    def __init__(self, *args: object, retries: int | None = 1, **kwargs: object) -> None:
        self.retries = retries
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    @property
    def error_log(self) -> Path:  # haproxy logs to stderr (log stderr format raw)
        return self.tmp / "stderr.log"

    def command(self) -> list[str]:
        return [self.exe, "-db", "-f", str(self.tmp / "haproxy.cfg")]

    def write_config(self) -> None:
        to = _ms(self.timeout)
        uses: list[str] = []
        backends: list[str] = []
        default = None
        for i, (name, route) in enumerate(self.routes.items()):
            be = f"b{i}_{name or 'root'}"
            if name:
                uses.append(f"    use_backend {be} if {{ path_beg /{name}/ }}")
            else:
                default = be
            lines = [f"backend {be}"]
            if route.backend is not None:
                server = f"    server s1 {_hostport(route)}"
                if route.health_check:
                    server += " check inter 100ms fastinter 100ms downinter 100ms fall 1 rise 1"
                if route.tls:
                    server += f" ssl sni str({route.host})"
                    if route.verify_tls is False:
                        server += " verify none"
                    else:
                        server += f" verify required ca-file {route.ca_file}"
                lines.append(server)
            backends.append("\n".join(lines))
        if default is None:
            default = "b_none"
            backends.append("backend b_none")
        retries = "" if self.retries is None else f"    retries {self.retries}\n"
        conf = f"""\
global
    log stderr format raw local0 info
    maxconn 256
    pidfile {self.tmp}/haproxy.pid
defaults
    mode http
    log global
    option httplog
    option dontlognull
    timeout connect {to}
    timeout client 10s
    timeout server {to}
    timeout queue {to}
{retries}frontend fe
    bind {self.host}:{self.port}
{chr(10).join(uses)}
    default_backend {default}
{chr(10).join(backends)}
"""
        (self.tmp / "haproxy.cfg").write_text(conf)

    def after_start(self) -> None:
        checked = [n for n, r in self.routes.items() if r.health_check and r.backend is not None]
        for _name in checked:  # wait until the health checks have had their say
            self.wait_log(r"is (DOWN|UP)", timeout=3)


# ============================================================================= apache2


class ApacheProxy(Proxy):
    """apache2 + mod_proxy_http (+ mod_proxy_balancer for ``None`` routes, mod_ssl for
    https backends). ``retry`` is ProxyPass' ``retry=``: the lab sets 0 so that a
    worker is never parked in its error state; None leaves apache's default (60 s).
    (Observed with 2.4.71 and the default: every request still tried to connect.)"""

    product = "apache2"
    binary = "apache2"

    def __init__(self, *args: object, retry: int | None = 0, **kwargs: object) -> None:
        self.retry = retry
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def command(self) -> list[str]:
        return [self.exe, "-f", str(self.tmp / "httpd.conf"), "-d", str(self.tmp), "-DFOREGROUND"]

    def env(self) -> dict[str, str]:
        env = super().env()
        env["APACHE_RUN_DIR"] = str(self.tmp)
        env["APACHE_LOCK_DIR"] = str(self.tmp)
        env["APACHE_LOG_DIR"] = str(self.tmp)
        return env

    def write_config(self) -> None:
        mods = [
            ("mpm_event_module", "mod_mpm_event.so"),
            ("authz_core_module", "mod_authz_core.so"),
            ("proxy_module", "mod_proxy.so"),
            ("proxy_http_module", "mod_proxy_http.so"),
            ("proxy_balancer_module", "mod_proxy_balancer.so"),
            ("slotmem_shm_module", "mod_slotmem_shm.so"),
            ("lbmethod_byrequests_module", "mod_lbmethod_byrequests.so"),
        ]
        if any(r.backend is not None and r.tls for r in self.routes.values()):
            mods += [("socache_shmcb_module", "mod_socache_shmcb.so"), ("ssl_module", "mod_ssl.so")]
        secs = _secs(self.timeout)
        lines: list[str] = []
        # Longer prefixes first: apache matches ProxyPass in order.
        for i, (name, route) in sorted(
            enumerate(self.routes.items()), key=lambda item: -len(item[1][0])
        ):
            prefix = f"/{name}/" if name else "/"
            if route.backend is None:
                lines.append(f"<Proxy balancer://empty{i}>\n</Proxy>")
                lines.append(f"ProxyPass {prefix} balancer://empty{i}{prefix}")
                continue
            target = f"{route.scheme}://{_hostport(route)}{prefix}"
            retry = "" if self.retry is None else f" retry={self.retry}"
            lines.append(
                f"ProxyPass {prefix} {target}{retry} connectiontimeout={secs} timeout={secs}"
            )
            lines.append(f"ProxyPassReverse {prefix} {target}")
        ssl_lines = ""
        tls_routes = [r for r in self.routes.values() if r.backend is not None and r.tls]
        if tls_routes:
            route = tls_routes[0]
            verify = "require" if route.verify_tls else "none"
            ssl_lines = (
                "SSLProxyEngine on\n"
                f"SSLProxyVerify {verify}\n"
                f"SSLProxyCheckPeerName {'on' if route.verify_tls else 'off'}\n"
                f"SSLProxyCACertificateFile {route.ca_file}\n"
                f"SSLSessionCache shmcb:{self.tmp}/ssl_scache(51200)\n"
            )
        user = "User www-data\nGroup www-data\n" if self.as_root else ""
        conf = f"""\
ServerRoot {self.tmp}
ServerName localhost
Listen {self.host}:{self.port}
{chr(10).join(f"LoadModule {m} {APACHE_MODULES / f}" for m, f in mods)}
{user}PidFile {self.tmp}/httpd.pid
DefaultRuntimeDir {self.tmp}
Mutex file:{self.tmp} default
ErrorLog {self.error_log}
LogLevel warn proxy:info proxy_http:info
LogFormat "%h %t \\"%r\\" %>s %b %D" lab
CustomLog {self.access_log} lab
StartServers 1
ServerLimit 1
ThreadsPerChild 16
MaxRequestWorkers 16
MinSpareThreads 1
MaxSpareThreads 16
ProxyTimeout {secs}
ProxyRequests off
{ssl_lines}{chr(10).join(lines)}
"""
        (self.tmp / "httpd.conf").write_text(conf)


# ============================================================================= varnish


class VarnishProxy(Proxy):
    product = "varnish"
    binary = "varnishd"
    start_timeout = 30.0

    @property
    def workdir(self) -> Path:
        return self.tmp / "varnish"

    def command(self) -> list[str]:
        return [
            self.exe,
            "-F",
            "-n",
            str(self.workdir),
            "-j",
            "none",
            "-a",
            f"{self.host}:{self.port}",
            "-f",
            str(self.tmp / "default.vcl"),
            "-T",
            "none",
            "-s",
            "malloc,32m",
            "-p",
            "thread_pools=1",
            "-p",
            "thread_pool_min=5",
            "-p",
            "thread_pool_max=50",
        ]

    def write_config(self) -> None:
        to = f"{self.timeout}s"
        backends: list[str] = []
        recv: list[str] = []
        default = None
        for i, (name, route) in enumerate(self.routes.items()):
            be = f"r{i}"
            if route.backend is None:
                backends.append(f"backend {be} none;")
            else:
                if route.tls:
                    raise ValueError("varnish (open source) cannot proxy to https backends")
                probe = ""
                if route.health_check:
                    probe = (
                        '    .probe = { .url = "/"; .interval = 100ms; .timeout = 500ms;'
                        " .window = 1; .threshold = 1; .initial = 0; }\n"
                    )
                backends.append(
                    f'backend {be} {{\n    .host = "{route.host}";\n    .port = "{route.port}";\n'
                    f"    .connect_timeout = {to};\n    .first_byte_timeout = {to};\n"
                    f"    .between_bytes_timeout = {to};\n{probe}}}"
                )
            if name:
                recv.append(f'    if (req.url ~ "^/{name}/") {{ set req.backend_hint = {be}; }}')
            else:
                default = be
        if default is None:
            backends.append("backend r_default none;")
            default = "r_default"
        vcl = f"""\
vcl 4.1;

{chr(10).join(backends)}

sub vcl_recv {{
    set req.backend_hint = {default};
{chr(10).join(recv)}
    return (pass);
}}
"""
        self.workdir.mkdir(exist_ok=True)
        (self.tmp / "default.vcl").write_text(vcl)

    def after_start(self) -> None:
        # varnishd has no error log file: keep varnishlog running into error.log.
        out = (self.tmp / "varnishlog.stderr").open("ab")
        try:
            proc = subprocess.Popen(
                [
                    shutil.which("varnishlog") or "varnishlog",
                    "-n",
                    str(self.workdir),
                    "-g",
                    "request",
                    "-i",
                    "ReqMethod,ReqURL,RespStatus,RespReason,FetchError,BackendOpen,"
                    "BerespStatus,Timestamp,VCL_call,VCL_return,Error,SessError",
                    "-A",
                    "-u",
                    "-w",
                    str(self.error_log),
                ],
                cwd=self.tmp,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=out,
                start_new_session=True,
            )
        finally:
            out.close()
        self._extra_procs.append(proc)
        deadline = time.monotonic() + 5
        while not self.error_log.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # let varnishlog attach to the shared memory log

    def log_files(self) -> list[Path]:
        return [*super().log_files(), self.tmp / "varnishlog.stderr"]


# =============================================================================== caddy


class CaddyProxy(Proxy):
    product = "caddy"
    binary = "caddy"

    @property
    def error_log(self) -> Path:
        return self.tmp / "caddy.log"

    def command(self) -> list[str]:
        return [
            self.exe,
            "run",
            "--config",
            str(self.tmp / "Caddyfile"),
            "--adapter",
            "caddyfile",
        ]

    def env(self) -> dict[str, str]:
        env = super().env()
        env["XDG_DATA_HOME"] = str(self.tmp / "data")
        env["XDG_CONFIG_HOME"] = str(self.tmp / "config")
        return env

    def write_config(self) -> None:
        to = _ms(self.timeout)
        handles: list[str] = []
        root = None
        for name, route in self.routes.items():
            if route.backend is None:
                # No such thing as an upstream-less reverse_proxy in a Caddyfile: use a
                # refused upstream that the active health check marks unhealthy.
                upstream = f"127.0.0.1:{closed_port()}"
                health = True
                transport_tls: list[str] = []
            else:
                upstream = f"{route.scheme}://{_hostport(route)}"
                health = route.health_check
                transport_tls = []
                if route.tls:
                    if route.verify_tls is False:
                        transport_tls.append("tls_insecure_skip_verify")
                    else:
                        transport_tls.append(f"tls_trusted_ca_certs {route.ca_file}")
            body = [f"reverse_proxy {upstream} {{"]
            if health:
                body += [
                    "    health_uri /",
                    "    health_interval 500ms",
                    f"    health_timeout {to}",
                ]
            body += [
                "    transport http {",
                f"        dial_timeout {to}",
                f"        response_header_timeout {to}",
                *(f"        {t}" for t in transport_tls),
                "    }",
                "}",
            ]
            if name:
                handles.append(f"handle /{name}/* {{\n" + _indent(body, 4) + "\n}")
            else:
                root = "handle {\n" + _indent(body, 4) + "\n}"
        if root:
            handles.append(root)
        conf = f"""\
{{
    admin off
    auto_https off
    storage file_system {self.tmp}/data
    log {{
        output file {self.error_log}
        format json
        level INFO
    }}
}}

http://{self.host}:{self.port} {{
    bind {self.host}
    log {{
        output file {self.access_log}
        format json
    }}
{_indent(handles, 4)}
}}
"""
        (self.tmp / "Caddyfile").write_text(conf)

    def after_start(self) -> None:
        if any(r.backend is None or r.health_check for r in self.routes.values()):
            # the first active health check runs at start; wait until it has failed
            self.wait_log(r"health_checker.active.*(request failed|status code)", timeout=5)
            time.sleep(0.1)


def _indent(lines: list[str], n: int) -> str:
    pad = " " * n
    return "\n".join(pad + line for block in lines for line in block.split("\n"))


# =============================================================================== squid


class SquidProxy(Proxy):
    product = "squid"
    binary = "squid"
    start_timeout = 30.0
    debug_options = "ALL,1"

    @property
    def error_log(self) -> Path:
        return self.tmp / "cache.log"

    def command(self) -> list[str]:
        return [self.exe, "-N", "-f", str(self.tmp / "squid.conf")]

    def write_config(self) -> None:
        secs = _secs(self.timeout)
        peers: list[str] = []
        for i, (name, route) in enumerate(self.routes.items()):
            acl = f"p{i}"
            pattern = f"^/{name}/" if name else "^/"
            peers.append(f"acl {acl} urlpath_regex {pattern}")
            if route.backend is None:
                continue  # no cache_peer may serve it: ERR_CANNOT_FORWARD
            opts = "no-query no-digest no-netdb-exchange originserver"
            opts += f" name=r{i} connect-timeout={secs}"
            if route.tls:
                opts += " tls"
                if route.verify_tls:
                    opts += f" tls-cafile={route.ca_file}"
                else:
                    opts += " tls-flags=DONT_VERIFY_PEER"
            peers.append(f"cache_peer {route.host} parent {route.port} 0 {opts}")
            peers.append(f"cache_peer_access r{i} allow {acl}")
            peers.append(f"cache_peer_access r{i} deny all")
        user = "cache_effective_user proxy\ncache_effective_group proxy\n" if self.as_root else ""
        conf = f"""\
http_port {self.host}:{self.port} accel defaultsite=localhost no-vhost
{user}pid_filename {self.tmp}/squid.pid
cache_log {self.error_log}
access_log stdio:{self.access_log} squid
cache_store_log none
coredump_dir {self.tmp}
netdb_filename none
logfile_rotate 0
debug_options {self.debug_options}
acl lab_clients src 127.0.0.0/8
http_access allow lab_clients
http_access deny all
{chr(10).join(peers)}
never_direct allow all
cache deny all
cache_mem 8 MB
maximum_object_size_in_memory 64 KB
workers 1
dns_nameservers 127.0.0.1
visible_hostname lab-squid
icp_port 0
htcp_port 0
pinger_enable off
connect_timeout {secs} seconds
peer_connect_timeout {secs} seconds
read_timeout {secs} seconds
request_timeout 10 seconds
forward_timeout {int(secs) * 2} seconds
shutdown_lifetime 0 seconds
max_filedescriptors 1024
"""
        (self.tmp / "squid.conf").write_text(conf)
        if self.as_root:
            shutil.chown(self.tmp, user="proxy", group="proxy")
            for path in self.tmp.iterdir():
                shutil.chown(path, user="proxy", group="proxy")


# ==============================================================================


PRODUCTS: dict[str, type[Proxy]] = {
    cls.product: cls
    for cls in (NginxProxy, HAProxyProxy, ApacheProxy, VarnishProxy, CaddyProxy, SquidProxy)
}


def start_proxy(
    product: str,
    routes: Mapping[str, Route | str | int | None] | Route | str | int | None,
    **kwargs: object,
) -> Proxy:
    """Start ``product`` (a key of PRODUCTS) in front of ``routes``."""
    try:
        cls = PRODUCTS[product]
    except KeyError:
        raise ValueError(f"unknown product {product!r}; one of {sorted(PRODUCTS)}") from None
    return cls(routes, **kwargs)  # type: ignore[arg-type]


# ============================================================================ capture
# ``python -m tests.servers.proxies [product ...]`` prints, for every product and
# failure mode, exactly what a client receives and what the proxy logged: the raw
# material of docs/proxy-signatures.md. Loopback only.

_LOG_NOISE = re.compile(
    r"closed keepalive connection|health_checker\.active|storeLateRelease|"
    r"^\*|^-+ +(Timestamp|VCL_|ReqMethod|BackendOpen)|^\s*$"
)


def raw_get(host: str, port: int, path: str, timeout: float = 15.0) -> tuple[bytes, float]:
    """One keep-alive GET as curl would send it; the raw reply bytes and the seconds
    until its last byte arrived.

    Reads one message by its framing (Content-Length, chunked, or until close or
    ``timeout``), so an HTTP/0.9 reply (no status line) comes back verbatim too.
    """
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: lab-capture/1\r\n"
        "Accept: */*\r\n\r\n"
    ).encode()
    start = last = time.monotonic()
    data = b""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request)
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            data += chunk
            last = time.monotonic()
            if _message_complete(data):
                break
    return data, (last if data else time.monotonic()) - start


def _message_complete(data: bytes) -> bool:
    if not data.startswith(b"HTTP/"):
        return False  # HTTP/0.9: until close
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    headers = head.decode("latin-1").lower()
    found = re.search(r"\ncontent-length:\s*(\d+)", headers)
    if found:
        return len(body) >= int(found.group(1))
    if re.search(r"\ntransfer-encoding:\s*chunked", headers):
        return body.endswith(b"0\r\n\r\n")
    return bool(re.match(r"HTTP/1\.\d (1\d\d|204|304)", headers.upper()))


def _describe(data: bytes, seconds: float, log: str) -> str:
    out = [f"time: {seconds:.2f}s"]
    if not data.startswith(b"HTTP/"):
        out.append(f"raw reply (no status line, {len(data)} bytes): {data!r}")
    else:
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        out.append(lines[0])
        out += [line for line in lines[1:] if not line.lower().startswith("date:")]
        text = body.decode("utf-8", "replace")
        if len(text) > 1200:
            keep = [
                ln
                for ln in text.splitlines()
                if re.search(r"<title>|<body id|<h1>|<p>|<b>|sysmsg|<!-- ERR|Generated", ln)
            ]
            out.append(f"body ({len(body)} bytes), distinctive lines:")
            out += ["    " + ln.strip() for ln in keep]
        else:
            out.append(f"body ({len(body)} bytes):")
            out += ["    " + ln for ln in text.splitlines()] or ["    (empty)"]
    logs = [ln for ln in log.splitlines() if not _LOG_NOISE.search(ln)]
    out.append("log:")
    out += ["    " + ln.strip() for ln in logs] or ["    (nothing)"]
    return "\n".join(out)


def failure_routes(
    product: str, backends: dict, hang_port: int
) -> dict[str, Route | str | int | None]:
    """Every failure mode of the lab, as the route `product` sends it to."""
    routes: dict[str, Route | str | int | None] = {
        "ok": backends["ok"].url(),
        "refused": closed_port(),
        "connect_timeout": hang_port,
        "hang": backends["hang"].url(),
        "close": backends["close"].url(),
        "reset": backends["reset"].url(),
        "garbage": backends["garbage"].url(),
        "bad_header": backends["bad_header"].url(),
        "backend503": backends["backend503"].url(),
        "none": None,
        "hc": Route(closed_port(), health_check=True),
        "tls": Route(backends["tls"].url(), verify_tls=True),
        "died": backends["dies"].url(),
        "died_hanging": backends["dies_hanging"].url(),
    }
    if product == "varnish":
        del routes["tls"]  # no TLS backends in Varnish's open-source edition
    if product == "nginx":
        routes["limited503"] = Route(backends["ok"].url(), rate_limit="1r/m")
        routes["limited429"] = Route(backends["ok"].url(), rate_limit="1r/m", limit_status=429)
    return routes


def capture(products: list[str] | None = None) -> str:  # pragma: no cover - a tool
    import ssl

    import trustme

    from tests.servers.misbehave import Behaviour as B
    from tests.servers.misbehave import hanging_connect, serve

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    report: list[str] = []
    for product in products or list(PRODUCTS):
        cls = PRODUCTS[product]
        if not shutil.which(cls.binary, path="/usr/sbin:/usr/bin:" + os.environ["PATH"]):
            report.append(f"## {product}: not installed\n")
            continue
        backends = {
            "ok": serve(B.OK),
            "hang": serve(B.HANG),
            "close": serve(B.CLOSE_EARLY),
            "reset": serve(B.RESET),
            "garbage": serve(B.GARBAGE),
            "bad_header": serve(B.BAD_HEADER),
            "backend503": serve(B.STATUS, status=503, headers={"Retry-After": "30"}),
            "tls": serve(B.OK, ssl_context=server_ctx),
            "dies": serve(B.OK),
            "dies_hanging": serve(B.OK),
        }
        hang_port, hang_closer = hanging_connect()
        routes = failure_routes(product, backends, hang_port)
        kwargs: dict[str, object] = {}
        if product == "haproxy":
            kwargs["retries"] = None
        try:
            proxy = cls(routes, **kwargs)  # type: ignore[arg-type]
        except Exception as exc:
            report.append(f"## {product}: did not start\n\n```\n{exc}\n```\n")
            continue
        if product == "squid":  # let squid's start-up probe see the backends alive
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not (
                backends["dies"].connections and backends["dies_hanging"].connections
            ):
                time.sleep(0.02)
        backends["dies"].refuse()
        backends["dies_hanging"].blackhole()
        report.append(f"## {product}\n")
        try:
            for mode in routes:
                times = 2 if mode in ("refused", "hc", "died", "limited503", "limited429") else 1
                for n in range(times):
                    before = len(proxy.log_text())
                    data, secs = raw_get(proxy.host, proxy.port, f"/{mode}/x", timeout=5)
                    time.sleep(0.4 if product == "varnish" else 0.15)
                    log = proxy.log_text()[before:]
                    label = f"{product} / {mode}" + (f" (request {n + 1})" if times > 1 else "")
                    report.append(f"### {label}\n\n```\n{_describe(data, secs, log)}\n```\n")
        finally:
            proxy.close()
            hang_closer()
            for backend in backends.values():
                backend.close()
    return "\n".join(report)


if __name__ == "__main__":  # pragma: no cover
    import sys

    print(capture(sys.argv[1:] or None))
