"""The question log: every question asked, the answer given, and the feedback on it, in a SQL database.

SQLite file by default, PostgreSQL (or anything SQLAlchemy 2 speaks) when ``Settings.database_url`` says so.

Privacy: question text and feedback comments go through :func:`qa.redaction.redact` *inside* this module,
before they are written, so no caller can store raw personal data by mistake. Entries older than the
retention period are deleted by :func:`purge_expired` (run at service start-up and by ``clinicqa purge-log``).

Robustness: the HTTP service never writes on the request path. It hands entries to a :class:`LogWriter`
(a bounded queue drained by one background thread, batched, retried once, then counted as dropped), so a
database that is down, slow or locked never makes a question fail. A SQLite file deleted while the service
runs is noticed before each use (an open connection would go on writing into the deleted file, and the
rows would be lost without a word): a deleted folder makes the log unavailable, like a PostgreSQL server
that is down, until it is back; a deleted file is started afresh, and both are logged as errors.

There is deliberately no foreign key from feedback to questions: feedback may arrive before the
background write of its question has landed (or after that write was dropped), and is still kept; the two
are joined on ``answer_id``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    Integer,
    String,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy import text as sql_text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.types import TypeDecorator

from qa.errors import ClinicQAError, InputError

logger = logging.getLogger(__name__)

Redactor = Callable[[str], str]

ANSWER_ID_MAX = 64
COMMENT_MAX = 2000
SECTION_MAX = 300


class LogFileMissingError(ClinicQAError):
    """The SQLite file's folder was deleted while the service ran: nothing can be written until it is back."""


def _default_redactor() -> Redactor:
    from qa.redaction import redact
    from qa.text import strip_invisible

    # Feedback comments do not pass through clean_question: drop the right-to-left override and
    # zero-width characters here too, so staff read what was written.
    return lambda text: redact(strip_invisible(text)).text


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores it naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UtcDateTime needs a timezone-aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


_BigId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only


class QuestionRecord(Base):
    __tablename__ = "question_log"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    answer_id: Mapped[str] = mapped_column(String(ANSWER_ID_MAX), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    question: Mapped[str] = mapped_column(Text)  # redacted
    audience: Mapped[str] = mapped_column(String(16))
    procedure: Mapped[str | None] = mapped_column(String(100))
    category: Mapped[str | None] = mapped_column(String(100))
    abstained: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(32))
    confidence: Mapped[float] = mapped_column(Float)
    latency_ms: Mapped[float] = mapped_column(Float)
    index_version: Mapped[str] = mapped_column(String(64))
    cached: Mapped[bool] = mapped_column(Boolean, default=False)
    doc_id: Mapped[str | None] = mapped_column(String(200))  # the page the answer quotes, if any
    # Added for the coverage map (issue 5): the section heading and chunk the answer quotes. Nullable, and
    # added to older databases by ``ensure_schema`` (rows logged before have NULL here).
    section: Mapped[str | None] = mapped_column(String(SECTION_MAX))
    chunk_id: Mapped[str | None] = mapped_column(String(64))
    # The engine's best candidate also when it abstained, and the cosine of question and best passage: the
    # gap report explains a question logged under the serving index from these, without asking again.
    best_doc_id: Mapped[str | None] = mapped_column(String(200))
    best_section: Mapped[str | None] = mapped_column(String(SECTION_MAX))
    relevance: Mapped[float | None] = mapped_column(Float)


