"""Reading the corpus: every format, verbatim text, heading spans, and clear errors for bad input."""

from __future__ import annotations

import json
import logging
import unicodedata
from datetime import date
from pathlib import Path

import pytest

from qa.domain import Heading, Page
from qa.errors import IngestError
from qa.ingest import (
    IngestResult,
    detect_headings,
    load_corpus,
    parse_html,
    parse_jsonl,
    parse_markdown,
    parse_plain_text,
)

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
CORPUS = FIXTURES / "corpus"
SEED = CORPUS / "iliopsoas-injection.txt"
# The shared evaluation data sits beside the repository (../shared), wherever it is checked out.
EVAL_CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "dev" / "corpus.jsonl"


@pytest.fixture(scope="module")
def corpus() -> IngestResult:
    return load_corpus(CORPUS)


def page_of(result: IngestResult, doc_id: str) -> Page:
    return next(p for p in result.pages if p.doc_id == doc_id)


def heading_texts(page: Page) -> list[str]:
    return [page.text[h.start:h.end] for h in page.headings]


def assert_headings_are_whole_lines(page: Page) -> None:
    for h in page.headings:
        line = page.text[h.start:h.end]
        assert line and line == line.strip(), (page.doc_id, h)
        assert "\n" not in line
        assert h.start == 0 or page.text[h.start - 1] == "\n"
        assert h.end == len(page.text) or page.text[h.end] == "\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------------
# Folder loading
# --------------------------------------------------------------------------------------------------


def test_folder_loads_every_format_sorted_by_doc_id(corpus: IngestResult) -> None:
    assert corpus.errors == ()
    assert [p.doc_id for p in corpus.pages] == [
        "facet-joint-injection",
        "faq-driving",
        "faq-fasting",
        "genicular-nerve-block",
        "iliopsoas-injection",
    ]
    sources = {p.doc_id: p.source for p in corpus.pages}
    assert sources["genicular-nerve-block"] == "procedures/genicular-nerve-block.md"
    assert sources["facet-joint-injection"] == "facet-joint-injection.html"
    assert sources["iliopsoas-injection"] == "iliopsoas-injection.txt"
    assert sources["faq-fasting"] == "faq.jsonl:1"
    assert sources["faq-driving"] == "faq.jsonl:2"


def test_hidden_files_hidden_folders_and_readme_files_are_skipped(corpus: IngestResult) -> None:
    titles = {p.title for p in corpus.pages}
    assert not titles & {"Hidden notes", "Draft", "Corpus folder", "Procedures"}
    assert all(not p.source.startswith(".") and "README" not in p.source for p in corpus.pages)


def test_single_file_path_loads_that_file_with_its_name_as_source() -> None:
    result = load_corpus(SEED)
    assert [p.doc_id for p in result.pages] == ["iliopsoas-injection"]
    assert result.pages[0].source == "iliopsoas-injection.txt"


def test_heading_spans_round_trip_to_whole_lines_for_every_format(corpus: IngestResult) -> None:
    for page in corpus.pages:
        assert_headings_are_whole_lines(page)
    assert sum(len(p.headings) for p in corpus.pages) == 8


def test_page_text_is_normalised_except_for_jsonl(corpus: IngestResult) -> None:
    for page in corpus.pages:
        if ".jsonl:" in page.source:
            continue
        assert page.text == page.text.strip()
        assert "\n\n\n" not in page.text and "\r" not in page.text
        assert all(line == line.rstrip() for line in page.text.split("\n"))
        assert unicodedata.is_normalized("NFC", page.text)


# --------------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------------


def test_markdown_front_matter_fields_are_read(corpus: IngestResult) -> None:
    page = page_of(corpus, "genicular-nerve-block")
    assert page.title == "Genicular Nerve Block"
    assert page.url == "https://atlaspaincare.example/genicular-nerve-block/"
    assert page.procedure == "genicular nerve block"
    assert page.category == "procedures"
    assert page.last_reviewed == date(2024, 5, 1)
    assert page.synthetic is True


