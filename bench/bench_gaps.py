"""Gap report benchmark: how well the unanswerable topics come back as gap groups, and how long a report
over 10,000 logged questions takes.

    python bench/bench_gaps.py --index /tmp/idx_dev --corpus ../shared/eval/dev/corpus.jsonl \\
        [--dev ../shared/eval/dev/dev.jsonl] [--clinic eval/clinic/questions.jsonl] [--work out/bench-gaps]

1. **Stream** (read at run time from the shared eval data, never copied into the repo): the 400 dev
   questions (320 answerable, 80 whose page was removed), 8 programmatic paraphrases of each of the 80
   unanswerable ones (templates over the question's focus plus synonym swaps — there is no generative
   model here), and the 302 clinic questions of ``eval/clinic`` (patient phrasing; against the dev index
   they are off-topic noise). Every question is answered once against the dev index and logged, with
   timestamps spread over 60 days, into a temporary SQLite question log (``--work``).
2. **Grouping quality** on that log (≥ 1,000 rows): the known topic of an unanswerable question or
   paraphrase is the ``doc_id`` of its removed page. Reported: *purity* (of the groups whose majority is
   an unanswerable topic: share of their questions that belong to that topic), *recall* (per topic: share
   of its logged gap questions in the topic's largest group, averaged), *topics recovered* (topics
   whose largest group holds ≥ half their questions and is theirs by majority), and BCubed
   precision / recall over all gap questions. A sweep over the clustering distance is printed too.
3. **Time**: the stream resampled to 10,000 rows (topic popularity Zipf-like, 30 % of rows respelled —
   "pls", "hi,", lower case — so there are thousands of distinct texts), logged to a second SQLite file;
   ``gap_report_from_log`` timed from the database read to the ranked report, median of ``--runs``, with
   a cold vector cache (every distinct question embedded) and a warm one (the steady state: each report
   embeds only questions not seen before). ``uptime`` is printed: other engineers share the 2 cores.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import statistics
import subprocess
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from qa.embedding import usable_cpus
from qa.engine import Engine
from qa.evaluation import split_of
from qa.gaps import GapReport, cluster, gap_report_from_log, is_gap, normalise, questions_from_log
from qa.questionlog import LogEntry, QuestionLog
from qa.settings import PROJECT_ROOT, Settings

SHARED = PROJECT_ROOT.parent / "shared" / "eval"
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

TEMPLATES = [
    "what is {f}?", "tell me about {f}", "can you explain {f} to me", "what are the symptoms of {f}?",
    "how is {f} treated?", "what is the treatment for {f}", "what is the prognosis of {f}?",
    "will I recover from {f}?", "what causes {f}?", "how do doctors diagnose {f}?", "is {f} curable",
    "information on {f} please", "{f} - what should I know?", "can {f} be prevented?",
    "what happens to people with {f} in the long run", "who gets {f}?",
]
SWAPS = [("treatments", "therapies"), ("outlook", "prognosis"), ("symptoms", "signs"), ("What is (are)", "What is"),
         ("How to prevent", "How can I avoid"), ("What causes", "What is the cause of"),
         ("Do you have information about", "I want to know about")]
NEW_SPELLINGS = ["hello, {q}", "{q} please help", "sir, {q}", "can you tell me {q}"]
RESPELL = ["pls {q}", "hi, {q}", "{q} thanks", "quick question: {q}", "{q}??", "doctor, {q}"]


def paraphrases(q: dict, rng: random.Random, n: int = 8) -> list[str]:
    focus = q.get("focus") or q["question"]
    out: list[str] = []
    swapped = q["question"]
    for a, b in SWAPS:
        swapped = swapped.replace(a, b)
    if swapped != q["question"]:
        out.append(swapped)
    for t in rng.sample(TEMPLATES, len(TEMPLATES)):
        text = t.format(f=focus if rng.random() < 0.6 else focus.lower())
        if text not in out:
            out.append(text)
        if len(out) >= n:
            break
    return out[:n]


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def build_stream(dev: Path, clinic: Path, rng: random.Random) -> list[dict]:
    rows = []
    for q in read_jsonl(dev):
        topic = q["doc_id"] if not q["answerable"] else None
        rows.append({"question": q["question"], "topic": topic, "kind": "dev_unanswerable" if topic else "dev"})
        if topic:
            rows += [{"question": p, "topic": topic, "kind": "paraphrase"} for p in paraphrases(q, rng)]
    for q in read_jsonl(clinic):
        rows.append({"question": q["question"], "topic": None, "kind": "clinic"})
    return rows


def answer_stream(engine: Engine, rows: list[dict]) -> list[dict]:
    texts = [r["question"] for r in rows]
    vecs = engine.embedder.encode(texts)
    out = []
    t0 = time.perf_counter()
    for i, (row, vec) in enumerate(zip(rows, vecs, strict=True)):
        a = engine.ask(row["question"], q_vec=vec)
        best = a.best if not a.abstained else None
        out.append({**row, "abstained": a.abstained, "reason": str(a.reason), "confidence": a.confidence,
                    "doc_id": best.doc_id if best else None, "section": best.passage.chunk.section if best else None,
                    "best_doc_id": a.best.doc_id if a.best else None,
                    "best_section": a.best.passage.chunk.section if a.best else None,
                    "relevance": float(a.retrieved[0].dense) if a.retrieved else None})
        if (i + 1) % 200 == 0:
            logging.info("answered %d/%d (%.0f s)", i + 1, len(rows), time.perf_counter() - t0)
    return out


def write_log(path: Path, rows: list[dict], version: str, rng: random.Random) -> QuestionLog:
    if path.exists():
        path.unlink()
    log = QuestionLog(f"sqlite:///{path}", redactor=lambda t: t)  # bench texts hold no personal data
    entries = []
    votes = []
    for i, r in enumerate(rows):
        aid = f"b{i:06d}"
        entries.append(LogEntry(
            answer_id=aid, question=r["question"], audience="patient", abstained=r["abstained"], reason=r["reason"],
            confidence=r["confidence"], latency_ms=20.0, index_version=version, doc_id=r["doc_id"],
            section=r["section"], created_at=NOW - timedelta(days=rng.uniform(0, 60)),
            best_doc_id=r.get("best_doc_id"), best_section=r.get("best_section"), relevance=r.get("relevance"),
        ))
        if not r["abstained"] and rng.random() < 0.1:
            votes.append((aid, rng.random() < 0.7))
    for k in range(0, len(entries), 2000):
        log.record(entries[k:k + 2000])
    for aid, helpful in votes:
        log.add_feedback(aid, helpful)
    return log


def report_items(report: GapReport, label_of: dict[str, str | None]) -> list[tuple[int, str]]:
    """(group, label) per distinct gap question of a report; label_of: normalised question -> topic."""
    return [(gi, label_of.get(normalise(q)) or f"other:{normalise(q)}")
            for gi, g in enumerate(report.groups) for q in g.questions]


def grouping_quality(items: list[tuple[int, str]], only: set[str] | None = None) -> dict[str, float]:
    """Purity / recall of the unanswerable topics (``only``: restrict the topics scored to this set; the
    other topics count as "other" questions), and BCubed precision / recall over all distinct gap
    questions (every non-topic question is its own class)."""
    if only is not None:
        items = [(gi, lab if lab.startswith("other:") or lab in only else f"other:{lab}:{i}")
                 for i, (gi, lab) in enumerate(items)]
    by_group: dict[int, Counter] = defaultdict(Counter)
    by_topic: dict[str, Counter] = defaultdict(Counter)
    for gi, lab in items:
        by_group[gi][lab] += 1
        by_topic[lab][gi] += 1
    topics = {lab for _, lab in items if not lab.startswith("other:")}
    # purity of the groups whose majority is an unanswerable topic
    pure_n = pure_total = 0
    for c in by_group.values():
        lab, n = c.most_common(1)[0]
        if lab in topics:
            pure_n += n
            pure_total += sum(c.values())
    recalls, recovered = [], 0
    for t in topics:
        gi, n = by_topic[t].most_common(1)[0]
        recalls.append(n / sum(by_topic[t].values()))
        if n * 2 >= sum(by_topic[t].values()) and by_group[gi].most_common(1)[0][0] == t:
            recovered += 1
    # BCubed over all distinct gap questions ("other" questions are each their own class)
    prec, rec = [], []
    for gi, lab in items:
        prec.append(by_group[gi][lab] / sum(by_group[gi].values()))
        rec.append(by_group[gi][lab] / sum(by_topic[lab].values()))
    p, r = statistics.mean(prec), statistics.mean(rec)
    return {"topics_in_gaps": len(topics), "purity": pure_n / max(1, pure_total),
            "recall": statistics.mean(recalls) if recalls else 0.0, "topics_recovered": recovered,
            "bcubed_precision": p, "bcubed_recall": r, "bcubed_f1": 2 * p * r / (p + r),
            "groups": len(by_group), "distinct_gap_questions": len(items)}


def resample(rows: list[dict], n: int, rng: random.Random) -> list[dict]:
    topics = sorted({r["topic"] for r in rows if r["topic"]})
    weight_of = {t: 1.0 / (rank + 1) ** 0.8 for rank, t in enumerate(rng.sample(topics, len(topics)))}
    weights = [weight_of[r["topic"]] * 4 if r["topic"] else 0.6 for r in rows]
    out = []
    for r in rng.choices(rows, weights=weights, k=n):
        if rng.random() < 0.3:
            r = {**r, "question": rng.choice(RESPELL).format(q=r["question"])}
        out.append(r)
    return out


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path, required=True, help="Index of the dev corpus")
    ap.add_argument("--corpus", type=Path, default=SHARED / "dev" / "corpus.jsonl")
    ap.add_argument("--dev", type=Path, default=SHARED / "dev" / "dev.jsonl")
    ap.add_argument("--clinic", type=Path, default=PROJECT_ROOT / "eval" / "clinic" / "questions.jsonl")
    ap.add_argument("--work", type=Path, default=PROJECT_ROOT / "out" / "bench-gaps")
    ap.add_argument("--size", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads (0 = every CPU, as `clinicqa gaps` uses; the API's workers use 1)")
    ap.add_argument("--sweep", default="0.4,0.45,0.5,0.55,0.6")
    ap.add_argument("--weights", default="0,0.3,0.5")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("qa.gaps", "faiss.loader", "sentence_transformers", "transformers", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    a.work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20261128)
    settings = Settings(index_dir=a.index, corpus_dir=a.corpus, cache_dir=str(a.work / "cache"),
                        query_threads=a.threads or usable_cpus())
    engine = Engine.load(settings)
    print("load:", uptime())

    answered_path = a.work / "answered.jsonl"
    stream = build_stream(a.dev, a.clinic, rng)
    cached = read_jsonl(answered_path) if answered_path.exists() else []
    if len(cached) == len(stream) and all("relevance" in r for r in cached):
        answered = cached
    else:
        answered = answer_stream(engine, stream)
        with open(answered_path, "w", encoding="utf-8") as f:
            for r in answered:
                f.write(json.dumps(r) + "\n")
    kinds = Counter(r["kind"] for r in answered)
    abst = Counter(r["kind"] for r in answered if r["abstained"])
    print(f"stream: {len(answered)} questions {dict(kinds)}; abstained {dict(abst)}")

    log = write_log(a.work / "log-stream.sqlite3", answered, engine.index_version, rng)
    label_of = {normalise(r["question"]): r["topic"] for r in answered if r["topic"]}
    halves: dict[str, set[str]] = {"tune": set(), "report": set()}
    for r in answered:
        if r["topic"]:
            halves[split_of(r["topic"])].add(r["topic"])
    print(f"\ntopics: {len(halves['tune'])} tune, {len(halves['report'])} report (split by doc_id hash)")
    # The sweep clusters the same distinct gap questions the report does (its grouping step only).
    rows = questions_from_log(log)
    distinct: dict[str, str] = {}
    for r in rows:
        if is_gap(r, settings):
            distinct.setdefault(normalise(r.question), r.question.strip())
    texts = list(distinct.values())
    vecs = engine.embedder.encode(texts)
    print("sweep (lexical weight w, distance d): purity / recall / topics recovered on the tune | report topics;"
          " BCubed F1 (all); groups")
    for w in [float(x) for x in a.weights.split(",")]:
        for d in [float(x) for x in a.sweep.split(",")]:
            labels = cluster(vecs, d, texts=texts, lexical_weight=w, lexicon=engine.lexicon)
            items = [(int(g), label_of.get(normalise(t)) or f"other:{normalise(t)}")
                     for g, t in zip(labels, texts, strict=True)]
            qt, qr = grouping_quality(items, halves["tune"]), grouping_quality(items, halves["report"])
            print(f"  w {w:.1f} d {d:.2f}: tune {qt['purity']:.3f}/{qt['recall']:.3f}/{qt['topics_recovered']}"
                  f"  report {qr['purity']:.3f}/{qr['recall']:.3f}/{qr['topics_recovered']}/{qr['topics_in_gaps']}"
                  f"  F1 {grouping_quality(items)['bcubed_f1']:.3f}  groups {len(set(labels.tolist()))}")
    t0 = time.perf_counter()
    rep = gap_report_from_log(engine, settings, log, now=NOW)
    print(f"\nreport on the stream with the defaults (w {settings.gap_lexical_weight}, d "
          f"{settings.gap_cluster_distance}) in {time.perf_counter() - t0:.2f} s:")
    items = report_items(rep, label_of)
    q = grouping_quality(items)
    print(f"  all 80 topics: purity {q['purity']:.3f}  recall {q['recall']:.3f}  topics recovered "
          f"{q['topics_recovered']}/{q['topics_in_gaps']}  BCubed P {q['bcubed_precision']:.3f} "
          f"R {q['bcubed_recall']:.3f} F1 {q['bcubed_f1']:.3f}  groups {q['groups']} "
          f"(distinct gap questions {q['distinct_gap_questions']})")
    q = grouping_quality(items, halves["report"])
    print(f"  report-half topics only: purity {q['purity']:.3f}  recall {q['recall']:.3f}  topics recovered "
          f"{q['topics_recovered']}/{q['topics_in_gaps']}")
    kinds_of = Counter(str(g.kind) for g in rep.groups)
    print(f"default ({settings.gap_cluster_distance}): kinds {dict(kinds_of)}; top groups:")
    for g in rep.groups[:8]:
        print(f"  #{g.rank} x{g.count} [{g.kind}] {g.label!r} -> {g.closest.title if g.closest else None} "
              f"({g.closest.score if g.closest else 0:.2f})")
    log.dispose()

    big = resample(answered, a.size, rng)
    big_log = write_log(a.work / "log-10k.sqlite3", big, engine.index_version, rng)
    distinct = len({normalise(r["question"]) for r in big})
    print(f"\n{len(big)} logged questions, {distinct} distinct texts")
    for label in ("cold", "warm"):
        times, parts = [], []
        for _ in range(a.runs):
            if label == "cold":
                shutil.rmtree(a.work / "cache", ignore_errors=True)
            t0 = time.perf_counter()
            r10 = gap_report_from_log(engine, settings, big_log, now=NOW)
            times.append(time.perf_counter() - t0)
            parts.append(r10.timings_s)
        med = statistics.median(times)
        mid = parts[times.index(sorted(times)[len(times) // 2])]
        print(f"  {label} vector cache: median {med:.2f} s over {a.runs} runs (all: "
              f"{', '.join(f'{t:.2f}' for t in times)}); parts of the median run {mid}; "
              f"{r10.gap_questions} gap questions, {len(r10.groups)} groups; {uptime()}")
    # A day later: 500 new questions (new spellings) on top of the 10,000, caches warm from the runs above.
    new = [{**r, "question": rng.choice(NEW_SPELLINGS).format(q=r["question"])} for r in resample(answered, 500, rng)]
    more = write_log(a.work / "log-10k.sqlite3", big + new, engine.index_version, random.Random(7))
    t0 = time.perf_counter()
    r11 = gap_report_from_log(engine, settings, more, now=NOW)
    print(f"  +500 new questions ({len({normalise(r['question']) for r in new})} new texts), warm caches: "
          f"{time.perf_counter() - t0:.2f} s; parts {r11.timings_s}; {len(r11.groups)} groups; {uptime()}")
    more.dispose()
    big_log.dispose()
    print("cpus:", os.cpu_count())


if __name__ == "__main__":
    main()
