"""The evidence the probes gather, as frozen dataclasses.

Probes return these; the diagnosis reads them; nothing mutates them. Every
failure carries an `ErrorKind` decided at the probe's edge from the library's
exception class or errno, so no later code has to parse an error message.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field
from datetime import datetime


class ErrorKind(enum.StrEnum):
    """What went wrong at one probe, classified where the exception was caught."""

    NXDOMAIN = "nxdomain"
    NO_ADDRESS = "no_address"
    SERVFAIL = "servfail"
    DNS_TIMEOUT = "dns_timeout"
    DNS_ERROR = "dns_error"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    NO_ROUTE = "no_route"  # ENETUNREACH: this machine has no route to that network at all
    RESET = "reset"
    NO_RESPONSE = "no_response"
    PROTOCOL = "protocol"
    TLS_EXPIRED = "tls_expired"
    TLS_NOT_YET_VALID = "tls_not_yet_valid"
    TLS_HOSTNAME = "tls_hostname"
    TLS_UNTRUSTED = "tls_untrusted"
    TLS_HANDSHAKE = "tls_handshake"
    REDIRECT_LOOP = "redirect_loop"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    REDIRECT_REFUSED = "redirect_refused"  # the guard refused where it leads (private address)
    BAD_REDIRECT = "bad_redirect"  # a Location no browser can follow (javascript:, bad host…)
    NOT_RUN = "not_run"
    OTHER = "other"


@dataclass(frozen=True)
class Target:
    """A parsed TARGET: what the person typed and where it points."""

    input: str
    scheme: str
    host: str
    port: int
    path: str
    explicit_scheme: bool
    explicit_port: bool
    is_ip: bool

    @property
    def url(self) -> str:
        return build_url(self.scheme, self.host, self.port, self.path)

    def to_dict(self) -> dict[str, object]:
        return {
            "input": self.input,
            "url": self.url,
            "scheme": self.scheme,
            "host": self.host,
            "port": self.port,
        }


def build_url(scheme: str, host: str, port: int, path: str = "/") -> str:
    """Format a URL, bracketing IPv6 literals and dropping the default port."""
    shown = f"[{host}]" if ":" in host else host
    default = {"http": 80, "https": 443}[scheme]
    netloc = shown if port == default else f"{shown}:{port}"
    return f"{scheme}://{netloc}{path}"


@dataclass(frozen=True)
class DnsAnswer:
    """One resolver's answer for the target's name."""

    resolver: str
    addresses: tuple[str, ...] = ()
    cnames: tuple[str, ...] = ()
    error: ErrorKind | None = None
    detail: str = ""
    ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.addresses)


@dataclass(frozen=True)
class DnsResult:
    """The DNS layer: every resolver's answer and the addresses we go on with."""

    name: str
    answers: tuple[DnsAnswer, ...] = ()
    skipped: bool = False
    ms: float = 0.0

    @property
    def addresses(self) -> tuple[str, ...]:
        """Addresses from every resolver that answered, in first-seen order."""
        seen: dict[str, None] = {}
        for answer in self.answers:
            for address in answer.addresses:
                seen.setdefault(address, None)
        return tuple(seen)

    @property
    def error(self) -> ErrorKind | None:
        """The failure when no resolver produced an address, else None."""
        if self.addresses:
            return None
        kinds = [a.error for a in self.answers if a.error]
        for kind in (ErrorKind.NXDOMAIN, ErrorKind.NO_ADDRESS, ErrorKind.SERVFAIL):
            if kind in kinds:
                return kind
        return kinds[0] if kinds else ErrorKind.NO_ADDRESS

    @property
    def mismatch(self) -> bool:
        """True when two resolvers that both answered gave different address sets."""
        sets = {frozenset(a.addresses) for a in self.answers if a.ok}
        return len(sets) > 1

    @property
    def cnames(self) -> tuple[str, ...]:
        for answer in self.answers:
            if answer.cnames:
                return answer.cnames
        return ()


@dataclass(frozen=True)
class TcpAttempt:
    """One TCP connect to one address."""

    address: str
    port: int
    error: ErrorKind | None = None
    detail: str = ""
    ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Certificate:
    """What the server's leaf certificate says, read even when it fails to verify."""

    subject: str
    issuer: str
    sans: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    self_signed: bool

    def days_left(self, now: datetime) -> int:
        return (self.not_after - now).days


