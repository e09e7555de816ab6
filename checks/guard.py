"""The SSRF guard: which addresses a check may connect to.

Anyone in a Slack workspace can make the bot fetch a URL, so by default only
globally routable addresses are allowed. The probes connect to the addresses
vetted here, never to a name resolved a second time.
"""

from __future__ import annotations

import ipaddress

_METADATA = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("fd00:ec2::254"),  # AWS IMDS over IPv6
}
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_METADATA_NAMES = ("metadata.google.internal", "metadata", "instance-data", "metadata.azure.com")


class TargetRefused(ValueError):
    """The target points somewhere a check must not go; the message says where.

    `where` and `kind` ("loopback", "private", "cloud metadata"…) let a chat word it for
    its own readers; str() is the command line's wording, with its flag.
    """

    def __init__(self, message: str, where: str = "", kind: str = "") -> None:
        super().__init__(message)
        self.where, self.kind = where, kind


_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215 local-use prefixes
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT IPv4-translated (RFC 2765)
_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated IPv4-compatible (RFC 4291 §2.5.5.1)
_ISATAP_IDS = {0x0000, 0x0100, 0x0200, 0x0300}  # RFC 5214: [ug]-bits, then 5efe


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 transition form carries, with the form's name.

    Packets to these reach (or are translated to) the IPv4 address inside, so
    that address is what the guard judges: `2002:7f00:1::1` is 127.0.0.1.
    """
    value = int(ip)
    found: list[tuple[str, ipaddress.IPv4Address]] = []
    if ip.ipv4_mapped:
        found.append(("IPv4-mapped", ip.ipv4_mapped))
    elif ip in _TRANSLATED:
        found.append(("IPv4-translated", ipaddress.IPv4Address(value & 0xFFFFFFFF)))
    elif ip in _COMPATIBLE and value > 1:
        found.append(("IPv4-compatible", ipaddress.IPv4Address(value & 0xFFFFFFFF)))
    if ip.sixtofour:
        found.append(("6to4", ip.sixtofour))
    if ip in _NAT64:
        found.append(("NAT64", ipaddress.IPv4Address(value & 0xFFFFFFFF)))
    if ip in _NAT64_LOCAL:
        # RFC 6052 §2.2: /48 puts the address in bits 48-63 and 72-87 (bits 64-71 are 0);
        # /96 in the last 32 bits. A local-use prefix may be either; judge both.
        in_96 = value & 0xFFFFFFFF
        in_48 = (((value >> 64) & 0xFFFF) << 16) | ((value >> 40) & 0xFFFF)
        found += [("local-use NAT64", ipaddress.IPv4Address(v)) for v in (in_96, in_48) if v]
    if ip.teredo:
        server, client = ip.teredo
        found += [("Teredo client", client), ("Teredo server", server)]
    if (value >> 32) & 0xFFFFFFFF in {(i << 16) | 0x5EFE for i in _ISATAP_IDS}:
        found.append(("ISATAP", ipaddress.IPv4Address(value & 0xFFFFFFFF)))
    return found


def address_class(address: str) -> str | None:
    """Why this address is off limits (e.g. "loopback"), or None when it is public.

    An IPv6 form that embeds an IPv4 address is judged by the address it embeds.
    """
    found = _judge(ipaddress.ip_address(address))
    return found[0] if found else None


def _judge(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> tuple[str, str] | None:
    """(class, how it was found) for an off-limits address, else None."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = embedded_ipv4(ip)
        for form, inner in embedded:
            reason = _class(inner)
            if reason:
                return reason, f"the {form} form of {inner}"
        if ip in _NAT64_LOCAL:
            return "private", "a local-use NAT64 prefix, translated inside its own network"
        if embedded and all(form != "ISATAP" for form, _ in embedded):
            return None  # a well-known prefix only carries the IPv4 address, which is public
    reason = _class(ip)
    return (reason, "") if reason else None


def _class(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if ip in _METADATA:
        return "cloud metadata"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "carrier-grade NAT"
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_private or ip.is_reserved or not ip.is_global:
        return "private"
    return None


def vet_name(host: str, allow_private: bool) -> None:
    """Refuse well-known metadata host names before any lookup."""
    if allow_private:
        return
    if host.lower() in _METADATA_NAMES or host.lower().endswith(".internal"):
        raise TargetRefused(
            f"refusing {host}: it names a cloud metadata or internal service "
            "(pass --allow-private for internal targets)",
            where=host,
            kind="internal",
        )


def vet_addresses(host: str, addresses: tuple[str, ...], allow_private: bool) -> None:
    """Refuse the whole target when any address is not public.

    All or nothing: a name that mixes public and private addresses is a classic
    DNS-rebinding setup, and checking only its public half would mislead.
    """
    if allow_private:
        return
    for address in addresses:
        found = _judge(ipaddress.ip_address(address))
        if found:
            reason, how = found
            where = host if host == address else f"{host} ({address})"
            how = f", {how}" if how else ""
            raise TargetRefused(
                f"refusing {where}: {address} is a {reason} address{how} "
                "(pass --allow-private, or set GATEWAY_ALLOW_PRIVATE=1, for internal targets)",
                where=where,
                kind=reason,
            )