def test_markdown_title_h1_is_not_repeated_and_markup_is_removed(corpus: IngestResult) -> None:
    page = page_of(corpus, "genicular-nerve-block")
    assert page.text.startswith("What is a genicular nerve block?\n\n")
    assert "Genicular Nerve Block" not in page.text
    for markup in ("**", "_chronic", "](", "![", "<!--", "#", "Knee diagram", "* Tell", "+ Eat"):
        assert markup not in page.text
    assert "- Tell us if you take blood thinners (for example, warfarin or clopidogrel).\n" in page.text
    assert "- Bring your recent X-rays and blood reports.\n- Eat a light meal 2 hours before." in page.text


def test_markdown_paragraphs_keep_their_words_punctuation_and_lines(corpus: IngestResult) -> None:
    page = page_of(corpus, "genicular-nerve-block")
    assert (
        "A genicular nerve block is an injection of local anaesthetic around the small nerves "
        "that carry pain\nsignals from the knee. It is used for chronic knee pain – for example, "
        "from osteoarthritis."
    ) in page.text
    assert "The procedure takes about 20 minutes; you can go home the same day." in page.text


def test_markdown_headings_have_their_levels(corpus: IngestResult) -> None:
    page = page_of(corpus, "genicular-nerve-block")
    assert [(page.text[h.start:h.end], h.level) for h in page.headings] == [
        ("What is a genicular nerve block?", 2),
        ("How should I prepare?", 2),
        ("On the day", 3),
    ]


def test_markdown_without_front_matter_uses_h1_title_and_file_stem_id() -> None:
    text = "# Knee Pain\r\n\r\nRest helps.  \r\n\r\n\r\n\r\nIce helps too.\r\n"
    page = parse_markdown(text, "k.md", "knee-pain")
    assert (page.doc_id, page.title) == ("knee-pain", "Knee Pain")
    assert page.text == "Rest helps.\n\nIce helps too."
    assert page.headings == ()


def test_markdown_title_falls_back_to_first_line_then_file_stem() -> None:
    assert parse_markdown("Short first line\n\nBody.", "a.md", "a").title == "Short first line"
    assert parse_markdown("word " * 40, "b.md", "b-stem").title == "b-stem"


def test_markdown_inline_rules_keep_literal_characters() -> None:
    text = (
        "# T\n\n"
        "Take 2 * 5 mg in snake_case_name, \\*not emphasis\\*, `a_b*c*` and ***both***.\n"
        "See [the guide](https://x.example/a_(b)) or <https://x.example/>; fish &amp; chips.\n\n"
        "```\ncode *kept* as is\n```\n\n"
        "Setext Heading\n--------------\n\nBody.\n"
    )
    page = parse_markdown(text, "m.md", "m")
    assert page.text.split("\n\n") == [
        "Take 2 * 5 mg in snake_case_name, *not emphasis*, a_b*c* and both.\n"
        "See the guide or https://x.example/; fish & chips.",
        "code *kept* as is",
        "Setext Heading",
        "Body.",
    ]
    assert heading_texts(page) == ["Setext Heading"]


def test_markdown_front_matter_date_is_a_date_and_doc_id_overrides_stem() -> None:
    page = parse_markdown("---\ndoc_id: 42\nlast_reviewed: '2023-12-31'\n---\nBody.", "x.md", "x")
    assert page.doc_id == "42"
    assert page.last_reviewed == date(2023, 12, 31)
    assert page.synthetic is False


# --------------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------------


def test_html_keeps_main_text_and_drops_site_noise(corpus: IngestResult) -> None:
    page = page_of(corpus, "facet-joint-injection")
    for noise in (
        "Home", "Treatments", "Atlas Pain Care", "Share on WhatsApp", "Call me back", "Your phone",
        "Related treatments", "Radiofrequency", "cookies", "JavaScript", "rights reserved", "dataLayer",
        "display: flex", "Book now",
    ):
        assert noise not in page.text, noise


def test_html_title_url_headings_paragraphs_and_list_items(corpus: IngestResult) -> None:
    page = page_of(corpus, "facet-joint-injection")
    assert page.title == "Facet Joint Injection"
    assert page.url == "https://atlaspaincare.example/facet-joint-injection/"  # canonical beats og:url
    assert heading_texts(page) == ["Who is it for?", "What happens during the procedure?"]
    assert page.text.split("\n\n") == [
        "Facet joints are the small joints at the back of your spine. A facet joint injection places local "
        "anaesthetic and a steroid into or around these joints.",
        "Who is it for?",
        "It helps people whose back or neck pain comes from the facet joints & has not improved with "
        "medicines and physiotherapy.",
        "What happens during the procedure?",
        "- You lie on your tummy on the X-ray table.\n"
        "- The skin is numbed with local anaesthetic.\n"
        "- The needle is guided into place under X-ray control.",
    ]


