"""Turn what a person typed (in a terminal or in Slack) into a `Target`.

Every refusal is a `TargetError` whose message is one line a person can act on;
`parse_target` raises nothing else, whatever the text, so a caller (the CLI, a
Slack command, a button's value, a redirect's Location) needs no other guard.
Names become DNS names by IDNA 2008 with the UTS #46 mapping (`straße.de` is
`xn--strae-oqa.de`); characters a person cannot see are refused, never dropped.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import quote

import idna

from checks.models import Target

MAX_INPUT = 2048
MAX_HOST = 253
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
_SLACK_LINK = re.compile(r"^<([^|>]+)(?:\|[^>]*)?>$")
_URL_SAFE = "/%!$&'()*+,;=:@-._~"
_PORT = re.compile(r"^[0-9]{1,5}$")
_OTHER_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+-]*):")
# Unicode categories a person cannot see or that steer how text is shown: controls (Cc),
# format characters (Cf: zero-width, soft hyphen, bidi controls), line/paragraph separators,
# surrogates, private use and unassigned code points.
_UNSEEN = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}


class TargetError(ValueError):
    """The input cannot be checked; the message says why in one line."""


def parse_target(text: str) -> Target:
    """Parse `site.com`, `site.com:8443`, `http://site.com:8080/health`, `[::1]`, an IP.

    Raises only `TargetError`, for any text at all.
    """
    if not isinstance(text, str):
        raise TargetError("the target is not text")
    try:
        return _parse(text)
    except TargetError:
        raise
    except (ValueError, UnicodeError):  # a library refusing what we let through: still a no
        raise TargetError(f"{_shown(text)} is not a usable target") from None


_BLANK = " \t\r\n"  # trimmed at the ends; any other invisible character is refused


def _parse(text: str) -> Target:
    raw = text.strip(_BLANK)
    if not raw:
        raise TargetError("no target given: try `gateway check example.com`")
    if len(raw) > MAX_INPUT:
        raise TargetError(f"the target is {len(raw)} characters long; the limit is {MAX_INPUT}")
    _refuse_unseen(raw)
    unwrapped = _SLACK_LINK.match(raw)
    if unwrapped:
        raw = unwrapped.group(1).removeprefix("mailto:")
    if any(ch.isspace() for ch in raw):
        raise TargetError(f"the target contains spaces: {_shown(raw)}")

    scheme_match = _SCHEME.match(raw)
    explicit_scheme = scheme_match is not None
    if scheme_match:
        scheme = scheme_match.group(1).lower()
        if scheme not in ("http", "https"):
            raise TargetError(
                f"unsupported scheme {scheme}://: gateway checks http:// and https:// sites"
            )
        rest = raw[scheme_match.end() :]
    else:
        rest = raw
        scheme = "https"

    authority, path, query = _split(rest)
    if "@" in authority:
        raise TargetError("the target contains credentials (user@host); remove them")
    host_text, port_text = _host_and_port(authority, raw)
    if not explicit_scheme and host_text.lower() in ("http", "https") and port_text is not None:
        raise TargetError(f"{_shown(raw)} is missing a slash: write {host_text.lower()}://SITE/")
    explicit_port = _port(port_text, raw, explicit_scheme)
    if explicit_port == 0:
        raise TargetError("port 0 cannot be checked")

    is_ip, host = _normalise_host(host_text, raw)
    if not explicit_scheme and explicit_port == 80:
        scheme = "http"
    port = explicit_port or (443 if scheme == "https" else 80)
    # As a browser does: `<`, `>`, quotes, backticks, braces and non-ASCII percent-encoded,
    # so the URL shown is the URL requested, and no renderer sees markup in it.
    path = quote(path, safe=_URL_SAFE) or "/"
    if query:
        path = f"{path}?{quote(query, safe=_URL_SAFE + '?')}"
    return Target(
        input=text.strip(_BLANK),
        scheme=scheme,
        host=host,
        port=port,
        path=path,
        explicit_scheme=explicit_scheme,
        explicit_port=explicit_port is not None,
        is_ip=is_ip,
    )


def _refuse_unseen(raw: str) -> None:
    """Refuse invisible and control characters: dropping them would check another site."""
    for index, ch in enumerate(raw):
        if unicodedata.category(ch) in _UNSEEN:
            name = unicodedata.name(ch, "") or "a control character"
            raise TargetError(
                f"the target holds an invisible or control character "
                f"(U+{ord(ch):04X} {name}) at position {index + 1}; type it again"
            )


def _split(rest: str) -> tuple[str, str, str]:
    """Authority, path and query of what follows the scheme; the fragment is dropped."""
    rest = rest.split("#", 1)[0]
    match = re.match(r"^([^/?]*)([^?]*)(?:\?(.*))?$", rest, re.DOTALL)
    assert match is not None  # the pattern matches any string
    return match.group(1), match.group(2), match.group(3) or ""


def _host_and_port(authority: str, raw: str) -> tuple[str, str | None]:
    """Split `host:port` or `[v6]:port`; brackets hold an IPv6 address and nothing else."""
    if authority.startswith("["):
        inside, closed, after = authority[1:].partition("]")
        if not closed:
            raise TargetError(f"the opening [ in {_shown(raw)} is never closed")
        if after and not after.startswith(":"):
            raise TargetError(f"unexpected {_shown(after)} after the ] in {_shown(raw)}")
        try:
            host = _bracketed(inside)
        except TargetError:
            raise
        except ValueError:
            raise TargetError(
                f"brackets hold an IPv6 address, and {_shown(inside)} is not one"
            ) from None
        return host, after[1:] if after else None
    if "[" in authority or "]" in authority:
        raise TargetError(f"{_shown(authority)} is not a valid host: brackets go around IPv6")
    if authority.count(":") > 1:
        try:  # a bare IPv6 literal: it cannot carry a port
            return _bracketed(authority), None
        except ValueError:
            pass
        raise TargetError(
            f"{_shown(authority)}: write an IPv6 address in brackets, as in https://[2001:db8::1]/"
        )
    host, colon, port = authority.partition(":")
    return host, port if colon else None


def _bracketed(text: str) -> str:
    """`[canonical IPv6]`, or ValueError; a zone (`%eth0`) is refused in one line."""
    address = ipaddress.IPv6Address(text)
    if address.scope_id:
        raise TargetError(f"zoned IPv6 addresses (%{address.scope_id}) cannot be checked")
    return f"[{address}]"


def _port(text: str | None, raw: str, explicit_scheme: bool) -> int | None:
    if text is None or text == "":
        return None
    if not _PORT.match(text) or int(text) > 65535:
        scheme = None if explicit_scheme else _OTHER_SCHEME.match(raw)
        if scheme:  # `javascript:…`, `data:…`, `mailto:…`: not a host and a port at all
            raise TargetError(
                f"unsupported scheme {scheme.group(1).lower()}: "
                "gateway checks http:// and https:// sites"
            )
        raise TargetError(f"the port in {_shown(raw)} is not a number from 1 to 65535")
    return int(text)


def _normalise_host(host: str, raw: str) -> tuple[bool, str]:
    """Return (is_ip, host) with IP literals canonical and names in IDNA form."""
    if host.startswith("["):
        return True, str(ipaddress.IPv6Address(host[1:-1]))
    host = host.rstrip(".")
    if not host:
        raise TargetError(f"no host name in {_shown(raw)}")
    try:
        return True, str(ipaddress.IPv4Address(host))
    except ValueError:
        pass
    if len(host) > MAX_HOST:
        raise TargetError(f"the host name is {len(host)} characters long; DNS allows {MAX_HOST}")
    ascii_host = _to_ascii(host)
    if len(ascii_host) > MAX_HOST:
        raise TargetError(
            f"the host name is {len(ascii_host)} characters long in DNS form; DNS allows {MAX_HOST}"
        )
    labels = ascii_host.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise TargetError(f"{_shown(host)} is not a valid host name")
    if labels[-1].isdigit() or labels[-1].startswith("0x"):
        raise TargetError(f"{_shown(host)} looks like an IP address but is not a valid one")
    return False, ascii_host


def _to_ascii(host: str) -> str:
    """IDNA 2008 with the UTS #46 mapping, label by label; invalid punycode is refused."""
    try:
        mapped = idna.uts46_remap(host, std3_rules=False, transitional=False)
    except idna.IDNAError as exc:
        raise TargetError(f"{_shown(host)} is not a valid host name ({exc})") from None
    labels = []
    for label in mapped.rstrip(".").split("."):
        if not label:
            raise TargetError(f"{_shown(host)} has an empty label (two dots in a row)")
        try:
            if label.isascii() and not label.lower().startswith("xn--"):
                labels.append(label.lower())
            elif label.isascii():
                # An A-label must decode, and encode back to itself.
                decoded = idna.ulabel(label.lower())
                if idna.alabel(decoded).decode("ascii") != label.lower():
                    raise idna.IDNAError("not in canonical form")
                labels.append(label.lower())
            else:
                labels.append(idna.alabel(label).decode("ascii"))
        except (idna.IDNAError, UnicodeError) as exc:
            raise TargetError(
                f"{_shown(host)} is not a valid international host name "
                f"(label {_shown(label)}: {exc})"
            ) from None
    return ".".join(labels)


def _shown(text: str, limit: int = 60) -> str:
    """Quote text for a one-line message: repr keeps controls visible, clipped."""
    clipped = text if len(text) <= limit else text[: limit - 1] + "…"
    return repr(clipped)
