"""`gateway explain` on a line built to leak: the proving fragment it quotes (in Slack and
the terminal) never carries a URL's password, a query string or a token in a path."""

from __future__ import annotations

import json

import pytest

from checks.explain import explain, read_bytes


def caddy(msg: str) -> str:
    return json.dumps(
        {
            "level": "error",
            "ts": 1795622408.8,
            "logger": "http.log.error.log0",
            "msg": msg,
            "status": 502,
        }
    )


@pytest.mark.parametrize(
    ("msg", "secret"),
    [
        ("dial tcp admin:hunter2@10.0.0.1:80: connect: connection refused", "hunter2"),
        (
            "dial tcp 10.0.0.1:80/reset/9f86d081884c7d659a2feaa0c55ad015: connect: "
            "connection refused",
            "9f86d081884c7d659a2feaa0c55ad015",
        ),
        ("dial tcp 10.0.0.1:80?token=s3cr3tvalue: connect: connection refused", "s3cr3tvalue"),
    ],
)
def test_the_quoted_evidence_hides_passwords_queries_and_path_tokens(msg, secret):
    found = explain(read_bytes(caddy(msg).encode()))
    assert found.findings, "the line is still recognised"
    finding = found.findings[0]
    assert finding.cause == "upstream_refused"
    assert secret not in finding.evidence and "connection refused" in finding.evidence
