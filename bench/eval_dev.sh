#!/usr/bin/env bash
# Quality benchmark on ../shared/eval/dev (read at run time; never copied into the project).
#  1. retrieval fusion choices compared on the TUNE split (that is where the choice is made);
#  2. the engine and the BM25-only / dense-only baselines on the REPORT split, in the same run.
# Usage: bash bench/eval_dev.sh [DEV_INDEX_DIR] [CLINIC_INDEX_DIR]   (builds the index first when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
EVAL=../shared/eval/dev
IDX="${1:-out/index-dev}"
mkdir -p out
for fusion in rrf weighted bm25 dense; do
  echo "== tune split, fusion=$fusion"
  clinicqa eval --questions "$EVAL/dev.jsonl" --corpus "$EVAL/corpus.jsonl" --index "$IDX" \
      --split tune --fusion "$fusion" 2>/dev/null | grep -E "doc_hit|MRR"
done
for fusion in weighted bm25 dense; do
  echo "== report split, fusion=$fusion"
  clinicqa eval --questions "$EVAL/dev.jsonl" --corpus "$EVAL/corpus.jsonl" --index "$IDX" \
      --split report --fusion "$fusion" --predictions "out/report-$fusion.jsonl" 2>/dev/null
done
echo "== clinic questions (eval/clinic), report split"
clinicqa eval --questions eval/clinic/questions.jsonl --corpus corpus --index "${2:-index}" \
    --split report --predictions out/clinic-report.jsonl 2>/dev/null
