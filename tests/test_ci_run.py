"""`.ci/run` on a fresh machine: it installs what `make test` needs and leaves the
machine's service policy as it found it. Run on a copy whose policy-rc.d path is a
temporary file, with `dpkg`, `apt-get` and `make` stood in by scripts that record."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT


def run_ci(tmp_path: Path, policy_exists: bool, make_status: int = 0) -> tuple[int, Path]:
    policy = tmp_path / "policy-rc.d"
    if policy_exists:
        policy.write_text("#!/bin/sh\nexit 0\n")
    work = tmp_path / "repo"
    (work / ".ci").mkdir(parents=True)
    script = (ROOT / ".ci" / "run").read_text().replace("/usr/sbin/policy-rc.d", str(policy))
    (work / ".ci" / "run").write_text(script)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "record"
    stubs = {
        "dpkg": "exit 1",  # nothing installed
        "apt-get": f'echo "apt-get $*" >> {record}',
        "make": f'[ -e {policy} ] && echo "make: policy in place" >> {record}; exit {make_status}',
    }
    for name, body in stubs.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    done = subprocess.run(["bash", str(work / ".ci" / "run")], env=env, timeout=60)
    return done.returncode, record


@pytest.mark.parametrize("make_status", [0, 2])
def test_ci_removes_the_service_policy_it_made_even_when_the_tests_fail(tmp_path, make_status):
    code, record = run_ci(tmp_path, policy_exists=False, make_status=make_status)
    assert code == make_status
    assert "make: policy in place" in record.read_text()  # services stayed down meanwhile
    assert not (tmp_path / "policy-rc.d").exists()


def test_ci_keeps_a_service_policy_that_was_there_before(tmp_path):
    code, _ = run_ci(tmp_path, policy_exists=True)
    assert code == 0
    assert (tmp_path / "policy-rc.d").read_text() == "#!/bin/sh\nexit 0\n"


def test_ci_installs_python3_venv_and_make(tmp_path):
    _, record = run_ci(tmp_path, policy_exists=False)
    installs = [line for line in record.read_text().splitlines() if " install " in line]
    assert installs and "python3-venv" in installs[0].split() and "make" in installs[0].split()
