"""The unseen-servers lab: which failures each new front server is put through, and
what a user needs to hear about each.

A *stack* is a front server (Traffic Server, lighttpd, h2o, nghttpx, Squid as an
accelerator, nginx before PHP-FPM/uWSGI/gunicorn) with what stands behind it: the
misbehaving backends of tests/servers/misbehave.py and real application servers
(tests/servers/appservers.py). A :class:`Case` is one request through a stack, the
cause and product ``gateway check`` must name, and the cause ``gateway explain`` must
give first for each log the servers wrote meanwhile (None: the log must prove no
fault). ``ANSWERS`` is what each front answered in the lab (status line and time).

tests/servers/unseen_capture.py runs the cases (``python -m
tests.servers.unseen_capture [--write | --score] [stack ...]``); tests/test_unseen.py
and tests/test_explain_unseen_fixtures.py hold the engine to the truth written here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers.appservers import Gunicorn, PhpFpm, Uwsgi
from tests.servers.misbehave import Behaviour, ServerHandle, closed_port, serve
from tests.servers.proxies import Proxy, SquidProxy
from tests.servers.unseen import (
    AppRoute,
    H2oProxy,
    LighttpdProxy,
    NghttpxProxy,
    NginxAppProxy,
    TrafficServerProxy,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "logs"

OK, REFUSED, TIMEOUT, BAD = (
    "healthy",
    "upstream_refused",
    "upstream_timeout",
    "upstream_bad_response",
)
APP_ERROR = "server_error"
BIG, FULL, DNS, NOT_FOUND = (
    "upstream_header_too_big",
    "upstream_overloaded",
    "upstream_dns",
    "not_found",
)


@dataclass(frozen=True)
class Case:
    """One request through a stack and the truth about it.

    name: unique over all cases (it names the fixture files).
    also: other causes ``check`` may honestly put first when the reply alone cannot
        tell them apart (a full pool behind nginx is a plain 504, a worker that died
        an instant 502 like a refusal); ``cause`` must then still be listed.
    logs: log name -> the cause ``explain`` must give first for what that log got
        during the request (None: nothing may be found in it).
    hold: a path requested ``holders`` times, concurrently, to keep the workers busy.
    """

    stack: str
    name: str
    path: str
    product: str
    cause: str
    logs: Mapping[str, str | None] = field(default_factory=dict)
    also: tuple[str, ...] = ()
    hold: str | None = None
    holders: int = 1

    @property
    def id(self) -> str:
        return f"{self.stack}-{self.name}"


def _cases() -> list[Case]:
    c = Case
    ng, lt = "nginx", "lighttpd"
    return [
        # ---------------------------------------------------------- nginx + PHP-FPM
        c("nginx-php", "php_ok", "/fpm/ok.php", ng, OK, {ng: None, "php-fpm": None}),
        c("nginx-php", "php_ok_tcp", "/fpm_tcp/ok.php", ng, OK, {ng: None}),
        c("nginx-php", "php_missing_script", "/fpm/missing.php", ng, NOT_FOUND,
          {ng: NOT_FOUND, "php-fpm": None}),
        c("nginx-php", "php_killed", "/fpm/slow.php", ng, TIMEOUT,
          {ng: BAD, "php-fpm": TIMEOUT}),
        c("nginx-php", "php_timeout", "/fpm_short/slow.php", ng, TIMEOUT, {ng: TIMEOUT}),
        c("nginx-php", "php_died", "/fpm/die.php", ng, BAD, {ng: BAD, "php-fpm": BAD},
          also=(REFUSED,)),
        c("nginx-php", "php_fatal", "/fpm/fatal.php", ng, APP_ERROR,
          {ng: APP_ERROR, "php-fpm": APP_ERROR}),
        c("nginx-php", "php_exception", "/fpm/error.php", ng, APP_ERROR,
          {ng: APP_ERROR, "php-fpm": APP_ERROR}),
        c("nginx-php", "php_big_header", "/fpm/big_header.php", ng, BIG, {ng: BIG},
          also=(REFUSED,)),
        c("nginx-php", "php_refused", "/fpm_refused/ok.php", ng, REFUSED, {ng: REFUSED}),
        c("nginx-php", "php_missing_socket", "/fpm_nosock/ok.php", ng, REFUSED, {ng: REFUSED}),
        c("nginx-php", "php_pool_full", "/fpm_full/ok.php", ng, FULL,
          {ng: TIMEOUT, "php-fpm": FULL}, also=(TIMEOUT,), hold="/fpm_hold/busy.php"),
        # ------------------------------------------------------------ nginx + uWSGI
        c("nginx-uwsgi", "uwsgi_ok", "/uw/ok", ng, OK, {ng: None}),
        c("nginx-uwsgi", "uwsgi_harakiri", "/uw/slow", ng, TIMEOUT, {ng: BAD, "uwsgi": TIMEOUT}),
        c("nginx-uwsgi", "uwsgi_timeout", "/uw_short/slow", ng, TIMEOUT, {ng: TIMEOUT}),
        c("nginx-uwsgi", "uwsgi_died", "/uw_die/die", ng, BAD, {ng: BAD, "uwsgi": BAD},
          also=(REFUSED,)),
        c("nginx-uwsgi", "uwsgi_exited", "/uw_exit/exit", ng, BAD, {ng: BAD, "uwsgi": BAD},
          also=(REFUSED,)),
        # uWSGI sends nothing at all when the app raises before start_response
        c("nginx-uwsgi", "uwsgi_exception", "/uw/error", ng, BAD, {ng: BAD, "uwsgi": APP_ERROR},
          also=(REFUSED,)),
        c("nginx-uwsgi", "uwsgi_big_header", "/uw/big_header", ng, BIG, {ng: BIG},
          also=(REFUSED,)),
        c("nginx-uwsgi", "uwsgi_refused", "/uw_refused/ok", ng, REFUSED, {ng: REFUSED}),
        c("nginx-uwsgi", "uwsgi_missing_socket", "/uw_nosock/ok", ng, REFUSED, {ng: REFUSED}),
        c("nginx-uwsgi", "uwsgi_queue_full", "/uw_full/ok", ng, FULL,
          {ng: FULL, "uwsgi": None}, also=(REFUSED,), hold="/uw_hold/busy", holders=3),
        # --------------------------------------------------------- nginx + gunicorn
        c("nginx-gunicorn", "gunicorn_ok", "/gu/ok", ng, OK, {ng: None, "gunicorn": None}),
        c("nginx-gunicorn", "gunicorn_worker_timeout", "/gu/slow", ng, TIMEOUT,
          {ng: BAD, "gunicorn": TIMEOUT}),
        c("nginx-gunicorn", "gunicorn_timeout", "/gu_short/slow", ng, TIMEOUT, {ng: TIMEOUT}),
        c("nginx-gunicorn", "gunicorn_died", "/gu/die", ng, BAD, {ng: BAD, "gunicorn": BAD},
          also=(REFUSED,)),
        # gunicorn 20.1 logs only the new worker's boot when one exits
        c("nginx-gunicorn", "gunicorn_exited", "/gu/exit", ng, BAD, {ng: BAD, "gunicorn": None},
          also=(REFUSED,)),
        c("nginx-gunicorn", "gunicorn_exception", "/gu/error", ng, APP_ERROR,
          {ng: None, "gunicorn": APP_ERROR}),
        c("nginx-gunicorn", "gunicorn_big_header", "/gu/big_header", ng, BIG, {ng: BIG},
          also=(REFUSED,)),
        c("nginx-gunicorn", "gunicorn_refused", "/gu_refused/ok", ng, REFUSED, {ng: REFUSED}),
        c("nginx-gunicorn", "gunicorn_missing_socket", "/gu_nosock/ok", ng, REFUSED,
          {ng: REFUSED}),
        # --------------------------------------------------------------- lighttpd
        c("lighttpd", "lighttpd_ok", "/ok/x", lt, OK, {lt: None}),
        c("lighttpd", "lighttpd_refused", "/refused/x", lt, REFUSED, {lt: REFUSED}),
        c("lighttpd", "lighttpd_timeout", "/hang/x", lt, TIMEOUT, {lt: TIMEOUT}),
        c("lighttpd", "lighttpd_closed", "/close/x", lt, BAD, {lt: None}),
        c("lighttpd", "lighttpd_garbage", "/garbage/x", lt, BAD, {lt: None}),
        c("lighttpd", "lighttpd_php_ok", "/fpm/ok.php", lt, OK, {lt: None, "php-fpm": None}),
        c("lighttpd", "lighttpd_php_missing_script", "/fpm/missing.php", lt, NOT_FOUND,
          {lt: NOT_FOUND}),
        c("lighttpd", "lighttpd_php_killed", "/fpm/slow.php", lt, TIMEOUT,
          {lt: BAD, "php-fpm": TIMEOUT}),
        c("lighttpd", "lighttpd_php_died", "/fpm/die.php", lt, BAD, {lt: BAD, "php-fpm": BAD}),
        c("lighttpd", "lighttpd_php_missing_socket", "/fpm_nosock/ok.php", lt, REFUSED,
          {lt: REFUSED}),
        # -------------------------------------------------------------------- h2o
        c("h2o", "h2o_ok", "/ok/x", "h2o", OK, {"h2o": None}),
        c("h2o", "h2o_refused", "/refused/x", "h2o", REFUSED, {"h2o": REFUSED}),
        c("h2o", "h2o_timeout", "/hang/x", "h2o", TIMEOUT, {"h2o": TIMEOUT}),
        c("h2o", "h2o_closed", "/close/x", "h2o", BAD, {"h2o": BAD}),
        c("h2o", "h2o_garbage", "/garbage/x", "h2o", BAD, {"h2o": BAD}),
        c("h2o", "h2o_worker_timeout", "/gu/slow", "h2o", TIMEOUT,
          {"h2o": BAD, "gunicorn": TIMEOUT}),
        # ---------------------------------------------------------------- nghttpx
        c("nghttpx", "nghttpx_ok", "/ok/x", "nghttpx", OK, {"nghttpx": None}),
        c("nghttpx", "nghttpx_refused", "/refused/x", "nghttpx", REFUSED, {"nghttpx": REFUSED}),
        c("nghttpx", "nghttpx_timeout", "/hang/x", "nghttpx", TIMEOUT, {"nghttpx": None}),
        c("nghttpx", "nghttpx_closed", "/close/x", "nghttpx", BAD, {"nghttpx": None},
          also=(REFUSED,)),  # nghttpx's page and timing are those of a refusal
        c("nghttpx", "nghttpx_garbage", "/garbage/x", "nghttpx", BAD, {"nghttpx": None},
          also=(REFUSED,)),
        c("nghttpx-slow", "nghttpx_worker_timeout", "/gu/slow", "nghttpx", TIMEOUT,
          {"nghttpx": None, "gunicorn": TIMEOUT}),
        # ---------------------------------------------------------- Traffic Server
        c("trafficserver", "ats_ok", "/ok/x", "trafficserver", OK, {"trafficserver": None}),
        c("trafficserver", "ats_refused", "/refused/x", "trafficserver", REFUSED,
          {"trafficserver": REFUSED}),
        c("trafficserver", "ats_timeout", "/hang/x", "trafficserver", TIMEOUT,
          {"trafficserver": None}),
        c("trafficserver", "ats_closed", "/close/x", "trafficserver", BAD,
          {"trafficserver": None}),
        c("trafficserver", "ats_garbage", "/garbage/x", "trafficserver", BAD,
          {"trafficserver": None}),
        c("trafficserver", "ats_no_remap", "/nomap/x", "trafficserver", NOT_FOUND,
          {"trafficserver": None}),
        c("trafficserver", "ats_dns", "/dns/x", "trafficserver", DNS, {"trafficserver": DNS}),
        c("trafficserver", "ats_worker_timeout", "/gu/slow", "trafficserver", TIMEOUT,
          {"trafficserver": None, "gunicorn": TIMEOUT}),
        # ----------------------------------------------------- Squid, accelerator
        c("squid", "squid_accel_ok", "/ok/x", "squid", OK, {"squid": None}),
        c("squid", "squid_accel_down_at_start", "/refused/x", "squid", REFUSED,
          {"squid": None}),
        c("squid", "squid_accel_timeout", "/hang/x", "squid", TIMEOUT, {"squid": None}),
        c("squid-slow", "squid_accel_worker_timeout", "/gu/slow", "squid", TIMEOUT,
          {"squid": BAD, "gunicorn": TIMEOUT}),
    ]  # fmt: skip


CASES = _cases()


# ================================================================================ stacks


@dataclass
class Stack:
    """A front server and what stands behind it.

    apps: by log name; ``"php-fpm#pool"`` is a second PHP-FPM whose log is read as
    ``php-fpm`` too.
    """

    front: Proxy
    apps: dict[str, Proxy] = field(default_factory=dict)
    owned: list[Any] = field(default_factory=list)

    def log_files(self) -> dict[str, Path]:
        files = {_front_log(self.front): self.front.error_log}
        for key, app in self.apps.items():
            files[key] = app.error_log
        return files

    def logs(self) -> dict[str, str]:
        """Every log file's text, by key (``php-fpm#pool`` apart from ``php-fpm``)."""
        out = {}
        for key, path in self.log_files().items():
            try:
                out[key] = path.read_text(errors="replace")
            except OSError:
                out[key] = ""
        return out

    def url(self, path: str) -> str:
        return self.front.url(path)

    def check_flags(self) -> list[str]:
        if isinstance(self.front, NghttpxProxy):
            return ["--ca-bundle", str(self.front.ca_file)]
        return []

    def close(self) -> None:
        for thing in [self.front, *self.apps.values(), *self.owned]:
            with contextlib.suppress(Exception):
                thing.close()


