"""The diagnosis as `gateway check --json`'s object (schema 1), plus the evidence behind it.

The fixed keys (docs/reference.md) are never renamed or removed; everything else is
added beside them.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from checks.diagnose import Diagnosis
from checks.models import HttpSample
from checks.via import ViaCheck

SCHEMA = 1
# json.dumps escapes C0 controls but, with ensure_ascii=False, writes DEL and the C1
# controls as they are; on a terminal U+009B is CSI. Escape them too: the data is the same.
_C1 = {code: f"\\u{code:04x}" for code in range(0x7F, 0xA0)}


def terminal_safe_json(data: object) -> str:
    """One line of JSON, readable UTF-8, with no control character raw on the wire."""
    return json.dumps(data, ensure_ascii=False).translate(_C1)


def to_dict(diagnosis: Diagnosis) -> dict[str, Any]:
    evidence = diagnosis.evidence
    top = diagnosis.cause
    got_response = any(s.status is not None for s in evidence.http)
    return {
        "schema": SCHEMA,
        "target": evidence.target.to_dict(),
        "verdict": {
            "status": diagnosis.status,
            "cause": top.code,
            "confidence": round(top.confidence, 2),
            "summary": diagnosis.summary,
        },
        "causes": [cause.to_dict() for cause in diagnosis.causes],
        "gateway": {
            "product": (diagnosis.product or "unknown") if got_response else None,
            "name": diagnosis.product_name,
            "evidence": list(diagnosis.product_evidence),
            "front": diagnosis.front,
        },
        "http": {
            "status": diagnosis.http_status,
            "samples": list(diagnosis.samples),
            "attempts": [_attempt(s) for s in evidence.http],
        },
        "duration_ms": round(evidence.duration_ms),
        "checked_at": evidence.checked_at.isoformat() if evidence.checked_at else None,
        "timeout_s": evidence.timeout_s,
        "deadline_hit": evidence.deadline_hit,
        "checks": [step.to_dict() for step in diagnosis.steps],
        "dns": {
            "name": evidence.dns.name,
            "skipped": evidence.dns.skipped,
            "addresses": list(evidence.dns.addresses),
            "cnames": list(evidence.dns.cnames),
            "answers": [_plain(asdict(a)) for a in evidence.dns.answers],
        },
        "tcp": [_plain(asdict(a)) for a in evidence.tcp],
        "tls": _tls(diagnosis),
        "plain_http": (
            {"port": evidence.plain_http.port, "status": evidence.plain_http.sample.status}
            if evidence.plain_http
            else None
        ),
        "http2": _plain(asdict(evidence.http2)) if evidence.http2 else None,
        "notes": [{"title": n.title, "text": n.text} for n in diagnosis.notes],
        "warnings": list(diagnosis.warnings),
    }


_ORIGIN_KEYS = ("verdict", "causes", "gateway", "http", "duration_ms", "checks", "tls", "warnings")


def via_to_dict(result: ViaCheck) -> dict[str, Any]:
    """`check --via`: the edge's object, plus `origins` and `blame` (and the headline)."""
    data = to_dict(result.edge)
    data["origins"] = [
        {"via": via, **{key: full[key] for key in _ORIGIN_KEYS}}
        for via, full in ((via, to_dict(d)) for via, d in result.origins)
    ]
    data["blame"] = result.link.blame
    data["link"] = {"headline": result.link.headline, "origins": list(result.link.named)}
    return data


def _attempt(sample: HttpSample) -> dict[str, Any]:
    return {
        "address": sample.address,
        "url": sample.url,
        "status": sample.status,
        "reason": sample.reason,
        "http_version": sample.http_version or None,
        "error": sample.error.value if sample.error else None,
        "detail": sample.detail or None,
        "timings_ms": {k: _round(v) for k, v in asdict(sample.timings).items()},
        "ending": sample.ending.value or None,
        "redirects": [asdict(h) for h in sample.redirects],
        "headers": [[k, v] for k, v in sample.headers],
        "body_bytes": len(sample.body.encode("utf-8", errors="replace")),
        "body_truncated": sample.body_truncated,
    }


def _tls(diagnosis: Diagnosis) -> dict[str, Any] | None:
    tls = diagnosis.evidence.tls
    if tls is None:
        return None
    data = _plain(asdict(tls))
    cert = tls.certificate
    if cert is not None:
        data["certificate"] = {
            "subject": cert.subject,
            "issuer": cert.issuer,
            "sans": list(cert.sans),
            "not_before": cert.not_before.isoformat(),
            "not_after": cert.not_after.isoformat(),
            "self_signed": cert.self_signed,
            "days_left": (
                cert.days_left(diagnosis.evidence.checked_at)
                if diagnosis.evidence.checked_at
                else None
            ),
        }
    return data


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """Enums to their values, tuples to lists, floats rounded: JSON-ready."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if hasattr(value, "value") and not isinstance(value, dict):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, float):
            value = _round(value)
        out[key] = value
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
