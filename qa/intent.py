"""What a question asks about its topic, and which words the paragraph that answers it tends to use.

Patients ask "what is the outlook for X?"; the page answers in a paragraph about *prognosis* and
*life expectancy*. The question's topic (X) finds the page; its *intent* words ("outlook", "treat",
"caus", "prevent", "inherit", …) should find the paragraph, but a small sentence embedding does not
relate "outlook" to "prognosis". This module learns that relation from labelled questions, as a
smoothed naive-Bayes log-likelihood ratio per (intent term, paragraph term)::

    assoc(r, w) = log P(w in sentence | gold sentence, r in intent)
                - log P(w in sentence | other sentence of the gold page, r in intent)

counted over the sentences of each labelled question's gold page (add-``alpha`` smoothing; only
intent terms seen in ``min_questions`` questions and paragraph terms seen ``min_count`` times are
kept). A window's association with a question is the mean, over the question's known intent terms,
of ``sum(assoc(r, w) for w in window terms) / sqrt(len(window terms) + 1)``; the extractor gives the
ranker this for the window and for its whole paragraph (``assoc_win``, ``assoc_block``).

The table is fitted by ``clinicqa fit`` on the tune split and shipped inside the answer model. While
fitting, each question's features come from a table fitted on the *other* folds (cross-fitting), so the
ranker learns how much to trust the feature on questions the table has not seen.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qa.text import residual_question, terms


@dataclass(frozen=True, slots=True)
class IntentExample:
    """One labelled question for fitting: its intent terms and its gold page's sentences (terms, gold?)."""

    intent: frozenset[str]
    sentences: tuple[tuple[frozenset[str], bool], ...]


_WORD = re.compile(r"[a-z]+")
# Pseudo-terms: "§what", "§do" (the function words of a question that has no other intent word) and
# "§par0".."§par2" (where a paragraph sits on its page) share the table with real words.
PSEUDO = "§"


def intent_terms(question: str, topic: str, residual: str | None = None) -> frozenset[str]:
    """The question's content terms that are not about ``topic`` (the top page's title). ``residual``:
    ``residual_question(question, topic)`` when the caller has already computed it.

    A question that is only its topic and function words ("What is (are) Gout?", "What to do for
    Gout?") has no content intent term; its function words then stand for what it asks, as
    pseudo-terms ("§what", "§is", "§are"; "§what", "§to", "§do", "§for")."""
    if not topic:
        return frozenset(terms(question))
    topic_terms = set(terms(topic))
    rest = residual_question(question, topic) if residual is None else residual
    found = frozenset(t for t in terms(rest) if t not in topic_terms)
    if found or rest == question:
        return found
    return frozenset(PSEUDO + w for w in _WORD.findall(rest.lower()))


def position_term(paragraph_rank: int) -> str:
    """The pseudo-term for a paragraph's place on its page: first, second, or later (``§par0``..``§par2``)
    — definitions come first, outlooks late: where the answer sits depends on what is asked."""
    return f"{PSEUDO}par{min(paragraph_rank, 2)}"


class IntentAssociation:
    """The learned (intent term -> paragraph term -> log-likelihood ratio) table."""

    def __init__(self, table: dict[str, dict[str, float]]) -> None:
        self.table = table
        self._cache: dict[frozenset[str], tuple[dict[str, float], int]] = {}

    def __len__(self) -> int:
        return len(self.table)

    @classmethod
    def fit(cls, examples: Iterable[IntentExample], *, alpha: float = 1.0, min_questions: int = 2,
            min_count: int = 2) -> IntentAssociation:
        pos: dict[str, Counter[str]] = defaultdict(Counter)
        neg: dict[str, Counter[str]] = defaultdict(Counter)
        n_pos: Counter[str] = Counter()
        n_neg: Counter[str] = Counter()
        n_questions: Counter[str] = Counter()
        for ex in examples:
            if not any(g for _, g in ex.sentences):
                continue
            for r in ex.intent:
                n_questions[r] += 1
                for words, gold in ex.sentences:
                    if gold:
                        pos[r].update(words)
                        n_pos[r] += 1
                    else:
                        neg[r].update(words)
                        n_neg[r] += 1
        table: dict[str, dict[str, float]] = {}
        for r, nq in n_questions.items():
            if nq < min_questions:
                continue
            p_total, n_total = n_pos[r] + 2 * alpha, n_neg[r] + 2 * alpha
            row = {w: round(math.log((pos[r][w] + alpha) / p_total) - math.log((neg[r][w] + alpha) / n_total), 4)
                   for w in set(pos[r]) | set(neg[r]) if pos[r][w] + neg[r][w] >= min_count}
            if row:
                table[r] = row
        return cls(table)

    def _merged(self, intent: frozenset[str]) -> tuple[dict[str, float], int]:
        """The rows of the question's known intent terms summed into one (cached: intents repeat)."""
        hit = self._cache.get(intent)
        if hit is None:
            rows = [self.table[r] for r in sorted(intent) if r in self.table]
            merged: dict[str, float] = {}
            for row in rows:
                for w, v in row.items():
                    merged[w] = merged.get(w, 0.0) + v
            hit = (merged, len(rows))
            if len(self._cache) < 4096:
                self._cache[intent] = hit
        return hit

    @staticmethod
    def _score(merged: dict[str, float], n_rows: int, words: frozenset[str]) -> float:
        if not n_rows or not words:
            return 0.0
        return sum(merged[w] for w in merged.keys() & words) / (n_rows * math.sqrt(len(words) + 1))

    def score(self, intent: Iterable[str], words: frozenset[str]) -> float:
        return self._score(*self._merged(frozenset(intent)), words)

    def columns(self, intent: frozenset[str], window_terms: Sequence[frozenset[str]],
                block_terms: Sequence[frozenset[str]]) -> np.ndarray:
        """``(n_windows, 2)``: the association of each window and of its paragraph with ``intent``."""
        out = np.zeros((len(window_terms), 2), dtype=np.float64)
        merged, n_rows = self._merged(intent)
        if not n_rows:
            return out
        block_cache: dict[frozenset[str], float] = {}  # many windows share a paragraph
        for i, (w, b) in enumerate(zip(window_terms, block_terms, strict=True)):
            out[i, 0] = self._score(merged, n_rows, w)
            if b not in block_cache:
                block_cache[b] = self._score(merged, n_rows, b)
            out[i, 1] = block_cache[b]
        return out

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> IntentAssociation:
        table = d.get("table", {})
        if not isinstance(table, dict) or not all(isinstance(row, dict) for row in table.values()):
            raise ValueError("intent association table must map each intent term to an object of weights")
        try:
            return cls({str(r): {str(w): float(v) for w, v in row.items()} for r, row in table.items()})
        except (TypeError, ValueError) as err:
            raise ValueError(f"intent association weights must be numbers ({err})") from None