def log_name(key: str) -> str:
    """The log a file key belongs to: ``php-fpm#pool`` -> ``php-fpm``."""
    return key.split("#")[0]


def _front_log(proxy: Proxy) -> str:
    return {"apache2": "apache"}.get(proxy.product, proxy.product)


class Backends:
    """The misbehaving HTTP backends every stack may use (started once)."""

    def __init__(self) -> None:
        self.servers: dict[str, ServerHandle] = {
            "ok": serve(Behaviour.OK),
            "hang": serve(Behaviour.HANG),
            "close": serve(Behaviour.CLOSE_EARLY),
            "garbage": serve(Behaviour.GARBAGE),
        }

    def routes(self) -> dict[str, AppRoute]:
        routes = {name: AppRoute(server.url()) for name, server in self.servers.items()}
        routes["refused"] = AppRoute(closed_port())
        return routes

    def close(self) -> None:
        for server in self.servers.values():
            server.close()


def _fastcgi(fpm: PhpFpm, read: float | None = None) -> AppRoute:
    return AppRoute(fpm.address, protocol="fastcgi", root=str(fpm.www), read_timeout=read)


def _nginx_php(_: Backends) -> Stack:
    fpm = PhpFpm(unix=True, kill_after=2, workers=4)
    short = PhpFpm(unix=True, kill_after=60)  # nginx gives up first
    fpm_tcp = PhpFpm(kill_after=2)
    pool = PhpFpm(unix=True, kill_after=20, busy=6)
    missing = f"unix:{fpm.tmp}/missing.sock"
    front = NginxAppProxy(
        {
            "fpm": _fastcgi(fpm, 10),
            "fpm_short": _fastcgi(short, 1),
            "fpm_tcp": _fastcgi(fpm_tcp, 10),
            "fpm_refused": AppRoute(closed_port(), protocol="fastcgi", root=str(fpm.www)),
            "fpm_nosock": AppRoute(missing, protocol="fastcgi", root=str(fpm.www)),
            "fpm_hold": _fastcgi(pool, 30),
            "fpm_full": _fastcgi(pool, 1),
        }
    )
    apps: dict[str, Proxy] = {
        "php-fpm": fpm,
        "php-fpm#short": short,
        "php-fpm#tcp": fpm_tcp,
        "php-fpm#pool": pool,
    }
    return Stack(front, apps)