def test_html_without_main_uses_body_title_tag_and_og_url() -> None:
    html = (
        "<html><head><title>Knee Pain</title><meta property='og:url' content='https://x.example/knee'>"
        "</head><body><div class='navbar'>Menu items</div><div id='page-footer'>Footer text</div>"
        "<div class='has-sidebar'><h3>Rest</h3><div>Rest the knee.<br>Use ice.</div>"
        "<p hidden>Hidden text</p><!-- comment --></div></body></html>"
    )
    page = parse_html(html, "k.html", "knee")
    assert (page.doc_id, page.title, page.url) == ("knee", "Knee Pain", "https://x.example/knee")
    assert page.text == "Rest\n\nRest the knee.\nUse ice."
    assert [(page.text[h.start:h.end], h.level) for h in page.headings] == [("Rest", 3)]


def test_html_list_items_get_one_bullet_even_with_inner_paragraphs_or_breaks() -> None:
    html = (
        "<main><p>Bring:</p><ul><li><p>Your reports</p></li><li>Your medicines<br>and their doses</li>"
        "<li>Glasses<ul><li>reading glasses</li></ul></li></ul><p>Thank you.</p></main>"
    )
    page = parse_html(html, "b.html", "bring")
    assert page.text == (
        "Bring:\n\n- Your reports\n- Your medicines\nand their doses\n- Glasses\n- reading glasses"
        "\n\nThank you."
    )


def test_html_layout_classes_on_body_and_main_do_not_hide_the_content() -> None:
    html = (
        "<body class='sidebar-left header-fixed menu-closed'><div class='site-header'>Logo</div>"
        "<main class='main page-header-offset'><h1>Knee</h1><p>Rest the knee.</p></main></body>"
    )
    page = parse_html(html, "k.html", "knee")
    assert (page.title, page.text) == ("Knee", "Rest the knee.")


def test_html_with_only_navigation_has_no_text() -> None:
    with pytest.raises(IngestError, match="has no text"):
        parse_html("<body><nav>Home</nav><footer>(c)</footer></body>", "n.html", "n")


# --------------------------------------------------------------------------------------------------
# Plain text (the clinic's own page)
# --------------------------------------------------------------------------------------------------


def test_plain_text_first_line_is_title_and_rest_is_verbatim() -> None:
    raw = SEED.read_text(encoding="utf-8")
    page = parse_plain_text(raw, "iliopsoas-injection.txt", "iliopsoas-injection")
    assert (page.doc_id, page.title) == ("iliopsoas-injection", "Iliopsoas Injection")
    source_lines = [line for line in raw.split("\n") if line.strip()]
    assert page.text == "\n".join(source_lines[1:])  # the seed has no trailing spaces or blank lines inside
    assert "12 – 18 hours" in page.text and "do's and don'ts" in page.text


def test_plain_text_question_lines_become_headings() -> None:
    page = parse_plain_text(SEED.read_text(encoding="utf-8"), "s.txt", "s")
    assert heading_texts(page) == [
        "What is Iliopsoas injection?",
        "What should I expect if I am undergoing Iliopsoas injection?",
        "What can I expect after the procedure?",
    ]
    assert all(h.level == 2 for h in page.headings)
    assert_headings_are_whole_lines(page)


def test_plain_text_normalises_line_endings_spaces_blank_runs_and_nfc() -> None:
    text = "\r\n Title \r\nCafe\u0301 opens.   \r\n\r\n\r\n\r\nKey Points\r\nRest."
    page = parse_plain_text(text, "t.txt", "t")
    assert page.title == "Title"
    assert page.text == "Caf\u00e9 opens.\n\nKey Points\nRest."
    assert heading_texts(page) == ["Key Points"]


# --------------------------------------------------------------------------------------------------
# JSONL
# --------------------------------------------------------------------------------------------------


