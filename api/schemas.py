"""Request and response models of the HTTP API (the only place pydantic meets the wire).

Requests are strict: unknown fields are refused (``extra="forbid"``), types are not coerced
(``"yes"`` is not a boolean), and every string has a length limit.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from qa.domain import Reason

# The model's hard cap; the served limit is Settings.max_question_chars (default 500), which
# create_app writes into the OpenAPI schema so clients and schemathesis see the real number.
QUESTION_MAX_CHARS = 5000  # = the largest Settings.max_question_chars allowed
FILTER_MAX_CHARS = 100
COMMENT_MAX_CHARS = 1000
HISTORY_MAX_ITEMS = 5  # = qa.context.MAX_HISTORY
ANSWER_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
# At least one character that is neither whitespace nor a control character (patterns are unanchored).
NON_BLANK = r"[^\s\x00-\x1f\x7f]"


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- requests ------------------------------------------------------------------------------------

class Filters(_Request):
    procedure: str | None = Field(
        default=None, min_length=1, max_length=FILTER_MAX_CHARS, pattern=NON_BLANK,
        description="Only answer from pages about this procedure (a slug, see GET /v1/documents).",
        examples=["epidural-steroid-injection"],
    )
    category: str | None = Field(
        default=None, min_length=1, max_length=FILTER_MAX_CHARS, pattern=NON_BLANK,
        description="Only answer from pages of this category.", examples=["procedure"],
    )


PreviousQuestion = Annotated[str, Field(min_length=1, max_length=QUESTION_MAX_CHARS, pattern=NON_BLANK)]


class AskContext(_Request):
    procedure: str | None = Field(
        default=None, min_length=1, max_length=FILTER_MAX_CHARS, pattern=NON_BLANK,
        description="The procedure page the chat sits on (a slug, see GET /v1/documents): a *soft* preference. "
                    "Questions that do not name a procedure are answered from that procedure's pages and the "
                    "general do's and don'ts page; a question naming another procedure (\"and for the genicular "
                    "block?\") is answered from that procedure's page. Unknown slugs are refused (422).",
        examples=["iliopsoas-injection"],
    )
    history: list[PreviousQuestion] = Field(
        default_factory=list, max_length=HISTORY_MAX_ITEMS,
        description="The patient's previous questions in this conversation, newest last (at most 5, each at "
                    "most the question length limit). A follow-up (\"how long does that last?\", \"and after?\") "
                    "is read against them: the procedure and the topic of the previous turn carry over when the "
                    "new question does not set its own. Held by the browser only: the server logs each question "
                    "once, when it is asked, never the history sent with a later one.",
        examples=[["will my leg feel weak after the iliopsoas injection?"]],
    )


class AskRequest(_Request):
    question: str = Field(
        min_length=1, max_length=QUESTION_MAX_CHARS, pattern=NON_BLANK,
        description="The patient's or staff member's question, in plain words.",
        examples=["Can I eat before my epidural steroid injection?"],
    )
    filters: Filters | None = Field(default=None, description="Restrict the pages the answer may come from "
                                                             "(hard filters).")
    context: AskContext | None = Field(
        default=None, description="Where the question is asked from and the conversation so far (soft: see "
                                  "`AskContext`). Without it the answer is exactly what it is without context.")
    audience: Literal["patient", "staff"] = Field(
        default="patient",
        description="`staff` also get the alternative answers and the retrieved passages with their scores; "
                    "that needs the staff session cookie (sign in at /staff-login) or the admin token "
                    "(`Authorization: Bearer`): 401 without either, 403 with a wrong one.",
    )

    model_config = ConfigDict(
        extra="forbid", strict=True,
        json_schema_extra={"examples": [
            {"question": "Can I eat before my epidural steroid injection?", "audience": "patient"},
            {"question": "How long does a genicular nerve block last?",
             "filters": {"procedure": "genicular-nerve-block"}, "audience": "staff"},
            {"question": "how long does that last?",
             "context": {"procedure": "iliopsoas-injection",
                         "history": ["will my leg feel weak after the iliopsoas injection?"]}},
            {"question": "and for the genicular block?",
             "context": {"procedure": "iliopsoas-injection", "history": ["what should i wear?"]}},
        ]},
    )


class FeedbackRequest(_Request):
    answer_id: str = Field(
        pattern=ANSWER_ID_PATTERN, description="The `answer_id` of a /v1/ask response.",
        examples=["3f2b9c1d7e6a4b5c8d9e0f1a2b3c4d5e"],
    )
    helpful: bool = Field(description="Did the answer help?", examples=[True])
    comment: str | None = Field(
        default=None, max_length=COMMENT_MAX_CHARS,
        description="Optional free text (personal data is redacted before it is stored).",
        examples=["Clear, thank you."],
    )


# --- responses -----------------------------------------------------------------------------------

class ErrorItem(_Response):
    loc: list[str | int]
    msg: str
    type: str


class ErrorResponse(_Response):
    detail: str = Field(examples=["The question is empty: type a question about the clinic's procedures."])
    errors: list[ErrorItem] | None = None


class Quote(_Response):
    text: str = Field(description="The answer: a verbatim quote from the clinic's page.")
    doc_id: str
    start: int = Field(description="Offset of the quote in the page text.")
    end: int
    quote_start: int = Field(description="Offset of the quote in `passage.text`.")
    quote_end: int


class CitationOut(_Response):
    title: str
    section: str
    url: str | None
    doc_id: str
    start: int
    end: int
    synthetic: bool = Field(description="True for illustrative pages written for the demo corpus.")


class PassageOut(_Response):
    chunk_id: str
    doc_id: str
    title: str
    section: str
    url: str | None
    text: str
    start: int
    end: int
    synthetic: bool
    procedure: str | None = None
    category: str | None = None
    last_reviewed: date | None = None


class PassageScore(_Response):
    rank: int
    chunk_id: str
    doc_id: str
    title: str
    section: str
    score: float = Field(description="Fused retrieval score (larger is better).")
    lexical: float = Field(description="BM25 score.")
    dense: float = Field(description="Cosine similarity of question and passage.")


class Alternative(_Response):
    text: str
    doc_id: str
    start: int
    end: int
    confidence: float
    score: float
    title: str
    section: str
    url: str | None


class EscalationOut(_Response):
    rule: str
    message: str
    phones: list[str]
    language: str = Field(default="en", description=(
        "BCP 47 tag of the language `message` is written in, the patient's own: `en`, `ta` (Tamil script), "
        "`hi` (Devanagari), `ta-Latn` or `hi-Latn` (romanised Tamil or Hindi). The numbers come first."))


class ReadingOut(_Response):
    procedure: str | None = Field(description="The procedure whose pages (and the general do's and don'ts page) "
                                              "were searched; null: all pages.")
    source: Literal["question", "history", "page", "none"] = Field(description=(
        "Where `procedure` came from: named in the `question`, carried from the `history`, the `page` the chat "
        "sits on, or `none`."))
    follow_up: bool = Field(description="The question was read as depending on the previous one in `history`.")
    carried: list[str] = Field(description="Words of the previous question added for matching (a follow-up "
                                           "without a topic of its own: \"how long does that last?\").")


class AskResponse(_Response):
    answer_id: str = Field(description="Quote it in POST /v1/feedback.")
    question: str
    abstained: bool = Field(description="True when the assistant does not answer (see `reason`, `message`).")
    reason: Reason = Field(description="`answered`; `no_relevant_passage` (the pages do not seem to cover the "
                                       "question); `low_confidence` (they may, but the best quote is too "
                                       "uncertain); `emergency`; `needs_clinician`.")
    confidence: float = Field(ge=0.0, le=1.0, description=(
        "The probability that the quoted answer is right: P(the pages cover the question) x P(this quote "
        "answers it | they do), calibrated on held-out labelled questions (BENCHMARKS.md). The assistant "
        "answers at or above the answer model's threshold."))
    message: str = Field(description="What to tell the person when abstaining, escalating or referring.")
    contact: str | None = Field(description="The clinic's contact line, when the assistant abstains.")
    answer: Quote | None
    passage: PassageOut | None = Field(description="The passage the answer is quoted from.")
    citations: list[CitationOut]
    escalation: EscalationOut | None
    alternatives: list[Alternative] | None = Field(
        default=None, description="Staff only: other candidate answers, best first (the best one "
                                  "first when the assistant abstained).")
    passages: list[PassageScore] | None = Field(
        default=None, description="Staff only: the retrieved passages with their scores.")
    cached: bool = Field(description="Served from the answer cache.")
    index_version: str
    latency_ms: float
    language: str = Field(default="en", description=(
        "The question's language: `en`, `ta` / `hi` (Tamil / Hindi script) or `ta-Latn` / `hi-Latn` (romanised). "
        "Tamil and Hindi questions are answered with the pages' English sentence (issue 14)."))
    reading: ReadingOut | None = Field(default=None, description=(
        "Only when `context` was sent: how the question was read in it (which procedure's pages, a follow-up "
        "or not). Null without a context and for emergencies."))
    note: str = Field(default="", description=(
        "For a question not in English, in the patient's language: the clinic's pages are in English and the "
        "quote is the English sentence that answers the question (or, abstaining, that they do not answer it)."))

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "answer_id": "3f2b9c1d7e6a4b5c8d9e0f1a2b3c4d5e",
        "question": "Will my leg feel weak after an iliopsoas injection?",
        "abstained": False, "reason": "answered", "confidence": 0.93, "message": "", "contact": None,
        "answer": {"text": "Occasionally, your leg may feel heavy or weak for a few hours.",
                   "doc_id": "iliopsoas-injection", "start": 1204, "end": 1267, "quote_start": 88,
                   "quote_end": 151},
        "passage": {"chunk_id": "iliopsoas-injection#3", "doc_id": "iliopsoas-injection",
                    "title": "Iliopsoas Injection", "section": "What can I expect after the procedure?",
                    "url": None, "text": "What can I expect after the procedure?\n\n…", "start": 1116,
                    "end": 1480, "synthetic": True, "procedure": "iliopsoas-injection",
                    "category": "procedure", "last_reviewed": "2026-10-12"},
        "citations": [{"title": "Iliopsoas Injection", "section": "What can I expect after the procedure?",
                       "url": None, "doc_id": "iliopsoas-injection", "start": 1204, "end": 1267,
                       "synthetic": True}],
        "escalation": None, "alternatives": None, "passages": None, "cached": False,
        "index_version": "20261128T060725477190Z-46608176", "latency_ms": 14.2,
    }, {
        "answer_id": "9a8b7c6d5e4f30211203948576afbecd", "question": "How much does parking cost?",
        "abstained": True, "reason": "no_relevant_passage", "confidence": 0.04,
        "message": "I don't have that in the clinic's pages. Please call Atlas Pain Care, Coimbatore on "
                   "+91 422 000 0000 and the team will help.",
        "contact": "I don't have that in the clinic's pages. Please call Atlas Pain Care, Coimbatore on "
                   "+91 422 000 0000 and the team will help.",
        "answer": None, "passage": None, "citations": [], "escalation": None, "alternatives": None,
        "passages": None, "cached": False, "index_version": "20261128T060725477190Z-46608176",
        "latency_ms": 12.8,
    }]})


class Highlight(_Response):
    start: int = Field(description="Offset of the best-matching sentence in the hit's `text`.")
    end: int
    text: str


class SearchHitOut(_Response):
    rank: int
    chunk_id: str
    doc_id: str
    title: str
    section: str
    url: str | None
    text: str
    highlight: Highlight
    score: float
    lexical: float
    dense: float
    synthetic: bool
    procedure: str | None = None
    category: str | None = None
    last_reviewed: date | None = None


class SearchResponse(_Response):
    query: str
    k: int
    index_version: str
    hits: list[SearchHitOut]


class DocumentOut(_Response):
    doc_id: str
    title: str
    url: str | None
    source: str
    chunks: int
    synthetic: bool
    procedure: str | None = None
    category: str | None = None
    last_reviewed: date | None = None


class DocumentsResponse(_Response):
    count: int
    index_version: str
    documents: list[DocumentOut]


class NoticeResponse(_Response):
    privacy_notice: str
    retention_days: int
    disclaimer: str


class FeedbackResponse(_Response):
    answer_id: str
    stored: bool = True


class HealthResponse(_Response):
    status: Literal["ok"] = "ok"


class LogStatus(_Response):
    backend: str
    pending: int
    written: int
    dropped: int
    available: bool = Field(True, description="False while the last write to the question log failed "
                                              "(the database is down, or its file or folder vanished).")


class LogDetail(LogStatus):
    last_error: str | None = Field(None, description="Why the last write failed (admins only).")


class IndexStatus(_Response):
    ready: bool
    index_version: str | None = None
    rebuilding: bool = Field(False, description="A damaged index is being rebuilt.")
    problem: str | None = Field(None, description="What is wrong with the index on disk, with its folder "
                                                  "(admins only; the public /readyz only says 'damaged').")
    manifest: dict[str, Any] | None = None


class AdminStatusResponse(_Response):
    index: IndexStatus
    question_log: LogDetail


class ReadyResponse(_Response):
    status: Literal["ready", "not ready"]
    detail: str | None = None
    index_version: str | None = None
    manifest: dict[str, Any] | None = None
    question_log: LogStatus | None = None


class ReindexResponse(_Response):
    status: Literal["swapped"] = "swapped"
    index_version: str
    previous_version: str | None
    documents: int
    chunks: int
    seconds: float
    manifest: dict[str, Any]


class FeedbackOut(_Response):
    helpful: bool
    comment: str | None
    created_at: datetime


class LoggedQuestion(_Response):
    answer_id: str
    created_at: datetime
    question: str = Field(description="Redacted: names, phone numbers, e-mails... are replaced.")
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
    feedback: list[FeedbackOut]


class QuestionsPageResponse(_Response):
    total: int
    page: int
    page_size: int
    items: list[LoggedQuestion]


# --- content team: gaps, coverage, lint ------------------------------------------------------------------

SINCE_PATTERN = r"^[1-9][0-9]{0,3}[hdw]?$"


class ClosestPageOut(_Response):
    doc_id: str
    title: str
    section: str
    score: float = Field(description="The engine's calibrated confidence that its best quote from this page "
                                     "answers the group's central question.")
    relevance: float = Field(description="Cosine similarity of the central question and the best passage.")
    quote: str = Field(description="The best candidate quote; empty when the closest page was taken from the "
                                   "question log (the question was logged under the serving index).")
    synthetic: bool


class NowAnsweredOut(_Response):
    answered: int = Field(description="How many of the re-asked questions the current index answers.")
    asked: int
    doc_id: str | None
    title: str | None
    section: str | None
    confidence: float
    index_version: str


class GapGroupOut(_Response):
    rank: int
    label: str = Field(description="The group's most central question.")
    kind: Literal["no_page", "page_exists_but_section_missing", "answered_but_unhelpful"]
    count: int = Field(description="How many times questions of this group were asked.")
    distinct: int
    examples: list[str] = Field(description="Redacted example questions, most asked first.")
    first_seen: datetime | None
    last_seen: datetime | None
    closest: ClosestPageOut | None
    priority: float
    abstained: int
    low_confidence: int
    unhelpful_votes: int
    helpful_votes: int
    questions: list[str]
    now_answered: NowAnsweredOut | None = Field(
        description="Set when the group's questions were re-asked against the current index (after a reindex, "
                    "or on POST /v1/admin/gaps/recheck).")


class GapReportResponse(_Response):
    generated_at: datetime
    source: str
    since: datetime | None
    index_version: str
    total_questions: int
    gap_questions: int
    settings: dict[str, float]
    timings_s: dict[str, float]
    groups: list[GapGroupOut]


class SectionCoverageOut(_Response):
    doc_id: str
    title: str
    section: str
    synthetic: bool
    answered: int
    mean_confidence: float | None
    min_confidence: float | None
    helpful: int
    unhelpful: int
    last_answered: datetime | None
    unused: bool


class PageCoverageOut(_Response):
    doc_id: str
    title: str
    synthetic: bool
    answered: int
    unknown_section: int
    helpful: int
    unhelpful: int
    sections: int
    sections_used: int
    many_unhelpful: bool


class SectionRef(_Response):
    doc_id: str
    section: str


class CoverageResponse(_Response):
    generated_at: datetime
    since: datetime | None
    index_version: str
    total_questions: int
    answered: int
    abstained: int
    outside_index: int
    settings: dict[str, float]
    pages: list[PageCoverageOut]
    sections: list[SectionCoverageOut]
    unused_sections: list[SectionRef]
    unhelpful_pages: list[str]


class LintFindingOut(_Response):
    rule: str
    severity: Literal["error", "warning", "info"]
    message: str
    doc_id: str | None
    source: str | None
    locations: list[str]
    evidence: list[str]


class LintResponse(_Response):
    errors: int
    warnings: int
    infos: int
    findings: list[LintFindingOut]
