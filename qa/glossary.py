"""The clinic's glossary: words patients type in Tamil and Hindi (in their script or in Latin letters), with
the English the clinic's pages use, applied before a non-English question is matched.

The pages are English. "injection ke baad sunnpan kab jayega?" shares no word with them and the small
multilingual model does not read romanised Hindi; with the glossary it is looked up as "injection after
numbness when will it go away?". The table (``qa/data/glossary.yaml``, or ``CLINICQA_GLOSSARY_PATH``) is the
content team's to extend; its format is described at the top of that file. Applying it never changes the
question shown or logged, and answers still quote the pages verbatim.

A Latin-script question is *romanised Tamil or Hindi* when it has at least one glossary word that is not an
English word (pyspellchecker's list): "kaal" and "kamzor" are not English, so "kaal kamzor aagumaa?" is; "will
my leg feel weak?" has no glossary word and "pair of socks" only one that is English, so they stay English
and are answered exactly as before.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import yaml

from qa.errors import ClinicQAError
from qa.redaction import english_words

BUNDLED = Path(__file__).parent / "data" / "glossary.yaml"
MAX_PHRASE_WORDS = 4
MIN_PREFIX_LETTERS = 3


class Language(StrEnum):
    TAMIL = "tamil"
    HINDI = "hindi"


def _word_char(ch: str) -> bool:
    """Letters, digits and combining marks (the vowel signs of Tamil and Devanagari are marks, not letters)."""
    return ch.isalnum() or unicodedata.category(ch) in ("Mn", "Mc") or ch in "-'"


def words(text: str) -> list[tuple[int, int]]:
    """(start, end) of each word of ``text``: runs of letters, digits, marks, hyphens and apostrophes."""
    out: list[tuple[int, int]] = []
    start = -1
    for i, ch in enumerate(text):
        if _word_char(ch):
            if start < 0:
                start = i
        elif start >= 0:
            out.append((start, i))
            start = -1
    if start >= 0:
        out.append((start, len(text)))
    return [(s, e) for s, e in out if text[s:e].strip("-'")]


def _norm(word: str) -> str:
    return unicodedata.normalize("NFC", word).lower().strip("-'")


def is_english(word: str) -> bool:
    """In pyspellchecker's English word list (the one qa/redaction.py loads, shared)."""
    return word.isascii() and word.lower() in english_words()


@dataclass(frozen=True)
class Entry:
    key: str  # normalised words joined by one space, without the trailing '*'
    english: str
    language: Language
    prefix: bool
    line: int


@dataclass(frozen=True)
class Rendering:
    """A question with the glossary applied."""

    text: str  # the question with every glossary word replaced by its English
    hits: tuple[Entry, ...]  # the entries applied, in order
    foreign_hits: int  # hits on words that are not English words (what makes a Latin question romanised)
    latin_text: str = ""  # ``text`` without the words left in another script (those the glossary did not know)

    @property
    def language(self) -> Language | None:
        """The language most of the hits belong to (None without hits; Tamil on a tie)."""
        if not self.hits:
            return None
        tamil = sum(h.language is Language.TAMIL for h in self.hits)
        return Language.TAMIL if tamil * 2 >= len(self.hits) else Language.HINDI


