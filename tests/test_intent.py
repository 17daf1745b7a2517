"""The learned association between what a question asks and the words of the paragraph that answers it."""

from __future__ import annotations

import numpy as np
import pytest

from qa.intent import IntentAssociation, IntentExample, intent_terms
from qa.text import terms


def _sentence(text: str) -> frozenset[str]:
    return frozenset(terms(text))


def _example(question_intent: str, gold: list[str], other: list[str]) -> IntentExample:
    return IntentExample(frozenset(terms(question_intent)),
                         tuple([(_sentence(s), True) for s in gold] + [(_sentence(s), False) for s in other]))


EXAMPLES = [
    _example("outlook", ["The prognosis is good for most people.", "Life expectancy is normal."],
             ["Treatment includes rest and medicine.", "Symptoms include pain."]),
    _example("outlook", ["The prognosis depends on the cause."],
             ["Surgery may help.", "Symptoms include numbness and pain."]),
    _example("outlook", ["Most people recover; the prognosis is excellent."],
             ["Physical therapy and medicine are the usual treatment."]),
    _example("treatments", ["Treatment includes physical therapy and medicine.", "Surgery may help."],
             ["The prognosis is good.", "Symptoms include pain."]),
    _example("treatments", ["Medicine and rest are the usual treatment."],
             ["The prognosis depends on the cause."]),
]


def test_intent_terms_drop_the_topic_of_the_page() -> None:
    assert intent_terms("What is the outlook for Carpal Tunnel Syndrome?", "Carpal Tunnel Syndrome") == \
        frozenset(terms("outlook"))
    assert intent_terms("Will my leg feel weak?", "") == frozenset(terms("leg feel weak"))


def test_outlook_questions_learn_that_prognosis_paragraphs_answer_them() -> None:
    assoc = IntentAssociation.fit(EXAMPLES)
    outlook = frozenset(terms("outlook"))
    prognosis = _sentence("The prognosis is usually good.")
    treatment = _sentence("Treatment includes medicine and physical therapy.")
    assert assoc.score(outlook, prognosis) > 0 > assoc.score(outlook, treatment)
    treat = frozenset(terms("treatments"))
    assert assoc.score(treat, treatment) > assoc.score(treat, prognosis)


def test_unknown_intent_gives_zero_columns() -> None:
    assoc = IntentAssociation.fit(EXAMPLES)
    cols = assoc.columns(frozenset(terms("cost")), [_sentence("The prognosis is good.")],
                         [_sentence("The prognosis is good.")])
    assert cols.shape == (1, 2)
    assert not cols.any()


def test_rare_intents_are_not_learned_from_one_question() -> None:
    assoc = IntentAssociation.fit(EXAMPLES[:1] + EXAMPLES[3:])
    assert "outlook" not in assoc.table


def test_association_round_trips_through_json() -> None:
    assoc = IntentAssociation.fit(EXAMPLES)
    again = IntentAssociation.from_json(assoc.to_json())
    assert again.table == assoc.table
    with pytest.raises(ValueError):
        IntentAssociation.from_json({"table": ["not", "a", "mapping"]})
    with pytest.raises(ValueError):
        IntentAssociation.from_json({"table": {"outlook": ["not", "weights"]}})
    with pytest.raises(ValueError):
        IntentAssociation.from_json({"table": {"outlook": {"prognosi": None}}})


def test_the_answer_model_file_keeps_the_association(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from qa.extraction import DEFAULT_MODEL_PATH, AnswerModel

    shipped = AnswerModel.load(DEFAULT_MODEL_PATH)
    assert shipped.assoc is not None and len(shipped.assoc) > 0
    shipped.save(tmp_path / "m.json")
    again = AnswerModel.load(tmp_path / "m.json")
    assert again.assoc is not None and again.assoc.table == shipped.assoc.table
    assert again.threshold == shipped.threshold
    np.testing.assert_allclose(again.ranker.coef, shipped.ranker.coef)


def test_cross_fitted_features_never_use_the_questions_own_label() -> None:
    from qa.engine import Trace
    from qa.evaluation import Sample, cross_fit_assoc
    from qa.extraction import ASSOC_COLUMNS, WINDOW_FEATURES, Window, Windows

    samples = []
    for i, ex in enumerate(EXAMPLES * 2):  # 10 questions, 5 folds: each fold holds 2
        words = [s for s, _ in ex.sentences]
        windows = Windows([Window(0, 0, 0, j, j + 1, 1) for j in range(len(words))],
                          np.zeros((len(words), len(WINDOW_FEATURES))), tuple(words), tuple(words))
        trace = Trace(f"q{i}", [], np.zeros(3), None, windows, np.zeros(len(words)), ex.intent)  # type: ignore[arg-type]
        samples.append(Sample({"id": str(i), "answerable": True}, trace,
                              np.asarray([g for _, g in ex.sentences]), ex))
    full, crossed = cross_fit_assoc(samples, folds=5)
    assert len(full) == 2
    for k, s in enumerate(crossed):
        held_out = [e for i, e in enumerate(EXAMPLES * 2) if i % 5 != k % 5]
        expected = IntentAssociation.fit(held_out).columns(s.trace.intent, s.trace.windows.terms,
                                                           s.trace.windows.block_terms)
        np.testing.assert_allclose(s.trace.windows.features[:, ASSOC_COLUMNS], expected)
    assert any(s.trace.windows.features[:, ASSOC_COLUMNS].any() for s in crossed)


def test_a_question_that_is_only_its_topic_asks_through_its_function_words() -> None:
    assert intent_terms("What is (are) Trigeminal Neuralgia?", "Trigeminal Neuralgia") == \
        frozenset({"§what", "§is", "§are"})
    assert intent_terms("What to do for Gout?", "Gout") == frozenset({"§what", "§to", "§do", "§for"})
    # a question that shares no word with the page keeps its own words, and never gets pseudo-terms
    assert intent_terms("Is it painful?", "Gout") == frozenset(terms("Is it painful?"))


def test_definition_questions_learn_that_the_first_paragraph_answers_them() -> None:
    from qa.intent import position_term

    assert [position_term(r) for r in (0, 1, 2, 7)] == ["§par0", "§par1", "§par2", "§par2"]
    about = frozenset({"§what", "§is"})
    def page(first: str, later: str) -> IntentExample:
        return IntentExample(about, ((_sentence(first) | {"§par0"}, True), (_sentence(later) | {"§par2"}, False)))
    assoc = IntentAssociation.fit([page("Gout is a form of arthritis.", "Treatment includes rest."),
                                   page("Sciatica is pain along a nerve.", "Most people recover."),
                                   page("A cyst is a sac of fluid.", "Surgery may help.")])
    assert assoc.score(about, frozenset({"§par0"})) > 0 > assoc.score(about, frozenset({"§par2"}))
