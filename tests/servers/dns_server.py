"""A small, real DNS server on a loopback port, for tests.

It speaks DNS over UDP *and* TCP (RFC 1035 two-byte length framing) on the same port of
127.0.0.1, from a private asyncio event loop running in a daemon thread, so it works the same
for sync tests, async tests (whatever their loop) and subprocesses (pass ``server.address`` to
``--resolver``).

It behaves like a recursive resolver that already knows the answers: responses have RA set,
echo the id, the question and RD, answer EDNS queries with EDNS, and a CNAME answer carries the
whole chain plus the target's records, so ``dns.resolver`` follows it and
``answer.response.resolve_chaining()`` lists the CNAMEs. Answers for names the server was told
about (including NXDOMAIN/NODATA) also have AA set; SERVFAIL has not.

    with DnsServer() as dns_srv:
        dns_srv.add_a("site.test", "127.0.0.1")
        dns_srv.add_cname("www.site.test", "site.test")
        dns_srv.servfail("broken.test")
        dns_srv.delay("slow.test", 2.0)
        ... resolver.nameservers = [dns_srv.host]; resolver.port = dns_srv.port ...
        assert ("site.test", "A") in dns_srv.queries

Per-name behaviour (the last call for a name wins):

* ``add_a`` / ``add_aaaa`` / ``add_cname``: records (the name then answers normally);
  A/AAAA can be added repeatedly and accumulate, a CNAME replaces the name's other records
* ``nxdomain``: NXDOMAIN (also what unknown names get)
* ``servfail``: SERVFAIL
* ``nodata``: NOERROR, empty answer (drops the name's records)
* ``drop``: never answered, on UDP or TCP (the TCP connection is left open)
* ``delay``: the answer (whatever it is) is sent ``seconds`` later; other queries are not held up

These also apply when a CNAME chain reaches the name: a CNAME to a servfail name gives SERVFAIL,
to an unknown name NXDOMAIN with the CNAME in the answer, like a real resolver. Delays along a
chain add up. Queries of other types (MX, TXT, HTTPS, ...) for an existing name get NODATA.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import socket
import struct
import threading
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

__all__ = ["DnsServer"]

_A = dns.rdatatype.A
_AAAA = dns.rdatatype.AAAA
_CNAME = dns.rdatatype.CNAME
_MAX_CHAIN = 16


@dataclass
class _Entry:
    records: dict[int, list[str]] = field(default_factory=dict)  # rdtype -> rdata texts
    ttl: int = 300
    mode: str | None = None  # None, "nxdomain", "servfail", "nodata", "drop"
    delay: float = 0.0


def _name(name: str) -> dns.name.Name:
    """Absolute, case-insensitive key for ``name`` (given with or without trailing dot)."""
    return dns.name.from_text(name.strip().rstrip(".") + ".")


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr) -> None:
        def send(wire: bytes) -> None:
            if self.transport is not None and not self.transport.is_closing():
                self.transport.sendto(wire, addr)

        self.server._handle(data, "udp", send)


class DnsServer:
    """A DNS server on ``host`` (UDP and TCP, same port) answering from in-memory data."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.queries: list[tuple[str, str]] = []  # (qname lowercase without dot, "A"/"AAAA"/...)
        self.log: list[tuple[str, str, str]] = []  # same plus "udp"/"tcp"
        self._entries: dict[dns.name.Name, _Entry] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._udp_sock: socket.socket | None = None
        self._tcp_sock: socket.socket | None = None
        self._tcp_writers: set[asyncio.StreamWriter] = set()

    # ------------------------------------------------------------------ lifecycle

    @property
    def address(self) -> str:
        """``"127.0.0.1:PORT"`` (``"[::1]:PORT"`` for IPv6), the form ``--resolver`` takes."""
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"

    def start(self) -> DnsServer:
        if self._thread is not None:
            return self
        self._udp_sock, self._tcp_sock = self._bind()
        self.port = self._udp_sock.getsockname()[1]
        self._thread = threading.Thread(
            target=self._run, name=f"dns-server-{self.port}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("DNS server thread did not start")
        if self._error is not None:
            raise RuntimeError("DNS server failed to start") from self._error
        return self

    def close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(self._stop.set)  # type: ignore[union-attr]
            thread.join(5)
        for sock in (self._udp_sock, self._tcp_sock):
            if sock is not None:
                sock.close()
        self._thread = None

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def _bind(self) -> tuple[socket.socket, socket.socket]:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        attempts = 1 if self.port else 100
        for _ in range(attempts):
            udp = socket.socket(family, socket.SOCK_DGRAM)
            tcp = socket.socket(family, socket.SOCK_STREAM)
            try:
                udp.bind((self.host, self.port))
                port = udp.getsockname()[1]
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind((self.host, port))
                tcp.listen(64)
            except OSError as exc:
                udp.close()
                tcp.close()
                if exc.errno != errno.EADDRINUSE or self.port:
                    raise
                continue
            udp.setblocking(False)
            tcp.setblocking(False)
            return udp, tcp
        raise OSError(errno.EADDRINUSE, "no port free for both UDP and TCP")

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start() if it happens before ready
            self._error = exc
        finally:
            self._ready.set()
            try:
                tasks = asyncio.all_tasks(loop)
                for task in tasks:
                    task.cancel()
                if tasks:
                    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        udp_transport, _ = await loop.create_datagram_endpoint(
            lambda: _Udp(self), sock=self._udp_sock
        )
        tcp_server = await asyncio.start_server(self._tcp_client, sock=self._tcp_sock)
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            udp_transport.close()
            tcp_server.close()
            # Close open connections (e.g. ones waiting on a dropped query) so that their
            # handlers end by themselves: cancelling them makes Python 3.11's asyncio log
            # a spurious CancelledError traceback.
            for writer in list(self._tcp_writers):
                writer.close()
            for _ in range(5):
                if not self._tcp_writers:
                    break
                await asyncio.sleep(0.01)
            # Python 3.12+ wait_closed() waits for every connection, including dropped ones.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(tcp_server.wait_closed(), 0.1)

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        def send(wire: bytes) -> None:
            if not writer.is_closing():
                writer.write(struct.pack("!H", len(wire)) + wire)

        self._tcp_writers.add(writer)
        try:
            while True:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                self._handle(await reader.readexactly(length), "tcp", send)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # client went away, or the server is shutting down
        finally:
            self._tcp_writers.discard(writer)
            writer.close()

    # ------------------------------------------------------------------ configuration

    def _entry(self, name: str) -> _Entry:
        return self._entries.setdefault(_name(name), _Entry())

    def _add(self, name: str, rdtype: int, values: list[str], ttl: int | None) -> None:
        with self._lock:
            entry = self._entry(name)
            if entry.mode is not None or _CNAME in entry.records:
                entry.records.clear()
            entry.mode = None
            entry.records.setdefault(rdtype, []).extend(values)
            if ttl is not None:
                entry.ttl = ttl

    def add_a(self, name: str, *ips: str, ttl: int | None = None) -> None:
        self._add(name, _A, [str(ipaddress.IPv4Address(ip)) for ip in ips], ttl)

    def add_aaaa(self, name: str, *ips: str, ttl: int | None = None) -> None:
        self._add(name, _AAAA, [str(ipaddress.IPv6Address(ip)) for ip in ips], ttl)

    def add_cname(self, name: str, target: str, ttl: int | None = None) -> None:
        with self._lock:
            entry = self._entry(name)
            entry.records = {_CNAME: [_name(target).to_text()]}
            entry.mode = None
            if ttl is not None:
                entry.ttl = ttl

    def _set_mode(self, name: str, mode: str) -> None:
        with self._lock:
            entry = self._entry(name)
            entry.mode = mode
            if mode in ("nxdomain", "nodata"):
                entry.records.clear()

    def nxdomain(self, name: str) -> None:
        self._set_mode(name, "nxdomain")

    def servfail(self, name: str) -> None:
        self._set_mode(name, "servfail")

    def nodata(self, name: str) -> None:
        self._set_mode(name, "nodata")

    def drop(self, name: str) -> None:
        self._set_mode(name, "drop")

    def delay(self, name: str, seconds: float) -> None:
        with self._lock:
            self._entry(name).delay = float(seconds)

    # ------------------------------------------------------------------ answering

    def _handle(self, wire: bytes, transport: str, send) -> None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return  # garbage, or not even a header: ignore like many servers do
        if query.flags & dns.flags.QR:
            return
        response = dns.message.make_response(query, recursion_available=True)
        delay = 0.0
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
        elif len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
        else:
            question = query.question[0]
            qtype_text = dns.rdatatype.to_text(question.rdtype)
            qname_text = question.name.to_text(omit_final_dot=True).lower()
            self.queries.append((qname_text, qtype_text))
            self.log.append((qname_text, qtype_text, transport))
            with self._lock:
                result = self._answer(response, question.name, question.rdtype)
            if result is None:
                return  # drop
            delay = result
        if transport == "udp":
            max_size = max(512, query.payload) if query.edns >= 0 else 512
        else:
            max_size = 65535
        try:
            out = response.to_wire(max_size=max_size)
        except dns.exception.TooBig:
            truncated = dns.message.make_response(query, recursion_available=True)
            truncated.flags |= dns.flags.TC | (response.flags & dns.flags.AA)
            truncated.set_rcode(response.rcode())
            out = truncated.to_wire(max_size=max_size)
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, send, out)
        else:
            send(out)

    def _answer(self, response: dns.message.Message, qname: dns.name.Name, qtype: int):
        """Fill ``response``; return the delay in seconds, or None to drop the query."""
        delay = 0.0
        name = qname
        seen: set[dns.name.Name] = set()
        authoritative = True
        while True:
            entry = self._entries.get(name)
            if entry is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
                self._add_soa(response, name)
                break
            delay += entry.delay
            if entry.mode == "drop":
                return None
            if entry.mode == "servfail":
                response.set_rcode(dns.rcode.SERVFAIL)
                del response.answer[:]
                authoritative = False
                break
            if entry.mode == "nxdomain":
                response.set_rcode(dns.rcode.NXDOMAIN)
                self._add_soa(response, name)
                break
            cname = entry.records.get(_CNAME)
            if cname and qtype != _CNAME and qtype != dns.rdatatype.ANY:
                response.answer.append(self._rrset(name, _CNAME, cname, entry.ttl))
                seen.add(name)
                target = dns.name.from_text(cname[0])
                if target in seen or len(seen) > _MAX_CHAIN:
                    response.set_rcode(dns.rcode.SERVFAIL)  # loop: what resolvers do
                    authoritative = False
                    break
                name = target
                continue
            wanted = list(entry.records) if qtype == dns.rdatatype.ANY else [qtype]
            found = False
            for rdtype in wanted:
                values = entry.records.get(rdtype)
                if values:
                    response.answer.append(self._rrset(name, rdtype, values, entry.ttl))
                    found = True
            if not found:
                self._add_soa(response, name)  # NODATA
            break
        if authoritative:
            response.flags |= dns.flags.AA
        return delay

    @staticmethod
    def _rrset(name: dns.name.Name, rdtype: int, values: list[str], ttl: int) -> dns.rrset.RRset:
        return dns.rrset.from_text_list(name, ttl, dns.rdataclass.IN, rdtype, values)

    @staticmethod
    def _add_soa(response: dns.message.Message, name: dns.name.Name) -> None:
        """Negative answers carry an SOA in the authority section, as real servers send."""
        zone = name.split(2)[1] if len(name) > 1 else name  # the TLD, e.g. "test."
        mname = dns.name.Name(("ns",)).concatenate(zone)
        rname = dns.name.Name(("hostmaster",)).concatenate(zone)
        soa = f"{mname} {rname} 1 3600 600 86400 60"
        response.authority.append(
            dns.rrset.from_text_list(zone, 60, dns.rdataclass.IN, dns.rdatatype.SOA, [soa])
        )
