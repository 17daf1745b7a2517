"""What one worker process holds: the serving engine (swappable), the answer cache, the rate limiters and
the question-log writer. The routes in :mod:`api.app` only translate between HTTP and this object.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import logging
import os
import re
import sys
import threading
import time
import unicodedata
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio
import anyio.to_thread

from api import metrics
from api.ratelimit import FailureThrottle, RateLimiter
from qa.domain import Answer
from qa.errors import ClinicQAError, IndexDamagedError, InputError
from qa.questionlog import DailyAbstention, LogEntry, LogWriter, QuestionLog
from qa.settings import Settings
from qa.text import clean_question

if TYPE_CHECKING:
    from qa.context import Context
    from qa.coverage import CoverageMap
    from qa.engine import Engine
    from qa.gaps import GapQuestion, GapReport
    from qa.indexing import Progress
    from qa.lint import LintFinding

logger = logging.getLogger("clinicqa.api")

T = TypeVar("T")

# Threads that may run engine calls at once in one worker. The work is CPU-bound (~20-30 ms) and the
# machine has 2 cores: more threads only add contention; the event loop keeps accepting meanwhile.
ENGINE_THREADS = 1
INDEX_POLL_SECONDS = 5.0
# What the public /readyz (and a 503 from /v1/ask) says while a damaged index is rebuilt: no folder names,
# no FAISS or zip errors. The details are in the server log and in GET /v1/admin/index (admin token).
DAMAGED_REBUILDING = "index damaged, rebuilding"
DAMAGED_REBUILD_FAILED = "index damaged, the rebuild failed; see the server log"


class NotReadyError(ClinicQAError):
    """No index is loaded (yet): the service answers 503 until one is."""


class NoMatchingPagesError(ClinicQAError):
    """The procedure and the category both exist, but no page has both."""


class ReindexBusyError(ClinicQAError):
    """Another reindex is running in this worker."""


class UnknownAnswerError(ClinicQAError):
    """Feedback names an answer_id that this service never issued."""


class LogUnavailableError(ClinicQAError):
    """The question log database cannot be reached: answers still work; feedback, the content-team
    endpoints and the UI's reports say so (503 in the API)."""


_SPACES = re.compile(r"\s+")


def normalise_question(text: str) -> str:
    """The answer-cache key: Unicode-normalised, case-folded, whitespace collapsed, final ?!. dropped."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACES.sub(" ", text).strip().rstrip("?!.。？！ ").strip()


def new_answer_id() -> str:
    return uuid.uuid4().hex


class AnswerCache:
    """LRU of answers keyed on (index version, normalised question, filters). Event-loop only: no lock.

    Cached answers keep no question text (privacy); a hit is re-issued with the asker's own question and
    a fresh answer_id, so feedback on it is tied to the right log entry.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, ...], Answer] = OrderedDict()

    def get(self, key: tuple[str, ...]) -> Answer | None:
        if self.size <= 0:
            return None
        answer = self._items.get(key)
        if answer is not None:
            self._items.move_to_end(key)
        return answer

    def put(self, key: tuple[str, ...], answer: Answer) -> None:
        if self.size <= 0:
            return
        self._items[key] = dataclasses.replace(answer, question="")
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class RecentIds:
    """Answer ids issued by this process lately (feedback may arrive before their log row is written)."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, answer_id: str) -> None:
        self._ids[answer_id] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)

    def __contains__(self, answer_id: object) -> bool:
        return answer_id in self._ids


def _index_bytes(index_dir: Path) -> int:
    """Size on disk of the index's current build."""
    from qa.store import resolve_build

    try:
        build = resolve_build(index_dir)
        return sum(p.stat().st_size for p in build.iterdir() if p.is_file())
    except (OSError, ClinicQAError):
        return 0


