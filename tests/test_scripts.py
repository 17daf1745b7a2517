"""The shell scripts: scripts/setup starts offline when the virtual environment is complete."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

SETUP = ROOT / "scripts" / "setup"


@pytest.fixture()
def venv(tmp_path: Path) -> Path:
    """A complete virtual environment as scripts/setup sees it: its bin/python runs this test's Python,
    which has everything installed, and logs each call. A call of pip fails, as with no network."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$*" >> "{tmp_path / "calls.log"}"\n'
        'case " $* " in *" -m pip "*) echo "pip: no network" >&2; exit 1 ;; esac\n'
        f'exec "{sys.executable}" "$@"\n', encoding="utf-8")
    python.chmod(0o755)
    return venv


def _setup(venv: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLINICQA_VENV": str(venv), "PYTHONPATH": str(ROOT),
           # a package index that cannot be reached, as in an outage, and no local configuration
           "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_CONFIG_FILE": os.devnull, "PIP_RETRIES": "0",
           "PIP_TIMEOUT": "1"}
    return subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, env=env, timeout=600,
                          cwd=tmp_path)


def _calls(tmp_path: Path) -> str:
    log = tmp_path / "calls.log"
    return log.read_text(encoding="utf-8") if log.exists() else ""


def test_setup_installs_nothing_when_the_venv_is_complete_and_the_dependencies_unchanged(
        venv: Path, tmp_path: Path) -> None:
    deps = subprocess.run(["bash", str(SETUP), "--deps-hash"], capture_output=True, text=True, check=True).stdout
    (venv / ".clinicqa-deps").write_text(deps, encoding="utf-8")
    res = _setup(venv, tmp_path)
    assert res.returncode == 0, res.stderr
    assert "nothing to install" in res.stderr
    assert "pip" not in _calls(tmp_path)


def test_setup_installs_again_when_the_dependencies_changed(venv: Path, tmp_path: Path) -> None:
    (venv / ".clinicqa-deps").write_text("hash of an older pyproject.toml\n", encoding="utf-8")
    res = _setup(venv, tmp_path)
    assert "-m pip install" in _calls(tmp_path)
    assert res.returncode != 0  # the (unreachable) index was needed, and setup says it failed
    assert not (venv / ".clinicqa-deps").exists()
