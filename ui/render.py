"""HTML for the UI, built from the engine's objects. Pure functions: no Gradio, no I/O.

Every piece of corpus or user text goes through :func:`esc` before it is put into HTML (the chat and the
search results are HTML; Gradio's sanitiser is a second line of defence, not the first). Links are only
ever ``http(s)`` URLs from a page's front matter, ``tel:`` links built from configured phone numbers, or
this server's own ``/pages/…`` view of a page.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from urllib.parse import quote

from qa.domain import Answer, Citation, DocumentInfo, Page, Reason, SearchHit

PAGES_PATH = "/pages"

_SLUG = re.compile(r"[^a-z0-9]+")
_PHONE = re.compile(r"[^0-9+]")


def esc(text: str) -> str:
    """HTML-escape text (quotes too, so it is safe inside attribute values)."""
    return html.escape(text, quote=True)


def multiline(text: str) -> str:
    """Escaped text with its line breaks kept (one line of HTML: no blank lines for Markdown to split)."""
    return "<br>".join(esc(line) for line in text.split("\n"))


def slug(text: str) -> str:
    """An anchor id for a section heading: lower-case words joined by hyphens."""
    return _SLUG.sub("-", text.casefold()).strip("-") or "top"


def page_link(doc_id: str, section: str = "", url: str | None = None) -> str:
    """Where a citation points: the page's own web address when its front matter has an http(s) one,
    else this server's view of the page, at the section."""
    if url and url.lower().startswith(("https://", "http://")):
        return url
    anchor = f"#{slug(section)}" if section else ""
    return f"{PAGES_PATH}/{quote(doc_id, safe='')}{anchor}"


def tel_link(phone: str, *, css: str = "") -> str:
    number = _PHONE.sub("", phone)
    cls = f' class="{css}"' if css else ""
    return f'<a{cls} href="tel:{esc(number)}">{esc(phone)}</a>'


def badge(synthetic: bool) -> str:
    if not synthetic:
        return ""
    return (' <span class="cqa-badge" title="Written for this demo; not the clinic\'s advice">'
            "Sample content</span>")


def highlighted(text: str, start: int, end: int) -> str:
    """``text`` escaped, with ``text[start:end]`` in a <mark>. Offsets out of range are clamped."""
    start = max(0, min(len(text), start))
    end = max(start, min(len(text), end))
    return f"{multiline(text[:start])}<mark>{multiline(text[start:end])}</mark>{multiline(text[end:])}"


def source_line(citation: Citation | None, *, title: str, section: str, doc_id: str, url: str | None,
                synthetic: bool) -> str:
    label = f"{title} › {section}" if section else title
    href = page_link(citation.doc_id if citation else doc_id, section, citation.url if citation else url)
    return (f'<p class="cqa-source">Source: <a href="{esc(href)}" target="_blank" rel="noopener">'
            f"{esc(label)}</a>{badge(synthetic)}</p>")


_LANG_TAG = re.compile(r"[a-z]{2,3}(?:-[A-Z][a-z]{3})?")


def escalation_html(answer: Answer) -> str:
    """An alert: the emergency numbers first, as call links, then the safety rule's message. Nothing
    from the clinic's pages is ever shown with it."""
    esc_ = answer.escalation
    phones = esc_.phones if esc_ is not None else ()
    message = esc_.message if esc_ is not None else answer.message
    # The message may be in Tamil or Hindi (script or Latin letters): say so, for screen readers and fonts.
    lang = esc_.language if esc_ is not None and _LANG_TAG.fullmatch(esc_.language) else "en"
    calls = " ".join(tel_link(p, css="cqa-call") for p in phones)
    first = f'<p class="cqa-call-line">Call {calls}</p>' if calls else ""
    return (f'<div class="cqa-escalation" role="alert"><p class="cqa-alert-title"><strong>This may be an '
            f'emergency.</strong></p>{first}<p class="cqa-escalation-message" lang="{lang}">{esc(message)}</p></div>')


def _language_note(answer: Answer) -> str:
    """For a question in Tamil or Hindi: the note, in that language, that the pages (and the quote) are English."""
    if not answer.note:
        return ""
    return f'<p class="cqa-language-note" lang="{esc(answer.language)}">{esc(answer.note)}</p>'


def abstention_html(answer: Answer, contact: str, clinic_phone: str) -> str:
    """A plain 'not in the pages' (or 'ask your doctor' for a personal medical decision) with the
    clinic's contact. No quote is shown, even when the engine had a low-confidence candidate."""
    if answer.reason == Reason.NEEDS_CLINICIAN:
        head = "This needs your own doctor's advice."
        body = answer.message or contact
    else:
        head = "I can't answer that from the clinic's pages."
        body = contact
    note = _language_note(answer)
    return (f'<div class="cqa-abstain">{note}<p><strong>{esc(head)}</strong></p><p>{esc(body)}</p>'
            f'<p class="cqa-contact">Call the clinic: {tel_link(clinic_phone)}</p></div>')