class Service:
    def __init__(self, settings: Settings, engine: Engine | None = None,
                 log: QuestionLog | None = None) -> None:
        self.settings = settings
        self._engine: Engine | None = engine
        self._engine_given = engine is not None
        self._swap_lock = threading.Lock()
        self.load_error: str | None = None  # why no engine is loaded (public: /readyz, 503s)
        self.index_problem: str | None = None  # what is wrong with the index on disk (admins, the log)
        self.rebuilding = False  # a rebuild of a damaged index is running
        self._rebuild_task: asyncio.Task[None] | None = None
        self.cache = AnswerCache(settings.answer_cache_size)
        self.limiters = {
            name: RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
            for name in ("ask", "search", "feedback")
        }
        # wrong staff passwords and admin tokens, per client (api/auth.py, ui/auth.py, the reindex button)
        self.auth_throttle = FailureThrottle(settings.auth_failures_per_minute, settings.auth_failure_burst)
        self.log = log or QuestionLog(settings.database_url)
        self.writer = LogWriter(
            self.log, maxsize=settings.log_queue_size,
            on_written=lambda n: metrics.LOG_WRITTEN.inc(n),
            on_dropped=lambda n, why: metrics.LOG_DROPPED.labels(why).inc(n),
        )
        self.recent_ids = RecentIds()
        self.abstentions = metrics.AbstentionTracker()
        self.engine_limiter = anyio.CapacityLimiter(ENGINE_THREADS)
        # Content-team reports (gaps, coverage, lint) run one at a time in their own thread, not behind
        # engine_limiter: a cold gap report can take tens of seconds and must not hold up patients' answers.
        self.report_limiter = anyio.CapacityLimiter(1)
        self.reindex_lock = asyncio.Lock()
        self._watch_task: asyncio.Task[None] | None = None
        self.on_swap: list[Callable[[], None]] = []  # called after each swap (the OpenAPI cache)
        self._filter_pairs: tuple[str, frozenset[tuple[str | None, str | None]]] = ("", frozenset())
        self._lint_cache: tuple[tuple[Any, ...], list[LintFinding]] | None = None

    # --- engine ----------------------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        engine = self._engine
        if engine is None:
            raise NotReadyError(
                "The answer index is not loaded"
                + (f": {self.load_error}" if self.load_error else " yet; try again in a few seconds.")
            )
        return engine

    @property
    def serving(self) -> Engine | None:
        """The engine in service, or None (unlike :attr:`engine`, which raises NotReadyError then)."""
        return self._engine

    @property
    def ready(self) -> bool:
        return self._engine is not None

    def swap(self, new: Engine) -> Engine | None:
        """Put ``new`` in service. Requests that already hold the old engine finish with it."""
        with self._swap_lock:
            old, self._engine = self._engine, new
        self.cache.clear()
        self.load_error = None
        self.index_problem = None
        self._update_index_metrics(new)
        for callback in self.on_swap:
            callback()
        return old

    def _update_index_metrics(self, engine: Engine) -> None:
        counts = manifest_counts(engine.manifest)
        metrics.INDEX_DOCUMENTS.set(counts["pages"])
        metrics.INDEX_CHUNKS.set(counts["chunks"])
        metrics.INDEX_BYTES.set(_index_bytes(Path(self.settings.index_dir)))
        metrics.INDEX_LOADED.set(time.time())
        metrics.READY.set(1)

    async def run_engine(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a CPU-bound engine call off the event loop."""
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=self.engine_limiter)

    # --- lifecycle -------------------------------------------------------------------------------
    async def startup(self) -> None:
        limit_torch_threads()
        self.writer.start()
        try:
            purged = await anyio.to_thread.run_sync(self.log.purge_expired, self.settings.retention_days)
            if purged:
                logger.info("question log: deleted %d questions older than %d days",
                            purged, self.settings.retention_days)
        except Exception as err:  # a database that is down must not stop the service
            logger.warning("question log: retention purge failed (%s); will run at next start",
                           type(err).__name__)
        if self._engine is None:
            await self.load()
        else:
            self._update_index_metrics(self._engine)
        if not self._engine_given:
            self._watch_task = asyncio.create_task(self._watch_index())

    async def load(self) -> bool:
        """Load the index's current build and swap it in; False (the old engine keeps serving) on error."""
        from qa.engine import Engine

        try:
            engine = await anyio.to_thread.run_sync(Engine.load, self.settings)
        except IndexDamagedError as err:
            self.index_problem = str(err)
            if self._engine is None:
                metrics.READY.set(0)
                logger.error("not ready, no engine loaded: %s; rebuilding it", err)
                self.load_error = DAMAGED_REBUILDING
                self._start_rebuild()
            else:
                logger.error("could not load the new index, the current one keeps serving: %s", err)
            return False
        except ClinicQAError as err:
            if self._engine is None:
                self.load_error = str(err)
                metrics.READY.set(0)
                logger.error("not ready, no engine loaded: %s", err)
            else:
                logger.error("could not load the new index, the current one keeps serving: %s", err)
            return False
        self.swap(engine)
        logger.info("index %s loaded from %s", engine.index_version, self.settings.index_dir)
        return True

    def _start_rebuild(self) -> None:
        """Rebuild the damaged index in the background (once at a time); the service answers 503 until then."""
        if self._rebuild_task is None or self._rebuild_task.done():
            self._rebuild_task = asyncio.create_task(self._rebuild_damaged())

    async def _rebuild_damaged(self) -> None:
        self.rebuilding = True
        try:
            while self.reindex_lock.locked():  # the index watcher's load that found the damage
                await asyncio.sleep(0.1)
            await self.reindex()
        except ReindexBusyError:  # another worker is rebuilding: the index watcher loads its build
            logger.info("a damaged index is being rebuilt by another worker; waiting for its build")
        except Exception as err:  # any failure: say so in the log, keep the service up
            self.load_error = DAMAGED_REBUILD_FAILED
            logger.error("rebuilding the damaged index failed: %s", err)
        finally:
            self.rebuilding = False

    async def shutdown(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
        if self._rebuild_task is not None:
            self._rebuild_task.cancel()
        await anyio.to_thread.run_sync(self.writer.close, 5.0)
        self.log.dispose()
        metrics.mark_process_dead()

    # --- answering -------------------------------------------------------------------------------
    async def ask(self, question: str, *, procedure: str | None, category: str | None,
                  audience: str, context: Context | None = None) -> tuple[Answer, bool, str]:
        """(answer, served from cache, index version). ``context``: the page's procedure and the patient's
        previous questions (qa/context.py); the cache key then holds what the question was resolved to, and
        the log holds the question only (never the history)."""
        engine = self.engine  # one engine for the whole request, even if a reindex swaps meanwhile
        limit = self.settings.max_question_chars
        if len(question) > limit:
            raise InputError(f"The question is {len(question)} characters long; the limit is {limit}. "
                             "Please shorten it.")
        # Cleaned once (whitespace, bidirectional and zero-width characters): the cache key, the engine,
        # the echo and the question log all see the same text.
        question = clean_question(question, limit)
        version = engine.index_version
        self.check_filters(engine, procedure, category)
        key: tuple[str, ...] = (version, normalise_question(question), procedure or "", category or "")
        if context is not None:  # InputError (422) for an unknown procedure or a malformed history
            preference, text = engine.resolve(question, context).key()
            key = (*key, "context", preference, normalise_question(text))
        start = time.perf_counter()
        hit = self.cache.get(key)
        if hit is not None:
            answer = dataclasses.replace(
                hit, question=question, answer_id=new_answer_id(),
                latency_ms=(time.perf_counter() - start) * 1000,
            )
            metrics.ANSWER_CACHE.labels("hit").inc()
        else:
            if self.cache.size > 0:
                metrics.ANSWER_CACHE.labels("miss").inc()
            answer = await self.run_engine(engine.ask, question, procedure=procedure, category=category,
                                           context=context)
            if not answer.answer_id:
                answer = dataclasses.replace(answer, answer_id=new_answer_id())
            self.cache.put(key, answer)
        cached = hit is not None
        elapsed = time.perf_counter() - start  # includes the wait for the engine thread
        metrics.ANSWER_LATENCY.labels(str(cached).lower()).observe(elapsed)
        metrics.ANSWERS.labels(str(answer.reason), str(answer.abstained).lower(), audience).inc()
        self.abstentions.add(answer.abstained)
        self.recent_ids.add(answer.answer_id)
        quoted = answer.best if answer.best is not None and not answer.abstained else None
        self.writer.submit(LogEntry(
            answer_id=answer.answer_id, question=question, audience=audience,
            abstained=answer.abstained, reason=str(answer.reason), confidence=answer.confidence,
            latency_ms=round(elapsed * 1000, 3), index_version=version, procedure=procedure, category=category,
            cached=cached, doc_id=quoted.doc_id if quoted else None,
            section=quoted.passage.chunk.section if quoted else None,
            chunk_id=quoted.passage.chunk.chunk_id if quoted else None,
            best_doc_id=answer.best.doc_id if answer.best is not None else None,
            best_section=answer.best.passage.chunk.section if answer.best is not None else None,
            relevance=float(answer.retrieved[0].dense) if answer.retrieved else None,
        ))
        return answer, cached, version

    def check_filters(self, engine: Engine, procedure: str | None, category: str | None) -> None:
        """Raise NoMatchingPagesError when both filters name existing values but no page has both (the
        engine reports unknown values itself, as InputError)."""
        if not (procedure and category):
            return
        version = engine.index_version
        if self._filter_pairs[0] != version:
            docs = engine.documents()
            self._filter_pairs = (version, frozenset((d.procedure, d.category) for d in docs))
        pairs = self._filter_pairs[1]
        if ((procedure, category) not in pairs and any(p == procedure for p, _ in pairs)
                and any(c == category for _, c in pairs)):
            raise NoMatchingPagesError(
                f"No page is about procedure {procedure!r} in category {category!r}; "
                "see GET /v1/documents for the pages and their procedure and category.")

    async def run_report(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a content-team report off the event loop, one at a time, beside the engine thread."""
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=self.report_limiter)

    # --- content team (sync: call them in a worker thread, e.g. ``run_report``) -------------------
    def logged_questions(self, since: timedelta | None) -> tuple[list[GapQuestion], Any]:
        """The logged questions of the last ``since`` (all when None) and the start time used."""
        from datetime import UTC, datetime

        from qa.gaps import questions_from_log

        start = datetime.now(UTC) - since if since is not None else None
        try:
            return questions_from_log(self.log, since=start), start
        except ClinicQAError:
            raise
        except Exception as err:  # any driver's error
            logger.warning("question log unavailable: %s", type(err).__name__)
            raise LogUnavailableError(
                "The question log database is unavailable; try again later.") from None

    def gap_report(self, since: timedelta | None = None,
                   recheck: Literal["auto", "all", "none"] = "auto") -> GapReport:
        """:func:`qa.gaps.gap_report` over the question log (the content-team view calls this)."""
        from qa.gaps import gap_report

        engine = self.engine
        rows, start = self.logged_questions(since)
        return gap_report(engine, self.settings, rows, source="log", since=start, recheck=recheck)

    def coverage_map(self, since: timedelta | None = None) -> CoverageMap:
        """:func:`qa.coverage.coverage_map` of the serving index over the question log."""
        from qa.coverage import coverage_map

        engine = self.engine
        rows, start = self.logged_questions(since)
        return coverage_map(engine, self.settings, rows, since=start)

    def lint(self, stale_months: int | None = None) -> list[LintFinding]:
        """:func:`qa.lint.lint_corpus` of the served corpus; cached until the corpus, the settings or the
        day change."""
        from qa.indexing import corpus_fingerprint
        from qa.lint import lint_corpus

        settings = self.settings
        if stale_months is not None:
            settings = settings.model_copy(update={"lint_stale_months": stale_months})
        corpus = Path(settings.corpus_dir)
        try:
            fingerprint = corpus_fingerprint(corpus)
        except (OSError, ClinicQAError):
            fingerprint = None
        key = (str(corpus), fingerprint, settings.lint_stale_months, date.today())
        cached = self._lint_cache
        if fingerprint is not None and cached is not None and cached[0] == key:
            return cached[1]
        embedder = self._engine.embedder if self._engine is not None else None
        findings = lint_corpus(settings, corpus, embedder=embedder)
        self._lint_cache = (key, findings)
        return findings

    # --- reindex ---------------------------------------------------------------------------------
    async def reindex(self, progress: Progress | None = None) -> dict[str, Any]:
        """Rebuild the index from the corpus in a worker thread, then swap it in. The old engine keeps
        serving until the swap, and requests that started before it finish on the old one.
        ``progress(stage, done, total)`` is called from the build thread (see qa.indexing)."""
        if self.reindex_lock.locked():
            raise ReindexBusyError("A reindex is already running; try again when it has finished.")
        async with self.reindex_lock:
            previous = self._engine.index_version if self._engine is not None else None
            start = time.perf_counter()
            try:
                engine = await anyio.to_thread.run_sync(self._build_and_load, progress)
            except Exception:
                metrics.REINDEX.labels("failed").inc()
                raise
            self.swap(engine)
            metrics.REINDEX.labels("ok").inc()
            seconds = time.perf_counter() - start
            manifest = public_manifest(engine.manifest)
            counts = manifest_counts(manifest)
            logger.info("reindex: %s -> %s in %.1fs", previous, engine.index_version, seconds)
            return {
                "index_version": engine.index_version, "previous_version": previous,
                "documents": int(counts["pages"]), "chunks": int(counts["chunks"]),
                "seconds": round(seconds, 3), "manifest": manifest,
            }

    def _build_and_load(self, progress: Progress | None = None) -> Engine:
        """``build_index`` writes a new build folder beside the serving one and switches the index's
        ``current`` link to it atomically; then a new engine is loaded from it. A file lock keeps two
        workers from building at the same time."""
        from qa.engine import Engine
        from qa.indexing import build_index

        settings = self.settings
        index_dir = Path(settings.index_dir)
        index_dir.mkdir(parents=True, exist_ok=True)
        with open(index_dir / ".reindex.lock", "a+b") as lock:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ReindexBusyError(
                    "Another worker is rebuilding the index; try again when it has finished.") from None
            try:
                build_index(settings, corpus=Path(settings.corpus_dir), index_dir=index_dir, progress=progress)
                return Engine.load(settings)
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    # --- feedback and the question log --------------------------------------------------------------
    async def feedback(self, answer_id: str, helpful: bool, comment: str | None = None) -> None:
        """Store feedback on an answer this service issued (joined to its log row on ``answer_id``).

        Raises UnknownAnswerError for an answer_id never issued, LogUnavailableError when the database
        cannot be reached. The API's POST /v1/feedback and the UI's thumbs both come through here."""
        log = self.log
        try:
            known = answer_id in self.recent_ids or await anyio.to_thread.run_sync(log.has_answer, answer_id)
            if not known:
                raise UnknownAnswerError("Unknown answer_id: send the answer_id of a /v1/ask response.")
            await anyio.to_thread.run_sync(log.add_feedback, answer_id, helpful, comment)
        except UnknownAnswerError:
            raise
        except Exception as err:
            logger.warning("feedback not stored: %s", type(err).__name__)
            raise LogUnavailableError(
                "Feedback could not be stored right now; please try again in a minute.") from None

    async def abstention_history(self, days: int = 30) -> tuple[DailyAbstention, ...]:
        """Questions and abstentions per day from the question log; LogUnavailableError when it is down."""
        try:
            return await anyio.to_thread.run_sync(lambda: self.log.abstention_by_day(days=days))
        except ClinicQAError:
            raise
        except Exception as err:
            logger.warning("question log unavailable: %s", type(err).__name__)
            raise LogUnavailableError("The question log database is unavailable; try again later.") from None

    async def _watch_index(self) -> None:
        """Every few seconds, check which build the index folder's ``current`` points at; when another
        worker (or ``clinicqa build-index``) has switched it, load the new build and swap it in."""
        from qa.store import read_manifest

        failed: str | None = None
        while True:
            await asyncio.sleep(INDEX_POLL_SECONDS)
            if self.reindex_lock.locked():
                continue
            try:
                on_disk = await anyio.to_thread.run_sync(read_manifest, Path(self.settings.index_dir))
            except Exception:  # missing or being replaced: look again later
                continue
            serving = self._engine.manifest.get("build_id") if self._engine is not None else None
            build = on_disk.get("build_id")
            if build in (serving, failed):
                continue
            logger.info("index build %s found on disk (serving %s): loading it", build, serving)
            async with self.reindex_lock:
                failed = None if await self.load() else build


def limit_torch_threads() -> None:
    """One intra-op thread per worker (``OMP_NUM_THREADS`` overrides). A query is one short sentence:
    on this 2-core machine a second torch thread makes encoding it ~20x slower (13 ms → 320 ms), and
    requests, not threads, are what run in parallel. Scale with workers instead."""
    if "torch" not in sys.modules:
        return
    import torch

    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1") or 1)))


def public_manifest(manifest: dict[str, Any] | None) -> dict[str, Any]:
    """The manifest without private keys (``_path``: a server folder)."""
    return {k: v for k, v in (manifest or {}).items() if not str(k).startswith("_")}


def manifest_counts(manifest: dict[str, Any] | None) -> dict[str, float]:
    counts = (manifest or {}).get("counts") or {}
    return {"pages": float(counts.get("pages", 0) or 0), "chunks": float(counts.get("chunks", 0) or 0)}
