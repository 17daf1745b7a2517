"""IDF-weighted lexical signals (pure functions over a small lexicon)."""

from __future__ import annotations

import pytest

from qa.lexical import Lexicon
from qa.text import terms

TEXTS = ["Adult Hodgkin lymphoma is a cancer of the lymph system.",
         "Adult non-Hodgkin lymphoma is a different cancer of the lymph system.",
         "Knee replacement surgery replaces the knee joint.",
         "Back pain is common in adults."]


@pytest.fixture()
def lexicon() -> Lexicon:
    return Lexicon(TEXTS)


def test_a_title_word_the_question_lacks_makes_the_title_novel(lexicon: Lexicon) -> None:
    q = terms("What are the symptoms of Adult Hodgkin Lymphoma?")
    assert lexicon.novelty(terms("Adult Hodgkin Lymphoma"), q) == 0.0
    extra = lexicon.novelty(terms("Adult Non-Hodgkin Lymphoma"), q)
    assert 0.0 < extra < 1.0
    # coverage alone cannot tell the two titles apart
    assert lexicon.coverage(q, terms("Adult Non-Hodgkin Lymphoma")) == lexicon.coverage(
        q, terms("Adult Hodgkin Lymphoma"))


def test_novelty_weighs_rare_title_words_more_than_common_ones(lexicon: Lexicon) -> None:
    q = terms("knee")
    rare = lexicon.novelty(terms("knee replacement"), q)  # "replacement": one text
    common = lexicon.novelty(terms("knee lymphoma"), q)  # "lymphoma": two texts
    assert rare > common > 0.0


def test_novelty_of_an_empty_title_is_zero(lexicon: Lexicon) -> None:
    assert lexicon.novelty([], terms("back pain")) == 0.0
    assert lexicon.novelty(terms("back pain"), []) == 1.0
