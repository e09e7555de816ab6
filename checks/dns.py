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
import types
from dataclasses import dataclass
from pathlib import Path

from checks.models import DnsAnswer, DnsResult

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
        query = _queries()
        answers = await asyncio.gather(
            *(
                query.ask(name, query.configured(r.host, r.port), str(r), lifetime)
                for r in resolvers
            )
        )
    else:
        from_hosts = await asyncio.to_thread(_hosts_lookup, name)
        if from_hosts:
            answers = [DnsAnswer(resolver="/etc/hosts", addresses=from_hosts)]
        else:
            query = _queries()
            system = await asyncio.to_thread(query.system_resolver)
            label = "system (" + ", ".join(map(str, system.nameservers)) + ")"
            answers = [await query.ask(name, system, label, lifetime)]
    return DnsResult(name=name, answers=tuple(answers), ms=(time.perf_counter() - started) * 1000)


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


def _queries() -> types.ModuleType:
    """checks.dns_query, imported on the first name that needs a DNS server.

    dnspython takes about 60 ms to import; a check of an IP address, or of a name in
    /etc/hosts, never needs it, and `gateway check` is often a one-shot process.
    """
    from checks import dns_query

    return dns_query
