"""A server that accepts the TCP connection and then never answers the TLS handshake: TCP
connected, so it is no firewall DROP (tcp_timeout), but a handshake that fails."""

from __future__ import annotations

from tests.conftest import check_json
from tests.servers.misbehave import Behaviour, serve


def test_a_stalled_tls_handshake_after_tcp_connected_is_not_a_firewall_drop():
    with serve(Behaviour.HANG) as site:
        result = check_json(f"https://127.0.0.1:{site.port}/", "--timeout", "3")
    assert result.cause == "tls_handshake_failed", result.codes
    assert "tcp_timeout" not in result.codes
    evidence = " ".join(result.json["causes"][0]["evidence"])
    assert "connected" in evidence or "handshake" in evidence
