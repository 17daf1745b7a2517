"""Coverage gaps: what patients ask that the pages don't answer, grouped, ranked and explained.

Public functions (the CLI, the API and the UI's content-team view call these)::

    questions_from_log(log: QuestionLog, *, since: datetime | None = None) -> list[GapQuestion]
    questions_from_jsonl(path: Path, engine: Engine, *, progress=None) -> list[GapQuestion]
    gap_report(engine: Engine, settings: Settings, questions: Sequence[GapQuestion], *,
               source: str = "log", since: datetime | None = None, now: datetime | None = None,
               recheck: Literal["auto", "all", "none"] = "auto") -> GapReport
    gap_report_from_log(engine, settings, log: QuestionLog, *, since: timedelta | None = None,
                        now=None, recheck="auto") -> GapReport
    report_to_dict(report: GapReport) -> dict;  to_json(report) -> str;  to_csv(report) -> str  (CSV_COLUMNS)
    parse_since(text: str) -> timedelta        # "30d", "12h", "2w"
    cluster(vectors, distance, *, exact_max=4000, texts=None, lexical_weight=0.0, lexicon=None,
            weights=None) -> np.ndarray        # the grouping step alone

(The HTTP service wraps these as ``Service.gap_report(since, recheck)``; results are the frozen dataclasses
``GapReport`` → ``GapGroup`` → ``ClosestPage`` / ``NowAnswered``.)

How a report is made:

1. **Which questions.** A logged answer is a *gap question* when it abstained for lack of content
   (``no_relevant_passage`` / ``low_confidence``), was answered with a confidence below
   ``Settings.gap_low_confidence``, or got more unhelpful than helpful votes. Emergency escalations and
   referrals to a clinician are not content gaps and are left out.
2. **Vectors.** Each distinct question (case-folded, whitespace collapsed) is embedded once with the
   engine's own model; vectors are cached on disk (:class:`VectorCache`, keyed by a hash of model and
   text) so a report over a log already seen embeds only the new questions.
3. **Grouping paraphrases.** Average-linkage agglomerative clustering, cut at distance
   ``Settings.gap_cluster_distance`` (0.5) — no number of clusters to choose. The similarity of two questions
   is ``0.7 × cosine(embeddings) + 0.3 × cosine(TF-IDF of their stemmed content words)``
   (``Settings.gap_lexical_weight``), document frequencies counted over the gap questions and the index's
   chunks (:func:`lexical_similarity`): MiniLM alone groups "what is the outlook for <rare disease A>?"
   with "... <rare disease B>?" (the template dominates the vector), while the word that names the topic is
   rare among the questions and the pages and so weighs most in TF-IDF;
   the embedding still joins paraphrases that share no word ("when is the clinic open" / "opening hours").
   Why average linkage: a group must be questions that are *all* close to each other on average — single
   linkage / connected components chain "cost of epidural" → "cost of RFA" → "RFA temperature" into one
   blob, and HDBSCAN marks most rarely asked questions as noise, while a content team needs every question
   in some group (a group of one is a real gap too); k-means needs k. Exact average linkage needs the
   distance matrix (~6 bytes × n² at the peak): up to ``Settings.gap_exact_max`` distinct gap questions
   (4,000 → ~100 MB, ~1 s) it is exact; above that the most asked 4,000 are clustered exactly and the rest
   are clustered block by block, each block's groups merged into the existing ones by average linkage (see
   :func:`cluster`; linear in n). sklearn's connectivity-constrained agglomerative clustering over a FAISS
   kNN graph was tried for this and rejected: 33 s and 3.1 GB for 20,000 questions, and much coarser
   groups than the exact method (BENCHMARKS.md, "Coverage gaps").
4. **Naming.** A group is named by its most central question: the member with the largest
   count-weighted cosine similarity to the other members.
5. **Closest page.** The central question is asked of the current index (with its cached vector): the
   best candidate's page and section, and ``score`` = the engine's calibrated confidence that this quote
   answers it (the same number patients are shown). ``relevance`` is the cosine similarity of the question
   and the best retrieved passage. A question logged under the serving index already carries these (the log
   records the best candidate and the relevance also for abstentions), so it is not asked again (its
   ``quote`` is then empty); other answers are cached per index build (:class:`AnswerCache`), so only new
   group names cost an ``Engine.ask`` (~50–100 ms each on the 1,448-page dev index).
6. **Kind of gap.** ``answered_but_unhelpful``: most of the group's questions were answered and they got
   more unhelpful than helpful votes. ``page_exists_but_section_missing``: the best passage's relevance is
   at least ``Settings.gap_page_relevance`` (a page is about this, but nothing on it answers).
   ``no_page``: otherwise.
7. **Ranking.** ``priority = asked × 0.5^(days since last asked / half-life) × (1 − 0.5 × score)``: many
   patients, recently, and nothing close to an answer come first.
8. **Feedback loop.** When the index has been rebuilt since a group's questions were logged (their
   ``index_version`` differs from the engine's), its distinct questions (up to
   ``Settings.gap_recheck_max``) are asked again; ``now_answered`` then says how many are answered now,
   and by which page and section at what confidence. ``recheck="all"`` re-asks every group.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from qa.csvexport import to_csv as csv_text
from qa.domain import Reason
from qa.errors import InputError
from qa.settings import Settings
from qa.text import read_questions_jsonl

if TYPE_CHECKING:
    from qa.embedding import Embedder
    from qa.engine import Engine
    from qa.lexical import Lexicon
    from qa.questionlog import QuestionLog

log = logging.getLogger(__name__)

NOT_CONTENT_GAPS = frozenset({str(Reason.EMERGENCY), str(Reason.NEEDS_CLINICIAN)})


class GapKind(StrEnum):
    NO_PAGE = "no_page"
    PAGE_EXISTS_BUT_SECTION_MISSING = "page_exists_but_section_missing"
    ANSWERED_BUT_UNHELPFUL = "answered_but_unhelpful"


@dataclass(frozen=True, slots=True)
class GapQuestion:
    """One asked question and what happened to it (a log row, or a line of a questions file answered now)."""

    question: str  # redacted when it comes from the log
    abstained: bool
    reason: str
    confidence: float
    created_at: datetime | None = None
    doc_id: str | None = None
    section: str | None = None
    helpful: int = 0
    unhelpful: int = 0
    index_version: str = ""
    topic: str | None = None  # a known label (benchmarks and tests only; never shown)
    best_doc_id: str | None = None  # the engine's best candidate when it was asked, also when abstaining
    best_section: str | None = None
    relevance: float | None = None  # cosine of the question and the best retrieved passage


@dataclass(frozen=True, slots=True)
class ClosestPage:
    doc_id: str
    title: str
    section: str
    score: float  # the engine's calibrated confidence that its best quote answers the central question
    relevance: float  # cosine similarity of the central question and the best retrieved passage
    quote: str = ""  # the best candidate quote ("" when taken from the question log)
    synthetic: bool = False


@dataclass(frozen=True, slots=True)
class NowAnswered:
    """After a reindex: how many of the group's questions the current index answers, and where."""

    answered: int
    asked: int
    doc_id: str | None
    title: str | None
    section: str | None
    confidence: float
    index_version: str


