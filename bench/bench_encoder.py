"""Query encoders compared in one run (issue 16): torch (today's: sentence-transformers, the index's own
dtype), onnx (fp32 export) and onnx-int8, on the same index and questions. Per set and encoder:

* ``encode_p50_ms`` — median time to encode one question (the encoders interleaved question by question);
* ``ask_p50_ms`` — median ``Engine.ask`` time;
* ``cos_min`` / ``cos_p50`` — cosine of each question's vector with torch's;
* ``same_quote`` — share of questions whose best quote (page, start, end) is torch's, and ``same_decision``
  — whose answer/abstain decision is torch's;
* the shared scorer's metrics on all the set's questions, and their difference from torch's.

    python bench/bench_encoder.py --set clinic=eval/clinic/questions.jsonl:corpus:index \\
        --set dev=../shared/eval/dev/dev.jsonl:../shared/eval/dev/corpus.jsonl:out/index-dev ... [--limit N]

The indexes must exist (``clinicqa build-index --corpus C --index I``). Writes JSON lines (one per set) to
``--output`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from qa.engine import Engine
from qa.evaluation import predict, read_questions, score
from qa.settings import PROJECT_ROOT, Settings

ENCODERS = ("torch", "onnx", "onnx-int8")
METRICS = ("doc_hit@1", "answer_correct_no_abstention", "abstention_AUROC", "end_to_end_accuracy",
           "wrong_answer_rate")
SCORER = PROJECT_ROOT.parent / "shared" / "eval" / "score.py"


def quote(p: dict[str, Any]) -> tuple[Any, ...] | None:
    a = p.get("answer")
    return (a["doc_id"], a["start"], a["end"]) if a else None


def run_set(name: str, questions_path: Path, corpus: Path, index: Path, limit: int | None,
            encoders: tuple[str, ...]) -> dict[str, Any]:
    qs = read_questions(questions_path, "all")[:limit] if limit else read_questions(questions_path, "all")
    engines = {e: Engine.load(Settings(corpus_dir=corpus, index_dir=index, query_encoder=e)) for e in encoders}
    for e, engine in engines.items():
        got = engine.embedder.query_backend
        if not got.startswith(e.replace("onnx", "onnx-fp32") if e == "onnx" else e):
            raise SystemExit(f"{e}: the engine encodes with {got} (export missing? see the log)")
    texts = [str(q["question"]) for q in qs]
    vecs: dict[str, list[np.ndarray]] = {e: [] for e in encoders}
    enc_ms: dict[str, list[float]] = {e: [] for e in encoders}
    for t in texts[:5]:
        for engine in engines.values():
            engine.embedder.encode_query(t)
    for t in texts:  # interleaved: the machine's load falls on every encoder alike
        for e, engine in engines.items():
            t0 = time.perf_counter()
            v = engine.embedder.encode_query(t)
            enc_ms[e].append((time.perf_counter() - t0) * 1000)
            vecs[e].append(v)
    preds = {e: predict(engine, qs) for e, engine in engines.items()}
    pages = engines[encoders[0]].data.pages
    ref = encoders[0]
    out: dict[str, Any] = {"set": name, "questions": len(qs), "limit": limit, "encoders": {}}
    ref_metrics = score(SCORER, qs, pages, preds[ref])
    for e in encoders:
        a_, b_ = np.asarray(vecs[e], dtype=np.float64), np.asarray(vecs[ref], dtype=np.float64)
        cos = np.einsum("ij,ij->i", a_, b_) / (np.linalg.norm(a_, axis=1) * np.linalg.norm(b_, axis=1))
        m = ref_metrics if e == ref else score(SCORER, qs, pages, preds[e])
        row = {
            "encode_p50_ms": round(statistics.median(enc_ms[e]), 2),
            "ask_p50_ms": round(statistics.median(p["latency_ms"] for p in preds[e]), 1),
            "cos_min": round(float(cos.min()), 5), "cos_p50": round(float(np.median(cos)), 6),
            "same_quote": round(float(np.mean([quote(a) == quote(b) for a, b in zip(preds[e], preds[ref],
                                                                                   strict=True)])), 4),
            "same_decision": round(float(np.mean([a["abstained"] == b["abstained"]
                                                  for a, b in zip(preds[e], preds[ref], strict=True)])), 4),
            "metrics": {k: m.get(k) for k in METRICS},
            "delta": {k: (round(float(m[k]) - float(ref_metrics[k]), 4)
                          if isinstance(m.get(k), (int, float)) and isinstance(ref_metrics.get(k), (int, float))
                          else None) for k in METRICS},
            "backend": engines[e].embedder.query_backend,
        }
        out["encoders"][e] = row
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", action="append", required=True, metavar="NAME=QUESTIONS:CORPUS:INDEX")
    ap.add_argument("--limit", type=int, default=None, help="first N questions of each set (all by default)")
    ap.add_argument("--encoders", default=",".join(ENCODERS), help="the first is the reference")
    ap.add_argument("--output", type=Path, default=Path("out/bench_encoder.jsonl"))
    a = ap.parse_args()
    encoders = tuple(a.encoders.split(","))
    a.output.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    with open(a.output, "w", encoding="utf-8") as f:
        for spec in a.set:
            name, rest = spec.split("=", 1)
            qp, cp, ip = rest.split(":")
            row = run_set(name, Path(qp), Path(cp), Path(ip), a.limit, encoders)
            f.write(json.dumps(row) + "\n")
            f.flush()
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\n| set | n | encoder | encode p50 ms | ask p50 ms | cos min / p50 vs torch | same quote | same decision "
          "| answer_correct (Δ) | AUROC (Δ) | end_to_end (Δ) | wrong_answer_rate (Δ) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        for e, r in row["encoders"].items():
            m, d = r["metrics"], r["delta"]

            def fmt(k: str, m: dict[str, Any] = m, d: dict[str, Any] = d) -> str:
                return f"{m[k]:.3f} ({d[k]:+.3f})" if m.get(k) is not None and d.get(k) is not None else "—"

            print(f"| {row['set']} | {row['questions']} | {e} ({r['backend']}) | {r['encode_p50_ms']} | "
                  f"{r['ask_p50_ms']} | {r['cos_min']:.4f} / {r['cos_p50']:.5f} | {r['same_quote']:.3f} | "
                  f"{r['same_decision']:.3f} | {fmt('answer_correct_no_abstention')} | {fmt('abstention_AUROC')} | "
                  f"{fmt('end_to_end_accuracy')} | {fmt('wrong_answer_rate')} |")


if __name__ == "__main__":
    main()
