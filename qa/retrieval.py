"""Hybrid retrieval: BM25 and dense (FAISS) rankings of chunks, fused.

Fusion modes (measured in BENCHMARKS.md): ``rrf`` (reciprocal rank fusion), ``weighted`` (a convex
mix of max-normalised BM25 and cosine), ``bm25`` and ``dense`` alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

from qa.lexical import Lexicon
from qa.store import IndexData

FUSION_MODES = ("rrf", "weighted", "bm25", "dense")


@dataclass(frozen=True)
class Retrieved:
    chunks: np.ndarray  # chunk indices, best first
    fused: np.ndarray  # fused score of each (larger is better)
    bm25: np.ndarray  # BM25 score of each
    dense: np.ndarray  # cosine of each


class Retriever:
    def __init__(self, data: IndexData, lexicon: Lexicon, *, fusion: str = "rrf", rrf_k: int = 60,
                 alpha: float = 0.5, depth: int = 100) -> None:
        if fusion not in FUSION_MODES:
            raise ValueError(f"fusion must be one of {FUSION_MODES}, not {fusion!r}")
        self.data = data
        self.lexicon = lexicon
        self.fusion = fusion
        self.rrf_k = rrf_k
        self.alpha = alpha
        self.depth = depth

    def _dense(self, q_vec: np.ndarray, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.data.chunks)
        k = min(n, self.depth)
        if isinstance(self.data.faiss_index, faiss.IndexFlatIP):
            # Exact search: one matrix-vector product (what IndexFlatIP computes), without its overhead.
            sims = self.data.chunk_vectors @ q_vec.astype(np.float32)
            if allowed is not None:
                sims = np.where(allowed, sims, -np.inf)
            top = np.argpartition(-sims, k - 1)[:k] if k < n else np.arange(n)
            top = top[np.argsort(-sims[top], kind="stable")]
            top = top[np.isfinite(sims[top])]
            return top.astype(np.int64), sims[top].astype(np.float32)
        params = None
        if allowed is not None:
            ids = np.flatnonzero(allowed).astype(np.int64)
            if len(ids) == 0:
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
            k = min(k, len(ids))
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(ids))  # type: ignore[call-arg]
        scores, idx = self.data.faiss_index.search(q_vec.reshape(1, -1).astype(np.float32), k, params=params)
        keep = idx[0] >= 0
        return idx[0][keep].astype(np.int64), scores[0][keep].astype(np.float32)

    def retrieve(self, q_terms: list[str], q_vec: np.ndarray, k: int = 20,
                 allowed: np.ndarray | None = None) -> Retrieved:
        """Top ``k`` chunks for the question; ``allowed`` is an optional boolean mask over chunks."""
        bm25_all = self.lexicon.scores(q_terms, allowed)
        bm_top = np.argsort(-bm25_all, kind="stable")[: self.depth]
        bm_top = bm_top[bm25_all[bm_top] > 0]
        d_idx, d_sc = self._dense(q_vec, allowed)

        fused: dict[int, float] = {}
        if self.fusion in ("rrf", "bm25"):
            for r, c in enumerate(bm_top):
                fused[int(c)] = fused.get(int(c), 0.0) + 1.0 / (self.rrf_k + r + 1)
        if self.fusion in ("rrf", "dense"):
            for r, c in enumerate(d_idx):
                fused[int(c)] = fused.get(int(c), 0.0) + 1.0 / (self.rrf_k + r + 1)
        if self.fusion == "weighted":
            top_bm = float(bm25_all[bm_top[0]]) if len(bm_top) else 1.0
            dense_of = dict(zip(d_idx.tolist(), d_sc.tolist(), strict=True))
            for c in set(bm_top.tolist()) | set(d_idx.tolist()):
                d = dense_of.get(c)
                if d is None:
                    d = float(self.data.chunk_vectors[c] @ q_vec)
                fused[c] = self.alpha * float(bm25_all[c]) / max(top_bm, 1e-9) + (1 - self.alpha) * d
        order = sorted(fused, key=lambda c: -fused[c])[:k]
        chunks = np.asarray(order, dtype=np.int64)
        dense = (self.data.chunk_vectors[chunks] @ q_vec).astype(np.float32) if len(chunks) else \
            np.zeros(0, dtype=np.float32)
        return Retrieved(chunks=chunks, fused=np.asarray([fused[c] for c in order], dtype=np.float32),
                         bm25=bm25_all[chunks] if len(chunks) else np.zeros(0, dtype=np.float32),
                         dense=dense)
