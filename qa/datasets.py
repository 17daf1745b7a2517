"""The five labelled evaluation sets, defined in one place (bench scripts and the leave-one-dataset-out runner).

* ``medquad``: ``../shared/eval/dev/corpus.jsonl`` + ``dev.jsonl`` (MedQuAD template questions over NIH pages);
* ``clinic``: the bundled ``corpus/`` + ``eval/clinic/questions.jsonl`` (the team's own clinic questions);
* ``covid-faq``, ``covid-qa``, ``selqa``: ``../shared/eval/transfer/<set>/corpus.jsonl`` + ``questions.jsonl``.

The shared sets live outside the repository (``../shared/eval`` relative to the repository root) and are read
at run time, never copied into the project. Paths are resolved by :func:`eval_sets`; a missing file is an
error that names it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.domain import Page
from qa.errors import ClinicQAError
from qa.ingest import load_corpus
from qa.text import read_questions_jsonl

# name -> (corpus, questions); "@shared/" paths are under the shared evaluation folder, others under the repo root.
_SHARED = "@shared/"
SET_PATHS: dict[str, tuple[str, str]] = {
    "medquad": (_SHARED + "dev/corpus.jsonl", _SHARED + "dev/dev.jsonl"),
    "clinic": ("corpus", "eval/clinic/questions.jsonl"),
    "covid-faq": (_SHARED + "transfer/covid-faq/corpus.jsonl", _SHARED + "transfer/covid-faq/questions.jsonl"),
    "covid-qa": (_SHARED + "transfer/covid-qa/corpus.jsonl", _SHARED + "transfer/covid-qa/questions.jsonl"),
    "selqa": (_SHARED + "transfer/selqa/corpus.jsonl", _SHARED + "transfer/selqa/questions.jsonl"),
}
SET_NAMES: tuple[str, ...] = tuple(SET_PATHS)


class MissingEvalSetError(ClinicQAError):
    """A labelled set's corpus or questions file is not where it should be."""


@dataclass(frozen=True, slots=True)
class EvalSet:
    """One labelled set: a corpus (folder or JSONL file of pages) and its questions (JSONL)."""

    name: str
    corpus: Path
    questions: Path


def shared_eval_dir(root: Path) -> Path:
    """``../shared/eval`` relative to the repository root ``root``."""
    return (Path(root).resolve().parent / "shared" / "eval").resolve()


def eval_sets(root: Path, shared: Path | None = None, names: Sequence[str] | None = None) -> list[EvalSet]:
    """The labelled sets (all five, or ``names`` in that order), with paths resolved and checked.

    ``root`` is the repository root; ``shared`` the shared evaluation folder (default ``../shared/eval``
    relative to ``root``). Raises :class:`MissingEvalSetError` naming the first missing file, and
    :class:`ClinicQAError` for an unknown set name.
    """
    root = Path(root).resolve()
    shared = Path(shared).resolve() if shared is not None else shared_eval_dir(root)
    chosen = list(SET_NAMES if names is None else names)
    unknown = [n for n in chosen if n not in SET_PATHS]
    if unknown:
        raise ClinicQAError(f"Unknown evaluation set {', '.join(map(repr, unknown))}; "
                            f"choose from {', '.join(SET_NAMES)}.")
    out: list[EvalSet] = []
    for name in chosen:
        corpus, questions = (_resolve(p, root, shared) for p in SET_PATHS[name])
        for kind, rel, path in zip(("corpus", "questions"), SET_PATHS[name], (corpus, questions), strict=True):
            if not path.exists():
                where = (f"the shared evaluation folder {shared}" if rel.startswith(_SHARED)
                         else f"the repository {root}")
                raise MissingEvalSetError(
                    f"Evaluation set {name!r}: its {kind} file {path} does not exist. It belongs in {where}; "
                    "put the set there (see ../shared/eval/README.md) or pass the shared folder explicitly.")
        out.append(EvalSet(name, corpus, questions))
    return out


def _resolve(path: str, root: Path, shared: Path) -> Path:
    return shared / path.removeprefix(_SHARED) if path.startswith(_SHARED) else root / path


def load_pages(eval_set: EvalSet) -> tuple[Page, ...]:
    """The set's pages, read by the project's ingestion (any corpus format); a page that cannot be read is an error.

    For a JSONL corpus ``page.text`` is the record's ``text`` (ingestion keeps it as it is), so offsets of the
    gold spans and of predictions are offsets into the same string the shared scorer reads.
    """
    result = load_corpus(eval_set.corpus, strict=True)
    if not result.pages:
        raise ClinicQAError(f"Evaluation set {eval_set.name!r}: no pages could be read from {eval_set.corpus}.")
    return result.pages


def load_questions(eval_set: EvalSet) -> list[dict[str, Any]]:
    """The set's labelled questions (each with an ``id``); errors name the file and line."""
    return read_questions_jsonl(eval_set.questions, required=("id",))


def text_mismatches(eval_set: EvalSet, pages: Sequence[Page]) -> list[str]:
    """The doc_ids whose ``page.text`` differs from the ``text`` of their record in a JSONL corpus (offsets
    into one would not score right against the other); empty for other corpus formats or when all agree."""
    if eval_set.corpus.suffix.lower() != ".jsonl":
        return []
    records: dict[str, str] = {}
    with eval_set.corpus.open(encoding="utf-8-sig") as f:
        for line in f:
            if line.strip():
                record = json.loads(line)
                records[str(record["doc_id"])] = str(record["text"])
    return [p.doc_id for p in pages if records.get(p.doc_id) != p.text]