@dataclass(frozen=True, slots=True)
class GapGroup:
    rank: int
    label: str  # the most central question
    kind: GapKind
    count: int  # how many times questions of this group were asked
    distinct: int  # distinct question texts
    examples: tuple[str, ...]  # most asked first (redacted)
    first_seen: datetime | None
    last_seen: datetime | None
    closest: ClosestPage | None
    priority: float
    abstained: int  # of ``count``: abstentions
    low_confidence: int  # answered below Settings.gap_low_confidence
    unhelpful_votes: int
    helpful_votes: int
    questions: tuple[str, ...] = ()  # every distinct question of the group, most asked first
    now_answered: NowAnswered | None = None


@dataclass(frozen=True, slots=True)
class GapReport:
    groups: tuple[GapGroup, ...]
    generated_at: datetime
    source: str  # "log" or the questions file
    since: datetime | None
    index_version: str
    total_questions: int  # questions looked at
    gap_questions: int  # of which gap questions
    settings: dict[str, float] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)


# --- inputs --------------------------------------------------------------------------------------------


def questions_from_log(log_: QuestionLog, *, since: datetime | None = None) -> list[GapQuestion]:
    """Every logged question since ``since`` with its feedback votes."""
    return [
        GapQuestion(question=r.question, abstained=r.abstained, reason=r.reason, confidence=r.confidence,
                    created_at=r.created_at, doc_id=r.doc_id, section=r.section, helpful=r.helpful,
                    unhelpful=r.unhelpful, index_version=r.index_version, best_doc_id=r.best_doc_id,
                    best_section=r.best_section, relevance=r.relevance)
        for r in log_.answers(since=since)
    ]


