"""Evidence in, ranked causes out. Pure: no I/O, no clock, no randomness.

The engine walks the layers a request crosses (DNS, TCP, TLS, HTTP) and
collects candidate causes with a confidence each; what each cause *means*
(title, explanation, fixes) and what each product's failure statuses mean
come from `checks.knowledge`, not from branches here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from statistics import median

from checks.expect import DEFAULT_SLOW_MS, Expectations, status_expected, unmet
from checks.fingerprint import Fingerprint, identify
from checks.h2_cause import finding as h2_finding
from checks.knowledge import Knowledge
from checks.knowledge import load as load_knowledge
from checks.models import Ending, ErrorKind, Evidence, HttpSample
from checks.steps import Step, build_steps
from checks.weigh import Weighed, weigh

SLOW_MS = DEFAULT_SLOW_MS  # a watch's `slow` replaces it
CERT_WARNING_DAYS = 14
MAX_CAUSES = 5  # nginx's one fast 502 has five honest readings
MAX_OWNER_STEPS = 7
STANDARD_STATUSES = (100, 599)  # RFC 9110 §15: a status outside this range is not HTTP

_DNS_CAUSES = {
    ErrorKind.NXDOMAIN: ("dns_nxdomain", 0.95),
    ErrorKind.NO_ADDRESS: ("dns_no_address", 0.9),
    ErrorKind.SERVFAIL: ("dns_servfail", 0.9),
    ErrorKind.DNS_TIMEOUT: ("dns_timeout", 0.9),
    ErrorKind.DNS_ERROR: ("dns_servfail", 0.6),
}
_TCP_CAUSES = {
    ErrorKind.REFUSED: "tcp_refused",
    ErrorKind.TIMEOUT: "tcp_timeout",
    ErrorKind.UNREACHABLE: "tcp_unreachable",
    ErrorKind.NO_ROUTE: "tcp_unreachable",
    ErrorKind.RESET: "connection_reset",
    ErrorKind.OTHER: "tcp_unreachable",
}
_TLS_CAUSES = {
    ErrorKind.TLS_EXPIRED: "tls_expired",
    ErrorKind.TLS_NOT_YET_VALID: "tls_expired",
    ErrorKind.TLS_HOSTNAME: "tls_hostname_mismatch",
    ErrorKind.TLS_UNTRUSTED: "tls_untrusted",
    ErrorKind.TLS_HANDSHAKE: "tls_handshake_failed",
}
# What an HTTP attempt that got no response means, by its error kind.
_NO_RESPONSE_CAUSES: dict[ErrorKind, tuple[tuple[str, float], ...]] = {
    ErrorKind.REFUSED: (("tcp_refused", 0.9),),
    ErrorKind.TIMEOUT: (("tcp_timeout", 0.85),),
    ErrorKind.UNREACHABLE: (("tcp_unreachable", 0.9),),
    ErrorKind.NO_ROUTE: (("tcp_unreachable", 0.9),),
    ErrorKind.RESET: (("connection_reset", 0.85), ("upstream_bad_response", 0.15)),
    ErrorKind.PROTOCOL: (("connection_reset", 0.6), ("upstream_bad_response", 0.4)),
    ErrorKind.NO_RESPONSE: (("response_timeout", 0.85), ("upstream_timeout", 0.15)),
    ErrorKind.TLS_HANDSHAKE: (("tls_handshake_failed", 0.85),),
    ErrorKind.REDIRECT_LOOP: (("redirect_loop", 0.95),),
    ErrorKind.TOO_MANY_REDIRECTS: (("redirect_loop", 0.9),),
    # A Location no browser can follow (javascript:, a bad host, port 99999): the site's fault.
    ErrorKind.BAD_REDIRECT: (("server_error", 0.8), ("upstream_bad_response", 0.2)),
    ErrorKind.OTHER: (("connection_reset", 0.5),),
}


@dataclass(frozen=True)
class Cause:
    code: str
    confidence: float
    title: str
    explanation: str
    evidence: tuple[str, ...]
    owner: tuple[str, ...]
    visitor: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "confidence": round(self.confidence, 2),
            "title": self.title,
            "explanation": self.explanation,
            "evidence": list(self.evidence),
            "fixes": {"owner": list(self.owner), "visitor": list(self.visitor)},
        }


@dataclass(frozen=True)
class NoteText:
    title: str
    text: str


@dataclass(frozen=True)
class Diagnosis:
    """The one diagnosis the terminal, the JSON and Slack all render."""

    evidence: Evidence
    status: str
    causes: tuple[Cause, ...]
    summary: str
    product: str | None
    product_name: str | None
    product_evidence: tuple[str, ...]
    front: str | None
    http_status: int | None
    samples: tuple[int | None, ...]
    steps: tuple[Step, ...]
    notes: tuple[NoteText, ...]
    warnings: tuple[str, ...] = ()

    @property
    def cause(self) -> Cause:
        return self.causes[0]

    @property
    def healthy(self) -> bool:
        return self.status == "healthy"


@dataclass
class _Candidates:
    """Causes gathered while walking the layers (internal, mutable)."""

    scores: dict[str, float] = field(default_factory=dict)
    evidence: dict[str, list[str]] = field(default_factory=dict)
    headlines: dict[str, str] = field(default_factory=dict)  # a failed expectation's summary

    def add(self, code: str, confidence: float, *lines: str) -> None:
        self.scores[code] = max(self.scores.get(code, 0.0), confidence)
        bucket = self.evidence.setdefault(code, [])
        bucket.extend(line for line in lines if line not in bucket)

    def __bool__(self) -> bool:
        return bool(self.scores)


def diagnose(
    evidence: Evidence, knowledge: Knowledge | None = None, expect: Expectations | None = None
) -> Diagnosis:
    """Rank the causes that explain `evidence`, most likely first.

    `expect` (a watch's conditions) can make a 200 a failure, or a named status a success.
    """
    knowledge = knowledge or load_knowledge()
    expect = expect or Expectations()
    found = _Candidates()
    shown = evidence
    evidence, gap = _set_aside_local_gaps(evidence)
    responses = [s for s in evidence.http if s.status is not None]
    prints = {id(s): identify(s, knowledge) for s in responses}
    last = responses[-1] if responses else None
    fingerprint = _main_fingerprint(responses, prints)
    working = {id(s) for s in evidence.http if _works(s, knowledge, prints.get(id(s)), expect)}

    _dns_layer(evidence, found)
    if not _dns_failed(evidence):
        _connect_layers(evidence, found)
        _http_layer(evidence, found, knowledge, prints, working, expect)
        broken_h2 = h2_finding(evidence, bool(working))
        if broken_h2 is not None:
            found.add(broken_h2.code, broken_h2.confidence, *broken_h2.evidence)
            found.headlines.setdefault(broken_h2.code, broken_h2.headline)

    if not found:
        found.add("healthy", 0.9, *_healthy_lines(evidence))
    product = fingerprint.product if fingerprint else None
    known = product not in (None, "unknown")
    gateway_name = knowledge.products[product].name if product and known else "the gateway"
    context = {
        "gateway": gateway_name,
        "status": str(last.status) if last else "no response",
        "host": evidence.target.host,
        "port": str(evidence.target.port),
    }
    causes = _rank(found, knowledge, context, product)
    status = _verdict(causes[0].code, knowledge, bool(working))
    return Diagnosis(
        evidence=shown,
        status=status,
        causes=causes,
        summary=found.headlines.get(causes[0].code)
        or _summary(
            causes[0], knowledge.causes[causes[0].code].layer, last, gateway_name if known else None
        ),
        product=product,
        product_name=gateway_name if known else None,
        product_evidence=fingerprint.evidence if fingerprint else (),
        front=fingerprint.front if fingerprint else None,
        http_status=last.status if last else None,
        samples=tuple(s.status for s in evidence.http),
        steps=build_steps(shown),
        notes=_notes(knowledge, last.status if last else None, status),
        warnings=(*gap, *_warnings(evidence)),
    )


# --- the layers -----------------------------------------------------------------------


def _set_aside_local_gaps(evidence: Evidence) -> tuple[Evidence, tuple[str, ...]]:
    """Leave out IPv6 addresses that *this machine* cannot route to, when others work.

    A host without IPv6 would otherwise call every dual-stack site a partial outage.
    """
    unroutable = {
        a.address for a in evidence.tcp if a.error is ErrorKind.NO_ROUTE and ":" in a.address
    }
    if not unroutable or not any(a.ok for a in evidence.tcp):
        return evidence, ()
    kept = replace(
        evidence,
        tcp=tuple(a for a in evidence.tcp if a.address not in unroutable),
        http=tuple(s for s in evidence.http if s.address not in unroutable),
    )
    note = (
        f"this machine has no IPv6 route, so {', '.join(sorted(unroutable))} "
        "could not be checked from here; the verdict rests on the other addresses"
    )
    return kept, (note,)


def _dns_failed(evidence: Evidence) -> bool:
    return not evidence.dns.skipped and not evidence.dns.addresses


def _dns_layer(evidence: Evidence, found: _Candidates) -> None:
    dns = evidence.dns
    if dns.skipped:
        return
    if not dns.addresses:
        code, confidence = _DNS_CAUSES.get(dns.error or ErrorKind.NO_ADDRESS, ("dns_timeout", 0.6))
        lines = [f"{a.resolver}: {a.detail or a.error}" for a in dns.answers]
        found.add(code, confidence, *lines)
        return
    failing = [a for a in dns.answers if not a.ok]
    if dns.mismatch or (failing and len(failing) < len(dns.answers)):
        lines = [
            f"{a.resolver}: {', '.join(a.addresses) if a.ok else a.detail or a.error}"
            for a in dns.answers
        ]
        found.add("dns_mismatch", 0.8, *lines)


def _connect_layers(evidence: Evidence, found: _Candidates) -> None:
    """TCP to every address, then TLS: failures here mean no HTTP at all."""
    attempts = evidence.tcp
    failed = [a for a in attempts if not a.ok]
    if attempts and len(failed) == len(attempts):
        kinds = Counter(a.error for a in failed)
        kind = kinds.most_common(1)[0][0] or ErrorKind.OTHER
        lines = [f"TCP {_hostport(a.address, a.port)}: {a.detail}" for a in failed]
        plain = evidence.plain_http
        if plain and plain.sample.status is not None:
            lines.append(
                f"plain HTTP on port {plain.port} answers {plain.sample.status}: "
                "only HTTPS is missing"
            )
        found.add(_TCP_CAUSES.get(kind, "tcp_unreachable"), 0.9, *lines)
    elif failed:
        ok = [a for a in attempts if a.ok]
        lines = [f"TCP {_hostport(a.address, a.port)}: {a.detail}" for a in failed]
        lines += [f"TCP {_hostport(a.address, a.port)}: connected in {a.ms:.0f} ms" for a in ok]
        found.add("partial_outage", 0.8, *lines)

    tls = evidence.tls
    if tls and tls.error in _TLS_CAUSES:
        lines = [f"TLS with {tls.server_name} at {_hostport(tls.address, tls.port)}: {tls.detail}"]
        cert = tls.certificate
        if cert:
            lines.append(f"certificate for {', '.join(cert.sans[:6]) or cert.subject}")
            lines.append(f"issued by {cert.issuer}")
            lines.append(f"valid {cert.not_before:%Y-%m-%d} to {cert.not_after:%Y-%m-%d}")
        found.add(_TLS_CAUSES[tls.error], 0.95, *lines)


def _http_layer(
    evidence: Evidence,
    found: _Candidates,
    knowledge: Knowledge,
    prints: dict[int, Fingerprint],
    working: set[int],
    expect: Expectations,
) -> None:
    samples = evidence.http
    if not samples:
        return
    ok = [s for s in samples if id(s) in working]
    failed = [s for s in samples if s not in ok]
    tls_broken = evidence.tls is not None and evidence.tls.error in _TLS_CAUSES
    weight = 0.6 if tls_broken else 1.0
    # When some attempts work, what broke the others explains only part of the picture.
    part = 0.7 if ok else 1.0
    behind = _behind_gateway(prints.values(), knowledge)
    for group in _groups(failed, prints):
        sample = _typical(group)
        line = _group_line(group, prints.get(id(sample)))
        missed = unmet(sample, expect) if sample.error is None else None
        weighed = _sample_causes(sample, knowledge, prints.get(id(sample)), behind)
        # The product's rules explain an error page better; a watch's condition speaks
        # where they are silent (a 200 that is not the page it expects).
        if missed is not None and not weighed:
            found.add(missed.code, 0.9 * weight * part, missed.evidence, line)
            found.headlines.setdefault(missed.code, missed.headline)
            continue
        for code, confidence in weighed.causes():
            found.add(code, confidence * weight * part, line, *weighed.lines.get(code, ()))
    if ok and failed:
        lines = [_group_line(g, prints.get(id(g[0]))) for g in _groups(samples, prints)]
        bad_addresses = {s.address for s in failed} - {s.address for s in ok}
        if bad_addresses:
            lines.append("failing only at " + ", ".join(sorted(bad_addresses)))
        found.add("partial_outage", 0.85 * weight, *lines)
        return
    if ok and not failed:
        firsts = [s.timings.first_byte_ms for s in ok if s.timings.first_byte_ms is not None]
        threshold = expect.slow_threshold
        if firsts and median(firsts) >= threshold:
            found.add(
                "slow_response",
                0.8 * weight,
                f"first byte after {median(firsts):.0f} ms (median of {len(firsts)}), "
                f"at or above the {threshold:.0f} ms "
                + ("this watch allows" if expect.slow_ms is not None else "that counts as slow"),
            )


def _works(
    sample: HttpSample,
    knowledge: Knowledge,
    fingerprint: Fingerprint | None,
    expect: Expectations | None = None,
) -> bool:
    """A visitor would call this answer working: below 400, and no rule says otherwise.

    A redirect the check would not follow (to a private address) still answered. A
    watch's expectations decide instead where they speak: its statuses, its texts.
    """
    expect = expect or Expectations()
    if sample.error not in (None, ErrorKind.REDIRECT_REFUSED):
        return False
    if unmet(sample, expect) is not None:
        return False
    if status_expected(sample, expect):
        return True
    return sample.ok and not _sample_causes(sample, knowledge, fingerprint)


def _sample_causes(
    sample: HttpSample,
    knowledge: Knowledge,
    fingerprint: Fingerprint | None,
    behind: bool = False,
) -> Weighed:
    """What one failed attempt points at: by its own evidence and its product's rules,
    or by its error. `behind`: other attempts were answered by a gateway."""
    found = Weighed()
    if sample.error is ErrorKind.NO_RESPONSE and behind:
        line = "other attempts were answered by a gateway: this one waited on its upstream"
        for code, confidence in _GATEWAY_WAITED:
            found.add(code, confidence, line)
        return found
    if sample.error in _NO_RESPONSE_CAUSES:  # no response, or a redirect that went wrong
        for code, confidence in _NO_RESPONSE_CAUSES[sample.error]:
            found.add(code, confidence, _ending_line(sample))
        return found
    if sample.status is None:
        found.add("connection_reset", 0.5, _ending_line(sample))
        return found
    if sample.ok and _cut_short(sample):  # a working status, then half a page
        found.add("upstream_bad_response", 0.7, _ending_line(sample))
        found.add("server_error", 0.3)
        return found
    return weigh(sample, knowledge, fingerprint.product if fingerprint else "unknown")


# No answer in time while other attempts got a gateway's page: the gateway was waiting
# on an upstream that is slow or has no free worker, not the site's front being silent.
_GATEWAY_WAITED = (
    ("upstream_timeout", 0.6),
    ("upstream_overloaded", 0.2),
    ("response_timeout", 0.2),
)
_GATEWAY_KINDS = frozenset({"proxy", "lb", "cdn", "platform"})


def _behind_gateway(prints: Iterable[Fingerprint], knowledge: Knowledge) -> bool:
    """Some answer came from a named gateway (a proxy, a load balancer, a CDN)."""
    return any(
        p.product in knowledge.products and knowledge.products[p.product].kind in _GATEWAY_KINDS
        for p in prints
    )


_ENDINGS = {
    Ending.CLOSED: "the server closed the connection cleanly (FIN), with no complete answer",
    Ending.RESET: "the server reset the connection (RST)",
}


def _ending_line(sample: HttpSample) -> str | None:
    """Which side ended the connection, and how: a clean close is not a reset."""
    said = _ENDINGS.get(sample.ending)
    if said and _cut_short(sample):
        return f"{said} in the middle of the body: visitors get half a page"
    return said


def _cut_short(sample: HttpSample) -> bool:
    """The server ended the connection before the body it announced was complete."""
    return sample.body_truncated and sample.ending in (Ending.CLOSED, Ending.RESET)


def _typical(group: list[HttpSample]) -> HttpSample:
    """The attempt whose wait is the group's median: one slow outlier decides nothing."""
    if len(group) < 3:
        return group[0]
    timed = sorted(group, key=lambda s: s.timings.waited_ms or 0.0)
    return timed[len(timed) // 2]


# --- ranking and wording ----------------------------------------------------------------


def _rank(
    found: _Candidates, knowledge: Knowledge, context: dict[str, str], product: str | None
) -> tuple[Cause, ...]:
    ranked = sorted(found.scores.items(), key=lambda item: -item[1])[:MAX_CAUSES]
    # Rules give calibrated shares; only when layers pile up past 1 are they scaled down.
    total = max(1.0, sum(score for _, score in ranked))
    # A cause that would show as 0% is noise, not a candidate.
    ranked = ranked[:1] + [(code, score) for code, score in ranked[1:] if score / total >= 0.005]
    causes = []
    for code, score in ranked:
        info = knowledge.causes[code]
        confidence = score / total
        owner = (info.owner_for.get(product or "", ()) + info.owner)[:MAX_OWNER_STEPS]
        causes.append(
            Cause(
                code=code,
                confidence=min(0.99, round(confidence, 2)),
                title=fill(info.title, context),
                explanation=fill(info.explanation, context),
                evidence=tuple(found.evidence.get(code, ())),
                owner=tuple(fill(step, context) for step in owner),
                visitor=tuple(fill(step, context) for step in info.visitor),
            )
        )
    causes.sort(key=lambda c: -c.confidence)
    return tuple(causes)


def fill(text: str, context: dict[str, str]) -> str:
    """Fill {gateway} {status} {host} {port} in knowledge text; leave it as is if it fails."""
    try:
        return text.format_map(context)
    except (KeyError, ValueError, IndexError):
        return text


def _verdict(code: str, knowledge: Knowledge, any_working: bool) -> str:
    """The cause's usual verdict, softened when some attempts worked.

    Not for TLS: the HTTP attempts skip certificate checks, a browser does not.
    """
    info = knowledge.causes[code]
    verdict = info.verdict
    if info.layer == "tls":
        return verdict
    if verdict == "down" and any_working:
        return "degraded"
    return verdict


def _summary(cause: Cause, layer: str, last: HttpSample | None, gateway: str | None) -> str:
    """One line: who answered what, and why. Below HTTP, no visitor ever sees a status."""
    if cause.code == "healthy":
        return f"it works from here: HTTP {last.status}" if last else cause.title
    if layer in ("dns", "network", "tls"):
        return cause.title
    if last is not None and gateway:
        return f"{gateway} answered {last.status}: {_lower_first(cause.title)}"
    if last is not None:
        return f"HTTP {last.status}: {_lower_first(cause.title)}"
    return cause.title


def _lower_first(text: str) -> str:
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


def _main_fingerprint(
    responses: list[HttpSample], prints: dict[int, Fingerprint]
) -> Fingerprint | None:
    """The product seen most often among failing responses (or any response)."""
    if not responses:
        return None
    pool = [s for s in responses if not s.ok] or responses
    known = [prints[id(s)] for s in pool if prints[id(s)].product != "unknown"]
    if not known:
        return prints[id(pool[-1])]
    counts = Counter(p.product for p in known)
    best = counts.most_common(1)[0][0]
    return next(p for p in known if p.product == best)


def _groups(
    samples: list[HttpSample] | tuple[HttpSample, ...], prints: dict[int, Fingerprint]
) -> list[list[HttpSample]]:
    """Attempts that saw the same thing (status, error, address, product), in order."""
    groups: dict[tuple[object, ...], list[HttpSample]] = {}
    for sample in samples:
        fingerprint = prints.get(id(sample))
        key = (
            sample.status,
            sample.error,
            sample.address,
            sample.detail if sample.error else "",
            fingerprint.product if fingerprint else None,
        )
        groups.setdefault(key, []).append(sample)
    return list(groups.values())


def _group_line(group: list[HttpSample], fingerprint: Fingerprint | None) -> str:
    """One evidence line for attempts that saw the same thing, with their times."""
    sample = group[0]
    times = sorted(s.timings.total_ms for s in group if s.timings.total_ms is not None)
    count = f" ×{len(group)}" if len(group) > 1 else ""
    took = ""
    if times:
        low, high = f"{times[0]:.0f}", f"{times[-1]:.0f}"
        took = f" in {low} ms" if low == high else f" in {low}–{high} ms"
    if sample.status is None:
        return f"no HTTP response from {sample.address}{count}{took}: {sample.detail}"
    line = f"HTTP {sample.status} {sample.reason}".rstrip() + f" from {sample.address}{count}{took}"
    if not STANDARD_STATUSES[0] <= sample.status <= STANDARD_STATUSES[1]:
        line += (
            f"; {sample.status} is outside HTTP's status range "
            f"({STANDARD_STATUSES[0]}–{STANDARD_STATUSES[1]}), so no browser can tell "
            "what it means: visitors get an error or a blank page"
        )
    if fingerprint and fingerprint.product != "unknown" and not sample.ok:
        line += f" (page by {fingerprint.product})"
    if sample.error:
        line += f"; {sample.detail}"
    elif _cut_short(sample):
        line += f"; {_ending_line(sample)}"
    return line


def _healthy_lines(evidence: Evidence) -> list[str]:
    lines = []
    for sample in evidence.http:
        first = sample.timings.first_byte_ms
        lines.append(
            f"HTTP {sample.status} from {sample.address}"
            + (f", first byte after {first:.0f} ms" if first is not None else "")
        )
    return lines


def _hostport(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _notes(knowledge: Knowledge, status: int | None, verdict: str) -> tuple[NoteText, ...]:
    if status is None or verdict == "healthy":
        return ()
    notes = [NoteText(n.title, n.text) for n in knowledge.notes if status in n.applies_to]
    compare = (status, *knowledge.neighbours.get(status, ()))
    lines = [
        f"{code} {knowledge.statuses[code].name}: {knowledge.statuses[code].text}"
        for code in compare
        if code in knowledge.statuses
    ]
    if len(lines) > 1:
        notes.append(NoteText(f"How {status} differs from its neighbours", "\n".join(lines)))
    return tuple(notes)


def _warnings(evidence: Evidence) -> tuple[str, ...]:
    tls = evidence.tls
    if not tls or not tls.certificate or tls.error or evidence.checked_at is None:
        return ()
    days = tls.certificate.days_left(evidence.checked_at)
    if days < CERT_WARNING_DAYS:
        return (f"the certificate expires in {days} days ({tls.certificate.not_after:%Y-%m-%d})",)
    return ()