def _uwsgi(app: Uwsgi, read: float | None = None) -> AppRoute:
    return AppRoute(app.address, protocol="uwsgi", read_timeout=read)


def _nginx_uwsgi(_: Backends) -> Stack:
    app = Uwsgi(unix=True, kill_after=2, workers=2)
    short = Uwsgi(unix=True, kill_after=60)
    queue = Uwsgi(unix=True, kill_after=20, busy=6, listen_queue=1)
    # workers that die: uWSGI sleeps 2 s when one respawns "too fast", so each its own
    die, exit_ = Uwsgi(unix=True, workers=4), Uwsgi(unix=True, workers=4)
    front = NginxAppProxy(
        {
            "uw": _uwsgi(app, 10),
            "uw_die": _uwsgi(die, 10),
            "uw_exit": _uwsgi(exit_, 10),
            "uw_short": _uwsgi(short, 1),
            "uw_refused": AppRoute(closed_port(), protocol="uwsgi"),
            "uw_nosock": AppRoute(f"unix:{app.tmp}/missing.sock", protocol="uwsgi"),
            "uw_hold": _uwsgi(queue, 30),
            "uw_full": _uwsgi(queue, 1),
        }
    )
    apps: dict[str, Proxy] = {"uwsgi": app, "uwsgi#short": short, "uwsgi#queue": queue}
    return Stack(front, {**apps, "uwsgi#die": die, "uwsgi#exit": exit_})


