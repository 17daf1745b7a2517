"""Baselines that every answer-model figure is shown beside (issue 12), in the shared scorer's format.

Each baseline is ``fn(pages, questions, embedder) -> predictions``: one prediction per question, in the order
given, as the shared scorer (``../shared/eval/score.py``) reads them::

    {"id", "abstained", "confidence" (0..1), "answer": {"doc_id", "start", "end", "text"}, "retrieved_doc_ids"}

``answer`` is the best candidate, written even when abstaining (left out only when there is no candidate at
all); its offsets are into ``page.text`` (``page.text[start:end] == text``). Choose a baseline by name
(:class:`Baseline`, :func:`get_baseline`), never by position.

* ``nearest_sentence``: the naive dense pipeline. Every sentence of every page (headings and title lines
  included: that is the point, it quotes them) is embedded with the project's embedder; the answer is the
  sentence nearest to the question; confidence = cosine clipped to [0, 1]; abstains below cosine 0.45.
* ``faq_heading``: the FAQ matcher. Candidates are the question headings (heading lines ending with "?");
  the answer is the first sentence of the best-matching heading's section body (never the heading);
  confidence = cosine of question and heading, clipped; abstains below cosine 0.6 (untuned). Pages without
  question headings give no candidates; with none anywhere it abstains on everything with confidence 0.
* ``bm25``: the plain BM25 pipeline of ``../shared/eval/README.md``: sentence-aligned chunks of about 120
  words, indexed with their page title, BM25 (bm25s over the project's stemmed terms), the sentence of the
  top chunk holding the most distinct question terms (ties: the earlier one); confidence = s / (s + 12.08)
  for the top BM25 score s, so it abstains below the README's default threshold s = 12.08 (confidence 0.5).
* ``abstain_all``: the floor: abstains on everything, confidence 0, no answer.

Embeddings are computed in batches (``Embedder.encode``); a question is encoded as ``encode_query`` does
(the same model, no prefix), sentences and headings as the index encodes its sentence units.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import numpy as np

from qa.chunking import sections
from qa.domain import Page, Span
from qa.embedding import Embedder
from qa.errors import InputError
from qa.lexical import Lexicon
from qa.text import sentence_spans, terms

log = logging.getLogger(__name__)

NEAREST_SENTENCE_THRESHOLD = 0.45
FAQ_HEADING_THRESHOLD = 0.6
BM25_THRESHOLD = 12.08  # the README's default threshold on the top BM25 score
BM25_CHUNK_WORDS = 120
MAX_RETRIEVED = 10
QUESTION_BLOCK = 256  # questions scored against all candidates at a time (bounds the similarity matrix)


class Baseline(StrEnum):
    NEAREST_SENTENCE = "nearest_sentence"
    FAQ_HEADING = "faq_heading"
    BM25 = "bm25"
    ABSTAIN_ALL = "abstain_all"


BaselineFn = Callable[[Sequence[Page], Sequence[dict[str, Any]], Embedder], list[dict[str, Any]]]


# --- shared helpers ----------------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def _sentences(text: str) -> tuple[Span, ...]:
    """Every sentence of a page text (the project's splitter; heading lines are sentences of their own)."""
    return tuple(sentence_spans(text))


def _prediction(question: Mapping[str, Any], abstained: bool, confidence: float,
                answer: tuple[Page, int, int] | None, retrieved: Sequence[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"id": question["id"], "abstained": bool(abstained),
                           "confidence": round(min(1.0, max(0.0, float(confidence))), 4),
                           "retrieved_doc_ids": list(retrieved)[:MAX_RETRIEVED]}
    if answer is not None:
        page, start, end = answer
        row["answer"] = {"doc_id": page.doc_id, "start": start, "end": end, "text": page.text[start:end]}
    return row


def _abstain_everywhere(questions: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [_prediction(q, True, 0.0, None, []) for q in questions]


def _question_vectors(questions: Sequence[dict[str, Any]], embedder: Embedder) -> np.ndarray:
    # encode() of a batch gives each text the vector encode_query() gives it alone (same model, no prefix).
    return embedder.encode([str(q["question"]) for q in questions])


def _ranked_docs(per_doc: np.ndarray, doc_ids: Sequence[str]) -> list[list[str]]:
    """For each row of ``per_doc`` (best score of each document), the documents best first (up to 10)."""
    k = min(MAX_RETRIEVED, per_doc.shape[1])
    if k == 0:
        return [[] for _ in range(per_doc.shape[0])]
    top = np.argpartition(-per_doc, k - 1, axis=1)[:, :k]
    out = []
    for row, cand in zip(per_doc, top, strict=True):
        order = cand[np.argsort(-row[cand], kind="stable")]
        out.append([doc_ids[int(d)] for d in order])
    return out


def _nearest(questions: Sequence[dict[str, Any]], embedder: Embedder, pages: Sequence[Page],
             items: Sequence[tuple[int, Span]], texts: Sequence[str]) -> list[tuple[int, float, list[str]]]:
    """For each question: the index of the item (doc, span) whose text is nearest, its cosine, and the
    documents ranked by their nearest item. ``items`` are grouped by document, in page order."""
    vecs = embedder.encode(list(texts))
    q_vecs = _question_vectors(questions, embedder)
    docs = np.asarray([d for d, _ in items], dtype=np.int64)
    firsts = np.flatnonzero(np.r_[True, docs[1:] != docs[:-1]])  # first item of each document having items
    doc_ids = [pages[int(d)].doc_id for d in docs[firsts]]
    out: list[tuple[int, float, list[str]]] = []
    for a in range(0, len(questions), QUESTION_BLOCK):
        sims = q_vecs[a : a + QUESTION_BLOCK] @ vecs.T
        best = sims.argmax(axis=1)
        ranked = _ranked_docs(np.maximum.reduceat(sims, firsts, axis=1), doc_ids)
        out.extend((int(b), float(sims[i, b]), ranked[i]) for i, b in enumerate(best))
    return out


# --- the baselines -------------------------------------------------------------------------------------


def nearest_sentence(pages: Sequence[Page], questions: Sequence[dict[str, Any]],
                     embedder: Embedder) -> list[dict[str, Any]]:
    """The nearest sentence of all pages by MiniLM cosine; abstains below cosine 0.45."""
    items = [(d, s) for d, page in enumerate(pages) for s in _sentences(page.text)]
    if not items or not questions:
        return _abstain_everywhere(questions)
    texts = [pages[d].text[s.start : s.end] for d, s in items]
    log.info("nearest_sentence: %d questions over %d sentences", len(questions), len(items))
    out = []
    for q, (best, cos, ranked) in zip(questions, _nearest(questions, embedder, pages, items, texts), strict=True):
        d, span = items[best]
        out.append(_prediction(q, cos < NEAREST_SENTENCE_THRESHOLD, cos, (pages[d], span.start, span.end), ranked))
    return out


def question_headings(page: Page) -> list[tuple[Span, Span]]:
    """``(heading, first body sentence)`` of each section of ``page`` whose heading ends with "?" and
    whose body has a sentence (page offsets)."""
    out = []
    for sec in sections(page):
        h = sec.heading
        if h is None or not page.text[h.start : h.end].rstrip().endswith("?"):
            continue
        body = sentence_spans(page.text, sec.start, sec.end)
        if body:
            out.append((Span(h.start, h.end), body[0]))
    return out


def faq_heading(pages: Sequence[Page], questions: Sequence[dict[str, Any]],
                embedder: Embedder) -> list[dict[str, Any]]:
    """Question-to-heading similarity; quotes the first sentence of the best section; abstains below 0.6."""
    items: list[tuple[int, Span]] = []
    answers: list[Span] = []
    for d, page in enumerate(pages):
        for heading, first in question_headings(page):
            items.append((d, heading))
            answers.append(first)
    if not items or not questions:
        log.info("faq_heading: no question headings in %d pages; abstaining on everything", len(pages))
        return _abstain_everywhere(questions)
    texts = [pages[d].text[s.start : s.end].strip() for d, s in items]
    log.info("faq_heading: %d questions over %d question headings", len(questions), len(items))
    out = []
    for q, (best, cos, ranked) in zip(questions, _nearest(questions, embedder, pages, items, texts), strict=True):
        page, first = pages[items[best][0]], answers[best]
        out.append(_prediction(q, cos < FAQ_HEADING_THRESHOLD, cos, (page, first.start, first.end), ranked))
    return out


def bm25_chunks(page: Page, max_words: int = BM25_CHUNK_WORDS) -> list[tuple[Span, ...]]:
    """The page's sentences packed greedily into chunks of at most ``max_words`` words (a longer sentence
    is a chunk of its own)."""
    chunks: list[tuple[Span, ...]] = []
    current: list[Span] = []
    words = 0
    for s in _sentences(page.text):
        n = len(page.text[s.start : s.end].split())
        if current and words + n > max_words:
            chunks.append(tuple(current))
            current, words = [], 0
        current.append(s)
        words += n
    if current:
        chunks.append(tuple(current))
    return chunks


def bm25_index_text(page: Page, chunk: Sequence[Span]) -> str:
    """What BM25 indexes for a chunk: the page title, then the chunk's text (the title says what the page is
    about, which template questions like "What are the treatments for X?" name; it is not repeated when the
    chunk already starts with it). Quotes come from the chunk's text only."""
    text = page.text[chunk[0].start : chunk[-1].end]
    return text if text.startswith(page.title) else f"{page.title}\n{text}"


def bm25(pages: Sequence[Page], questions: Sequence[dict[str, Any]],
         embedder: Embedder) -> list[dict[str, Any]]:
    """BM25 over ~120-word chunks, best-overlap sentence of the top chunk; abstains below BM25 12.08."""
    del embedder  # lexical only; the argument keeps one signature for every baseline
    chunks = [(d, c) for d, page in enumerate(pages) for c in bm25_chunks(page)]
    if not chunks or not questions:
        return _abstain_everywhere(questions)
    lexicon = Lexicon([bm25_index_text(pages[d], c) for d, c in chunks])
    chunk_doc = np.asarray([d for d, _ in chunks], dtype=np.int64)
    log.info("bm25: %d questions over %d chunks", len(questions), len(chunks))
    out = []
    for q in questions:
        q_terms = terms(str(q["question"]))
        scores = lexicon.scores(q_terms)
        top = int(np.argmax(scores))
        s = float(scores[top])
        if s <= 0.0:  # no question term in any chunk: nothing retrieved, nothing to quote
            out.append(_prediction(q, True, 0.0, None, []))
            continue
        order = np.argsort(-scores, kind="stable")
        ranked: list[str] = []
        for ci in order[: int(np.count_nonzero(scores > 0))].tolist():
            doc_id = pages[int(chunk_doc[ci])].doc_id
            if doc_id not in ranked:
                ranked.append(doc_id)
                if len(ranked) == MAX_RETRIEVED:
                    break
        d, sentences = chunks[top]
        page, wanted = pages[d], set(q_terms)
        overlap = [len(wanted.intersection(terms(page.text[x.start : x.end]))) for x in sentences]
        span = sentences[int(np.argmax(overlap))]  # argmax: the first of equals
        out.append(_prediction(q, s < BM25_THRESHOLD, s / (s + BM25_THRESHOLD), (page, span.start, span.end), ranked))
    return out


def abstain_all(pages: Sequence[Page], questions: Sequence[dict[str, Any]],
                embedder: Embedder) -> list[dict[str, Any]]:
    """Abstains on every question with confidence 0 and no answer (the floor)."""
    del pages, embedder
    return _abstain_everywhere(questions)


BASELINES: Mapping[Baseline, BaselineFn] = MappingProxyType({
    Baseline.NEAREST_SENTENCE: nearest_sentence,
    Baseline.FAQ_HEADING: faq_heading,
    Baseline.BM25: bm25,
    Baseline.ABSTAIN_ALL: abstain_all,
})


def get_baseline(name: str | Baseline) -> BaselineFn:
    """The baseline called ``name``; an unknown name is an :class:`InputError` listing the choices."""
    try:
        return BASELINES[Baseline(name)]
    except ValueError:
        raise InputError(f"Unknown baseline {name!r}; choose one of {', '.join(b.value for b in Baseline)}.") from None


def run_baseline(name: str | Baseline, pages: Sequence[Page], questions: Sequence[dict[str, Any]],
                 embedder: Embedder) -> list[dict[str, Any]]:
    """Predictions of the baseline called ``name`` for ``questions`` over ``pages``."""
    return get_baseline(name)(pages, questions, embedder)
