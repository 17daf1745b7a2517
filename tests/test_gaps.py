"""Gap report: grouping paraphrases, naming, ranking, kinds, export, the questions-file input and the
re-run after a reindex — with the real engine on the clinic corpus (tests/conftest.py)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from qa.engine import Engine
from qa.errors import InputError
from qa.gaps import (
    CSV_COLUMNS,
    GapKind,
    GapQuestion,
    VectorCache,
    cluster,
    gap_report,
    parse_since,
    questions_from_jsonl,
    report_to_dict,
    to_csv,
)
from qa.indexing import build_index
from qa.settings import Settings

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

# Four topics the clinic pages don't cover, three paraphrases each.
GROUPS = {
    "parking": ["where can I park my car?", "is there a car park for patients?",
                "where do I park when I come for my injection?"],
    "cost": ["how much does the injection cost?", "what is the price of the injection?",
             "how much will I have to pay for the injection?"],
    "hours": ["what are the clinic's opening hours?", "what time does the clinic open?",
              "when is the clinic open on weekdays?"],
    "insurance": ["is the injection covered by my health insurance?",
                  "will my health insurance pay for the procedure?", "do you accept health insurance?"],
}


def gap(question: str, *, days_ago: float = 1, version: str = "v-test", **kw: object) -> GapQuestion:
    values: dict[str, object] = dict(question=question, abstained=True, reason="no_relevant_passage",
                                     confidence=0.1, created_at=NOW - timedelta(days=days_ago),
                                     index_version=version)
    values.update(kw)
    return GapQuestion(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(clinic_settings: Settings, tmp_path: Path) -> Settings:
    return clinic_settings.model_copy(update={"cache_dir": str(tmp_path / "cache")})


def hand_made_log(engine: Engine) -> list[GapQuestion]:
    """Parking asked 6 times, cost 4, hours 3, insurance 3; all under the serving index."""
    rows = []
    for topic, questions in GROUPS.items():
        for q in questions:
            rows.append(gap(q, version=engine.index_version, topic=topic))
    rows += [gap("where can I park my car?", days_ago=10, version=engine.index_version),
             gap("Where can I park my car", days_ago=0.5, version=engine.index_version),
             gap("is there a car park for patients?", days_ago=3, version=engine.index_version),
             gap("how much does the injection cost?", days_ago=2, version=engine.index_version)]
    return rows


def test_paraphrases_are_grouped_by_topic_and_named_by_a_member(engine: Engine, settings: Settings) -> None:
    report = gap_report(engine, settings, hand_made_log(engine), now=NOW)
    got = {frozenset(g.questions) for g in report.groups}
    assert got == {frozenset(qs) for qs in GROUPS.values()}
    for g in report.groups:
        assert g.label in g.questions and g.examples[0] in g.questions
        assert g.distinct == 3


def test_groups_count_patients_and_are_ranked_with_first_and_last_seen(engine: Engine,
                                                                        settings: Settings) -> None:
    report = gap_report(engine, settings, hand_made_log(engine), now=NOW)
    counts = {g.label: g.count for g in report.groups}
    parking = next(g for g in report.groups if "where can I park my car?" in g.questions)
    assert parking.count == 6 and parking.rank == 1  # asked most, recently, nothing close
    assert parking.examples[0] == "where can I park my car?"  # the most asked spelling first
    assert parking.first_seen == NOW - timedelta(days=10) and parking.last_seen == NOW - timedelta(days=0.5)
    assert sorted(counts.values(), reverse=True) == [6, 4, 3, 3]
    assert [g.rank for g in report.groups] == [1, 2, 3, 4]
    assert report.gap_questions == 16 and report.total_questions == 16
    # Recency: the same group asked long ago ranks below a fresh one asked as often.
    old = [gap(q, days_ago=300, version=engine.index_version) for q in GROUPS["hours"] * 3]
    fresh = [gap(q, days_ago=1, version=engine.index_version) for q in GROUPS["insurance"] * 3]
    ranked = gap_report(engine, settings, old + fresh, now=NOW).groups
    assert "do you accept health insurance?" in ranked[0].questions


def test_closest_page_and_kind_of_gap(engine: Engine, settings: Settings) -> None:
    rows = [gap("where can I park my car?"),
            gap("how long does an epidural steroid injection take?", reason="low_confidence", confidence=0.6)]
    report = gap_report(engine, settings, rows, now=NOW)
    kinds = {g.label: g for g in report.groups}
    park = kinds["where can I park my car?"]
    assert park.kind == GapKind.NO_PAGE
    epidural = kinds["how long does an epidural steroid injection take?"]
    assert epidural.kind == GapKind.PAGE_EXISTS_BUT_SECTION_MISSING
    assert epidural.closest is not None and epidural.closest.doc_id == "epidural-steroid-injection"
    assert epidural.closest.section and 0.0 <= epidural.closest.score <= 1.0
    assert epidural.closest.relevance >= settings.gap_page_relevance > (park.closest.relevance if park.closest
                                                                        else 0.0)


def test_answered_but_unhelpful_and_what_is_not_a_gap(engine: Engine, settings: Settings) -> None:
    answered = dict(abstained=False, reason="answered", confidence=0.95, doc_id="iliopsoas-injection")
    rows = [
        gap("will my leg feel weak?", unhelpful=2, **answered),  # type: ignore[arg-type]
        gap("will my leg feel weak afterwards?", unhelpful=1, **answered),  # type: ignore[arg-type]
        gap("what is an epidural steroid injection?", **answered),  # type: ignore[arg-type]  # fine: no gap
        gap("I have chest pain and can't breathe", reason="emergency", confidence=0.0),  # escalation
        gap("should I stop my warfarin?", reason="needs_clinician", confidence=0.2),  # referral
    ]
    report = gap_report(engine, settings, rows, now=NOW)
    assert report.total_questions == 5 and report.gap_questions == 2
    assert len(report.groups) == 1
    group = report.groups[0]
    assert group.kind == GapKind.ANSWERED_BUT_UNHELPFUL and group.unhelpful_votes == 3
    low = gap_report(engine, settings, [gap("will my leg feel weak?", abstained=False, reason="answered",
                                            confidence=0.75)], now=NOW)
    assert low.groups[0].low_confidence == 1  # answered, but below gap_low_confidence


def test_csv_export_has_header_and_one_row_per_group(engine: Engine, settings: Settings) -> None:
    report = gap_report(engine, settings, hand_made_log(engine), now=NOW)
    rows = list(csv.reader(io.StringIO(to_csv(report))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 1 + len(report.groups)
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["rank"] == "1" and first["count"] == "6" and first["kind"] == "no_page"
    assert " | " in first["examples"]
    data = json.loads(json.dumps(report_to_dict(report)))
    assert data["groups"][0]["count"] == 6 and data["groups"][0]["first_seen"].startswith("2026-11-18")


def test_csv_export_neutralises_a_formula_typed_by_a_patient(engine: Engine, settings: Settings) -> None:
    evil = '=HYPERLINK("http://evil.example","click")'
    report = gap_report(engine, settings, [gap(evil), gap(evil), gap("-1+1 where can I park?")], now=NOW)
    rows = [dict(zip(CSV_COLUMNS, r, strict=True)) for r in list(csv.reader(io.StringIO(to_csv(report))))[1:]]
    labels = {r["label"] for r in rows}
    assert "'" + evil in labels and "'-1+1 where can I park?" in labels
    assert all(not r[c].startswith(("=", "+", "-", "@")) for r in rows for c in CSV_COLUMNS
               if c not in ("closest_score", "closest_relevance", "priority", "now_answered_confidence"))


def test_large_log_clustering_path_agrees_with_exact_on_the_hand_made_groups(engine: Engine) -> None:
    questions = [q for qs in GROUPS.values() for q in qs]
    vectors = engine.embedder.encode(questions)
    exact = cluster(vectors, 0.55)
    knn = cluster(vectors, 0.55, exact_max=6)  # 6 exactly, the other 6 merged in as a block

    def partition(labels: np.ndarray) -> set[frozenset[str]]:
        return {frozenset(q for q, lab in zip(questions, labels, strict=True) if lab == k) for k in set(labels)}

    assert partition(exact) == partition(knn) == {frozenset(qs) for qs in GROUPS.values()}
    assert len(cluster(vectors[:1], 0.55)) == 1 and len(cluster(vectors[:0], 0.55)) == 0


def test_question_vectors_are_cached_on_disk(engine: Engine, tmp_path: Path) -> None:
    calls: list[int] = []

    class Counting:
        dimension = engine.embedder.dimension

        def encode(self, texts: list[str]) -> np.ndarray:
            calls.append(len(texts))
            return engine.embedder.encode(texts)

    cache = VectorCache(tmp_path, "model-x")
    first = cache.encode(Counting(), ["a question", "another question"])  # type: ignore[arg-type]
    cache.save()
    second = VectorCache(tmp_path, "model-x")
    again = second.encode(Counting(), ["another question", "a question", "new one"])  # type: ignore[arg-type]
    second.save()
    assert calls == [2, 1]
    assert np.allclose(again[0], first[1]) and np.allclose(again[1], first[0])
    assert not any("question" in p.name for p in tmp_path.iterdir() if p.suffix != ".npz")
    # Only what the latest report used is kept: vectors of questions gone from the log are dropped.
    third = VectorCache(tmp_path, "model-x")
    third.encode(Counting(), ["new one"])  # type: ignore[arg-type]
    third.save()
    with np.load(next(tmp_path.glob("question-vectors-*.npz"))) as data:
        assert len(data["keys"]) == 1 and data["keys"][0] == third.key("new one")


def test_since_periods() -> None:
    assert parse_since("30d") == timedelta(days=30) and parse_since("12h") == timedelta(hours=12)
    assert parse_since("2w") == timedelta(weeks=2) and parse_since("7") == timedelta(days=7)
    for bad in ("", "0d", "thirty days", "-3d"):
        with pytest.raises(InputError):
            parse_since(bad)


def test_questions_file_is_answered_against_the_index(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "questions.jsonl"
    lines = [{"question": q} for q in GROUPS["parking"]] + [{"question": "What is an epidural steroid injection?"}]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    rows = questions_from_jsonl(path, engine)
    assert len(rows) == 4 and all(r.index_version == engine.index_version for r in rows)
    assert rows[0].abstained and not rows[3].abstained and rows[3].doc_id == "epidural-steroid-injection"
    report = gap_report(engine, settings, rows, source=str(path), now=NOW)
    assert [frozenset(g.questions) for g in report.groups] == [frozenset(GROUPS["parking"])]
    path.write_text('{"question": "ok?"}\nnot json\n')
    with pytest.raises(InputError, match=":2"):
        questions_from_jsonl(path, engine)
    path.write_text('{"q": "no question field"}\n')
    with pytest.raises(InputError, match="question"):
        questions_from_jsonl(path, engine)


def test_gaps_command_writes_csv_and_json(clinic_settings: Settings, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from qa.cli import app

    monkeypatch.setenv("CLINICQA_CORPUS_DIR", str(clinic_settings.corpus_dir))
    monkeypatch.setenv("CLINICQA_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(json.dumps({"question": q}) for q in GROUPS["cost"]) + "\n")
    runner = CliRunner()
    out = tmp_path / "gaps.csv"
    res = runner.invoke(app, ["gaps", "--questions", str(path), "--index", str(clinic_settings.index_dir),
                              "--format", "csv", "--output", str(out)])
    assert res.exit_code == 0, res.output
    rows = list(csv.reader(out.open()))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) >= 2
    js = runner.invoke(app, ["gaps", "--questions", str(path), "--index", str(clinic_settings.index_dir),
                             "--format", "json"])
    assert js.exit_code == 0 and json.loads(js.stdout)["source"] == str(path)
    table = runner.invoke(app, ["gaps", "--questions", str(path), "--index", str(clinic_settings.index_dir)])
    assert table.exit_code == 0 and "Coverage gaps" in table.stdout
    bad = runner.invoke(app, ["gaps", "--questions", str(tmp_path / "none.jsonl"),
                              "--index", str(clinic_settings.index_dir)])
    assert bad.exit_code == 2 and "No questions file" in bad.output and "Traceback" not in bad.output
    assert runner.invoke(app, ["gaps", "--since", "soon"]).exit_code == 2
    assert runner.invoke(app, ["gaps", "--format", "xml"]).exit_code == 2


FEES_PAGE = """---
title: Fees and Payment
doc_id: fees
url:
procedure: general
category: faq
last_reviewed: 2026-11-28
synthetic: true
---
# Fees and Payment

