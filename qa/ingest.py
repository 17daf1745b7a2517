"""Read the corpus: Markdown, HTML, plain text and JSONL pages become :class:`~qa.domain.Page` objects.

Every format ends up as plain text whose words and punctuation are the source's own (patients are
quoted verbatim), with section headings recorded as character spans of whole lines of ``Page.text``.

* Markdown / HTML / plain text: Unicode NFC, ``\\r\\n`` -> ``\\n``, trailing spaces stripped,
  runs of blank lines collapsed to one; markup removed.
* JSONL: the record's ``text`` is kept exactly as it is (only ``\\r\\n`` -> ``\\n``), because answer
  offsets are checked against it downstream.

Problems are reported as :class:`~qa.errors.IngestError` (one per file, or per line for JSONL);
:func:`load_corpus` collects them, or raises the first one with ``strict=True``.
"""

from __future__ import annotations

import html
import json
import logging
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import frontmatter
import yaml
from frontmatter.default_handlers import YAMLHandler
from selectolax.lexbor import LexborHTMLParser, LexborNode

from qa.domain import Heading, Page
from qa.errors import IngestError

logger = logging.getLogger(__name__)

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
TEXT_SUFFIXES = frozenset({".txt"})
JSONL_SUFFIXES = frozenset({".jsonl"})
SUPPORTED_SUFFIXES = MARKDOWN_SUFFIXES | HTML_SUFFIXES | TEXT_SUFFIXES | JSONL_SUFFIXES

MAX_HEADING_CHARS = 90
# FAQ pages ask long questions ("Should I be tested for COVID-19 if I have no symptoms but was in contact
# with ...?": up to ~210 characters in the CDC FAQ); a question line followed by its answer is a heading.
MAX_QUESTION_HEADING_CHARS = 250
MAX_TITLE_WORDS = 8
_MAX_FIRST_LINE_TITLE = 120


@dataclass(frozen=True)
class IngestResult:
    pages: tuple[Page, ...]
    # files / JSONL lines that could not be read (each names the file, and the line for JSONL)
    errors: tuple[IngestError, ...]


# --------------------------------------------------------------------------------------------------
# Loading a folder or a file
# --------------------------------------------------------------------------------------------------


def load_corpus(path: Path, *, strict: bool = False) -> IngestResult:
    """Load every page under ``path`` (a folder, searched recursively, or a single supported file).

    Hidden files/folders and README files are skipped. Pages are sorted by ``doc_id``; a page whose
    ``doc_id`` was already seen is reported as an error (naming both sources) and left out.
    A missing path, or a single file of an unsupported kind, always raises :class:`IngestError`.
    """
    started = time.perf_counter()
    path = Path(path)
    if not path.exists():
        raise IngestError(
            str(path), "no such file or folder; check the corpus path (CLINICQA_CORPUS_DIR or --corpus)"
        )
    if path.is_dir():
        root = path
        files = list(_corpus_files(path))
        if not files:
            logger.warning("%s: no corpus files found (%s)", path, ", ".join(sorted(SUPPORTED_SUFFIXES)))
    else:
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise IngestError(
                str(path),
                f"unsupported file type {path.suffix or '(none)'!r}; use one of "
                f"{', '.join(sorted(SUPPORTED_SUFFIXES))}",
            )
        root = path.parent
        files = [path]

    pages: list[Page] = []
    errors: list[IngestError] = []

    def report(err: IngestError) -> None:
        if strict:
            raise err
        logger.warning("skipped: %s", err)
        errors.append(err)

    seen: dict[str, str] = {}
    for file in files:
        source = file.relative_to(root).as_posix()
        file_pages, file_errors = _load_file(file, source)
        for err in file_errors:
            report(err)
        for page in file_pages:
            first = seen.get(page.doc_id)
            if first is not None:
                report(IngestError(
                    page.source,
                    f"duplicate doc_id {page.doc_id!r} (already used by {first}); "
                    "give each page its own doc_id",
                ))
                continue
            seen[page.doc_id] = page.source
            pages.append(page)

    pages.sort(key=lambda p: p.doc_id)
    logger.info(
        "loaded %d pages from %d files in %s (%d errors, %.2fs)",
        len(pages), len(files), path, len(errors), time.perf_counter() - started,
    )
    return IngestResult(pages=tuple(pages), errors=tuple(errors))


