"""Answer extraction: candidate windows of 1–3 consecutive sentences, their features, and scoring.

Every retrieved passage (top ``n_passages`` chunks) offers its windows of 1..``max_sentences``
consecutive sentences (at most ``max_chars`` characters). Each window is described by dense
signals (the question against the window, its best sentence, its first sentence, its section heading
and its chunk), lexical signals (IDF-weighted coverage of the question by the window, the heading and
the page title; the share of the title the question does not mention, so "Adult Non-Hodgkin
Lymphoma" is not taken for "Adult Hodgkin Lymphoma"; BM25 and fused retrieval scores), whether the
section heading is about the phase of the procedure the question asks about ("before" / "during" /
"after"), and position (first sentence of a paragraph / a section, place in the chunk, length). A
linear model (:class:`LinearModel`, fitted by ``clinicqa fit``) turns the features into a ranking score.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from qa.intent import IntentAssociation, position_term
from qa.lexical import Lexicon
from qa.retrieval import Retrieved
from qa.store import UNIT_SENTENCE, IndexData
from qa.text import phases, terms

WINDOW_FEATURES = (
    "dense_win", "dense_max", "dense_first", "dense_head", "has_head", "dense_chunk",
    "bm25_rel", "fused_rel", "inv_rank", "doc_inv_rank",
    "lex_win", "lex_head", "lex_title", "title_extra", "phase_agree", "lex_page",
    "first_in_par", "first_in_sec", "log_pos", "len2", "len3", "chars",
    "dense_block", "dense_block_first", "resid_win", "resid_block", "resid_block_first", "resid_head",
    "first_block", "first_in_block", "log_block_rank", "assoc_win", "assoc_block",
)
# The last two are filled from the learned intent association (qa/intent.py), when the model has one.
ASSOC_COLUMNS = slice(len(WINDOW_FEATURES) - 2, len(WINDOW_FEATURES))

CONFIDENCE_FEATURES = (
    "score", "margin", "lex_page", "lex_title", "lex_win", "dense_chunk", "dense_max", "dense_head",
    "log_bm25", "resid_block_first", "dense_block", "p_block", "title_extra",
)
# What the "do the pages cover this at all?" half of the calibrator sees (a subset of the above).
ANSWERABLE_FEATURES = (
    "score", "lex_page", "lex_title", "dense_chunk", "dense_max", "dense_head", "log_bm25", "dense_block",
    "title_extra",
)
ANSWERABLE_COLUMNS = [CONFIDENCE_FEATURES.index(n) for n in ANSWERABLE_FEATURES]


@dataclass(frozen=True)
class Window:
    chunk: int  # chunk index
    rank: int  # rank of the chunk in retrieval
    doc: int  # page index
    start: int  # page offsets
    end: int
    n_sentences: int
    block: int = -1  # the paragraph (block) of its first sentence, an index over the whole index


@dataclass(frozen=True)
class Windows:
    items: list[Window]
    features: np.ndarray  # (n_windows, len(WINDOW_FEATURES))
    # For the intent association: each window's content terms and those of its paragraph (shared
    # objects), each with the position pseudo-term of the paragraph (qa.intent.position_term).
    terms: tuple[frozenset[str], ...] = ()
    block_terms: tuple[frozenset[str], ...] = ()


class LinearModel:
    """A standardised logistic model: ``sigmoid(((x - mean) / scale) @ coef + intercept)``."""

    def __init__(self, features: tuple[str, ...], mean: np.ndarray, scale: np.ndarray, coef: np.ndarray,
                 intercept: float) -> None:
        self.features = features
        self.mean = mean
        self.scale = scale
        self.coef = coef
        self.intercept = intercept

    def logit(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(((x - self.mean) / self.scale) @ self.coef + self.intercept, dtype=np.float64)

    def proba(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit(x)))

    def to_json(self) -> dict[str, Any]:
        return {"features": list(self.features), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": self.intercept}

    @classmethod
    def from_json(cls, d: dict[str, Any], expected: tuple[str, ...]) -> LinearModel:
        feats = tuple(d["features"])
        if feats != expected:
            raise ValueError(f"model features {feats} do not match this version's {expected}")
        return cls(feats, np.asarray(d["mean"], dtype=np.float64), np.asarray(d["scale"], dtype=np.float64),
                   np.asarray(d["coef"], dtype=np.float64), float(d["intercept"]))


class Calibrator:
    """Confidence = P(the pages cover the question) × P(the chosen quote is right | they do), recalibrated.

    Two logistic models over :data:`CONFIDENCE_FEATURES`: ``answerable`` (over the subset
    :data:`ANSWERABLE_FEATURES`) is fitted on every tune question with its answerable label; ``correct``
    on the answerable ones with whether the best window was correct. A question the pages do not cover
    is never answered correctly, so the product estimates the probability that the answer is right; the
    factorisation keeps uncovered questions at the bottom (abstention AUROC) while the second factor
    lowers the confidence of answers whose paragraph the ranker was unsure of (wrong-answer rate). A
    product of two fitted probabilities is not itself calibrated: a final one-variable logistic fit on
    its log-odds (``scale``, ``shift``; Platt scaling) maps it to the observed rate of right answers.
    """

    def __init__(self, answerable: LinearModel, correct: LinearModel, scale: float = 1.0,
                 shift: float = 0.0) -> None:
        self.answerable = answerable
        self.correct = correct
        self.scale = scale
        self.shift = shift

    def covered(self, x: np.ndarray) -> np.ndarray:
        """P(the pages cover the question), per row of confidence features."""
        return self.answerable.proba(np.atleast_2d(x)[:, ANSWERABLE_COLUMNS])

    def log_odds(self, x: np.ndarray) -> np.ndarray:
        """The log-odds of the uncalibrated product P(covered) × P(right | covered)."""
        x = np.atleast_2d(x)
        p = np.clip(self.covered(x) * self.correct.proba(x), 1e-6, 1 - 1e-6)
        return np.asarray(np.log(p / (1 - p)), dtype=np.float64)

    def proba(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.scale * self.log_odds(x) + self.shift)))

    def to_json(self) -> dict[str, Any]:
        return {"answerable": self.answerable.to_json(), "correct": self.correct.to_json(),
                "scale": self.scale, "shift": self.shift}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Calibrator:
        if "answerable" not in d or "correct" not in d:
            raise ValueError("the calibrator was written by an older clinicqa (one model, not two)")
        return cls(LinearModel.from_json(d["answerable"], ANSWERABLE_FEATURES),
                   LinearModel.from_json(d["correct"], CONFIDENCE_FEATURES),
                   float(d.get("scale", 1.0)), float(d.get("shift", 0.0)))


@dataclass(frozen=True)
class AnswerModel:
    """The fitted ranker, the confidence calibrator and the answer threshold (qa/data/answer_model.json)."""

    ranker: LinearModel
    calibrator: Calibrator
    threshold: float
    provenance: dict[str, Any]
    assoc: IntentAssociation | None = None

    @classmethod
    def load(cls, path: Path) -> AnswerModel:
        d = json.loads(path.read_text(encoding="utf-8"))
        return cls(LinearModel.from_json(d["ranker"], WINDOW_FEATURES),
                   Calibrator.from_json(d["calibrator"]),
                   float(d["threshold"]), d.get("provenance", {}),
                   IntentAssociation.from_json(d["intent_assoc"]) if d.get("intent_assoc") else None)

    def save(self, path: Path) -> None:
        text = json.dumps({"ranker": self.ranker.to_json(), "calibrator": self.calibrator.to_json(),
                           "threshold": self.threshold, "provenance": self.provenance}, indent=2)
        if self.assoc is not None:  # one line per intent term: readable diffs, a small file
            rows = ",\n".join(f"    {json.dumps(r)}: {json.dumps(row, sort_keys=True)}"
                               for r, row in sorted(self.assoc.table.items()))
            text = text[: text.rindex("}")].rstrip() + ',\n  "intent_assoc": {"table": {\n' + rows + "\n  }}\n}"
        path.write_text(text + "\n", encoding="utf-8")


_BLANK_LINE = re.compile(r"\n[ \t]*\n")

DEFAULT_MODEL_PATH = Path(__file__).parent / "data" / "answer_model.json"


class Extractor:
    def __init__(self, data: IndexData, lexicon: Lexicon, *, n_passages: int = 8, max_sentences: int = 3,
                 max_chars: int = 400) -> None:
        self.data = data
        self.lexicon = lexicon
        self.n_passages = n_passages
        self.max_sentences = max_sentences
        self.max_chars = max_chars
        self._blocks()
        self._unit_terms = lru_cache(maxsize=200_000)(self._unit_terms_uncached)
        self._page_terms = lru_cache(maxsize=20_000)(self._page_terms_uncached)
        self._title_terms = lru_cache(maxsize=20_000)(self._title_terms_uncached)
        self._block_terms = lru_cache(maxsize=50_000)(self._block_terms_uncached)
        self._unit_phases = lru_cache(maxsize=50_000)(self._unit_phases_uncached)

    def _blocks(self) -> None:
        """Group sentences into blocks: paragraphs separated by a blank line or a heading."""
        d = self.data
        n = len(d.unit_start)
        self.block_of = np.full(n, -1, dtype=np.int64)
        self.block_first = np.arange(n, dtype=np.int64)
        self.block_rank = np.zeros(n, dtype=np.int64)  # index of the block within its page
        order = np.lexsort((d.unit_start, d.unit_doc))
        block, rank, first, prev, heading_seen = -1, 0, -1, -1, False
        for u in order.tolist():
            doc = int(d.unit_doc[u])
            if prev >= 0 and int(d.unit_doc[prev]) != doc:
                prev, heading_seen = -1, False
            if d.unit_kind[u] != UNIT_SENTENCE:
                heading_seen = True
                continue
            if prev < 0:
                block, rank, first = block + 1, 0, u  # the page's first block
            elif heading_seen or _BLANK_LINE.search(
                    d.pages[doc].text, int(d.unit_end[prev]), int(d.unit_start[u])) is not None:
                block, rank, first = block + 1, rank + 1, u
            self.block_of[u] = block
            self.block_first[u] = first
            self.block_rank[u] = rank
            prev, heading_seen = u, False
        # The units of block b are _block_order[_block_bounds[b] : _block_bounds[b + 1]].
        self._block_order = np.argsort(self.block_of, kind="stable")
        self._block_bounds = np.searchsorted(self.block_of[self._block_order], np.arange(block + 2))
        vec = np.zeros((block + 2, d.unit_vectors.shape[1]), dtype=np.float32)
        mask = self.block_of >= 0
        np.add.at(vec, self.block_of[mask], d.unit_vectors[mask])
        self.block_vectors = vec / np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-9)

    def _unit_text(self, unit: int) -> str:
        d = self.data
        return d.pages[int(d.unit_doc[unit])].text[int(d.unit_start[unit]) : int(d.unit_end[unit])]

    def _unit_terms_uncached(self, unit: int) -> frozenset[str]:
        return frozenset(terms(self._unit_text(unit)))

    def _unit_phases_uncached(self, unit: int) -> frozenset[str]:
        return phases(self._unit_text(unit))

    def _block_terms_uncached(self, block: int) -> frozenset[str]:
        if block < 0:
            return frozenset()
        order, bounds = self._block_order, self._block_bounds
        units = order[bounds[block] : bounds[block + 1]].tolist()
        out: set[str] = {position_term(int(self.block_rank[units[0]]))} if units else set()
        for u in units:
            out |= self._unit_terms(u)
        return frozenset(out)

    def assoc_terms(self, unit: int) -> frozenset[str]:
        """A sentence's terms as the intent association sees them: its content terms and the position
        pseudo-term of its paragraph."""
        return self._unit_terms(unit) | {position_term(int(self.block_rank[unit]))}

    def _page_terms_uncached(self, doc: int) -> frozenset[str]:
        p = self.data.pages[doc]
        return frozenset(terms(p.title + "\n" + p.text))

    def _title_terms_uncached(self, doc: int) -> frozenset[str]:
        return frozenset(terms(self.data.pages[doc].title))

    def page_coverage(self, q_terms: list[str], doc: int) -> float:
        return self.lexicon.coverage(q_terms, self._page_terms(doc))

    def windows(self, q_terms: list[str], q_vec: np.ndarray, retrieved: Retrieved,
                doc_index: dict[str, int], resid_vec: np.ndarray | None = None,
                intent: frozenset[str] = frozenset(), assoc: IntentAssociation | None = None,
                q_phases: frozenset[str] = frozenset()) -> Windows:
        """Candidate windows and their features. ``resid_vec`` embeds the question without its topic
        words (see :func:`qa.text.residual_question`); it defaults to the question itself. ``intent``
        and ``assoc`` give the ``assoc_*`` features (zero without them); ``q_phases`` (:func:`qa.text.phases`
        of the question) gives ``phase_agree``: +1 when the section heading speaks of the same phase of the
        procedure ("before", "during", "after"), -1 when only of others, 0 when either is silent."""
        d = self.data
        resid = q_vec if resid_vec is None else resid_vec
        cover = self.lexicon.weigher(q_terms)
        q_set = frozenset(q_terms)
        items: list[Window] = []
        rows: list[list[float]] = []
        win_terms: list[frozenset[str]] = []
        blk_terms: list[frozenset[str]] = []
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
            uvec = d.unit_vectors[units]
            sims = uvec @ q_vec
            head_u = int(d.chunk_heading_unit[ci])
            dense_head = float(d.unit_vectors[head_u] @ q_vec) if head_u >= 0 else 0.0
            resid_head = float(d.unit_vectors[head_u] @ resid) if head_u >= 0 else 0.0
            blocks = self.block_of[units]
            bfirst = self.block_first[units]
            bvec = self.block_vectors[np.maximum(blocks, 0)]
            dense_block, resid_block = bvec @ q_vec, bvec @ resid
            fvec = d.unit_vectors[bfirst]
            dense_bfirst, resid_bfirst = fvec @ q_vec, fvec @ resid
            brank = self.block_rank[units]
            lex_head = cover(self._unit_terms(head_u)) if head_u >= 0 else 0.0
            lex_title = cover(self._title_terms(doc))
            h_phases = self._unit_phases(head_u) if head_u >= 0 and q_phases else frozenset()
            phase_agree = (0.0 if not (q_phases and h_phases)
                           else 1.0 if q_phases & h_phases else -1.0)
            title_extra = self.lexicon.novelty(self._title_terms(doc), q_set)
            lex_page = cover(self._page_terms(doc))
            first_of_section = chunk.heading is not None and chunk.start == chunk.heading.start
            if chunk.heading is None and chunk.position == 0:
                first_of_section = True
            starts = [int(d.unit_start[u]) for u in units]
            ends = [int(d.unit_end[u]) for u in units]
            new_par = [True] + ["\n" in page.text[ends[j - 1] : starts[j]] for j in range(1, len(units))]
            if not first_of_section and chunk.start == starts[0]:
                new_par[0] = page.text[max(0, starts[0] - 1) : starts[0]] in ("\n", "")
            base = [float(retrieved.dense[r]), float(retrieved.bm25[r]) / top_bm,
                    float(retrieved.fused[r]) / top_fused, 1.0 / (r + 1), 1.0 / (doc_rank[doc] + 1)]
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
                    norm = float(np.linalg.norm(acc)) or 1.0
                    items.append(Window(ci, r, doc, starts[j], ends[k], length, int(blocks[j])))
                    win_terms.append(frozenset(seen | {position_term(int(brank[j]))}))
                    blk_terms.append(self._block_terms(int(blocks[j])))
                    rows.append([
                        float(acc @ q_vec) / norm, float(sims[j : k + 1].max()), float(sims[j]),
                        dense_head, 1.0 if head_u >= 0 else 0.0, base[0],
                        base[1], base[2], base[3], base[4],
                        cover(seen), lex_head, lex_title, title_extra, phase_agree, lex_page,
                        1.0 if new_par[j] else 0.0, 1.0 if (j == 0 and first_of_section) else 0.0,
                        float(np.log1p(j)), 1.0 if length == 2 else 0.0, 1.0 if length == 3 else 0.0,
                        span_chars / 400.0,
                        float(dense_block[j]), float(dense_bfirst[j]), float(acc @ resid) / norm,
                        float(resid_block[j]), float(resid_bfirst[j]), resid_head,
                        1.0 if brank[j] == 0 else 0.0, 1.0 if bfirst[j] == units[j] else 0.0,
                        float(np.log1p(brank[j])), 0.0, 0.0,
                    ])
        features = np.asarray(rows, dtype=np.float64).reshape(-1, len(WINDOW_FEATURES))
        if assoc is not None and intent:
            features[:, ASSOC_COLUMNS] = assoc.columns(intent, win_terms, blk_terms)
        return Windows(items, features, tuple(win_terms), tuple(blk_terms))


def confidence_features(windows: Windows, scores: np.ndarray, best: int, retrieved: Retrieved) -> np.ndarray:
    """Features of the question's best window for the confidence calibrator."""
    f = windows.features
    col = {name: i for i, name in enumerate(WINDOW_FEATURES)}
    w = windows.items[best]
    others = [i for i, o in enumerate(windows.items) if o.end <= w.start or o.start >= w.end or o.doc != w.doc]
    runner_up = float(scores[others].max()) if others else float(scores[best]) - 10.0
    # The ranker is a conditional logit: the softmax of its scores is its probability of each window
    # being the answer. The mass on the best window's paragraph is its belief that the paragraph is right
    # (any sentence of the right paragraph is usually a right answer).
    p = np.exp(scores - scores.max())
    same = np.asarray([o.doc == w.doc and o.block == w.block for o in windows.items])
    p_block = float(p[same].sum() / p.sum())
    return np.asarray([
        float(scores[best]), float(scores[best]) - runner_up,
        f[best, col["lex_page"]], f[best, col["lex_title"]], f[best, col["lex_win"]],
        f[best, col["dense_chunk"]], f[best, col["dense_max"]], f[best, col["dense_head"]],
        float(np.log1p(max(float(retrieved.bm25[0]) if len(retrieved.bm25) else 0.0, 0.0))),
        f[best, col["resid_block_first"]], f[best, col["dense_block"]], p_block, f[best, col["title_extra"]],
    ], dtype=np.float64)
