"""Domain objects (qa.domain) → API response models (api.schemas)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from api.schemas import (
    Alternative,
    AskResponse,
    CitationOut,
    CoverageResponse,
    DocumentOut,
    DocumentsResponse,
    EscalationOut,
    FeedbackOut,
    GapReportResponse,
    Highlight,
    LintFindingOut,
    LintResponse,
    LoggedQuestion,
    PassageOut,
    PassageScore,
    QuestionsPageResponse,
    Quote,
    ReadingOut,
    SearchHitOut,
    SearchResponse,
)
from qa.coverage import CoverageMap, coverage_to_dict
from qa.domain import Answer, Candidate, DocumentInfo, Passage, SearchHit
from qa.gaps import GapReport, report_to_dict
from qa.lint import LintFinding, findings_to_dicts
from qa.questionlog import QuestionPage


def passage_out(p: Passage) -> PassageOut:
    c = p.chunk
    return PassageOut(
        chunk_id=c.chunk_id, doc_id=c.doc_id, title=p.title, section=c.section, url=p.url, text=c.text,
        start=c.start, end=c.end, synthetic=p.synthetic, procedure=p.procedure, category=p.category,
        last_reviewed=p.last_reviewed,
    )


def alternative_out(c: Candidate) -> Alternative:
    return Alternative(
        text=c.text, doc_id=c.doc_id, start=c.start, end=c.end, confidence=c.confidence, score=c.score,
        title=c.passage.title, section=c.passage.chunk.section, url=c.passage.url,
    )


def ask_response(answer: Answer, *, staff: bool, cached: bool, index_version: str,
                 contact: str) -> AskResponse:
    best = answer.best if not answer.abstained else None
    quote = passage = None
    if best is not None:
        quote = Quote(text=best.text, doc_id=best.doc_id, start=best.start, end=best.end,
                      quote_start=best.quote_start, quote_end=best.quote_end)
        passage = passage_out(best.passage)
    alternatives = passages = None
    if staff:
        candidates: list[Candidate] = list(answer.alternatives)
        if answer.abstained and answer.best is not None:
            candidates.insert(0, answer.best)
        alternatives = [alternative_out(c) for c in candidates]
        passages = [
            PassageScore(rank=p.rank, chunk_id=p.chunk.chunk_id, doc_id=p.doc_id, title=p.title,
                         section=p.chunk.section, score=p.score, lexical=p.lexical, dense=p.dense)
            for p in answer.retrieved
        ]
    esc = answer.escalation
    escalation = (EscalationOut(rule=esc.rule, message=esc.message, phones=list(esc.phones), language=esc.language)
                  if esc else None)
    return AskResponse(
        answer_id=answer.answer_id, question=answer.question, abstained=answer.abstained,
        reason=answer.reason, confidence=min(1.0, max(0.0, float(answer.confidence))),
        message=answer.message, contact=contact if answer.abstained else None,
        answer=quote, passage=passage, language=answer.language, note=answer.note,
        reading=(ReadingOut(procedure=answer.reading.procedure, source=answer.reading.source,  # type: ignore[arg-type]
                            follow_up=answer.reading.follow_up, carried=list(answer.reading.carried))
                 if answer.reading else None),
        citations=[
            CitationOut(title=c.title, section=c.section, url=c.url, doc_id=c.doc_id, start=c.start,
                        end=c.end, synthetic=c.synthetic)
            for c in answer.citations
        ],
        escalation=escalation,
        alternatives=alternatives, passages=passages, cached=cached, index_version=index_version,
        latency_ms=round(float(answer.latency_ms), 3),
    )


def search_response(query: str, k: int, hits: Sequence[SearchHit], index_version: str) -> SearchResponse:
    out = []
    for rank, hit in enumerate(hits, start=1):
        p = hit.passage
        c = p.chunk
        start = max(0, hit.highlight.start - c.start)
        end = max(start, min(len(c.text), hit.highlight.end - c.start))
        out.append(SearchHitOut(
            rank=rank, chunk_id=c.chunk_id, doc_id=c.doc_id, title=p.title, section=c.section, url=p.url,
            text=c.text, highlight=Highlight(start=start, end=end, text=c.text[start:end]),
            score=p.score, lexical=p.lexical, dense=p.dense, synthetic=p.synthetic,
            procedure=p.procedure, category=p.category, last_reviewed=p.last_reviewed,
        ))
    return SearchResponse(query=query, k=k, index_version=index_version, hits=out)


def documents_response(docs: Iterable[DocumentInfo], index_version: str) -> DocumentsResponse:
    items = [
        DocumentOut(doc_id=d.doc_id, title=d.title, url=d.url, source=d.source, chunks=d.chunks,
                    synthetic=d.synthetic, procedure=d.procedure, category=d.category,
                    last_reviewed=d.last_reviewed)
        for d in docs
    ]
    return DocumentsResponse(count=len(items), index_version=index_version, documents=items)


def questions_response(page: QuestionPage) -> QuestionsPageResponse:
    return QuestionsPageResponse(
        total=page.total, page=page.page, page_size=page.page_size,
        items=[
            LoggedQuestion(
                answer_id=q.answer_id, created_at=q.created_at, question=q.question, audience=q.audience,
                procedure=q.procedure, category=q.category, abstained=q.abstained, reason=q.reason,
                confidence=q.confidence, latency_ms=q.latency_ms, index_version=q.index_version,
                cached=q.cached, doc_id=q.doc_id,
                feedback=[FeedbackOut(helpful=f.helpful, comment=f.comment, created_at=f.created_at)
                          for f in q.feedback],
            )
            for q in page.items
        ],
    )


def gap_report_response(report: GapReport) -> GapReportResponse:
    return GapReportResponse.model_validate(report_to_dict(report))


def coverage_response(cmap: CoverageMap) -> CoverageResponse:
    return CoverageResponse.model_validate(coverage_to_dict(cmap))


def lint_response(findings: Sequence[LintFinding]) -> LintResponse:
    items = [LintFindingOut.model_validate(d) for d in findings_to_dicts(findings)]
    return LintResponse(
        errors=sum(f.severity == "error" for f in items), warnings=sum(f.severity == "warning" for f in items),
        infos=sum(f.severity == "info" for f in items), findings=items,
    )