def corpus_files(path: Path) -> list[Path]:
    """The files ``load_corpus(path)`` reads: ``path`` itself if it is a file, else the supported files."""
    path = Path(path)
    return [path] if path.is_file() else list(_corpus_files(path))


def _corpus_files(root: Path) -> Iterator[Path]:
    """Supported files under ``root``, sorted, without hidden files/folders or README files."""
    for file in sorted(root.rglob("*")):
        rel = file.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if file.suffix.lower() not in SUPPORTED_SUFFIXES or not file.is_file():
            continue
        if file.stem.lower() == "readme":
            logger.debug("skipping %s (README)", rel)
            continue
        yield file


def _load_file(file: Path, source: str) -> tuple[list[Page], list[IngestError]]:
    suffix = file.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return parse_jsonl(file, source)
    parser: Callable[[str, str, str], Page]
    if suffix in MARKDOWN_SUFFIXES:
        parser = parse_markdown
    elif suffix in HTML_SUFFIXES:
        parser = parse_html
    else:
        parser = parse_plain_text
    try:
        text = _read_text(file, source)
        return [parser(text, source, file.stem)], []
    except IngestError as err:
        return [], [err]


def _unreadable(exc: OSError) -> str:
    return f"could not be read ({exc.strerror or exc}); check that the file exists and is readable"


def _read_text(file: Path, source: str) -> str:
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise IngestError(source, _unreadable(exc)) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(
            source, f"is not UTF-8 text (byte {exc.start}); save it with UTF-8 encoding"
        ) from exc


# --------------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------------

_BLANK_RUNS = re.compile(r"\n{3,}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _normalise(text: str) -> str:
    """NFC, ``\\n`` line endings, no trailing spaces, single blank lines, no outer blank lines."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", text).strip("\n")


def _assemble(lines: Iterable[tuple[str, int | None]]) -> tuple[str, tuple[Heading, ...]]:
    """Join ``(line, heading level or None)`` into page text, normalised, with the headings' spans."""
    parts: list[str] = []
    headings: list[Heading] = []
    offset = 0
    pending_blank = False
    for raw, level in lines:
        line = unicodedata.normalize("NFC", raw).rstrip()
        if not line.strip():
            pending_blank = bool(parts)
            continue
        if parts:
            sep = "\n\n" if pending_blank else "\n"
            parts.append(sep)
            offset += len(sep)
        pending_blank = False
        if level is not None:
            lead = len(line) - len(line.lstrip())
            headings.append(Heading(start=offset + lead, end=offset + len(line), level=level))
        parts.append(line)
        offset += len(line)
    return "".join(parts), tuple(headings)


def _meta_str(meta: Mapping[str, Any], key: str, source: str, *aliases: str) -> str | None:
    for name in (key, *aliases):
        value = meta.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise IngestError(source, f"field {name!r} must be text, got {type(value).__name__}")
        text = str(value).strip()
        return text or None
    return None


def _meta_date(meta: Mapping[str, Any], key: str, source: str) -> date | None:
    value = meta.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise IngestError(source, f"field {key!r} must be a date written YYYY-MM-DD, got {value!r}")


def _meta_bool(meta: Mapping[str, Any], key: str, source: str) -> bool:
    value = meta.get(key)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise IngestError(source, f"field {key!r} must be true or false, got {value!r}")


def _require_text(text: str, source: str) -> None:
    if not text.strip():
        raise IngestError(source, "has no text; add the page's content or remove the file")


# --------------------------------------------------------------------------------------------------
# Headings in text without markup
# --------------------------------------------------------------------------------------------------

_LIST_ITEM = re.compile(r"\s*(?:[-*+•]\s|\d{1,3}[.)]\s)")
_ENDS_SENTENCE = re.compile(r"[.!?][\"'”’)\]]*$")
_ENDS_PROSE = re.compile(r"[.!?:;][\"'”’)\]]*$")
# A line ending in one of these words is the start of a sentence ("Symptoms include"), not a heading.
_TRAILING_WORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "by", "for", "from", "in", "include", "includes", "including",
    "involve", "involves", "is", "of", "on", "or", "such", "the", "to", "was", "were", "with",
})


