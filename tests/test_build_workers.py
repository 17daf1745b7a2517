"""Build worker processes die with the build: `kill -9` of a build must not leave its workers (each holds
torch and the model, ~0.7 GB) running on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import CLINIC_CORPUS, ROOT

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)")

# A real build of the clinic corpus with 2 worker processes (the corpus is below the size that starts
# them on its own), which stops for good once the workers have chunked the pages: the test kills it there.
BUILD = """
import sys, time
import qa.indexing as ix
from qa.settings import Settings

ix.PARALLEL_MIN_PAGES = 1
ix.CHUNK_JOB_CHARS = 1  # a chunking job per page: both workers start
chunk_all = ix._chunk_all

def chunk_then_hang(*args, **kwargs):
    out = chunk_all(*args, **kwargs)
    print("workers running", flush=True)
    while True:
        time.sleep(60)

ix._chunk_all = chunk_then_hang
ix.build_index(Settings(corpus_dir=sys.argv[1], index_dir=sys.argv[2], build_workers=2,
                        database_url="sqlite:///" + sys.argv[2] + "/log.sqlite3"))
"""


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def _is_worker(pid: int) -> bool:
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper is dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_killing_a_build_with_sigkill_ends_its_worker_processes(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-c", BUILD, str(CLINIC_CORPUS), str(tmp_path / "index")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    workers: list[int] = []
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "workers running"
        workers = [pid for pid in _children(proc.pid) if _is_worker(pid)]
        assert len(workers) == 2 and all(_alive(pid) for pid in workers)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 60  # a bound on the wait, not a speed requirement
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if _alive(pid)], "orphaned build workers"
    finally:
        for pid in workers:  # never leave them behind, even when the test fails
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
