"""Leave-one-dataset-out quality of the answer model on the five labelled sets (issue 12).

For each set, a model fitted on the other four answers it; the figures are the shared scorer's
(``../shared/eval/score.py``), with the plain baselines (``qa.baselines``) scored in the same run.

    python bench/lodo.py                          # the shipped feature set: table + out/lodo.json
    python bench/lodo.py --ablation               # forward selection of features (BENCHMARKS.md)
    python bench/lodo.py --fit-shipped            # also refit qa/data/answer_model.json on all five sets

Indexes are built under ``--index-root`` (default out/idx/<set>) when missing; the engine's traces of
every question are cached in ``--cache`` (keyed by the index build and the questions file).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
import os
import pickle
import time
from pathlib import Path
from typing import Any

from qa.datasets import EvalSet, eval_sets, load_pages
from qa.engine import Engine
from qa.evaluation import (
    SHIPPED_SPEC,
    ModelSpec,
    Sample,
    collect,
    fit_answer_model,
    leave_one_dataset_out,
    predict,
    read_questions,
    score,
)
from qa.extraction import CONFIDENCE_FEATURES, WINDOW_FEATURES
from qa.indexing import build_index
from qa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
log = logging.getLogger("lodo")
SCORER_KEYS = ("doc_hit@1", "answer_correct_no_abstention", "abstention_AUROC", "end_to_end_accuracy",
               "wrong_answer_rate", "confidence_ECE", "answered_share")


def settings_for(s: EvalSet, index_root: Path) -> Settings:
    return Settings(corpus_dir=s.corpus, index_dir=index_root / s.name)


def load_engine(s: EvalSet, index_root: Path) -> Engine:
    settings = settings_for(s, index_root)
    if not (settings.index_dir / "current").exists():
        log.warning("building the index of %s in %s", s.name, settings.index_dir)
        build_index(settings)
    return Engine.load(settings, with_model=False)


def samples_of(s: EvalSet, engine: Engine, cache: Path) -> list[Sample]:
    qs = [{**q, "_set": s.name} for q in read_questions(s.questions)]
    key = hashlib.sha256((engine.index_version + s.questions.read_text(encoding="utf-8")
                          + ",".join(WINDOW_FEATURES)).encode()).hexdigest()[:16]
    path = cache / f"{s.name}-{key}.pkl"
    if path.exists():
        with open(path, "rb") as f:
            samples: list[Sample] = pickle.load(f)
        return samples
    t0 = time.perf_counter()
    samples = collect(engine, qs)
    log.warning("%s: %d questions traced in %.0f s", s.name, len(samples), time.perf_counter() - t0)
    cache.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(samples, f)
    return samples


def primary(q: dict[str, float]) -> float:
    return q["end_to_end"]


def ablation(samples: list[Sample], base: ModelSpec) -> list[dict[str, Any]]:
    """Forward selection: a feature joins a part of the model only when leave-one-dataset-out end-to-end
    accuracy improves on at least four of the five sets and no set loses more than 0.02; then every
    feature of the base is tried for removal under the same rule (removal must not lose more than 0.02
    on any set, nor lose on more than one)."""
    rows: list[dict[str, Any]] = []
    current = base
    ref = leave_one_dataset_out(samples, current)
    rows.append({"step": "base", "spec": _spec_json(current), "lodo": ref})
    candidates = [("ranker", n) for n in WINDOW_FEATURES if n not in base.ranker] + \
                 [("correct", n) for n in CONFIDENCE_FEATURES if n not in base.correct] + \
                 [("answerable", n) for n in CONFIDENCE_FEATURES if n not in base.answerable]
    for part, name in candidates:
        trial = _with(current, part, (*getattr(current, part), name))
        res = leave_one_dataset_out(samples, trial)
        gains = {k: round(primary(res[k]) - primary(ref[k]), 3) for k in res}
        accepted = sum(g > 0 for g in gains.values()) >= 4 and min(gains.values()) >= -0.02
        rows.append({"step": f"+{part}:{name}", "gains": gains, "accepted": accepted, "lodo": res})
        log.warning("%-28s %s %s", f"+{part}:{name}", "ACCEPT" if accepted else "      ", gains)
        if accepted:
            current, ref = trial, res
    for part in ("ranker", "correct", "answerable"):
        for name in list(getattr(current, part)):
            names = tuple(n for n in getattr(current, part) if n != name)
            if not names:
                continue
            trial = _with(current, part, names)
            res = leave_one_dataset_out(samples, trial)
            gains = {k: round(primary(res[k]) - primary(ref[k]), 3) for k in res}
            removed = sum(g < 0 for g in gains.values()) <= 1 and min(gains.values()) >= -0.02
            rows.append({"step": f"-{part}:{name}", "gains": gains, "accepted": removed, "lodo": res})
            log.warning("%-28s %s %s", f"-{part}:{name}", "REMOVE" if removed else "      ", gains)
            if removed:
                current, ref = trial, res
    rows.append({"step": "final", "spec": _spec_json(current), "lodo": ref})
    return rows


def _with(spec: ModelSpec, part: str, names: tuple[str, ...]) -> ModelSpec:
    d = {"ranker": spec.ranker, "answerable": spec.answerable, "correct": spec.correct, part: names}
    return ModelSpec(**d)


def _spec_json(spec: ModelSpec) -> dict[str, list[str]]:
    return {"ranker": list(spec.ranker), "answerable": list(spec.answerable), "correct": list(spec.correct)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index-root", type=Path, default=ROOT / "out" / "idx")
    ap.add_argument("--cache", type=Path, default=ROOT / "out" / "samples")
    ap.add_argument("--output", type=Path, default=ROOT / "out" / "lodo.json")
    ap.add_argument("--ablation", action="store_true", help="forward feature selection (slow)")
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--max-wrong", type=float, default=0.10)
    ap.add_argument("--fit-shipped", action="store_true", help="refit qa/data/answer_model.json on all sets")
    ap.add_argument("--threshold-set", default="clinic",
                    help="the shipped model's threshold is chosen on this set's questions (the clinic's own)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    sets = eval_sets(ROOT)
    scorer = ROOT.parent / "shared" / "eval" / "score.py"
    engines = {s.name: load_engine(s, args.index_root) for s in sets}
    samples: list[Sample] = []
    for s in sets:
        samples += samples_of(s, engines[s.name], args.cache)
    report: dict[str, Any] = {"spec": _spec_json(SHIPPED_SPEC), "max_wrong": args.max_wrong}
    if args.ablation:
        report["ablation"] = ablation(samples, SHIPPED_SPEC)
    # the engine itself, each set answered (engine.ask, safety included) by a model fitted on the others
    results: dict[str, dict[str, Any]] = {}
    for s in sets:
        model = fit_answer_model([x for x in samples if x.dataset != s.name],
                                 {"left_out": s.name}, SHIPPED_SPEC, max_wrong=args.max_wrong)
        engine = copy.copy(engines[s.name])
        engine.model, engine.threshold = model, model.threshold
        qs = read_questions(s.questions)
        preds = predict(engine, qs)
        lat = sorted(p["latency_ms"] for p in preds)
        results[s.name] = {"engine": {**score(scorer, qs, engine.data.pages, preds),
                                      "ask_p50_ms": lat[len(lat) // 2], "threshold": model.threshold}}
        if not args.no_baselines:
            from qa.baselines import BASELINES

            pages = load_pages(s)
            for name, fn in BASELINES.items():
                bp = fn(pages, qs, engine.embedder)
                results[s.name][str(name)] = score(scorer, qs, pages, bp)
    report["results"] = results
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"{'set':10s} {'system':18s} " + " ".join(f"{k[:14]:>14s}" for k in SCORER_KEYS))
    for set_name, systems in results.items():
        for system, m in systems.items():
            print(f"{set_name:10s} {system:18s} " + " ".join(
                f"{m.get(k, float('nan')):14.3f}" if isinstance(m.get(k), (int, float)) else f"{'-':>14s}"
                for k in SCORER_KEYS))
    if args.fit_shipped:
        model = fit_answer_model(samples, {"datasets": [s.name for s in sets]}, SHIPPED_SPEC,
                                 max_wrong=args.max_wrong, threshold_set=args.threshold_set or None)
        model.save(ROOT / "qa" / "data" / "answer_model.json")
        print(f"shipped model refitted on all sets: threshold {model.threshold:.2f}")


if __name__ == "__main__":
    from qa.errors import ClinicQAError

    try:
        main()
    except ClinicQAError as e:  # a missing evaluation set or index: say what to do, no traceback
        raise SystemExit(f"lodo: {e}") from None