def test_jsonl_text_is_exactly_the_records_text() -> None:
    raw_lines = (CORPUS / "faq.jsonl").read_text(encoding="utf-8").split("\n")
    records = [json.loads(line) for line in raw_lines if line]
    pages, errors = parse_jsonl(CORPUS / "faq.jsonl", "faq.jsonl")
    assert errors == []
    odd = next(r for r in records if r["doc_id"] == "faq-driving")
    assert "  " in odd["text"] and "\u2028" in odd["text"] and "\n\n\n" in odd["text"]
    assert not unicodedata.is_normalized("NFC", odd["text"])
    by_id = {p.doc_id: p for p in pages}
    for record in records:
        assert by_id[record["doc_id"]].text == record["text"]


def test_jsonl_optional_fields_and_url_alias(corpus: IngestResult) -> None:
    fasting = page_of(corpus, "faq-fasting")
    assert fasting.url == "https://atlaspaincare.example/faq/#fasting"
    assert (fasting.category, fasting.synthetic, fasting.last_reviewed) == ("faq", True, date(2024, 4, 2))
    driving = page_of(corpus, "faq-driving")
    assert driving.url == "https://atlaspaincare.example/faq/#driving"
    assert (driving.procedure, driving.synthetic, driving.last_reviewed) == ("any", False, None)


def test_jsonl_only_crlf_is_normalised_and_headings_are_detected(tmp_path: Path) -> None:
    record = {"doc_id": "d", "title": "T", "text": "Intro line.\r\nKey Points\r\nRest well.  \r\n"}
    path = write(tmp_path / "c.jsonl", json.dumps(record) + "\n")
    pages, errors = parse_jsonl(path, "c.jsonl")
    assert errors == []
    assert pages[0].text == "Intro line.\nKey Points\nRest well.  \n"
    assert heading_texts(pages[0]) == ["Key Points"]


def test_jsonl_bad_lines_name_file_and_line_and_other_lines_load(tmp_path: Path) -> None:
    good = {"doc_id": "ok", "title": "OK", "text": "Fine."}
    lines = [
        json.dumps(good),
        "{not json",
        "",
        json.dumps({"doc_id": "x", "text": "No title."}),
        json.dumps({"doc_id": 7, "title": "T", "text": "Wrong type."}),
        json.dumps(["a", "list"]),
        json.dumps({"doc_id": "e", "title": "T", "text": "   "}),
        json.dumps({"doc_id": "d", "title": "T", "text": "x", "last_reviewed": "2024-02-30"}),
        json.dumps({"doc_id": "s", "title": "T", "text": "x", "synthetic": "maybe"}),
        json.dumps({**good, "doc_id": "ok2"}),
    ]
    path = write(tmp_path / "pages.jsonl", "\n".join(lines) + "\n")
    pages, errors = parse_jsonl(path, "pages.jsonl")
    assert [p.doc_id for p in pages] == ["ok", "ok2"]
    messages = [str(e) for e in errors]
    assert messages[0].startswith("pages.jsonl:2: is not valid JSON")
    assert messages[1].startswith("pages.jsonl:4: is missing title")
    assert messages[2].startswith("pages.jsonl:5: field 'doc_id' must be a string")
    assert messages[3].startswith("pages.jsonl:6: must be a JSON object")
    assert messages[4].startswith("pages.jsonl:7: has no text")
    assert messages[5].startswith("pages.jsonl:8: field 'last_reviewed'")
    assert messages[6].startswith("pages.jsonl:9: field 'synthetic'")
    assert [e.source for e in errors] == [f"pages.jsonl:{n}" for n in (2, 4, 5, 6, 7, 8, 9)]


def test_jsonl_empty_title_falls_back_to_doc_id(tmp_path: Path) -> None:
    path = write(tmp_path / "c.jsonl", json.dumps({"doc_id": "d1", "title": " ", "text": "Body."}))
    pages, errors = parse_jsonl(path, "c.jsonl")
    assert (errors, pages[0].title) == ([], "d1")


def test_jsonl_bad_line_is_collected_when_lenient_and_raised_when_strict(tmp_path: Path) -> None:
    path = write(tmp_path / "c.jsonl", json.dumps({"doc_id": "a", "title": "A", "text": "x"}) + "\n{oops\n")
    result = load_corpus(path)
    assert [p.doc_id for p in result.pages] == ["a"]
    assert [e.source for e in result.errors] == ["c.jsonl:2"]
    with pytest.raises(IngestError, match=r"^c\.jsonl:2: is not valid JSON"):
        load_corpus(path, strict=True)


