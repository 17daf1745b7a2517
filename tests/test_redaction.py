"""Personal-data redaction: table-driven over tests/data/redaction_messages.jsonl, plus unit tests.

Each line of the table is ``{"text": ..., "pii": [[KIND, substring], ...], "keep": [substring, ...]}``:
every ``pii`` substring must disappear, every ``keep`` substring (medical content) must survive, and
a message with no ``pii`` must come back unchanged.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from qa.redaction import KINDS, Redaction, redact

DATA = Path(__file__).parent / "data" / "redaction_messages.jsonl"


def _rows() -> list[dict[str, Any]]:
    with DATA.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


ROWS = _rows()
WITH_PII = [r for r in ROWS if r["pii"]]
WITHOUT_PII = [r for r in ROWS if not r["pii"]]


def _covered_as(r: Redaction, original: str, kind: str, sub: str) -> bool:
    """The substring is gone and a span of the expected kind overlaps where it was."""
    if sub in r.text:
        return False
    at = original.find(sub)
    return any(k == kind and a < at + len(sub) and b > at for k, a, b in r.found)


# --------------------------------------------------------------------------- the table


def test_table_has_at_least_100_varied_messages() -> None:
    assert len(ROWS) >= 100
    assert len(WITHOUT_PII) >= 30, "need plenty of messages without personal data (precision)"
    kinds = Counter(kind for r in ROWS for kind, _ in r["pii"])
    assert set(kinds) == set(KINDS), f"every kind needs examples: {kinds}"
    for r in ROWS:
        for kind, sub in r["pii"]:
            assert kind in KINDS and sub in r["text"], r


@pytest.mark.parametrize("row", WITH_PII, ids=[r["text"][:40] for r in WITH_PII])
def test_personal_data_in_each_message_disappears(row: dict[str, Any]) -> None:
    r = redact(row["text"])
    for kind, sub in row["pii"]:
        assert sub not in r.text, f"{kind} {sub!r} survived: {r.text!r}"
    for keep in row["keep"]:
        assert keep in r.text, f"medical/ordinary text {keep!r} was mangled: {r.text!r}"


@pytest.mark.parametrize("row", WITHOUT_PII, ids=[r["text"][:40] for r in WITHOUT_PII])
def test_message_without_personal_data_comes_back_unchanged(row: dict[str, Any]) -> None:
    r = redact(row["text"])
    assert r.text == row["text"] and r.found == ()


def test_counts_caught_and_missed_per_kind() -> None:
    caught: Counter[str] = Counter()
    missed: Counter[str] = Counter()
    for row in WITH_PII:
        r = redact(row["text"])
        for kind, sub in row["pii"]:
            (caught if _covered_as(r, row["text"], kind, sub) else missed)[kind] += 1
    changed_clean = sum(1 for row in WITHOUT_PII if redact(row["text"]).text != row["text"])
    print()
    print(f"{'kind':<8} {'caught':>6} {'missed':>6}")
    for kind in KINDS:
        print(f"{kind:<8} {caught[kind]:>6} {missed[kind]:>6}")
    print(f"{'total':<8} {sum(caught.values()):>6} {sum(missed.values()):>6}")
    print(f"messages without personal data changed: {changed_clean}/{len(WITHOUT_PII)}")
    assert not missed, f"missed (or wrong kind): {dict(missed)}"
    assert changed_clean == 0


@pytest.mark.parametrize("row", ROWS, ids=[r["text"][:40] for r in ROWS])
def test_found_spans_point_into_the_original_and_rebuild_the_redacted_text(row: dict[str, Any]) -> None:
    text = row["text"]
    r = redact(text)
    pieces, pos = [], 0
    for kind, a, b in r.found:
        assert kind in KINDS and 0 <= pos <= a < b <= len(text)
        assert text[a:b].strip() == text[a:b], "spans are trimmed"
        pieces += [text[pos:a], f"[{kind}]"]
        pos = b
    assert "".join([*pieces, text[pos:]]) == r.text


# --------------------------------------------------------------------------- focused unit tests


def test_placeholders_name_the_kind() -> None:
    r = redact("My name is Ramesh Kumar, my number is 98450 12345")
    assert r.text == "My name is [NAME], my number is [PHONE]"
    assert r.found == (("NAME", 11, 23), ("PHONE", 38, 49))
    assert r.kinds == ("NAME", "PHONE") and r.changed


def test_empty_text_is_returned_as_is() -> None:
    assert redact("") == Redaction(text="", found=())


def test_redacting_twice_changes_nothing_more() -> None:
    for row in ROWS:
        once = redact(row["text"]).text
        assert redact(once).text == once, once


@pytest.mark.parametrize(
    "phone",
    ["+91 98765 43210", "+919876543210", "+91-98765-43210", "0091 98765 43210", "098765 43210",
     "9876543210", "98765 43210", "98765-43210", "987 654 3210", "9876 543 210", "0422-2345678",
     "0422 2345678", "(0422) 2345678", "044 2434 5678", "+91 422 234 5678", "+971 50 123 4567",
     "+1 415 555 0132", "6380123456", "7010123456"],
)
def test_indian_and_international_phone_formats_are_redacted(phone: str) -> None:
    r = redact(f"call me on {phone} after 5 pm")
    assert r.text == "call me on [PHONE] after 5 pm"


def test_phone_followed_by_other_numbers_keeps_them() -> None:
    assert redact("+91 98765 43210 10 am is fine").text == "[PHONE] 10 am is fine"


@pytest.mark.parametrize("number", ["2345 6789 0123", "2345-6789-0123", "234567890123"])
def test_aadhaar_numbers_are_redacted(number: str) -> None:
    assert redact(f"my aadhaar is {number}").text == "my aadhaar is [AADHAAR]"


def test_aadhaar_cannot_start_with_0_or_1() -> None:
    assert "[AADHAAR]" not in redact("ref 1234 5678 9012").text


def test_twelve_digits_starting_91_and_a_mobile_is_a_phone_unless_called_aadhaar() -> None:
    assert redact("919876543210").text == "[PHONE]"
    assert redact("aadhaar 919876543210").text == "aadhaar [AADHAAR]"


@pytest.mark.parametrize("pan", ["ABCPK1234F", "abcpk1234f", "AFZPK7190K"])
def test_pan_is_redacted(pan: str) -> None:
    assert redact(f"PAN {pan} please").text == "PAN [PAN] please"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DOB 12/03/1985", "DOB [DOB]"),
        ("dob: 12-03-85", "dob: [DOB]"),
        ("born on 3rd March 1985", "born on [DOB]"),
        ("born in 1958", "born in [DOB]"),
        ("DOB 1960-01-01", "DOB [DOB]"),
        ("seen on 26/01", "seen on [DOB]"),
        ("come on June 5th", "come on [DOB]"),
        ("janam tithi 15.08.1962", "janam tithi [DOB]"),
    ],
)
def test_dates_of_birth_and_other_dates_are_redacted(text: str, expected: str) -> None:
    assert redact(text).text == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("door no 45/2, Kamarajar Road, Ukkadam, Coimbatore - 641001", "[ADDRESS]"),
        ("Flat 3B, Sri Sai Apartments, Avinashi Road", "[ADDRESS]"),
        ("#14, 2nd Main, HSR Layout, Bangalore 560102", "[ADDRESS]"),
        ("pincode 641045", "pincode [ADDRESS]"),
        ("I live at 24, 3rd Cross, Vadavalli. Is there parking?", "I live at [ADDRESS]. Is there parking?"),
        ("I stay near Gandhipuram bus stand, is there parking?", "I stay near [ADDRESS], is there parking?"),
    ],
)
def test_addresses_and_pin_codes_are_redacted(text: str, expected: str) -> None:
    assert redact(text).text == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I stay near Gandhipuram bus stand can I come by bus after the block",
         "I stay near [ADDRESS] can I come by bus after the block"),
        ("door no 45, Kamarajar Road, Is it safe to drive after the block?",
         "[ADDRESS], Is it safe to drive after the block?"),
        ("my address is 12 Gandhi Road Coimbatore what should I bring", "my address is [ADDRESS] what should I bring"),
        ("I live at Vadavalli, near the temple. can I eat before the block",
         "I live at [ADDRESS]. can I eat before the block"),
        ("I live at 24, 3rd Cross, Vadavalli, Coimbatore, What should I eat before?",
         "I live at [ADDRESS], What should I eat before?"),
        ("Flat 3B, Sri Sai Apartments, Avinashi Road, Do I need to fast?", "[ADDRESS], Do I need to fast?"),
        ("address: 5 Lake View Road how long is recovery", "address: [ADDRESS] how long is recovery"),
        ("I live at 12 R.S. Puram main road. ok", "I live at [ADDRESS]. ok"),
    ],
)
def test_an_address_never_swallows_the_rest_of_the_question(text: str, expected: str) -> None:
    assert redact(text).text == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("UHID 12345, next visit?", "UHID [ID], next visit?"),
        ("patient id: APC-2023-0042", "patient id: [ID]"),
        ("MRN 778899", "MRN [ID]"),
        ("IP number 2023/4567", "IP number [ID]"),
        ("OP no 4521", "OP no [ID]"),
        ("ABHA 12-3456-7890-1234", "ABHA [ID]"),
        ("ref APC-2022-0901", "ref [ID]"),
    ],
)
def test_hospital_and_patient_ids_are_redacted(text: str, expected: str) -> None:
    assert redact(text).text == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my name is ramesh kumar", "my name is [NAME]"),
        ("I am Anitha, I had RFA", "I am [NAME], I had RFA"),
        ("this is Balaji here", "this is [NAME] here"),
        ("mera naam Suresh hai", "mera naam [NAME] hai"),
        ("Mrs. Lakshmi Narayanan called", "Mrs. [NAME] called"),
        ("Dr. K. S. Mohan said so", "Dr. [NAME] said so"),
        ("Shri R. Venkatesh", "Shri [NAME]"),
        ("Smt. Kamala Devi", "Smt. [NAME]"),
        ("my wife Geetha had the block", "my wife [NAME] had the block"),
        ("Thanks,\nDeepa", "Thanks,\n[NAME]"),
    ],
)
def test_names_introduced_as_such_are_redacted(text: str, expected: str) -> None:
    assert redact(text).text == expected


@pytest.mark.parametrize(
    "text",
    [
        "I am diabetic", "I am Diabetic and hypertensive", "I am Fine now", "I am Having severe pain",
        "I am Tamil speaking", "I am a 45 year old woman", "I am 65 years old", "This is my second injection",
        "I am Comfortable now", "This is Painful", "Thanks doctor", "I am Type 2 diabetic",
    ],
)
def test_common_words_after_i_am_or_this_is_are_not_names(text: str) -> None:
    assert redact(text).text == text


@pytest.mark.parametrize(
    "text",
    [
        "L4-L5 disc bulge", "pain for 12 – 18 hours", "after 24 hours", "2 tablets of 5 mg", "BP 140/90",
        "pain 7/10", "Take 1-0-1 after food", "C5-C6 and C6-C7", "HbA1c 6.5", "Rs 15000", "₹1,50,000",
        "platelets 250000", "Dolo 650 at 8 pm", "flight at 6:45", "I walked 5000 steps", "Vitamin D 15 ng/ml",
        "2-3 weeks", "0.5 ml at 2 levels", "108 or 112", "I had a 2 wheeler road accident",
        "I had 2 nerve blocks and 1 RFA", "March 2023", "Can I miss one dose?",
    ],
)
def test_medical_content_and_ordinary_numbers_are_left_alone(text: str) -> None:
    assert redact(text).text == text


@pytest.mark.parametrize(
    "text",
    ["9" * 5000, "1 " * 5000, "a@" * 3000, "Mr " * 3000, "12/" * 3000, "No. 1 " * 2000, "I am A " * 2000],
)
def test_long_or_repetitive_input_is_redacted_whole(text: str) -> None:
    # how long it takes is measured by bench/bench_safety.py (no wall-clock limits in correctness tests)
    assert len(redact(text).text) > 0