def _is_title_like(line: str) -> bool:
    if line[-1] in ".,;:!" or not line[0].isupper():
        return False
    words = line.split()
    return len(words) <= MAX_TITLE_WORDS and words[-1] not in _TRAILING_WORDS


def _is_body_line(line: str) -> bool:
    """A line that reads as content (prose or a list item), not as another heading or a bare list entry."""
    if _LIST_ITEM.match(line):
        return True
    if line[0].islower() or (line.endswith("?") and len(line) <= MAX_QUESTION_HEADING_CHARS):
        return False
    return bool(_ENDS_PROSE.search(line)) or len(line.split()) > MAX_TITLE_WORDS


def detect_headings(text: str, title: str | None = None) -> tuple[Heading, ...]:
    """Section headings in text without markup: question lines and short title-like lines (level 2),
    and the page title repeated as the text's first line (level 1: a heading, never a sentence to quote).

    A heading is a line followed by a line of body text that either ends with "?" (at most 250
    characters) or is title-like (at most 90 characters, starts with a capital, at most 8 words, no
    terminal ``. , ; : !``).
    It is conservative: list items, lines inside a list (also lists without markers, e.g. after a
    line ending with ":"), lines after a line that doesn't end a sentence (wrapped prose), and the
    last line are never headings.
    """
    lines = text.split("\n")
    headings: list[Heading] = []
    offset = 0
    prev = ""
    want_title = " ".join((title or "").split()).casefold()
    for i, raw in enumerate(lines):
        start_of_line = offset
        offset += len(raw) + 1
        line = raw.strip()
        before, prev = prev, line
        lead = len(raw) - len(raw.lstrip())
        if want_title and line:
            if " ".join(line.split()).casefold() == want_title:  # the title line opening the text
                headings.append(Heading(start=start_of_line + lead, end=start_of_line + lead + len(line), level=1))
                prev = "."  # what follows the title may be a heading
                continue
            want_title = ""
        limit = MAX_QUESTION_HEADING_CHARS if line.endswith("?") else MAX_HEADING_CHARS
        if not line or len(line) > limit or i + 1 == len(lines) or _LIST_ITEM.match(line):
            continue
        following = lines[i + 1].strip()
        if not following or not _is_body_line(following):
            continue
        question = line.endswith("?")
        if question:
            if not line[0].isupper():
                continue
        elif not _is_title_like(line):
            continue
        if before:
            if _LIST_ITEM.match(before):
                if _LIST_ITEM.match(following):
                    continue  # between two list items: part of the list
            elif not _ENDS_SENTENCE.search(before) or (question and before.endswith("?")):
                continue  # continues the line before: wrapped prose, unmarked list, list of questions
        item = _LIST_ITEM.match(following)
        if item and following[item.end():][:1].islower():
            continue  # "Careful foot care involves" / "- cleaning the feet daily": a sentence, not a title
        headings.append(Heading(start=start_of_line + lead, end=start_of_line + lead + len(line), level=2))
    return tuple(headings)


# --------------------------------------------------------------------------------------------------
# Plain text
# --------------------------------------------------------------------------------------------------


def parse_plain_text(text: str, source: str, default_id: str) -> Page:
    """First non-empty line is the title; the rest, with its own line structure, is the text."""
    text = _normalise(text)
    title, _, body = text.partition("\n")
    body = body.strip("\n")
    title = title.strip() or default_id
    _require_text(body, source)
    return Page(doc_id=default_id, title=title, text=body, source=source, headings=detect_headings(body))


# --------------------------------------------------------------------------------------------------
# JSONL
# --------------------------------------------------------------------------------------------------


