"""Plain-dict (JSON) views of the domain objects: the shape of ``clinicqa ask --json`` and the API."""

from __future__ import annotations

from typing import Any

from qa.domain import Answer, Candidate, Citation, DocumentInfo, Passage, SearchHit


def citation_to_dict(c: Citation) -> dict[str, Any]:
    return {"title": c.title, "section": c.section, "url": c.url, "doc_id": c.doc_id, "start": c.start,
            "end": c.end, "source": c.source, "synthetic": c.synthetic}


def passage_to_dict(p: Passage) -> dict[str, Any]:
    return {"doc_id": p.doc_id, "chunk_id": p.chunk.chunk_id, "title": p.title, "section": p.chunk.section,
            "url": p.url, "source": p.source, "start": p.chunk.start, "end": p.chunk.end, "text": p.text,
            "synthetic": p.synthetic, "procedure": p.procedure, "category": p.category,
            "last_reviewed": p.last_reviewed.isoformat() if p.last_reviewed else None,
            "rank": p.rank, "score": round(p.score, 6), "bm25": round(p.lexical, 4),
            "dense": round(p.dense, 4)}


def candidate_to_dict(c: Candidate) -> dict[str, Any]:
    return {"text": c.text, "doc_id": c.doc_id, "start": c.start, "end": c.end,
            "quote_start": c.quote_start, "quote_end": c.quote_end, "confidence": round(c.confidence, 4),
            "title": c.passage.title, "section": c.passage.chunk.section, "url": c.passage.url,
            "source": c.passage.source, "synthetic": c.passage.synthetic}


def answer_to_dict(answer: Answer) -> dict[str, Any]:
    """The full answer. ``answer`` is null when abstaining; ``best_candidate`` is kept for staff/eval."""
    best = answer.best
    shown = best is not None and not answer.abstained
    esc = answer.escalation
    return {
        "question": answer.question,
        "abstained": answer.abstained,
        "reason": str(answer.reason),
        "confidence": round(answer.confidence, 4),
        "message": answer.message,
        "answer": ({"text": best.text, "doc_id": best.doc_id, "start": best.start, "end": best.end,
                    "quote_start": best.quote_start, "quote_end": best.quote_end}
                   if shown and best is not None else None),
        "passage": passage_to_dict(best.passage) if shown and best is not None else None,
        "citations": [citation_to_dict(c) for c in answer.citations],
        "alternatives": [candidate_to_dict(c) for c in answer.alternatives],
        "best_candidate": candidate_to_dict(best) if best is not None else None,
        "escalation": ({"rule": esc.rule, "message": esc.message, "phones": list(esc.phones),
                        "language": esc.language} if esc else None),
        "answer_id": answer.answer_id,
        "latency_ms": answer.latency_ms,
    }


def hit_to_dict(hit: SearchHit) -> dict[str, Any]:
    d = passage_to_dict(hit.passage)
    d["highlight"] = {"start": hit.highlight.start, "end": hit.highlight.end,
                      "quote_start": hit.highlight.start - hit.passage.chunk.start,
                      "quote_end": hit.highlight.end - hit.passage.chunk.start}
    return d


def document_to_dict(doc: DocumentInfo) -> dict[str, Any]:
    return {"doc_id": doc.doc_id, "title": doc.title, "url": doc.url, "source": doc.source,
            "chunks": doc.chunks, "synthetic": doc.synthetic, "procedure": doc.procedure,
            "category": doc.category,
            "last_reviewed": doc.last_reviewed.isoformat() if doc.last_reviewed else None}
