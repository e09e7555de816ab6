"""`check TARGET --via IP`: the request through the edge and straight to each origin.

Every origin address is vetted by the same guard as a resolved one before any
probe starts; the requests carry the target's Host and SNI, and redirects to
the same host stay on the origin. The bot never looks for origin addresses
itself: they are given. The pure decision on which link is broken lives in
`checks.blame`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from checks import guard
from checks.blame import Link, Origin, Seen, decide
from checks.diagnose import CERT_WARNING_DAYS, Diagnosis
from checks.knowledge import load as load_knowledge
from checks.models import ErrorKind, Target
from checks.run import CheckOptions, OnProgress, check, check_at, split_via
from checks.target import TargetError

MAX_VIA = 5
_CERT_WORDS = {
    ErrorKind.TLS_EXPIRED: "has expired",
    ErrorKind.TLS_NOT_YET_VALID: "is not valid yet",
    ErrorKind.TLS_HOSTNAME: "does not cover the host name",
    ErrorKind.TLS_UNTRUSTED: (
        "is not trusted here (self-signed, unknown CA or incomplete chain; fine only if the "
        "edge trusts its issuer, as Cloudflare trusts its own Origin CA)"
    ),
}


@dataclass(frozen=True)
class ViaCheck:
    """The check through the edge, each origin's asked directly, and the broken link."""

    edge: Diagnosis
    origins: tuple[tuple[str, Diagnosis], ...]
    link: Link

    @property
    def healthy(self) -> bool:
        return self.edge.healthy and self.link.blame is None


def parse_via(text: str) -> str:
    """An origin as typed (`203.0.113.10`, `2001:db8::1`, `[2001:db8::1]`, and with a port
    of its own: `203.0.113.10:8443`, `[2001:db8::1]:8443`), in canonical form."""
    raw = text.strip()
    shown = text if len(text) <= 60 else text[:59] + "…"
    bracketed = re.match(r"^\[([^\]]*)\](?::([0-9]{1,5}))?$", raw)
    if bracketed:
        raw, port = bracketed.group(1), bracketed.group(2)
    elif raw.count(":") == 1:
        raw, port = raw.split(":")
    else:
        port = None
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        raise TargetError(f"via takes an origin's IP address, not {shown!r}") from None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        raise TargetError(f"zoned IPv6 addresses (%{address.scope_id}) cannot be checked")
    if port is None:
        return str(address)
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise TargetError(f"the port in via {shown!r} is not a number from 1 to 65535")
    host = f"[{address}]" if address.version == 6 else str(address)
    return f"{host}:{int(port)}"


def parse_vias(texts: Sequence[str]) -> tuple[str, ...]:
    """At most MAX_VIA distinct addresses, in the order given."""
    found = tuple(dict.fromkeys(parse_via(t) for t in texts))
    if len(found) > MAX_VIA:
        raise TargetError(f"at most {MAX_VIA} origin addresses (via) per check, not {len(found)}")
    return found


def vet_vias(vias: Sequence[str], allow_private: bool) -> None:
    """The guard, before anything is sent: a private origin needs --allow-private."""
    for via in vias:
        address, _port = split_via(via)
        try:
            guard.vet_addresses(address, (address,), allow_private)
        except guard.TargetRefused as exc:
            raise guard.TargetRefused(f"via {exc}") from None


async def check_via(
    target: Target,
    vias: Sequence[str],
    options: CheckOptions,
    on_progress: OnProgress | None = None,
) -> ViaCheck:
    """The usual check and one straight to each origin, all at once, under one deadline."""
    vet_vias(vias, options.allow_private)
    edge_task = check(target, options, on_progress) if on_progress else check(target, options)
    results = await asyncio.gather(edge_task, *(check_at(target, via, options) for via in vias))
    edge, origins = results[0], tuple(zip(vias, results[1:], strict=True))
    return ViaCheck(edge=edge, origins=origins, link=link_of(edge, origins))


async def with_origins(
    diagnosis: Diagnosis, origins: Sequence[str], options: CheckOptions
) -> Diagnosis:
    """A watch's failure with its origins asked directly: the broken link joins the summary."""
    if diagnosis.healthy or not origins:
        return diagnosis
    target = diagnosis.evidence.target
    found = await asyncio.gather(*(check_at(target, via, options) for via in origins))
    link = link_of(diagnosis, tuple(zip(origins, found, strict=True)))
    if not link.headline:
        return diagnosis
    return replace(diagnosis, summary=f"{diagnosis.summary} · broken link: {link.headline}")


def link_of(edge: Diagnosis, origins: Sequence[tuple[str, Diagnosis]]) -> Link:
    return decide(seen(edge), [Origin(via, seen(d)) for via, d in origins])


def seen(diagnosis: Diagnosis) -> Seen:
    """What `checks.blame` needs of a diagnosis."""
    layer = load_knowledge().causes[diagnosis.cause.code].layer
    summary = diagnosis.summary
    if layer in ("dns", "network", "tls", "http", "client") and summary[1:2].islower():
        summary = summary[:1].lower() + summary[1:]
    return Seen(
        status=diagnosis.status,
        cause=diagnosis.cause.code,
        layer=layer,
        answered=any(s.status is not None for s in diagnosis.evidence.http),
        summary=summary,
        product=diagnosis.product_name,
        cert_problem=cert_problem(diagnosis),
    )


def cert_problem(diagnosis: Diagnosis) -> str | None:
    """What is wrong with the server's own certificate, in words; None when nothing is."""
    evidence = diagnosis.evidence
    tls = evidence.tls
    if tls is None:
        return None
    if tls.error in _CERT_WORDS:
        return _CERT_WORDS[tls.error]
    if tls.certificate is not None and evidence.checked_at is not None and tls.ok:
        days = tls.certificate.days_left(evidence.checked_at)
        if days < CERT_WARNING_DAYS:
            return f"expires in {days} days ({tls.certificate.not_after:%Y-%m-%d})"
    return None
