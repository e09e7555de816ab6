"""HTTP/2 on loopback: a real nghttpx front, and an h2 server that breaks on purpose.

`Nghttpx` runs Debian's nghttpx (package nghttp2-proxy) as a TLS front offering h2 and
HTTP/1.1 by ALPN, in front of a backend on loopback; `extra` passes options such as
`--add-response-header=connection: close`, the classic "fine over HTTP/1.1, broken in
browsers" setup. `BrokenH2` (the h2 library, the one httpx uses) answers HTTP/1.1
when ALPN picks it and resets every h2 stream (RST_STREAM) or sends GOAWAY when h2 is
chosen.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import h2.config
import h2.connection
import h2.errors
import h2.events
import pytest

from tests.servers.proxies import free_port
from tests.servers.tls import Pki


class Nghttpx:
    """nghttpx on 127.0.0.1 with a trustme certificate for `hostnames`."""

    def __init__(
        self, pki: Pki, backend_port: int, hostnames=("site.test",), extra: tuple[str, ...] = ()
    ) -> None:
        if shutil.which("nghttpx") is None:
            pytest.skip("nghttpx is not installed (Debian package nghttp2-proxy)")
        self.tmp = Path(tempfile.mkdtemp(prefix="nghttpx-"))
        cert, key = pki.issue("valid", hostnames)
        (self.tmp / "cert.pem").write_bytes(cert)
        (self.tmp / "key.pem").write_bytes(key)
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                "nghttpx",
                "--conf=/dev/null",
                f"--frontend=127.0.0.1,{self.port}",
                f"--backend=127.0.0.1,{backend_port}",
                "--workers=1",
                "--single-process",
                "--no-ocsp",
                f"--errorlog-file={self.tmp / 'error.log'}",
                "--accesslog-file=/dev/null",
                *extra,
                str(self.tmp / "key.pem"),
                str(self.tmp / "cert.pem"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if not _wait_for(self.port) or self.proc.poll() is not None:
            log = (self.tmp / "error.log").read_text(errors="replace")
            self.close()
            raise RuntimeError(f"nghttpx did not start: {log[-2000:]}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Nghttpx:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _wait_for(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        time.sleep(0.05)
    return False


_PAGE = b"<html><body>fine over HTTP/1.1</body></html>"


class BrokenH2:
    """TLS on 127.0.0.1 offering h2 and HTTP/1.1; h2 breaks as `how` says (reset, goaway)."""

    def __init__(self, pki: Pki, how: str, hostnames=("site.test",)) -> None:
        self.how = how
        context = pki.server_context("valid", hostnames)
        context.set_alpn_protocols(["h2", "http/1.1"])
        self.context = context
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", 0, ssl=self.context)
        )
        self.port = self.server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            tls = writer.get_extra_info("ssl_object")
            if tls is not None and tls.selected_alpn_protocol() == "h2":
                await self._h2(reader, writer)
            else:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: "
                    + str(len(_PAGE)).encode()
                    + b"\r\nConnection: close\r\n\r\n"
                    + _PAGE
                )
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def _h2(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        connection.initiate_connection()
        writer.write(connection.data_to_send())
        while data := await reader.read(65536):
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    if self.how == "reset":
                        connection.reset_stream(
                            event.stream_id, h2.errors.ErrorCodes.PROTOCOL_ERROR
                        )
                    else:
                        connection.close_connection(
                            h2.errors.ErrorCodes.PROTOCOL_ERROR, additional_data=b"bad <!channel>"
                        )
            writer.write(connection.data_to_send())
            await writer.drain()

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def __enter__(self) -> BrokenH2:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
