"""Lexical signals: BM25 over chunks and IDF-weighted term coverage.

bm25s computes the BM25 weight of every (term, chunk) pair once, when the index is built; the weights are
saved with the build (``lexicon/``, :meth:`Lexicon.save`, listed with their checksums in the manifest) and
read back memory-mapped, so loading an index no longer tokenizes every chunk again. A query's scores are
the sum of its terms' columns of that sparse matrix — bm25s's own computation, in the same order, so the
scores are identical — done here with numpy, so answering does not import bm25s (nor scipy).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from qa.text import terms

log = logging.getLogger(__name__)

BM25_K1, BM25_B = 1.2, 0.75
LEXICON_FORMAT = 1
# The files of a saved lexicon, in its folder.
LEXICON_FILES = ("params.json", "vocab.json", "data.npy", "indices.npy", "indptr.npy")


class Lexicon:
    """BM25 over the chunks, plus document frequencies for IDF-weighted coverage."""

    def __init__(self, chunk_texts: Sequence[str]) -> None:
        import bm25s

        # bm25s sets its own logger to DEBUG when imported ("Building index from tokens"): its messages are
        # not clinicqa's to show.
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        tokenized = [terms(t) or ["_empty_"] for t in chunk_texts]
        bm25 = bm25s.BM25(k1=BM25_K1, b=BM25_B)
        bm25.index(tokenized, show_progress=False)
        scores = bm25.scores
        self._set(dict(bm25.vocab_dict), np.asarray(scores["data"], dtype=np.float32),
                  np.asarray(scores["indices"]), np.asarray(scores["indptr"]), max(1, len(tokenized)))

    def _set(self, vocab: dict[str, int], data: np.ndarray, indices: np.ndarray, indptr: np.ndarray,
             n_docs: int) -> None:
        # vocab: term -> column of the (chunk x term) weight matrix, stored by column: the weights of term
        # t are data[indptr[t]:indptr[t+1]], for the chunks indices[indptr[t]:indptr[t+1]].
        self._data, self._indices, self._indptr = data, indices, indptr
        counts = np.diff(indptr)  # BM25 weights are > 0: a column's entries are the chunks having the term
        self._vocab = {t: i for t, i in vocab.items() if i < len(counts) and counts[i] > 0}  # bm25s adds ""
        self._counts = counts
        self.n_docs = n_docs

    def save(self, folder: Path) -> list[str]:
        """Write the lexicon's files into ``folder`` (created); returns their names. Not atomic by itself:
        :func:`qa.store.write_index` writes it inside the build's temporary folder."""
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "data.npy", self._data, allow_pickle=False)
        np.save(folder / "indices.npy", self._indices, allow_pickle=False)
        np.save(folder / "indptr.npy", self._indptr, allow_pickle=False)
        (folder / "vocab.json").write_text(json.dumps(self._vocab, ensure_ascii=False), encoding="utf-8")
        params = {"format": LEXICON_FORMAT, "k1": BM25_K1, "b": BM25_B, "method": "lucene", "n_docs": self.n_docs}
        (folder / "params.json").write_text(json.dumps(params), encoding="utf-8")
        return list(LEXICON_FILES)

    @classmethod
    def load(cls, folder: Path, mmap: bool = True) -> Lexicon:
        """A lexicon saved by :meth:`save` (arrays memory-mapped: shared by the processes that read them).
        ValueError when the files do not fit together or were written with other BM25 parameters."""
        params = json.loads((folder / "params.json").read_text(encoding="utf-8"))
        if params.get("format") != LEXICON_FORMAT or (params.get("k1"), params.get("b")) != (BM25_K1, BM25_B):
            raise ValueError(f"{folder} holds a lexicon of another format or BM25 parameters: {params}")
        vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        mode: Literal["r"] | None = "r" if mmap else None
        data = np.load(folder / "data.npy", mmap_mode=mode, allow_pickle=False)
        indices = np.load(folder / "indices.npy", mmap_mode=mode, allow_pickle=False)
        indptr = np.load(folder / "indptr.npy", allow_pickle=False)
        n_docs = int(params["n_docs"])
        if not isinstance(vocab, dict) or len(data) != len(indices) or (len(indptr) and int(indptr[-1]) != len(data)) \
                or (len(vocab) and max(vocab.values()) >= len(indptr) - 1) or \
                (len(indices) and int(np.max(indices)) >= n_docs):
            raise ValueError(f"the lexicon files in {folder} do not fit together")
        lexicon = cls.__new__(cls)
        lexicon._set(vocab, data, indices, indptr, n_docs)
        return lexicon

    def df(self, term: str) -> int:
        """How many chunks contain ``term``."""
        i = self._vocab.get(term)
        return 0 if i is None else int(self._counts[i])

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency; unknown terms get the largest value."""
        return math.log(1.0 + (self.n_docs + 1) / (self.df(term) + 0.5))

    def scores(self, query_terms: list[str], mask: np.ndarray | None = None) -> np.ndarray:
        """BM25 score of every chunk (0 where ``mask`` is False)."""
        s = np.zeros(self.n_docs, dtype=np.float32)
        for t in query_terms:  # a repeated term counts again, as in bm25s
            i = self._vocab.get(t)
            if i is not None:
                a, b = int(self._indptr[i]), int(self._indptr[i + 1])
                s[self._indices[a:b]] += self._data[a:b]
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


def saved_or_built(folder: Path | None, texts: Callable[[], Sequence[str]], n_docs: int) -> Lexicon:
    """The lexicon saved in ``folder`` (an index build's ``lexicon/``); built from ``texts()`` when the build
    has none (made before lexicons were saved) or it cannot be used — with a warning then."""
    if folder is not None and (folder / "params.json").is_file():
        try:
            lexicon = Lexicon.load(folder)
            if lexicon.n_docs == max(1, n_docs):
                return lexicon
            log.warning("the saved lexicon in %s has %d chunks, the index %d; building it again",
                        folder, lexicon.n_docs, n_docs)
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.warning("the saved lexicon in %s cannot be read (%s); building it again", folder, err)
    return Lexicon(texts())
