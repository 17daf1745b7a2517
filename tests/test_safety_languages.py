"""Emergencies in Tamil script, Devanagari, romanised Tamil and romanised Hindi (issue 14): the labelled
tables tests/data/safety_messages_{ta,hi,ta-latn,hi-latn}.csv, the escalation message in the patient's
language, and the tokenising and folding that make Indic words match."""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import pytest

from qa.language import Script, detect_script
from qa.safety import RuleSet, SafetyChecker, SafetyRulesError

DATA = Path(__file__).parent / "data"
CLINIC_PHONE = "+91 422 000 0000"
# table file suffix -> the language code an escalation for its messages is shown in
LANGUAGES = {"ta": "ta", "hi": "hi", "ta-latn": "ta-Latn", "hi-latn": "hi-Latn"}
MESSAGE_SCRIPT = {"ta": Script.TAMIL, "hi": Script.DEVANAGARI, "ta-Latn": Script.LATIN, "hi-Latn": Script.LATIN}
_NOTE_RULE = re.compile(r"(?:held-out batch \d+: )?([a-z_]+)")


def _table(suffix: str) -> list[dict[str, str]]:
    with (DATA / f"safety_messages_{suffix}.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


TABLES = {suffix: _table(suffix) for suffix in LANGUAGES}
ROWS = [(suffix, row) for suffix, rows in TABLES.items() for row in rows]


@pytest.fixture(scope="module")
def checker() -> SafetyChecker:
    return SafetyChecker.from_file()


# --------------------------------------------------------------------------- the labelled tables


@pytest.mark.parametrize("suffix", list(LANGUAGES))
def test_each_language_table_has_at_least_40_emergencies_and_40_ordinary_messages(suffix: str) -> None:
    rows = TABLES[suffix]
    counts = Counter(r["label"] for r in rows)
    assert set(counts) == {"escalate", "ordinary"}, counts
    assert counts["escalate"] >= 40 and counts["ordinary"] >= 40, counts
    assert len({r["message"] for r in rows}) == len(rows), "duplicate messages in the table"
    assert all(r["note"].strip() for r in rows), "every row names its rule or why it is ordinary"


@pytest.mark.parametrize(
    ("suffix", "row"), ROWS,
    ids=[f"{s}-{i:03d}-{r['label']}" for s, rows in TABLES.items() for i, r in enumerate(rows, 2)],
)
def test_each_labelled_message_is_escalated_exactly_when_it_is_an_emergency(
    checker: SafetyChecker, suffix: str, row: dict[str, str]
) -> None:
    verdict = checker.check(row["message"])
    escalated = verdict.action == "escalate"
    assert escalated == (row["label"] == "escalate"), (
        f"{row['message']!r} ({row['note']}): expected {row['label']}, got {verdict.action} by {verdict.rule} "
        f"on {verdict.matched!r}; explain: {checker.explain(row['message'])}"
    )
    if escalated:
        assert verdict.language == LANGUAGES[suffix], (row["message"], verdict.language)


@pytest.mark.parametrize("suffix", list(LANGUAGES))
def test_precision_and_recall_per_language(checker: SafetyChecker, suffix: str) -> None:
    rows = TABLES[suffix]
    got = [checker.check(r["message"]).action == "escalate" for r in rows]
    want = [r["label"] == "escalate" for r in rows]
    tp = sum(g and w for g, w in zip(got, want, strict=True))
    false_alarms = sum(g and not w for g, w in zip(got, want, strict=True))
    n_esc, n_ord = sum(want), len(want) - sum(want)
    precision = tp / sum(got) if any(got) else 1.0
    recall = tp / n_esc
    print(f"\n{LANGUAGES[suffix]:<8} emergencies {n_esc:>3}  ordinary {n_ord:>3}  precision {precision:.3f}  "
          f"recall {recall:.3f}  ordinary escalated {false_alarms}/{n_ord} ({false_alarms / n_ord:.1%})")
    assert recall == 1.0, "every emergency in the table must escalate"
    assert false_alarms <= 0.02 * n_ord, "too many ordinary messages escalated"


@pytest.mark.parametrize("suffix", list(LANGUAGES))
def test_every_red_flag_has_an_emergency_in_every_language_caught_by_its_own_rule(
    checker: SafetyChecker, suffix: str
) -> None:
    escalate_rules = {r.id for r in checker.rules.rules if r.kind == "escalate"}
    fired: set[str] = set()
    for row in TABLES[suffix]:
        if row["label"] != "escalate":
            continue
        m = _NOTE_RULE.match(row["note"])
        assert m and m.group(1) in escalate_rules, f"note must start with the rule: {row['note']!r}"
        verdict = checker.check(row["message"])
        assert verdict.rule == m.group(1), (row["message"], verdict.rule, verdict.matched)
        fired.add(m.group(1))
    assert fired == escalate_rules, f"red flags without an example in {suffix}: {sorted(escalate_rules - fired)}"


def test_the_english_table_keeps_its_escalations_in_english_unless_written_in_hinglish(
    checker: SafetyChecker,
) -> None:
    with (DATA / "safety_messages.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    languages = Counter(v.language for r in rows for v in [checker.check(r["message"])] if v.escalate)
    assert set(languages) == {"en", "hi-Latn"}, languages
    for message in ("I can't breathe", "Is it normal to have chest pain after the injection?",
                    "No fever, but I have chest pain", "my lips and tongue are swelling after the injection"):
        assert checker.check(message).language == "en"


# --------------------------------------------------------------------------- the message shown


def test_a_tamil_chest_pain_message_escalates_with_the_tamil_message_numbers_first(checker: SafetyChecker) -> None:
    v = checker.check("நெஞ்சு வலி அதிகமா இருக்கு, மூச்சு விட முடியல")
    assert (v.action, v.rule, v.language) == ("escalate", "chest_pain", "ta")
    assert v.message.startswith("108 அல்லது 112")
    assert detect_script(v.message) == Script.TAMIL and CLINIC_PHONE in v.message
    assert v.phones == ("108", "112", CLINIC_PHONE)
    assert v.matched == "நெஞ்சு வலி"


@pytest.mark.parametrize(
    ("message", "language", "starts"),
    [
        ("सीने में तेज दर्द हो रहा है", "hi", "108 या 112"),
        ("nenju vali romba iruku", "ta-Latn", "108 or 112"),
        ("seene mein bahut tez dard ho raha hai", "hi-Latn", "108 ya 112"),
        ("I have chest pain since the injection", "en", "Chest pain"),
    ],
)
def test_the_escalation_message_is_in_the_language_and_letters_the_patient_wrote(
    checker: SafetyChecker, message: str, language: str, starts: str
) -> None:
    v = checker.check(message)
    assert (v.action, v.language) == ("escalate", language)
    assert v.message.startswith(starts) and "112" in v.message and CLINIC_PHONE in v.message


def test_every_language_has_a_message_for_every_red_flag_with_the_numbers_first(checker: SafetyChecker) -> None:
    rules = [r for r in checker.rules.rules if r.kind == "escalate"]
    assert {lang.code for lang in checker.rules.languages} == set(LANGUAGES.values())
    for lang in checker.rules.languages:
        for rule in rules:
            text = checker._localised[(lang.code, rule.id)]
            assert text.startswith(f"108 {lang.or_word} 112"), (lang.code, rule.id)
            assert CLINIC_PHONE in text and "Atlas Pain Care, Coimbatore" in text and "{" not in text
            assert detect_script(text) == MESSAGE_SCRIPT[lang.code], (lang.code, rule.id)
        assert "14416" in checker._localised[(lang.code, "self_harm")]  # Tele-MANAS, as in English


def test_localised_messages_use_the_configured_numbers_and_clinic() -> None:
    checker = SafetyChecker.from_file(emergency_numbers=("112",), clinic_name="Test Clinic",
                                      clinic_phone="0422 111 2222")
    v = checker.check("மூச்சு விட முடியல")
    assert v.phones == ("112", "0422 111 2222")
    assert v.message.startswith("112 ") and "108" not in v.message
    assert "Test Clinic" in v.message and "0422 111 2222" in v.message


@pytest.mark.parametrize(
    ("message", "language"),
    [
        ("நெஞ்சு வலி", "ta"), ("scan report-ல வலி இருக்கு", "ta"), ("सीने में दर्द", "hi"),
        ("chest la vali", "ta-Latn"), ("saans nahi aa rahi", "hi-Latn"), ("chest pain", "en"),
        ("Hai doctor, chest pain", "en"), ("", "en"),
    ],
)
def test_the_language_of_a_message(checker: SafetyChecker, message: str, language: str) -> None:
    assert checker.language(message) == language


def test_referrals_stay_in_english(checker: SafetyChecker) -> None:
    v = checker.check("kya mai injection le sakta hoon? mujhe sugar hai")
    assert (v.action, v.language) == ("refer", "en")


# --------------------------------------------------------------------------- words, suffixes, spellings


@pytest.mark.parametrize(
    "message",
    [
        "நெஞ்சு வலி", "நெஞ்சில் வலிக்குது", "நெஞ்சுல வலியா இருக்கு", "நெஞ்சுவலி",  # suffixes and the fused word
        "மார்பில் வலி", "chest-ல வலி",
    ],
)
def test_tamil_stems_match_with_their_suffixes(checker: SafetyChecker, message: str) -> None:
    assert checker.check(message).rule == "chest_pain"


def test_indic_words_are_whole_tokens_with_their_vowel_signs_and_joiners(checker: SafetyChecker) -> None:
    doc = checker._normalise("நெஞ்சு வலிக்குது। क्‍या साँस नहीं आ रही")
    assert doc.tokens == ["நெஞ்சு", "வலிக்குது", ".", "क्या", "सांस", "नहीं", "आ", "रही"]


@pytest.mark.parametrize(
    ("message", "rule"),
    [
        ("\u0b95\u0bc6\u0bbe\u0b9f\u0bc2\u0bb0\u0bae\u0bbe\u0ba9 \u0ba4\u0bb2\u0bc8\u0bb5\u0bb2\u0bbf",
         "severe_headache"),
        ("सांस लेने में तकलीफ़", "breathing_difficulty"),  # nukta
        ("साँस लेने में तकलीफ", "breathing_difficulty"),  # chandrabindu
        ("मुझे १०२ बुखार है", "fever"),  # Devanagari digits
        ("ज़्यादा खून बह रहा है", "heavy_bleeding"),
    ],
)
def test_spellings_that_look_the_same_match_the_same(checker: SafetyChecker, message: str, rule: str) -> None:
    # the first is கொடூரமான தலைவலி with ொ typed as its two parts (ெ + ா): NFC makes it one
    assert checker.check(message).rule == rule


@pytest.mark.parametrize(
    "message",
    [
        "நெஞ்சு வலி இல்லை", "காய்ச்சல் எதுவும் இல்லை டாக்டர்", "நெஞ்சு வலிக்கல", "காய்ச்சல் வரல",
        "बुखार नहीं है", "सीने में कोई दर्द नहीं", "kaichal illa", "nenju valikala", "bukhar nahi hai",
        "jagah pe koi sujan ya laali nahi hai",
    ],
)
def test_negated_red_flags_are_not_escalated(checker: SafetyChecker, message: str) -> None:
    assert checker.check(message).action != "escalate", checker.explain(message)


@pytest.mark.parametrize(
    "message",
    [
        "காய்ச்சல் வந்தால் என்ன செய்யணும்?", "நெஞ்சு வலி வந்தா என்ன பண்ணனும்?", "kaichal vandha enna pannanum?",
        "seene mein dard ho to kya karein?", "अगर बुखार आ जाए तो क्या करें?", "सिर दर्द हो तो कौन सी गोली लें?",
        "இந்த ஊசியால் காய்ச்சல் வருமா?", "क्या इंजेक्शन से बुखार हो सकता है?",
        "போன வருஷம் மாரடைப்பு வந்துச்சு", "पिछले साल मुझे हार्ट अटैक आया था",
    ],
)
def test_hypothetical_general_and_past_red_flags_are_not_escalated(checker: SafetyChecker, message: str) -> None:
    assert checker.check(message).action != "escalate", checker.explain(message)


@pytest.mark.parametrize(
    "message",
    ["காய்ச்சல் இருக்கு, ஊசி போட்டா சரியாகுமா?", "pakkavatham vandha maathiri iruku", "saans nahi aa rahi"],
)
def test_a_red_flag_said_to_be_happening_before_an_if_still_escalates(checker: SafetyChecker, message: str) -> None:
    assert checker.check(message).action == "escalate", checker.explain(message)


# --------------------------------------------------------------------------- the rules file


def _rules_with_languages(languages: str) -> str:
    return (
        "rules:\n  - id: hiccups\n    kind: escalate\n    description: d\n    message: 'Call {emergency}.'\n"
        "    patterns: ['hiccups?', 'விக்கல்\\w*']\n" + languages
    )


def test_a_custom_rules_file_can_add_a_language() -> None:
    text = _rules_with_languages(
        "languages:\n  ta:\n    name: Tamil\n    script: tamil\n    or: அல்லது\n"
        "    messages:\n      default: '{emergency} இப்போதே அழையுங்கள் ({clinic_name}, {clinic_phone})'\n"
    )
    checker = SafetyChecker(RuleSet.from_yaml(text), emergency_numbers=("999",), clinic_name="C", clinic_phone="1")
    v = checker.check("விக்கல் நிக்கல")
    assert (v.rule, v.language, v.message) == ("hiccups", "ta", "999 இப்போதே அழையுங்கள் (C, 1)")
    assert checker.check("hiccups").language == "en"


def _language(code: str = "ta", script: str = "tamil", messages: str = "default: '{emergency}'") -> str:
    body = "\n".join(f"      {line}" for line in messages.split("; "))
    return f"languages:\n  {code}:\n    name: T\n    script: {script}\n    or: x\n    messages:\n{body}\n"


@pytest.mark.parametrize(
    ("languages", "expect"),
    [
        (_language(messages="default: 'Call {emergency}'"), "must begin with {emergency}"),
        (_language(messages="fever: '{emergency}'"), "needs a 'default'"),
        (_language(messages="default: '{emergency}'; nosuchrule: '{emergency}'"), "not an escalate rule"),
        (_language(script="klingon"), "script must be one of"),
        (_language(code="ta-Latn", script="latin"), "needs words that tell it from English"),
        (_language(code="Tamil"), "the code must be like"),
        (_language(messages="default: '{emergency} {doctor}'"), "unknown placeholder"),
    ],
)
def test_a_malformed_languages_section_gives_a_clear_error(languages: str, expect: str) -> None:
    with pytest.raises(SafetyRulesError, match=re.escape(expect)):
        RuleSet.from_yaml(_rules_with_languages(languages), source="rules.yaml")


# --------------------------------------------------------------------------- long input


@pytest.mark.parametrize(
    "message",
    ["நெஞ்சு " * 3000, "வலி " * 3000 + "இல்லை", "सांस " * 3000 + "नहीं", "kaal " * 3000 + "marathu", "ா" * 20000],
)
def test_long_or_repetitive_indic_messages_get_a_verdict(checker: SafetyChecker, message: str) -> None:
    # timed by bench/bench_safety.py, not here
    assert checker.check(message).action in ("escalate", "refer", "answer")


# --------------------------------------------------------------------------- end to end, the real engine and API


@pytest.mark.parametrize(
    ("question", "rule", "language", "starts", "script"),
    [
        ("நெஞ்சு வலி அதிகமா இருக்கு, மூச்சு விட முடியல", "chest_pain", "ta", "108 அல்லது 112", Script.TAMIL),
        ("साँस नहीं आ रही, सीने में जकड़न है", "chest_pain", "hi", "108 या 112", Script.DEVANAGARI),
        ("moochu vida mudiyala, romba kashtama iruku", "breathing_difficulty", "ta-Latn", "108 or 112", Script.LATIN),
        ("mujhe bukhar hai injection ke baad", "fever", "hi-Latn", "108 ya 112", Script.LATIN),
    ],
)
def test_the_engine_escalates_tamil_and_hindi_emergencies_in_the_patients_language(
    engine, question: str, rule: str, language: str, starts: str, script: Script  # type: ignore[no-untyped-def]
) -> None:
    from qa.domain import Reason

    answer = engine.ask(question)
    assert answer.reason == Reason.EMERGENCY and answer.abstained and answer.best is None
    esc = answer.escalation
    assert esc is not None and (esc.rule, esc.language) == (rule, language)
    assert esc.message.startswith(starts) and answer.message == esc.message
    assert detect_script(esc.message) == script
    assert esc.phones[:2] == ("108", "112") and engine.settings.clinic_phone in esc.message


def test_the_api_returns_the_escalation_language_and_the_ui_marks_it(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from api.app import create_app
    from qa.settings import Settings
    from ui.render import answer_html

    settings = Settings(index_dir=engine.settings.index_dir, corpus_dir=engine.settings.corpus_dir,
                        database_url=f"sqlite:///{tmp_path / 'log.sqlite3'}", rate_limit_per_minute=0)
    with TestClient(create_app(settings, engine)) as client:
        body = client.post("/v1/ask", json={"question": "நெஞ்சு வலி அதிகமா இருக்கு, மூச்சு விட முடியல"}).json()
        english = client.post("/v1/ask", json={"question": "I have crushing chest pain"}).json()
    assert body["reason"] == "emergency"
    esc = body["escalation"]
    assert set(esc) == {"rule", "message", "phones", "language"}
    assert esc["language"] == "ta" and esc["message"].startswith("108 அல்லது 112")
    assert esc["phones"][:2] == ["108", "112"]
    assert body["message"] == esc["message"]
    assert english["escalation"]["language"] == "en"

    html = answer_html(engine.ask("सीने में तेज दर्द हो रहा है"), contact="c", clinic_phone=settings.clinic_phone)
    assert 'lang="hi"' in html and "108 या 112" in html
    assert html.index('href="tel:108"') < html.index("108 या 112")


def test_a_pattern_mixing_devanagari_and_latin_alternatives_matches_both_scripts() -> None:
    text = (
        "context:\n  history: ['साल पहले|saal pehle']\n"
        "rules:\n  - id: stroke\n    kind: escalate\n    description: d\n    message: 'Call {emergency}.'\n"
        "    patterns: ['लकवा|lakwa']\n"
    )
    checker = SafetyChecker(RuleSet.from_yaml(text), emergency_numbers=("108",), clinic_name="C", clinic_phone="1")
    assert checker.check("papa ko lakwa").rule == "stroke"
    assert checker.check("पापा को लकवा").rule == "stroke"
    assert checker.check("papa ko do saal pehle lakwa hua tha").action == "answer"
    assert checker.check("पापा को दो साल पहले लकवा हुआ था").action == "answer"