class FeedbackRecord(Base):
    __tablename__ = "answer_feedback"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    answer_id: Mapped[str] = mapped_column(String(ANSWER_ID_MAX), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    helpful: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str | None] = mapped_column(Text)  # redacted


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One answered (or abstained) question, as the service hands it to the log. ``question`` is raw:
    the log redacts it before writing."""

    answer_id: str
    question: str
    audience: str
    abstained: bool
    reason: str
    confidence: float
    latency_ms: float
    index_version: str
    procedure: str | None = None
    category: str | None = None
    cached: bool = False
    doc_id: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    section: str | None = None  # heading of the section the answer quotes, if any
    chunk_id: str | None = None
    best_doc_id: str | None = None  # the best candidate's page and section, also when abstaining
    best_section: str | None = None
    relevance: float | None = None  # cosine similarity of the question and the best retrieved passage


@dataclass(frozen=True, slots=True)
class LoggedAnswer:
    """One logged question with its feedback tallied: the input of the gap report and the coverage map."""

    answer_id: str
    created_at: datetime
    question: str  # redacted
    abstained: bool
    reason: str
    confidence: float
    doc_id: str | None
    section: str | None
    index_version: str
    audience: str = "patient"
    helpful: int = 0  # feedback votes on this answer
    unhelpful: int = 0
    best_doc_id: str | None = None
    best_section: str | None = None
    relevance: float | None = None


@dataclass(frozen=True, slots=True)
class FeedbackView:
    helpful: bool
    comment: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class QuestionView:
    answer_id: str
    created_at: datetime
    question: str
    audience: str
    procedure: str | None
    category: str | None
    abstained: bool
    reason: str
    confidence: float
    latency_ms: float
    index_version: str
    cached: bool
    doc_id: str | None
    feedback: tuple[FeedbackView, ...] = ()


@dataclass(frozen=True, slots=True)
class QuestionPage:
    items: tuple[QuestionView, ...]
    total: int
    page: int
    page_size: int


@dataclass(frozen=True, slots=True)
class DailyAbstention:
    """Questions logged on one UTC day and how many of them the assistant abstained on."""

    day: date
    questions: int
    abstained: int

    @property
    def rate(self) -> float:
        return self.abstained / self.questions if self.questions else 0.0


def normalise_url(url: str) -> str:
    """``postgresql://`` / ``postgres://`` → the psycopg 3 driver (SQLAlchemy would pick psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str, *, connect_timeout: float = 3.0) -> Engine:
    """A SQLAlchemy engine for the log that fails fast when the database is unreachable or locked.

    ``hide_parameters`` keeps (redacted) question text out of error messages and so out of log lines.
    """
    url = normalise_url(url)
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"hide_parameters": True, "pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            with contextlib.suppress(OSError):  # unwritable: the writes fail and are counted
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": connect_timeout, "check_same_thread": False}
    elif parsed.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": max(1, int(connect_timeout))}
        kwargs["pool_size"] = 5
        kwargs["max_overflow"] = 5
        kwargs["pool_timeout"] = connect_timeout
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        busy_ms = int(connect_timeout * 1000)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            try:
                # WAL lets several uvicorn workers write while the content team reads.
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            except Exception:  # a read-only or locked file: the write itself will report it
                pass
            finally:
                cur.close()

    return engine


def create_tables(bind: Engine | Connection) -> None:
    Base.metadata.create_all(bind)


def add_missing_columns(engine: Engine) -> list[str]:
    """Add the nullable columns that newer versions added to existing tables (a log database created by
    an older clinicqa keeps working: its old rows read NULL there). Returns the columns added."""
    added: list[str] = []
    inspector = inspect(engine)
    for table in Base.metadata.sorted_tables:
        if not inspector.has_table(table.name):
            continue
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in have:
                continue
            if not column.nullable:
                raise InputError(
                    f"The question log table {table.name} lacks the column {column.name}, which cannot be "
                    "added automatically; move the old database aside and let clinicqa create a new one.")
            kind = column.type.compile(dialect=engine.dialect)
            with engine.begin() as conn:
                conn.execute(sql_text(f'ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}'))
            logger.info("question log: added column %s.%s", table.name, column.name)
            added.append(f"{table.name}.{column.name}")
    return added


