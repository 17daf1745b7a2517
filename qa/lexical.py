"""Lexical signals: BM25 over chunks (bm25s) and IDF-weighted term coverage."""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import bm25s
import numpy as np

from qa.text import terms

# bm25s sets its own logger to DEBUG when imported ("Building index from tokens" on every load): its
# messages are not clinicqa's to show.
logging.getLogger("bm25s").setLevel(logging.WARNING)


class Lexicon:
    """BM25 over the chunks, plus document frequencies for IDF-weighted coverage."""

    def __init__(self, chunk_texts: Sequence[str]) -> None:
        tokenized = [terms(t) or ["_empty_"] for t in chunk_texts]
        self.bm25 = bm25s.BM25(k1=1.2, b=0.75)
        self.bm25.index(tokenized, show_progress=False)
        df: Counter[str] = Counter()
        for toks in tokenized:
            df.update(set(toks))
        self.n_docs = max(1, len(tokenized))
        self._df = df

    def df(self, term: str) -> int:
        """How many chunks contain ``term``."""
        return self._df.get(term, 0)

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency; unknown terms get the largest value."""
        return math.log(1.0 + (self.n_docs + 1) / (self._df.get(term, 0) + 0.5))

    def scores(self, query_terms: list[str], mask: np.ndarray | None = None) -> np.ndarray:
        """BM25 score of every chunk (0 where ``mask`` is False)."""
        known = [t for t in query_terms if t in self._df]
        if not known:
            return np.zeros(self.n_docs, dtype=np.float32)
        s = np.asarray(self.bm25.get_scores(known), dtype=np.float32)
        if mask is not None:
            s = np.where(mask, s, 0.0).astype(np.float32)
        return s

    def coverage(self, query_terms: Sequence[str], text_terms: Iterable[str]) -> float:
        """Share of the question's IDF mass whose terms occur in the text (0..1)."""
        return self.weigher(query_terms)(text_terms)

    def novelty(self, text_terms: Iterable[str], query_terms: Iterable[str]) -> float:
        """Share of the text's IDF mass whose terms the question does not have (0..1): high for a title
        like "Adult Non-Hodgkin Lymphoma" under "Adult Hodgkin Lymphoma", which ``coverage`` rates 1."""
        text = list(text_terms)
        return 1.0 - self.coverage(text, query_terms) if text else 0.0

    def weigher(self, query_terms: Sequence[str]) -> Callable[[Iterable[str]], float]:
        """``coverage`` with the question's term weights computed once (for scoring many texts)."""
        weights = {t: self.idf(t) for t in set(query_terms)}
        total = sum(weights.values())

        def cover(text_terms: Iterable[str]) -> float:
            if not total:
                return 0.0
            have = text_terms if isinstance(text_terms, (set, frozenset)) else set(text_terms)
            return sum(w for t, w in weights.items() if t in have) / total

        return cover
