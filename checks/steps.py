"""What was checked, layer by layer, in words: the "evidence" half of a diagnosis.

Pure: reads `Evidence`, returns `Step`s that every renderer shows the same way.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from checks.models import ErrorKind, Evidence, Http2Result, HttpSample
from checks.text import printable

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_DNS_WORDS = {
    ErrorKind.NXDOMAIN: "the name does not exist (NXDOMAIN)",
    ErrorKind.NO_ADDRESS: "no A or AAAA record",
    ErrorKind.SERVFAIL: "the resolvers answered SERVFAIL",
    ErrorKind.DNS_TIMEOUT: "no resolver answered in time",
}
HEADERS_SHOWN = (
    "server",
    "via",
    "x-cache",
    "retry-after",
    "content-type",
    "location",
    "cf-ray",
    "x-served-by",
    "x-varnish",
    "x-squid-error",
    "x-vercel-error",
)


@dataclass(frozen=True)
class Step:
    layer: str
    ok: bool | None  # None: not run
    headline: str
    lines: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "layer": self.layer,
            "ok": self.ok,
            "headline": self.headline,
            "lines": list(self.lines),
        }


def build_steps(evidence: Evidence) -> tuple[Step, ...]:
    steps = [_dns(evidence), _tcp(evidence)]
    if evidence.target.scheme == "https":
        steps.append(_tls(evidence))
    steps.append(_http(evidence))
    if evidence.http2 is not None and evidence.http2.offered is not None:
        steps.append(_http2(evidence.http2))
    return tuple(steps)


def _http2(result: Http2Result) -> Step:
    if not result.offered:
        return Step("http2", None, "HTTP/2: not offered by ALPN (HTTP/1.1 only)")
    if result.error is None:
        return Step("http2", True, f"HTTP/2: {result.status} in {result.ms:.0f} ms")
    return Step("http2", False, f"HTTP/2: {result.detail}")


def _dns(evidence: Evidence) -> Step:
    dns = evidence.dns
    if dns.skipped and not evidence.target.is_ip:  # `--via`: the address was given
        shown = ", ".join(dns.addresses)
        return Step("dns", None, f"DNS: not asked, the request went straight to {shown}")
    if dns.skipped:
        return Step("dns", None, f"DNS: not needed, {evidence.target.host} is an IP address")
    lines = []
    for answer in dns.answers:
        chain = " → ".join(answer.cnames)
        got = ", ".join(answer.addresses) if answer.addresses else (answer.detail or answer.error)
        lines.append(
            f"{answer.resolver}: {got} ({answer.ms:.0f} ms)"
            + (f" via CNAME {chain}" if chain else "")
        )
    if dns.addresses:
        head = f"DNS: {dns.name} → {', '.join(dns.addresses[:4])}"
        if len(dns.addresses) > 4:
            head += f" and {len(dns.addresses) - 4} more"
        if dns.mismatch:
            head += " (resolvers disagree)"
        return Step("dns", not dns.mismatch, head + f" in {dns.ms:.0f} ms", tuple(lines))
    why = _DNS_WORDS.get(dns.error, str(dns.error)) if dns.error else "no address"
    return Step("dns", False, f"DNS: {dns.name} did not resolve: {why}", tuple(lines))


def _tcp(evidence: Evidence) -> Step:
    attempts = evidence.tcp
    if not attempts:
        return Step("tcp", None, "TCP: not tried")
    ok = [a for a in attempts if a.ok]
    port = attempts[0].port
    head = f"TCP: port {port} open on {len(ok)} of {len(attempts)} address(es)"
    lines = tuple(
        f"{a.address}: " + (f"connected in {a.ms:.1f} ms" if a.ok else a.detail) for a in attempts
    )
    plain = evidence.plain_http
    if plain is not None:
        answer = (
            f"answers HTTP {plain.sample.status}"
            if plain.sample.status is not None
            else f"no answer either ({plain.sample.detail})"
        )
        lines += (f"plain HTTP on port {plain.port}: {answer}",)
    return Step("tcp", len(ok) == len(attempts), head, lines)


def _tls(evidence: Evidence) -> Step:
    tls = evidence.tls
    if tls is None:
        return Step("tls", None, "TLS: not tried (no address accepted a connection)")
    lines = []
    if tls.version:
        lines.append(f"{tls.version}, {tls.cipher} in {tls.ms:.0f} ms")
    cert = tls.certificate
    if cert:
        lines.append(f"certificate: {cert.subject}")
        lines.append(f"names: {', '.join(cert.sans[:8]) or '(none)'}")
        lines.append(f"issuer: {cert.issuer}" + (" (self-signed)" if cert.self_signed else ""))
        lines.append(
            f"valid from {cert.not_before:%Y-%m-%d %H:%M} to {cert.not_after:%Y-%m-%d %H:%M} UTC"
        )
        if evidence.checked_at:
            lines.append(f"days left: {cert.days_left(evidence.checked_at)}")
    if tls.ok:
        return Step("tls", True, f"TLS: certificate valid for {tls.server_name}", tuple(lines))
    return Step("tls", False, f"TLS: {tls.detail}", tuple(lines))


def _http(evidence: Evidence) -> Step:
    samples = evidence.http
    if not samples:
        return Step("http", None, "HTTP: not tried")
    statuses = [str(s.status) if s.status is not None else "no response" for s in samples]
    head = f"HTTP: {len(samples)} attempt(s): " + ", ".join(statuses)
    lines: list[str] = []
    for number, sample in enumerate(samples, 1):
        lines.append(f"#{number} {sample.address}: {_sample_summary(sample)}")
    last = next((s for s in reversed(samples) if s.status is not None), None)
    if last is not None:
        for hop in last.redirects:
            lines.append(f"redirect: {hop.status} {hop.url} → {hop.location}")
        for name, value in last.headers:
            if name.lower() in HEADERS_SHOWN:
                lines.append(f"{name}: {value[:120]}")
        excerpt = body_excerpt(last)
        if excerpt and not last.ok:
            lines.append(f"page says: {excerpt}")
    ok = all(s.ok and s.error is None for s in samples)
    return Step("http", ok, head, tuple(lines))


def _sample_summary(sample: HttpSample) -> str:
    t = sample.timings
    phases = []
    if t.connect_ms is not None:
        phases.append(f"connect {t.connect_ms:.0f} ms")
    if t.tls_ms is not None:
        phases.append(f"TLS {t.tls_ms:.0f} ms")
    if t.first_byte_ms is not None:
        phases.append(f"first byte {t.first_byte_ms:.0f} ms")
    if t.total_ms is not None:
        phases.append(f"total {t.total_ms:.0f} ms")
    if sample.status is None:
        return f"{sample.detail} ({', '.join(phases)})" if phases else sample.detail
    text = f"{sample.status} {sample.reason}".rstrip()
    if sample.error:
        text += f" — {sample.detail}"
    return f"{text} ({', '.join(phases)})"


def body_excerpt(sample: HttpSample, limit: int = 160) -> str:
    """The page's visible words, tags stripped, squeezed into one short line."""
    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", sample.body)
    text = re.sub(r"(?s)<[^>]+>", " ", text)
    # NULs and escapes have no place in a chat, even when spelled as entities (&#27;)
    text = printable(_CONTROL.sub(" ", html.unescape(text)))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
