"""Evaluation against a labelled question set, and fitting of the answer model.

Question records (JSONL): ``id, question, answerable, doc_id, answer_spans, gold_doc_ids`` (and
optionally ``gold_spans_by_doc``, ``answer_text``). An answer is *correct* when it cites a gold document,
at least half of its characters lie inside that document's gold spans, and it is at most 600
characters long — the rule of the shared scorer.

The question set is split by a hash of each id: ``tune`` (fit the ranker, the calibrator and the
threshold) and ``report`` (measure). Reporting on the split that was tuned on is refused by default.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.engine import Engine, Trace
from qa.errors import ClinicQAError
from qa.extraction import (
    CONFIDENCE_FEATURES,
    WINDOW_FEATURES,
    AnswerModel,
    Calibrator,
    LinearModel,
    confidence_features,
)
from qa.text import read_questions_jsonl

log = logging.getLogger(__name__)

MAX_ANSWER_CHARS = 600
SPLITS = ("tune", "report", "all")
# The threshold keeps the *upper 95 % (one-sided) Wilson bound* of the tune split's wrong-answer rate under
# the target, not the observed rate: a rate seen on ~150 answered questions is uncertain by ±0.05, and the
# report split's rate came out above the tune split's with the plain rule (5-fold CV on the dev tune
# split: wrong-answer rate 0.156 with the plain rule, 0.108 with the bound; end-to-end 0.822 → 0.777).
WRONG_RATE_Z = 1.645


def split_of(question_id: str) -> str:
    """Deterministic half split by id hash."""
    return "tune" if hashlib.sha256(question_id.encode()).digest()[0] % 2 == 0 else "report"


def read_questions(path: Path, split: str = "all") -> list[dict[str, Any]]:
    """Labelled questions (each with an ``id``) of one split; errors name the file and line."""
    if split not in SPLITS:
        raise ClinicQAError(f"--split must be one of {', '.join(SPLITS)}, not {split!r}")
    return [q for q in read_questions_jsonl(path, required=("id",))
            if split == "all" or split_of(str(q["id"])) == split]


def dataset_name(questions_path: Path) -> str:
    """A question set's name: its file name, or its folder's for a generic one ("covid-faq/questions.jsonl")."""
    path = Path(questions_path)
    return path.parent.name if path.stem in ("questions", "dev", "test") and path.parent.name else path.stem


def gold_spans(q: dict[str, Any], doc_id: str, text: str) -> list[tuple[int, int]]:
    by_doc = q.get("gold_spans_by_doc") or {}
    if doc_id in by_doc:
        return [tuple(s) for s in by_doc[doc_id]]
    if doc_id == q.get("doc_id"):
        return [tuple(s) for s in q.get("answer_spans", [])]
    gold = q.get("answer_text", "")
    at = text.find(gold[:200]) if gold else -1
    return [(at, at + len(gold))] if at >= 0 else []


def is_correct(q: dict[str, Any], doc_id: str, start: int, end: int, text: str) -> bool:
    if not q.get("answerable") or doc_id not in set(q.get("gold_doc_ids", [])):
        return False
    if end <= start or end - start > MAX_ANSWER_CHARS:
        return False
    inside = sum(max(0, min(end, b) - max(start, a)) for a, b in gold_spans(q, doc_id, text))
    return inside >= 0.5 * (end - start)


@dataclass
class Sample:
    question: dict[str, Any]
    trace: Trace
    labels: np.ndarray  # per window: correct?

    @property
    def dataset(self) -> str:
        return str(self.question.get("_set", ""))


def collect(engine: Engine, questions: Iterable[dict[str, Any]],
            progress: Callable[[int], None] | None = None) -> list[Sample]:
    samples = []
    for q in questions:
        tr = engine.trace(str(q["question"]))
        labels = np.asarray([
            is_correct(q, engine.data.pages[w.doc].doc_id, w.start, w.end, engine.data.pages[w.doc].text)
            for w in tr.windows.items], dtype=bool)
        samples.append(Sample(q, tr, labels))
        if progress:
            progress(1)
    return samples


# --- what the answer model uses (chosen by leave-one-dataset-out; BENCHMARKS.md, issue 12) ----------

@dataclass(frozen=True)
class ModelSpec:
    """The named signals each part of the answer model uses."""

    ranker: tuple[str, ...]
    answerable: tuple[str, ...]
    correct: tuple[str, ...]

    def __post_init__(self) -> None:
        for part, names, table in (("ranker", self.ranker, WINDOW_FEATURES),
                                   ("answerable", self.answerable, CONFIDENCE_FEATURES),
                                   ("correct", self.correct, CONFIDENCE_FEATURES)):
            unknown = [n for n in names if n not in table]
            if unknown or not names:
                raise ClinicQAError(f"The {part} needs at least one known feature; unknown: {', '.join(unknown)}.")


SHIPPED_SPEC = ModelSpec(
    ranker=("dense_match", "lex_win", "lex_rest", "fused_rel", "first_block", "len2", "len3"),
    answerable=("score", "dense_match", "p_best", "p_block"),
    correct=("score", "margin"),
)


def set_weights(samples: list[Sample]) -> np.ndarray:
    """Per sample weight so that every dataset weighs the same in a fit, whatever its size (selqa has
    six times the questions of the next set); mean weight 1."""
    sets = [s.dataset for s in samples]
    counts = {name: sets.count(name) for name in set(sets)}
    w = np.asarray([1.0 / counts[name] for name in sets], dtype=np.float64)
    return w * len(w) / w.sum()


def _fit_logistic(x: np.ndarray, y: np.ndarray, names: tuple[str, ...], table: tuple[str, ...], c: float,
                  weights: np.ndarray | None = None) -> LinearModel:
    """A logistic model over the named columns ``names`` of ``x`` (whose columns are ``table``)."""
    from sklearn.linear_model import LogisticRegression

    if len(set(y.tolist())) < 2:
        raise ClinicQAError(f"Cannot fit the model over {', '.join(names[:3])}…: every example has the same "
                            "label. The questions file needs answerable and unanswerable questions, and "
                            "questions answered both rightly and wrongly.")
    cols = [table.index(n) for n in names]
    xs = x[:, cols]
    mean = xs.mean(axis=0)
    scale = xs.std(axis=0)
    scale[scale < 1e-9] = 1.0
    clf = LogisticRegression(C=c, max_iter=2000)
    clf.fit((xs - mean) / scale, y.astype(int), sample_weight=weights)
    return LinearModel(names, mean, scale, clf.coef_[0].astype(np.float64), float(clf.intercept_[0]), table)


def _fit_listwise(x: np.ndarray, y: np.ndarray, sizes: list[int], names: tuple[str, ...],
                  weights: np.ndarray | None = None, l2: float = 1.0) -> LinearModel:
    """Conditional-logit ranker over the named columns of ``x`` (:data:`WINDOW_FEATURES`): maximise, per
    question, the softmax probability mass of its correct windows (a listwise objective: what matters is
    which window wins, not each window's label); ``weights`` per question."""
    from scipy.optimize import minimize

    cols = [WINDOW_FEATURES.index(n) for n in names]
    xs = x[:, cols]
    mean = xs.mean(axis=0)
    scale = xs.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = (xs - mean) / scale
    starts = np.cumsum([0, *sizes[:-1]])
    group = np.repeat(np.arange(len(sizes)), sizes)
    wq = np.ones(len(sizes)) if weights is None else np.asarray(weights, dtype=np.float64)
    pos = y.astype(np.float64)

    def loss(beta: np.ndarray) -> tuple[float, np.ndarray]:
        s = z @ beta
        s = s - np.maximum.reduceat(s, starts)[group]
        e = np.exp(s)
        total_e = np.add.reduceat(e, starts)
        mass_e = np.add.reduceat(e * pos, starts)
        nll = -(np.log(mass_e + 1e-300) - np.log(total_e))
        # gradient of -log(mass/total): E_p[z] - E_{p|pos}[z], per question
        coef = wq[group] * (e / total_e[group] - e * pos / (mass_e[group] + 1e-300))
        return float(wq @ nll + l2 * beta @ beta), z.T @ coef + 2 * l2 * beta

    res = minimize(loss, np.zeros(z.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return LinearModel(names, mean, scale, res.x.astype(np.float64), 0.0, WINDOW_FEATURES)


def fit_ranker(samples: list[Sample], names: tuple[str, ...]) -> LinearModel:
    rows = [s for s in samples if s.question.get("answerable") and len(s.labels) and s.labels.any()]
    if not rows:
        raise ClinicQAError("No answerable question had a correct candidate; cannot fit the ranker.")
    x = np.vstack([s.trace.windows.features for s in rows])
    y = np.concatenate([s.labels for s in rows])
    return _fit_listwise(x, y, [len(s.labels) for s in rows], names, set_weights(rows))


def fit_answer_model(samples: list[Sample], provenance: dict[str, Any], spec: ModelSpec = SHIPPED_SPEC,
                     folds: int = 5, max_wrong: float = 0.10, z: float = WRONG_RATE_Z,
                     threshold_set: str | None = None) -> AnswerModel:
    """Fit the window ranker, then the confidence calibrator and the threshold; every dataset weighs the
    same (:func:`set_weights`). ``threshold_set`` chooses the threshold on that dataset's questions only
    (a clinic's own labelled questions: the wrong-answer rate its patients will see), else on all."""
    usable = [s for s in samples if len(s.labels)]
    ranker = fit_ranker(usable, spec.ranker)
    # The calibrator must see scores like those of unseen questions: cross-fit, scoring each fold
    # with a ranker fitted on the other folds.
    fold_of = {id(s): i % folds for i, s in enumerate(usable)}
    fold_rankers = [fit_ranker([s for s in usable if fold_of[id(s)] != k], spec.ranker) for k in range(folds)]
    feats, ok = [], []
    for s in usable:
        scores = fold_rankers[fold_of[id(s)]].logit(s.trace.windows.features)
        best = int(np.argmax(scores))
        feats.append(confidence_features(s.trace.windows, scores, best, s.trace.retrieved))
        ok.append(bool(s.labels[best]))
    cx, cy = np.vstack(feats), np.asarray(ok)
    answerable = np.asarray([bool(s.question.get("answerable")) for s in usable])
    weights = set_weights(usable)
    calibrator = fit_calibrator(cx, cy, answerable, spec, weights)
    conf = calibrator.proba(cx)
    if threshold_set is None:
        threshold = choose_threshold(conf, cy, answerable, max_wrong, z, weights)
    else:
        mine = np.asarray([s.dataset == threshold_set for s in usable])
        if not mine.any():
            raise ClinicQAError(f"No fitting question belongs to {threshold_set!r}, the set the threshold should be "
                                f"chosen on; the sets are {', '.join(sorted({s.dataset for s in usable}))}.")
        threshold = choose_threshold(conf[mine], cy[mine], answerable[mine], max_wrong, z)
    sets = sorted({s.dataset for s in usable})
    prov = {**provenance, "questions_fitted": len(usable), "datasets": sets,
            "weighting": "every dataset weighs the same",
            "calibration": f"P(covered) x P(right | covered), Platt-scaled, on {folds}-fold cross-fitted ranker scores",
            "threshold_rule": THRESHOLD_RULE.format(max_wrong=max_wrong, z=z)
            + (f"; chosen on the {threshold_set!r} questions only" if threshold_set else "")}
    return AnswerModel(ranker, calibrator, threshold, prov)


def fit_calibrator(x: np.ndarray, correct: np.ndarray, answerable: np.ndarray, spec: ModelSpec = SHIPPED_SPEC,
                   weights: np.ndarray | None = None) -> Calibrator:
    """The two halves of :class:`Calibrator`: P(covered) on every question, P(right | covered) on the
    answerable ones (``x``: :data:`CONFIDENCE_FEATURES` of each question's best window, from cross-fitted
    scores), then Platt scaling of their product."""
    w = np.ones(len(x)) if weights is None else weights
    covered = _fit_logistic(x, answerable, spec.answerable, CONFIDENCE_FEATURES, c=0.5, weights=w)
    right = _fit_logistic(x[answerable], correct[answerable], spec.correct, CONFIDENCE_FEATURES, c=0.5,
                          weights=w[answerable])
    product = Calibrator(covered, right)
    platt = _fit_logistic(product.log_odds(x)[:, None], correct, ("log_odds",), ("log_odds",), c=100.0, weights=w)
    # back from the standardised input of the one-variable fit to a scale and shift of the log-odds
    scale = float(platt.coef[0] / platt.scale[0])
    return Calibrator(covered, right, scale, float(platt.intercept - scale * platt.mean[0]))


THRESHOLD_RULE = ("the confidence threshold that maximises end-to-end accuracy on the fitting questions "
                  "among thresholds whose wrong-answer rate there (its Wilson upper bound, z={z}) is at most "
                  "{max_wrong}; every dataset weighs the same; ties go to the higher")


def wilson_upper(failures: float, n: float, z: float) -> float:
    """Upper end of the Wilson score interval of a rate (``failures`` of ``n``); the rate itself for z=0."""
    if n <= 0:
        return 0.0
    p = failures / n
    if z <= 0:
        return p
    centre = p + z * z / (2 * n)
    spread = z * float(np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)))
    return (centre + spread) / (1 + z * z / n)


def choose_threshold(conf: np.ndarray, correct: np.ndarray, answerable: np.ndarray,
                     max_wrong: float = 0.10, z: float = WRONG_RATE_Z, weights: np.ndarray | None = None) -> float:
    w = np.ones(len(conf)) if weights is None else weights
    best_t, best_acc = 0.95, -1.0
    for t in np.round(np.arange(0.05, 0.96, 0.01), 2):
        answered = conf >= t
        acc = float(np.average(np.where(answerable, answered & correct, ~answered), weights=w))
        # the bound on the (weighted) rate, with the number of answers actually given
        n = int(answered.sum())
        rate = float(w[answered & ~correct].sum() / max(w[answered].sum(), 1e-12)) if n else 0.0
        wrong = wilson_upper(rate * n, n, z)
        if wrong <= max_wrong and acc >= best_acc:
            best_t, best_acc = float(t), acc
    return best_t


@dataclass(frozen=True)
class Scored:
    """One question's outcome under a model: the best window's confidence and correctness."""

    dataset: str
    answerable: bool
    correct: bool
    confidence: float
    answered: bool


def apply_model(model: AnswerModel, samples: list[Sample]) -> list[Scored]:
    """Each sample as the engine would answer it with ``model`` (its best window and confidence)."""
    out = []
    for s in samples:
        answerable = bool(s.question.get("answerable"))
        if not len(s.labels):
            out.append(Scored(s.dataset, answerable, False, 0.0, False))
            continue
        scores = model.ranker.logit(s.trace.windows.features)
        best = int(np.argmax(scores))
        x = confidence_features(s.trace.windows, scores, best, s.trace.retrieved)
        conf = float(model.calibrator.proba(x)[0])
        out.append(Scored(s.dataset, answerable, bool(s.labels[best]), conf, conf >= model.threshold))
    return out


def quality(scored: list[Scored]) -> dict[str, float]:
    """answer_correct (of answerable questions), abstention AUROC, ECE, end-to-end accuracy, wrong-answer
    rate and answered share — the shared scorer's definitions."""
    o = np.asarray([s.correct for s in scored], dtype=bool)
    c = np.asarray([s.confidence for s in scored], dtype=np.float64)
    a = np.asarray([s.answerable for s in scored], dtype=bool)
    answered = np.asarray([s.answered for s in scored], dtype=bool)
    auroc = _auroc(c[a], c[~a])
    bins = np.minimum((c * 10).astype(int), 9)
    ece = float(sum(abs(c[bins == b].mean() - o[bins == b].mean()) * (bins == b).mean()
                    for b in range(10) if (bins == b).any()))
    return {"questions": float(len(o)), "answer_correct": round(float(o[a].mean()) if a.any() else 0.0, 3),
            "abstention_AUROC": round(auroc, 3), "confidence_ECE": round(ece, 3),
            # how well the confidence tells right answers from all others: what lets a threshold that holds
            # the wrong-answer rate down still answer many questions
            "correct_AUROC": round(_auroc(c[o], c[~o]), 3),
            "end_to_end": round(float(np.mean(np.where(a, answered & o, ~answered))), 3),
            "wrong_answer_rate": round(float((answered & ~o).sum() / max(1, answered.sum())), 3),
            "answered_share": round(float(answered.mean()), 3)}


def _auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(a random positive scores above a random negative), ties counting half; 0 without both."""
    if not len(pos) or not len(neg):
        return 0.0
    return float(np.mean((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])))


def leave_one_dataset_out(samples: list[Sample], spec: ModelSpec = SHIPPED_SPEC, max_wrong: float = 0.10,
                          z: float = WRONG_RATE_Z) -> dict[str, dict[str, float]]:
    """For each dataset, the quality of a model fitted on all the *other* datasets (never on itself)."""
    sets = sorted({s.dataset for s in samples})
    if len(sets) < 2:
        raise ClinicQAError("Leave-one-dataset-out needs at least two datasets (questions with a _set name).")
    out = {}
    for held in sets:
        model = fit_answer_model([s for s in samples if s.dataset != held], {}, spec, max_wrong=max_wrong, z=z)
        out[held] = quality(apply_model(model, [s for s in samples if s.dataset == held]))
    return out


def ranker_lodo(samples: list[Sample], names: tuple[str, ...]) -> dict[str, float]:
    """Leave-one-dataset-out for the ranker alone: per dataset, the share of its answerable questions whose
    best window (by a ranker over ``names`` fitted on the other datasets) is correct. No threshold plays a
    part, so it judges which sentence is chosen, not when to answer."""
    sets = sorted({s.dataset for s in samples})
    if len(sets) < 2:
        raise ClinicQAError("Leave-one-dataset-out needs at least two datasets (questions with a _set name).")
    out = {}
    for held in sets:
        ranker = fit_ranker([s for s in samples if s.dataset != held], names)
        answerable = [s for s in samples if s.dataset == held and s.question.get("answerable")]
        right = sum(bool(s.labels[int(np.argmax(ranker.logit(s.trace.windows.features)))])
                    for s in answerable if len(s.labels))
        out[held] = round(right / max(1, len(answerable)), 3)
    return out


def cross_validate(samples: list[Sample], folds: int = 5, spec: ModelSpec = SHIPPED_SPEC,
                   max_wrong: float = 0.10, z: float = WRONG_RATE_Z) -> dict[str, float]:
    """Out-of-fold quality on the fitting questions: each fold scored by a model fitted on the others."""
    usable = [s for s in samples if len(s.labels)]
    scored: list[Scored] = []
    for k in range(folds):
        train = [s for i, s in enumerate(usable) if i % folds != k]
        model = fit_answer_model(train, {}, spec, folds=min(folds, 4), max_wrong=max_wrong, z=z)
        scored += apply_model(model, [s for i, s in enumerate(usable) if i % folds == k])
    result = quality(scored)
    sets = sorted({s.dataset for s in scored})
    for name in sets if len(sets) > 1 else []:
        result.update({f"{name}:{k}": v for k, v in quality([s for s in scored if s.dataset == name]).items()})
    return result


def predict(engine: Engine, questions: list[dict[str, Any]],
            progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Predictions in the shared scorer's format (the best candidate is written even when abstaining)."""
    out = []
    for q in questions:
        t0 = time.perf_counter()
        ans = engine.ask(str(q["question"]))
        latency = (time.perf_counter() - t0) * 1000
        docs: list[str] = []
        for p in ans.retrieved:
            if p.doc_id not in docs:
                docs.append(p.doc_id)
        row: dict[str, Any] = {"id": q["id"], "abstained": ans.abstained, "confidence": round(ans.confidence, 4),
                               "retrieved_doc_ids": docs[:10], "latency_ms": round(latency, 2),
                               "reason": str(ans.reason)}
        if ans.best is not None:
            row["answer"] = {"doc_id": ans.best.doc_id, "start": ans.best.start, "end": ans.best.end,
                             "text": ans.best.text}
        out.append(row)
        if progress:
            progress(1)
    return out


def load_scorer(path: Path) -> Any:
    """Import the shared scorer (score.py) from its path; it is not part of this project."""
    if not path.is_file():
        raise ClinicQAError(f"Scorer {path} not found; pass --scorer PATH/TO/score.py")
    spec = importlib.util.spec_from_file_location("clinicqa_external_scorer", path)
    if spec is None or spec.loader is None:
        raise ClinicQAError(f"Cannot import scorer {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score(scorer_path: Path, questions: list[dict[str, Any]], pages: Iterable[Any],
          predictions: list[dict[str, Any]]) -> dict[str, Any]:
    """Metrics of the shared scorer, with the corpus given as the engine's pages (any corpus format)."""
    scorer = load_scorer(scorer_path)
    corpus = [{"doc_id": p.doc_id, "text": p.text} for p in pages]
    result: dict[str, Any] = scorer.score(questions, corpus, predictions)
    return result