@dataclass(frozen=True)
class Glossary:
    entries: tuple[Entry, ...]
    source: str = "glossary"
    _exact: dict[str, Entry] = field(init=False, repr=False, compare=False, default_factory=dict)
    _prefixes: tuple[Entry, ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        exact = {e.key: e for e in self.entries if not e.prefix}
        prefixes = tuple(sorted((e for e in self.entries if e.prefix), key=lambda e: -len(e.key)))
        object.__setattr__(self, "_exact", exact)
        object.__setattr__(self, "_prefixes", prefixes)

    def __len__(self) -> int:
        return len(self.entries)

    # --- loading -------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path | None = None) -> Glossary:
        """The glossary file at ``path`` (default: the bundled one). ClinicQAError, naming the file and line,
        for a file that cannot be read, is not YAML, or has a malformed entry."""
        path = Path(path) if path else BUNDLED
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ClinicQAError(f"Cannot read the glossary file {path}: {err}") from err
        return cls.parse(text, source=str(path))

    @classmethod
    def parse(cls, text: str, source: str = "glossary") -> Glossary:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as err:
            raise ClinicQAError(f"The glossary file {source} is not valid YAML: {err}") from err
        if root is None:
            return cls((), source)
        if not isinstance(root, yaml.MappingNode):
            raise ClinicQAError(f"{source}, line {root.start_mark.line + 1}: expected the sections "
                                f"{' and '.join(repr(lang.value + ':') for lang in Language)}, each with "
                                "'word: english' lines.")
        entries: list[Entry] = []
        seen: dict[tuple[str, bool], int] = {}
        for key_node, value_node in root.value:
            line = key_node.start_mark.line + 1
            name = str(key_node.value).strip().lower()
            if name not in {lang.value for lang in Language}:
                raise ClinicQAError(f"{source}, line {line}: unknown section {key_node.value!r}; the sections are "
                                    f"{', '.join(lang.value for lang in Language)}.")
            language = Language(name)
            if isinstance(value_node, yaml.ScalarNode) and value_node.value in ("", "~", "null"):
                continue  # an empty section
            if not isinstance(value_node, yaml.MappingNode):
                raise ClinicQAError(f"{source}, line {line}: the section {name!r} must hold 'word: english' lines.")
            for k, v in value_node.value:
                entries.append(_entry(k, v, language, source, seen))
        return cls(tuple(entries), source)

    # --- applying ------------------------------------------------------------------------------

    def render(self, question: str, *, latin: bool = False) -> Rendering:
        """``question`` with glossary words replaced by their English. ``latin``: the question is in Latin
        letters, where a key that is also an English word is applied only when some other hit is not."""
        spans = words(question)
        toks = [_norm(question[s:e]) for s, e in spans]
        found: list[tuple[int, int, Entry]] = []  # first word, word count, entry
        i = 0
        while i < len(toks):
            hit = self._match(toks, i)
            if hit is not None:
                found.append((i, hit[0], hit[1]))
                i += hit[0]
            else:
                i += 1

        def foreign(n: int, count: int) -> bool:
            return not all(is_english(t) for t in toks[n : n + count])

        n_foreign = sum(foreign(n, c) for n, c, _ in found)
        if latin and n_foreign == 0:
            found = []
        pieces: list[str] = []
        pos = 0
        for n, count, entry in found:
            start, end = spans[n][0], spans[n + count - 1][1]
            pieces.append(question[pos:start])
            pieces.append(entry.english)
            pos = end
        pieces.append(question[pos:])
        text = " ".join("".join(pieces).split())
        latin_text = " ".join(w for w in text.split() if all(ch.isascii() for ch in w))
        return Rendering(text=text, latin_text=latin_text, hits=tuple(e for _, _, e in found),
                         foreign_hits=n_foreign if found else 0)

    def _match(self, toks: list[str], i: int) -> tuple[int, Entry] | None:
        for n in range(min(MAX_PHRASE_WORDS, len(toks) - i), 0, -1):
            entry = self._exact.get(" ".join(toks[i : i + n]))
            if entry is not None:
                return n, entry
        for n in range(min(MAX_PHRASE_WORDS, len(toks) - i), 0, -1):
            phrase = " ".join(toks[i : i + n])
            for entry in self._prefixes:
                if entry.key.count(" ") == n - 1 and phrase.startswith(entry.key):
                    return n, entry
        return None

    def keys(self, language: Language | None = None) -> Iterable[str]:
        return (e.key for e in self.entries if language is None or e.language is language)


def _entry(k: yaml.Node, v: yaml.Node, language: Language, source: str,
           seen: dict[tuple[str, bool], int]) -> Entry:
    line = k.start_mark.line + 1
    where = f"{source}, line {line}"
    if not isinstance(k, yaml.ScalarNode) or not isinstance(v, yaml.ScalarNode):
        raise ClinicQAError(f"{where}: expected 'word: english' (one word or phrase, then its English), "
                            "not a list or a nested section.")
    raw = str(k.value).strip()
    prefix = raw.endswith("*")
    key_words = [_norm(w) for w in raw.rstrip("*").split()]
    key = " ".join(w for w in key_words if w)
    if not key or len(key_words) > MAX_PHRASE_WORDS or any(not all(map(_word_char, w)) for w in key_words):
        raise ClinicQAError(f"{where}: {raw!r} is not a word or a phrase of up to {MAX_PHRASE_WORDS} words "
                            "(letters, digits and hyphens, optionally ending in '*').")
    if prefix and len(key) < MIN_PREFIX_LETTERS:
        raise ClinicQAError(f"{where}: {raw!r}: a prefix key needs at least {MIN_PREFIX_LETTERS} characters before "
                            "the '*' (a shorter one would match too many words).")
    if v.tag != "tag:yaml.org,2002:str" and v.value not in ("",):
        raise ClinicQAError(f"{where}: {raw!r}: the English must be text, not {v.value!r} (quote it).")
    english = " ".join(str(v.value).split())
    if english and not english.isascii():
        raise ClinicQAError(f"{where}: {raw!r}: the English {english!r} is not in Latin letters.")
    if (key, prefix) in seen:
        raise ClinicQAError(f"{where}: {raw!r} is already listed on line {seen[(key, prefix)]}.")
    seen[(key, prefix)] = line
    return Entry(key=key, english=english, language=language, prefix=prefix, line=line)
