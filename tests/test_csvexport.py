"""CSV exports are safe to open in a spreadsheet: OWASP's rule against formula injection, in every export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from qa.coverage import CoverageMap, SectionCoverage
from qa.coverage import to_csv as coverage_csv
from qa.csvexport import safe_cell, to_csv
from qa.lint import LintFinding, Severity
from qa.lint import to_csv as lint_csv

EVIL = '=HYPERLINK("http://evil.example","click")'


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("text", [EVIL, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)", "\t=1+1", "\r=1+1", "-1"])
def test_text_that_a_spreadsheet_would_run_is_prefixed_with_a_quote(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["will my leg feel weak?", "", "a=b", "L4-L5", " =1", "'=already text"])
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert safe_cell(text) == text


@pytest.mark.parametrize("number", [-0.5, -3, 0, 1.25, True, np.float64(-0.25), np.int64(-7)])
def test_the_tools_own_numbers_stay_numbers(number: object) -> None:
    assert safe_cell(number) is number


def test_none_is_an_empty_cell_and_the_header_is_checked_too() -> None:
    assert rows_of(to_csv(["a", "=b"], [[None, EVIL, -0.5]])) == [["a", "'=b"], ["", "'" + EVIL, "-0.5"]]


def test_coverage_csv_neutralises_a_formula_in_a_page_title() -> None:
    cmap = CoverageMap(
        pages=(), sections=(SectionCoverage("p", EVIL, "-Aftercare", synthetic=False, answered=1,
                                            mean_confidence=-0.5, min_confidence=None),),
        generated_at=datetime(2026, 11, 28, tzinfo=UTC), since=None, index_version="v", total_questions=1,
        answered=1, abstained=0, outside_index=0)
    row = rows_of(coverage_csv(cmap))[1]
    assert row[1] == "'" + EVIL and row[2] == "'-Aftercare" and row[5] == "-0.5" and row[6] == ""


def test_lint_csv_neutralises_formulas_in_messages_and_evidence() -> None:
    finding = LintFinding(rule="conflict", severity=Severity.WARNING, message="@cmd", doc_id="+x",
                          evidence=(EVIL, "plain"))
    row = rows_of(lint_csv([finding]))[1]
    assert row[2] == "'+x" and row[4] == "'@cmd" and row[6] == "'" + EVIL + " | plain"


def test_the_content_teams_abstention_download_uses_the_safe_writer() -> None:
    from ui.content import abstention_csv

    frame = pd.DataFrame({"day": [pd.Timestamp("2026-11-27")], "questions": [np.int64(4)],
                          "abstained": [np.int64(1)], "rate": [25.0]})
    assert rows_of(abstention_csv(frame)) == [["day", "questions", "abstained", "abstention_rate"],
                                              ["2026-11-27", "4", "1", "0.25"]]
