"""Chunking: sections, sentence spans and offsets that round-trip."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from qa.chunking import chunk_page, sections
from qa.domain import Heading, Page
from qa.ingest import load_corpus
from qa.text import sentence_spans

ROOT = Path(__file__).resolve().parent.parent


def _page(text: str, headings: tuple[Heading, ...] = ()) -> Page:
    return Page(doc_id="p", title="T", text=text, source="p.md", headings=headings)


def test_sentence_spans_round_trip_and_stay_inside_lines() -> None:
    text = "Rest for a day. Dr. Rao will call you.\n- Do bring your scans.\nNo heading here?"
    spans = sentence_spans(text)
    got = [text[s.start : s.end] for s in spans]
    assert got == ["Rest for a day.", "Dr. Rao will call you.", "- Do bring your scans.", "No heading here?"]


def test_every_chunk_and_sentence_of_the_clinic_corpus_round_trips() -> None:
    pages = load_corpus(ROOT / "corpus").pages
    assert pages
    for page in pages:
        chunks = chunk_page(page, max_chars=400)
        assert chunks
        for c in chunks:
            assert page.text[c.start : c.end] == c.text
            for s in c.sentences:
                assert c.start <= s.start < s.end <= c.end
                assert page.text[s.start : s.end].strip() == page.text[s.start : s.end]


def test_a_short_section_is_one_chunk_with_its_heading() -> None:
    text = "What can I expect?\nYou may feel sore. It passes.\nCan I drive?\nNot for a day."
    heads = (Heading(0, 18), Heading(49, 61))
    page = _page(text, heads)
    assert [text[h.start:h.end] for h in heads] == ["What can I expect?", "Can I drive?"]
    chunks = chunk_page(page)
    assert [c.text for c in chunks] == ["What can I expect?\nYou may feel sore. It passes.",
                                        "Can I drive?\nNot for a day."]
    assert chunks[0].section == "What can I expect?"
    assert len(chunks[0].sentences) == 2


def test_a_long_section_splits_at_sentence_boundaries_with_overlap() -> None:
    body = " ".join(f"Sentence number {i} is here." for i in range(40))
    page = _page("Heading?\n" + body, (Heading(0, 8),))
    chunks = chunk_page(page, max_chars=200, overlap=1)
    assert len(chunks) > 3
    for a, b in itertools.pairwise(chunks):
        assert a.sentences[-1] == b.sentences[0]  # one sentence of overlap
        assert b.section == "Heading?"
    assert all(len(c.text) <= 200 for c in chunks)


def test_long_sections_break_at_paragraphs_when_they_can() -> None:
    para = "This is a sentence in a paragraph. " * 4
    text = "\n\n".join(para.strip() for _ in range(6))
    chunks = chunk_page(_page(text), max_chars=400)
    for c in chunks:
        assert c.text.startswith("This is")
        assert c.text.endswith("paragraph.")
    assert not any(a.sentences[-1] == b.sentences[0] for a, b in itertools.pairwise(chunks))


def test_text_before_the_first_heading_is_its_own_section() -> None:
    page = _page("Intro line.\nQ?\nAnswer.", (Heading(12, 14),))
    secs = sections(page)
    assert secs[0].heading is None and secs[1].heading == Heading(12, 14)


def test_chunk_ids_are_content_hashes() -> None:
    page = _page("Q?\nAnswer one. Answer two.", (Heading(0, 2),))
    assert [c.chunk_id for c in chunk_page(page)] == [c.chunk_id for c in chunk_page(page)]
    other = _page("Q?\nAnswer one. Answer three.", (Heading(0, 2),))
    assert chunk_page(page)[0].chunk_id != chunk_page(other)[0].chunk_id


def test_tiny_max_chars_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 50"):
        chunk_page(_page("x"), max_chars=10)


def test_fast_sentence_search_finds_the_same_spans_as_pysbd() -> None:
    from qa import text as text_mod

    lines = [
        "Rest for a day. Dr. Rao will call you. Rest for a day. Then walk.",
        "Take 2.5 mg at 8 a.m. on Mon. and Tue. Call us!  Ask   again?  Yes.",
        "Ok. Ok. Ok. Ok.",
        "e.g. ice packs (not heat). i.e. twice a day... Then stop.",
        "“Quoted sentence.” Another one! (In brackets.) Last one",
    ]
    seg = text_mod._pysbd()
    for line in lines:
        assert text_mod._pysbd_pieces(line) == [(p.start, p.end) for p in seg.segment(line)], line


@pytest.mark.slow
def test_token_batched_embedding_matches_sentence_transformers_encode() -> None:
    import numpy as np

    from qa.embedding import get_embedder

    embedder = get_embedder()
    texts = ["Occasionally, you leg may feel heavy or weak for a few hours.", "Fasting?",
             " ".join(["A long passage about the injection and what to expect afterwards."] * 30)]
    ours = embedder.encode(texts)
    ref = embedder.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    cos = (ours * ref).sum(axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() > 0.99
