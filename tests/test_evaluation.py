"""Evaluation and fitting: the correctness rule, the split, the threshold rule, the listwise ranker."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa.errors import ClinicQAError
from qa.evaluation import (
    SHIPPED_SPEC,
    Sample,
    _fit_listwise,
    choose_threshold,
    dataset_name,
    fit_answer_model,
    is_correct,
    leave_one_dataset_out,
    read_questions,
    set_weights,
    split_of,
    wilson_upper,
)
from qa.extraction import WINDOW_FEATURES, AnswerModel, LinearModel, Window, Windows
from qa.retrieval import Retrieved

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


def _table(named: dict[str, np.ndarray], rows: int) -> np.ndarray:
    """A window feature matrix with the given named columns filled (the rest zero)."""
    x = np.zeros((rows, len(WINDOW_FEATURES)))
    for name, values in named.items():
        x[:, WINDOW_FEATURES.index(name)] = values
    return x


def test_listwise_ranker_learns_which_feature_marks_the_right_window() -> None:
    rng = np.random.default_rng(0)
    xs, ys, sizes = [], [], []
    for _ in range(60):
        signal, noise = rng.normal(size=8), rng.normal(size=8)
        right = int(np.argmax(signal + 0.1 * rng.normal(size=8)))
        y = np.zeros(8, dtype=bool)
        y[right] = True
        xs.append(_table({"dense_win": signal, "lex_win": noise}, 8))
        ys.append(y)
        sizes.append(8)
    model = _fit_listwise(np.vstack(xs), np.concatenate(ys), sizes, ("lex_win", "dense_win"))
    assert model.features == ("lex_win", "dense_win")
    assert model.coef[1] > 3 * abs(model.coef[0])


def test_a_model_reads_its_features_by_name_whatever_their_place_in_the_table() -> None:
    x = _table({"dense_win": np.array([0.1, 0.9]), "lex_win": np.array([0.5, 0.2])}, 2)
    model = LinearModel(("lex_win", "dense_win"), np.zeros(2), np.ones(2), np.array([1.0, 2.0]), 0.0,
                        WINDOW_FEATURES)
    np.testing.assert_allclose(model.logit(x), [0.5 + 0.2, 0.2 + 1.8])
    # the same model written in the other order scores the same
    swapped = LinearModel.from_json({**model.to_json(), "features": ["dense_win", "lex_win"],
                                     "coef": [2.0, 1.0]}, WINDOW_FEATURES)
    np.testing.assert_allclose(swapped.logit(x), model.logit(x))


def test_a_model_file_naming_a_feature_this_version_lacks_is_refused() -> None:
    d = {"features": ["dense_win", "no_such_signal"], "mean": [0, 0], "scale": [1, 1], "coef": [1, 1],
         "intercept": 0.0}
    with pytest.raises(ValueError, match="no_such_signal"):
        LinearModel.from_json(d, WINDOW_FEATURES)
    with pytest.raises(ValueError, match="2 feature names but 1 coefficients"):
        LinearModel.from_json({**d, "features": ["dense_win", "lex_win"], "coef": [1]}, WINDOW_FEATURES)


def test_the_shipped_model_file_loads_and_names_the_shipped_features() -> None:
    from qa.extraction import DEFAULT_MODEL_PATH

    model = AnswerModel.load(DEFAULT_MODEL_PATH)
    assert model.ranker.features == SHIPPED_SPEC.ranker
    assert model.calibrator.answerable.features == SHIPPED_SPEC.answerable
    assert model.calibrator.correct.features == SHIPPED_SPEC.correct
    assert 0.0 < model.threshold < 1.0


def test_dataset_names_come_from_the_file_or_its_folder() -> None:
    assert dataset_name(Path("shared/eval/transfer/covid-faq/questions.jsonl")) == "covid-faq"
    assert dataset_name(Path("eval/clinic/questions.jsonl")) == "clinic"
    assert dataset_name(Path("x/my-patients.jsonl")) == "my-patients"


# --- leave-one-dataset-out on a tiny fixture -----------------------------------------------------


def _sample(dataset: str, i: int, rng: np.random.Generator) -> Sample:
    """A question with 6 windows: answerable ones have one right window, marked by dense_match (noisily);
    unanswerable ones have low similarities everywhere."""
    answerable = i % 4 != 0
    sig = rng.normal(size=6) * 0.1 + 0.3
    labels = np.zeros(6, dtype=bool)
    if answerable:
        right = int(rng.integers(6))
        sig[right] += 0.5
        labels[right] = rng.uniform() < 0.9
    x = _table({"dense_match": sig, "dense_max": sig + 0.05 * rng.normal(size=6),
                "lex_win": rng.uniform(size=6), "fused_rel": rng.uniform(size=6)}, 6)
    items = [Window(0, 0, 0, 10 * j, 10 * j + 5, 1, j) for j in range(6)]
    trace = type("T", (), {})()
    trace.windows = Windows(items, x)
    z = np.zeros(1)
    trace.retrieved = Retrieved(chunks=np.zeros(1, dtype=np.int64), fused=z, bm25=z + 3.0, dense=z)
    return Sample({"id": f"{dataset}-{i}", "answerable": answerable, "_set": dataset}, trace, labels)  # type: ignore[arg-type]


def test_leave_one_dataset_out_never_fits_on_the_set_it_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    import qa.evaluation as ev

    rng = np.random.default_rng(3)
    samples = [_sample(name, i, rng) for name in ("a", "b", "c") for i in range(80)]
    fitted_on: list[set[str]] = []
    real_fit = ev.fit_answer_model

    def spy(fit_samples, *args, **kwargs):  # type: ignore[no-untyped-def]
        fitted_on.append({s.dataset for s in fit_samples})
        return real_fit(fit_samples, *args, **kwargs)

    monkeypatch.setattr(ev, "fit_answer_model", spy)
    result = leave_one_dataset_out(samples)
    assert sorted(result) == ["a", "b", "c"]
    assert fitted_on == [{"b", "c"}, {"a", "c"}, {"a", "b"}]
    for name, q in result.items():
        assert q["questions"] == 80, name
        assert q["answer_correct"] > 0.6 and q["abstention_AUROC"] > 0.8, (name, q)


def test_ranker_lodo_scores_each_set_with_a_ranker_fitted_on_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    import qa.evaluation as ev

    rng = np.random.default_rng(4)
    samples = [_sample(name, i, rng) for name in ("a", "b", "c") for i in range(60)]
    fitted_on: list[set[str]] = []
    real_fit = ev.fit_ranker

    def spy(fit_samples, names):  # type: ignore[no-untyped-def]
        fitted_on.append({s.dataset for s in fit_samples})
        return real_fit(fit_samples, names)

    monkeypatch.setattr(ev, "fit_ranker", spy)
    signal = ev.ranker_lodo(samples, ("dense_match",))
    noise = ev.ranker_lodo(samples, ("lex_win",))
    assert fitted_on == [{"b", "c"}, {"a", "c"}, {"a", "b"}] * 2
    assert all(signal[k] > 0.6 > noise[k] for k in ("a", "b", "c")), (signal, noise)


def test_leave_one_dataset_out_needs_two_sets() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ClinicQAError, match="at least two datasets"):
        leave_one_dataset_out([_sample("a", i, rng) for i in range(20)])
    from qa.evaluation import ranker_lodo

    with pytest.raises(ClinicQAError, match="at least two datasets"):
        ranker_lodo([_sample("a", i, rng) for i in range(20)], ("dense_match",))


def test_every_dataset_weighs_the_same_in_a_fit() -> None:
    rng = np.random.default_rng(0)
    samples = [_sample("big", i, rng) for i in range(120)] + [_sample("small", i, rng) for i in range(40)]
    w = set_weights(samples)
    assert w[:120].sum() == pytest.approx(w[120:].sum())
    assert w.mean() == pytest.approx(1.0)
    model = fit_answer_model(samples, {"note": "toy"})
    assert model.provenance["datasets"] == ["big", "small"] and model.provenance["note"] == "toy"


def test_the_threshold_can_be_chosen_on_one_named_sets_questions() -> None:
    rng = np.random.default_rng(2)
    samples = [_sample("ours", i, rng) for i in range(120)] + [_sample("public", i, rng) for i in range(120)]
    model = fit_answer_model(samples, {}, threshold_set="ours")
    assert "chosen on the 'ours' questions only" in model.provenance["threshold_rule"]
    with pytest.raises(ClinicQAError, match="No fitting question belongs to 'theirs'"):
        fit_answer_model(samples, {}, threshold_set="theirs")


@pytest.mark.slow
def test_cli_fit_writes_a_model_whose_threshold_is_chosen_on_the_named_set(clinic_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from qa.cli import app
    from qa.extraction import AnswerModel

    root = Path(__file__).resolve().parent.parent
    questions = root / "eval" / "clinic" / "questions.jsonl"
    common = ["fit", "--questions", str(questions), "--corpus", str(clinic_settings.corpus_dir),
              "--index", str(clinic_settings.index_dir), "--split", "tune"]
    out = tmp_path / "model.json"
    result = CliRunner().invoke(app, [*common, "--output", str(out), "--threshold-on", "clinic"])
    assert result.exit_code == 0, result.output
    model = AnswerModel.load(out)
    assert "chosen on the 'clinic' questions only" in model.provenance["threshold_rule"]
    assert model.ranker.features == SHIPPED_SPEC.ranker
    wrong = CliRunner().invoke(app, [*common, "--output", str(tmp_path / "m2.json"), "--threshold-on", "selqa"])
    assert wrong.exit_code == 2 and "No fitting question belongs to 'selqa'" in wrong.output
    assert not (tmp_path / "m2.json").exists()
