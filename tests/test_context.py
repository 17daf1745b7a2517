"""Page context and follow-ups (issue 13): the pure resolution rules of qa/context.py, then the engine's soft
procedure preference on the real clinic index."""

from __future__ import annotations

import json
from typing import Any

import pytest

from qa.context import (
    MAX_HISTORY,
    Context,
    Procedures,
    check_context,
    content_words,
    is_follow_up,
    resolve,
)
from qa.errors import InputError
from qa.settings import PROJECT_ROOT

PAGES = [
    ("iliopsoas-injection", "Iliopsoas Injection"),
    ("genicular-nerve-block", "Genicular Nerve Block"),
    ("radiofrequency-ablation", "Radiofrequency Ablation"),
    ("facet-joint-injection-medial-branch-block", "Facet Joint Injection and Medial Branch Block"),
    ("spinal-cord-stimulator-trial", "Spinal Cord Stimulator Trial"),
    ("trigger-point-injection", "Trigger Point Injection"),
    ("general", "Do's and Don'ts Before and After Your Procedure"),
]
ABBREVIATIONS = {"rfa": "radiofrequency ablation", "gnb": "genicular nerve block", "mbb": "medial branch block"}


@pytest.fixture(scope="module")
def procedures() -> Procedures:
    return Procedures.from_pages(PAGES, ABBREVIATIONS)


# --- procedure names ----------------------------------------------------------------------------------

def test_procedures_are_named_by_title_part_first_word_and_abbreviation(procedures: Procedures) -> None:
    assert procedures.named("and for the genicular block?") == ("genicular-nerve-block",)
    assert procedures.named("is a Genicular Nerve Block painful") == ("genicular-nerve-block",)
    assert procedures.named("what about rfa?") == ("radiofrequency-ablation",)
    assert procedures.named("is a medial branch block a test?") == ("facet-joint-injection-medial-branch-block",)
    assert procedures.named("iliopsoas injections and the stimulator") == ("iliopsoas-injection",
                                                                          "spinal-cord-stimulator-trial")


def test_ordinary_words_in_procedure_names_do_not_name_a_procedure(procedures: Procedures) -> None:
    for text in ("what triggers my pain?", "is the spinal fluid affected?", "will my joint hurt?",
                 "how long does the injection take?", "what happens after the procedure?"):
        assert procedures.named(text) == (), text


def test_the_general_page_is_not_a_procedure_one_can_prefer(procedures: Procedures) -> None:
    assert "general" not in procedures.known() and procedures.general == frozenset({"general"})


# --- validation ---------------------------------------------------------------------------------------

def test_an_unknown_procedure_or_a_malformed_history_is_refused_with_what_to_send(procedures: Procedures) -> None:
    check_context(Context("iliopsoas-injection", ("will my leg feel weak?",)), procedures, 500)
    with pytest.raises(InputError, match=r"Unknown procedure 'knee-replacement'.*genicular-nerve-block"):
        check_context(Context("knee-replacement"), procedures, 500)
    with pytest.raises(InputError, match=f"at most {MAX_HISTORY}"):
        check_context(Context(None, ("q?",) * (MAX_HISTORY + 1)), procedures, 500)
    with pytest.raises(InputError, match=r"history\[1\] is 31 characters long.*at most 30"):
        check_context(Context(None, ("short?", "x" * 31)), procedures, 30)
    with pytest.raises(InputError, match=r"history\[0\] is empty"):
        check_context(Context(None, ("  ",)), procedures, 500)


# --- follow-ups ---------------------------------------------------------------------------------------

def test_follow_ups_are_recognised_by_connectors_pointers_it_or_no_topic() -> None:
    for text in ("and after?", "what about the numbness?", "how long does that last?", "is it painful?",
                 "why?", "and for the genicular block?"):
        assert is_follow_up(text), text
    for text in ("will my leg feel weak?", "can i drive home after the injection?", "what should i wear?"):
        assert not is_follow_up(text), text


def test_content_words_leave_out_framing_and_procedure_names(procedures: Procedures) -> None:
    assert content_words("how long does the genicular nerve block take?", procedures) == ()
    assert content_words("will my leg feel weak after the iliopsoas injection?", procedures) == (
        "leg", "feel", "weak")


def test_no_context_resolves_to_the_question_itself(procedures: Procedures) -> None:
    r = resolve("how long does that last?", None, procedures)
    assert (r.text, r.preference, r.follow_up, r.carried) == ("how long does that last?", None, False, ())


def test_the_page_procedure_is_the_preference_when_the_question_names_none(procedures: Procedures) -> None:
    r = resolve("how long does it take?", Context("iliopsoas-injection"), procedures)
    assert (r.text, r.preference, r.source) == ("how long does it take?", "iliopsoas-injection", "page")


def test_a_named_procedure_overrides_the_page(procedures: Procedures) -> None:
    r = resolve("what should i wear for a genicular nerve block?", Context("iliopsoas-injection"), procedures)
    assert (r.preference, r.source) == ("genicular-nerve-block", "question")


def test_a_follow_up_carries_the_previous_topic_and_procedure(procedures: Procedures) -> None:
    r = resolve("how long does that last?", Context(None, ("will my leg feel weak after the iliopsoas injection?",)),
                procedures)
    assert r.follow_up and r.preference == "iliopsoas-injection" and r.source == "history"
    assert r.carried == ("leg", "feel", "weak", "after")
    assert r.text == "how long does that last? leg feel weak after"
    assert r.question == "how long does that last?"  # what is shown and logged stays the patient's


