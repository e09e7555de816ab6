"""The TCP probe: connect to every resolved address, concurrently.

Refused, timed out and unreachable are told apart by exception class and
errno, which is what lets the diagnosis say "nothing listens" rather than
"a firewall drops you".
"""

from __future__ import annotations

import asyncio
import errno
import time

from checks.models import ErrorKind, TcpAttempt

MAX_ADDRESSES = 8
_UNREACHABLE = {errno.EHOSTUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}


async def connect_all(
    addresses: tuple[str, ...], port: int, timeout: float
) -> tuple[TcpAttempt, ...]:
    """Connect to up to MAX_ADDRESSES addresses at once, each within `timeout`."""
    return tuple(
        await asyncio.gather(*(connect(a, port, timeout) for a in addresses[:MAX_ADDRESSES]))
    )


async def connect(address: str, port: int, timeout: float) -> TcpAttempt:
    """One connect attempt, closed at once; the time is the handshake's."""
    started = time.perf_counter()

    def attempt(error: ErrorKind | None = None, detail: str = "") -> TcpAttempt:
        ms = (time.perf_counter() - started) * 1000
        return TcpAttempt(address=address, port=port, error=error, detail=detail, ms=ms)

    try:
        async with asyncio.timeout(timeout):
            _reader, writer = await asyncio.open_connection(address, port)
    except TimeoutError:
        return attempt(ErrorKind.TIMEOUT, f"no answer to the connection attempt in {timeout:.1f} s")
    except ConnectionRefusedError:
        return attempt(ErrorKind.REFUSED, "connection refused (RST): nothing listens on the port")
    except OSError as exc:
        return attempt(*classify_os_error(exc))
    result = attempt()
    writer.close()
    return result


def classify_os_error(exc: OSError) -> tuple[ErrorKind, str]:
    """Map a socket error to our kind by its errno."""
    code = exc.errno
    name = errno.errorcode.get(code or 0, "error")
    if isinstance(exc, ConnectionRefusedError) or code == errno.ECONNREFUSED:
        return ErrorKind.REFUSED, "connection refused: nothing listens on the port"
    if code == errno.ENETUNREACH:
        return ErrorKind.NO_ROUTE, f"{name}: this machine has no route to that network"
    if code in _UNREACHABLE:
        return ErrorKind.UNREACHABLE, f"{name}: no route to the host or network"
    if code == errno.ETIMEDOUT:
        return ErrorKind.TIMEOUT, "the connection attempt timed out"
    if isinstance(exc, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
        return ErrorKind.RESET, f"{name}: the connection was reset"
    if code in (errno.EACCES, errno.EPERM):
        return ErrorKind.UNREACHABLE, f"{name}: a local rule prohibits the connection"
    return ErrorKind.OTHER, name
