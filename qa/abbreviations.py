"""Abbreviations patients use ("rfa", "si joint"), spelled out before the question is matched.

The pages say "radiofrequency ablation"; a patient types "rfa risks". Neither BM25 nor the small
embedding model relates the two, and the question lands on another procedure's risks. A table of
short forms (``qa/data/abbreviations.yaml``, or ``CLINICQA_ABBREVIATIONS_PATH``) adds the long form
after the short one — "rfa (radiofrequency ablation) risks" — for retrieval and extraction only: the
question shown and logged is the patient's, and answers still quote the pages verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from qa.errors import ClinicQAError

BUNDLED = Path(__file__).parent / "data" / "abbreviations.yaml"
_KEY = re.compile(r"[a-z0-9]{2,12}")


@dataclass(frozen=True)
class Abbreviations:
    table: dict[str, str]  # short form (lower case) -> long form
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if self.table:
            keys = "|".join(map(re.escape, sorted(self.table, key=len, reverse=True)))
            object.__setattr__(self, "_pattern", re.compile(rf"(?<!\w)(?:{keys})(?!\w)", re.IGNORECASE))

    @classmethod
    def load(cls, path: Path | None = None) -> Abbreviations:
        path = Path(path) if path else BUNDLED
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise ClinicQAError(f"Cannot read the abbreviations file {path}: {err}") from err
        except yaml.YAMLError as err:
            raise ClinicQAError(f"The abbreviations file {path} is not valid YAML: {err}") from err
        return cls.from_mapping(data or {}, source=str(path))

    @classmethod
    def from_mapping(cls, data: object, source: str = "abbreviations") -> Abbreviations:
        if not isinstance(data, dict):
            raise ClinicQAError(f"{source}: expected 'short form: long form' lines, one per abbreviation.")
        table: dict[str, str] = {}
        for key, value in data.items():
            short = str(key).strip().lower()
            if not _KEY.fullmatch(short) or not isinstance(value, str) or not value.strip():
                raise ClinicQAError(f"{source}: {key!r}: {value!r} — the short form must be one word of 2–12 "
                                    "letters or digits, and the long form some text.")
            table[short] = " ".join(value.split())
        return cls(table)

    def expand(self, question: str) -> str:
        """The question with each known short form followed by its long form in parentheses (unless the
        question already says the long form)."""
        if self._pattern is None:
            return question
        lowered = question.lower()

        def spell_out(m: re.Match[str]) -> str:
            long = self.table[m.group(0).lower()]
            return m.group(0) if long.lower() in lowered else f"{m.group(0)} ({long})"

        return self._pattern.sub(spell_out, question)