def test_a_follow_up_with_its_own_topic_keeps_it_and_only_the_procedure_carries(procedures: Procedures) -> None:
    r = resolve("and how long does the effect last?", Context("iliopsoas-injection", ("how long does it take?",)),
                procedures)
    assert r.follow_up and r.carried == () and r.preference == "iliopsoas-injection"


def test_a_new_phase_replaces_the_previous_one(procedures: Procedures) -> None:
    r = resolve("and after?", Context(None, ("can i eat before the radiofrequency ablation?",)), procedures)
    assert r.carried == ("eat",) and r.preference == "radiofrequency-ablation"


def test_a_follow_up_naming_another_procedure_switches_it_and_keeps_the_topic(procedures: Procedures) -> None:
    r = resolve("and for the genicular block?", Context("iliopsoas-injection", ("what should i wear?",)),
                procedures)
    assert (r.preference, r.source, r.carried) == ("genicular-nerve-block", "question", ("wear",))


def test_a_switch_puts_the_new_procedure_in_place_of_the_old_one_in_the_previous_question(
        procedures: Procedures) -> None:
    r = resolve("and for rfa?", Context(None, ("what should i wear for a genicular nerve block?",)), procedures)
    assert (r.text, r.preference, r.question) == ("what should i wear for a rfa?", "radiofrequency-ablation",
                                                  "and for rfa?")
    same = resolve("and for the genicular block?", Context(None, ("what should i wear for a gnb?",)), procedures)
    assert same.preference == "genicular-nerve-block" and same.text == "and for the genicular block? wear"


def test_the_procedure_of_an_earlier_turn_carries_through_a_chain_of_follow_ups(procedures: Procedures) -> None:
    history = ("what are the risks of rfa?", "and after?")
    r = resolve("how long does that last?", Context("iliopsoas-injection", history), procedures)
    assert r.preference == "radiofrequency-ablation" and r.source == "history"


def test_a_question_standing_on_its_own_takes_nothing_from_the_history(procedures: Procedures) -> None:
    r = resolve("can i drive home after the injection?", Context(None, ("will my leg feel weak?",)), procedures)
    assert not r.follow_up and r.carried == () and r.text == "can i drive home after the injection?"


# --- the engine (real model and index) ----------------------------------------------------------------

def test_no_context_gives_exactly_the_answers_of_before(engine: Any) -> None:
    """A sample of the clinic questions through ``ask(context=None)``, against the trace the engine used
    before context existed (``trace`` with the hard filters, unchanged)."""
    path = PROJECT_ROOT / "eval" / "clinic" / "questions.jsonl"
    sample = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()][::6]
    for q in sample:
        answer = engine.ask(q["question"], context=None)
        tr = engine.trace(q["question"])
        same = engine.ask(q["question"])
        assert (answer.abstained, answer.reason, answer.confidence) == (same.abstained, same.reason, same.confidence)
        assert (answer.best.text if answer.best else None) == (same.best.text if same.best else None)
        if answer.best is not None and answer.reason.value != "emergency":
            assert answer.confidence == pytest.approx(engine.best_confidence(tr))


def test_page_context_answers_from_the_page_and_a_named_procedure_overrides_it(engine: Any) -> None:
    on_page = engine.ask("will my leg feel weak?", context=Context("iliopsoas-injection"))
    assert not on_page.abstained and on_page.best.doc_id == "iliopsoas-injection"
    question = "will my knee be bruised after a genicular nerve block?"
    other = engine.ask(question, context=Context("iliopsoas-injection"))
    assert not other.abstained and other.best.doc_id == "genicular-nerve-block"
    assert other.confidence == pytest.approx(engine.ask(question, procedure="genicular-nerve-block").confidence)
    hard = engine.ask(question, procedure="iliopsoas-injection")
    assert hard.abstained and hard.best.doc_id == "iliopsoas-injection"  # the hard filter keeps its meaning


def test_a_preferred_answer_has_the_confidence_of_the_hard_filter_not_more(engine: Any) -> None:
    """The preference searches the procedure's pages plus the general page: a quote it gives has the
    calibrated confidence it has among those pages, never a boost for being preferred."""
    soft = engine.ask("will my leg feel weak?", context=Context("iliopsoas-injection"))
    tr = engine.trace("will my leg feel weak?", allowed=engine.preferred_mask("iliopsoas-injection"))
    assert soft.confidence == pytest.approx(engine.best_confidence(tr))


def test_the_general_page_stays_reachable_under_a_preference(engine: Any) -> None:
    answer = engine.ask("can i soak in a bath or swimming pool?", context=Context("genicular-nerve-block"))
    assert answer.best is not None and answer.best.doc_id == "faq-dos-and-donts"


def test_a_follow_up_is_answered_from_the_previous_turn(engine: Any) -> None:
    alone = engine.ask("how long does that last?")
    assert alone.abstained
    answer = engine.ask("how long does that last?",
                        context=Context(None, ("will my leg feel weak after the iliopsoas injection?",)))
    assert not answer.abstained and answer.question == "how long does that last?"
    assert answer.best.text == "Occasionally, you leg may feel heavy or weak for a few hours."


def test_context_is_validated_by_the_engine(engine: Any) -> None:
    with pytest.raises(InputError, match="Unknown procedure"):
        engine.ask("is it painful?", context=Context("hip-replacement"))
