"""Schemathesis against the app's own OpenAPI schema, over real HTTP (uvicorn on loopback).

Every operation gets positive and negative cases (examples, coverage and fuzzing phases) and every
response is checked: no server error, status codes, content types and bodies as documented, invalid
data rejected, valid data accepted. The admin token is sent so the question log is exercised too; the
reindex operation is left out (each call rebuilds the index; tests/test_api.py covers it).

The totals are printed at the end of the session and the JSON report is kept under the pytest basetemp
(``schemathesis/report.json``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from qa.settings import PROJECT_ROOT, Settings

TOKEN = "schemathesis-admin-token"
MAX_EXAMPLES = int(os.environ.get("CLINICQA_SCHEMATHESIS_EXAMPLES", "60"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(clinic_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A uvicorn server (one worker) on the session's clinic-corpus index (tests/conftest.py)."""
    work = tmp_path_factory.mktemp("schemathesis-server")
    port = _free_port()
    env = dict(os.environ)
    env.update({
        "CLINICQA_INDEX_DIR": str(clinic_settings.index_dir),
        "CLINICQA_CORPUS_DIR": str(clinic_settings.corpus_dir),
        "CLINICQA_DATABASE_URL": f"sqlite:///{work / 'log.sqlite3'}",
        "CLINICQA_ADMIN_TOKEN": TOKEN,
        "CLINICQA_RATE_LIMIT_PER_MINUTE": "0",
        "CLINICQA_LOG_LEVEL": "WARNING",
    })
    log = open(work / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "api.server", "--port", str(port)], cwd=PROJECT_ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the API server did not start:\n" + (work / "server.log").read_text()[-3000:])
            time.sleep(0.5)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        server_log = (work / "server.log").read_text(errors="replace")
        assert "Traceback" not in server_log, server_log[-3000:]


def test_schemathesis_finds_no_server_errors(server: str, tmp_path_factory: pytest.TempPathFactory,
                                            request: pytest.FixtureRequest) -> None:
    out = tmp_path_factory.mktemp("schemathesis")
    report = out / "report.json"
    cmd = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{server}/openapi.json",
        "--checks", "all", "--mode", "all", "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(MAX_EXAMPLES), "--seed", "20261128", "--workers", "1",
        "--header", f"Authorization: Bearer {TOKEN}",
        "--exclude-path", "/v1/admin/reindex",
        "--report", "json", "--report-json-path", str(report),
        "--continue-on-failure", "--output-truncate", "true", "--warnings", "off",
    ]
    run = subprocess.run(cmd, cwd=out, capture_output=True, text=True, timeout=1500, check=False)
    output = run.stdout + run.stderr
    (out / "output.txt").write_text(output)
    assert report.is_file(), output[-4000:]
    data = json.loads(report.read_text())
    totals = summarise(data)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    line = (f"schemathesis: {totals['cases']} test cases over {totals['operations']} operations, "
            f"{totals['server_errors']} server errors, {totals['failures']} failed checks, "
            f"{totals['errors']} errors "
            f"(report: {report})")
    if reporter is not None:
        reporter.write_line(line)
    assert totals["cases"] > 100, output[-4000:]
    assert totals["server_errors"] == 0, output[-6000:]
    assert run.returncode == 0 and totals["failures"] == 0 and totals["errors"] == 0, output[-6000:]


def summarise(data: dict[str, Any]) -> dict[str, int]:
    """Totals from schemathesis' JSON report."""
    failures = data.get("failures") or []
    server = [f for f in failures
              if "server" in f"{f.get('type')} {f.get('code')} {f.get('title')}".lower()]
    return {
        "cases": int(data["test_cases"]["generated"]),
        "operations": int(data["operations"]["tested"]),
        "server_errors": sum(int(f.get("count", 1)) for f in server),
        "failures": sum(int(f.get("count", 1)) for f in failures),
        "errors": sum(int(e.get("count", 1)) for e in data.get("errors") or []),
    }
