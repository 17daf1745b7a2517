"""Text utilities: sentence spans, lexical terms, question validation."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import pysbd
import Stemmer

from qa.domain import Span
from qa.errors import InputError

# A possible sentence boundary inside a line: terminal punctuation, optional closing quote/bracket,
# whitespace, then something. Lines without one are a single sentence and skip pysbd (it is slow).
_BOUNDARY = re.compile(r"[.!?…]['\"’”)\]]*\s+\S")

_segmenter: pysbd.Segmenter | None = None
# _pysbd_pieces reproduces the span search of this pysbd version (pinned in pyproject.toml).
_FAST_SPANS = getattr(pysbd, "__version__", "") == "0.3.4"


def _pysbd() -> pysbd.Segmenter:
    global _segmenter
    if _segmenter is None:
        _segmenter = pysbd.Segmenter(language="en", clean=False, char_span=True)
    return _segmenter


def _pysbd_pieces(line: str) -> list[tuple[int, int]]:
    r"""``[(start, end)]`` of pysbd's sentences of ``line`` (end includes trailing whitespace).

    The same spans as ``Segmenter(char_span=True).segment(line)``, found faster: pysbd 0.3.4 locates
    each sentence with a freshly compiled ``re.escape(sentence) + r"\s*"`` pattern (the first match
    ending after the previous sentence, non-overlapping search); this does the same with ``str.find``.
    """
    seg = _pysbd()
    if not _FAST_SPANS:
        return [(p.start, p.end) for p in seg.segment(line)]
    sentences = seg.processor(line).process()
    if not isinstance(sentences, list) or not all(sentences):  # never seen; keep pysbd's own answer
        return [(p.start, p.end) for p in seg.segment(line)]
    out: list[tuple[int, int]] = []
    prior_end, n = 0, len(line)
    for sent in sentences:
        pos = 0
        while (i := line.find(sent, pos)) >= 0:
            j = i + len(sent)
            while j < n and line[j].isspace():  # \s* (str.isspace is re's \s for str patterns)
                j += 1
            if j > prior_end:
                out.append((i, j))
                prior_end = j
                break
            pos = j
    return out


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Sentences of ``text[start:end]`` as spans into ``text``.

    Sentences never cross a line break: each line (a paragraph or list item) is segmented on its
    own with pysbd, so offsets stay exact and list items stay separate.
    """
    end = len(text) if end is None else end
    spans: list[Span] = []
    pos = start
    while pos < end:
        nl = text.find("\n", pos, end)
        line_end = end if nl < 0 else nl
        s, e = _strip_span(text, pos, line_end)
        if e > s:
            line = text[s:e]
            if _BOUNDARY.search(line) is None:
                spans.append(Span(s, e))
            else:
                for piece_start, piece_end in _pysbd_pieces(line):
                    ps, pe = _strip_span(text, s + piece_start, s + piece_end)
                    if pe > ps:
                        spans.append(Span(ps, pe))
        pos = line_end + 1
    return spans


def line_spans(text: str, start: int = 0, end: int | None = None) -> Iterator[Span]:
    """Non-empty lines of ``text[start:end]`` (stripped) as spans."""
    end = len(text) if end is None else end
    pos = start
    while pos < end:
        nl = text.find("\n", pos, end)
        line_end = end if nl < 0 else nl
        s, e = _strip_span(text, pos, line_end)
        if e > s:
            yield Span(s, e)
        pos = line_end + 1


# --- lexical terms -------------------------------------------------------------------------------

