"""Content health lint of the corpus: what in the pages needs care before patients read it.

Public functions (the CLI ``clinicqa lint-corpus``, the API and the UI's content-team view call these)::

    lint_corpus(settings: Settings, corpus: Path | None = None, *, today: date | None = None,
                embedder: Embedder | None = None) -> list[LintFinding]
    findings_to_dicts(findings) -> list[dict];  to_json(findings) -> str;  to_csv(findings) -> str
    exit_code(findings, fail_on: "error" | "warning" | "never") -> int

Rules (``LintFinding.rule``) and their severity:

* ``unreadable_page`` (error): the file could not be ingested (the message says why).
* ``missing_field`` (error): a required front matter field is missing or empty —
  ``REQUIRED_FIELDS`` = title, doc_id, procedure, category, last_reviewed, synthetic. Pages that are not
  Markdown (HTML, text, JSONL) have no front matter; for them the same facts are checked on the ingested
  page (doc_id and title always exist there).
* ``stale_page`` (warning): ``last_reviewed`` older than ``Settings.lint_stale_months`` (default 12).
* ``duplicate_section`` / ``near_duplicate_section`` (warning): sections (heading + text) of different
  pages that are identical after normalising whitespace and case, or whose embeddings have cosine
  similarity ≥ ``Settings.lint_duplicate_similarity`` (0.92). One finding per group of such sections.
* ``possible_contradiction`` (warning): two sentences on *different* pages that are about the same thing
  (cosine similarity ≥ ``Settings.lint_contradiction_similarity``, 0.5) and disagree on
  - a number with the same unit ("fast for 6 hours" / "fast for 2 hours"; digits and number words), or
  - polarity: a content word both sentences share is negated in one ("don't *stop* any medicine") and not
    in the other ("blood thinning medicines must be *stopped*"); negated = a negation word at most
    ``NEGATION_WINDOW`` words before it in the same clause.
  One finding per distinct pair of sentences, listing every page that carries each of them.
* ``synthetic_page`` (info): sample content written for the demo, listed so no one mistakes it for the
  clinic's advice.

The command exits 1 when there is a finding of ``error`` severity (``--fail-on warning`` also fails on
warnings; ``--fail-on never`` always exits 0), so it can gate a content pipeline.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from qa.chunking import sections
from qa.csvexport import to_csv as csv_text
from qa.domain import Page
from qa.errors import IngestError, InputError
from qa.settings import Settings
from qa.text import line_spans, sentence_spans

if TYPE_CHECKING:
    from qa.embedding import Embedder

log = logging.getLogger(__name__)

REQUIRED_FIELDS = ("title", "doc_id", "procedure", "category", "last_reviewed", "synthetic")
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
NEGATION_WINDOW = 3
MIN_SENTENCE_WORDS = 4


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True, slots=True)
class LintFinding:
    rule: str
    severity: Severity
    message: str  # what is wrong and what to do
    doc_id: str | None = None  # the page (the first one, for rules about several pages)
    source: str | None = None  # its file, relative to the corpus
    locations: tuple[str, ...] = ()  # "doc_id › section" of every place involved
    evidence: tuple[str, ...] = ()  # the sentences or section texts involved


# --- loading -------------------------------------------------------------------------------------------


def _load(corpus: Path) -> tuple[list[Page], list[IngestError], dict[str, dict[str, Any]]]:
    """Pages, ingest errors, and the raw front matter of each Markdown source."""
    from qa.ingest import _split_front_matter, corpus_files, load_corpus

    corpus = Path(corpus)
    if not corpus.exists():
        raise InputError(f"No corpus at {corpus}: give a folder of pages (--corpus DIR or CLINICQA_CORPUS_DIR).")
    result = load_corpus(corpus)
    root = corpus if corpus.is_dir() else corpus.parent
    meta: dict[str, dict[str, Any]] = {}
    for file in corpus_files(corpus):
        if file.suffix.lower() not in MARKDOWN_SUFFIXES:
            continue
        source = file.relative_to(root).as_posix()
        try:
            meta[source], _ = _split_front_matter(file.read_text(encoding="utf-8"), source)
        except (OSError, UnicodeDecodeError, IngestError):
            continue  # reported by load_corpus as unreadable
    return list(result.pages), list(result.errors), meta


# --- rules ---------------------------------------------------------------------------------------------


def _missing_fields(page: Page, meta: dict[str, dict[str, Any]]) -> list[LintFinding]:
    if page.source in meta:
        fm = meta[page.source]
        missing = [f for f in REQUIRED_FIELDS
                   if fm.get(f) is None or (isinstance(fm.get(f), str) and not fm[f].strip())]
        where = "front matter"
    else:
        values = {"procedure": page.procedure, "category": page.category, "last_reviewed": page.last_reviewed}
        missing = [f for f, v in values.items() if v is None]
        where = "page record"
    if not missing:
        return []
    return [LintFinding(
        rule="missing_field", severity=Severity.ERROR, doc_id=page.doc_id, source=page.source,
        message=f"{page.source}: {where} lacks {', '.join(missing)}; add "
                + ", ".join(f"`{f}:`" for f in missing) + " (see README: The corpus).",
    )]


def _months_between(earlier: date, later: date) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month - (1 if later.day < earlier.day else 0)


def _stale(page: Page, today: date, months: int) -> list[LintFinding]:
    if page.last_reviewed is None or _months_between(page.last_reviewed, today) < months:
        return []
    age = _months_between(page.last_reviewed, today)
    return [LintFinding(
        rule="stale_page", severity=Severity.WARNING, doc_id=page.doc_id, source=page.source,
        message=f"{page.source}: last reviewed {page.last_reviewed.isoformat()} ({age} months ago, limit "
                f"{months}); have a clinician review it and update `last_reviewed`.",
    )]


def _synthetic(page: Page) -> list[LintFinding]:
    if not page.synthetic:
        return []
    return [LintFinding(
        rule="synthetic_page", severity=Severity.INFO, doc_id=page.doc_id, source=page.source,
        message=f"{page.source}: sample content written for the demo (synthetic: true), not the clinic's "
                "advice; replace it with the clinic's own text before going live.",
    )]


@dataclass(frozen=True, slots=True)
class _Located:
    """A section (heading + body) or a sentence of a page, with where it is for the finding."""

    page: Page
    heading: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.page.doc_id} › {self.heading}" if self.heading else self.page.doc_id


def _sections(pages: Sequence[Page]) -> list[_Located]:
    out = []
    for page in pages:
        for sec in sections(page):
            heading = page.text[sec.heading.start:sec.heading.end].strip() if sec.heading else ""
            body = page.text[sec.start:sec.end].strip()
            if len(body.split()) >= MIN_SENTENCE_WORDS:
                out.append(_Located(page, heading, f"{heading}\n{body}".strip()))
    return out


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def _components(n: int, edges: list[tuple[int, int]]) -> list[list[int]]:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        parent[find(a)] = find(b)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return [g for g in groups.values() if len(g) > 1]


def _duplicates(secs: list[_Located], vecs: np.ndarray, threshold: float) -> list[LintFinding]:
    sims = vecs @ vecs.T if len(secs) else np.zeros((0, 0))
    edges = [(i, j) for i in range(len(secs)) for j in range(i + 1, len(secs))
             if secs[i].page.doc_id != secs[j].page.doc_id and sims[i, j] >= threshold]
    findings = []
    for comp in _components(len(secs), edges):
        exact = len({_norm(secs[i].text) for i in comp}) == 1
        pages = sorted({secs[i].page.doc_id for i in comp})
        low = min(float(sims[i, j]) for i in comp for j in comp if i < j)
        first = secs[comp[0]]
        findings.append(LintFinding(
            rule="duplicate_section" if exact else "near_duplicate_section", severity=Severity.WARNING,
            doc_id=first.page.doc_id, source=first.page.source,
            locations=tuple(secs[i].where for i in comp),
            evidence=tuple(dict.fromkeys(secs[i].text[:300] for i in comp)),
            message=(f"{len(comp)} sections on {len(pages)} pages say the same thing"
                     + ("" if exact else f" (similarity ≥ {low:.2f})")
                     + ": keep one version up to date, or make each specific to its procedure."),
        ))
    return findings


# --- contradictions --------------------------------------------------------------------------------------

_NEGATIONS = frozenset({"not", "no", "never", "don't", "dont", "doesn't", "didn't", "cannot", "can't", "mustn't",
                        "shouldn't", "won't", "isn't", "aren't", "without", "neither", "nor", "avoid"})
_CLAUSE_BREAK = re.compile(r"[;:,.!?()]|\b(?:but|then|until|unless|because|so|while|when|if)\b", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*|\d+(?:[.,]\d+)?")
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                 "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40,
                 "forty-eight": 48, "half": 0.5, "a dozen": 12}
_UNIT = re.compile(
    r"(?P<num>\d+(?:\.\d+)?|" + "|".join(sorted((re.escape(w) for w in _NUMBER_WORDS), key=len, reverse=True))
    + r")(?:\s*(?:–|-|to|or)\s*(?P<num2>\d+(?:\.\d+)?))?\s*(?P<unit>[a-z%]+)", re.IGNORECASE)
_STOP = frozenset(re.findall(r"\w+", """a an the to of in on for and or but if is are be been being you your we our us
it its this that these those with at by from as will can may might should must do does did have has had i my me they
them their he she his her there here what when which who how than then so any some all each more most very also"""))


def _stem(word: str) -> str:
    from qa.text import terms

    got = terms(word)
    return got[0] if got else ""


def _numbers(text: str) -> dict[str, set[float]]:
    """unit stem → the numbers given for it ("12 – 18 hours" → {"hour": {12, 18}})."""
    out: dict[str, set[float]] = {}
    for m in _UNIT.finditer(text):
        unit = _stem(m.group("unit"))
        if not unit or unit in _STOP:
            continue
        raw = m.group("num").lower()
        values = {float(_NUMBER_WORDS.get(raw, 0) or raw) if raw not in _NUMBER_WORDS else float(_NUMBER_WORDS[raw])}
        if m.group("num2"):
            values.add(float(m.group("num2")))
        out.setdefault(unit, set()).update(values)
    return out


def _polarity(text: str) -> dict[str, bool]:
    """content stem → negated? (True when a negation word is at most NEGATION_WINDOW words before it in its
    clause). A stem that occurs both negated and not is left out (the sentence itself is mixed)."""
    out: dict[str, bool] = {}
    mixed: set[str] = set()
    for clause in _CLAUSE_BREAK.split(text.replace("’", "'")):
        if not clause:
            continue
        words = [w.lower() for w in _WORD.findall(clause)]
        last_neg = -100
        for i, w in enumerate(words):
            if w in _NEGATIONS or w.endswith("n't"):
                last_neg = i
                continue
            if w in _STOP or w.isdigit():
                continue
            stem = _stem(w)
            if not stem:
                continue
            neg = i - last_neg <= NEGATION_WINDOW
            if stem in out and out[stem] != neg:
                mixed.add(stem)
            out[stem] = neg
    return {k: v for k, v in out.items() if k not in mixed}


def _sentences(pages: Sequence[Page]) -> list[_Located]:
    out = []
    for page in pages:
        for sec in sections(page):
            heading = page.text[sec.heading.start:sec.heading.end].strip() if sec.heading else ""
            for line in line_spans(page.text, sec.start, sec.end):
                for sp in sentence_spans(page.text, line.start, line.end):
                    text = page.text[sp.start:sp.end].lstrip("-•* ").strip()
                    if len(text.split()) >= MIN_SENTENCE_WORDS:
                        out.append(_Located(page, heading, text))
    return out


def conflict(a: str, b: str) -> str | None:
    """Why two similar sentences may contradict each other, or None."""
    na, nb = _numbers(a), _numbers(b)
    for unit in sorted(set(na) & set(nb)):
        if not na[unit] & nb[unit]:
            fmt = lambda s: "/".join(f"{x:g}" for x in sorted(s))  # noqa: E731
            return f"different numbers of {unit}: {fmt(na[unit])} vs {fmt(nb[unit])}"
    pa, pb = _polarity(a), _polarity(b)
    flipped = sorted(stem for stem in set(pa) & set(pb) if pa[stem] != pb[stem])
    if flipped:
        return f"{', '.join(repr(s) for s in flipped[:4])} negated in one and not in the other"
    return None


def _contradictions(sents: list[_Located], vecs: np.ndarray, threshold: float) -> list[LintFinding]:
    if not sents:
        return []
    # One node per distinct sentence text; remember every page that carries it.
    texts: dict[str, list[int]] = {}
    for i, s in enumerate(sents):
        texts.setdefault(_norm(s.text), []).append(i)
    reps = [idx[0] for idx in texts.values()]
    where = [tuple(dict.fromkeys(sents[i].where for i in idx)) for idx in texts.values()]
    docs = [{sents[i].page.doc_id for i in idx} for idx in texts.values()]
    v = vecs[reps]
    sims = v @ v.T
    findings = []
    for a in range(len(reps)):
        for hit in np.nonzero(sims[a, a + 1:] >= threshold)[0] + a + 1:
            b = int(hit)
            if docs[a] == docs[b] and len(docs[a]) == 1:
                continue  # the same single page: not "between pages"
            why = conflict(sents[reps[a]].text, sents[reps[b]].text)
            if why is None:
                continue
            sa, sb = sents[reps[a]], sents[reps[b]]
            findings.append(LintFinding(
                rule="possible_contradiction", severity=Severity.WARNING, doc_id=sa.page.doc_id,
                source=sa.page.source, locations=where[a] + where[b], evidence=(sa.text, sb.text),
                message=(f"Possible contradiction ({why}; similarity {float(sims[a, b]):.2f}) between "
                         f"{', '.join(where[a][:3])}{' …' if len(where[a]) > 3 else ''} and "
                         f"{', '.join(where[b][:3])}{' …' if len(where[b]) > 3 else ''}: check which is right "
                         "and make the pages agree."),
            ))
    return findings


# --- entry point ---------------------------------------------------------------------------------------

_VECTORS: dict[str, np.ndarray] = {}  # a few recent corpora's sentence / section vectors (the API lints often)
_VECTORS_MAX = 8


def _encode(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    key = hashlib.sha256("\x1f".join([embedder.model_id, *texts]).encode()).hexdigest()
    got = _VECTORS.get(key)
    if got is None:
        got = embedder.encode(list(texts))
        if len(_VECTORS) >= _VECTORS_MAX:
            _VECTORS.pop(next(iter(_VECTORS)))
        _VECTORS[key] = got
    return got



def lint_corpus(settings: Settings, corpus: Path | None = None, *, today: date | None = None,
                embedder: Embedder | None = None) -> list[LintFinding]:
    """Every finding on the corpus (``corpus`` or ``settings.corpus_dir``), errors first."""
    from qa.embedding import get_embedder

    corpus = Path(corpus or settings.corpus_dir)
    today = today or date.today()
    pages, errors, meta = _load(corpus)
    findings: list[LintFinding] = [
        LintFinding(rule="unreadable_page", severity=Severity.ERROR, source=e.source,
                    message=f"{e}") for e in errors
    ]
    for page in pages:
        findings += _missing_fields(page, meta)
        findings += _stale(page, today, settings.lint_stale_months)
    if pages:
        emb = embedder or get_embedder(settings.model_path, settings.embed_dtype, settings.embed_batch_size,
                                       settings.chunk_max_seq_length)
        secs = _sections(pages)
        findings += _duplicates(secs, _encode(emb, [s.text for s in secs]), settings.lint_duplicate_similarity)
        sents = _sentences(pages)
        findings += _contradictions(sents, _encode(emb, [s.text for s in sents]),
                                    settings.lint_contradiction_similarity)
    for page in pages:
        findings += _synthetic(page)
    findings.sort(key=lambda f: (_SEVERITY_ORDER[f.severity], f.rule, f.doc_id or "", f.source or ""))
    log.info("lint: %d pages, %d findings", len(pages), len(findings))
    return findings


def exit_code(findings: Sequence[LintFinding], fail_on: Literal["error", "warning", "never"] = "error") -> int:
    if fail_on == "never":
        return 0
    bad = {Severity.ERROR} if fail_on == "error" else {Severity.ERROR, Severity.WARNING}
    return 1 if any(f.severity in bad for f in findings) else 0


def finding_to_dict(f: LintFinding) -> dict[str, Any]:
    d = asdict(f)
    d["severity"] = str(f.severity)
    d["locations"], d["evidence"] = list(f.locations), list(f.evidence)
    return d


def findings_to_dicts(findings: Sequence[LintFinding]) -> list[dict[str, Any]]:
    return [finding_to_dict(f) for f in findings]


def to_json(findings: Sequence[LintFinding]) -> str:
    return json.dumps(findings_to_dicts(findings), ensure_ascii=False, indent=2)


CSV_COLUMNS = ("severity", "rule", "doc_id", "source", "message", "locations", "evidence")


def to_csv(findings: Sequence[LintFinding]) -> str:
    return csv_text(CSV_COLUMNS, (
        [str(f.severity), f.rule, f.doc_id or "", f.source or "", f.message, " | ".join(f.locations),
         " | ".join(f.evidence)]
        for f in findings))