def purge_expired(engine_or_session: Engine | Connection | Session | str, days: int, *,
                  now: datetime | None = None) -> int:
    """Delete questions (and their feedback) older than ``days`` days; return how many questions went.

    Accepts an Engine or a URL (commits itself), or a Connection / Session (the caller commits).
    Feedback older than the cutoff is deleted too, whether or not its question was logged.
    """
    if days < 1:
        raise InputError(f"retention must be at least 1 day (got {days}); set CLINICQA_RETENTION_DAYS")
    cutoff = (now or utcnow()) - timedelta(days=days)
    old_answer_ids = select(QuestionRecord.answer_id).where(QuestionRecord.created_at < cutoff)
    statements = (
        delete(FeedbackRecord).where(
            (FeedbackRecord.created_at < cutoff) | FeedbackRecord.answer_id.in_(old_answer_ids)
        ),
        delete(QuestionRecord).where(QuestionRecord.created_at < cutoff),
    )

    def run(conn: Connection | Session) -> int:
        count = 0
        for statement in statements:
            result = conn.execute(statement.execution_options(synchronize_session=False))
            count = int(getattr(result, "rowcount", 0) or 0)
        return count  # rows of the last statement: the questions

    if isinstance(engine_or_session, str):
        engine = make_engine(engine_or_session)
        try:
            return purge_expired(engine, days, now=now)
        finally:
            engine.dispose()
    if isinstance(engine_or_session, Engine):
        create_tables(engine_or_session)
        with engine_or_session.begin() as conn:
            return run(conn)
    if isinstance(engine_or_session, Session):
        create_tables(engine_or_session.connection())
        return run(engine_or_session)
    create_tables(engine_or_session)
    return run(engine_or_session)


