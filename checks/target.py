"""Turn what a person typed (in a terminal or in Slack) into a `Target`.

Every refusal is a `TargetError` whose message is one line a person can act on.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from checks.models import Target

MAX_INPUT = 2048
MAX_HOST = 253
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
_SLACK_LINK = re.compile(r"^<([^|>]+)(?:\|[^>]*)?>$")


class TargetError(ValueError):
    """The input cannot be checked; the message says why in one line."""


def parse_target(text: str) -> Target:
    """Parse `site.com`, `site.com:8443`, `http://site.com:8080/health`, `[::1]`, an IP."""
    raw = (text or "").strip()
    if not raw:
        raise TargetError("no target given: try `gateway check example.com`")
    if len(raw) > MAX_INPUT:
        raise TargetError(f"the target is {len(raw)} characters long; the limit is {MAX_INPUT}")
    unwrapped = _SLACK_LINK.match(raw)
    if unwrapped:
        raw = unwrapped.group(1).removeprefix("mailto:")
    if any(ch.isspace() for ch in raw):
        raise TargetError(f"the target contains spaces: {_shorten(raw)!r}")

    scheme_match = _SCHEME.match(raw)
    explicit_scheme = scheme_match is not None
    if scheme_match:
        scheme = scheme_match.group(1).lower()
        if scheme not in ("http", "https"):
            raise TargetError(
                f"unsupported scheme {scheme}://: gateway checks http:// and https:// sites"
            )
        parts = urlsplit(raw)
    else:
        parts = urlsplit("//" + raw)
        scheme = "https"

    if parts.username is not None or parts.password is not None:
        raise TargetError("the target contains credentials (user@host); remove them")
    try:
        explicit_port = parts.port
    except ValueError:
        raise TargetError(
            f"the port in {_shorten(raw)!r} is not a number from 1 to 65535"
        ) from None
    if explicit_port == 0:
        raise TargetError("port 0 cannot be checked")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise TargetError(f"no host name in {_shorten(raw)!r}")

    is_ip, host = _normalise_host(host, raw)
    if not explicit_scheme and explicit_port == 80:
        scheme = "http"
    port = explicit_port or (443 if scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(
        input=(text or "").strip(),
        scheme=scheme,
        host=host,
        port=port,
        path=path,
        explicit_scheme=explicit_scheme,
        explicit_port=explicit_port is not None,
        is_ip=is_ip,
    )


def _normalise_host(host: str, raw: str) -> tuple[bool, str]:
    """Return (is_ip, host) with IP literals canonical and names in IDNA form."""
    try:
        return True, str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if len(host) > MAX_HOST:
        raise TargetError(f"the host name is {len(host)} characters long; DNS allows {MAX_HOST}")
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise TargetError(f"{_shorten(host)!r} is not a valid host name") from None
    labels = ascii_host.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise TargetError(f"{_shorten(host)!r} is not a valid host name")
    if labels[-1].isdigit():
        raise TargetError(f"{_shorten(host)!r} looks like an IP address but is not a valid one")
    return False, ascii_host


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