def questions_from_jsonl(path: Path, engine: Engine, *,
                         progress: Callable[[int], None] | None = None) -> list[GapQuestion]:
    """Answer each line's ``question`` against ``engine`` now (for a clinic with no traffic yet).

    Optional fields per line: ``created_at`` (ISO date-time), ``helpful`` / ``unhelpful`` (vote counts),
    ``topic`` (a known group label, for measuring the grouping)."""
    rows = read_questions_jsonl(path)
    texts = [str(r["question"]) for r in rows]
    vectors = engine.embedder.encode(texts)
    out = []
    for row, text, vec in zip(rows, texts, vectors, strict=True):
        answer = engine.ask(text, q_vec=vec)
        best = answer.best if not answer.abstained else None
        out.append(GapQuestion(
            question=answer.question or text, abstained=answer.abstained, reason=str(answer.reason),
            confidence=answer.confidence, created_at=_parse_time(row.get("created_at")),
            doc_id=best.doc_id if best else None, section=best.passage.chunk.section if best else None,
            helpful=int(row.get("helpful") or 0), unhelpful=int(row.get("unhelpful") or 0),
            index_version=engine.index_version,
            topic=str(row["topic"]) if row.get("topic") is not None else None,
            best_doc_id=answer.best.doc_id if answer.best is not None else None,
            best_section=answer.best.passage.chunk.section if answer.best is not None else None,
            relevance=float(answer.retrieved[0].dense) if answer.retrieved else None,
        ))
        if progress:
            progress(1)
    return out


def _parse_time(value: object) -> datetime | None:
    if not value:
        return None
    try:
        t = datetime.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"created_at {value!r} is not an ISO date-time (e.g. 2026-11-28T09:30:00Z).") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


_SINCE = re.compile(r"^\s*(\d+)\s*([hdw]?)\s*$", re.IGNORECASE)


def parse_since(text: str) -> timedelta:
    """``"30d"`` → 30 days; ``h`` hours, ``d`` days (the default unit), ``w`` weeks."""
    m = _SINCE.match(text or "")
    if not m or int(m.group(1)) < 1:
        raise InputError(f"--since {text!r} is not a period: write e.g. 30d (days), 12h (hours) or 2w (weeks).")
    n, unit = int(m.group(1)), (m.group(2) or "d").lower()
    return timedelta(hours=n) if unit == "h" else timedelta(weeks=n) if unit == "w" else timedelta(days=n)


# --- which questions are gaps ------------------------------------------------------------------------


def is_gap(q: GapQuestion, settings: Settings) -> bool:
    if q.reason in NOT_CONTENT_GAPS:
        return False
    return q.abstained or q.confidence < settings.gap_low_confidence or q.unhelpful > q.helpful


_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Key of a distinct question: NFKC, case-folded, whitespace collapsed, final ?!. dropped."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACES.sub(" ", text).strip().rstrip("?!.。？！ ").strip()


# --- vectors -------------------------------------------------------------------------------------------