def _nginx_gunicorn(_: Backends) -> Stack:
    app = Gunicorn(kill_after=2, workers=2)
    short = Gunicorn(kill_after=60)
    front = NginxAppProxy(
        {
            "gu": AppRoute(app.address, read_timeout=10),
            "gu_short": AppRoute(short.address, read_timeout=1),
            "gu_refused": AppRoute(closed_port()),
            "gu_nosock": AppRoute(f"unix:{app.tmp}/missing.sock"),
        }
    )
    return Stack(front, {"gunicorn": app, "gunicorn#short": short})


def _lighttpd(backends: Backends) -> Stack:
    fpm = PhpFpm(unix=True, kill_after=2, workers=4)
    routes = backends.routes()
    routes["fpm"] = _fastcgi(fpm, 10)
    routes["fpm_nosock"] = AppRoute(
        f"unix:{fpm.tmp}/missing.sock", protocol="fastcgi", root=str(fpm.www)
    )
    return Stack(LighttpdProxy(routes), {"php-fpm": fpm})


def _with_gunicorn(cls: type[Proxy], backends: Backends | None, **kwargs: Any) -> Stack:
    """``cls`` before the misbehaving backends (if given) and a gunicorn (route ``gu``)."""
    app = Gunicorn(kill_after=2)
    routes = backends.routes() if backends else {}
    routes["gu"] = AppRoute(app.address, read_timeout=10)
    return Stack(cls(routes, **kwargs), {"gunicorn": app})


