"""Suggested starter questions for the patient chat, drawn from the corpus' own section headings.

A heading is a good starter when it is a question that names its topic ("What is an epidural steroid
injection?"), so that it can be asked on its own; "What are the risks?" without its page is not. One per
page, the clinic's own (non-sample) pages first, so the suggestions span the procedures. With an engine,
only headings it answers, from their own page, above its threshold are suggested
(:func:`answered_starters`): a suggested question must never get "I don't have that".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qa.domain import Page
from qa.text import terms

if TYPE_CHECKING:
    from qa.engine import Engine


@dataclass(frozen=True, slots=True)
class StarterQuestion:
    question: str  # the heading text, verbatim
    doc_id: str
    title: str
    synthetic: bool


def page_headings(page: Page, *, min_level: int = 2) -> list[str]:
    """The text of the page's section headings (level ``min_level`` and deeper), in page order."""
    return [page.text[h.start:h.end].strip() for h in page.headings if h.level >= min_level]


def self_contained(heading: str, title: str) -> bool:
    """A question that shares a content word with its page title can be asked without the page."""
    if not heading.endswith("?"):
        return False
    return bool(set(terms(heading)) & set(terms(title)))


def starter_questions(pages: Iterable[Page], limit: int = 6,
                      answered: Callable[[str, str], bool] | None = None) -> list[StarterQuestion]:
    """Up to ``limit`` self-contained question headings, at most one per page; clinic pages first.
    ``answered(question, doc_id)``, when given, must accept a heading for it to be suggested."""
    if limit < 1:
        return []
    ordered = sorted(pages, key=lambda p: (p.synthetic, p.title.casefold()))
    out: list[StarterQuestion] = []
    seen: set[str] = set()
    for page in ordered:
        for heading in page_headings(page):
            key = heading.casefold()
            if key in seen or not self_contained(heading, page.title):
                continue
            if answered is not None and not answered(heading, page.doc_id):
                continue
            seen.add(key)
            out.append(StarterQuestion(question=heading, doc_id=page.doc_id, title=page.title,
                                       synthetic=page.synthetic))
            break
        if len(out) >= limit:
            break
    return out


def answered_starters(engine: Engine, limit: int = 6) -> list[StarterQuestion]:
    """Starter questions that ``engine`` answers (not abstaining) with a quote from the heading's own page."""
    def answered(question: str, doc_id: str) -> bool:
        answer = engine.ask(question)
        return not answer.abstained and answer.best is not None and answer.best.doc_id == doc_id

    return starter_questions(engine.pages, limit, answered)