class VectorCache:
    """Question vectors on disk, keyed by sha256(model id, text). Holds no question text.

    Privacy: the file keeps only the vectors of the questions the latest report looked at (at most
    ``max_vectors``), so nothing derived from a question outlives its deletion from the log by more than one
    report. An empty ``folder`` disables the cache."""

    def __init__(self, folder: str | Path | None, model_id: str, max_vectors: int = 100_000) -> None:
        self.model_id = model_id
        self.max_vectors = max_vectors
        self.path = (Path(folder) / f"question-vectors-{_short(model_id)}.npz") if folder else None
        self._keys: dict[str, int] = {}
        self._vecs = np.zeros((0, 0), dtype=np.float32)
        self._dirty = False
        self._used: set[str] = set()
        if self.path is not None and self.path.is_file():
            try:
                with np.load(self.path) as data:
                    keys, vecs = data["keys"], data["vectors"]
                self._keys = {str(k): i for i, k in enumerate(keys.tolist())}
                self._vecs = np.asarray(vecs, dtype=np.float32)
            except (OSError, ValueError, KeyError) as e:
                log.warning("question vector cache %s unreadable (%s); starting a new one", self.path, e)

    def key(self, text: str) -> str:
        return hashlib.sha256(f"{self.model_id}\x1f{text}".encode()).hexdigest()[:32]

    def encode(self, embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
        keys = [self.key(t) for t in texts]
        missing = [i for i, k in enumerate(keys) if k not in self._keys]
        new = embedder.encode([texts[i] for i in missing]) if missing else None
        dim = new.shape[1] if new is not None else (self._vecs.shape[1] if self._vecs.size else embedder.dimension)
        out = np.empty((len(texts), dim), dtype=np.float32)
        for i, k in enumerate(keys):
            row = self._keys.get(k)
            if row is not None:
                out[i] = self._vecs[row]
        if new is not None:
            out[missing] = new
            self._add([keys[i] for i in missing], new)
        self._used.update(keys)
        return out

    def _add(self, keys: list[str], vecs: np.ndarray) -> None:
        start = len(self._keys)
        self._vecs = vecs.copy() if not self._vecs.size else np.vstack([self._vecs, vecs])
        for j, k in enumerate(keys):
            self._keys[k] = start + j
        self._dirty = True

    def save(self) -> None:
        if self.path is None or not (self._dirty or len(self._used) < len(self._keys)):
            return
        keys = [k for k in self._keys if k in self._used][-self.max_vectors:]
        rows = np.asarray([self._keys[k] for k in keys], dtype=np.int64)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp.npz")
            np.savez(tmp, keys=np.asarray(keys), vectors=self._vecs[rows])
            tmp.replace(self.path)
            self._dirty = False
        except OSError as e:  # a cache that cannot be written only costs time
            log.warning("question vector cache not saved to %s (%s)", self.path, e)


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Asked:
    """What the engine says to one question now (a cached summary of :meth:`Engine.ask`)."""

    answered: bool
    confidence: float  # calibrated confidence of the best candidate (also when abstaining)
    doc_id: str | None = None  # the best candidate's page, section and quote
    title: str | None = None
    section: str | None = None
    quote: str = ""
    synthetic: bool = False
    relevance: float = 0.0  # cosine similarity of the question and the best retrieved passage


class AnswerCache:
    """Engine answers to gap questions, kept on disk per index build (``closest-<build>.json`` in the cache
    folder): a question asked again of the same index is not re-answered, so a report over a log already
    seen only asks the engine about new group names. Answers of other builds are not reused."""

    def __init__(self, engine: Engine, folder: str | Path | None) -> None:
        self.engine = engine
        version = engine.index_version or "unversioned"
        self.path = Path(folder) / f"closest-{_short(version)}.json" if folder else None
        self._items: dict[str, Asked] = {}
        self._dirty = False
        self._used: set[str] = set()
        if self.path is not None and self.path.is_file():
            try:
                raw = json.loads(self.path.read_text(encoding="utf-8"))
                self._items = {k: Asked(**v) for k, v in raw.get("answers", {}).items()}
            except (OSError, ValueError, TypeError) as e:
                log.warning("answer cache %s unreadable (%s); starting a new one", self.path, e)

    def ask(self, text: str, vector: np.ndarray) -> Asked:
        key = self._key(text)
        self._used.add(key)
        got = self._items.get(key)
        if got is None:
            a = self.engine.ask(text, q_vec=vector)
            b = a.best
            top = a.retrieved[0].dense if a.retrieved else 0.0
            got = Asked(answered=not a.abstained and b is not None, confidence=float(a.confidence),
                        doc_id=b.doc_id if b else None, title=b.passage.title if b else None,
                        section=b.passage.chunk.section if b else None, quote=b.text if b else "",
                        synthetic=b.passage.synthetic if b else False, relevance=float(top))
            self._items[key] = got
            self._dirty = True
        return got

    def remember(self, text: str, q: GapQuestion) -> None:
        """Take the engine's answer from a row logged under this index (not written to disk)."""
        key = self._key(text)
        if key in self._items:
            return
        page = self.engine.data.pages[self.engine.doc_index[q.best_doc_id]] \
            if q.best_doc_id in self.engine.doc_index else None
        if q.best_doc_id is not None and page is None:
            return  # a page that is not in this index: ask again
        self._items[key] = Asked(
            answered=not q.abstained and q.doc_id is not None, confidence=float(q.confidence),
            doc_id=q.best_doc_id, title=page.title if page else None, section=q.best_section, quote="",
            synthetic=page.synthetic if page else False, relevance=float(q.relevance or 0.0))

    def _key(self, text: str) -> str:
        return hashlib.sha256(normalise(text).encode()).hexdigest()[:32]

    def save(self) -> None:
        if self.path is None or not (self._dirty or self._used < set(self._items)):
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            for old in self.path.parent.glob("closest-*.json"):  # answers of other builds are stale
                if old != self.path:
                    old.unlink(missing_ok=True)
            tmp = self.path.with_suffix(".tmp")
            kept = {k: asdict(v) for k, v in self._items.items() if k in self._used}  # only this report's
            tmp.write_text(json.dumps({"index_version": self.engine.index_version, "answers": kept}),
                           encoding="utf-8")
            tmp.replace(self.path)
            self._dirty = False
        except OSError as e:
            log.warning("answer cache not saved to %s (%s)", self.path, e)


# --- grouping ------------------------------------------------------------------------------------------


def lexical_similarity(texts: Sequence[str], lexicon: Lexicon | None = None) -> np.ndarray:
    """Cosine similarity of TF-IDF vectors of the questions' stemmed content words. Document frequencies
    are counted over the questions *and* the index's chunks (``lexicon``): words the pages and many questions
    use ("treated", "symptoms", "injection") weigh little; the words that name a missing topic
    ("schistosomiasis", "parking") are rare in both and weigh most. Stable even for a handful of questions."""
    from scipy.sparse import csr_matrix

    from qa.text import terms

    docs = [Counter(terms(t)) for t in texts]
    vocab: dict[str, int] = {}
    for d in docs:
        for t in d:
            vocab.setdefault(t, len(vocab))
    n = len(texts)
    if not vocab:
        return np.zeros((n, n), dtype=np.float32)
    df_q = np.zeros(len(vocab))
    for d in docs:
        for t in d:
            df_q[vocab[t]] += 1
    df_c = np.asarray([lexicon.df(t) for t in vocab], dtype=np.float64) if lexicon is not None else 0.0
    n_all = n + (lexicon.n_docs if lexicon is not None else 0)
    idf = np.log(1.0 + (n_all + 1) / (df_q + df_c + 0.5))
    rows, cols, vals = [], [], []
    for i, d in enumerate(docs):
        for t, tf in d.items():
            rows.append(i)
            cols.append(vocab[t])
            vals.append((1.0 + np.log(tf)) * idf[vocab[t]])
    m = csr_matrix((vals, (rows, cols)), shape=(n, len(vocab)))
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    m = csr_matrix(m.multiply(1.0 / norms[:, None]))
    return np.asarray((m @ m.T).toarray(), dtype=np.float32)


def _average_linkage(x: np.ndarray, distance: float, extra_sim: np.ndarray | None = None,
                     lexical_weight: float = 0.0) -> np.ndarray:
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    sim = np.asarray(x, dtype=np.float32) @ np.asarray(x, dtype=np.float32).T
    if extra_sim is not None and lexical_weight > 0:
        sim *= 1.0 - lexical_weight
        sim += lexical_weight * extra_sim
    np.subtract(1.0, sim, out=sim)
    np.clip(sim, 0.0, 2.0, out=sim)
    np.fill_diagonal(sim, 0.0)
    condensed = squareform(sim, checks=False).astype(np.float64)  # the upper triangle
    del sim
    labels = fcluster(linkage(condensed, method="average"), t=distance, criterion="distance") - 1
    return np.asarray(labels, dtype=np.int64)


def cluster(vectors: np.ndarray, distance: float, *, exact_max: int = 4000, texts: Sequence[str] | None = None,
            lexical_weight: float = 0.0, lexicon: Lexicon | None = None,
            weights: np.ndarray | None = None) -> np.ndarray:
    """Group labels (0..k-1) for L2-normalised ``vectors``: average linkage, cut at ``distance``.

    With ``texts`` and ``lexical_weight`` w > 0 the similarity is
    ``(1 - w) × cosine(vectors) + w × lexical_similarity(texts)``. Up to ``exact_max`` rows this is exact
    (memory ~ 6 bytes × n² at the peak). Above, the ``exact_max`` most asked (``weights``) are clustered
    exactly and the others follow in blocks of ``exact_max // 4``: each block is clustered on its own
    (embeddings), and each of its groups joins the existing group it is closest to by average linkage when
    that is within ``distance``, else becomes a new group — linear in n, bounded memory."""
    n = len(vectors)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    x = np.asarray(vectors, dtype=np.float32)
    if n <= exact_max:
        lex = lexical_similarity(texts, lexicon) if texts is not None and lexical_weight > 0 else None
        return _average_linkage(x, distance, lex, lexical_weight)
    order = np.argsort(-(weights if weights is not None else np.ones(n)), kind="stable")
    head = order[:exact_max]
    head_texts = [texts[i] for i in head] if texts is not None else None
    lex = lexical_similarity(head_texts, lexicon) if head_texts is not None and lexical_weight > 0 else None
    labels = np.full(n, -1, dtype=np.int64)
    labels[head] = _average_linkage(x[head], distance, lex, lexical_weight)
    k = int(labels[head].max()) + 1
    sums = np.zeros((k, x.shape[1]), dtype=np.float32)
    np.add.at(sums, labels[head], x[head])
    counts = np.bincount(labels[head], minlength=k).astype(np.float32)
    block = max(64, exact_max // 4)
    for s in range(exact_max, n, block):
        idx = order[s:s + block]
        # Cluster the block on its own, then merge each of its groups into the existing group it is closest
        # to by average linkage (mean cosine over all pairs), when that is within ``distance``.
        sub = _average_linkage(x[idx], distance) if len(idx) > 1 else np.zeros(1, dtype=np.int64)
        m = int(sub.max()) + 1
        sub_sums = np.zeros((m, x.shape[1]), dtype=np.float32)
        np.add.at(sub_sums, sub, x[idx])
        sub_counts = np.bincount(sub, minlength=m).astype(np.float32)
        sims = (sub_sums @ sums.T) / (sub_counts[:, None] * counts[None, :])
        best = np.argmax(sims, axis=1)
        target = np.empty(m, dtype=np.int64)
        for j in range(m):
            if sims[j, best[j]] >= 1.0 - distance:
                target[j] = best[j]
            else:
                target[j] = k
                k += 1
        grow = k - len(sums)
        if grow:
            sums = np.vstack([sums, np.zeros((grow, x.shape[1]), dtype=np.float32)])
            counts = np.concatenate([counts, np.zeros(grow, dtype=np.float32)])
        np.add.at(sums, target, sub_sums)
        np.add.at(counts, target, sub_counts)
        labels[idx] = target[sub]
    return labels


# --- the report ----------------------------------------------------------------------------------------


@dataclass
class _Distinct:
    text: str  # the first spelling seen
    count: int = 0
    abstained: int = 0
    low_confidence: int = 0
    helpful: int = 0
    unhelpful: int = 0
    answered: int = 0
    first: datetime | None = None
    last: datetime | None = None
    stale: bool = False  # logged under another index version than the engine's
    logged: GapQuestion | None = None  # a row logged under the serving index with the engine's best candidate
    topics: dict[str, int] = field(default_factory=dict)


def gap_report(engine: Engine, settings: Settings, questions: Sequence[GapQuestion], *, source: str = "log",
               since: datetime | None = None, now: datetime | None = None,
               recheck: Literal["auto", "all", "none"] = "auto",
               cache: VectorCache | None = None) -> GapReport:
    """Group, explain and rank the gap questions among ``questions`` (see the module doc)."""
    if recheck not in ("auto", "all", "none"):
        raise InputError(f"recheck must be auto, all or none (got {recheck!r}).")
    now = now or datetime.now(UTC)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    version = engine.index_version
    distinct: dict[str, _Distinct] = {}
    n_gap = 0
    for q in questions:
        if not is_gap(q, settings):
            continue
        n_gap += 1
        key = normalise(q.question)
        if not key:
            continue
        d = distinct.get(key)
        if d is None:
            d = distinct[key] = _Distinct(text=q.question.strip())
        d.count += 1
        d.abstained += int(q.abstained)
        d.answered += int(not q.abstained)
        d.low_confidence += int(not q.abstained and q.confidence < settings.gap_low_confidence)
        d.helpful += q.helpful
        d.unhelpful += q.unhelpful
        if q.created_at is not None:
            d.first = q.created_at if d.first is None else min(d.first, q.created_at)
            d.last = q.created_at if d.last is None else max(d.last, q.created_at)
        d.stale = d.stale or (bool(q.index_version) and q.index_version != version)
        if q.index_version == version and q.relevance is not None and q.reason not in NOT_CONTENT_GAPS:
            d.logged = q
        if q.topic is not None:
            d.topics[q.topic] = d.topics.get(q.topic, 0) + 1
    items = list(distinct.values())
    timings["select"] = time.perf_counter() - t0

    t = time.perf_counter()
    if cache is None:
        cache = VectorCache(settings.cache_dir or None, engine.embedder.model_id, settings.cache_max_vectors)
    vectors = cache.encode(engine.embedder, [d.text for d in items]) if items else np.zeros((0, 1), np.float32)
    cache.save()
    timings["embed"] = time.perf_counter() - t

    t = time.perf_counter()
    labels = cluster(vectors, settings.gap_cluster_distance, exact_max=settings.gap_exact_max,
                     texts=[d.text for d in items], lexical_weight=settings.gap_lexical_weight,
                     lexicon=engine.lexicon, weights=np.asarray([d.count for d in items], dtype=np.float64))
    timings["cluster"] = time.perf_counter() - t

    t = time.perf_counter()
    members: dict[int, list[int]] = {}
    for i, lab in enumerate(labels.tolist()):
        members.setdefault(lab, []).append(i)
    asked = AnswerCache(engine, settings.cache_dir or None)
    for d in items:  # what the engine said when these were logged under this very index: no need to ask again
        if d.logged is not None:
            asked.remember(d.text, d.logged)
    groups: list[GapGroup] = []
    for idx in members.values():
        groups.append(_group(asked, settings, items, vectors, idx, now, recheck, version))
    asked.save()
    groups.sort(key=lambda g: (-g.priority, -g.count, g.label))
    groups = [replace(g, rank=r) for r, g in enumerate(groups, 1)]
    timings["explain"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    log.info("gap report: %d questions, %d gap questions, %d distinct, %d groups in %.2fs",
             len(questions), n_gap, len(items), len(groups), timings["total"])
    return GapReport(
        groups=tuple(groups), generated_at=now, source=source, since=since, index_version=version,
        total_questions=len(questions), gap_questions=n_gap,
        settings={"low_confidence": settings.gap_low_confidence, "cluster_distance": settings.gap_cluster_distance,
                  "lexical_weight": settings.gap_lexical_weight,
                  "page_relevance": settings.gap_page_relevance,
                  "recency_half_life_days": settings.gap_recency_half_life_days},
        timings_s={k: round(v, 4) for k, v in timings.items()},
    )


def _group(asked: AnswerCache, settings: Settings, items: list[_Distinct], vectors: np.ndarray, idx: list[int],
           now: datetime, recheck: str, version: str) -> GapGroup:
    weights = np.asarray([items[i].count for i in idx], dtype=np.float64)
    v = vectors[idx]
    centrality = (v @ v.T) @ weights
    centre = idx[int(np.argmax(centrality + 1e-9 * weights))]
    order = sorted(idx, key=lambda i: (-items[i].count, -float(vectors[i] @ vectors[centre])))
    label = items[centre].text
    count = int(weights.sum())
    answered = sum(items[i].answered for i in idx)
    helpful = sum(items[i].helpful for i in idx)
    unhelpful = sum(items[i].unhelpful for i in idx)
    firsts = [t for t in (items[i].first for i in idx) if t is not None]
    lasts = [t for t in (items[i].last for i in idx) if t is not None]
    first, last = (min(firsts) if firsts else None), (max(lasts) if lasts else None)

    answer = asked.ask(label, vectors[centre])
    closest = None
    if answer.doc_id is not None:
        closest = ClosestPage(doc_id=answer.doc_id, title=answer.title or "", section=answer.section or "",
                              score=round(answer.confidence, 4), relevance=round(answer.relevance, 4),
                              quote=answer.quote, synthetic=answer.synthetic)
    if answered * 2 > count and unhelpful > helpful:
        kind = GapKind.ANSWERED_BUT_UNHELPFUL
    elif closest is not None and closest.relevance >= settings.gap_page_relevance:
        kind = GapKind.PAGE_EXISTS_BUT_SECTION_MISSING
    else:
        kind = GapKind.NO_PAGE

    now_answered = None
    if recheck == "all" or (recheck == "auto" and any(items[i].stale for i in idx)):
        now_answered = _recheck(asked, settings, [items[i].text for i in order], vectors[order], version)

    age_days = max(0.0, (now - last).total_seconds() / 86400) if last is not None else 0.0
    recency = 0.5 ** (age_days / settings.gap_recency_half_life_days)
    score = closest.score if closest is not None else 0.0
    priority = count * recency * (1.0 - 0.5 * score)
    return GapGroup(
        rank=0, label=label, kind=kind, count=count, distinct=len(idx),
        examples=tuple(items[i].text for i in order[: settings.gap_examples]), first_seen=first, last_seen=last,
        closest=closest, priority=round(priority, 4), abstained=sum(items[i].abstained for i in idx),
        low_confidence=sum(items[i].low_confidence for i in idx), unhelpful_votes=unhelpful,
        helpful_votes=helpful, questions=tuple(items[i].text for i in order), now_answered=now_answered,
    )


def _recheck(asked: AnswerCache, settings: Settings, texts: list[str], vectors: np.ndarray,
             version: str) -> NowAnswered:
    answers = [asked.ask(text, vec) for text, vec in list(zip(texts, vectors, strict=True))[: settings.gap_recheck_max]]
    good = [a for a in answers if a.answered]
    top = max(good, key=lambda a: a.confidence) if good else None
    return NowAnswered(
        answered=len(good), asked=len(answers), doc_id=top.doc_id if top else None,
        title=top.title if top else None, section=top.section if top else None,
        confidence=round(top.confidence, 4) if top is not None else 0.0, index_version=version,
    )


def gap_report_from_log(engine: Engine, settings: Settings, log_: QuestionLog, *, since: timedelta | None = None,
                        now: datetime | None = None, recheck: Literal["auto", "all", "none"] = "auto") -> GapReport:
    """The gap report of the question log over the last ``since`` (all of it when None)."""
    now = now or datetime.now(UTC)
    start = now - since if since is not None else None
    return gap_report(engine, settings, questions_from_log(log_, since=start), source="log", since=start, now=now,
                      recheck=recheck)


# --- export --------------------------------------------------------------------------------------------


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def group_to_dict(g: GapGroup) -> dict[str, Any]:
    d = asdict(g)
    d["kind"] = str(g.kind)
    d["first_seen"], d["last_seen"] = _iso(g.first_seen), _iso(g.last_seen)
    d["examples"], d["questions"] = list(g.examples), list(g.questions)
    return d


def report_to_dict(report: GapReport) -> dict[str, Any]:
    return {
        "generated_at": _iso(report.generated_at), "source": report.source, "since": _iso(report.since),
        "index_version": report.index_version, "total_questions": report.total_questions,
        "gap_questions": report.gap_questions, "settings": dict(report.settings),
        "timings_s": dict(report.timings_s), "groups": [group_to_dict(g) for g in report.groups],
    }


def to_json(report: GapReport) -> str:
    return json.dumps(report_to_dict(report), ensure_ascii=False, indent=2)


CSV_COLUMNS = (
    "rank", "label", "kind", "count", "distinct", "first_seen", "last_seen", "closest_doc_id", "closest_title",
    "closest_section", "closest_score", "closest_relevance", "priority", "abstained", "low_confidence",
    "unhelpful_votes", "helpful_votes", "examples", "now_answered", "now_answered_doc_id",
    "now_answered_section", "now_answered_confidence",
)


def to_csv(report: GapReport) -> str:
    """One row per group (``CSV_COLUMNS``); examples joined with `` | ``."""
    return csv_text(CSV_COLUMNS, (_csv_row(g) for g in report.groups))


def _csv_row(g: GapGroup) -> list[object]:
    c, na = g.closest, g.now_answered
    return [
        g.rank, g.label, str(g.kind), g.count, g.distinct, _iso(g.first_seen) or "", _iso(g.last_seen) or "",
        c.doc_id if c else "", c.title if c else "", c.section if c else "", c.score if c else "",
        c.relevance if c else "", g.priority, g.abstained, g.low_confidence, g.unhelpful_votes,
        g.helpful_votes, " | ".join(g.examples), f"{na.answered}/{na.asked}" if na else "",
        (na.doc_id or "") if na else "", (na.section or "") if na else "", na.confidence if na else "",
    ]