# English stop words plus the words that frame a question without saying what it is about.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are aren't as at be because been before
    being below between both but by can can't cannot could couldn't did didn't do does doesn't doing
    don't down during each few for from further had hadn't has hasn't have haven't having he he'd
    he'll he's her here here's hers herself him himself his how how's i i'd i'll i'm i've if in into
    is isn't it it's its itself let's me more most mustn't my myself no nor not of off on once only
    or other ought our ours ourselves out over own same shan't she she'd she'll she's should
    shouldn't so some such than that that's the their theirs them themselves then there there's
    these they they'd they'll they're they've this those through to too under until up very was
    wasn't we we'd we'll we're we've were weren't what what's when when's where where's which while
    who who's whom why why's with won't would wouldn't you you'd you'll you're you've your yours
    yourself yourselves will shall may might must also s t get got""".split()  # noqa: SIM905
)

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return text.replace("’", "'").replace("‘", "'")


def terms(text: str) -> list[str]:
    """Stemmed content words (stop words removed) — the lexical vocabulary of BM25 and overlap."""
    words = [w for w in _WORD.findall(normalize(text)) if w not in STOPWORDS]
    words = [w[:-2] if w.endswith("'s") else w for w in words]
    return list(_stemmer().stemWords(words))


# When, around a procedure, a question or a section heading is about ("can I eat before?" vs the
# heading "Can I eat and drink after the procedure?"); the words are stop words to ``terms``.
_PHASES = (
    ("before", re.compile(r"\b(?:before|beforehand|prior to|prepar(?:e|es|ed|ing|ation))\b")),
    ("during", re.compile(r"\bduring\b")),
    ("after", re.compile(r"\b(?:after|afterwards?|recover(?:y|ing)?)\b")),
)


def phases(text: str) -> frozenset[str]:
    """The phases of a procedure ("before", "during", "after") that ``text`` speaks of."""
    t = normalize(text)
    return frozenset(name for name, rx in _PHASES if rx.search(t))


# --- question validation -------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Invisible characters that only reorder or hide text: the bidirectional controls (embeddings and
# overrides U+202A-U+202E, isolates U+2066-U+2069, the LRM/RLM/ALM marks) and the zero-width space,
# word joiner and byte-order mark. A right-to-left override makes a question read differently in the
# staff views than what was asked; none of them carries meaning in a question, so they are removed
# before the question is answered, echoed or logged.
_INVISIBLE = re.compile("[\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff\u061c]")
# The zero-width non-joiner and joiner (U+200C, U+200D) are kept where they sit between two letters
# (or vowel signs / viramas) of an Indic script: Hindi and Tamil writers use them to choose a conjunct
# or half form (Devanagari "क्‍ष", Malayalam chillus), so removing them would change the word.
# Anywhere else (Latin text, around spaces, at the ends) they are invisible noise and are dropped.
_JOINERS = re.compile("[\u200c\u200d]")
_INDIC = (0x0900, 0x0DFF)  # Devanagari … Sinhala: the scripts of India and Sri Lanka


def _indic_letter(ch: str) -> bool:
    return _INDIC[0] <= ord(ch) <= _INDIC[1] and unicodedata.category(ch)[0] in "LM"


def strip_invisible(text: str) -> str:
    """``text`` without bidirectional controls and zero-width characters; a ZWJ/ZWNJ between two
    letters of an Indic script is kept (it shapes the word)."""
    text = _INVISIBLE.sub("", text)
    if "\u200c" not in text and "\u200d" not in text:
        return text

    def keep(m: re.Match[str]) -> str:
        i = m.start()
        ok = 0 < i < len(text) - 1 and _indic_letter(text[i - 1]) and _indic_letter(text[i + 1])
        return m.group() if ok else ""

    return _JOINERS.sub(keep, text)


def clean_question(question: object, max_chars: int = 500) -> str:
    """Return the question with whitespace collapsed and invisible formatting characters removed
    (:func:`strip_invisible`), or raise InputError saying what is wrong."""
    if not isinstance(question, str):
        raise InputError("The question must be text.")
    q = _CONTROL.sub(" ", strip_invisible(unicodedata.normalize("NFC", question)))
    q = " ".join(q.split())
    if not q:
        raise InputError("The question is empty: type a question, e.g. 'Will my leg feel weak?'.")
    if len(q) > max_chars:
        raise InputError(
            f"The question is {len(q)} characters long; the limit is {max_chars}. Please shorten it."
        )
    return q


def read_questions_jsonl(path: Path, required: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The records of a questions file (JSONL), each with a non-empty ``question`` text and the
    ``required`` fields; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"No questions file at {path}: give a JSONL file with one {{\"question\": ...}} per line.")
    rows: list[dict[str, Any]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"Cannot read the questions file {path}: {e}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(
                f"{path}:{n} is not valid JSON ({e.msg}); each line must be one JSON object.") from None
        if not isinstance(row, dict) or not isinstance(row.get("question"), str) or not row["question"].strip():
            raise InputError(f'{path}:{n} has no "question" text; each line needs {{"question": "..."}}.')
        missing = [k for k in required if k not in row]
        if missing:
            raise InputError(f"{path}:{n} has no {', '.join(map(repr, missing))}; each line needs them.")
        rows.append(row)
    if not rows:
        raise InputError(f"{path} holds no questions.")
    return rows
