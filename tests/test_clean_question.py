"""Input cleaning of questions: invisible bidirectional and zero-width characters never get through."""

from __future__ import annotations

import pytest

from qa.errors import InputError
from qa.text import clean_question

ZWNJ, ZWJ = "\u200c", "\u200d"


@pytest.mark.parametrize(
    "char",
    ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
     "\u200e", "\u200f", "\u061c"],
)
def test_bidirectional_controls_are_removed(char: str) -> None:
    assert clean_question(f"Can I {char}drive{char} after the block?") == "Can I drive after the block?"


def test_right_to_left_override_cannot_reverse_what_staff_read() -> None:
    assert clean_question("is it safe \u202eevad 2 rof\u202c to fast") == "is it safe evad 2 rof to fast"


@pytest.mark.parametrize("char", ["\u200b", "\u2060", "\ufeff"])
def test_zero_width_characters_are_removed(char: str) -> None:
    assert clean_question(f"{char}epi{char}dural injection{char}") == "epidural injection"


@pytest.mark.parametrize("char", [ZWNJ, ZWJ])
def test_joiners_outside_indic_words_are_removed(char: str) -> None:
    assert clean_question(f"{char}nerve{char} block {char} pain{char}") == "nerve block pain"


@pytest.mark.parametrize(
    "word",
    [
        "क्\u200dष",  # Devanagari: KA + VIRAMA + ZWJ + SSA, the half form of KA
        "क्\u200cष",  # Devanagari: ZWNJ asks for the explicit virama
        "ன்\u200cறி",  # Tamil: ZWNJ after a pulli
        "ന്\u200dറ",  # Malayalam: ZWJ between a virama and a letter
    ],
)
def test_joiners_inside_hindi_and_tamil_words_are_kept(word: str) -> None:
    assert clean_question(f"{word} दर्द") == f"{word} दर्द"


def test_joiner_at_the_end_of_an_indic_word_is_removed() -> None:
    assert clean_question("दर्द\u200d ?") == "दर्द ?"


def test_a_question_of_only_invisible_characters_is_empty() -> None:
    with pytest.raises(InputError, match="empty"):
        clean_question("\u202e\u200b\ufeff\u2066")
