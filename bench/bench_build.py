"""Time ``build_index`` on a corpus: chunks/s, total / chunking / embedding seconds, load average.

    python bench/bench_build.py --corpus ../shared/eval/dev/corpus.jsonl [--runs 3] [--keep DIR]

Every run builds the corpus from scratch into a new temporary index folder (nothing is reused from a
previous build) and reads the timings the build recorded in its manifest. The table gives each run
and the median over runs. The machine may be shared: the 1-minute load average (``os.getloadavg``,
as ``uptime`` prints it) is sampled before and after each run, and the CPU seconds the build used
(this process and its worker processes) are reported beside the wall-clock seconds.
Settings come from the environment as usual (``CLINICQA_*``), e.g. CLINICQA_BUILD_WORKERS=1.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.indexing import build_index  # noqa: E402
from qa.settings import Settings  # noqa: E402


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children (build workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        one, five, fifteen = os.getloadavg()
        return f"load average: {one:.2f}, {five:.2f}, {fifteen:.2f}"


def one_run(settings: Settings, corpus: Path, keep: Path | None) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-build-"))
    index = keep if keep is not None else tmp / "index"
    if keep is not None and keep.exists():
        shutil.rmtree(keep)
    load_before = os.getloadavg()[0]
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    try:
        manifest = build_index(settings, corpus=corpus, index_dir=index)
    finally:
        wall = time.perf_counter() - wall0
        cpu = cpu_seconds() - cpu0
        shutil.rmtree(tmp, ignore_errors=True)
    t = manifest["timings_s"]
    return {"chunks": manifest["counts"]["chunks"], "chunks_per_s": manifest["chunks_per_s"],
            "total": t["total"], "chunking": t["chunking"], "embedding": t["embedding"],
            "wall_incl_write": round(wall, 2), "cpu": round(cpu, 1),
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
            "counts": manifest["counts"], "timings_s": t}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "eval" / "dev" / "corpus.jsonl")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--keep", type=Path, default=None, help="build into this index folder (kept) instead")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings()
    print(f"corpus {args.corpus}; {os.cpu_count()} CPUs; before: {uptime()}", flush=True)
    runs: list[dict[str, Any]] = []
    for i in range(args.runs):
        r = one_run(settings, args.corpus, args.keep)
        runs.append(r)
        print(f"run {i + 1}: {r['chunks']} chunks, {r['chunks_per_s']} chunks/s, total {r['total']} s "
              f"(chunking {r['chunking']} s, embedding {r['embedding']} s), CPU {r['cpu']} s, "
              f"load {r['load_before']} -> {r['load_after']}; timings {json.dumps(r['timings_s'])}", flush=True)
    med = {k: statistics.median(r[k] for r in runs)
           for k in ("chunks_per_s", "total", "chunking", "embedding", "cpu", "load_before", "load_after")}
    print(f"median of {len(runs)}: {med['chunks_per_s']} chunks/s, total {med['total']} s, "
          f"chunking {med['chunking']} s, embedding {med['embedding']} s, CPU {med['cpu']} s, "
          f"load {med['load_before']} -> {med['load_after']}")
    print(f"counts (last run): {json.dumps(runs[-1]['counts'])}")
    print(f"after: {uptime()}")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "median": med}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
