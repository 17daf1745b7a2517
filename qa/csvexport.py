"""CSV text for spreadsheets, safe against formula injection. Every CSV export goes through :func:`to_csv`.

Patients type the questions that reach the gap report, and the content team opens its CSV in a
spreadsheet, which runs a cell such as ``=HYPERLINK("http://evil.example","click")`` as a formula.
OWASP's rule ("CSV Injection"): a text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is prefixed with a single quote, so the spreadsheet shows it as text.

Numbers (``int``, ``float``, ``bool``, numpy scalars: anything :class:`numbers.Number`) are written
as they are: they are the tool's own computed columns (counts, scores, rates), never patient text, and
a spreadsheet reads ``-0.5`` as a number, not a formula; prefixing them would turn them into text and
break sorting and sums. A *string* that looks like a number (``"-1"`` typed by someone) is still
prefixed. ``defusedcsv`` was considered: it leaves cells starting with a tab or carriage return alone
and rewrites ``|`` inside them, so it does not implement the rule above.
"""

from __future__ import annotations

import csv
import io
import numbers
from collections.abc import Iterable, Sequence

__all__ = ["FORMULA_TRIGGERS", "safe_cell", "to_csv"]

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """``value`` as a spreadsheet should receive it: numbers unchanged, ``None`` as an empty cell, text
    that a spreadsheet would run as a formula prefixed with ``'``."""
    if value is None:
        return ""
    if isinstance(value, numbers.Number):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def to_csv(columns: Sequence[str], rows: Iterable[Iterable[object]]) -> str:
    """CSV text (``\\n`` line ends) of a header and rows, every cell passed through :func:`safe_cell`."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([safe_cell(c) for c in columns])
    w.writerows([safe_cell(v) for v in row] for row in rows)
    return buf.getvalue()