def _trafficserver(backends: Backends) -> Stack:
    from tests.servers.dns_server import DnsServer

    dns = DnsServer().start()
    dns.nxdomain("app.lab.test")
    app = Gunicorn(kill_after=2)
    routes = backends.routes()
    routes["gu"] = AppRoute(app.address, read_timeout=10)
    routes["dns"] = AppRoute("http://app.lab.test:8080")
    front = TrafficServerProxy(routes, dns=dns.address)
    return Stack(front, {"gunicorn": app}, [dns])


def _squid(backends: Backends) -> Stack:
    routes = {k: v for k, v in backends.routes().items() if k in ("ok", "refused", "hang")}
    return Stack(SquidProxy(routes))


STACKS: dict[str, Callable[[Backends], Stack]] = {
    "nginx-php": _nginx_php,
    "nginx-uwsgi": _nginx_uwsgi,
    "nginx-gunicorn": _nginx_gunicorn,
    "lighttpd": _lighttpd,
    "h2o": lambda b: _with_gunicorn(H2oProxy, b),
    "nghttpx": lambda b: Stack(NghttpxProxy(b.routes())),
    "nghttpx-slow": lambda b: _with_gunicorn(NghttpxProxy, None, timeout=10.0),
    "trafficserver": _trafficserver,
    "squid": _squid,
    "squid-slow": lambda b: _with_gunicorn(SquidProxy, None, timeout=10.0),
}