## How much does the injection cost?

The price of an injection at the clinic is between 4,000 and 9,000 rupees, depending on the procedure.
"""


def test_rerun_after_reindex_shows_the_gap_question_now_answered(clinic_settings: Settings, engine: Engine,
                                                                  tmp_path: Path) -> None:
    """The cost group was logged under the old index; a fees page is added and the index rebuilt; the gap
    report re-asks the group's questions against the new index and says which are answered now."""
    corpus = tmp_path / "corpus"
    shutil.copytree(clinic_settings.corpus_dir, corpus)
    index = tmp_path / "index"
    shutil.copytree(clinic_settings.index_dir, index, symlinks=True)  # incremental: only the new page is embedded
    settings = clinic_settings.model_copy(update={"corpus_dir": corpus, "index_dir": index,
                                                  "cache_dir": str(tmp_path / "cache")})
    old_version = engine.index_version
    rows = [gap(q, version=old_version) for q in GROUPS["cost"] + GROUPS["parking"]]
    before = gap_report(engine, settings, rows, now=NOW)
    assert all(g.now_answered is None for g in before.groups)  # same index: nothing to re-run

    (corpus / "fees.md").write_text(FEES_PAGE)
    build_index(settings)
    new = Engine.load(settings)
    assert new.index_version != old_version
    after = gap_report(new, settings, rows, now=NOW)
    cost = next(g for g in after.groups if "how much does the injection cost?" in g.questions)
    assert cost.now_answered is not None and cost.now_answered.answered >= 1
    assert cost.now_answered.doc_id == "fees" and cost.now_answered.index_version == new.index_version
    assert cost.now_answered.section == "How much does the injection cost?"
    assert cost.now_answered.confidence >= new.threshold
    parking = next(g for g in after.groups if "where can I park my car?" in g.questions)
    assert parking.now_answered is not None and parking.now_answered.answered == 0
    assert "2/3" in to_csv(after) or "3/3" in to_csv(after) or "1/3" in to_csv(after)
    # recheck="none" skips it; recheck="all" re-asks even under the same index.
    assert all(g.now_answered is None for g in gap_report(new, settings, rows, now=NOW, recheck="none").groups)
    same = [gap(q, version=new.index_version) for q in GROUPS["cost"]]
    assert gap_report(new, settings, same, now=NOW, recheck="all").groups[0].now_answered is not None


