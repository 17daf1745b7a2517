"""Evaluation and fitting: the correctness rule, the split, the threshold rule, the listwise ranker."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa.errors import ClinicQAError
from qa.evaluation import _fit_listwise, choose_threshold, is_correct, read_questions, split_of, wilson_upper

Q = {"id": "q1", "answerable": True, "doc_id": "d", "gold_doc_ids": ["d"], "answer_spans": [[100, 200]]}


def test_an_answer_is_correct_when_half_of_it_lies_in_a_gold_span_of_a_gold_doc() -> None:
    text = "x" * 1000
    assert is_correct(Q, "d", 120, 180, text)
    assert is_correct(Q, "d", 50, 150, text)  # exactly half inside
    assert not is_correct(Q, "d", 40, 150, text)
    assert not is_correct(Q, "other", 120, 180, text)
    assert not is_correct(Q, "d", 100, 701, text)  # longer than 600 characters
    assert not is_correct({**Q, "answerable": False}, "d", 120, 180, text)


def test_split_is_deterministic_and_roughly_half() -> None:
    ids = [f"q-{i}" for i in range(1000)]
    tune = [i for i in ids if split_of(i) == "tune"]
    assert [split_of(i) for i in ids] == [split_of(i) for i in ids]
    assert 400 < len(tune) < 600


def test_read_questions_reports_the_bad_line(tmp_path: Path) -> None:
    f = tmp_path / "q.jsonl"
    f.write_text(json.dumps({"id": "a", "question": "x?"}) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(ClinicQAError, match=r"q.jsonl:2"):
        read_questions(f)
    with pytest.raises(ClinicQAError, match="split"):
        read_questions(f, "train")
    f.write_text(json.dumps({"question": "x?"}) + "\n", encoding="utf-8")
    with pytest.raises(ClinicQAError, match=r"q.jsonl:1 has no 'id'"):
        read_questions(f)
    with pytest.raises(ClinicQAError, match="No questions file"):
        read_questions(tmp_path / "missing.jsonl")


def test_threshold_maximises_accuracy_within_the_wrong_answer_budget() -> None:
    conf = np.array([0.9, 0.8, 0.7, 0.6, 0.3, 0.2])
    correct = np.array([True, True, False, True, False, False])
    answerable = np.array([True, True, True, True, True, False])
    t = choose_threshold(conf, correct, answerable, max_wrong=0.15, z=0.0)
    answered = conf >= t
    assert (answered & ~correct).sum() / answered.sum() <= 0.15
    assert t == pytest.approx(0.80)  # answering 0.9 and 0.8 only; ties go to the higher threshold


def test_wilson_upper_bound_matches_the_textbook_interval() -> None:
    assert wilson_upper(0, 10, 1.96) == pytest.approx(0.2775, abs=1e-4)
    assert wilson_upper(15, 100, 1.645) == pytest.approx(0.2179, abs=1e-3)
    assert wilson_upper(15, 100, 0.0) == pytest.approx(0.15)
    assert wilson_upper(0, 0, 1.645) == 0.0


def test_threshold_with_the_wrong_rate_bound_answers_only_what_the_evidence_supports() -> None:
    rng = np.random.default_rng(1)
    conf = rng.uniform(size=400)
    correct = rng.uniform(size=400) < conf  # calibrated: a confidence of 0.9 is right 9 times in 10
    answerable = np.ones(400, dtype=bool)
    plain = choose_threshold(conf, correct, answerable, max_wrong=0.15, z=0.0)
    bounded = choose_threshold(conf, correct, answerable, max_wrong=0.15, z=1.645)
    assert bounded > plain
    answered = conf >= bounded
    n, wrong = int(answered.sum()), int((answered & ~correct).sum())
    assert n > 0 and wilson_upper(wrong, n, 1.645) <= 0.15
    # two answered questions prove nothing: with the bound, the toy set above answers nothing
    small = choose_threshold(np.array([0.9, 0.8, 0.7, 0.6, 0.3, 0.2]),
                             np.array([True, True, False, True, False, False]),
                             np.array([True, True, True, True, True, False]), max_wrong=0.15)
    assert small == pytest.approx(0.95)


def test_listwise_ranker_learns_which_feature_marks_the_right_window() -> None:
    rng = np.random.default_rng(0)
    xs, ys, sizes = [], [], []
    for _ in range(60):
        x = rng.normal(size=(8, 2))
        right = int(np.argmax(x[:, 0] + 0.1 * rng.normal(size=8)))
        y = np.zeros(8, dtype=bool)
        y[right] = True
        xs.append(x)
        ys.append(y)
        sizes.append(8)
    model = _fit_listwise(np.vstack(xs), np.concatenate(ys), sizes, ("signal", "noise"))
    assert model.coef[0] > 3 * abs(model.coef[1])