@dataclass(frozen=True)
class TlsResult:
    """The TLS handshake with SNI on one address."""

    address: str
    port: int
    server_name: str
    error: ErrorKind | None = None
    detail: str = ""
    verify_code: int | None = None
    version: str | None = None
    cipher: str | None = None
    certificate: Certificate | None = None
    ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Timings:
    """Phase timings of one HTTP attempt, in milliseconds (None: phase not reached)."""

    connect_ms: float | None = None
    tls_ms: float | None = None
    first_byte_ms: float | None = None
    total_ms: float | None = None

    @property
    def waited_ms(self) -> float | None:
        """How long the server thought before its first byte: after connect and TLS.

        A refused connect behind a proxy answers in milliseconds; a worker killed or
        timed out behind it answers after its timeout. This is the time that tells.
        """
        if self.first_byte_ms is None:
            return None
        return max(0.0, self.first_byte_ms - (self.connect_ms or 0.0) - (self.tls_ms or 0.0))


class Ending(enum.StrEnum):
    """How the server ended the connection of one attempt, as the probe saw it."""

    COMPLETE = "complete"  # the message ended by its own framing
    CLOSED = "closed"  # the server closed cleanly (FIN) before a complete message
    RESET = "reset"  # the server reset the connection (RST)
    TIMEOUT = "timeout"  # the check gave up waiting
    UNKNOWN = ""  # not seen (no connection, or the check stopped reading at its cap)


@dataclass(frozen=True)
class Hop:
    """One response in a redirect chain."""

    url: str
    status: int
    location: str


@dataclass(frozen=True)
class HttpSample:
    """One HTTP attempt: the final response (after redirects) or the error."""

    address: str
    url: str
    status: int | None = None
    reason: str = ""
    http_version: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""
    body_truncated: bool = False
    error: ErrorKind | None = None
    detail: str = ""
    timings: Timings = field(default_factory=Timings)
    ending: Ending = Ending.UNKNOWN
    redirects: tuple[Hop, ...] = ()
    # The first hop's connection, which doubles as the TCP probe of its address, and
    # its TLS session when the handshake verified: a healthy check opens one connection.
    first_connect: TcpAttempt | None = None
    tls: TlsResult | None = None

    @property
    def ok(self) -> bool:
        """A response that a visitor would call working (below 400)."""
        return self.status is not None and 100 <= self.status < 400

    def header(self, name: str) -> str | None:
        """The first value of a header, by case-insensitive name."""
        return self._header_map.get(name.lower())

    @functools.cached_property
    def flat_body(self) -> str:
        """The body lower-cased with runs of white space folded, for marker matching.

        Error pages wrap lines anywhere (Apache breaks "an invalid\nresponse"); folded
        once per sample, however many markers are looked for.
        """
        return " ".join(self.body.lower().split())

    @functools.cached_property
    def _header_map(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for key, value in self.headers:
            found.setdefault(key.lower(), value)
        return found


@dataclass(frozen=True)
class Http2Result:
    """One GET offering h2 by ALPN: whether the server chose h2, and what h2 did."""

    address: str
    offered: bool | None  # the server chose h2; None when the connection never got that far
    status: int | None = None
    error: ErrorKind | None = None
    frame: str | None = None  # RST_STREAM, GOAWAY or PROTOCOL_ERROR: how h2 broke
    code: str | None = None  # the h2 error code (PROTOCOL_ERROR, INTERNAL_ERROR…)
    detail: str = ""
    ms: float = 0.0

    @property
    def broken(self) -> bool:
        """h2 was spoken and failed where HTTP/1.1 could be fine: reset, GOAWAY, bad frames."""
        return bool(self.offered) and self.frame is not None


@dataclass(frozen=True)
class PortProbe:
    """Whether plain HTTP on port 80 answers when HTTPS did not (bare names only)."""

    port: int
    sample: HttpSample


@dataclass(frozen=True)
class Evidence:
    """Everything the probes saw, the only input of the diagnosis."""

    target: Target
    dns: DnsResult
    tcp: tuple[TcpAttempt, ...] = ()
    tls: TlsResult | None = None
    http: tuple[HttpSample, ...] = ()
    plain_http: PortProbe | None = None
    http2: Http2Result | None = None  # https only, when the h2 probe ran
    checked_at: datetime | None = None
    duration_ms: float = 0.0
    timeout_s: float = 10.0
    deadline_hit: bool = False


@dataclass(frozen=True)
class Progress:
    """One probe finished: what a live status line shows while the check runs."""

    layer: str
    ok: bool | None
    text: str
