"""The confidence: P(the pages cover the question) × P(the quote is right | they do), recalibrated; its features."""

from __future__ import annotations

import numpy as np
import pytest

from qa.errors import ClinicQAError
from qa.evaluation import ModelSpec, fit_calibrator
from qa.extraction import (
    CONFIDENCE_FEATURES,
    WINDOW_FEATURES,
    Calibrator,
    Window,
    Windows,
    confidence_features,
)
from qa.retrieval import Retrieved

SPEC = ModelSpec(ranker=("dense_win",), answerable=("lex_page", "dense_max"), correct=("p_block", "score"))


def _windows(blocks: list[tuple[int, int]]) -> Windows:
    """One window per (doc, block), each its own non-overlapping span."""
    items = [Window(0, 0, doc, 10 * i, 10 * i + 5, 1, block) for i, (doc, block) in enumerate(blocks)]
    return Windows(items, np.zeros((len(items), len(WINDOW_FEATURES))))


def _retrieved() -> Retrieved:
    z = np.zeros(1)
    return Retrieved(chunks=np.zeros(1, dtype=np.int64), fused=z, bm25=z, dense=z)


def test_p_block_is_the_rankers_probability_mass_on_the_best_windows_paragraph() -> None:
    windows = _windows([(0, 1), (0, 1), (0, 2), (1, 1)])  # doc 1's block 1 is another paragraph
    scores = np.log(np.array([0.4, 0.2, 0.3, 0.1]))
    x = confidence_features(windows, scores, 0, _retrieved())
    assert x[CONFIDENCE_FEATURES.index("p_block")] == pytest.approx(0.6)
    assert x[CONFIDENCE_FEATURES.index("margin")] == pytest.approx(np.log(0.4) - np.log(0.3))
    assert x[CONFIDENCE_FEATURES.index("p_best")] == pytest.approx(0.4)


def _toy(seed: int = 0, n: int = 600) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(CONFIDENCE_FEATURES)))
    answerable = x[:, CONFIDENCE_FEATURES.index("lex_page")] + 0.3 * rng.normal(size=n) > 0
    right = x[:, CONFIDENCE_FEATURES.index("p_block")] + 0.3 * rng.normal(size=n) > -0.5
    return x, answerable & right, answerable


def test_confidence_is_the_product_of_coverage_and_correctness() -> None:
    x, correct, answerable = _toy()
    cal = fit_calibrator(x, correct, answerable, SPEC)
    assert cal.answerable.features == SPEC.answerable and cal.correct.features == SPEC.correct
    product = np.clip(cal.answerable.proba(x) * cal.correct.proba(x), 1e-6, 1 - 1e-6)
    np.testing.assert_allclose(cal.log_odds(x), np.log(product / (1 - product)), rtol=1e-6)
    np.testing.assert_allclose(cal.proba(x), 1 / (1 + np.exp(-(cal.scale * cal.log_odds(x) + cal.shift))))
    assert cal.scale > 0  # the recalibration keeps the order of the product
    np.testing.assert_allclose(cal.covered(x), cal.answerable.proba(x))
    # uncovered questions get low confidence whatever the quote looks like; the two halves learned their own cue
    conf = cal.proba(x)
    assert conf[~answerable].mean() < 0.2 < 0.7 < conf[correct].mean()
    x_test, correct_test, _ = _toy(seed=1)
    p = cal.proba(x_test)
    for lo in (0.0, 0.5):  # calibrated: among confident answers, about as many right as claimed
        m = (p >= lo) & (p < lo + 0.5)
        assert abs(p[m].mean() - correct_test[m].mean()) < 0.08


def test_the_calibrator_round_trips_and_refuses_an_older_single_model_file() -> None:
    x, correct, answerable = _toy()
    cal = fit_calibrator(x, correct, answerable, SPEC)
    again = Calibrator.from_json(cal.to_json())
    np.testing.assert_allclose(again.proba(x), cal.proba(x))
    with pytest.raises(ValueError, match="older clinicqa"):
        Calibrator.from_json(cal.correct.to_json())


def test_fitting_without_unanswerable_questions_says_what_the_questions_file_needs() -> None:
    x, correct, _ = _toy()
    with pytest.raises(ClinicQAError, match="answerable and unanswerable"):
        fit_calibrator(x, correct, np.ones(len(x), dtype=bool), SPEC)