@pytest.mark.skipif(not EVAL_CORPUS.exists(), reason="evaluation corpus not available")
def test_eval_corpus_loads_unchanged() -> None:
    result = load_corpus(EVAL_CORPUS)
    assert len(result.pages) == 1448 and result.errors == ()
    with EVAL_CORPUS.open(encoding="utf-8") as f:
        texts = {r["doc_id"]: r["text"] for r in map(json.loads, f)}
    for page in result.pages:
        assert page.text == texts[page.doc_id]
        assert_headings_are_whole_lines(page)


# --------------------------------------------------------------------------------------------------
# detect_headings
# --------------------------------------------------------------------------------------------------


def detected(text: str) -> list[str]:
    return [text[h.start:h.end] for h in detect_headings(text)]


def test_detect_headings_finds_questions_and_title_like_lines() -> None:
    text = (
        "Intro sentence here.\n"
        "What can I expect after the procedure?\n"
        "Rest for a day.\n\n"
        "Key Points\n"
        "- Most people go home the same day.\n"
        "Major Causes\n"
        "Arthritis is the most common cause of knee pain."
    )
    assert detected(text) == ["What can I expect after the procedure?", "Key Points", "Major Causes"]


def test_detect_headings_spans_are_stripped_lines() -> None:
    text = "  Key Points  \nRest for a day."
    assert detect_headings(text) == (Heading(start=2, end=12, level=2),)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Rest well.\nKey Points", "last line"),
        ("Key Points\n\nRest for a day.", "followed by a blank line"),
        ("Key Points.\nRest for a day.", "ends with a full stop"),
        ("Symptoms include:\nRest for a day.", "ends with a colon"),
        ("key points\nRest for a day.", "does not start with a capital"),
        ("This Line Has Far Too Many Words To Be A Heading\nRest.", "more than 8 words"),
        ("Is " + "very " * 60 + "long?\nRest for a day.", "a question longer than 250 characters"),
        ("Key Points For Patients " + "x" * 80 + "\nRest for a day.", "a title longer than 90 characters"),
        ("- Key Points\nRest for a day.", "list item"),
        ("- Rest\nIce Packs\n- Compression", "between list items"),
        ("You may need:\nBlood Tests\nImaging Tests\nThese help the doctor decide.", "list without markers"),
        ("Risk factors include the\nSmoking Habit\nand obesity, which add up.", "wrapped prose"),
        ("Rest well.\nKey Points\nEchocardiography", "next line is not body text"),
        ("Careful foot care involves\n- cleaning the feet daily", "a sentence introducing a list"),
        ("Rest well.\nHow often?\nWhere does it hurt?\nHow bad is it? Tell us.", "a list of questions"),
    ],
)
def test_detect_headings_is_conservative(text: str, why: str) -> None:
    assert detected(text) == [], why


def test_detect_headings_takes_long_faq_questions() -> None:
    question = ("Should I be tested for the virus if I have no symptoms but was in close contact with someone "
                "who was later diagnosed, or travelled to an area with ongoing community spread?")
    assert 90 < len(question) <= 250
    assert detected(f"Rest well.\n{question}\nYes, call your doctor first.") == [question]


def test_detect_headings_marks_the_title_line_as_a_level_one_heading() -> None:
    text = "Frequently Asked Questions\n\nWhat is it?\nIt is a virus."
    heads = detect_headings(text, "Frequently  asked questions")
    assert [(text[h.start:h.end], h.level) for h in heads] == [
        ("Frequently Asked Questions", 1), ("What is it?", 2)]
    # without the title, or when the first line is not the title, nothing changes
    assert [h.level for h in detect_headings(text)] == [2]
    assert detect_headings("Rest for a day.\nFrequently Asked Questions", "Frequently Asked Questions") == ()


