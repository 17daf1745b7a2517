#!/usr/bin/env bash
# Quality benchmark on ../shared/eval/dev (read at run time; never copied into the project).
#  1. retrieval fusion choices compared on the TUNE split (that is where the choice is made);
#  2. an answer model fitted on the dev TUNE split only (what the issue's targets are defined on);
#  3. the engine and the BM25-only / dense-only baselines with it on the REPORT split, in the same run;
#  4. the shipped (clinic) answer model on the dev REPORT split and on the clinic questions' REPORT split.
# Usage: bash bench/eval_dev.sh [DEV_INDEX_DIR] [CLINIC_INDEX_DIR]   (builds the indexes first when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
EVAL=../shared/eval/dev
IDX="${1:-out/index-dev}"
CLINIC_IDX="${2:-index}"
mkdir -p out
[ -e "$IDX/current" ] || clinicqa build-index --corpus "$EVAL/corpus.jsonl" --index "$IDX"
[ -e "$CLINIC_IDX/current" ] || clinicqa build-index --corpus corpus --index "$CLINIC_IDX"
for fusion in rrf weighted bm25 dense; do
  echo "== tune split, fusion=$fusion"
  clinicqa eval --questions "$EVAL/dev.jsonl" --corpus "$EVAL/corpus.jsonl" --index "$IDX" \
      --split tune --fusion "$fusion" 2>/dev/null | grep -E "doc_hit|MRR"
done
echo "== answer model fitted on the dev tune split -> out/am_dev.json"
clinicqa fit --questions "$EVAL/dev.jsonl" --corpus "$EVAL/corpus.jsonl" --index "$IDX" \
    --output out/am_dev.json 2>/dev/null
for fusion in weighted bm25 dense; do
  echo "== report split, dev-fitted model, fusion=$fusion"
  CLINICQA_ANSWER_MODEL_PATH=out/am_dev.json clinicqa eval --questions "$EVAL/dev.jsonl" \
      --corpus "$EVAL/corpus.jsonl" --index "$IDX" --split report --fusion "$fusion" \
      --predictions "out/report-$fusion.jsonl" 2>/dev/null
done
echo "== report split, shipped model (qa/data/answer_model.json)"
clinicqa eval --questions "$EVAL/dev.jsonl" --corpus "$EVAL/corpus.jsonl" --index "$IDX" \
    --split report --predictions out/report-shipped.jsonl 2>/dev/null
echo "== clinic questions (eval/clinic), report split, shipped model"
clinicqa eval --questions eval/clinic/questions.jsonl --corpus corpus --index "$CLINIC_IDX" \
    --split report --predictions out/clinic-report.jsonl 2>/dev/null
