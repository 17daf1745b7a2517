"""Names in the common Indian-English introductions, measured on a labelled table.

``tests/data/redaction_names.jsonl``: one message a line, ``{"text": ..., "names": [...]}``. Messages with
names introduce someone ("this is priya raman, …", "Priya Raman here", "- Priya (ph [PHONE])", "for my
mother kamala …"), with Tamil, Telugu, Malayalam, Hindi, Bengali, Punjabi, Muslim and Christian names, in
lower, title and upper case; messages without names are patient questions that come close ("I am
diabetic", "pain here", "this is my first injection") and must come back unchanged. Rows marked
``after_tuning`` were written after the rules were settled, with names outside ``qa/data/indian_names.txt``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qa.redaction import Redaction, redact

DATA = Path(__file__).parent / "data" / "redaction_names.jsonl"
EVAL_QUESTIONS = Path(__file__).parent.parent / "eval" / "clinic" / "questions.jsonl"

ROWS: list[dict[str, Any]] = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line]
NAMED = [r for r in ROWS if r["names"]]
CLEAN = [r for r in ROWS if not r["names"]]


def _caught(r: Redaction, text: str, name: str) -> bool:
    at = text.find(name)
    return any(kind == "NAME" and a <= at and b >= at + len(name) for kind, a, b in r.found)


def _expected(row: dict[str, Any]) -> str:
    text = row["text"]
    for name in row["names"]:
        text = text.replace(name, "[NAME]", 1)
    return text


def test_the_table_is_large_and_labelled_consistently() -> None:
    assert len(NAMED) >= 150 and len(CLEAN) >= 100
    for row in NAMED:
        assert all(name in row["text"] for name in row["names"]), row


def test_recall_on_names_and_false_positives_on_clean_messages() -> None:
    results = [(row, redact(row["text"])) for row in NAMED]
    pairs = [(row, r, name) for row, r in results for name in row["names"]]
    caught = sum(_caught(r, row["text"], name) for row, r, name in pairs)
    late = [(row, r, name) for row, r, name in pairs if row.get("after_tuning")]
    late_caught = sum(_caught(r, row["text"], name) for row, r, name in late)
    changed = [row["text"] for row in CLEAN if redact(row["text"]).changed]
    print(f"\nnames caught: {caught}/{len(pairs)} = {caught / len(pairs):.3f} "
          f"(written after tuning: {late_caught}/{len(late)})")
    print(f"clean messages changed: {len(changed)}/{len(CLEAN)}")
    assert caught / len(pairs) >= 0.95
    assert changed == []


@pytest.mark.parametrize("row", NAMED, ids=[r["text"][:40] for r in NAMED])
def test_only_the_name_is_replaced_when_it_is_caught(row: dict[str, Any]) -> None:
    r = redact(row["text"])
    if all(_caught(r, row["text"], name) for name in row["names"]):
        assert r.text == _expected(row)
    else:  # a miss counts against recall above; what was caught still leaves the rest of the message
        assert all(piece in row["text"] for piece in r.text.split("[NAME]"))


@pytest.mark.parametrize("row", CLEAN, ids=[r["text"][:40] for r in CLEAN])
def test_a_message_without_a_name_comes_back_unchanged(row: dict[str, Any]) -> None:
    assert redact(row["text"]).text == row["text"]


def test_no_question_of_the_evaluation_set_is_changed() -> None:
    questions = [json.loads(line)["question"] for line in EVAL_QUESTIONS.read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    assert len(questions) > 250
    assert [q for q in questions if redact(q).changed] == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("This is priya raman, can I drive after the block?", "This is [NAME], can I drive after the block?"),
        ("Priya Raman here, is fasting needed?", "[NAME] here, is fasting needed?"),
        ("hi doctor i am lakshmi narayanan, will it hurt?", "hi doctor i am [NAME], will it hurt?"),
        ("will I need someone to drive me? - Priya (ph [PHONE])",
         "will I need someone to drive me? - [NAME] (ph [PHONE])"),
        ("Ravi speaking, doubt about RFA", "[NAME] speaking, doubt about RFA"),
        ("for my mother kamala, is it safe?", "for my mother [NAME], is it safe?"),
        ("I'm Ahmed and can I eat before?", "I'm [NAME] and can I eat before?"),
        ("Myself Thenmozhi, can I eat before the block?", "Myself [NAME], can I eat before the block?"),
    ],
)
def test_the_introductions_of_the_issue_are_redacted(text: str, expected: str) -> None:
    assert redact(text).text == expected


@pytest.mark.parametrize(
    "text",
    ["I am diabetic", "I am 65", "I am scared", "I am on blood thinners", "this is my first injection", "pain here",
     "I'm pregnant", "i am constipated", "I am post-op", "this is spondylosis?", "my father tkr done last year",
     "Same here", "thanks for the reply", "L4 - L5"],
)
def test_words_after_the_cues_that_are_not_names_are_kept(text: str) -> None:
    assert redact(text).text == text
