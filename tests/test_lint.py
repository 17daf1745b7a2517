"""Content health lint: each rule on the fixture pages in tests/fixtures/lint (and the real corpus)."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.embedding import Embedder
from qa.errors import InputError
from qa.lint import LintFinding, Severity, conflict, exit_code, lint_corpus, to_csv
from qa.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures" / "lint"
CORPUS = Path(__file__).resolve().parent.parent / "corpus"
TODAY = date(2026, 11, 28)


@pytest.fixture(scope="module")
def embedder(engine) -> Embedder:  # type: ignore[no-untyped-def]
    return engine.embedder  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def findings(embedder: Embedder) -> list[LintFinding]:
    return lint_corpus(Settings(), FIXTURES, today=TODAY, embedder=embedder)


def by_rule(findings: list[LintFinding], rule: str) -> list[LintFinding]:
    return [f for f in findings if f.rule == rule]


def test_missing_front_matter_fields_are_errors_naming_the_fields(findings: list[LintFinding]) -> None:
    missing = by_rule(findings, "missing_field")
    assert [f.doc_id for f in missing] == ["page-c"]
    assert missing[0].severity == Severity.ERROR
    assert "procedure" in missing[0].message and "category" in missing[0].message
    assert "last_reviewed" not in missing[0].message


def test_page_reviewed_longer_ago_than_the_setting_is_stale(findings: list[LintFinding], embedder: Embedder) -> None:
    assert [f.doc_id for f in by_rule(findings, "stale_page")] == ["page-d"]
    longer = lint_corpus(Settings(lint_stale_months=60), FIXTURES, today=TODAY, embedder=embedder)
    assert by_rule(longer, "stale_page") == []
    shorter = lint_corpus(Settings(lint_stale_months=2), FIXTURES, today=TODAY, embedder=embedder)
    assert {f.doc_id for f in by_rule(shorter, "stale_page")} == {"page-b", "page-d"}


def test_near_duplicate_sections_across_pages_are_one_finding(findings: list[LintFinding]) -> None:
    dups = by_rule(findings, "near_duplicate_section") + by_rule(findings, "duplicate_section")
    assert len(dups) == 1
    assert set(dups[0].locations) == {"page-a › What should I wear?", "page-b › What to wear"}


def test_planted_contradictions_are_found(findings: list[LintFinding]) -> None:
    found = by_rule(findings, "possible_contradiction")
    pairs = {frozenset(loc.split(" › ")[0] for loc in f.locations) for f in found}
    assert frozenset({"page-a", "page-b"}) in pairs  # 6 hours vs 2 hours of fasting
    assert frozenset({"page-b", "page-c"}) in pairs  # blood thinners: must be stopped vs don't stop
    numbers = next(f for f in found if {"page-a", "page-b"} == {loc.split(" › ")[0] for loc in f.locations})
    assert "6" in numbers.message and "2" in numbers.message
    assert len(found) == 2


def test_synthetic_pages_are_listed(findings: list[LintFinding]) -> None:
    synthetic = by_rule(findings, "synthetic_page")
    assert [f.doc_id for f in synthetic] == ["page-b"] and synthetic[0].severity == Severity.INFO


def test_conflict_rule_on_sentence_pairs() -> None:
    assert conflict("Fast for six hours before the block.", "Fast for 2 hours before the block.")
    assert conflict("Fast for 6 hours before the block.", "Fast for 6 hours before the block.") is None
    assert conflict("You can drive home after the block.", "You cannot drive home after the block.")
    assert conflict("Rest for 24 hours.", "Don't lift anything heavy for 24 hours.") is None
    assert conflict("The effect lasts 12 – 18 hours.", "The anaesthetic wears off in 18 hours.") is None


def test_clinic_page_and_sample_pages_disagree_about_blood_thinners(embedder: Embedder) -> None:
    found = lint_corpus(Settings(), CORPUS, today=TODAY, embedder=embedder)
    hits = [f for f in by_rule(found, "possible_contradiction")
            if any(e.startswith("Blood thinning medicines must be stopped") for e in f.evidence)]
    assert hits and any("faq-dos-and-donts" in loc for f in hits for loc in f.locations)
    assert len(by_rule(found, "synthetic_page")) == 10
    assert by_rule(found, "missing_field") == []


def test_exit_code_follows_fail_on(findings: list[LintFinding]) -> None:
    assert exit_code(findings, "error") == 1
    assert exit_code(findings, "never") == 0
    warnings_only = [f for f in findings if f.severity != Severity.ERROR]
    assert exit_code(warnings_only, "error") == 0 and exit_code(warnings_only, "warning") == 1


def test_csv_export_has_a_header_and_one_row_per_finding(findings: list[LintFinding]) -> None:
    import csv
    import io

    rows = list(csv.reader(io.StringIO(to_csv(findings))))
    assert rows[0] == ["severity", "rule", "doc_id", "source", "message", "locations", "evidence"]
    assert len(rows) == len(findings) + 1


def test_missing_corpus_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="No corpus"):
        lint_corpus(Settings(), tmp_path / "nope")


def test_lint_corpus_command(tmp_path: Path) -> None:
    runner = CliRunner()
    corpus = tmp_path / "corpus"
    shutil.copytree(FIXTURES, corpus)
    res = runner.invoke(app, ["lint-corpus", "--corpus", str(corpus), "--format", "json"])
    assert res.exit_code == 1, res.output  # page-c lacks required fields
    rules = {f["rule"] for f in json.loads(res.stdout)}
    assert {"missing_field", "stale_page", "possible_contradiction", "synthetic_page"} <= rules
    (corpus / "page-c.md").unlink()
    ok = runner.invoke(app, ["lint-corpus", "--corpus", str(corpus)])
    assert ok.exit_code == 0 and "Sample content" in ok.stdout
    assert runner.invoke(app, ["lint-corpus", "--corpus", str(corpus), "--fail-on", "warning"]).exit_code == 1
    bad = runner.invoke(app, ["lint-corpus", "--corpus", str(tmp_path / "missing")])
    assert bad.exit_code == 2 and "No corpus" in bad.output and "Traceback" not in bad.output
    assert runner.invoke(app, ["lint-corpus", "--stale-months", "0"]).exit_code == 2