def test_questions_logged_under_the_serving_index_are_not_asked_again(engine: Engine, settings: Settings,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The log records the engine's best candidate and relevance also for abstentions: a report over rows
    logged under the serving index takes the closest page from them instead of calling Engine.ask."""
    rows = []
    for q in GROUPS["parking"]:
        a = engine.ask(q)
        assert a.best is not None and a.retrieved
        rows.append(gap(q, version=engine.index_version, confidence=a.confidence, reason=str(a.reason),
                        best_doc_id=a.best.doc_id, best_section=a.best.passage.chunk.section,
                        relevance=float(a.retrieved[0].dense)))
    fresh = gap_report(engine, settings, [replace(r, relevance=None) for r in rows], now=NOW)

    def no_ask(*args: object, **kwargs: object) -> None:
        raise AssertionError("Engine.ask should not be called")

    monkeypatch.setattr(engine, "ask", no_ask)
    settings = settings.model_copy(update={"cache_dir": ""})
    report = gap_report(engine, settings, rows, now=NOW)
    got, want = report.groups[0].closest, fresh.groups[0].closest
    assert got is not None and want is not None
    assert (got.doc_id, got.section, got.score, got.relevance) == (want.doc_id, want.section, want.score,
                                                                   want.relevance)
    assert report.groups[0].kind == fresh.groups[0].kind
