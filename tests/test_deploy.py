"""deploy/gateway.service is a unit systemd accepts, running what the README says."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

UNIT = ROOT / "deploy" / "gateway.service"


def test_the_systemd_unit_verifies_without_a_single_complaint(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    # the unit names the install path of the README; point it at this checkout's gateway
    gateway = Path(sys.executable).parent / "gateway"
    unit = tmp_path / "gateway.service"
    unit.write_text(UNIT.read_text().replace("/opt/gateway/bin/gateway", str(gateway)))
    done = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stdout + done.stderr


def test_the_unit_migrates_then_serves_and_stops_gently():
    text = UNIT.read_text()
    assert "ExecStartPre=/opt/gateway/bin/gateway db upgrade" in text
    assert "ExecStart=/opt/gateway/bin/gateway serve" in text
    assert "KillSignal=SIGTERM" in text and "RestartPreventExitStatus=2" in text
