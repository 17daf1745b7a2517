"""The command line as a user runs it: what `clinicqa ask` prints, and what the commands do with a damaged
index (one line and exit 2, or a rebuild; never a traceback)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.settings import Settings
from qa.store import resolve_build
from tests.conftest import ROOT

QUESTION = "will my leg feel weak?"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINICQA_")}
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1",
               CLINICQA_DATABASE_URL=f"sqlite:///{tmp_path / 'log.sqlite3'}", CLINICQA_CHECK_CORPUS="false")
    return env


def _ask(index: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qa.cli", "ask", "--index", str(index), QUESTION],
                          capture_output=True, text=True, env=_env(tmp_path), cwd=tmp_path, timeout=600)


@pytest.fixture()
def index_copy(tmp_path: Path, clinic_settings: Settings) -> Path:
    """A copy of the session's clinic index that a test may damage."""
    index = tmp_path / "index"
    shutil.copytree(clinic_settings.index_dir, index, symlinks=True)
    return index


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_ask_prints_the_answer_without_progress_bars_or_log_lines(tmp_path: Path,
                                                                   clinic_settings: Settings) -> None:
    res = _ask(Path(clinic_settings.index_dir), tmp_path)
    assert res.returncode == 0, res.stderr
    assert "leg may feel heavy or weak" in res.stdout
    assert "Loading weights" not in res.stderr and "%|" not in res.stderr
    for level in ("DEBUG", "INFO"):
        assert level not in res.stderr, res.stderr
    assert res.stderr.strip() == ""


def test_ask_on_a_damaged_index_says_in_one_line_to_run_build_index_and_exits_2(tmp_path: Path,
                                                                                index_copy: Path) -> None:
    _truncate(resolve_build(index_copy) / "vectors.npz")
    res = _ask(index_copy, tmp_path)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and "BadZipFile" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "damaged" in lines[0] and "clinicqa build-index" in lines[0], res.stderr


def test_build_index_rebuilds_a_damaged_index(tmp_path: Path, index_copy: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLINICQA_DATABASE_URL", f"sqlite:///{tmp_path / 'log.sqlite3'}")
    damaged = resolve_build(index_copy)
    _truncate(damaged / "units.npz")
    res = CliRunner().invoke(app, ["build-index", "--corpus", str(ROOT / "corpus"), "--index", str(index_copy)])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output and "0 reused" in res.output
    assert resolve_build(index_copy) != damaged


def test_serve_rebuilds_a_damaged_index_before_it_starts(tmp_path: Path, index_copy: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import api.server

    monkeypatch.setenv("CLINICQA_DATABASE_URL", f"sqlite:///{tmp_path / 'log.sqlite3'}")
    monkeypatch.setenv("CLINICQA_CORPUS_DIR", str(ROOT / "corpus"))
    started: list[Any] = []
    monkeypatch.setattr(api.server, "run", lambda settings, **kw: started.append(settings))
    damaged = resolve_build(index_copy)
    _truncate(damaged / "chunks.faiss")
    res = CliRunner().invoke(app, ["serve", "--index", str(index_copy)])
    assert res.exit_code == 0, res.output
    assert "damaged" in res.output and "Building it" in res.output
    assert started and resolve_build(index_copy) != damaged
