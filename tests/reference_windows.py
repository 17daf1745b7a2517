"""The window signals computed sentence by sentence, as :meth:`qa.extraction.Extractor.windows` did before it
was vectorised: the oracle that tests/test_extraction_windows.py holds the vectorised code to."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from qa.extraction import WINDOW_FEATURES, Extractor, Window, Windows
from qa.retrieval import Retrieved


def reference_windows(self: Extractor, q_terms: list[str], q_vec: np.ndarray, retrieved: Retrieved,
            doc_index: dict[str, int], q_phases: frozenset[str] = frozenset()) -> Windows:
    """Candidate windows of the top passages and every signal of :data:`WINDOW_FEATURES` for each.
    ``q_phases`` (:func:`qa.text.phases` of the question) gives ``phase_agree``: +1 when the section
    heading speaks of the same phase of the procedure ("before", "during", "after"), -1 when only of
    others, 0 when either is silent."""
    d = self.data
    cover = self.lexicon.weigher(q_terms)
    q_set = frozenset(q_terms)
    rest_cover: dict[int, Callable[[Iterable[str]], float]] = {}  # per page: coverage of the question's rest
    items: list[Window] = []
    win_cols: dict[str, list[float]] = {}  # the signals that differ between a passage's windows
    passages: list[dict[str, float]] = []  # the signals shared by a passage's windows, per passage
    per_passage: list[int] = []  # how many windows each passage gave
    n = min(self.n_passages, len(retrieved.chunks))
    if n == 0:
        return Windows(items, np.zeros((0, len(WINDOW_FEATURES))))
    top_bm = max(float(retrieved.bm25[:n].max()), 1e-9)
    top_fused = max(float(retrieved.fused[0]), 1e-9)
    doc_rank: dict[int, int] = {}
    for r in range(n):
        ci = int(retrieved.chunks[r])
        chunk = d.chunks[ci]
        doc = doc_index[chunk.doc_id]
        doc_rank.setdefault(doc, len(doc_rank))
        page = d.pages[doc]
        units = d.chunk_units[ci]
        if len(units) == 0:
            continue
        if doc not in rest_cover:
            title = self._title_terms(doc)
            rest = [t for t in q_terms if t not in title]
            rest_cover[doc] = self.lexicon.weigher(rest) if rest and len(rest) < len(q_terms) else cover
        cover_rest = rest_cover[doc]
        uvec = d.unit_vectors[units]
        sims = uvec @ q_vec
        head_u = int(d.chunk_heading_unit[ci])
        head_text = page.text[chunk.heading.start : chunk.heading.end] if chunk.heading else ""
        head_question = 1.0 if head_u >= 0 and head_text.rstrip().endswith("?") else 0.0
        dense_head = float(d.unit_vectors[head_u] @ q_vec) if head_u >= 0 else 0.0
        blocks = self.block_of[units]
        bfirst = self.block_first[units]
        dense_block = self.block_vectors[np.maximum(blocks, 0)] @ q_vec
        dense_bfirst = d.unit_vectors[bfirst] @ q_vec
        brank = self.block_rank[units]
        h_phases = self._unit_phases(head_u) if head_u >= 0 and q_phases else frozenset()
        first_of_section = chunk.heading is not None and chunk.start == chunk.heading.start
        if chunk.heading is None and chunk.position == 0:
            first_of_section = True
        starts = [int(d.unit_start[u]) for u in units]
        ends = [int(d.unit_end[u]) for u in units]
        new_par = [True] + ["\n" in page.text[ends[j - 1] : starts[j]] for j in range(1, len(units))]
        if not first_of_section and chunk.start == starts[0]:
            new_par[0] = page.text[max(0, starts[0] - 1) : starts[0]] in ("\n", "")
        # the same for every window of this passage
        n_before = len(items)
        passage = {
            "dense_head": dense_head, "dense_qhead": dense_head * head_question,
            "head_question": head_question, "has_head": 1.0 if head_u >= 0 else 0.0,
            "dense_chunk": float(retrieved.dense[r]), "bm25_rel": float(retrieved.bm25[r]) / top_bm,
            "fused_rel": float(retrieved.fused[r]) / top_fused, "inv_rank": 1.0 / (r + 1),
            "doc_inv_rank": 1.0 / (doc_rank[doc] + 1),
            "lex_head": cover(self._unit_terms(head_u)) if head_u >= 0 else 0.0,
            "lex_title": cover(self._title_terms(doc)), "lex_page": cover(self._page_terms(doc)),
            "title_extra": self.lexicon.novelty(self._title_terms(doc), q_set),
            "phase_agree": (0.0 if not (q_phases and h_phases) else 1.0 if q_phases & h_phases else -1.0),
        }
        for j in range(len(units)):
            acc = np.zeros_like(q_vec)
            seen: set[str] = set()
            for length in range(1, self.max_sentences + 1):
                k = j + length - 1
                if k >= len(units):
                    break
                span_chars = ends[k] - starts[j]
                if span_chars > self.max_chars and length > 1:
                    break
                acc = acc + uvec[k]
                seen |= self._unit_terms(int(units[k]))
                norm = float(np.sqrt(acc @ acc)) or 1.0
                items.append(Window(ci, r, doc, starts[j], ends[k], length, int(blocks[j])))
                dense_win = float(acc @ q_vec) / norm
                window = {
                    "dense_win": dense_win, "dense_match": max(dense_win, passage["dense_qhead"]),
                    "dense_max": float(sims[j : k + 1].max()),
                    "dense_first": float(sims[j]), "dense_block": float(dense_block[j]),
                    "dense_block_first": float(dense_bfirst[j]), "lex_win": cover(seen),
                    "lex_rest": cover_rest(seen),
                    "first_in_par": 1.0 if new_par[j] else 0.0,
                    "first_in_sec": 1.0 if (j == 0 and first_of_section) else 0.0,
                    "first_block": 1.0 if brank[j] == 0 else 0.0,
                    "first_in_block": 1.0 if bfirst[j] == units[j] else 0.0,
                    "log_pos": float(np.log1p(j)), "log_block_rank": float(np.log1p(brank[j])),
                    "len2": 1.0 if length == 2 else 0.0, "len3": 1.0 if length == 3 else 0.0,
                    "chars": span_chars / self.max_chars,
                }
                for name, value in window.items():
                    win_cols.setdefault(name, []).append(value)
        passages.append(passage)
        per_passage.append(len(items) - n_before)
    counts = np.asarray(per_passage, dtype=np.int64)
    features = np.column_stack([
        np.asarray(win_cols[name], dtype=np.float64) if name in win_cols
        else np.repeat(np.asarray([p[name] for p in passages], dtype=np.float64), counts)
        for name in WINDOW_FEATURES])
    return Windows(items, features)
