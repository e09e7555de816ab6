"""Real application servers from Debian's packages, for the lab's proxies to front.

PHP-FPM (``php-fpm8.2``), uWSGI (with ``uwsgi-plugin-python3``) and gunicorn each
run in a temporary directory with their own config, pid file and log, listening
on a free port of 127.0.0.1 or on a unix socket in that directory, and serve a
tiny application this module writes there. Every app answers the same paths:

* ``ok``: 200 and a short text body;
* ``slow``: sleeps 30 s, far past the server's own kill timer
  (PHP-FPM ``request_terminate_timeout``, uWSGI ``harakiri``, gunicorn ``--timeout``);
* ``busy``: sleeps ``busy`` seconds (less than the kill timer): holds the only worker;
* ``die``: the worker kills itself (SIGKILL) mid-request; ``exit`` (WSGI): it exits (status 1);
* ``error``: the app raises (PHP: throws); ``fatal.php``: PHP runs out of memory;
* ``big_header``: 200 with a 20 KB response header (past nginx's 4 KB header buffer).

PHP paths end in ``.php`` (``/ok.php``); a missing ``.php`` file is PHP-FPM's
"Primary script unknown". The servers are :class:`tests.servers.proxies.Proxy`
subclasses without routes, so they share its start-up retries, readiness wait and
teardown (the whole process group, then the temp dir); a missing binary skips.
"""

from __future__ import annotations

import contextlib
import glob
import shutil
import socket
from pathlib import Path
from typing import ClassVar

import pytest

from tests.servers.proxies import Proxy, _secs

__all__ = ["APP_PATHS", "AppServer", "Gunicorn", "PhpFpm", "Uwsgi"]

APP_PATHS = ("ok", "slow", "busy", "die", "exit", "error", "big_header")

WSGI_APP = '''\
"""The lab's WSGI app (written by tests/servers/appservers.py)."""
import os
import signal
import time

BUSY = {busy!r}


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/").rstrip("/")
    if path.endswith("/slow"):
        time.sleep(30)
    elif path.endswith("/busy"):
        time.sleep(BUSY)
    elif path.endswith("/die"):
        os.kill(os.getpid(), signal.SIGKILL)
    elif path.endswith("/exit"):
        os._exit(1)
    elif path.endswith("/error"):
        raise RuntimeError("the lab app failed on purpose")
    elif path.endswith("/big_header"):
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Lab-Padding", "x" * 20000)])
        return [b"a header too big for a proxy buffer\\n"]
    body = b"ok from the lab app\\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


app = application
'''

PHP_SCRIPTS = {
    "ok.php": '<?php echo "ok from php-fpm\\n";',
    "slow.php": '<?php sleep(30); echo "too late\\n";',
    "busy.php": '<?php sleep({busy}); echo "done\\n";',
    "die.php": "<?php posix_kill(getmypid(), 9);",
    "fatal.php": '<?php ini_set("memory_limit", "4M"); $a = str_repeat("x", 16 * 1024 * 1024);',
    "error.php": '<?php throw new RuntimeException("the lab app failed on purpose");',
    "big_header.php": '<?php header("X-Lab-Padding: " . str_repeat("x", 20000)); echo "big\\n";',
}


class AppServer(Proxy):
    """An application server: no routes; listens on TCP or on ``<tmp>/app.sock``.

    kill_after: the server's own per-request kill timer, in seconds.
    busy: how long the ``busy`` path holds its worker.
    """

    log_name: ClassVar[str] = "app.log"

    def __init__(
        self,
        *,
        unix: bool = False,
        kill_after: float = 2.0,
        busy: float = 1.5,
        workers: int = 1,
        listen_queue: int | None = None,
        **kwargs: object,
    ) -> None:
        self.unix = unix
        self.kill_after = kill_after
        self.busy = busy
        self.workers = workers
        self.listen_queue = listen_queue
        super().__init__({}, **kwargs)  # type: ignore[arg-type]

    @property
    def socket_path(self) -> Path:
        return self.tmp / "app.sock"

    @property
    def address(self) -> str:
        """``unix:/path`` or ``127.0.0.1:port``, as nginx and the other proxies spell it."""
        return f"unix:{self.socket_path}" if self.unix else f"{self.host}:{self.port}"

    @property
    def error_log(self) -> Path:
        return self.tmp / self.log_name

    def accepts(self) -> bool:
        if not self.unix:
            return super().accepts()
        with (
            contextlib.suppress(OSError),
            socket.socket(socket.AF_UNIX) as sock,
        ):
            sock.settimeout(0.5)
            sock.connect(str(self.socket_path))
            return True
        return False

    def _own_tmp(self) -> None:
        """Let a server that drops to ``nobody`` (as root) write its socket and log."""
        self.tmp.chmod(0o777)


