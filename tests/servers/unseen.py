"""More real front servers for the lab: the products the first lab never ran.

Apache Traffic Server, lighttpd, h2o, nghttpx (TLS, HTTP/2 and HTTP/1.1 on the
front), and nginx speaking FastCGI and uwsgi to real application servers
(tests/servers/appservers.py), each started like the proxies of
tests/servers/proxies.py (whose base class they share): loopback, a free port,
a temp dir, short timeouts, the whole process group stopped at the end. Squid as
an accelerator is ``SquidProxy`` there.

Routes are :class:`AppRoute`, a :class:`Route` that may also say how to talk to
the backend (``protocol``: ``http``, ``fastcgi`` or ``uwsgi``), where its PHP
scripts are (``root``), its own read timeout, and a backend ``"unix:/path"``::

    with PhpFpm(unix=True) as fpm, NginxAppProxy({
        "fpm": AppRoute(fpm.address, protocol="fastcgi", root=str(fpm.www), read_timeout=10),
        "nosock": AppRoute("unix:/nonexistent.sock", protocol="fastcgi", root="/srv"),
    }) as nginx:
        httpx.get(nginx.route_url("fpm", "slow.php"))  # 502 when PHP-FPM kills the worker
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from tests.servers.proxies import NginxProxy, Proxy, Route, _ms, _secs

__all__ = [
    "AppRoute",
    "H2oProxy",
    "LighttpdProxy",
    "NghttpxProxy",
    "NginxAppProxy",
    "TrafficServerProxy",
]


@dataclass(frozen=True)
class AppRoute(Route):
    """A route with a protocol, a script root (FastCGI) and its own read timeout.

    backend: as for Route, or ``"unix:/path/to.sock"``; for ``trafficserver`` a
        host name (``http://app.test:8080``) is resolved through its ``dns`` server.
    """

    protocol: str = "http"
    root: str | None = None
    read_timeout: float | None = None

    @property
    def unix(self) -> str | None:
        if isinstance(self.backend, str) and self.backend.startswith("unix:"):
            return self.backend.removeprefix("unix:")
        return None

    def nginx_address(self) -> str:
        return f"unix:{self.unix}" if self.unix else f"{self.host}:{self.port}"


def _app(route: Route) -> AppRoute:
    return route if isinstance(route, AppRoute) else AppRoute(route.backend)


def _read_timeout(proxy: Proxy, route: Route) -> float:
    return _app(route).read_timeout or proxy.timeout


# ================================================================== nginx + app servers


class NginxAppProxy(NginxProxy):
    """nginx with ``proxy_pass``, ``fastcgi_pass`` and ``uwsgi_pass`` routes.

    Default buffers (4 KB response header), so a 20 KB header is "too big".
    """

    def write_config(self) -> None:
        t = self.tmp
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (t / sub).mkdir(exist_ok=True)
        locations: list[str] = []
        for name, route in self.routes.items():
            locations += self._location(name, _app(route))
        user = "user root root;\n" if self.as_root else ""
        body = "\n".join("        " + line for line in locations)
        conf = f"""\
{user}worker_processes 1;
daemon off;
master_process on;
pid {t}/nginx.pid;
error_log {self.error_log} info;
events {{ worker_connections 256; }}
http {{
    access_log {self.access_log};
    client_body_temp_path {t}/client_body;
    proxy_temp_path {t}/proxy;
    fastcgi_temp_path {t}/fastcgi;
    uwsgi_temp_path {t}/uwsgi;
    scgi_temp_path {t}/scgi;
    server {{
        listen {self.host}:{self.port};
        server_name localhost;
{body}
    }}
}}
"""
        (t / "nginx.conf").write_text(conf)

    def _location(self, name: str, route: AppRoute) -> list[str]:
        connect = _ms(self.timeout)
        read = _ms(_read_timeout(self, route))
        if route.protocol == "fastcgi":
            root = route.root or str(self.tmp)
            return [
                f"location ~ ^/{name}/(?<script>[^/]*)$ {{",
                f"    fastcgi_pass {route.nginx_address()};",
                f"    fastcgi_param SCRIPT_FILENAME {root}/$script;",
                "    fastcgi_param SCRIPT_NAME /$script;",
                *(f"    fastcgi_param {k} {v};" for k, v in _CGI_PARAMS),
                f"    fastcgi_connect_timeout {connect};",
                f"    fastcgi_read_timeout {read};",
                "}",
            ]
        if route.protocol == "uwsgi":
            return [
                f"location /{name}/ {{",
                f"    uwsgi_pass {route.nginx_address()};",
                "    uwsgi_param PATH_INFO $document_uri;",
                *(f"    uwsgi_param {k} {v};" for k, v in _CGI_PARAMS),
                f"    uwsgi_connect_timeout {connect};",
                f"    uwsgi_read_timeout {read};",
                "}",
            ]
        target = f"http://{route.nginx_address()}"
        return [
            f"location /{name}/ {{",
            f"    proxy_pass {target};",
            f"    proxy_connect_timeout {connect};",
            f"    proxy_read_timeout {read};",
            "}",
        ]


# What nginx's own fastcgi_params/uwsgi_params pass (the subset the apps need).
_CGI_PARAMS = (
    ("QUERY_STRING", "$query_string"),
    ("REQUEST_METHOD", "$request_method"),
    ("CONTENT_TYPE", "$content_type"),
    ("CONTENT_LENGTH", "$content_length"),
    ("REQUEST_URI", "$request_uri"),
    ("DOCUMENT_URI", "$document_uri"),
    ("SERVER_PROTOCOL", "$server_protocol"),
    ("REMOTE_ADDR", "$remote_addr"),
    ("REMOTE_PORT", "$remote_port"),
    ("SERVER_ADDR", "$server_addr"),
    ("SERVER_PORT", "$server_port"),
    ("SERVER_NAME", "$server_name"),
)


# ============================================================================= lighttpd


class LighttpdProxy(Proxy):
    """lighttpd: ``mod_proxy`` for http routes, ``mod_fastcgi`` for fastcgi ones.

    FastCGI scripts are found under the document root: ``<tmp>/docroot/<name>``
    is a symlink to the route's ``root``.
    """

    product = "lighttpd"
    binary = "lighttpd"

    def command(self) -> list[str]:
        return [self.exe, "-D", "-f", str(self.tmp / "lighttpd.conf")]

    def write_config(self) -> None:
        docroot = self.tmp / "docroot"
        docroot.mkdir(exist_ok=True)
        blocks: list[str] = []
        for name, route in self.routes.items():
            app = _app(route)
            read = _secs(_read_timeout(self, app))
            timeouts = f'"connect-timeout" => {_secs(self.timeout)}, "read-timeout" => {read}'
            if app.protocol == "fastcgi":
                link = docroot / name
                if not link.exists() and app.root:
                    link.symlink_to(app.root)
                where = f'"socket" => "{app.unix}"' if app.unix else _host_port(app)
                opts = f'{where}, "check-local" => "disable", {timeouts}'
                server = f'fastcgi.server = (".php" => (({opts})))'
            else:
                server = f'proxy.server = ("" => (({_host_port(app)}, {timeouts})))'
            blocks.append(f'$HTTP["url"] =~ "^/{name}/" {{\n    {server}\n}}')
        user = 'server.username = "www-data"\nserver.groupname = "www-data"\n'
        conf = f"""\
server.document-root = "{docroot}"
server.bind = "{self.host}"
server.port = {self.port}
server.errorlog = "{self.error_log}"
server.pid-file = "{self.tmp}/lighttpd.pid"
server.modules = ("mod_proxy", "mod_fastcgi", "mod_accesslog")
accesslog.filename = "{self.access_log}"
{user if self.as_root else ""}{chr(10).join(blocks)}
"""
        (self.tmp / "lighttpd.conf").write_text(conf)
        if self.as_root:
            shutil.chown(self.tmp, user="www-data", group="www-data")


def _host_port(route: Route) -> str:
    return f'"host" => "{route.host}", "port" => {route.port}'


# ================================================================================== h2o


class H2oProxy(Proxy):
    """h2o 2.2: ``proxy.reverse.url`` per path, ``proxy.timeout.io`` per route."""

    product = "h2o"
    binary = "h2o"

    def command(self) -> list[str]:
        return [self.exe, "-c", str(self.tmp / "h2o.conf")]

    def write_config(self) -> None:
        paths: list[str] = []
        for name, route in self.routes.items():
            app = _app(route)
            paths += [
                f"      /{name}:",
                f"        proxy.reverse.url: http://{app.host}:{app.port}/{name}/",
                f"        proxy.timeout.io: {round(_read_timeout(self, app) * 1000)}",
            ]
        user = "user: root\n" if self.as_root else ""
        conf = f"""\
{user}listen:
  host: {self.host}
  port: {self.port}
pid-file: {self.tmp}/h2o.pid
error-log: {self.error_log}
access-log: {self.access_log}
hosts:
  default:
    paths:
{chr(10).join(paths)}
"""
        (self.tmp / "h2o.conf").write_text(conf)


# ============================================================================== nghttpx


class NghttpxProxy(Proxy):
    """nghttpx: a TLS front (h2 and http/1.1 by ALPN) before HTTP/1.1 backends.

    It makes its own CA (trustme); ``ca_file`` is the PEM a client must trust.
    Timeouts are global: ``backend-read-timeout`` is the proxy's ``timeout``.
    """

    product = "nghttpx"
    binary = "nghttpx"

    @property
    def ca_file(self) -> Path:
        return self.tmp / "ca.pem"

    def url(self, path: str = "/") -> str:
        return super().url(path).replace("http://", "https://", 1)

    def command(self) -> list[str]:
        return [self.exe, f"--conf={self.tmp / 'nghttpx.conf'}"]

    def write_config(self) -> None:
        import trustme

        if not self.ca_file.exists():
            ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1", "localhost")
            ca.cert_pem.write_to_path(str(self.ca_file))
            cert.private_key_pem.write_to_path(str(self.tmp / "key.pem"))
            cert.cert_chain_pems[0].write_to_path(str(self.tmp / "cert.pem"))
        backends = [
            f"backend={_app(r).host},{_app(r).port};/{name}/" for name, r in self.routes.items()
        ]
        first = _app(next(iter(self.routes.values())))
        backends.append(f"backend={first.host},{first.port};/")  # nghttpx needs a catch-all
        conf = f"""\
frontend={self.host},{self.port}
{chr(10).join(backends)}
private-key-file={self.tmp / "key.pem"}
certificate-file={self.tmp / "cert.pem"}
errorlog-file={self.error_log}
accesslog-file={self.access_log}
pid-file={self.tmp / "nghttpx.pid"}
backend-connect-timeout={_secs(self.timeout)}s
backend-read-timeout={_secs(self.timeout)}s
workers=1
no-ocsp=yes
"""
        (self.tmp / "nghttpx.conf").write_text(conf)

    def accepts(self) -> bool:
        return super().accepts() and "Listening on" in self.log_text()


# ============================================================================ Traffic Server

# The Debian package's configuration files, copied when present (defaults, no site changes).
_ATS_ETC = Path("/etc/trafficserver")
_ATS_DEFAULTS = (
    "plugin.config", "hosting.config", "volume.config", "cache.config", "parent.config",
    "ip_allow.yaml", "sni.yaml", "ssl_multicert.config", "splitdns.config", "socks.config",
    "strategies.yaml",
)  # fmt: skip


class TrafficServerProxy(Proxy):
    """Apache Traffic Server 9.2 as a reverse proxy (``map /name/ backend/name/``).

    Runs from a runroot in the temp dir (``TS_RUNROOT``); never changes user
    (``proxy.config.admin.user_id #-1``), so it runs the same as root or not.
    No cache; no retries; ``transaction_no_activity_timeout_out`` is the read
    timeout (per route through ``conf_remap``). ``dns`` is "IP:PORT" of the DNS
    server host-name backends are resolved with.
    """

    product = "trafficserver"
    binary = "traffic_server"
    start_timeout = 30.0
    log_delay = 1.5  # error.log is written from a buffer, once a second at best
    marker_route = "refused"  # 'CONNECT: attempt fail ... url=...' names the path

    def __init__(self, *args: object, dns: str | None = None, **kwargs: object) -> None:
        self.dns = dns
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    @property
    def error_log(self) -> Path:
        return self.tmp / "log" / "error.log"

    @property
    def access_log(self) -> Path:
        return self.tmp / "log" / "squid.log"

    @property
    def diags_log(self) -> Path:
        return self.tmp / "log" / "diags.log"

    def log_files(self) -> list[Path]:
        return [*super().log_files(), self.diags_log]

    def command(self) -> list[str]:
        return [
            self.exe,
            "--bind_stdout",
            str(self.tmp / "stdout.log"),
            "--bind_stderr",
            str(self.tmp / "stderr.log"),
        ]

    def env(self) -> dict[str, str]:
        env = super().env()
        env["TS_RUNROOT"] = str(self.tmp / "runroot.yaml")
        return env

    def write_config(self) -> None:
        t = self.tmp
        etc = t / "etc"
        for sub in ("etc", "run", "log", "cache", "var"):
            (t / sub).mkdir(exist_ok=True)
        layout = {
            "prefix": t, "exec_prefix": "/usr", "bindir": "/usr/bin", "sbindir": "/usr/bin",
            "sysconfdir": etc, "datadir": t / "var", "includedir": "/usr/include",
            "libdir": "/usr/lib/trafficserver", "libexecdir": "/usr/lib/trafficserver/modules",
            "localstatedir": t / "var", "runtimedir": t / "run", "logdir": t / "log",
            "cachedir": t / "cache",
        }  # fmt: skip
        (t / "runroot.yaml").write_text("".join(f"{k}: {v}\n" for k, v in layout.items()))
        for name in _ATS_DEFAULTS:
            if (_ATS_ETC / name).is_file():
                shutil.copy(_ATS_ETC / name, etc / name)
        (etc / "storage.config").write_text("")
        (etc / "records.config").write_text(self._records())
        (etc / "remap.config").write_text(self._remap())
        (etc / "logging.yaml").write_text(_ATS_LOGGING)

    def _records(self) -> str:
        to = _secs(self.timeout)
        dns = (
            f"CONFIG proxy.config.dns.nameservers STRING {self.dns}\n"
            "CONFIG proxy.config.dns.resolv_conf STRING NULL\n"
            "CONFIG proxy.config.dns.lookup_timeout INT 2\n"
            "CONFIG proxy.config.hostdb.fail.timeout INT 0\n"
            if self.dns
            else ""
        )
        return f"""\
CONFIG proxy.config.http.server_ports STRING {self.port}:ip-in={self.host}
CONFIG proxy.config.admin.user_id STRING #-1
CONFIG proxy.config.crash_log_helper STRING /bin/true
CONFIG proxy.config.url_remap.remap_required INT 1
CONFIG proxy.config.reverse_proxy.enabled INT 1
CONFIG proxy.config.http.cache.http INT 0
CONFIG proxy.config.http.connect_attempts_timeout INT {to}
CONFIG proxy.config.http.connect_attempts_max_retries INT 0
CONFIG proxy.config.http.connect_attempts_max_retries_dead_server INT 0
CONFIG proxy.config.http.down_server.cache_time INT 0
CONFIG proxy.config.http.transaction_no_activity_timeout_out INT {to}
CONFIG proxy.config.http.insert_response_via_str INT 0
CONFIG proxy.config.log.logfile_dir STRING {self.tmp}/log
CONFIG proxy.config.body_factory.template_sets_dir STRING {_ATS_ETC}/body_factory
CONFIG proxy.config.hostdb.storage_path STRING {self.tmp}/var
CONFIG proxy.config.local_state_dir STRING {self.tmp}/run
CONFIG proxy.config.exec_thread.autoconfig INT 0
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.task_threads INT 1
CONFIG proxy.config.cache.ram_cache.size INT 1048576
CONFIG proxy.config.log.periodic_tasks_interval INT 1
CONFIG proxy.config.log.max_secs_per_buffer INT 1
{dns}"""

    def _remap(self) -> str:
        lines = []
        for name, route in self.routes.items():
            app = _app(route)
            if isinstance(app.backend, str) and "://" in app.backend:
                target = app.backend.rstrip("/") + f"/{name}/"
            else:
                target = f"http://{app.host}:{app.port}/{name}/"
            line = f"map /{name}/ {target}"
            if app.read_timeout:
                line += (
                    " @plugin=conf_remap.so @pparam=proxy.config.http."
                    f"transaction_no_activity_timeout_out={_secs(app.read_timeout)}"
                )
            lines.append(line)
        return "\n".join(lines) + "\n"

    def after_start(self) -> None:
        self.wait_log_file(self.diags_log, "traffic server running", timeout=10)

    def wait_log_file(self, path: Path, text: str, timeout: float) -> None:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists() and text in path.read_text(errors="replace"):
                return
            time.sleep(0.05)


_ATS_LOGGING = """\
logging:
  formats:
    - name: squid
      format: '%<cqtq> %<ttms> %<chi> %<crc>/%<pssc> %<psql> %<cqhm> %<cquc> %<caun> \
%<phr>/%<shn> %<psct>'
  logs:
    - filename: squid
      format: squid
      mode: ascii
"""
