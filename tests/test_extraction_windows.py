"""The vectorised window signals equal the sentence-by-sentence reference (tests/reference_windows.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa.text import phases, terms
from tests.reference_windows import reference_windows

QUESTIONS = Path(__file__).parents[1] / "eval" / "clinic" / "questions.jsonl"


def _questions() -> list[str]:
    with QUESTIONS.open(encoding="utf-8") as f:
        return [json.loads(line)["question"] for line in f if line.strip()]


@pytest.mark.slow
@pytest.mark.parametrize("max_chars", [400, 120])  # 120: many two- and three-sentence windows are too long
def test_vectorised_windows_equal_the_sentence_by_sentence_reference(engine, max_chars: int) -> None:  # type: ignore[no-untyped-def]
    ex = engine.extractor
    saved = ex.max_chars
    ex.max_chars = max_chars
    try:
        compared = 0
        for q in _questions():
            question = engine.expand(q)
            q_terms = terms(question)
            q_vec = engine.embedder.encode_query(question)
            retrieved = engine.retriever.retrieve(q_terms, q_vec, engine.settings.retrieve_k, None)
            got = ex.windows(q_terms, q_vec, retrieved, engine.doc_index, phases(question))
            want = reference_windows(ex, q_terms, q_vec, retrieved, engine.doc_index, phases(question))
            assert got.items == want.items, q
            np.testing.assert_allclose(got.features, want.features, rtol=0, atol=1e-5, err_msg=q)
            compared += len(got.items)
    finally:
        ex.max_chars = saved
    assert compared > 1000
