"""Coverage map: answers tallied per page and section of the real clinic index; unused sections; pages
with many unhelpful votes; CSV/JSON export."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

from qa.coverage import CSV_COLUMNS, coverage_map, coverage_to_dict, to_csv
from qa.engine import Engine
from qa.gaps import GapQuestion
from qa.settings import Settings

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def sections_of(engine: Engine, doc_id: str) -> list[str]:
    return list(dict.fromkeys(c.section for c in engine.data.chunks if c.doc_id == doc_id))


def answered(doc_id: str, section: str | None, confidence: float, *, helpful: int = 0, unhelpful: int = 0,
             days_ago: float = 1) -> GapQuestion:
    return GapQuestion(question="q", abstained=False, reason="answered", confidence=confidence,
                       created_at=NOW - timedelta(days=days_ago), doc_id=doc_id, section=section,
                       helpful=helpful, unhelpful=unhelpful)


def test_counts_confidence_and_feedback_per_section(engine: Engine, clinic_settings: Settings) -> None:
    ilio = sections_of(engine, "iliopsoas-injection")
    after = next(s for s in ilio if s.startswith("What can I expect after"))
    rows = [
        answered("iliopsoas-injection", after, 0.9, helpful=1, days_ago=3),
        answered("iliopsoas-injection", after, 0.7, unhelpful=1, days_ago=1),
        answered("iliopsoas-injection", ilio[0], 0.8),
        answered("iliopsoas-injection", None, 0.85),  # logged before sections were recorded
        answered("a-page-removed-since", "Old section", 0.9),
        GapQuestion(question="where can I park?", abstained=True, reason="no_relevant_passage", confidence=0.1),
    ]
    cmap = coverage_map(engine, clinic_settings, rows, now=NOW)
    assert (cmap.total_questions, cmap.answered, cmap.abstained, cmap.outside_index) == (6, 5, 1, 1)
    sec = next(s for s in cmap.sections if s.doc_id == "iliopsoas-injection" and s.section == after)
    assert sec.answered == 2 and sec.mean_confidence == 0.8 and sec.min_confidence == 0.7
    assert (sec.helpful, sec.unhelpful) == (1, 1) and sec.last_answered == NOW - timedelta(days=1)
    page = next(p for p in cmap.pages if p.doc_id == "iliopsoas-injection")
    assert page.answered == 4 and page.unknown_section == 1
    assert page.sections == len(ilio) and page.sections_used == 2
    # every section of the index is listed once; the ones no answer quoted are "unused"
    assert len(cmap.sections) == len({(c.doc_id, c.section) for c in engine.data.chunks})
    unused = {(s.doc_id, s.section) for s in cmap.unused_sections}
    assert ("iliopsoas-injection", after) not in unused
    assert all((d, s) in unused for d, s in {(c.doc_id, c.section) for c in engine.data.chunks}
               if d != "iliopsoas-injection")
    assert {s.synthetic for s in cmap.sections if s.doc_id == "faq-dos-and-donts"} == {True}


def test_pages_with_many_unhelpful_votes_are_flagged(engine: Engine, clinic_settings: Settings) -> None:
    sec = sections_of(engine, "genicular-nerve-block")[0]
    rows = [answered("genicular-nerve-block", sec, 0.8, unhelpful=1) for _ in range(3)]
    rows += [answered("genicular-nerve-block", sec, 0.8, helpful=1) for _ in range(4)]
    rows += [answered("occipital-nerve-block", sections_of(engine, "occipital-nerve-block")[0], 0.9, unhelpful=2)]
    cmap = coverage_map(engine, clinic_settings, rows, now=NOW)
    assert [p.doc_id for p in cmap.unhelpful_pages] == ["genicular-nerve-block"]  # 3 of 7 votes ≥ 30 %
    stricter = clinic_settings.model_copy(update={"coverage_unhelpful_share": 0.5})
    assert coverage_map(engine, stricter, rows, now=NOW).unhelpful_pages == ()
    assert cmap.pages[0].doc_id == "genicular-nerve-block"  # most unhelpful first


def test_csv_and_json_export(engine: Engine, clinic_settings: Settings) -> None:
    sec = sections_of(engine, "genicular-nerve-block")[0]
    cmap = coverage_map(engine, clinic_settings, [answered("genicular-nerve-block", sec, 0.8)], now=NOW)
    rows = list(csv.reader(io.StringIO(to_csv(cmap))))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 1 + len(cmap.sections)
    used = [r for r in rows[1:] if r[0] == "genicular-nerve-block" and r[2] == sec]
    assert used and used[0][4] == "1" and used[0][10] == "False"
    data = json.loads(json.dumps(coverage_to_dict(cmap)))
    assert data["answered"] == 1 and len(data["unused_sections"]) == len(cmap.sections) - 1


def test_coverage_command_reads_the_log(clinic_settings: Settings, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from qa.cli import app
    from qa.questionlog import LogEntry, QuestionLog

    url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    log = QuestionLog(url)
    log.record([LogEntry(answer_id="x1", question="will my leg feel weak?", audience="patient", abstained=False,
                         reason="answered", confidence=0.9, latency_ms=10, index_version="v",
                         doc_id="iliopsoas-injection", section="What can I expect after the procedure?")])
    log.dispose()
    monkeypatch.setenv("CLINICQA_DATABASE_URL", url)
    monkeypatch.setenv("CLINICQA_CORPUS_DIR", str(clinic_settings.corpus_dir))
    runner = CliRunner()
    res = runner.invoke(app, ["coverage", "--index", str(clinic_settings.index_dir), "--format", "csv"])
    assert res.exit_code == 0, res.output
    rows = list(csv.reader(io.StringIO(res.stdout)))
    assert tuple(rows[0]) == CSV_COLUMNS
    hit = [r for r in rows[1:] if r[0] == "iliopsoas-injection" and r[2] == "What can I expect after the procedure?"]
    assert hit and hit[0][4] == "1"
    table = runner.invoke(app, ["coverage", "--index", str(clinic_settings.index_dir)])
    assert table.exit_code == 0 and "never used" in table.stdout
    monkeypatch.setenv("CLINICQA_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    down = runner.invoke(app, ["coverage", "--index", str(clinic_settings.index_dir)])
    assert down.exit_code == 2 and "question log" in down.output and "Traceback" not in down.output
