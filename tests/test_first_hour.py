"""What a new user meets first: the version, a report that fits a screen, settings
refused in one line before anything is touched."""

from __future__ import annotations

from tests.conftest import run_gateway_process


def test_version_prints_the_version():
    result = run_gateway_process("--version", timeout=30)
    assert result.code == 0, result.stderr
    name, number = result.stdout.split()
    assert name == "gateway" and number[0].isdigit()