def answer_html(answer: Answer, *, contact: str, clinic_phone: str) -> str:
    """The chat's reply to one question."""
    if answer.reason == Reason.EMERGENCY or answer.escalation is not None:
        return escalation_html(answer)
    best = answer.best
    if answer.abstained or best is None:
        return abstention_html(answer, contact, clinic_phone)
    passage = best.passage
    citation = answer.citations[0] if answer.citations else None
    synthetic = citation.synthetic if citation is not None else passage.synthetic
    quote_lang = ' lang="en"' if answer.note else ""  # the quote is English, the rest of the reply may not be
    parts = [
        '<div class="cqa-answer">',
        # a question in Tamil or Hindi: say, in that language, that the quote is the pages' English (issue 14)
        _language_note(answer),
        f'<blockquote class="cqa-quote"{quote_lang}>“{esc(best.text)}”</blockquote>',
        source_line(citation, title=passage.title, section=passage.chunk.section, doc_id=passage.doc_id,
                    url=passage.url, synthetic=synthetic),
        '<details class="cqa-passage"><summary>Show the passage</summary>',
        f'<p class="cqa-passage-text">{highlighted(passage.text, best.quote_start, best.quote_end)}</p>',
        "</details>",
    ]
    if answer.reason == Reason.NEEDS_CLINICIAN and answer.message:
        parts.append(f'<p class="cqa-referral">{esc(answer.message)}</p>')
    parts.append(f'<p class="cqa-confidence">Confidence {round(100 * answer.confidence)}%</p></div>')
    return "".join(parts)


def _heading_skip(hit: SearchHit) -> int:
    """Characters at the start of the hit's passage taken by its section heading (shown in the title
    already), with the blank line after it; 0 when the best sentence is the heading itself."""
    c = hit.passage.chunk
    h = c.heading
    if h is None or not c.start <= h.start < h.end <= c.end or hit.highlight.start < h.end:
        return 0
    end = h.end - c.start
    while end < len(c.text) and c.text[end] in " \n\t":
        end += 1
    return end


def copy_text(hit: SearchHit) -> str:
    """What the front desk's copy button puts on the clipboard: the best sentence and its source."""
    p = hit.passage
    sentence = _page_slice(hit)
    where = f"{p.title} › {p.chunk.section}" if p.chunk.section else p.title
    return f"“{sentence.strip()}” ({where})"


def _page_slice(hit: SearchHit) -> str:
    c = hit.passage.chunk
    return c.text[max(0, hit.highlight.start - c.start):max(0, hit.highlight.end - c.start)]


def search_results_html(hits: Sequence[SearchHit], query: str = "") -> str:
    """The front desk's results: each passage with its best sentence highlighted, page, section, last
    reviewed date and a copy button (handled by the results element's click listener)."""
    if not hits:
        return '<p class="cqa-empty" role="status">No passage matches. Try other words or clear the filters.</p>'
    items = []
    for rank, hit in enumerate(hits, start=1):
        p = hit.passage
        c = p.chunk
        skip = _heading_skip(hit)
        text = c.text[skip:]
        start, end = hit.highlight.start - c.start - skip, hit.highlight.end - c.start - skip
        reviewed = p.last_reviewed.isoformat() if p.last_reviewed else "not recorded"
        facets = " · ".join(x for x in (p.procedure, p.category) if x)
        href = page_link(p.doc_id, c.section, p.url)
        section = f" › {esc(c.section)}" if c.section else ""
        items.append(
            f'<li class="cqa-hit"><h2 class="cqa-hit-title">'
            f'<a href="{esc(href)}" target="_blank" rel="noopener">{esc(p.title)}{section}</a>'
            f"{badge(p.synthetic)}</h2>"
            f'<p class="cqa-meta">Last reviewed {esc(reviewed)}{" · " + esc(facets) if facets else ""}</p>'
            f'<p class="cqa-hit-text">{highlighted(text, start, end)}</p>'
            f'<button type="button" class="cqa-copy" data-copy="{esc(copy_text(hit))}" '
            f'aria-label="Copy answer {rank}">Copy answer</button></li>'
        )
    return (f'<ol class="cqa-hits" aria-label="Matching passages" data-query="{esc(query)}">'
            f'{"".join(items)}</ol>')


def page_html(page: Page, info: DocumentInfo | None, clinic_name: str) -> str:
    """A stand-alone HTML view of one corpus page, with an anchor on every section heading."""
    reviewed = page.last_reviewed.isoformat() if page.last_reviewed else "not recorded"
    sample = ('<p class="badge">Sample content written for this demo — not the clinic\'s advice.</p>'
              if page.synthetic else "")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(page.title)} — {esc(clinic_name)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:1.5rem auto;padding:0 1rem;"
        "line-height:1.55;color:#1f2937}.badge{background:#fef3c7;color:#78350f;padding:.4rem .6rem;"
        "border-radius:.3rem}:target{background:#fef9c3}.meta{color:#4b5563}</style></head><body><main>"
        f"<h1>{esc(page.title)}</h1>{sample}"
        f'<p class="meta">{esc(clinic_name)} · last reviewed {esc(reviewed)}</p>'
        f"{page_body_html(page)}</main></body></html>"
    )


def page_body_html(page: Page, *, top_level: int = 2) -> str:
    """The page's sections as HTML (headings from ``top_level`` down, each with an anchor)."""
    body: list[str] = []
    pos = 0
    text = page.text
    for h in sorted(page.headings, key=lambda h: h.start):
        if h.start < pos:
            continue
        body.append(_paragraphs(text[pos:h.start]))
        heading = text[h.start:h.end].strip()
        level = min(6, max(top_level, h.level + top_level - 2))
        body.append(f'<h{level} id="{esc(slug(heading))}">{esc(heading)}</h{level}>')
        pos = h.end
    body.append(_paragraphs(text[pos:]))
    return "".join(body)


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{multiline(p.strip())}</p>" for p in re.split(r"\n\s*\n", text) if p.strip())
