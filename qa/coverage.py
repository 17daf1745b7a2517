"""Coverage map: which pages and sections answer patients' questions, how well, and which never do.

Public functions (the CLI, the API and the UI's content-team view call these)::

    coverage_map(engine: Engine, settings: Settings, questions: Sequence[GapQuestion], *,
                 since: datetime | None = None, now: datetime | None = None) -> CoverageMap
    coverage_from_log(engine, settings, log: QuestionLog, *, since: timedelta | None = None) -> CoverageMap
    coverage_to_dict(cmap) -> dict;  to_json(cmap) -> str;  to_csv(cmap) -> str

Every section of the serving index is listed (a section = a page heading and its text, as chunked), with
how many logged answers quoted it, their mean and lowest confidence, and the helpful / unhelpful votes
they got. Sections no answer quoted are ``unused``. A page is flagged ``many_unhelpful`` when its answers
got at least ``Settings.coverage_unhelpful_min`` unhelpful votes making up at least
``Settings.coverage_unhelpful_share`` of its votes. Answers logged before the log recorded sections count
for their page under ``unknown_section``; answers quoting a page no longer in the index are counted in
``outside_index``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from qa.csvexport import to_csv as csv_text
from qa.gaps import GapQuestion, questions_from_log
from qa.settings import Settings

if TYPE_CHECKING:
    from qa.engine import Engine
    from qa.questionlog import QuestionLog


@dataclass(frozen=True, slots=True)
class SectionCoverage:
    doc_id: str
    title: str
    section: str  # heading text; "" for text before the page's first heading
    synthetic: bool
    answered: int = 0
    mean_confidence: float | None = None
    min_confidence: float | None = None
    helpful: int = 0
    unhelpful: int = 0
    last_answered: datetime | None = None

    @property
    def unused(self) -> bool:
        return self.answered == 0


@dataclass(frozen=True, slots=True)
class PageCoverage:
    doc_id: str
    title: str
    synthetic: bool
    answered: int
    unknown_section: int  # answers quoting this page logged without their section
    helpful: int
    unhelpful: int
    sections: int
    sections_used: int
    many_unhelpful: bool


@dataclass(frozen=True, slots=True)
class CoverageMap:
    pages: tuple[PageCoverage, ...]
    sections: tuple[SectionCoverage, ...]
    generated_at: datetime
    since: datetime | None
    index_version: str
    total_questions: int
    answered: int
    abstained: int
    outside_index: int  # answers quoting pages that are not in the index any more
    settings: dict[str, float] = field(default_factory=dict)

    @property
    def unused_sections(self) -> tuple[SectionCoverage, ...]:
        return tuple(s for s in self.sections if s.unused)

    @property
    def unhelpful_pages(self) -> tuple[PageCoverage, ...]:
        return tuple(p for p in self.pages if p.many_unhelpful)


@dataclass
class _Tally:
    answered: int = 0
    conf_sum: float = 0.0
    conf_min: float | None = None
    helpful: int = 0
    unhelpful: int = 0
    last: datetime | None = None

    def add(self, q: GapQuestion) -> None:
        self.answered += 1
        self.conf_sum += q.confidence
        self.conf_min = q.confidence if self.conf_min is None else min(self.conf_min, q.confidence)
        self.helpful += q.helpful
        self.unhelpful += q.unhelpful
        if q.created_at is not None:
            self.last = q.created_at if self.last is None else max(self.last, q.created_at)


def coverage_map(engine: Engine, settings: Settings, questions: Sequence[GapQuestion], *,
                 since: datetime | None = None, now: datetime | None = None) -> CoverageMap:
    """Tally the answered ``questions`` onto the sections of ``engine``'s index."""
    pages = {p.doc_id: p for p in engine.data.pages}
    order: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for c in engine.data.chunks:
        key = (c.doc_id, c.section)
        if key not in seen:
            seen.add(key)
            order.append(key)
    tallies: dict[tuple[str, str], _Tally] = {k: _Tally() for k in order}
    unknown: dict[str, _Tally] = {}
    answered = abstained = outside = 0
    for q in questions:
        if q.abstained or not q.doc_id:
            abstained += int(q.abstained)
            continue
        answered += 1
        if q.doc_id not in pages:
            outside += 1
            continue
        if q.section is not None and (q.doc_id, q.section) in tallies:
            tallies[(q.doc_id, q.section)].add(q)
        else:
            unknown.setdefault(q.doc_id, _Tally()).add(q)

    sections = tuple(
        SectionCoverage(
            doc_id=d, title=pages[d].title, section=s, synthetic=pages[d].synthetic, answered=t.answered,
            mean_confidence=round(t.conf_sum / t.answered, 4) if t.answered else None,
            min_confidence=round(t.conf_min, 4) if t.conf_min is not None else None,
            helpful=t.helpful, unhelpful=t.unhelpful, last_answered=t.last,
        )
        for (d, s), t in ((k, tallies[k]) for k in order)
    )
    page_rows = []
    for doc_id, page in pages.items():
        own = [s for s in sections if s.doc_id == doc_id]
        extra = unknown.get(doc_id, _Tally())
        helpful = sum(s.helpful for s in own) + extra.helpful
        unhelpful = sum(s.unhelpful for s in own) + extra.unhelpful
        votes = helpful + unhelpful
        flagged = (unhelpful >= settings.coverage_unhelpful_min
                   and unhelpful >= settings.coverage_unhelpful_share * votes)
        page_rows.append(PageCoverage(
            doc_id=doc_id, title=page.title, synthetic=page.synthetic,
            answered=sum(s.answered for s in own) + extra.answered, unknown_section=extra.answered,
            helpful=helpful, unhelpful=unhelpful, sections=len(own), sections_used=sum(not s.unused for s in own),
            many_unhelpful=flagged,
        ))
    page_rows.sort(key=lambda p: (-p.unhelpful, -p.answered, p.doc_id))
    return CoverageMap(
        pages=tuple(page_rows), sections=sections, generated_at=now or datetime.now(UTC), since=since,
        index_version=engine.index_version, total_questions=len(questions), answered=answered,
        abstained=abstained, outside_index=outside,
        settings={"unhelpful_min": settings.coverage_unhelpful_min,
                  "unhelpful_share": settings.coverage_unhelpful_share},
    )


