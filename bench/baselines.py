"""The baselines of issue 12 on the five labelled sets, scored by the shared scorer, in one run.

    python bench/baselines.py [--sets medquad clinic covid-faq covid-qa selqa]
                              [--baselines nearest_sentence faq_heading bm25 abstain_all]
                              [--shared ../shared/eval] [--output out/baselines.json]

The sets are defined in qa/datasets.py (the shared ones are read from ../shared/eval at run time); the
baselines in qa/baselines.py. Prints one table row per (set, system) and writes every metric of the scorer
as JSON to --output. Nothing is fitted: every figure is untuned.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from qa.baselines import Baseline, run_baseline
from qa.datasets import SET_NAMES, eval_sets, load_pages, load_questions, shared_eval_dir, text_mismatches
from qa.embedding import get_embedder
from qa.errors import ClinicQAError
from qa.evaluation import score
from qa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent

COLUMNS = ("doc_hit@1", "answer_correct_no_abstention", "abstention_AUROC", "end_to_end_accuracy",
           "wrong_answer_rate", "confidence_ECE", "answered_share")
SHORT = ("doc_hit@1", "answer_correct", "AUROC", "end_to_end", "wrong_rate", "ECE", "answered")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", nargs="+", default=list(SET_NAMES), choices=SET_NAMES)
    ap.add_argument("--baselines", nargs="+", default=[b.value for b in Baseline], choices=[b.value for b in Baseline])
    ap.add_argument("--shared", type=Path, default=None, help="the shared evaluation folder (default ../shared/eval)")
    ap.add_argument("--output", type=Path, default=ROOT / "out" / "baselines.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        sets = eval_sets(ROOT, args.shared, args.sets)
    except ClinicQAError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    scorer = (args.shared.resolve() if args.shared else shared_eval_dir(ROOT)) / "score.py"
    settings = Settings()
    embedder = get_embedder(settings.model_path, settings.embed_dtype, settings.embed_batch_size,
                            settings.chunk_max_seq_length)
    rows: list[dict[str, Any]] = []
    print("| set | system | " + " | ".join(SHORT) + " | seconds |")
    print("|---|---|" + "---|" * (len(SHORT) + 1))
    for s in sets:
        pages, questions = load_pages(s), load_questions(s)
        bad = text_mismatches(s, pages)
        if bad:
            print(f"error: {len(bad)} pages of {s.corpus} differ from their records, e.g. {bad[:3]}", file=sys.stderr)
            return 2
        for name in args.baselines:
            t0 = time.perf_counter()
            predictions = run_baseline(name, pages, questions, embedder)
            seconds = time.perf_counter() - t0
            metrics = score(scorer, questions, pages, predictions)
            rows.append({"set": s.name, "system": name, "seconds": round(seconds, 1), **metrics})
            print(f"| {s.name} | {name} | " + " | ".join(f"{metrics[c]:.3f}" for c in COLUMNS)
                  + f" | {seconds:.0f} |", flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
