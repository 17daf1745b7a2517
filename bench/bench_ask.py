"""Warm `ask` latency: load the engine once, answer questions, report median and p95 (ms), with the
bare query encoding of the same questions interleaved in the same run (``encode_p50_ms``, and the
ratio ``ask / encode`` of the medians: issue 12 asks for at most 1.4).

    python bench/bench_ask.py --index index --questions-file QUESTIONS.jsonl [--repeat 3]
    python bench/bench_ask.py --index index            # built-in patient questions for the clinic corpus
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from qa.engine import Engine
from qa.settings import Settings

CLINIC_QUESTIONS = [
    "will my leg feel weak?", "how long does the procedure take?", "can I eat before the injection?",
    "do I need someone to drive me home?", "when can I shower?", "how much does it cost?",
    "what is a genicular nerve block?", "how long will the relief last?", "is the injection painful?",
    "can I go to work the next day?", "what should I bring?", "what are the risks of radiofrequency ablation?",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path, default=Path("index"))
    ap.add_argument("--corpus", type=Path, default=None)
    ap.add_argument("--questions-file", type=Path, default=None, help="JSONL with a 'question' field")
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    settings = Settings(index_dir=a.index, **({"corpus_dir": a.corpus} if a.corpus else {}))
    engine = Engine.load(settings)
    if a.questions_file:
        with open(a.questions_file, encoding="utf-8") as f:
            questions = [json.loads(line)["question"] for line in f if line.strip()][: a.limit]
    else:
        questions = CLINIC_QUESTIONS
    for q in questions[:10]:
        engine.ask(q)  # warm caches
    runs, encodes = [], []
    for _ in range(a.repeat):
        times, enc = [], []
        for q in questions:
            t = time.perf_counter()
            engine.embedder.encode_query(q)
            enc.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            engine.ask(q)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        runs.append((statistics.median(times), times[int(0.95 * (len(times) - 1))]))
        encodes.append(statistics.median(enc))
    p50 = statistics.median(r[0] for r in runs)
    p95 = statistics.median(r[1] for r in runs)
    enc50 = statistics.median(encodes)
    print(json.dumps({"index": str(a.index), "questions": len(questions), "repeat": a.repeat,
                      "p50_ms": round(p50, 2), "p95_ms": round(p95, 2), "encode_p50_ms": round(enc50, 2),
                      "ask_over_encode": round(p50 / enc50, 2), "load_avg": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
