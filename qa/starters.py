"""Suggested starter questions for the patient chat, drawn from the corpus' own section headings.

A heading is a good starter when it is a question that names its topic ("What is an epidural steroid
injection?"), so that it can be asked on its own; "What are the risks?" without its page is not. One per
page, the clinic's own (non-sample) pages first, so the suggestions span the procedures.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from qa.domain import Page
from qa.text import terms


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


def starter_questions(pages: Iterable[Page], limit: int = 6) -> list[StarterQuestion]:
    """Up to ``limit`` self-contained question headings, at most one per page; clinic pages first."""
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
            seen.add(key)
            out.append(StarterQuestion(question=heading, doc_id=page.doc_id, title=page.title,
                                       synthetic=page.synthetic))
            break
        if len(out) >= limit:
            break
    return out