def coverage_from_log(engine: Engine, settings: Settings, log_: QuestionLog, *, since: timedelta | None = None,
                      now: datetime | None = None) -> CoverageMap:
    now = now or datetime.now(UTC)
    start = now - since if since is not None else None
    return coverage_map(engine, settings, questions_from_log(log_, since=start), since=start, now=now)


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def coverage_to_dict(cmap: CoverageMap) -> dict[str, Any]:
    sections = []
    for s in cmap.sections:
        d = asdict(s)
        d["last_answered"] = _iso(s.last_answered)
        d["unused"] = s.unused
        sections.append(d)
    return {
        "generated_at": _iso(cmap.generated_at), "since": _iso(cmap.since), "index_version": cmap.index_version,
        "total_questions": cmap.total_questions, "answered": cmap.answered, "abstained": cmap.abstained,
        "outside_index": cmap.outside_index, "settings": dict(cmap.settings),
        "pages": [asdict(p) for p in cmap.pages], "sections": sections,
        "unused_sections": [{"doc_id": s.doc_id, "section": s.section} for s in cmap.unused_sections],
        "unhelpful_pages": [p.doc_id for p in cmap.unhelpful_pages],
    }


def to_json(cmap: CoverageMap) -> str:
    return json.dumps(coverage_to_dict(cmap), ensure_ascii=False, indent=2)


CSV_COLUMNS = ("doc_id", "title", "section", "synthetic", "answered", "mean_confidence", "min_confidence",
               "helpful", "unhelpful", "last_answered", "unused", "page_many_unhelpful")


def to_csv(cmap: CoverageMap) -> str:
    """One row per section (``CSV_COLUMNS``), pages in index order."""
    flagged = {p.doc_id for p in cmap.unhelpful_pages}
    return csv_text(CSV_COLUMNS, (
        [s.doc_id, s.title, s.section, s.synthetic, s.answered, s.mean_confidence, s.min_confidence, s.helpful,
         s.unhelpful, _iso(s.last_answered) or "", s.unused, s.doc_id in flagged]
        for s in cmap.sections))
