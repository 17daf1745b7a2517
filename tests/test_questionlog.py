"""The question log against SQLite and a real PostgreSQL server.

PostgreSQL: ``export CLINICQA_TEST_POSTGRES_URL=$(bash scripts/postgres.sh)`` first.
Without it the PostgreSQL cases are skipped locally and fail under CI (CI=true).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from qa.errors import InputError
from qa.questionlog import (
    Base,
    FeedbackRecord,
    LogEntry,
    LogWriter,
    QuestionLog,
    QuestionRecord,
    make_engine,
    normalise_url,
    purge_expired,
    purge_log,
)

PG_URL = os.environ.get("CLINICQA_TEST_POSTGRES_URL", "")


def _no_pg() -> None:
    message = ("PostgreSQL not configured: export CLINICQA_TEST_POSTGRES_URL=$(bash scripts/postgres.sh)")
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log.sqlite3'}"
    if not PG_URL:
        _no_pg()
    engine = make_engine(PG_URL)
    Base.metadata.drop_all(engine)
    engine.dispose()
    return PG_URL


@pytest.fixture
def log(db_url: str) -> QuestionLog:
    qlog = QuestionLog(db_url)
    yield qlog
    qlog.dispose()


def entry(n: int, **kw: object) -> LogEntry:
    defaults: dict[str, object] = dict(
        answer_id=f"a{n:04d}", question=f"question number {n}?", audience="patient",
        abstained=n % 2 == 1, reason="low_confidence" if n % 2 else "answered",
        confidence=0.5, latency_ms=12.5, index_version="v1",
    )
    defaults.update(kw)
    return LogEntry(**defaults)  # type: ignore[arg-type]


def test_record_and_page(log: QuestionLog) -> None:
    now = datetime.now(UTC)
    log.record([entry(i, created_at=now - timedelta(minutes=10 - i)) for i in range(7)])
    page = log.questions(page=1, page_size=3)
    assert page.total == 7
    assert [q.answer_id for q in page.items] == ["a0006", "a0005", "a0004"]  # newest first
    last = log.questions(page=3, page_size=3)
    assert [q.answer_id for q in last.items] == ["a0000"]
    first = page.items[0]
    assert first.created_at.tzinfo is not None
    assert abs((first.created_at - (now - timedelta(minutes=4))).total_seconds()) < 1
    assert first.latency_ms == 12.5 and first.index_version == "v1"
    abstained = log.questions(abstained=True)
    assert abstained.total == 3 and all(q.abstained for q in abstained.items)
    assert log.questions(reason="answered").total == 4
    with pytest.raises(InputError):
        log.questions(page=0)


def test_questions_and_comments_are_redacted(log: QuestionLog) -> None:
    log.record([entry(1, question="My name is Ramesh Kumar, my number is 98450 12345. Can I drive home?")])
    log.add_feedback("a0001", helpful=False, comment="call me on +91 98765 43210 please")
    stored = log.questions().items[0]
    assert "98450 12345" not in stored.question and "Ramesh" not in stored.question
    assert "Can I drive home?" in stored.question
    assert stored.feedback[0].comment is not None and "98765" not in stored.feedback[0].comment
    with log.engine.connect() as conn:  # nothing raw anywhere in the tables
        texts = conn.execute(select(QuestionRecord.question)).scalars().all()
        comments = conn.execute(select(FeedbackRecord.comment)).scalars().all()
    assert not any("98450" in t for t in texts) and not any("98765" in (c or "") for c in comments)


def test_names_of_the_issue_never_reach_the_stored_questions(log: QuestionLog) -> None:
    asked = ["This is priya raman, can I drive after the block?", "Priya Raman here, is fasting needed?",
             "hi doctor i am Lakshmi Narayanan, will it hurt?", "will I be sleepy? - Priya (ph 98450 12345)"]
    log.record([entry(i, question=q) for i, q in enumerate(asked)])
    stored = sorted(log.questions().items, key=lambda q: q.answer_id)
    assert [q.question for q in stored] == [
        "This is [NAME], can I drive after the block?", "[NAME] here, is fasting needed?",
        "hi doctor i am [NAME], will it hurt?", "will I be sleepy? - [NAME] (ph [PHONE])"]


def test_comments_are_stored_without_bidi_or_zero_width_characters(log: QuestionLog) -> None:
    log.record([entry(1)])
    log.add_feedback("a0001", helpful=False, comment="the \u202eanswer\u202c was\u200b wrong")
    assert log.questions().items[0].feedback[0].comment == "the answer was wrong"


def test_feedback_joins_its_question(log: QuestionLog) -> None:
    log.record([entry(1), entry(2)])
    log.add_feedback("a0002", helpful=True)
    log.add_feedback("a0002", helpful=False, comment="  ")
    log.add_feedback("unknown-id", helpful=True)  # kept even without its question
    assert log.has_answer("a0002") and not log.has_answer("nope")
    items = {q.answer_id: q for q in log.questions().items}
    assert [f.helpful for f in items["a0002"].feedback] == [True, False]
    assert items["a0002"].feedback[1].comment is None
    assert items["a0001"].feedback == ()


def test_purge_expired(log: QuestionLog, db_url: str) -> None:
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=91), now - timedelta(days=89)
    log.record([entry(1, created_at=old), entry(2, created_at=recent), entry(3, created_at=old)])
    log.add_feedback("a0001", helpful=True, created_at=recent)  # belongs to an expired question
    log.add_feedback("a0002", helpful=True, created_at=recent)
    log.add_feedback("zzz", helpful=False, created_at=old)  # old orphan feedback
    assert purge_expired(log.engine, 90) == 2
    assert [q.answer_id for q in log.questions().items] == ["a0002"]
    with Session(log.engine) as session:
        assert session.scalars(select(FeedbackRecord.answer_id)).all() == ["a0002"]
    assert purge_expired(log.engine, 90) == 0
    # A Session (the caller commits) and a URL work too.
    log.record([entry(4, created_at=old)])
    with Session(log.engine) as session:
        assert purge_expired(session, 90) == 1
        session.commit()
    log.record([entry(5, created_at=old)])
    assert purge_log(db_url, 90) == 1
    assert log.questions().total == 1
    with pytest.raises(InputError):
        purge_expired(log.engine, 0)


def test_purge_creates_missing_tables(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert purge_expired(engine, 30) == 0
    finally:
        engine.dispose()


def test_writer_writes_in_background(log: QuestionLog) -> None:
    written: list[int] = []
    writer = LogWriter(log, on_written=written.append).start()
    try:
        for i in range(250):
            assert writer.submit(entry(i))
        assert writer.flush(10)
    finally:
        writer.close()
    assert sum(written) == 250 == writer.written and writer.dropped == 0
    assert log.questions().total == 250


def test_writer_retries_row_by_row(log: QuestionLog) -> None:
    log.record([entry(1)])
    drops: list[tuple[int, str]] = []
    writer = LogWriter(log, retry_delay=0.01, on_dropped=lambda n, why: drops.append((n, why))).start()
    for n in (2, 1, 3):  # a1 is a duplicate: the batch fails, the retry keeps the two good rows
        writer.submit(entry(n))
    assert writer.flush(10)
    writer.close()
    assert {q.answer_id for q in log.questions().items} == {"a0001", "a0002", "a0003"}
    assert sum(n for n, _ in drops) == 1 and {why for _, why in drops} == {"db_error"}


@pytest.mark.parametrize("url", ["postgresql+psycopg://nobody@127.0.0.1:1/none", "sqlite:////proc/no/such/dir/x.db"])
def test_database_down_never_raises(url: str) -> None:
    log = QuestionLog(make_engine(url, connect_timeout=1), redactor=str)
    drops: list[tuple[int, str]] = []
    writer = LogWriter(log, retry_delay=0.01, on_dropped=lambda n, why: drops.append((n, why))).start()
    for i in range(3):
        assert writer.submit(entry(i))  # queued: the write happens in the thread
    assert writer.flush(30)
    writer.close()
    assert writer.written == 0 and writer.dropped == 3
    assert sum(n for n, _ in drops) == 3


def test_full_queue_drops_and_counts() -> None:
    log = QuestionLog("sqlite://", redactor=str)
    drops: list[str] = []
    writer = LogWriter(log, maxsize=2, on_dropped=lambda n, why: drops.append(why))  # not started
    assert writer.submit(entry(1)) and writer.submit(entry(2))
    assert not writer.submit(entry(3))
    assert drops == ["queue_full"] and writer.dropped == 1


def test_locked_sqlite_is_retried(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite3"
    log = QuestionLog(make_engine(f"sqlite:///{path}", connect_timeout=0.1), redactor=str)
    log.ensure_schema()
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN EXCLUSIVE")
    writer = LogWriter(log, retry_delay=0.8).start()
    writer.submit(entry(1))
    threading.Timer(0.4, lambda: blocker.execute("COMMIT")).start()
    assert writer.flush(10)
    writer.close()
    blocker.close()
    assert writer.written == 1 and writer.dropped == 0
    assert log.questions().total == 1


def test_engine_url_and_sqlite_pragmas(tmp_path: Path) -> None:
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"
    nested = tmp_path / "a" / "b" / "log.sqlite3"
    engine: Engine = make_engine(f"sqlite:///{nested}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()
    assert nested.parent.is_dir()



def test_purge_log_command_deletes_old_questions_and_keeps_recent_ones(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from typer.testing import CliRunner

    from qa.cli import app
    from qa.questionlog import QuestionRecord, create_tables, make_engine, utcnow

    url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    eng = make_engine(url)
    create_tables(eng)
    from sqlalchemy.orm import Session

    with Session(eng) as s:
        for age, aid in ((200, "old"), (1, "new")):
            s.add(QuestionRecord(answer_id=aid, question="[redacted] q", audience="patient", abstained=False,
                                 reason="answered", index_version="v1",
                                 confidence=0.9, latency_ms=10.0, created_at=utcnow() - timedelta(days=age)))
        s.commit()
    monkeypatch.setenv("CLINICQA_DATABASE_URL", url)
    res = CliRunner().invoke(app, ["purge-log", "--days", "90"])
    assert res.exit_code == 0, res.output
    assert "Deleted 1 question" in res.output
    with Session(eng) as s:
        assert [r.answer_id for r in s.query(QuestionRecord).all()] == ["new"]
    res = CliRunner().invoke(app, ["purge-log", "--days", "0"])
    assert res.exit_code == 2 and "at least 1" in res.output


# --- what the gap report and the coverage map read (issue 5) ----------------------------------------------

def test_answers_keeps_the_quoted_section_and_tallies_votes(log: QuestionLog) -> None:
    now = datetime.now(UTC)
    log.record([
        entry(1, created_at=now - timedelta(days=40)),
        entry(2, created_at=now - timedelta(days=2), doc_id="page-a", section="How long does it last?",
              chunk_id="c1"),
        entry(3, created_at=now - timedelta(days=1)),
    ])
    log.add_feedback("a0002", helpful=False)
    log.add_feedback("a0002", helpful=False)
    log.add_feedback("a0002", helpful=True)
    rows = log.answers()
    assert [r.answer_id for r in rows] == ["a0001", "a0002", "a0003"]  # oldest first
    second = rows[1]
    assert (second.doc_id, second.section) == ("page-a", "How long does it last?")
    assert (second.helpful, second.unhelpful) == (1, 2)
    assert (rows[0].helpful, rows[0].unhelpful) == (0, 0) and rows[0].section is None
    assert [r.answer_id for r in log.answers(since=now - timedelta(days=30))] == ["a0002", "a0003"]


def test_old_log_database_without_section_columns_keeps_working(db_url: str) -> None:
    """A question_log table as clinicqa 0.1 created it (no section / chunk_id) gains the nullable columns at
    ensure_schema; its rows read NULL there. SQLite and PostgreSQL."""
    from sqlalchemy import inspect, text

    engine = make_engine(db_url)
    pk = "INTEGER PRIMARY KEY" if engine.dialect.name == "sqlite" else "BIGSERIAL PRIMARY KEY"
    with engine.begin() as conn:
        conn.execute(text(
            f"CREATE TABLE question_log (id {pk}, answer_id VARCHAR(64) UNIQUE, created_at TIMESTAMP, "
            "question TEXT, audience VARCHAR(16), procedure VARCHAR(100), category VARCHAR(100), abstained BOOLEAN, "
            "reason VARCHAR(32), confidence FLOAT, latency_ms FLOAT, index_version VARCHAR(64), cached BOOLEAN, "
            "doc_id VARCHAR(200))"))
        conn.execute(text(
            "INSERT INTO question_log (answer_id, created_at, question, audience, abstained, reason, confidence, "
            "latency_ms, index_version, cached, doc_id) VALUES ('old1', '2026-11-01 10:00:00', 'where can I park?', "
            "'patient', TRUE, 'no_relevant_passage', 0.1, 10, 'v0', FALSE, NULL)"))
    engine.dispose()
    log = QuestionLog(db_url)
    try:
        log.record([entry(7, doc_id="page-a", section="Parking")])
        rows = {r.answer_id: r for r in log.answers()}
        assert rows["old1"].question == "where can I park?" and rows["old1"].section is None
        assert rows["a0007"].section == "Parking"
        assert log.questions().total == 2
        cols = {c["name"] for c in inspect(log.engine).get_columns("question_log")}
        assert {"section", "chunk_id"} <= cols
    finally:
        log.dispose()


# --- the SQLite file or its folder deleted while the service runs ------------------------------------------

def _rows(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT answer_id FROM question_log")}


def test_a_deleted_sqlite_folder_makes_the_log_unavailable_not_silently_lost(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import shutil

    folder = tmp_path / "logdb"
    log = QuestionLog(f"sqlite:///{folder / 'log.sqlite3'}", redactor=str)
    writer = LogWriter(log, retry_delay=0.01).start()
    writer.submit(entry(1))
    assert writer.flush(10) and writer.written == 1 and writer.last_error is None
    shutil.rmtree(folder)
    caplog.set_level(logging.ERROR, logger="qa.questionlog")
    writer.submit(entry(2))
    writer.submit(entry(3))
    assert writer.flush(30)
    assert writer.written == 1 and writer.dropped == 2  # counted as lost, not reported written
    assert writer.last_error is not None and str(folder) in writer.last_error
    assert any("deleted" in r.getMessage() for r in caplog.records)
    folder.mkdir()  # the folder is back: logging resumes, in a new file
    writer.submit(entry(4))
    assert writer.flush(30)
    writer.close()
    assert writer.written == 2 and writer.last_error is None
    assert _rows(folder / "log.sqlite3") == {"a0004"}
    log.dispose()


def test_a_deleted_sqlite_file_is_started_afresh_and_said_so(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "log.sqlite3"
    log = QuestionLog(f"sqlite:///{path}", redactor=str)
    log.record([entry(1)])
    for leftover in (path, tmp_path / "log.sqlite3-wal", tmp_path / "log.sqlite3-shm"):
        leftover.unlink(missing_ok=True)
    caplog.set_level(logging.ERROR, logger="qa.questionlog")
    log.record([entry(2)])
    assert _rows(path) == {"a0002"}  # written to a file that exists, not into the deleted one
    assert any("was deleted" in r.getMessage() for r in caplog.records)
    log.dispose()
