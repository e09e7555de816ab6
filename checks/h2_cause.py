"""What a broken HTTP/2 beside a working HTTP/1.1 means, for the diagnosis. Pure.

Browsers pick h2 whenever the server offers it, so a site that answers an
HTTP/1.1 check but resets or garbles its h2 streams fails for most visitors:
the check names that (cause `connection_reset`, the h2 frame as evidence).
"""

from __future__ import annotations

from dataclasses import dataclass

from checks.models import Evidence

CODE = "connection_reset"
CONFIDENCE = 0.85


@dataclass(frozen=True)
class H2Finding:
    code: str
    confidence: float
    evidence: tuple[str, ...]
    headline: str


def finding(evidence: Evidence, http1_works: bool) -> H2Finding | None:
    """The finding when h2 broke and HTTP/1.1 worked; None otherwise."""
    result = evidence.http2
    if result is None or not result.broken or not http1_works:
        return None
    how = f"{result.frame} {result.code}" if result.code else str(result.frame)
    statuses = sorted({s.status for s in evidence.http if s.status is not None})
    fine = ", ".join(str(s) for s in statuses) or "answers"
    return H2Finding(
        code=CODE,
        confidence=CONFIDENCE,
        evidence=(
            f"HTTP/2 (chosen by ALPN) at {result.address}: {result.detail}",
            f"HTTP/1.1 at the same time: {fine}",
            "browsers use HTTP/2 whenever the server offers it, so most visitors see "
            "this failure (ERR_HTTP2_PROTOCOL_ERROR in Chrome); check the server's "
            "HTTP/2 settings and headers that HTTP/2 forbids (Connection, Keep-Alive, "
            "Transfer-Encoding, Upgrade)",
        ),
        headline=f"broken over HTTP/2 ({how}), fine over HTTP/1.1",
    )