class QuestionLog:
    """Synchronous access to the log. Thread-safe (one SQLAlchemy engine, a connection per call)."""

    def __init__(self, url_or_engine: str | Engine, *, redactor: Redactor | None = None) -> None:
        self.engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
        self._redactor = redactor
        self._schema_ready = False
        self._schema_lock = threading.Lock()
        self._sqlite_file = _sqlite_file(self.engine)
        self._sqlite_id: tuple[int, int] | None = None  # (device, inode) of the file the tables were made in
        self._folder_lost = False  # the SQLite file's folder was deleted while in use

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def redact(self, text: str) -> str:
        if self._redactor is None:
            self._redactor = _default_redactor()
        return self._redactor(text)

    def ensure_schema(self) -> None:
        """Create the tables if they are missing (once per process, and again for a SQLite file that was
        deleted meanwhile; retried after a failure). Every read and write calls this first."""
        self._check_sqlite_file()
        if self._folder_lost:
            self._check_folder()
        if self._schema_ready:
            return
        with self._schema_lock:
            if not self._schema_ready:
                create_tables(self.engine)
                add_missing_columns(self.engine)
                if self._sqlite_file is not None:
                    with contextlib.suppress(OSError):
                        st = os.stat(self._sqlite_file)
                        self._sqlite_id = (st.st_dev, st.st_ino)
                self._schema_ready = True

    def _check_sqlite_file(self) -> None:
        """Notice a SQLite file (or its folder) deleted or replaced since the tables were made in it.

        Pooled connections keep the deleted file open and would write into it without an error. They are
        closed; a missing folder raises LogFileMissingError (the write fails and is counted, as when a
        database server is down); a missing or replaced file gets its tables again."""
        path = self._sqlite_file
        if path is None or self._sqlite_id is None:
            return
        try:
            st = os.stat(path)
            if (st.st_dev, st.st_ino) == self._sqlite_id:
                return
            what = "was replaced"
        except FileNotFoundError:
            what = "was deleted"
        except OSError as err:
            what = f"cannot be read ({err.strerror})"
        with self._schema_lock:
            if self._sqlite_id is None:  # another thread has dealt with it
                return
            self._sqlite_id = None
            self._schema_ready = False
            self.engine.dispose()  # close the connections to the old file
        if not path.parent.is_dir():
            self._folder_lost = True
            logger.error("question log: the folder of %s was deleted while the service ran; the questions "
                         "it held are gone and no more can be written until the folder exists again", path)
        else:
            logger.error("question log: %s %s while the service ran; the questions it held are gone; "
                         "new questions go to a new database there", path, what)
        self._check_folder()

    def _check_folder(self) -> None:
        path = self._sqlite_file
        if path is None or path.parent.is_dir():
            if self._folder_lost:
                logger.warning("question log: the folder of %s is back; logging resumes", path)
            self._folder_lost = False
        else:
            raise LogFileMissingError(
                f"The question log's folder {path.parent} does not exist (deleted while the service ran?); "
                "create it again (or restart the service) to resume logging.")

    def answers(self, *, since: datetime | None = None, until: datetime | None = None) -> list[LoggedAnswer]:
        """Every logged question (oldest first) with its helpful / unhelpful votes counted: what the gap
        report and the coverage map analyse. Two queries, whatever the size of the log."""
        self.ensure_schema()
        where = []
        if since is not None:
            where.append(QuestionRecord.created_at >= since)
        if until is not None:
            where.append(QuestionRecord.created_at < until)
        q = QuestionRecord
        with Session(self.engine) as session:
            rows = session.execute(
                select(q.answer_id, q.created_at, q.question, q.abstained, q.reason, q.confidence, q.doc_id,
                       q.section, q.index_version, q.audience, q.best_doc_id, q.best_section, q.relevance)
                .where(*where).order_by(q.created_at, q.id)
            ).all()
            votes: dict[str, list[int]] = {}
            fb_where = [] if since is None else [FeedbackRecord.created_at >= since]
            for answer_id, helpful, count in session.execute(
                select(FeedbackRecord.answer_id, FeedbackRecord.helpful, func.count())
                .where(*fb_where).group_by(FeedbackRecord.answer_id, FeedbackRecord.helpful)
            ):
                votes.setdefault(answer_id, [0, 0])[0 if helpful else 1] += int(count)
        out = []
        for r in rows:
            good, bad = votes.get(r.answer_id, (0, 0))
            out.append(LoggedAnswer(
                answer_id=r.answer_id, created_at=r.created_at, question=r.question, abstained=r.abstained,
                reason=r.reason, confidence=r.confidence, doc_id=r.doc_id, section=r.section,
                index_version=r.index_version, audience=r.audience, helpful=good, unhelpful=bad,
                best_doc_id=r.best_doc_id, best_section=r.best_section, relevance=r.relevance,
            ))
        return out

    def _row(self, entry: LogEntry) -> dict[str, Any]:
        return {
            "answer_id": entry.answer_id[:ANSWER_ID_MAX],
            "created_at": entry.created_at,
            "question": self.redact(entry.question),
            "audience": entry.audience[:16],
            "procedure": entry.procedure[:100] if entry.procedure else None,
            "category": entry.category[:100] if entry.category else None,
            "abstained": entry.abstained,
            "reason": str(entry.reason)[:32],
            "confidence": float(entry.confidence),
            "latency_ms": float(entry.latency_ms),
            "index_version": entry.index_version[:64],
            "cached": entry.cached,
            "doc_id": entry.doc_id[:200] if entry.doc_id else None,
            "section": entry.section[:SECTION_MAX] if entry.section else None,
            "chunk_id": entry.chunk_id[:64] if entry.chunk_id else None,
            "best_doc_id": entry.best_doc_id[:200] if entry.best_doc_id else None,
            "best_section": entry.best_section[:SECTION_MAX] if entry.best_section is not None else None,
            "relevance": float(entry.relevance) if entry.relevance is not None else None,
        }

    def record(self, entries: Sequence[LogEntry]) -> int:
        """Insert entries in one transaction; return how many."""
        if not entries:
            return 0
        self.ensure_schema()
        rows = [self._row(e) for e in entries]
        with self.engine.begin() as conn:
            conn.execute(insert(QuestionRecord), rows)
        return len(rows)

    def has_answer(self, answer_id: str) -> bool:
        self.ensure_schema()
        with self.engine.connect() as conn:
            found = conn.execute(
                select(QuestionRecord.id).where(QuestionRecord.answer_id == answer_id).limit(1)
            ).first()
        return found is not None

    def add_feedback(self, answer_id: str, helpful: bool, comment: str | None = None, *,
                     created_at: datetime | None = None) -> None:
        self.ensure_schema()
        clean = self.redact(comment.strip())[:COMMENT_MAX] if comment and comment.strip() else None
        with self.engine.begin() as conn:
            conn.execute(insert(FeedbackRecord).values(
                answer_id=answer_id[:ANSWER_ID_MAX], created_at=created_at or utcnow(),
                helpful=helpful, comment=clean,
            ))

    def questions(self, *, page: int = 1, page_size: int = 50, abstained: bool | None = None,
                  reason: str | None = None, since: datetime | None = None) -> QuestionPage:
        """Newest first, with the feedback given on each answer."""
        if page < 1 or page_size < 1:
            raise InputError("page and page_size start at 1")
        self.ensure_schema()
        where = []
        if abstained is not None:
            where.append(QuestionRecord.abstained == abstained)
        if reason:
            where.append(QuestionRecord.reason == reason)
        if since is not None:
            where.append(QuestionRecord.created_at >= since)
        with Session(self.engine) as session:
            total = session.scalar(select(func.count()).select_from(QuestionRecord).where(*where)) or 0
            records = session.scalars(
                select(QuestionRecord).where(*where)
                .order_by(QuestionRecord.created_at.desc(), QuestionRecord.id.desc())
                .offset((page - 1) * page_size).limit(page_size)
            ).all()
            feedback: dict[str, list[FeedbackView]] = {}
            ids = [r.answer_id for r in records]
            if ids:
                for fb in session.scalars(
                    select(FeedbackRecord).where(FeedbackRecord.answer_id.in_(ids))
                    .order_by(FeedbackRecord.created_at, FeedbackRecord.id)
                ):
                    feedback.setdefault(fb.answer_id, []).append(
                        FeedbackView(helpful=fb.helpful, comment=fb.comment, created_at=fb.created_at)
                    )
            items = tuple(
                QuestionView(
                    answer_id=r.answer_id, created_at=r.created_at, question=r.question,
                    audience=r.audience, procedure=r.procedure, category=r.category,
                    abstained=r.abstained, reason=r.reason, confidence=r.confidence,
                    latency_ms=r.latency_ms, index_version=r.index_version, cached=r.cached,
                    doc_id=r.doc_id, feedback=tuple(feedback.get(r.answer_id, ())),
                )
                for r in records
            )
        return QuestionPage(items=items, total=int(total), page=page, page_size=page_size)

    def purge_expired(self, days: int, *, now: datetime | None = None) -> int:
        self.ensure_schema()
        return purge_expired(self.engine, days, now=now)

    def abstention_by_day(self, *, days: int = 30, now: datetime | None = None) -> tuple[DailyAbstention, ...]:
        """Per UTC day of the last ``days`` days (oldest first, days without questions included as zero):
        how many questions were logged and how many abstained. Escalations count as abstentions, as in
        the log's ``abstained`` column."""
        if days < 1:
            raise InputError(f"days must be at least 1 (got {days})")
        self.ensure_schema()
        end = (now or utcnow()).astimezone(UTC)
        first = end.date() - timedelta(days=days - 1)
        since = datetime(first.year, first.month, first.day, tzinfo=UTC)
        counts: dict[date, list[int]] = {first + timedelta(days=i): [0, 0] for i in range(days)}
        q = QuestionRecord
        with self.engine.connect() as conn:
            # Timestamps are read and bucketed here: date functions differ between SQLite and PostgreSQL,
            # and the window is small (one row per question of the last few weeks, two columns).
            rows = conn.execute(select(q.created_at, q.abstained).where(q.created_at >= since))
            for created, abstained in rows:
                bucket = counts.get(created.astimezone(UTC).date())
                if bucket is not None:
                    bucket[0] += 1
                    bucket[1] += int(bool(abstained))
        return tuple(DailyAbstention(day=d, questions=n, abstained=a) for d, (n, a) in sorted(counts.items()))

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_file(engine: Engine) -> Path | None:
    """The database file of a SQLite engine (None for other databases and in-memory ones)."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser().absolute()


def purge_log(database_url: str, days: int) -> int:
    """For ``clinicqa purge-log``: delete expired entries from the log at ``database_url``."""
    return purge_expired(database_url, days)


class LogWriter:
    """Writes log entries from a bounded queue in one background thread, so requests never wait on the
    database. A failed batch is retried once, row by row (so one bad row cannot sink the others); what
    still fails, and whatever arrives while the queue is full, is dropped and reported to ``on_dropped``.
    """

    def __init__(
        self,
        log: QuestionLog,
        *,
        maxsize: int = 10_000,
        batch_size: int = 200,
        retry_delay: float = 0.5,
        on_written: Callable[[int], None] | None = None,
        on_dropped: Callable[[int, str], None] | None = None,
    ) -> None:
        self.log = log
        self.batch_size = batch_size
        self.retry_delay = retry_delay
        self._on_written = on_written or (lambda n: None)
        self._on_dropped = on_dropped or (lambda n, why: None)
        self._queue: queue.Queue[LogEntry | None] = queue.Queue(maxsize=maxsize)
        self._thread: threading.Thread | None = None
        self.written = 0
        self.dropped = 0
        self.last_error: str | None = None  # why the last write failed; None once a write succeeds

    # -- producer side -----------------------------------------------------------------------------
    def submit(self, entry: LogEntry) -> bool:
        """Queue an entry without blocking; False (and counted as dropped) when the queue is full."""
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self._drop(1, "queue_full")
            return False
        return True

    def pending(self) -> int:
        """Entries queued or being written."""
        return self._queue.unfinished_tasks

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> LogWriter:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="question-log-writer", daemon=True)
            self._thread.start()
        return self

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written or dropped; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.pending():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued (up to ``timeout``), then stop the thread."""
        if self._thread is None:
            return
        self.flush(timeout)
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=1.0)
        self._thread.join(timeout=max(1.0, timeout))
        self._thread = None

    # -- consumer side -----------------------------------------------------------------------------
    def _drop(self, count: int, why: str) -> None:
        self.dropped += count
        try:
            self._on_dropped(count, why)
        except Exception:  # a metrics callback must never take the writer down
            logger.exception("question log: on_dropped callback failed")

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[LogEntry] = []
            taken = 0
            item = self._queue.get()
            while True:
                taken += 1
                if item is None:
                    stop = True
                    break
                batch.append(item)
                if len(batch) >= self.batch_size:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            try:
                if batch:
                    self._write(batch)
            except Exception:  # never let the thread die: the entries are lost, and counted
                logger.exception("question log: writer error")
                self._drop(len(batch), "writer_error")
            finally:
                for _ in range(taken):
                    self._queue.task_done()

    def _write(self, batch: list[LogEntry]) -> None:
        try:
            self._written(self.log.record(batch))
            self.last_error = None
            return
        except Exception as err:
            self.last_error = _describe(err)
            logger.warning("question log: write of %d entries failed (%s); retrying once",
                           len(batch), _describe(err))
        time.sleep(self.retry_delay)
        failed = 0
        last: Exception | None = None
        for entry in batch:
            try:
                self._written(self.log.record([entry]))
                self.last_error = None
            except Exception as err:
                failed += 1
                last = err
                self.last_error = _describe(err)
        if failed:
            logger.error("question log: dropped %d entries after a retry (%s)", failed, _describe(last))
            self._drop(failed, "db_error")

    def _written(self, count: int) -> None:
        self.written += count
        try:
            self._on_written(count)
        except Exception:
            logger.exception("question log: on_written callback failed")


def _describe(err: BaseException | None) -> str:
    """An error's class names only: a driver message can quote the statement's values."""
    if err is None:
        return "unknown error"
    if isinstance(err, ClinicQAError):  # clinicqa's own messages quote no question
        return f"{type(err).__name__}: {err}"
    orig = getattr(err, "orig", None)
    return type(err).__name__ + (f"/{type(orig).__name__}" if orig is not None else "")

