"""Structure-aware chunking.

A section is a heading (often a patient question) plus the text up to the next heading. A section
that fits in ``max_chars`` is one chunk, heading included. A longer one is packed into chunks of whole
sentences, breaking preferably at paragraph boundaries, with ``overlap`` sentences repeated when a
break falls inside a paragraph. Every chunk keeps its page offsets: ``page.text[c.start:c.end] == c.text``.
"""

from __future__ import annotations

from dataclasses import dataclass

from qa.domain import Chunk, Heading, Page, Span, content_hash
from qa.text import line_spans, sentence_spans


@dataclass(frozen=True, slots=True)
class _Unit:
    span: Span
    paragraph: int  # index of the line (paragraph / list item) it belongs to


@dataclass(frozen=True, slots=True)
class Section:
    heading: Heading | None
    start: int  # start of the body (after the heading line)
    end: int


def sections(page: Page) -> list[Section]:
    """Split the page into (heading, body) sections; text before the first heading has no heading."""
    heads = sorted(page.headings, key=lambda h: h.start)
    out: list[Section] = []
    first = heads[0].start if heads else len(page.text)
    if page.text[:first].strip():
        out.append(Section(None, 0, first))
    for i, h in enumerate(heads):
        end = heads[i + 1].start if i + 1 < len(heads) else len(page.text)
        out.append(Section(h, h.end, end))
    return out


def _units(text: str, start: int, end: int) -> list[_Unit]:
    units: list[_Unit] = []
    for p, line in enumerate(line_spans(text, start, end)):
        units.extend(_Unit(s, p) for s in sentence_spans(text, line.start, line.end))
    return units


def chunk_page(page: Page, max_chars: int = 900, overlap: int = 1) -> list[Chunk]:
    if max_chars < 50:
        raise ValueError("max_chars must be at least 50")
    text = page.text
    chunks: list[Chunk] = []
    for sec in sections(page):
        title = text[sec.heading.start : sec.heading.end] if sec.heading else ""
        head_span = Span(sec.heading.start, sec.heading.end) if sec.heading else None
        units = _units(text, sec.start, sec.end)
        if not units:
            continue
        groups = _pack(units, max_chars, overlap, head_len=len(title))
        for gi, group in enumerate(groups):
            include_heading = gi == 0 and head_span is not None
            start = head_span.start if include_heading and head_span else group[0].span.start
            end = group[-1].span.end
            chunks.append(
                Chunk(
                    chunk_id=content_hash(page.doc_id, str(start), str(end), text[start:end]),
                    doc_id=page.doc_id,
                    start=start,
                    end=end,
                    text=text[start:end],
                    section=title,
                    sentences=tuple(u.span for u in group),
                    heading=head_span,
                    position=len(chunks),
                )
            )
    return chunks


def _pack(units: list[_Unit], max_chars: int, overlap: int, head_len: int) -> list[list[_Unit]]:
    """Greedy packing of sentences into groups of at most ``max_chars`` characters."""
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    budget = max_chars - head_len

    def size(group: list[_Unit]) -> int:
        return group[-1].span.end - group[0].span.start if group else 0

    i = 0
    while i < len(units):
        unit = units[i]
        candidate = [*current, unit]
        if not current or size(candidate) <= budget:
            current = candidate
            i += 1
            continue
        # The next sentence does not fit. Prefer to end the group at the last paragraph boundary,
        # if that keeps at least half the budget used; otherwise cut here with overlap.
        cut = len(current)
        for j in range(len(current) - 1, 0, -1):
            if current[j].paragraph != current[j - 1].paragraph:
                if size(current[:j]) >= budget // 2:
                    cut = j
                break
        groups.append(current[:cut])
        rest = current[cut:]
        if rest:
            current = rest
        else:
            carried = current[-overlap:] if overlap and unit.paragraph == current[-1].paragraph else []
            current = carried if len(carried) < len(groups[-1]) else []
        budget = max_chars
    if current:
        groups.append(current)
    return groups