# ============================================================================== PHP-FPM


class PhpFpm(AppServer):
    product = "php-fpm"
    binary = "php-fpm8.2"
    log_name = "php-fpm.log"

    @classmethod
    def find_binary(cls) -> str:
        found = sorted(glob.glob("/usr/sbin/php-fpm*")) or [
            p for p in [shutil.which("php-fpm")] if p
        ]
        if not found:
            pytest.skip("php-fpm: no /usr/sbin/php-fpm* (Debian package php-fpm) installed")
        return found[-1]

    @property
    def www(self) -> Path:
        return self.tmp / "www"

    def command(self) -> list[str]:
        run_as_root = ["--allow-to-run-as-root"] if self.as_root else []
        conf = str(self.tmp / "php-fpm.conf")
        return [self.exe, "--nodaemonize", "--fpm-config", conf, "-p", str(self.tmp), *run_as_root]

    def write_config(self) -> None:
        self._own_tmp()
        self.www.mkdir(exist_ok=True)
        for name, source in PHP_SCRIPTS.items():
            (self.www / name).write_text(source.replace("{busy}", str(self.busy)))
        listen = str(self.socket_path) if self.unix else f"{self.host}:{self.port}"
        user = "user = nobody\ngroup = nogroup\n" if self.as_root else ""
        backlog = f"listen.backlog = {self.listen_queue}\n" if self.listen_queue else ""
        conf = f"""\
[global]
pid = {self.tmp}/php-fpm.pid
error_log = {self.error_log}
log_level = notice
daemonize = no

[lab]
{user}listen = {listen}
listen.mode = 0666
{backlog}pm = dynamic
pm.max_children = {self.workers}
pm.start_servers = 1
pm.min_spare_servers = 1
pm.max_spare_servers = 1
request_terminate_timeout = {_secs(self.kill_after)}s
catch_workers_output = yes
"""
        (self.tmp / "php-fpm.conf").write_text(conf)


# ================================================================================ uWSGI


class Uwsgi(AppServer):
    product = "uwsgi"
    binary = "uwsgi"
    log_name = "uwsgi.log"

    def command(self) -> list[str]:
        listen = str(self.socket_path) if self.unix else f"{self.host}:{self.port}"
        cmd = [
            self.exe,
            "--plugin",
            "python3",
            "--master",
            "--processes",
            str(self.workers),
            "--socket",
            listen,
            "--chmod-socket=666",
            "--wsgi-file",
            str(self.tmp / "app.py"),
            "--harakiri",
            _secs(self.kill_after),
            "--logto",
            str(self.error_log),
            "--pidfile",
            str(self.tmp / "uwsgi.pid"),
            "--die-on-term",
            "--reload-mercy",
            "1",
            "--worker-reload-mercy",
            "1",
        ]
        if self.listen_queue:
            cmd += ["--listen", str(self.listen_queue)]
        return cmd

    def write_config(self) -> None:
        (self.tmp / "app.py").write_text(WSGI_APP.format(busy=self.busy))


# ============================================================================= gunicorn


class Gunicorn(AppServer):
    product = "gunicorn"
    binary = "gunicorn"
    log_name = "gunicorn.log"

    def command(self) -> list[str]:
        bind = f"unix:{self.socket_path}" if self.unix else f"{self.host}:{self.port}"
        cmd = [
            self.exe,
            "--chdir",
            str(self.tmp),
            "--bind",
            bind,
            "--workers",
            str(self.workers),
            "--timeout",
            _secs(self.kill_after),
            "--graceful-timeout",
            "1",
            "--error-logfile",
            str(self.error_log),
            "--pid",
            str(self.tmp / "gunicorn.pid"),
        ]
        if self.listen_queue:
            cmd += ["--backlog", str(self.listen_queue)]
        return [*cmd, "app:app"]

    def env(self) -> dict[str, str]:
        env = super().env()
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPATH", None)
        return env

    def write_config(self) -> None:
        (self.tmp / "app.py").write_text(WSGI_APP.format(busy=self.busy))
