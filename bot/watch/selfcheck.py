"""Is it the sites, or is it us? The bot's own connectivity, checked before alerting.

When a watch fails at the DNS or TCP layer, the bot asks its own resolvers a
trivial question and, if `GATEWAY_CANARY` names an always-up site, checks it.
If neither answers, the failures are the bot's, and alerts are held. Cached for
a short while: a hundred failing watches cost one self-check, not a hundred.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.message
import dns.rdatatype

from checks.dns import ResolverAddress

# Causes that a broken network on the bot's side would also produce.
NETWORK_CAUSES = frozenset({"dns_timeout", "dns_servfail", "tcp_timeout", "tcp_unreachable"})
RESOLVER_TIMEOUT = 2.0
CACHE_SECONDS = 30.0

CanaryCheck = Callable[[], Awaitable[bool]]


class SelfCheck:
    def __init__(
        self,
        resolvers: tuple[ResolverAddress, ...],
        canary: CanaryCheck | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.resolvers = resolvers
        self.canary = canary
        self.clock = clock
        self._cached: tuple[float, bool] | None = None
        self._lock = asyncio.Lock()

    async def network_ok(self) -> bool:
        """True when the bot's own resolvers answer and its canary (if any) is up."""
        async with self._lock:
            if self._cached and self.clock() - self._cached[0] < CACHE_SECONDS:
                return self._cached[1]
            ok = await self._resolvers_answer()
            if ok and self.canary is not None:
                ok = await self.canary()
            self._cached = (self.clock(), ok)
            return ok

    def forget(self) -> None:
        self._cached = None

    async def _resolvers_answer(self) -> bool:
        servers = self.resolvers or await asyncio.to_thread(_system_resolvers)
        if not servers:
            return True  # nothing to ask; the canary (if any) decides
        answers = await asyncio.gather(*(_answers(s) for s in servers))
        return any(answers)


def _system_resolvers() -> tuple[ResolverAddress, ...]:
    try:
        resolver = dns.asyncresolver.Resolver()
    except dns.exception.DNSException:
        return ()
    return tuple(ResolverAddress(str(ns)) for ns in resolver.nameservers)


async def _answers(server: ResolverAddress) -> bool:
    """Any DNS response at all (even an error code) means the resolver is reachable."""
    query = dns.message.make_query(".", dns.rdatatype.NS)
    try:
        await dns.asyncquery.udp(query, server.host, timeout=RESOLVER_TIMEOUT, port=server.port)
    except (dns.exception.DNSException, OSError):
        return False
    return True
