"""The DNS questions themselves (dnspython): A, AAAA and the CNAME chain, classified.

Kept apart from checks/dns.py so that dnspython is imported only when a name has
to be asked of a DNS server (checks/dns.py imports this module on first use).
"""

from __future__ import annotations

import asyncio
import time

import dns._features as _dnspython_features

# dnspython asks importlib.metadata, as it is imported, whether its optional packages
# are installed (about 10 ms of every check process). The check uses none of those
# features (no DNS over HTTPS or QUIC, no DNSSEC validation, no trio; names reach
# dnspython already in ASCII, converted by checks/target.py with IDNA 2008), so they
# are settled before the rest of dnspython is imported.
for _feature in ("doh", "doq", "dnssec", "trio", "wmi", "idna"):
    _dnspython_features.force(_feature, False)

import dns.asyncresolver  # noqa: E402
import dns.exception  # noqa: E402
import dns.message  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.resolver  # noqa: E402

from checks.models import DnsAnswer, ErrorKind  # noqa: E402


def configured(host: str, port: int) -> dns.asyncresolver.Resolver:
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [host]
    resolver.port = port
    return resolver


def system_resolver() -> dns.asyncresolver.Resolver:
    """The resolvers from /etc/resolv.conf (read in a worker thread: it is a file)."""
    try:
        return dns.asyncresolver.Resolver()
    except dns.resolver.NoResolverConfiguration:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        return resolver


async def ask(
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
