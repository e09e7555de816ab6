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
    """The target points somewhere a check must not go; the message says where."""


def address_class(address: str) -> str | None:
    """Why this address is off limits (e.g. "loopback"), or None when it is public."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
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
            "(pass --allow-private for internal targets)"
        )


def vet_addresses(host: str, addresses: tuple[str, ...], allow_private: bool) -> None:
    """Refuse the whole target when any address is not public.

    All or nothing: a name that mixes public and private addresses is a classic
    DNS-rebinding setup, and checking only its public half would mislead.
    """
    if allow_private:
        return
    for address in addresses:
        reason = address_class(address)
        if reason:
            where = host if host == address else f"{host} ({address})"
            raise TargetRefused(
                f"refusing {where}: {address} is a {reason} address "
                "(pass --allow-private, or set GATEWAY_ALLOW_PRIVATE=1, for internal targets)"
            )
