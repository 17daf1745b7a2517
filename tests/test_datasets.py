"""The five labelled sets: resolved from the repository root and ../shared/eval, a missing file named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.datasets import (
    SET_NAMES,
    EvalSet,
    MissingEvalSetError,
    eval_sets,
    load_pages,
    load_questions,
    shared_eval_dir,
    text_mismatches,
)
from qa.errors import ClinicQAError

SHARED_FILES = ["dev/corpus.jsonl", "dev/dev.jsonl"] + [
    f"transfer/{s}/{f}" for s in ("covid-faq", "covid-qa", "selqa") for f in ("corpus.jsonl", "questions.jsonl")]


def _layout(tmp: Path, skip: str = "") -> Path:
    """A repository root at tmp/repo with corpus/ and the clinic questions, and tmp/shared/eval beside it."""
    root = tmp / "repo"
    (root / "corpus").mkdir(parents=True)
    (root / "eval" / "clinic").mkdir(parents=True)
    (root / "corpus" / "page.md").write_text("# Page\n\nSome text.\n", encoding="utf-8")
    (root / "eval" / "clinic" / "questions.jsonl").write_text('{"id": "c1", "question": "x?"}\n', encoding="utf-8")
    for rel in SHARED_FILES:
        f = tmp / "shared" / "eval" / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        if rel != skip:
            f.write_text("", encoding="utf-8")
    return root


def test_the_five_sets_resolve_against_the_repo_root_and_shared_eval_beside_it(tmp_path: Path) -> None:
    root = _layout(tmp_path)
    sets = eval_sets(root)
    shared = (tmp_path / "shared" / "eval").resolve()
    assert shared_eval_dir(root) == shared
    assert [s.name for s in sets] == list(SET_NAMES) == ["medquad", "clinic", "covid-faq", "covid-qa", "selqa"]
    by_name = {s.name: s for s in sets}
    assert by_name["medquad"] == EvalSet("medquad", shared / "dev/corpus.jsonl", shared / "dev/dev.jsonl")
    assert by_name["clinic"] == EvalSet("clinic", root.resolve() / "corpus",
                                        root.resolve() / "eval/clinic/questions.jsonl")
    assert by_name["selqa"].questions == shared / "transfer/selqa/questions.jsonl"
    assert [s.name for s in eval_sets(root, names=["selqa", "clinic"])] == ["selqa", "clinic"]


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    root = _layout(tmp_path, skip="transfer/covid-qa/questions.jsonl")
    with pytest.raises(MissingEvalSetError, match=r"'covid-qa'.*transfer/covid-qa/questions\.jsonl does not exist"):
        eval_sets(root)
    assert [s.name for s in eval_sets(root, names=["medquad", "clinic"])] == ["medquad", "clinic"]
    with pytest.raises(MissingEvalSetError, match=r"elsewhere/dev/corpus\.jsonl does not exist"):
        eval_sets(root, shared=tmp_path / "elsewhere")


def test_an_unknown_set_name_is_an_error_listing_the_sets(tmp_path: Path) -> None:
    with pytest.raises(ClinicQAError, match=r"Unknown evaluation set 'squad'.*medquad, clinic, covid-faq"):
        eval_sets(_layout(tmp_path), names=["squad"])


def test_a_set_loads_its_pages_through_ingestion_and_its_questions(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    records = [{"doc_id": "a", "title": "A", "text": "Title\n\nWhat is it?\nIt is a page.\n"},
               {"doc_id": "b", "title": "B", "text": "Windows line\r\nends here.\r\n"}]
    corpus.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "q1", "question": "what is it?", "answerable": true}\n', encoding="utf-8")
    s = EvalSet("tiny", corpus, questions)
    pages = load_pages(s)
    assert [p.doc_id for p in pages] == ["a", "b"]
    assert [q["id"] for q in load_questions(s)] == ["q1"]
    # ingestion keeps a JSONL text as it is but for \r\n: offsets into such a page would not score right
    assert text_mismatches(s, pages) == ["b"]
    questions.write_text('{"question": "no id?"}\n', encoding="utf-8")
    with pytest.raises(ClinicQAError, match=r"q\.jsonl:1 has no 'id'"):
        load_questions(s)
