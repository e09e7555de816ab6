"""The DNS probe: A, AAAA and the CNAME chain, from each resolver asked.

NXDOMAIN, no address, SERVFAIL and timeout are told apart by dnspython's
exception classes. With several resolvers, each is asked on its own so that
the diagnosis can compare their answers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time
from dataclasses import dataclass
from pathlib import Path

import dns.asyncresolver
import dns.exception
import dns.message
import dns.rdatatype
import dns.resolver

from checks.models import DnsAnswer, DnsResult, ErrorKind

HOSTS_FILE = Path("/etc/hosts")


@dataclass(frozen=True)
class ResolverAddress:
    """A DNS server to ask: `IP`, `IP:PORT` or `[IPv6]:PORT`."""

    host: str
    port: int = 53

    @classmethod
    def parse(cls, text: str) -> ResolverAddress:
        """`IP`, `IP:PORT`, `[IPv6]` or `[IPv6]:PORT`; IPv6 only in brackets, else ValueError."""
        text = text.strip()
        host, port = text, 53
        if text.startswith("["):
            host, closed, rest = text[1:].partition("]")
            if not closed:
                raise ValueError(f"resolver {text!r}: the [ is never closed ([IPv6]:PORT)")
            if rest:
                if not rest.startswith(":"):
                    raise ValueError(f"resolver {text!r}: expected :PORT after the ]")
                port = _port(rest[1:], text)
            try:
                address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv6Address(host)
            except ValueError:
                raise ValueError(
                    f"resolver {text!r}: brackets hold an IPv6 address ([IPv6]:PORT)"
                ) from None
        elif ":" in text:
            if text.count(":") > 1:
                raise ValueError(
                    f"resolver {text!r}: write an IPv6 resolver in brackets, as in [::1]:5353"
                )
            host, port_text = text.split(":")
            port = _port(port_text, text)
            address = _ipv4(host, text)
        else:
            address = _ipv4(host, text)
        if getattr(address, "scope_id", None):
            raise ValueError(f"resolver {text!r}: zoned IPv6 addresses are not supported")
        return cls(str(address), port)

    def __str__(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return shown if self.port == 53 else f"{shown}:{self.port}"


def _ipv4(host: str, whole: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(host)
    except ValueError:
        raise ValueError(f"resolver {whole!r} is not an IP address (IP or IP:PORT)") from None


def _port(text: str, whole: str) -> int:
    if not re.fullmatch(r"[0-9]{1,5}", text) or not 0 < int(text) < 65536:
        raise ValueError(f"resolver {whole!r} has an invalid port")
    return int(text)


async def resolve(name: str, resolvers: tuple[ResolverAddress, ...], lifetime: float) -> DnsResult:
    """Resolve `name` with each resolver (or the system's) within `lifetime` seconds."""
    started = time.perf_counter()
    if resolvers:
        answers = await asyncio.gather(
            *(_ask(name, _configured(r), str(r), lifetime) for r in resolvers)
        )
    else:
        from_hosts = await asyncio.to_thread(_hosts_lookup, name)
        if from_hosts:
            answers = [DnsAnswer(resolver="/etc/hosts", addresses=from_hosts)]
        else:
            system = await asyncio.to_thread(_system_resolver)
            label = "system (" + ", ".join(map(str, system.nameservers)) + ")"
            answers = [await _ask(name, system, label, lifetime)]
    return DnsResult(name=name, answers=tuple(answers), ms=(time.perf_counter() - started) * 1000)


def _configured(address: ResolverAddress) -> dns.asyncresolver.Resolver:
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [address.host]
    resolver.port = address.port
    return resolver


def _system_resolver() -> dns.asyncresolver.Resolver:
    """The resolvers from /etc/resolv.conf (read in a worker thread: it is a file)."""
    try:
        return dns.asyncresolver.Resolver()
    except dns.resolver.NoResolverConfiguration:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        return resolver


def _hosts_lookup(name: str) -> tuple[str, ...]:
    """Addresses for `name` in /etc/hosts, as the system's resolver would find them."""
    try:
        lines = HOSTS_FILE.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ()
    found: list[str] = []
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and name.lower() in (f.lower() for f in fields[1:]):
            try:
                found.append(str(ipaddress.ip_address(fields[0].split("%")[0])))
            except ValueError:
                continue
    return tuple(dict.fromkeys(found))


async def _ask(
    name: str, resolver: dns.asyncresolver.Resolver, label: str, lifetime: float
) -> DnsAnswer:
    """One resolver's A and AAAA answers, asked concurrently."""
    resolver.timeout = lifetime
    resolver.lifetime = lifetime
    started = time.perf_counter()
    results = await asyncio.gather(
        _query(resolver, name, dns.rdatatype.A, lifetime),
        _query(resolver, name, dns.rdatatype.AAAA, lifetime),
    )
    ms = (time.perf_counter() - started) * 1000
    addresses = tuple(a for addrs, _, _ in results for a in addrs)
    cnames = next((c for _, c, _ in results if c), ())
    if addresses:
        return DnsAnswer(resolver=label, addresses=addresses, cnames=cnames, ms=ms)
    errors = [e for _, _, e in results if e]
    kind, detail = _worst(errors) if errors else (ErrorKind.NO_ADDRESS, "no A or AAAA record")
    return DnsAnswer(resolver=label, cnames=cnames, error=kind, detail=detail, ms=ms)


async def _query(
    resolver: dns.asyncresolver.Resolver,
    name: str,
    rdtype: dns.rdatatype.RdataType,
    lifetime: float,
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[ErrorKind, str] | None]:
    """Return (addresses, cname chain, error) for one record type."""
    try:
        answer = await resolver.resolve(name, rdtype, search=False, lifetime=lifetime)
    except dns.resolver.NXDOMAIN:
        return (), (), (ErrorKind.NXDOMAIN, f"{name} does not exist (NXDOMAIN)")
    except dns.resolver.NoAnswer as exc:
        found = exc.kwargs.get("response")
        cnames = _chain(found) if isinstance(found, dns.message.QueryMessage) else ()
        return (), cnames, (ErrorKind.NO_ADDRESS, "the name exists but has no A or AAAA record")
    except dns.resolver.NoNameservers as exc:
        return (), (), (ErrorKind.SERVFAIL, _servfail_detail(exc))
    except dns.exception.Timeout:
        return (), (), (ErrorKind.DNS_TIMEOUT, f"no answer within {lifetime:.1f} s")
    except dns.exception.DNSException as exc:
        return (), (), (ErrorKind.DNS_ERROR, type(exc).__name__)
    addresses = tuple(str(rr.address) for rr in answer)
    return addresses, _chain(answer.response), None


def _chain(response: dns.message.QueryMessage) -> tuple[str, ...]:
    """The CNAME targets followed from the question name, in order."""
    try:
        result = response.resolve_chaining()
    except dns.exception.DNSException:
        return ()
    return tuple(rrset[0].target.to_text(omit_final_dot=True) for rrset in result.cnames)


def _servfail_detail(exc: dns.resolver.NoNameservers) -> str:
    """What each server answered: dnspython lists (server, tcp, port, error, response)."""
    answers = []
    for entry in exc.kwargs.get("errors") or []:
        error = entry[3] if len(entry) > 3 else None
        answers.append(error if isinstance(error, str) else type(error).__name__)
    distinct = sorted(set(answers)) or ["SERVFAIL"]
    return "the resolver answered " + " and ".join(distinct) + " (it could not get an answer)"


_SEVERITY = [
    ErrorKind.NXDOMAIN,
    ErrorKind.SERVFAIL,
    ErrorKind.DNS_TIMEOUT,
    ErrorKind.DNS_ERROR,
    ErrorKind.NO_ADDRESS,
]


def _worst(errors: list[tuple[ErrorKind, str]]) -> tuple[ErrorKind, str]:
    """The error that explains the failure best (NXDOMAIN over a missing AAAA, …)."""
    return min(errors, key=lambda e: _SEVERITY.index(e[0]))