def parse_jsonl(path: Path, source: str) -> tuple[list[Page], list[IngestError]]:
    """One page per line: ``{"doc_id", "title", "text", "source_url"?, ...}``; bad lines become errors.

    The text is used as-is (only ``\\r\\n`` -> ``\\n``) so that offsets into it stay valid. An empty
    title falls back to the doc_id; other keys than the ones read here are ignored.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return [], [IngestError(source, _unreadable(exc))]
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    pages: list[Page] = []
    errors: list[IngestError] = []
    # Split on "\n" only: JSON strings may legally contain U+2028/U+2029, which str.splitlines() splits on.
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        line_source = f"{source}:{number}"
        try:
            pages.append(_page_from_record(raw, line_source))
        except IngestError as err:
            errors.append(err)
    return pages, errors


def _page_from_record(raw: bytes, source: str) -> Page:
    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise IngestError(source, f"is not UTF-8 (byte {exc.start}); save the file as UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise IngestError(
            source, f"is not valid JSON ({exc.msg}, column {exc.colno}); fix or remove the line"
        ) from exc
    if not isinstance(record, dict):
        raise IngestError(
            source, f"must be a JSON object, got {type(record).__name__}; fix or remove the line"
        )
    missing = [key for key in ("doc_id", "title", "text") if key not in record]
    if missing:
        raise IngestError(source, f"is missing {', '.join(missing)}; every line needs doc_id, title and text")
    doc_id, title, text = record["doc_id"], record["title"], record["text"]
    for key, value in (("doc_id", doc_id), ("title", title), ("text", text)):
        if not isinstance(value, str):
            raise IngestError(source, f"field {key!r} must be a string, got {type(value).__name__}")
    if not doc_id.strip():
        raise IngestError(source, "field 'doc_id' is empty; give the page an id")
    if not title.strip():
        logger.debug("%s: empty title, using the doc_id %r", source, doc_id)
        title = doc_id
    text = text.replace("\r\n", "\n")
    _require_text(text, source)
    return Page(
        doc_id=doc_id,
        title=title.strip(),
        text=text,
        source=source,
        url=_meta_str(record, "source_url", source, "url"),
        headings=detect_headings(text, title.strip()),
        procedure=_meta_str(record, "procedure", source),
        category=_meta_str(record, "category", source),
        last_reviewed=_meta_date(record, "last_reviewed", source),
        synthetic=_meta_bool(record, "synthetic", source),
    )


# --------------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------------


class _FrontMatterLoader(yaml.SafeLoader):
    """SafeLoader that leaves dates as strings, so a bad date can be reported by field name."""


_FrontMatterLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _FrontMatterNotMapping(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class _StrictYAMLHandler(YAMLHandler):
    def load(self, fm: str, **kwargs: object) -> Any:
        data = yaml.load(fm, Loader=_FrontMatterLoader)
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise _FrontMatterNotMapping(type(data).__name__)
        return data


_FRONT_MATTER_START = re.compile(r"\A\s*-{3,}[ \t]*$", re.MULTILINE)
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^\s{0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^\s{0,3}(=+|-+)[ \t]*$")
_THEMATIC_BREAK = re.compile(r"^\s{0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_MD_LIST_ITEM = re.compile(r"^\s*[-*+][ \t]+(.*)$")
_BLOCKQUOTE = re.compile(r"^\s{0,3}>[ \t]?")
_LINK_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*\S+.*$")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)

_ESCAPABLE = "\\`*_{}[]()#+-.!<>~|&"
_ESCAPE = re.compile(r"\\([" + re.escape(_ESCAPABLE) + r"])")
_PROTECTED = re.compile("[\U000f0000-\U000f007f]")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_IMAGE = re.compile(r"!\[[^\]]*\](?:\((?:[^()\s]|\([^()]*\))*(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)|\[[^\]]*\])")
_LINK = re.compile(r"\[([^\]]*)\]\((?:[^()\s]|\([^()]*\))*(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_AUTOLINK = re.compile(r"<((?:https?|ftp)://[^\s<>]+|mailto:[^\s<>]+|[^\s<>@]+@[^\s<>@]+\.[a-zA-Z]+)>")
_INLINE_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_EMPHASIS = (
    re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*"),
    re.compile(r"(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)"),
    re.compile(r"\*(?=[^\s*])(.+?)(?<=[^\s*])\*"),
    re.compile(r"(?<!\w)_(?=[^\s_])(.+?)(?<=[^\s_])_(?!\w)"),
    re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"),
)
_ENTITY = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")


def _protect(text: str) -> str:
    """Hide markup characters (escaped or inside code) from the inline rules."""
    return "".join(chr(0xF0000 + ord(c)) if c in _ESCAPABLE else c for c in text)


def _unprotect(text: str) -> str:
    return _PROTECTED.sub(lambda m: chr(ord(m.group()) - 0xF0000), text)


def _md_inline(text: str) -> str:
    """Remove inline Markdown (emphasis, links, images, code marks, inline HTML); keep the words."""
    text = _ESCAPE.sub(lambda m: _protect(m.group(1)), text)
    text = _CODE_SPAN.sub(lambda m: _protect(m.group(2)), text)
    text = _IMAGE.sub("", text)
    text = _LINK.sub(r"\1", text)
    text = _REF_LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(lambda m: _protect(m.group(1)), text)
    text = _INLINE_TAG.sub("", text)
    for pattern in _EMPHASIS:
        text = pattern.sub(r"\1", text)
    text = _ENTITY.sub(lambda m: html.unescape(m.group()), text)
    return _unprotect(text)


def _split_front_matter(text: str, source: str) -> tuple[dict[str, Any], str]:
    handler = _StrictYAMLHandler()
    if not _FRONT_MATTER_START.match(text):
        return {}, text
    try:
        handler.split(text.strip())
    except ValueError as exc:
        raise IngestError(
            source, "front matter starts with --- but is never closed; add the closing --- line"
        ) from exc
    try:
        post = frontmatter.loads(text, handler=handler)
    except _FrontMatterNotMapping as exc:
        raise IngestError(
            source,
            f"front matter must be 'key: value' lines, not a YAML {exc.kind}; "
            "fix the block between the --- lines",
        ) from exc
    except yaml.YAMLError as exc:
        problem = str(getattr(exc, "problem", None) or exc).strip()
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""  # fm starts after the --- line
        raise IngestError(
            source, f"front matter is not valid YAML ({problem}{where}); fix the block between the --- lines"
        ) from exc
    except ValueError as exc:
        raise IngestError(
            source, f"front matter has an invalid value ({exc}); fix the block between the --- lines"
        ) from exc
    return dict(post.metadata), post.content


def _markdown_lines(body: str) -> list[tuple[str, int | None]]:
    """Markdown body -> (plain line, heading level or None); blank lines kept as ``("", None)``."""
    out: list[tuple[str, int | None]] = []
    fence: str | None = None
    for raw in _HTML_COMMENT.sub("", body).split("\n"):
        if fence is not None:
            stripped = raw.strip()
            if stripped.startswith(fence) and not stripped.strip(fence[0]):
                fence = None
            else:
                out.append((raw, None))
            continue
        opening = _FENCE.match(raw)
        if opening:
            fence = opening.group(1)
            continue
        line = raw
        while _BLOCKQUOTE.match(line):
            line = _BLOCKQUOTE.sub("", line, count=1)
        if not line.strip() or _LINK_DEFINITION.match(line):
            out.append(("", None))
            continue
        atx = _ATX.match(line)
        if atx:
            out.append((_md_inline(atx.group(2) or "").strip(), len(atx.group(1))))
            continue
        setext = _SETEXT.match(line)
        if setext and out and out[-1][0] and out[-1][1] is None and not out[-1][0].startswith("- "):
            out[-1] = (out[-1][0].strip(), 1 if setext.group(1)[0] == "=" else 2)
            continue
        if _THEMATIC_BREAK.match(line):
            out.append(("", None))
            continue
        item = _MD_LIST_ITEM.match(line)
        if item:
            out.append(("- " + _md_inline(item.group(1)).strip(), None))
            continue
        out.append((_md_inline(line.strip()), None))
    return out


def parse_markdown(text: str, source: str, default_id: str) -> Page:
    """Markdown with optional YAML front matter.

    Front matter fields: doc_id, title, url (or source_url), procedure, category,
    last_reviewed (YYYY-MM-DD), synthetic (true/false); other keys are ignored.
    """
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    meta, body = _split_front_matter(text, source)
    lines = _markdown_lines(body)

    h1_title: str | None = None
    first = next((i for i, (line, _) in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first][1] == 1:
        h1_title = lines[first][0].strip()
        del lines[first]
    page_text, headings = _assemble(lines)
    _require_text(page_text, source)

    first_line = page_text.split("\n", 1)[0].strip()
    title = (
        _meta_str(meta, "title", source)
        or h1_title
        or (first_line if len(first_line) <= _MAX_FIRST_LINE_TITLE else None)
        or default_id
    )
    return Page(
        doc_id=_meta_str(meta, "doc_id", source) or default_id,
        title=title,
        text=page_text,
        source=source,
        url=_meta_str(meta, "url", source, "source_url"),
        headings=headings,
        procedure=_meta_str(meta, "procedure", source),
        category=_meta_str(meta, "category", source),
        last_reviewed=_meta_date(meta, "last_reviewed", source),
        synthetic=_meta_bool(meta, "synthetic", source),
    )


# --------------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------------

_NOISE_TAGS = frozenset({
    "nav", "header", "footer", "aside", "script", "style", "form", "noscript", "template", "svg",
    "iframe", "button", "select", "textarea", "input", "canvas", "object", "embed", "dialog",
    "head", "title", "meta", "link",
})
_NOISE_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search"})
_NOISE_NAME = re.compile(r"nav|menu|footer|header|breadcrumb|cookie|sidebar")
# State classes such as "has-sidebar" (set on content wrappers) do not make an element noise.
_STATE_PREFIXES = ("has-", "has_", "no-", "with-", "is-")
_BLOCK_TAGS = frozenset({
    "address", "article", "blockquote", "body", "dd", "details", "div", "dl", "dt", "fieldset",
    "figcaption", "figure", "hgroup", "hr", "html", "li", "main", "ol", "p", "pre", "section",
    "summary", "table", "tbody", "tfoot", "thead", "tr", "ul", "caption",
})
_CONTENT_TAGS = frozenset({"main", "article", "body", "html"})
_HEADING_TAGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_CELL_TAGS = frozenset({"td", "th"})
# consecutive list items / preformatted lines are not separated by a blank line
_CONTIGUOUS_KINDS = frozenset({"li", "pre"})


def _is_noise(node: LexborNode) -> bool:
    tag = node.tag or ""
    if tag in _NOISE_TAGS:
        return True
    attrs = node.attributes
    if "hidden" in attrs or (attrs.get("aria-hidden") or "").lower() == "true":
        return True
    role = (attrs.get("role") or "").lower()
    if role in _NOISE_ROLES:
        return True
    if tag in _CONTENT_TAGS or role == "main":
        return False  # class names on content containers ("main header-offset") don't make them noise
    names = (attrs.get("class") or "").split() + (attrs.get("id") or "").split()
    return any(
        _NOISE_NAME.search(name.lower()) and not name.lower().startswith(_STATE_PREFIXES) for name in names
    )


def _inside_noise(node: LexborNode) -> bool:
    """Whether an ancestor below <body> is noise (body classes such as "sidebar-left" don't count)."""
    parent = node.parent
    while parent is not None and parent.tag not in (None, "-document", "body", "html"):
        if _is_noise(parent):
            return True
        parent = parent.parent
    return False


def _squash(text: str) -> str:
    return " ".join(text.split())


def _content_root(tree: LexborHTMLParser) -> LexborNode | None:
    for selector in ("main", "[role=main]", "article"):
        for node in tree.css(selector):
            if not _is_noise(node) and not _inside_noise(node):
                return node
    return tree.body


class _HtmlText:
    """Walks a content root and collects (line, heading level | None) with block structure."""

    def __init__(self, skip: LexborNode | None) -> None:
        self.skip_id = skip.mem_id if skip is not None else None
        self.lines: list[tuple[str, int | None]] = []
        self.buffer: list[str] = []
        self.last_kind = ""
        self.line_break = False  # after a <br>, the next line of the same block follows directly
        self.item_open = False  # inside an <li> whose first line (the one with "- ") is still to come

    def _emit(self, text: str, kind: str, level: int | None = None) -> None:
        text = _squash(text)
        if not text:
            return
        contiguous = kind == self.last_kind and (kind in _CONTIGUOUS_KINDS or self.line_break)
        if self.lines and not contiguous:
            self.lines.append(("", None))
        # Only an item's first line gets the bullet: "<li>a<br>b</li>", "<li><p>a</p><p>b</p></li>".
        bullet = kind == "li" and self.item_open
        if kind == "li":
            self.item_open = False
        self.line_break = False
        self.lines.append((f"- {text}" if bullet else text, level))
        self.last_kind = kind

    def flush(self, kind: str = "p") -> None:
        if self.buffer:
            self._emit("".join(self.buffer), kind)
            self.buffer = []

    def walk(self, root: LexborNode) -> list[tuple[str, int | None]]:
        # Iterative depth-first walk: (node, closing?) pairs; closing marks the end of a block.
        stack: list[tuple[LexborNode, bool]] = [
            (child, False) for child in reversed(list(root.iter(include_text=True)))
        ]
        kinds: list[str] = []
        while stack:
            node, closing = stack.pop()
            tag = node.tag or ""
            if closing:
                self.flush(kinds.pop())
                self.line_break = False
                continue
            if node.is_text_node:
                self.buffer.append(node.text_content or "")
                continue
            if not node.is_element_node or _is_noise(node) or node.mem_id == self.skip_id:
                continue
            if tag in _HEADING_TAGS:
                self.flush(kinds[-1] if kinds else "p")
                self._emit(node.text(), "h", _HEADING_TAGS[tag])
                continue
            if tag == "pre":
                self.flush(kinds[-1] if kinds else "p")
                self.last_kind = ""
                for line in node.text().strip("\n").split("\n"):
                    self._emit(line, "pre")
                continue
            if tag == "br":
                self.flush(kinds[-1] if kinds else "p")
                self.line_break = bool(self.lines)
                continue
            if tag in _CELL_TAGS:
                self.buffer.append(" ")
            if tag in _BLOCK_TAGS or tag == "li":
                self.flush(kinds[-1] if kinds else "p")
                self.line_break = False
                if tag == "li":
                    self.item_open = True
                # blocks inside a list item (<li><p>..</p></li>) are part of the item
                kinds.append("li" if tag == "li" or (kinds and kinds[-1] == "li") else "p")
                stack.append((node, True))
            stack.extend((child, False) for child in reversed(list(node.iter(include_text=True))))
        self.flush()
        return self.lines


def parse_html(text: str, source: str, default_id: str) -> Page:
    """Main text of a saved web page: navigation, header, footer, sidebars, scripts and forms dropped."""
    tree = LexborHTMLParser(text)
    root = _content_root(tree)
    if root is None:
        raise IngestError(source, "has no text; add the page's content or remove the file")

    url = None
    canonical = tree.css_first("link[rel~=canonical]")
    og_url = tree.css_first('meta[property="og:url"]')
    if canonical is not None and (canonical.attributes.get("href") or "").strip():
        url = (canonical.attributes.get("href") or "").strip()
    elif og_url is not None and (og_url.attributes.get("content") or "").strip():
        url = (og_url.attributes.get("content") or "").strip()

    h1 = root.css_first("h1")
    title_node = h1 if h1 is not None and _squash(h1.text()) else None
    if title_node is None:
        title_node = next((n for n in tree.css("h1") if _squash(n.text()) and not _inside_noise(n)), None)
    head_title = tree.css_first("title")
    title = _squash(title_node.text()) if title_node is not None else ""
    if not title and head_title is not None:
        title = _squash(head_title.text())

    lines = _HtmlText(skip=title_node).walk(root)
    page_text, headings = _assemble(lines)
    _require_text(page_text, source)
    if not title:
        first_line = page_text.split("\n", 1)[0]
        title = first_line if len(first_line) <= _MAX_FIRST_LINE_TITLE else default_id
    return Page(
        doc_id=default_id,
        title=unicodedata.normalize("NFC", title),
        text=page_text,
        source=source,
        url=url,
        headings=headings,
    )
