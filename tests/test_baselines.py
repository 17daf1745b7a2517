"""The issue-12 baselines on a tiny corpus (a Markdown page, a JSONL FAQ page, a page without question
headings), with the real bundled model: what each one quotes, its offsets, its confidence, choosing by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qa.baselines import (
    BASELINES,
    BM25_THRESHOLD,
    FAQ_HEADING_THRESHOLD,
    NEAREST_SENTENCE_THRESHOLD,
    Baseline,
    abstain_all,
    bm25,
    bm25_chunks,
    bm25_index_text,
    faq_heading,
    get_baseline,
    nearest_sentence,
    run_baseline,
)
from qa.domain import Page
from qa.embedding import Embedder
from qa.errors import InputError
from qa.ingest import load_corpus
from qa.lexical import Lexicon
from qa.text import sentence_spans, terms

KNEE = """---
doc_id: knee-injection
title: Knee Injection
---
# Knee Injection

A knee injection puts a steroid medicine into the knee joint to ease arthritis pain.

## How long does the knee injection take?

The injection takes about ten minutes from start to finish. You can go home the same day.

## Will my knee feel numb afterwards?

Your knee may feel numb for a few hours after the injection. The numbness wears off by the evening.
"""

HISTORY = """---
doc_id: clinic-history
title: Our History
---
# Our History

## Founding

