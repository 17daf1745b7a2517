from pathlib import Path

import pytest

from qa.errors import ClinicQAError
from qa.glossary import Glossary, Language


@pytest.fixture(scope="module")
def glossary() -> Glossary:
    return Glossary.load()


def test_the_bundled_glossary_loads_both_languages(glossary: Glossary) -> None:
    assert len(list(glossary.keys(Language.TAMIL))) > 100
    assert len(list(glossary.keys(Language.HINDI))) > 100


def test_romanised_hindi_is_put_into_the_pages_english(glossary: Glossary) -> None:
    r = glossary.render("injection ke baad sunnpan kab jayega?", latin=True)
    assert r.text == "injection after numbness when will it go away?"
    assert r.language is Language.HINDI


def test_romanised_tamil_words_with_endings_match_their_prefix_entry(glossary: Glossary) -> None:
    r = glossary.render("eppo kulikkalaam?", latin=True)
    assert r.text == "when shower bath?"
    assert r.language is Language.TAMIL


def test_tamil_script_words_are_translated_and_unknown_ones_kept(glossary: Glossary) -> None:
    r = glossary.render("ஊசி போட்ட பிறகு கால் பலவீனமாக இருக்குமா?")
    assert r.text == "injection போட்ட after leg weak will it be?"
    assert r.latin_text == "injection after leg weak will it be?"


def test_an_english_question_is_left_alone(glossary: Glossary) -> None:
    for q in ("will my leg feel weak?", "can I buy a pair of socks, sir?", "is it ok to eat before?"):
        r = glossary.render(q, latin=True)
        assert r.text == q and not r.hits and r.foreign_hits == 0


def test_an_english_looking_key_is_applied_once_the_question_is_romanised(glossary: Glossary) -> None:
    assert glossary.render("pair mein dard", latin=True).text == "leg in pain"


def test_a_phrase_is_matched_before_its_words(glossary: Glossary) -> None:
    assert glossary.render("kitni der lagega", latin=True).text == "how long will it feel"


def test_malformed_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text("tamil:\n  kaal: [leg\n", encoding="utf-8")
    with pytest.raises(ClinicQAError, match=r"g\.yaml is not valid YAML"):
        Glossary.load(path)


@pytest.mark.parametrize(("text", "problem"), [
    ("tamil:\n  kaal: leg\n  vali:\n    - pain\n", r"line 3: expected 'word: english'"),
    ("tamil:\n  kaal: leg\nurdu:\n  dard: pain\n", r"line 3: unknown section 'urdu'"),
    ("hindi:\n  dard: pain\n  dard: ache\n", r"line 3: 'dard' is already listed on line 2"),
    ("hindi:\n  ab*: x\n", r"line 2: 'ab\*': a prefix key needs at least 3 characters"),
    ("hindi:\n  dard: दर्द\n", r"line 2: 'dard': the English 'दर्द' is not in Latin letters"),
    ("hindi:\n  one two three four five: x\n", r"line 2: .* is not a word or a phrase of up to 4 words"),
    ("hindi:\n  dard: 12\n", r"line 2: 'dard': the English must be text"),
    ("- kaal\n", r"line 1: expected the sections"),
])
def test_a_malformed_entry_is_refused_with_file_and_line(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "glossary.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ClinicQAError, match=rf"glossary\.yaml, {problem}" if "line" in problem else problem):
        Glossary.load(path)


def test_a_missing_file_says_which(tmp_path: Path) -> None:
    with pytest.raises(ClinicQAError, match="Cannot read the glossary file"):
        Glossary.load(tmp_path / "nope.yaml")


def test_an_empty_file_is_an_empty_glossary(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    g = Glossary.load(path)
    assert len(g) == 0 and g.render("kaal vali").text == "kaal vali"
