"""Answer extraction: candidate windows of 1–3 consecutive sentences, their signals, and scoring.

Every retrieved passage (top ``n_passages`` chunks) offers its windows of 1..``max_sentences``
consecutive sentences (at most ``max_chars`` characters); headings and page titles are never windows.
Each window gets every signal of :data:`WINDOW_FEATURES`, by name: dense similarities (the window, its
sentences, its section heading, its paragraph), FAQ structure (``dense_match``: under a heading that is
a question, the patient's question is matched to that question — an FAQ entry answers what its heading
asks), lexical coverage (of the question, and of what it asks beyond the page's topic), retrieval
scores, position and length. A fitted :class:`LinearModel` reads the signals it uses *by name* and
ranks the windows; the :class:`Calibrator` turns the best window's :data:`CONFIDENCE_FEATURES` into the
probability that the quote is right. Which signals the shipped model uses was decided by
leave-one-dataset-out on five labelled sets (BENCHMARKS.md, "Answer model across datasets").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from qa.lexical import Lexicon
from qa.retrieval import Retrieved
from qa.store import UNIT_SENTENCE, IndexData
from qa.text import phases, terms

# Every signal the extractor computes for a window, by name. A fitted model names the ones it uses
# (:class:`LinearModel` reads its columns by name), so adding or reordering signals here can never shift
# a model's columns. What the shipped model uses, and why, is in BENCHMARKS.md (issue 12's ablation).
WINDOW_FEATURES = (
    "dense_match",  # dense_win, or under a question heading the heading's cosine when higher: an FAQ entry
    # answers the questions its heading asks, and a paraphrase of the heading is closer to it than to any answer
    "dense_win",  # cosine of the question and the window (pooled sentence vectors)
    "dense_max",  # best cosine of one of the window's sentences
    "dense_first",  # cosine of the window's first sentence
    "dense_head",  # cosine of the section heading (0 without one)
    "dense_qhead",  # the same, only where the heading is a question: an FAQ entry's question vs the patient's
    "head_question",  # the section heading is a question (an FAQ entry)
    "has_head",
    "dense_chunk",  # cosine of the chunk (retrieval's dense score)
    "dense_block",  # cosine of the window's paragraph
    "dense_block_first",  # cosine of its paragraph's first sentence
    "bm25_rel", "fused_rel", "inv_rank", "doc_inv_rank",  # retrieval: relative scores and ranks
    "lex_win", "lex_head", "lex_title", "lex_page",  # IDF-weighted coverage of the question
    "lex_rest",  # ... of what the question asks beyond the page's topic: its words not in the page title
    # ("how long ... take" of "How long does the iliopsoas injection take?" on the Iliopsoas Injection page)
    "title_extra",  # share of the page title the question does not mention
    "phase_agree",  # the heading speaks of the question's phase of the procedure (+1), only of another (-1)
    "first_in_par", "first_in_sec", "first_block", "first_in_block", "log_pos", "log_block_rank",
    "len2", "len3", "chars",  # 2 or 3 sentences; length in units of the longest quote
)

# Every signal the calibrator can see about a question's best window, by name.
CONFIDENCE_FEATURES = (
    "score",  # the ranker's logit of the window
    "margin",  # its lead over the best window that does not overlap it
    "p_best",  # the ranker's (softmax) probability of the window
    "p_block",  # ... of the window's paragraph (any sentence of the right paragraph is usually right)
    "p_section",  # ... of the window's section
    "log_bm25",  # log(1 + the top BM25 score)
    "dense_match", "dense_win", "dense_max", "dense_head", "dense_qhead", "dense_chunk", "dense_block",
    "lex_win", "lex_rest", "lex_head", "lex_title", "lex_page", "title_extra",
)


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
    features: np.ndarray  # (n_windows, len(WINDOW_FEATURES)), columns in WINDOW_FEATURES order

    def column(self, name: str) -> np.ndarray:
        return np.asarray(self.features[:, WINDOW_FEATURES.index(name)])


class LinearModel:
    """A standardised linear model over named columns of a feature table:
    ``sigmoid(((x[:, features] - mean) / scale) @ coef + intercept)``.

    ``table`` names the columns of the matrices it is given (:data:`WINDOW_FEATURES` or
    :data:`CONFIDENCE_FEATURES`); ``features`` are the ones it uses, found by name, so a model file
    stays right whatever order the table has and is refused when it names a signal this version lacks.
    """

    def __init__(self, features: tuple[str, ...], mean: np.ndarray, scale: np.ndarray, coef: np.ndarray,
                 intercept: float, table: tuple[str, ...]) -> None:
        unknown = [f for f in features if f not in table]
        if unknown:
            raise ValueError(f"the model uses features this version does not compute: {', '.join(unknown)}")
        if not (len(features) == len(mean) == len(scale) == len(coef)):
            raise ValueError(f"the model has {len(features)} feature names but {len(coef)} coefficients")
        self.features = features
        self.table = table
        self.columns = [table.index(f) for f in features]
        self.mean = mean
        self.scale = scale
        self.coef = coef
        self.intercept = intercept

    def logit(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(x)[:, self.columns]
        return np.asarray(((x - self.mean) / self.scale) @ self.coef + self.intercept, dtype=np.float64)

    def proba(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit(x)))

    def to_json(self) -> dict[str, Any]:
        return {"features": list(self.features), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": self.intercept}

    @classmethod
    def from_json(cls, d: dict[str, Any], table: tuple[str, ...]) -> LinearModel:
        return cls(tuple(d["features"]), np.asarray(d["mean"], dtype=np.float64),
                   np.asarray(d["scale"], dtype=np.float64), np.asarray(d["coef"], dtype=np.float64),
                   float(d["intercept"]), table)


class Calibrator:
    """Confidence = P(the pages cover the question) × P(the chosen quote is right | they do), recalibrated.

    Two logistic models over named :data:`CONFIDENCE_FEATURES` of the question's best window:
    ``answerable`` is fitted on every fitting question with its answerable label; ``correct`` on the
    answerable ones with whether the best window was correct. A question the pages do not cover is never
    answered correctly, so the product estimates the probability that the answer is right; the
    factorisation keeps uncovered questions at the bottom (abstention AUROC) and says why the assistant
    abstains (``no_relevant_passage`` vs ``low_confidence``). A product of two fitted probabilities is not
    itself calibrated: a final one-variable logistic fit on its log-odds (``scale``, ``shift``; Platt
    scaling) maps it to the observed rate of right answers.
    """

    def __init__(self, answerable: LinearModel, correct: LinearModel, scale: float = 1.0,
                 shift: float = 0.0) -> None:
        self.answerable = answerable
        self.correct = correct
        self.scale = scale
        self.shift = shift

    def covered(self, x: np.ndarray) -> np.ndarray:
        """P(the pages cover the question), per row of confidence features."""
        return self.answerable.proba(x)

    def log_odds(self, x: np.ndarray) -> np.ndarray:
        """The log-odds of the uncalibrated product P(covered) × P(right | covered)."""
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
        return cls(LinearModel.from_json(d["answerable"], CONFIDENCE_FEATURES),
                   LinearModel.from_json(d["correct"], CONFIDENCE_FEATURES),
                   float(d.get("scale", 1.0)), float(d.get("shift", 0.0)))


@dataclass(frozen=True)
class AnswerModel:
    """The fitted ranker, the confidence calibrator and the answer threshold (qa/data/answer_model.json)."""

    ranker: LinearModel
    calibrator: Calibrator
    threshold: float
    provenance: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> AnswerModel:
        d = json.loads(path.read_text(encoding="utf-8"))
        if "intent_assoc" in d:
            raise ValueError("the model was written by an older clinicqa (with an intent association); "
                             "refit it with `clinicqa fit`")
        return cls(LinearModel.from_json(d["ranker"], WINDOW_FEATURES), Calibrator.from_json(d["calibrator"]),
                   float(d["threshold"]), d.get("provenance", {}))

    def save(self, path: Path) -> None:
        text = json.dumps({"ranker": self.ranker.to_json(), "calibrator": self.calibrator.to_json(),
                           "threshold": self.threshold, "provenance": self.provenance}, indent=2)
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

    def _page_terms_uncached(self, doc: int) -> frozenset[str]:
        p = self.data.pages[doc]
        return frozenset(terms(p.title + "\n" + p.text))

    def _title_terms_uncached(self, doc: int) -> frozenset[str]:
        return frozenset(terms(self.data.pages[doc].title))

    def windows(self, q_terms: list[str], q_vec: np.ndarray, retrieved: Retrieved,
                doc_index: dict[str, int], q_phases: frozenset[str] = frozenset()) -> Windows:
        """Candidate windows of the top passages and every signal of :data:`WINDOW_FEATURES` for each.
        ``q_phases`` (:func:`qa.text.phases` of the question) gives ``phase_agree``: +1 when the section
        heading speaks of the same phase of the procedure ("before", "during", "after"), -1 when only of
        others, 0 when either is silent."""
        d = self.data
        cover = self.lexicon.weigher(q_terms)
        q_set = frozenset(q_terms)
        # The question's distinct terms and their IDF weights: a window's coverage is the weight of the terms
        # any of its sentences has (a boolean row per sentence, OR-ed over the window), over the total.
        q_list = list(dict.fromkeys(q_terms))
        q_weight = np.asarray([self.lexicon.idf(t) for t in q_list], dtype=np.float64)
        rest_weight: dict[int, np.ndarray] = {}  # per page: the weights of the question's rest (see lex_rest)
        items: list[Window] = []
        win_cols: dict[str, list[np.ndarray]] = {}  # the signals that differ between a passage's windows
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
            m = len(units)
            if m == 0:
                continue
            if doc not in rest_weight:
                title = self._title_terms(doc)
                rest = [t for t in q_terms if t not in title]
                use_rest = bool(rest) and len(rest) < len(q_terms)
                rest_weight[doc] = q_weight * np.asarray([t not in title for t in q_list]) if use_rest else q_weight
            w_rest = rest_weight[doc]
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
            starts = d.unit_start[units].astype(np.int64)
            ends = d.unit_end[units].astype(np.int64)
            new_par = np.asarray([True] + ["\n" in page.text[int(ends[j - 1]) : int(starts[j])]
                                          for j in range(1, m)])
            if not first_of_section and chunk.start == int(starts[0]):
                new_par[0] = page.text[max(0, int(starts[0]) - 1) : int(starts[0])] in ("\n", "")
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
            # Windows of 1..max_sentences consecutive sentences, in the order (first sentence, length); a
            # window longer than max_chars is kept only as one sentence.
            has = np.asarray([[t in self._unit_terms(int(u)) for t in q_list] for u in units.tolist()],
                             dtype=bool).reshape(m, len(q_list))
            js: list[np.ndarray] = []
            ks: list[np.ndarray] = []
            accs: list[np.ndarray] = []
            seens: list[np.ndarray] = []
            acc = np.zeros_like(uvec)
            seen = np.zeros_like(has)
            for length in range(1, self.max_sentences + 1):
                if length > m:
                    break
                j = np.arange(m - length + 1)
                k = j + length - 1
                acc = acc[: len(j)] + uvec[k]  # the same additions, in the same order, as sentence by sentence
                seen = seen[: len(j)] | has[k]
                keep = (ends[k] - starts[j] <= self.max_chars) if length > 1 else np.ones(len(j), dtype=bool)
                js.append(j[keep])
                ks.append(k[keep])
                accs.append(acc[keep])
                seens.append(seen[keep])
            jj, kk = np.concatenate(js), np.concatenate(ks)
            order = np.lexsort((kk, jj))  # by first sentence, then length
            jj, kk = jj[order], kk[order]
            pooled = np.concatenate(accs)[order]
            covered = np.concatenate(seens)[order]
            norms = np.sqrt(np.einsum("ij,ij->i", pooled, pooled))
            norms[norms == 0] = 1.0
            dense_win = (pooled @ q_vec).astype(np.float64) / norms
            total = float(q_weight.sum())
            total_rest = float(w_rest.sum())
            length_arr = kk - jj + 1
            span_chars = (ends[kk] - starts[jj]).astype(np.float64)
            dense_max = sims[jj].astype(np.float64)
            for offset in range(1, self.max_sentences):
                longer = jj + offset <= kk
                dense_max[longer] = np.maximum(dense_max[longer], sims[jj[longer] + offset])
            cols = {
                "dense_win": dense_win, "dense_match": np.maximum(dense_win, passage["dense_qhead"]),
                "dense_max": dense_max,
                "dense_first": sims[jj].astype(np.float64), "dense_block": dense_block[jj].astype(np.float64),
                "dense_block_first": dense_bfirst[jj].astype(np.float64),
                "lex_win": covered @ q_weight / total if total else np.zeros(len(jj)),
                "lex_rest": covered @ w_rest / total_rest if total_rest else np.zeros(len(jj)),
                "first_in_par": new_par[jj].astype(np.float64),
                "first_in_sec": ((jj == 0) & first_of_section).astype(np.float64),
                "first_block": (brank[jj] == 0).astype(np.float64),
                "first_in_block": (bfirst[jj] == units[jj]).astype(np.float64),
                "log_pos": np.log1p(jj.astype(np.float64)), "log_block_rank": np.log1p(brank[jj].astype(np.float64)),
                "len2": (length_arr == 2).astype(np.float64), "len3": (length_arr == 3).astype(np.float64),
                "chars": span_chars / self.max_chars,
            }
            for name, values in cols.items():
                win_cols.setdefault(name, []).append(values)
            items.extend(Window(ci, r, doc, int(starts[a]), int(ends[b]), int(b - a + 1), int(blocks[a]))
                         for a, b in zip(jj.tolist(), kk.tolist(), strict=True))
            passages.append(passage)
            per_passage.append(len(items) - n_before)
        counts = np.asarray(per_passage, dtype=np.int64)
        features = np.column_stack([
            np.concatenate(win_cols[name]).astype(np.float64) if name in win_cols
            else np.repeat(np.asarray([p[name] for p in passages], dtype=np.float64), counts)
            for name in WINDOW_FEATURES])
        return Windows(items, features)


# The margin of a window that has no competitor (a one-sentence corpus): larger than the ranker's scores
# ever differ between two windows of one question in practice.
NO_RUNNER_UP_MARGIN = 10.0


def confidence_features(windows: Windows, scores: np.ndarray, best: int, retrieved: Retrieved) -> np.ndarray:
    """The :data:`CONFIDENCE_FEATURES` of the question's best window (one row, in that order)."""
    w = windows.items[best]
    others = [i for i, o in enumerate(windows.items) if o.end <= w.start or o.start >= w.end or o.doc != w.doc]
    runner_up = float(scores[others].max()) if others else float(scores[best]) - NO_RUNNER_UP_MARGIN
    # The ranker is a conditional logit: the softmax of its scores is its probability of each window
    # being the answer, and the mass on the best window's paragraph / section its belief in those.
    p = np.exp(scores - scores.max())
    p /= p.sum()
    same_block = np.asarray([o.doc == w.doc and o.block == w.block for o in windows.items])
    same_section = np.asarray([o.chunk == w.chunk or (o.doc == w.doc and o.block == w.block)
                               for o in windows.items])
    values = {
        "score": float(scores[best]), "margin": float(scores[best]) - runner_up, "p_best": float(p[best]),
        "p_block": float(p[same_block].sum()), "p_section": float(p[same_section].sum()),
        "log_bm25": float(np.log1p(max(float(retrieved.bm25[0]) if len(retrieved.bm25) else 0.0, 0.0))),
    }
    f = windows.features[best]
    for name in CONFIDENCE_FEATURES:
        if name not in values:
            values[name] = float(f[WINDOW_FEATURES.index(name)])
    return np.asarray([values[name] for name in CONFIDENCE_FEATURES], dtype=np.float64)

