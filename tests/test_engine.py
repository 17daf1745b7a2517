"""End to end with the real bundled model on the clinic corpus."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from qa.domain import Reason
from qa.errors import InputError
from qa.serialize import answer_to_dict

LEG = "Occasionally, you leg may feel heavy or weak for a few hours."


def test_leg_weakness_question_quotes_the_clinic_sentence_and_cites_it(engine) -> None:  # type: ignore[no-untyped-def]
    answer = engine.ask("will my leg feel weak?")
    assert not answer.abstained, answer
    assert answer.reason is Reason.ANSWERED
    assert LEG in answer.best.text
    cite = answer.citations[0]
    assert cite.doc_id == "iliopsoas-injection"
    assert cite.title == "Iliopsoas Injection"
    assert cite.section == "What can I expect after the procedure?"
    page = next(p for p in engine.data.pages if p.doc_id == cite.doc_id)
    assert page.text[answer.best.start : answer.best.end] == answer.best.text
    passage = answer.best.passage
    assert passage.text[answer.best.quote_start : answer.best.quote_end] == answer.best.text
    assert 0.5 < answer.confidence <= 1.0


@pytest.mark.parametrize("question", ["how much does it cost?", "What is the capital of France?",
                                      "Do you treat dental cavities in children?"])
def test_questions_the_pages_do_not_answer_are_abstained_with_the_contact(engine, question) -> None:  # type: ignore[no-untyped-def]
    answer = engine.ask(question)
    assert answer.abstained
    assert answer.reason in (Reason.LOW_CONFIDENCE, Reason.NO_RELEVANT_PASSAGE)
    assert engine.settings.clinic_phone in answer.message
    assert answer.best is None or answer.confidence < engine.threshold


def test_empty_and_overlong_questions_are_refused_with_a_clear_message(engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="empty"):
        engine.ask("   ")
    with pytest.raises(InputError, match="limit is"):
        engine.ask("why " * 300)


def test_procedure_filter_restricts_the_pages_and_unknown_values_are_explained(engine) -> None:  # type: ignore[no-untyped-def]
    hits = engine.search("what happens during the procedure", procedure="genicular-nerve-block", k=3)
    assert hits and all(h.passage.procedure == "genicular-nerve-block" for h in hits)
    with pytest.raises(InputError, match="known values"):
        engine.search("anything", procedure="no-such-procedure")


def test_search_highlights_a_sentence_inside_each_passage(engine) -> None:  # type: ignore[no-untyped-def]
    hits = engine.search("leg heavy or weak", k=3)
    assert hits[0].passage.doc_id == "iliopsoas-injection"
    for h in hits:
        assert h.passage.chunk.start <= h.highlight.start < h.highlight.end <= h.passage.chunk.end


def test_answer_json_has_the_documented_shape(engine) -> None:  # type: ignore[no-untyped-def]
    d = answer_to_dict(engine.ask("will my leg feel weak?"))
    assert {"question", "abstained", "reason", "confidence", "answer", "passage", "citations",
            "alternatives"} <= set(d)
    assert {"text", "doc_id", "start", "end"} <= set(d["answer"])
    assert {"title", "section", "url", "doc_id", "start", "end"} <= set(d["citations"][0])
    assert len(d["alternatives"]) <= 3
    json.dumps(d)


def test_alternatives_do_not_repeat_or_overlap_the_answer(engine) -> None:  # type: ignore[no-untyped-def]
    answer = engine.ask("what should I do after the procedure?")
    spans = [(c.doc_id, c.start, c.end) for c in (answer.best, *answer.alternatives)]
    for i, (d1, s1, e1) in enumerate(spans):
        for d2, s2, e2 in spans[i + 1 :]:
            assert d1 != d2 or e1 <= s2 or e2 <= s1
    texts = [c.text for c in (answer.best, *answer.alternatives)]
    assert len(set(texts)) == len(texts)


def test_cli_ask_json_and_text(clinic_settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from qa.cli import app

    monkeypatch.setenv("CLINICQA_CORPUS_DIR", str(clinic_settings.corpus_dir))
    runner = CliRunner()
    res = runner.invoke(app, ["ask", "--index", str(clinic_settings.index_dir), "--json", "will my leg feel weak?"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["answer"]["doc_id"] == "iliopsoas-injection"
    res = runner.invoke(app, ["ask", "--index", str(clinic_settings.index_dir), "will my leg feel weak?"])
    assert LEG in res.stdout and "Iliopsoas Injection › What can I expect after the procedure?" in res.stdout


def test_cli_reports_a_missing_index_without_a_traceback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from qa.cli import app

    res = CliRunner().invoke(app, ["ask", "--index", str(tmp_path / "none"), "hello?"])
    assert res.exit_code == 2
    assert "build-index" in res.output
    assert "Traceback" not in res.output


def test_an_emergency_is_escalated_before_retrieval_and_never_answered(engine) -> None:  # type: ignore[no-untyped-def]
    answer = engine.ask("my leg has been getting weaker since yesterday's injection")
    assert answer.abstained and answer.reason is Reason.EMERGENCY
    assert answer.best is None and not answer.citations and not answer.retrieved
    assert answer.escalation is not None and answer.escalation.rule
    assert answer.escalation.phones[0] == "108"
    assert "108" in answer.message
    d = answer_to_dict(answer)
    assert d["reason"] == "emergency" and d["escalation"]["phones"][:2] == ["108", "112"]


def test_is_it_normal_questions_are_answered_not_escalated(engine) -> None:  # type: ignore[no-untyped-def]
    answer = engine.ask("is it normal for my leg to feel heavy after the injection?")
    assert answer.reason is not Reason.EMERGENCY


def test_a_personal_medication_decision_is_referred_to_the_clinic(engine) -> None:  # type: ignore[no-untyped-def]
    answer = engine.ask("should I stop my warfarin?")
    assert answer.reason is Reason.NEEDS_CLINICIAN
    assert engine.settings.clinic_phone in answer.message
    if not answer.abstained:  # the page's general statement, quoted verbatim, then the referral
        page = next(p for p in engine.data.pages if p.doc_id == answer.best.doc_id)
        assert page.text[answer.best.start : answer.best.end] == answer.best.text


def test_a_page_whose_title_adds_a_word_the_question_lacks_is_not_quoted_for_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """ "Adult Non-Hodgkin Lymphoma" contains every word of "Adult Hodgkin Lymphoma": the ranker must
    see the extra word ("non") and quote the page the question names."""
    from qa.engine import Engine
    from qa.extraction import WINDOW_FEATURES
    from qa.indexing import build_index
    from tests.conftest import make_settings

    pages = [
        ("hodgkin", "Adult Hodgkin Lymphoma",
         "Adult Hodgkin lymphoma is a disease in which cancer cells form in the lymph system.\n\n"
         "Signs of adult Hodgkin lymphoma include painless swollen lymph nodes, fever and night sweats.\n\n"
         "Treatment may include chemotherapy and radiation therapy."),
        ("non-hodgkin", "Adult Non-Hodgkin Lymphoma",
         "Adult non-Hodgkin lymphoma is a disease in which cancer cells form in the lymph system.\n\n"
         "Signs of adult non-Hodgkin lymphoma include weight loss for no known reason and itchy skin.\n\n"
         "Treatment may include chemotherapy, targeted therapy and watchful waiting."),
        ("knee", "Knee Replacement",
         "Knee replacement surgery replaces a damaged knee joint.\n\nRecovery takes several weeks."),
    ]
    corpus = tmp_path / "pages.jsonl"
    corpus.write_text("\n".join(json.dumps({"doc_id": d, "title": t, "text": x, "source_url": f"https://example.org/{d}"})
                                for d, t, x in pages) + "\n", encoding="utf-8")
    settings = make_settings(tmp_path, corpus)
    build_index(settings)
    engine = Engine.load(settings)
    question = "What are the symptoms of Adult Hodgkin Lymphoma?"
    answer = engine.ask(question)
    assert answer.best is not None and answer.best.passage.doc_id == "hodgkin", answer
    windows = engine.trace(question).windows
    col = WINDOW_FEATURES.index("title_extra")
    by_doc = {engine.data.pages[w.doc].doc_id: float(windows.features[i, col]) for i, w in enumerate(windows.items)}
    assert by_doc["hodgkin"] == 0.0 < by_doc["non-hodgkin"]


DURATION = "The procedure takes not more than 15 minutes"


@pytest.mark.parametrize("question", ["How long does the iliopsoas injection take?",
                                      "how long will I stay in the recovery room"])
def test_duration_questions_quote_the_procedure_length_sentence(engine, question) -> None:  # type: ignore[no-untyped-def]
    """The quote the engine chooses (what staff see, and patients when it is confident enough). The shipped
    model is not yet sure enough of these to show them to patients (BENCHMARKS.md, issue 12)."""
    answer = engine.ask(question)
    assert answer.best is not None
    assert DURATION in answer.best.text, answer.best.text
    assert answer.best.doc_id == "iliopsoas-injection"


# --- FAQ structure: a question heading and its answer are a pair, in every input format -------------

FAQ_ENTRIES = [
    ("Can I drive home after the injection?",
     "No. Please arrange for someone to drive you home on the day of the procedure. You may drive again the next day."),
    ("Do I need to stop eating before the procedure?",
     "Have a light breakfast at least two hours before the procedure. Drink water as usual."),
    ("How soon can I go back to work?",
     "Most people return to desk work after two days. Heavy lifting should wait a week."),
]
PARAPHRASE = ("am i allowed to drive myself back home after the shot?", "Please arrange for someone to drive you home")


def _faq_corpus(tmp_path, fmt: str):  # type: ignore[no-untyped-def]
    body = "\n\n".join(f"{q}\n{a}" for q, a in FAQ_ENTRIES)
    folder = tmp_path / "corpus"
    folder.mkdir()
    if fmt == "markdown":
        md = "\n\n".join(f"## {q}\n\n{a}" for q, a in FAQ_ENTRIES)
        (folder / "faq.md").write_text(
            "---\ntitle: Procedure Day FAQ\ndoc_id: faq\nlast_reviewed: 2026-11-01\n---\n"
            "# Procedure Day FAQ\n\n" + md + "\n",
            encoding="utf-8")
    elif fmt == "text":
        (folder / "faq.txt").write_text("Procedure Day FAQ\n\n" + body + "\n", encoding="utf-8")
    else:
        record = {"doc_id": "faq", "title": "Procedure Day FAQ", "text": "Procedure Day FAQ\n\n" + body}
        (folder / "faq.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    (folder / "other.md").write_text(
        "---\ntitle: Knee Care\ndoc_id: knee\n---\n## Exercise\n\nWalk gently every day to keep the knee moving.\n",
        encoding="utf-8")
    return folder


@pytest.mark.parametrize("fmt", ["markdown", "text", "jsonl"])
def test_a_paraphrased_faq_question_is_answered_from_its_sections_body_never_its_heading(tmp_path, fmt) -> None:  # type: ignore[no-untyped-def]
    from qa.engine import Engine
    from qa.indexing import build_index
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, _faq_corpus(tmp_path, fmt))
    build_index(settings)
    engine = Engine.load(settings)
    headings = {q for q, _ in FAQ_ENTRIES} | {"Procedure Day FAQ"}
    question, expected = PARAPHRASE
    answer = engine.ask(question)
    assert answer.best is not None and expected in answer.best.text, (fmt, answer.best)
    # no candidate the engine could quote is a heading or the page title
    windows = engine.trace(question).windows.items
    quotable = {engine.data.pages[w.doc].text[w.start : w.end] for w in windows}
    assert quotable and not quotable & headings, fmt
    for q, _ in FAQ_ENTRIES:  # asked word for word, each heading gets its own body
        best = engine.ask(q).best
        assert best is not None and best.text not in headings and best.passage.chunk.section == q, (fmt, q)