The clinic opened its doors in 2001 with two doctors. It moved to a larger building in 2015.
"""

FAQ_TEXT = ("Visiting the Clinic\n\nWhere can I park my car?\nFree parking is available behind the clinic building. "
            "Show your appointment card at the gate.\n\nCan I bring a family member with me?\n"
            "One adult may come with you into the waiting room.\n")

QUESTIONS = [
    "How long does the knee injection take?",
    "how many minutes is the knee injection?",
    "where do I leave my car when I visit?",
    "will the knee be numb after the injection?",
    "free parking behind the clinic building",
    "What is the boiling point of liquid nitrogen at sea level?",
]


def _questions(texts: list[str] = QUESTIONS) -> list[dict[str, Any]]:
    return [{"id": f"q{i}", "question": t} for i, t in enumerate(texts)]


def _write_corpus(folder: Path, *, faq: bool = True, knee: bool = True, history: bool = True) -> tuple[Page, ...]:
    folder.mkdir()
    if knee:
        (folder / "knee-injection.md").write_text(KNEE, encoding="utf-8")
    if history:
        (folder / "history.md").write_text(HISTORY, encoding="utf-8")
    if faq:
        record = {"doc_id": "visiting-faq", "title": "Visiting the Clinic", "text": FAQ_TEXT}
        (folder / "faq.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    return load_corpus(folder, strict=True).pages


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    from qa.embedding import get_embedder
    from qa.settings import Settings

    s = Settings()
    return get_embedder(s.model_path, s.embed_dtype, s.embed_batch_size, s.chunk_max_seq_length)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> tuple[Page, ...]:
    return _write_corpus(tmp_path_factory.mktemp("baselines") / "corpus")


def _page(pages: tuple[Page, ...], doc_id: str) -> Page:
    return next(p for p in pages if p.doc_id == doc_id)


def _quote(pages: tuple[Page, ...], pred: dict[str, Any]) -> str:
    a = pred["answer"]
    page = _page(pages, a["doc_id"])
    assert page.text[a["start"] : a["end"]] == a["text"]
    return str(a["text"])


def _headings(pages: tuple[Page, ...]) -> set[str]:
    return {p.text[h.start : h.end] for p in pages for h in p.headings} | {p.title for p in pages}


def test_fixture_pages_have_question_headings_in_markdown_and_jsonl(pages: tuple[Page, ...]) -> None:
    heads = _headings(pages)
    assert "How long does the knee injection take?" in heads
    assert "Where can I park my car?" in heads
    assert _page(pages, "visiting-faq").text == FAQ_TEXT  # JSONL text kept as it is: offsets score right


@pytest.mark.slow
def test_nearest_sentence_quotes_the_sentence_of_highest_cosine_headings_included(
        pages: tuple[Page, ...], embedder: Embedder) -> None:
    questions = _questions()
    preds = nearest_sentence(pages, questions, embedder)
    sentences = [(p, s) for p in pages for s in sentence_spans(p.text)]
    vecs = embedder.encode([p.text[s.start : s.end] for p, s in sentences])
    assert [p["id"] for p in preds] == [q["id"] for q in questions]
    for q, pred in zip(questions, preds, strict=True):
        cos = vecs @ embedder.encode_query(q["question"])
        best_page, best = sentences[int(np.argmax(cos))]
        assert (pred["answer"]["doc_id"], pred["answer"]["start"], pred["answer"]["end"]) == \
            (best_page.doc_id, best.start, best.end)
        _quote(pages, pred)
        assert pred["confidence"] == pytest.approx(min(1.0, max(0.0, float(cos.max()))), abs=2e-3)
        assert pred["abstained"] == (float(cos.max()) < NEAREST_SENTENCE_THRESHOLD)
        assert pred["retrieved_doc_ids"][0] == best_page.doc_id
        assert sorted(pred["retrieved_doc_ids"]) == sorted(p.doc_id for p in pages)
    # the naive baseline quotes a heading when the question repeats it: what the others must not do
    assert preds[0]["answer"]["text"] == "How long does the knee injection take?"
    assert not preds[0]["abstained"]
    assert preds[-1]["abstained"]  # nothing about liquid nitrogen


@pytest.mark.slow
def test_faq_heading_quotes_the_first_body_sentence_of_the_matched_heading_never_the_heading(
        pages: tuple[Page, ...], embedder: Embedder) -> None:
    preds = faq_heading(pages, _questions(), embedder)
    quotes = [_quote(pages, p) for p in preds]
    assert quotes[0] == quotes[1] == "The injection takes about ten minutes from start to finish."
    assert quotes[2] == "Free parking is available behind the clinic building."  # JSONL page
    assert quotes[3] == "Your knee may feel numb for a few hours after the injection."
    assert not set(quotes) & _headings(pages)
    assert not preds[0]["abstained"] and preds[0]["confidence"] > 0.95
    assert preds[-1]["abstained"] and preds[-1]["confidence"] < FAQ_HEADING_THRESHOLD
    # only pages with question headings are candidates: the history page is never retrieved
    assert all("clinic-history" not in p["retrieved_doc_ids"] for p in preds)
    assert preds[2]["retrieved_doc_ids"] == ["visiting-faq", "knee-injection"]


@pytest.mark.slow
def test_faq_heading_abstains_everywhere_with_no_question_headings(tmp_path: Path, embedder: Embedder) -> None:
    pages = _write_corpus(tmp_path / "corpus", faq=False, knee=False)
    preds = faq_heading(pages, _questions(), embedder)
    assert all(p["abstained"] and p["confidence"] == 0.0 and p["retrieved_doc_ids"] == [] and "answer" not in p
               for p in preds)


def test_bm25_chunks_are_sentence_aligned_and_about_120_words() -> None:
    sentence = "The clinic team checks every patient's blood pressure before the procedure starts today."
    text = "\n".join(" ".join([sentence] * k) for k in (3, 7, 2, 9, 4))
    page = Page(doc_id="long", title="Long", text=text, source="long.txt")
    chunks = bm25_chunks(page)
    spans = [s for c in chunks for s in c]
    assert spans == sentence_spans(text)  # every sentence once, in order
    for c in chunks:
        words = sum(len(text[s.start : s.end].split()) for s in c)
        assert words <= 120
    assert len(chunks) == -(-sum(len(text[s.start : s.end].split()) for s in spans) // 120)


def test_bm25_quotes_the_best_overlap_sentence_of_the_top_chunk(pages: tuple[Page, ...]) -> None:
    questions = _questions()
    preds = bm25(pages, questions, Embedder())  # lexical: the embedder is never loaded
    park = preds[4]
    assert park["retrieved_doc_ids"][0] == "visiting-faq"
    assert _quote(pages, park) == "Free parking is available behind the clinic building."
    numb = preds[3]
    assert _quote(pages, numb) == "Your knee may feel numb for a few hours after the injection."
    for p in preds:
        assert 0.0 <= p["confidence"] <= 1.0
        assert p["abstained"] == (p["confidence"] < 0.5)  # s / (s + 12.08) < 0.5  <=>  s < 12.08
    # a question with no word of the corpus retrieves nothing and quotes nothing
    (none,) = bm25(pages, _questions(["zzz qqq?"]), Embedder())
    assert none["abstained"] and none["confidence"] == 0.0 and none["retrieved_doc_ids"] == [] and "answer" not in none


def test_bm25_answers_above_the_readme_threshold(tmp_path: Path) -> None:
    # many pages make the rare words' BM25 weight large: the top score passes 12.08 and the baseline answers
    folder = tmp_path / "corpus"
    folder.mkdir()
    filler = "says little about the weather, the garden, the river, the market and the old town hall on day"
    rows = [{"doc_id": f"p{i}", "title": f"Page {i}", "text": f"Page {i} {filler} {i}."} for i in range(200)]
    rows.append({"doc_id": "target", "title": "Target", "text": "Fluoroscopy guides the radiofrequency "
                 "cannula towards the medial branch nerve. The lesion lasts ninety seconds."})
    (folder / "c.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    pages = load_corpus(folder, strict=True).pages
    question = "does fluoroscopy guide the radiofrequency cannula to the medial branch nerve?"
    (pred,) = bm25(pages, _questions([question]), Embedder())
    assert not pred["abstained"] and pred["confidence"] > 0.5
    assert pred["answer"]["text"] == "Fluoroscopy guides the radiofrequency cannula towards the medial branch nerve."
    chunks = [bm25_index_text(p, c) for p in pages for c in bm25_chunks(p)]
    top = float(Lexicon(chunks).scores(terms(question)).max())
    assert top > BM25_THRESHOLD
    assert pred["confidence"] == pytest.approx(top / (top + BM25_THRESHOLD), abs=1e-4)


def test_bm25_indexes_the_page_title_with_each_chunk() -> None:
    # "sciatica" is only in the first page's title; without it the second page (which names sciatica) wins
    pages = [Page(doc_id="sciatica", title="Sciatica", text="Treatment includes rest, heat and gentle exercise.",
                  source="a.txt"),
             Page(doc_id="back-pain", title="Back Pain", text="Back pain has many causes, sciatica among them.",
                  source="b.txt"),
             Page(doc_id="headache", title="Headache", text="Treatment of a headache starts with rest.",
                  source="c.txt")]
    (pred,) = bm25(pages, _questions(["What are the treatments for sciatica?"]), Embedder())
    assert pred["retrieved_doc_ids"][0] == "sciatica"
    assert pred["answer"]["text"] == "Treatment includes rest, heat and gentle exercise."
    # a chunk that starts with its page's title does not get it twice
    faq = Page(doc_id="f", title="Visiting the Clinic", text=FAQ_TEXT, source="f.jsonl:1")
    assert [bm25_index_text(faq, c) for c in bm25_chunks(faq)] == [FAQ_TEXT.strip()]


def test_abstain_all_abstains_with_confidence_zero_and_no_answer(pages: tuple[Page, ...]) -> None:
    preds = abstain_all(pages, _questions(), Embedder())
    assert [p["id"] for p in preds] == [f"q{i}" for i in range(len(QUESTIONS))]
    assert all(p["abstained"] and p["confidence"] == 0.0 and "answer" not in p for p in preds)


def test_baselines_are_chosen_by_name() -> None:
    assert set(BASELINES) == set(Baseline)
    assert get_baseline("nearest_sentence") is nearest_sentence
    assert get_baseline("faq_heading") is faq_heading
    assert get_baseline(Baseline.BM25) is bm25
    assert get_baseline("abstain_all") is abstain_all
    with pytest.raises(InputError, match=r"Unknown baseline 'bm26'.*nearest_sentence, faq_heading, bm25, abstain_all"):
        get_baseline("bm26")


@pytest.mark.slow
def test_every_baseline_gives_one_prediction_per_question_with_confidence_in_0_1(
        pages: tuple[Page, ...], embedder: Embedder) -> None:
    questions = _questions()
    for name in Baseline:
        preds = run_baseline(name, pages, questions, embedder)
        assert [p["id"] for p in preds] == [q["id"] for q in questions], name
        for p in preds:
            assert 0.0 <= p["confidence"] <= 1.0, name
            assert isinstance(p["abstained"], bool) and isinstance(p["retrieved_doc_ids"], list)
            if "answer" in p:
                _quote(pages, p)
