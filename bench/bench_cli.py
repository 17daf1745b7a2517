"""Cold `clinicqa ask` and serving memory, before and after issue 16, in one run (same machine, same index).

``before`` is the code at ``--base`` (a git revision, extracted to a temporary folder with ``git archive``);
``after`` is this checkout, with each query encoder (``CLINICQA_QUERY_ENCODER``). The variants are run
interleaved, ``--runs`` times each.

* ``cold``: wall time and peak RSS of a fresh ``python -m qa.cli ask QUESTION --index INDEX`` process;
* ``imports``: ``python -X importtime`` of the same command: cumulative ms of the heavy top-level imports;
* ``parts``: RSS of one process after each part a serving worker holds (settings, qa.engine, torch,
  sentence-transformers, pandas, Gradio, the API app with the UI mounted, the engine loaded at start-up,
  10 questions), per part;
* ``serve``: ``clinicqa serve --workers N`` (UI mounted): RSS, PSS and USS of each worker after 20 questions.

    python bench/bench_cli.py --index index [--base d4d6d3e] [--runs 5] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "will my leg feel weak?"
QUESTIONS = ["will my leg feel weak?", "how long does the procedure take?", "can I eat before the injection?",
             "do I need someone to drive me home?", "when can I shower?", "how much does it cost?",
             "what is a genicular nerve block?", "how long will the relief last?", "is the injection painful?",
             "can I go to work the next day?"]
HEAVY = ("torch", "sentence_transformers", "transformers", "sklearn", "scipy", "onnxruntime", "tokenizers",
         "bm25s", "faiss", "numpy", "pydantic", "qa.engine", "qa.settings", "typer", "rich")


def extract(base: str) -> Path:
    dest = Path(tempfile.mkdtemp(prefix="clinicqa-before-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", base], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def env_for(tree: Path, encoder: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1", "CLINICQA_CACHE_DIR": str(ROOT / ".cache")}
    if encoder:
        env["CLINICQA_QUERY_ENCODER"] = encoder
    return {**env, **(extra or {})}


def cold_ask(tree: Path, encoder: str | None, index: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system: less sensitive to other programs sharing the CPUs) and peak
    RSS (MB) of one `ask` process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "qa.cli", "ask", QUESTION, "--index", str(index)],
                            env=env_for(tree, encoder), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tree)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out = proc.stdout.read().decode() if proc.stdout else ""
    if status != 0 or "“" not in out:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"ask failed ({tree}, {encoder}): {out}\n{err[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def import_times(tree: Path, encoder: str | None, index: Path) -> dict[str, float]:
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "qa.cli", "ask", QUESTION, "--index", str(index)],
                         env=env_for(tree, encoder), capture_output=True, text=True, cwd=tree)
    got: dict[str, float] = {}
    for line in res.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\s*)(\S+)", line)
        if m and m.group(3) in HEAVY and m.group(3) not in got:
            got[m.group(3)] = round(int(m.group(1)) / 1000)
    return got


PARTS_SCRIPT = r'''
import json, os, sys, time
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
out = [("python", rss())]
def step(name, fn):
    fn(); out.append((name, rss()))
encoder, index, db, questions = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
from qa.settings import Settings
s = Settings(index_dir=index, database_url=db)
step("settings (pydantic)", lambda: None)
step("qa.engine import (numpy, faiss, bm25s/scipy, pysbd)", lambda: __import__("qa.engine"))
if encoder == "torch":
    step("torch import", lambda: __import__("torch"))
    step("sentence-transformers import", lambda: __import__("sentence_transformers"))
else:
    step("onnxruntime + tokenizers import", lambda: (__import__("onnxruntime"), __import__("tokenizers")))
step("pandas import", lambda: __import__("pandas"))
step("gradio import", lambda: __import__("gradio"))
app = None
def make():
    global app
    from api.app import create_app
    from ui import mount_ui
    app = create_app(s)
    mount_ui(app)
step("API app + UI mounted", make)
from fastapi.testclient import TestClient
client = TestClient(app)
step("start-up: engine loaded (index + query encoder)", client.__enter__)
def ask():
    for q in questions:
        r = client.post("/v1/ask", json={"question": q})
        assert r.status_code == 200, r.text
step("10 questions", ask)
out.append(("torch in sys.modules", 1.0 if "torch" in sys.modules else 0.0))
print(json.dumps(out))
'''


def parts(tree: Path, encoder: str, index: Path) -> list[tuple[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        res = subprocess.run([sys.executable, "-c", PARTS_SCRIPT, encoder, str(index), f"sqlite:///{tmp}/log.sqlite3",
                              json.dumps(QUESTIONS)], env=env_for(tree, encoder if tree == ROOT else None),
                             capture_output=True, text=True, cwd=tree)
    if res.returncode != 0:
        raise SystemExit(f"parts failed ({tree}, {encoder}):\n{res.stderr[-3000:]}")
    return [(k, round(v, 1)) for k, v in json.loads(res.stdout.strip().splitlines()[-1])]


def _mem(pid: int) -> dict[str, float]:
    got: dict[str, float] = {}
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss", "Private_Clean", "Private_Dirty"):
                got[key] = int(rest.split()[0]) / 1024
    return {"rss": round(got["Rss"]), "pss": round(got["Pss"]),
            "uss": round(got["Private_Clean"] + got["Private_Dirty"])}


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def serve(tree: Path, encoder: str | None, index: Path, workers: int) -> dict[str, Any]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        env = env_for(tree, encoder, {"CLINICQA_DATABASE_URL": f"sqlite:///{tmp}/log.sqlite3",
                                      "CLINICQA_RATE_LIMIT_PER_MINUTE": "0", "CLINICQA_LOG_LEVEL": "WARNING"})
        proc = subprocess.Popen([sys.executable, "-m", "qa.cli", "serve", "--port", str(port), "--index", str(index),
                                 "--no-build", "--workers", str(workers)], env=env, cwd=tree,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.time() + 300
            ready = 0
            while ready < workers * 4 and time.time() < deadline:  # every worker ready (asked several times)
                try:
                    with urllib.request.urlopen(base + "/readyz", timeout=5) as r:
                        ready += r.status == 200
                except OSError:
                    time.sleep(0.5)
            if ready == 0:
                err = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
                raise SystemExit(f"server not ready ({tree}, {encoder}): {err}")
            time.sleep(2 * workers)
            for q in QUESTIONS * 2:
                req = urllib.request.Request(base + "/v1/ask", data=json.dumps({"question": q}).encode(),
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=60) as r:
                    r.read()
            with urllib.request.urlopen(base + "/ui/", timeout=60) as r:
                r.read()
            time.sleep(1)
            # `python -m qa.cli serve`: with one worker uvicorn serves in this process; with several, a
            # supervisor (this process) spawns them (plus a resource tracker, which holds no app).
            procs = {"main": _mem(proc.pid)}
            for i, pid in enumerate(_children(proc.pid)):
                procs[f"child{i}"] = _mem(pid)
            return procs
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path, default=ROOT / "index")
    ap.add_argument("--base", default="d4d6d3e", help="git revision of the 'before' code")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--skip", nargs="*", default=[], choices=["cold", "imports", "parts", "serve"])
    a = ap.parse_args()
    index = a.index.resolve()
    before = extract(a.base)
    variants = [("before (torch)", before, None), ("after, torch", ROOT, "torch"), ("after, onnx", ROOT, "onnx"),
                ("after, onnx-int8", ROOT, "onnx-int8")]
    report: dict[str, Any] = {"base": a.base, "index": str(index), "load_avg": os.getloadavg()}
    if "cold" not in a.skip:
        walls: dict[str, list[float]] = {v[0]: [] for v in variants}
        cpu: dict[str, list[float]] = {v[0]: [] for v in variants}
        rss: dict[str, list[float]] = {v[0]: [] for v in variants}
        for _ in range(a.runs):
            for name, tree, enc in variants:
                w, c, r = cold_ask(tree, enc, index)
                walls[name].append(w)
                cpu[name].append(c)
                rss[name].append(r)
        ref = statistics.median(walls["before (torch)"])
        report["cold"] = {name: {"wall_p50_s": round(statistics.median(walls[name]), 2),
                                 "wall_min_s": round(min(walls[name]), 2),
                                 "ratio_to_before": round(statistics.median(walls[name]) / ref, 3),
                                 "cpu_p50_s": round(statistics.median(cpu[name]), 2),
                                 "peak_rss_mb": round(statistics.median(rss[name]))} for name in walls}
        print(json.dumps({"cold": report["cold"]}), flush=True)
    if "imports" not in a.skip:
        report["imports_ms"] = {name: import_times(tree, enc, index) for name, tree, enc in variants}
        print(json.dumps({"imports_ms": report["imports_ms"]}), flush=True)
    if "parts" not in a.skip:
        report["parts_mb"] = {"before (torch)": parts(before, "torch", index),
                              "after, onnx": parts(ROOT, "onnx", index)}
        print(json.dumps({"parts_mb": report["parts_mb"]}), flush=True)
    if "serve" not in a.skip:
        report["serve_mb"] = {f"{name}, {w} worker(s)": serve(tree, enc, index, w)
                              for w in a.workers for name, tree, enc in variants[:3:2]}
        print(json.dumps({"serve_mb": report["serve_mb"]}), flush=True)
    report["load_avg_end"] = os.getloadavg()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
