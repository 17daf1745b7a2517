"""Red-flag checks before retrieval: table-driven over tests/data/safety_messages.csv, plus unit tests."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from qa.errors import ClinicQAError
from qa.safety import (
    ANSWER,
    RuleSet,
    SafetyChecker,
    SafetyRulesError,
    SafetyVerdict,
)

DATA = Path(__file__).parent / "data" / "safety_messages.csv"
LABELS = ("escalate", "refer", "answer")
CLINIC_PHONE = "+91 422 000 0000"


def _rows() -> list[dict[str, str]]:
    with DATA.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


ROWS = _rows()


@pytest.fixture(scope="module")
def checker() -> SafetyChecker:
    return SafetyChecker.from_file()


# --------------------------------------------------------------------------- the labelled table


def test_table_has_enough_varied_messages() -> None:
    counts = Counter(r["label"] for r in ROWS)
    assert set(counts) <= set(LABELS), counts
    assert len(ROWS) >= 150
    assert counts["answer"] >= 60 and counts["escalate"] >= 40 and counts["refer"] >= 15
    assert len({r["message"] for r in ROWS}) == len(ROWS), "duplicate messages in the table"


@pytest.mark.parametrize("row", ROWS, ids=[f"{i:03d}-{r['label']}" for i, r in enumerate(ROWS, 2)])
def test_each_labelled_message_gets_its_label(checker: SafetyChecker, row: dict[str, str]) -> None:
    verdict = checker.check(row["message"])
    assert verdict.action == row["label"], (
        f"{row['message']!r} ({row['note']}): expected {row['label']}, got {verdict.action} "
        f"by {verdict.rule} on {verdict.matched!r}; explain: {checker.explain(row['message'])}"
    )


def test_precision_and_recall_per_label(checker: SafetyChecker) -> None:
    got = [checker.check(r["message"]).action for r in ROWS]
    want = [r["label"] for r in ROWS]
    print()
    print(f"{'label':<9} {'n':>4} {'precision':>9} {'recall':>7}")
    recall: dict[str, float] = {}
    for label in LABELS:
        tp = sum(1 for g, w in zip(got, want, strict=True) if g == w == label)
        predicted = sum(1 for g in got if g == label)
        actual = sum(1 for w in want if w == label)
        precision = tp / predicted if predicted else 1.0
        recall[label] = tp / actual if actual else 1.0
        print(f"{label:<9} {actual:>4} {precision:>9.3f} {recall[label]:>7.3f}")
    answers_escalated = sum(1 for g, w in zip(got, want, strict=True) if w == "answer" and g == "escalate")
    n_answer = want.count("answer")
    print(f"answer messages escalated: {answers_escalated}/{n_answer}")
    assert recall["escalate"] == 1.0, "every red flag in the table must escalate"
    assert answers_escalated <= 0.02 * n_answer, "too many ordinary questions escalated"


def test_every_rule_has_at_least_one_test_message(checker: SafetyChecker) -> None:
    fired = {
        v.rule for r in ROWS if r["label"] != "answer"
        for v in [checker.check(r["message"])] if v.action == r["label"]
    }
    missing = set(checker.rules.ids) - fired
    assert not missing, f"rules without a test message in {DATA.name}: {sorted(missing)}"


# --------------------------------------------------------------------------- the rules file


def test_bundled_rules_load_with_both_kinds_and_plain_descriptions() -> None:
    rules = RuleSet.load()
    assert rules.source.endswith("safety_rules.yaml")
    kinds = Counter(r.kind for r in rules.rules)
    assert kinds["escalate"] >= 9 and kinds["refer"] >= 3
    for rule in rules.rules:
        assert rule.description and rule.message and rule.patterns, rule.id
    for rid in ("chest_pain", "breathing_difficulty", "stroke_signs", "self_harm", "heavy_bleeding",
                "allergic_reaction", "post_procedure_weakness", "bladder_bowel", "fever",
                "injection_site_infection", "severe_headache", "medication_decision",
                "personal_eligibility", "dose"):
        assert rid in rules.ids


def test_from_file_accepts_a_custom_rules_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n"
        "  - id: hiccups\n    kind: escalate\n    description: test rule\n"
        "    message: 'Call {emergency} or {clinic_name} on {clinic_phone}.'\n"
        "    patterns: ['hiccups?']\n",
        encoding="utf-8",
    )
    checker = SafetyChecker.from_file(path, emergency_numbers=("999",), clinic_name="C", clinic_phone="1")
    v = checker.check("I have hiccups")
    assert (v.action, v.rule, v.phones) == ("escalate", "hiccups", ("999", "1"))
    assert v.message == "Call 999 or C on 1."


def _rule(rid: str, *, kind: str = "refer", message: str | None = "m", patterns: str = "['x']",
          extra: str = "") -> str:
    """One rule as YAML text, for building broken rules files."""
    text = f"  - id: {rid}\n    kind: {kind}\n    description: d\n"
    if message is not None:
        text += f"    message: {message}\n"
    return text + f"    patterns: {patterns}\n" + extra


GOOD_RULE = _rule("good_rule", kind="escalate", message="'Call {emergency}.'", patterns="['fine words']")


@pytest.mark.parametrize(
    ("body", "expect"),
    [
        (_rule("bad_regex", patterns="['chest (pain']"), "bad_regex"),
        (_rule("bad_kind", kind="panic"), "bad_kind"),
        (_rule("no_message", message=None), "no_message"),
        (_rule("bad_placeholder", message="'call {doctor}'"), "bad_placeholder"),
        (_rule("bad_term", patterns="['{nosuchterm} pain']"), "bad_term"),
        (_rule("slow_pattern", patterns="['(a+)+b']"), "slow_pattern"),
        (_rule("no_patterns", patterns="[]"), "no_patterns"),
        (_rule("bad_all", patterns="[{all: ['x']}]"), "bad_all"),
        (_rule("typo_field", extra="    patern: ['x']\n"), "typo_field"),
        (GOOD_RULE, "duplicate id"),
    ],
)
def test_malformed_rules_file_gives_a_clear_error_naming_file_and_rule(
    tmp_path: Path, body: str, expect: str
) -> None:
    path = tmp_path / "broken_rules.yaml"
    path.write_text("rules:\n" + GOOD_RULE + body, encoding="utf-8")
    with pytest.raises(SafetyRulesError) as info:
        SafetyChecker.from_file(path)
    message = str(info.value)
    assert isinstance(info.value, ClinicQAError)
    assert "broken_rules.yaml" in message
    assert expect in message


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("rules: [\n", "not valid YAML"),
        ("just a string\n", "mapping"),
        ("rules: []\n", "non-empty list"),
        ("context:\n  negation: [no, not]\nrules:\n" + GOOD_RULE, "quotes"),
        ("rule:\n" + GOOD_RULE, "unknown top-level key"),
        ("context:\n  negaton: ['no']\nrules:\n" + GOOD_RULE, "unknown key"),
    ],
)
def test_malformed_rules_file_structure_gives_a_clear_error(tmp_path: Path, text: str, expect: str) -> None:
    path = tmp_path / "broken_rules.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SafetyRulesError, match=expect) as info:
        RuleSet.load(path)
    assert "broken_rules.yaml" in str(info.value)


def test_missing_rules_file_error_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(SafetyRulesError, match=r"nowhere\.yaml: file not found"):
        SafetyChecker.from_file(tmp_path / "nowhere.yaml")


# --------------------------------------------------------------------------- verdicts


def test_escalation_verdict_names_the_matched_rule_and_original_text(checker: SafetyChecker) -> None:
    v = checker.check("Doctor, chest pian after the procedure!!")
    assert v == SafetyVerdict(
        action="escalate", rule="chest_pain", message=v.message, phones=v.phones, matched="chest pian"
    )


def test_escalation_message_gives_emergency_numbers_first_then_clinic_phone(checker: SafetyChecker) -> None:
    v = checker.check("I can't breathe")
    assert v.action == "escalate"
    assert v.phones == ("108", "112", CLINIC_PHONE)
    assert "108 or 112" in v.message and CLINIC_PHONE in v.message
    assert v.message.index("108") < v.message.index(CLINIC_PHONE)
    assert "{" not in v.message


def test_every_escalation_message_contains_emergency_numbers_and_clinic_phone(checker: SafetyChecker) -> None:
    for rule in checker.rules.rules:
        text = checker._messages[rule.id]
        assert CLINIC_PHONE in text, rule.id
        if rule.kind == "escalate":
            assert "108 or 112" in text, rule.id


def test_custom_emergency_numbers_and_clinic_appear_in_order() -> None:
    checker = SafetyChecker.from_file(
        emergency_numbers=("112",), clinic_name="Test Clinic", clinic_phone="0422 111 2222"
    )
    v = checker.check("my face is drooping on one side")
    assert v.phones == ("112", "0422 111 2222")
    assert "112" in v.message and "0422 111 2222" in v.message and "Test Clinic" in v.message


def test_from_settings_uses_the_clinic_settings() -> None:
    from qa.settings import Settings

    settings = Settings(clinic_phone="+91 99999 00000", emergency_numbers=("108",))
    v = SafetyChecker.from_settings(settings).check("heavy bleeding from the needle site")
    assert v.phones == ("108", "+91 99999 00000")


def test_referral_gives_only_the_clinic_phone(checker: SafetyChecker) -> None:
    v = checker.check("Should I stop my warfarin?")
    assert (v.action, v.rule, v.phones) == ("refer", "medication_decision", (CLINIC_PHONE,))
    assert CLINIC_PHONE in v.message and "108" not in v.message


def test_ordinary_question_is_answered_with_an_empty_verdict(checker: SafetyChecker) -> None:
    assert checker.check("Can I drive home after the injection?") == ANSWER
    assert ANSWER.message == "" and ANSWER.phones == () and ANSWER.rule is None


@pytest.mark.parametrize("message", ["", "   ", "\n\n", "?", "ok"])
def test_empty_or_trivial_message_is_answered(checker: SafetyChecker, message: str) -> None:
    assert checker.check(message).action == "answer"


def test_escalation_takes_precedence_over_referral(checker: SafetyChecker) -> None:
    v = checker.check("Should I stop my warfarin? I am bleeding heavily from the injection site")
    assert (v.action, v.rule) == ("escalate", "heavy_bleeding")


@pytest.mark.parametrize(
    ("message", "action"),
    [
        ("will my leg feel weak?", "answer"),
        ("is it normal for my leg to feel heavy after the injection?", "answer"),
        ("what are the risks of the injection, can it cause bleeding?", "answer"),
        ("my leg has been getting weaker since yesterday's injection", "escalate"),
        ("I can't feel my legs since the injection this morning", "escalate"),
        ("I have a fever after my injection", "escalate"),
    ],
)
def test_is_this_normal_is_answered_but_happening_now_escalates(
    checker: SafetyChecker, message: str, action: str
) -> None:
    assert checker.check(message).action == action


@pytest.mark.parametrize(
    ("message", "rule"),
    [
        ("brething problem since morning", "breathing_difficulty"),
        ("i feel breathless", "breathing_difficulty"),
        ("chest pian", "chest_pain"),
        ("feaver after injecton", "fever"),
        ("bleding wont stop", "heavy_bleeding"),
    ],
)
def test_misspellings_and_word_variants_still_escalate(
    checker: SafetyChecker, message: str, rule: str
) -> None:
    assert checker.check(message).rule == rule


@pytest.mark.parametrize(
    ("message", "rule"),
    [
        ("saans nahi aa rahi", "breathing_difficulty"),
        ("saans lene mein taklif", "breathing_difficulty"),
        ("chest mein dard", "chest_pain"),
        ("seene mein dard ho raha hai", "chest_pain"),
        ("mujhe bukhar hai", "fever"),
        ("I am having fever since morning", "fever"),
        ("khoon beh raha hai", "heavy_bleeding"),
        ("marna chahta hoon", "self_harm"),
        ("motion aur urine control nahi ho raha", "bladder_bowel"),
    ],
)
def test_hinglish_and_indian_english_red_flags_escalate(
    checker: SafetyChecker, message: str, rule: str
) -> None:
    v = checker.check(message)
    assert (v.action, v.rule) == ("escalate", rule)


@pytest.mark.parametrize(
    "message",
    [
        "I don't have chest pain, but when can I shower?",
        "no fever, no chills",
        "I do not have any fever or chills, just soreness",
        "bukhar nahi hai",
        "chest mein dard toh nahi hai",
        "there is no pus or redness at the site",
    ],
)
def test_negated_red_flags_are_answered(checker: SafetyChecker, message: str) -> None:
    assert checker.check(message).action == "answer"


@pytest.mark.parametrize(
    "message",
    ["No fever, but I have chest pain", "No, I have chest pain", "I couldn't sleep last night chest pain"],
)
def test_negation_does_not_reach_past_but_commas_or_other_words(checker: SafetyChecker, message: str) -> None:
    assert checker.check(message).rule == "chest_pain"


@pytest.mark.parametrize(
    ("message", "action"),
    [
        ("Do I need to stop blood thinners before the injection?", "answer"),
        ("Can I take painkillers after the procedure?", "answer"),
        ("Is the procedure safe for diabetics?", "answer"),
        ("Should I stop my warfarin?", "refer"),
        ("can I take my blood thinner before the injection?", "refer"),
        ("am I a candidate for RFA?", "refer"),
        ("can I have the procedure if I am pregnant?", "refer"),
        ("How many tablets of paracetamol can I take?", "refer"),
    ],
)
def test_general_medicine_questions_are_answered_but_personal_decisions_are_referred(
    checker: SafetyChecker, message: str, action: str
) -> None:
    assert checker.check(message).action == action


def test_self_harm_escalates_even_as_a_general_question(checker: SafetyChecker) -> None:
    v = checker.check("Can pregabalin cause suicidal thoughts?")
    assert (v.action, v.rule) == ("escalate", "self_harm")
    assert "14416" in v.message  # Tele-MANAS


def test_conditional_red_flag_is_not_escalated(checker: SafetyChecker) -> None:
    assert checker.check("What should I do if I get a fever after the procedure?").action == "answer"
    assert checker.check("Can I get the injection if I have a fever and cold?").action == "refer"


def test_explain_lists_ignored_matches(checker: SafetyChecker) -> None:
    explained = checker.explain("no fever, but chills since morning")
    assert ("fever", "fever", "ignored (negated or general question)") in explained
    assert ("fever", "chills", "counts") in explained


# --------------------------------------------------------------------------- long input


@pytest.mark.parametrize(
    "message",
    [
        "a " * 5000,
        "chest " * 3000,
        "no " * 3000 + "fever",
        "my leg my leg my leg " * 800,
        "x" * 20000,
        "saans " * 2000 + "nahi",
    ],
)
def test_long_or_repetitive_messages_get_a_verdict(checker: SafetyChecker, message: str) -> None:
    # How long they take is measured by bench/bench_safety.py (no wall-clock limits in correctness tests).
    assert checker.check(message).action in ("escalate", "refer", "answer")


@pytest.mark.parametrize("message", ["-\u0082\u009f", "???", "...", "\u200b", "🙂🙂"])
def test_a_message_without_words_is_simply_answered(message: str) -> None:
    checker = SafetyChecker.from_file()
    assert checker.check(message).action == "answer"
