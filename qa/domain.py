"""Small, immutable domain objects shared by every part of ``qa``.

Offsets are character offsets into :attr:`Page.text` unless a name says otherwise, so that
``page.text[chunk.start:chunk.end] == chunk.text`` and
``page.text[answer.start:answer.end] == answer.text`` always hold.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


def content_hash(*parts: str, length: int = 16) -> str:
    """A short, stable hex id made from the given strings (sha256)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()[:length]


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open character range ``[start, end)`` into a page's text."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.end < self.start:
            raise ValueError(f"invalid span [{self.start}, {self.end})")

    def __len__(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Heading:
    """A section heading line inside a page's text (often a patient question)."""

    start: int
    end: int
    level: int = 2


@dataclass(frozen=True, slots=True)
class Page:
    """One source page of the corpus, as ingested.

    ``text`` is the page body as plain text (front matter and markup removed); headings are lines
    of ``text`` whose spans are listed in ``headings``.
    """

    doc_id: str
    title: str
    text: str
    source: str  # where it came from: a corpus-relative path, or "file.jsonl:LINE"
    url: str | None = None
    headings: tuple[Heading, ...] = ()
    procedure: str | None = None
    category: str | None = None
    last_reviewed: date | None = None
    synthetic: bool = False

    @property
    def fingerprint(self) -> str:
        """Content hash of everything that affects the index."""
        heads = ",".join(f"{h.start}:{h.end}:{h.level}" for h in self.headings)
        return content_hash(
            self.doc_id, self.title, self.text, self.url or "", heads,
            self.procedure or "", self.category or "", str(self.synthetic),
        )


@dataclass(frozen=True, slots=True)
class Chunk:
    """A retrievable unit: a section (heading + its text) or a sentence-aligned piece of a long one."""

    chunk_id: str
    doc_id: str
    start: int
    end: int
    text: str
    section: str  # heading text of the section ("" when the page has none before this text)
    sentences: tuple[Span, ...]  # page offsets of the sentences inside this chunk, in order
    heading: Span | None = None  # page offsets of the section heading, when there is one
    position: int = 0  # index of this chunk within its page


@dataclass(frozen=True, slots=True)
class Citation:
    title: str
    section: str
    url: str | None
    doc_id: str
    start: int
    end: int
    source: str
    synthetic: bool = False


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved chunk with the page facts needed to show and cite it."""

    chunk: Chunk
    title: str
    url: str | None
    source: str
    score: float  # fused retrieval score (rank-based; larger is better)
    lexical: float = 0.0  # BM25 score
    dense: float = 0.0  # cosine similarity of question and chunk
    rank: int = 0
    synthetic: bool = False
    procedure: str | None = None
    category: str | None = None
    last_reviewed: date | None = None

    @property
    def doc_id(self) -> str:
        return self.chunk.doc_id

    @property
    def text(self) -> str:
        return self.chunk.text


class Reason(StrEnum):
    ANSWERED = "answered"
    NO_RELEVANT_PASSAGE = "no_relevant_passage"
    LOW_CONFIDENCE = "low_confidence"
    EMERGENCY = "emergency"
    NEEDS_CLINICIAN = "needs_clinician"


@dataclass(frozen=True, slots=True)
class Escalation:
    rule: str
    message: str
    phones: tuple[str, ...]
    # BCP 47 tag of the language ``message`` is in: "en", "ta", "hi", "ta-Latn", "hi-Latn" (qa/safety.py)
    language: str = "en"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A quoted window of 1–3 consecutive sentences from one passage, with its score."""

    text: str
    doc_id: str
    start: int  # page offsets
    end: int
    passage: Passage
    score: float
    confidence: float = 0.0

    @property
    def quote_start(self) -> int:
        """Offset of the quote inside the passage text."""
        return self.start - self.passage.chunk.start

    @property
    def quote_end(self) -> int:
        return self.end - self.passage.chunk.start

    def citation(self) -> Citation:
        p = self.passage
        return Citation(
            title=p.title, section=p.chunk.section, url=p.url, doc_id=self.doc_id,
            start=self.start, end=self.end, source=p.source, synthetic=p.synthetic,
        )


@dataclass(frozen=True, slots=True)
class Answer:
    """What the assistant says to one question. Abstaining is an Answer with a reason."""

    question: str
    abstained: bool
    reason: Reason
    confidence: float
    best: Candidate | None = None  # the best candidate, kept even when abstaining
    citations: tuple[Citation, ...] = ()
    alternatives: tuple[Candidate, ...] = ()
    message: str = ""  # what to tell the person when abstaining / escalating / referring
    escalation: Escalation | None = None
    retrieved: tuple[Passage, ...] = ()
    latency_ms: float = 0.0
    answer_id: str = field(default="")
    # The question's language: "en", or "ta" / "hi" (Tamil / Hindi script), "ta-Latn" / "hi-Latn" (romanised).
    language: str = "en"
    # For a question not in English: says, in the patient's language, that the quote is the pages' English.
    note: str = ""
    # Only for a question asked with a context: how it was read (which procedure, a follow-up or not).
    reading: Reading | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """How a question sent with a context (the widget's page, the conversation so far) was read (qa/context.py)."""

    procedure: str | None  # the procedure whose pages (and the general page) were searched, or None: all pages
    source: str  # where that came from: "question" (named in it), "history", "page" or "none"
    follow_up: bool  # read as depending on the previous question
    carried: tuple[str, ...] = ()  # the previous question's words added for retrieval


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A passage for staff lookup, with its best-matching sentence to highlight."""

    passage: Passage
    highlight: Span  # page offsets of the best sentence inside the passage


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    doc_id: str
    title: str
    url: str | None
    source: str
    chunks: int
    synthetic: bool = False
    procedure: str | None = None
    category: str | None = None
    last_reviewed: date | None = None
