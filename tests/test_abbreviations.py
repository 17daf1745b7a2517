"""Patients' abbreviations spelled out before matching; the patient's question itself is kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.abbreviations import Abbreviations
from qa.errors import ClinicQAError


def test_short_forms_get_their_long_form_in_any_case_as_whole_words_only() -> None:
    a = Abbreviations.from_mapping({"rfa": "radiofrequency ablation", "si": "sacroiliac"})
    assert a.expand("When will RFA start working?") == "When will RFA (radiofrequency ablation) start working?"
    assert a.expand("si-joint pain") == "si (sacroiliac)-joint pain"
    assert a.expand("my sister had rfa2") == "my sister had rfa2"  # not inside other words
    assert a.expand("radiofrequency ablation (RFA) risks") == "radiofrequency ablation (RFA) risks"
    assert Abbreviations.from_mapping({}).expand("rfa") == "rfa"


def test_the_bundled_table_loads_and_a_malformed_one_names_the_file(tmp_path: Path) -> None:
    assert Abbreviations.load().table["rfa"] == "radiofrequency ablation"
    bad = tmp_path / "abbr.yaml"
    bad.write_text("rfa: [radiofrequency, ablation]\n", encoding="utf-8")
    with pytest.raises(ClinicQAError, match=r"abbr\.yaml: 'rfa'"):
        Abbreviations.load(bad)
    bad.write_text("- rfa\n", encoding="utf-8")
    with pytest.raises(ClinicQAError, match="short form: long form"):
        Abbreviations.load(bad)
    bad.write_text("rfa: [unclosed\n", encoding="utf-8")
    with pytest.raises(ClinicQAError, match="not valid YAML"):
        Abbreviations.load(bad)
    with pytest.raises(ClinicQAError, match="Cannot read"):
        Abbreviations.load(tmp_path / "missing.yaml")


def test_an_abbreviated_question_finds_the_procedure_it_names(engine) -> None:  # type: ignore[no-untyped-def]
    answer = engine.ask("rfa risks")
    assert answer.question == "rfa risks"  # shown and logged as the patient typed it
    assert answer.retrieved[0].chunk.doc_id == "radiofrequency-ablation"
    assert answer.best is not None and answer.best.doc_id == "radiofrequency-ablation"