def test_jsonl_page_title_line_is_a_heading_and_not_a_sentence(tmp_path: Path) -> None:
    from qa.chunking import chunk_page

    row = {"doc_id": "faq", "title": "Travel FAQ",
           "text": "Travel FAQ\n\nCan I travel?\nCheck the advice before you go. Carry your papers."}
    (tmp_path / "c.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    page = load_corpus(tmp_path / "c.jsonl").pages[0]
    assert [h.level for h in page.headings] == [1, 2]
    sentences = [page.text[s.start:s.end] for c in chunk_page(page) for s in c.sentences]
    assert sentences == ["Check the advice before you go.", "Carry your papers."]


# --------------------------------------------------------------------------------------------------
# Malformed input
# --------------------------------------------------------------------------------------------------


def test_missing_path_raises_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(IngestError, match="no such file or folder") as info:
        load_corpus(missing)
    assert str(missing) in str(info.value)


def test_unsupported_file_type_passed_directly_raises(tmp_path: Path) -> None:
    path = write(tmp_path / "page.pdf", "%PDF-1.4")
    with pytest.raises(IngestError, match=r"unsupported file type '\.pdf'"):
        load_corpus(path)


def test_unsupported_files_in_a_folder_are_ignored(tmp_path: Path) -> None:
    write(tmp_path / "notes.docx", "binary")
    write(tmp_path / "a.txt", "Title\nBody.")
    result = load_corpus(tmp_path)
    assert ([p.doc_id for p in result.pages], result.errors) == (["a"], ())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("---\ntitle: [unclosed\n---\nBody.", "front matter is not valid YAML"),
        ("---\n- a\n- b\n---\nBody.", "front matter must be 'key: value' lines, not a YAML list"),
        ("---\ntitle: T\nBody without the closing line.", "never closed"),
        ("---\nlast_reviewed: 2024-13-01\n---\nBody.", "field 'last_reviewed' must be a date"),
        ("---\nlast_reviewed: May 2024\n---\nBody.", "field 'last_reviewed' must be a date"),
        ("---\nsynthetic: sometimes\n---\nBody.", "field 'synthetic' must be true or false"),
        ("---\ntitle: [a, b]\n---\nBody.", "field 'title' must be text"),
        ("---\ntitle: Only front matter\n---\n", "has no text"),
        ("# Only a title\n\n<!-- nothing else -->\n", "has no text"),
    ],
)
def test_bad_markdown_raises_an_error_naming_the_file(text: str, expected: str) -> None:
    with pytest.raises(IngestError, match=expected) as info:
        parse_markdown(text, "procedures/bad.md", "bad")
    assert info.value.source == "procedures/bad.md"
    assert str(info.value).startswith("procedures/bad.md: ")


def test_plain_text_with_only_a_title_has_no_text() -> None:
    with pytest.raises(IngestError, match="has no text"):
        parse_plain_text("Just a title\n\n", "t.txt", "t")


def test_non_utf8_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "latin.txt").write_bytes("Title\nCaf\u00e9 opens.".encode("latin-1"))
    result = load_corpus(tmp_path)
    assert result.pages == ()
    assert "latin.txt: is not UTF-8 text" in str(result.errors[0])


def test_lenient_load_continues_past_a_bad_file_and_strict_raises(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "---\nlast_reviewed: yesterday\n---\nBody A.")
    write(tmp_path / "b.md", "# B\n\nBody B.")
    write(tmp_path / "c.txt", "")
    result = load_corpus(tmp_path)
    assert [p.doc_id for p in result.pages] == ["b"]
    assert [e.source for e in result.errors] == ["a.md", "c.txt"]
    with pytest.raises(IngestError, match=r"^a\.md: field 'last_reviewed'"):
        load_corpus(tmp_path, strict=True)


def test_duplicate_doc_id_keeps_the_first_and_names_both_sources(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "---\ndoc_id: knee\n---\n# A\n\nFirst.")
    write(tmp_path / "b" / "knee.txt", "B\nSecond.")
    result = load_corpus(tmp_path)
    assert [(p.doc_id, p.title) for p in result.pages] == [("knee", "A")]
    (error,) = result.errors
    assert error.source == "b/knee.txt"
    assert "duplicate doc_id 'knee'" in str(error) and "a.md" in str(error)
    with pytest.raises(IngestError, match="duplicate doc_id"):
        load_corpus(tmp_path, strict=True)


def test_errors_are_logged_not_printed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "bad.md", "---\n: [\n---\nBody.")
    with caplog.at_level(logging.WARNING, logger="qa.ingest"):
        load_corpus(tmp_path)
    assert "bad.md" in caplog.text
    assert capsys.readouterr().out == ""