# What each case's front answered in the lab (docs/proxy-signatures.md): the status line,
# and the least time it took (None: not checked; 0: it must come at once, under 0.5 s).
_FAST, _TIMEOUT, _KILLED = 0.0, 0.9, 1.5
ANSWERS: dict[str, tuple[str, float | None]] = {
    **dict.fromkeys([c.name for c in CASES if c.cause == "healthy"], ("HTTP/1.1 200 OK", None)),
    "php_missing_script": ("HTTP/1.1 404 Not Found", _FAST),
    **dict.fromkeys(
        ["php_fatal", "php_exception", "gunicorn_exception"],
        ("HTTP/1.1 500 Internal Server Error", _FAST),
    ),
    "lighttpd_php_missing_script": ("HTTP/1.1 404 Not Found", _FAST),
    **dict.fromkeys(
        ["php_killed", "uwsgi_harakiri", "gunicorn_worker_timeout"],
        ("HTTP/1.1 502 Bad Gateway", _KILLED),
    ),
    **dict.fromkeys(
        ["php_timeout", "uwsgi_timeout", "gunicorn_timeout", "php_pool_full"],
        ("HTTP/1.1 504 Gateway Time-out", _TIMEOUT),
    ),
    **dict.fromkeys(
        [
            "php_died",
            "php_big_header",
            "php_refused",
            "php_missing_socket",
            "uwsgi_exception",
            "gunicorn_exited",
            "uwsgi_big_header",
            "uwsgi_refused",
            "uwsgi_missing_socket",
            "uwsgi_queue_full",
            "gunicorn_died",
            "gunicorn_big_header",
            "gunicorn_refused",
            "gunicorn_missing_socket",
            "lighttpd_garbage",
            "nghttpx_refused",
            "nghttpx_closed",
            "nghttpx_garbage",
            "squid_accel_down_at_start",
        ],
        ("HTTP/1.1 502 Bad Gateway", _FAST),
    ),
    # uWSGI may hold a request while it sleeps after respawning a worker "too fast"
    **dict.fromkeys(["uwsgi_died", "uwsgi_exited"], ("HTTP/1.1 502 Bad Gateway", None)),
    "lighttpd_refused": ("HTTP/1.1 503 Service Unavailable", _FAST),
    "lighttpd_php_missing_socket": ("HTTP/1.1 503 Service Unavailable", _FAST),
    "lighttpd_timeout": ("HTTP/1.1 504 Gateway Timeout", _TIMEOUT),
    "lighttpd_closed": ("HTTP/1.1 500 Internal Server Error", _FAST),
    "lighttpd_php_killed": ("HTTP/1.1 500 Internal Server Error", _KILLED),
    "lighttpd_php_died": ("HTTP/1.1 500 Internal Server Error", _FAST),
    "h2o_refused": ("HTTP/1.1 502 Gateway Error", _FAST),
    "h2o_timeout": ("HTTP/1.1 502 Gateway Error", _TIMEOUT),
    "h2o_closed": ("HTTP/1.1 502 Gateway Error", _FAST),
    "h2o_garbage": ("HTTP/1.1 502 Gateway Error", _FAST),
    "h2o_worker_timeout": ("HTTP/1.1 502 Gateway Error", _KILLED),
    "nghttpx_timeout": ("HTTP/1.1 504 Gateway Timeout", _TIMEOUT),
    "nghttpx_worker_timeout": ("HTTP/1.1 502 Bad Gateway", _KILLED),
    "ats_refused": ("HTTP/1.1 502 Connection refused", _FAST),
    "ats_timeout": ("HTTP/1.1 504 Connection Timed Out", _TIMEOUT),
    "ats_closed": ("HTTP/1.1 502 Malformed Server Response Status", _FAST),
    "ats_garbage": ("HTTP/1.1 502 Invalid HTTP Response", _FAST),
    "ats_no_remap": ("HTTP/1.1 404 Not Found on Accelerator", _FAST),
    "ats_dns": ("HTTP/1.1 500 Cannot find server.", _FAST),
    "ats_worker_timeout": ("HTTP/1.1 502 Malformed Server Response Status", _KILLED),
    "squid_accel_timeout": ("HTTP/1.1 504 Gateway Timeout", None),
    "squid_accel_worker_timeout": ("HTTP/1.1 502 Bad Gateway", _KILLED),
}
