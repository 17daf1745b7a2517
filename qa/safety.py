"""Red flags before retrieval: escalate emergencies, refer personal medical decisions, else answer.

Every question goes through :meth:`SafetyChecker.check` before anything is looked up. The rules
are data, not code: one clinician-reviewed YAML file (``qa/data/safety_rules.yaml``) holds, per
rule, an id, a kind (``escalate`` or ``refer``), a plain description, the message to show and
readable word patterns. The comments at the top of that file explain how a message is judged.

How a message is checked, in short:

1. It is lower-cased and split into words; contractions ("cant" -> "can't") and common
   misspellings ("pian" -> "pain", "brething" -> "breathing") are fixed.
2. Escalate rules are tried in file order, then refer rules; the first match wins, so escalation
   always takes precedence over referral.
3. An escalate match only counts when it is not negated ("no fever", "bukhar nahi hai") and not a
   general or hypothetical question ("can it cause bleeding?", "what if I get a fever?") -- unless
   something in the same clause says it is happening now ("I have", "since", "right now").
4. Tamil script, Devanagari and romanised Tamil and Hindi are checked the same way (issue 14): Indic
   words are whole tokens with their vowel signs, spellings that look alike are folded together, and
   the escalation message is shown in the patient's language and letters, the numbers first (the
   ``languages`` section of the rules file; :attr:`SafetyVerdict.language` says which).

Everything is compiled once at load; :meth:`SafetyChecker.check` takes about 0.1 ms per message
(``python bench/bench_safety.py``).
The message text is never logged.
"""

from __future__ import annotations

import logging
import re
import string
import unicodedata
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast

import yaml

from qa.errors import ClinicQAError
from qa.language import Script, detect_script

log = logging.getLogger(__name__)

Action = Literal["escalate", "refer", "answer"]
RuleKind = Literal["escalate", "refer"]

BUNDLED_RULES = "data/safety_rules.yaml"  # inside the ``qa`` package
PLACEHOLDERS = frozenset({"emergency", "clinic_phone", "clinic_name"})

# Defaults mirror qa.settings.Settings so the checker works without building Settings.
DEFAULT_EMERGENCY_NUMBERS: tuple[str, ...] = ("108", "112")
DEFAULT_CLINIC_NAME = "Atlas Pain Care, Coimbatore"
DEFAULT_CLINIC_PHONE = "+91 422 000 0000"


class SafetyRulesError(ClinicQAError):
    """The safety rules file is missing or malformed. The message names the file and the rule."""

    def __init__(self, source: str, problem: str, rule: str | None = None) -> None:
        self.source = source
        self.rule = rule
        self.problem = problem
        where = f"{source}: rule {rule!r}: " if rule else f"{source}: "
        super().__init__(
            f"{where}{problem}. Fix the safety rules file (the comments at its top explain the format) "
            "and run the safety tests again."
        )


@dataclass(frozen=True)
class SafetyVerdict:
    """What to do with a message before retrieval."""

    action: Action
    rule: str | None  # id of the matched rule, e.g. "chest_pain"
    message: str  # the plain-words text to show (escalate/refer); "" for answer
    phones: tuple[str, ...]  # escalate: emergency numbers first, then the clinic; refer: the clinic
    matched: str | None  # the text of the message that matched (for explainability)
    # BCP 47 tag of the language ``message`` is written in: "en", "ta", "hi", "ta-Latn", "hi-Latn".
    language: str = "en"

    @property
    def escalate(self) -> bool:
        return self.action == "escalate"

    @property
    def refer(self) -> bool:
        return self.action == "refer"


ANSWER = SafetyVerdict(action="answer", rule=None, message="", phones=(), matched=None)


# ----------------------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class _Combo:
    """An ``all:`` pattern: every part must occur in the same sentence (scope "sentence") or anywhere in
    the message (scope "message")."""

    parts: tuple[re.Pattern[str], ...]
    scope: Literal["sentence", "message"]
    ascii: bool  # no part needs Tamil or Devanagari letters


@dataclass(frozen=True)
class Rule:
    """One rule from the rules file, with its patterns compiled."""

    id: str
    kind: RuleKind
    description: str
    message: str  # template with {emergency}, {clinic_phone}, {clinic_name}
    context: Literal["default", "any"]  # "any": escalate even on general questions
    patterns: tuple[str | tuple[str, ...], ...]  # as written (after term expansion)
    simple: re.Pattern[str] | None  # every single-part all-ASCII pattern, as one alternation
    simple_indic: re.Pattern[str] | None  # every single-part pattern with Tamil/Devanagari letters
    # `all:` patterns: every part must occur in the same sentence (scope "sentence") or anywhere in
    # the message (scope "message").
    combos: tuple[_Combo, ...]


@dataclass(frozen=True)
class _Cue:
    """A list of context patterns: the all-ASCII ones and those with Tamil/Devanagari letters, compiled apart
    so that English text never runs the second."""

    plain: re.Pattern[str] | None
    indic: re.Pattern[str] | None

    def search(self, text: str, pos: int = 0) -> re.Match[str] | None:
        """The first match at or after ``pos``, as one alternation of all the patterns would find it."""
        first = self.plain.search(text, pos) if self.plain is not None else None
        if self.indic is None or text.isascii():
            return first
        other = self.indic.search(text, pos)
        if first is None or (other is not None and other.start() < first.start()):
            return other
        return first


@dataclass(frozen=True)
class Cues:
    """How the context of a match is judged (the ``context`` section of the rules file)."""

    negation: frozenset[str]
    negation_fillers: frozenset[str]
    negation_window: int
    negation_after: frozenset[str]
    negation_after_skip: frozenset[str]
    negation_after_end: frozenset[str]
    negation_after_or: frozenset[str]  # "sujan ya laali nahi hai": "ya" and the word after it are skipped
    clause_breaks: frozenset[str]
    conditional: _Cue | None
    # Tamil and Hindi put "if" after the red flag: "நெஞ்சு வலி வந்தால்", "dard ho to".
    conditional_after: _Cue | None
    hypothetical: _Cue | None
    current: _Cue | None
    history: _Cue | None  # "2 years ago", "history of": past, not now ...
    recent: _Cue | None  # ... unless also "now", "again", "since", "today"


@dataclass(frozen=True)
class Language:
    """A language escalations are shown in besides English (the ``languages`` section of the rules file)."""

    code: str  # BCP 47: "ta", "hi", "ta-Latn", "hi-Latn"
    name: str
    script: Script  # the script its messages are written in, and that tells a message is in it
    or_word: str  # joins the emergency numbers: "108 அல்லது 112"
    markers: frozenset[str]  # Latin-script languages: words that tell it from English and from each other
    messages: Mapping[str, str]  # rule id or "default" -> template; the emergency numbers come first


@dataclass(frozen=True)
class RuleSet:
    """A loaded, validated and compiled rules file."""

    rules: tuple[Rule, ...]
    cues: Cues
    spelling: Mapping[str, str]
    fuzzy_words: tuple[str, ...]
    known_words: frozenset[str]  # never fuzzy-corrected
    source: str
    languages: tuple[Language, ...] = ()

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.rules)

    def get(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    @classmethod
    def load(cls, path: Path | str | None = None) -> RuleSet:
        """Read a rules file; ``None`` means the bundled ``qa/data/safety_rules.yaml``."""
        if path is None:
            res = resources.files("qa").joinpath(BUNDLED_RULES)
            source = str(res)
            try:
                text = res.read_text(encoding="utf-8")
            except OSError as e:
                raise SafetyRulesError(source, f"cannot read the bundled rules file ({e})") from e
        else:
            p = Path(path)
            source = str(p)
            try:
                text = p.read_text(encoding="utf-8")
            except FileNotFoundError as e:
                raise SafetyRulesError(source, "file not found") from e
            except (OSError, UnicodeDecodeError) as e:
                raise SafetyRulesError(source, f"cannot read the file ({e})") from e
        return cls.from_yaml(text, source=source)

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "<rules>") -> RuleSet:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise SafetyRulesError(source, f"not valid YAML ({e})") from e
        return _build(data, source)


_TERM_REF = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# An open-ended repeat of a group that itself holds an open-ended repeat, e.g. (a+)+ or (\w+ )*:
# such patterns can take exponential time. Bounded repeats like (?:\w+ ){0,2} are fine.
_NESTED_REPEAT = re.compile(r"\((?:[^()\\]|\\.)*(?:[+*]|\{\d*,\})(?:[^()\\]|\\.)*\)(?:[+*]|\{\d*,\})")


# Letters and vowel signs of Devanagari (without the danda and double danda, which end sentences) and of
# Tamil: the tokeniser keeps them in one word. Python's \w and \b do not count the vowel signs (Unicode
# categories Mn/Mc) as word characters, so they would cut "வலிக்குது" after "வலி". In a pattern with Tamil
# or Devanagari letters, \w therefore means any character of a word and the pattern's edges are word
# edges: in the normalised text every word and every punctuation mark (.,;:!?) is a token between single
# spaces, so a word character is anything but a space or one of those marks.
_INDIC_CHARS = "\u0900-\u0963\u0966-\u097f\u0b80-\u0bff"
_WORD_CLASS = "[^\\s.,;:!?]"
_WORD_START = "(?<![^\\s.,;:!?])"
_WORD_END = "(?![^\\s.,;:!?])"
_BARE_W = re.compile(r"(?<!\\)((?:\\\\)*)\\w")


# Spellings that differ only in what a reader does not notice are made one: Unicode NFC, the Devanagari
# nukta dropped (ज़्यादा = ज्यादा) and the chandrabindu written as anusvara (साँस = सांस), zero-width
# joiners removed, Devanagari and Tamil digits as ASCII digits. Messages and patterns are both folded.
_FOLD = str.maketrans(
    {"\u200c": None, "\u200d": None, "\u093c": None, "\u0901": "\u0902"}
    | {chr(0x0966 + d): str(d) for d in range(10)} | {chr(0x0BE6 + d): str(d) for d in range(10)}
)


def _fold(text: str) -> str:
    if text.isascii():
        return text
    return unicodedata.normalize("NFC", text).translate(_FOLD)


def _wrap(expanded: str, *more: str) -> str:
    """Patterns as matched: whole words, any of them (the first that matches wins, as in an alternation
    of each wrapped alone; the word edge before them is checked once, which is much faster). Patterns with
    Tamil or Devanagari letters count their vowel signs as word characters; all-ASCII ones (English,
    romanised Tamil and Hindi) are matched exactly as Python's \\b and \\w read them. Do not mix the two."""
    patterns = (expanded, *more)
    if all(p.isascii() for p in patterns):
        return r"\b(?:" + "|".join(f"(?:{p})" for p in patterns) + r")\b"
    bodies = [_BARE_W.sub(lambda m: m.group(1) + _WORD_CLASS, p) for p in patterns]
    return f"{_WORD_START}(?:" + "|".join(f"(?:{b})" for b in bodies) + f"){_WORD_END}"


def _alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of a pattern ("a|b(c|d)" -> ["a", "b(c|d)"])."""
    out: list[str] = []
    start, depth, in_class, i = 0, 0, False, 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            out.append(pattern[start:i])
            start = i + 1
        i += 1
    out.append(pattern[start:])
    return out


def _split_by_script(patterns: Sequence[str]) -> tuple[list[str], list[str]]:
    """(all-ASCII, with Tamil/Devanagari letters): each pattern's top-level alternatives sorted into the
    two, so that "साल पहले|saal pehle" still finds "saal pehle" in a message in Latin letters."""
    plain: list[str] = []
    indic: list[str] = []
    for p in patterns:
        if p.isascii():
            plain.append(p)
            continue
        for alt in _alternatives(p):
            (plain if alt.isascii() else indic).append(alt)
    return plain, indic


_TOP_LEVEL_KEYS = frozenset(
    {"version", "spelling", "fuzzy_words", "not_typos", "terms", "context", "rules", "languages"}
)
_CONTEXT_KEYS = frozenset({
    "negation", "negation_fillers", "negation_window", "negation_after", "negation_after_skip",
    "negation_after_end", "negation_after_or", "clause_breaks", "conditional", "conditional_after",
    "hypothetical", "current", "history", "recent",
})
_LANGUAGE_KEYS = frozenset({"name", "script", "or", "markers", "messages"})
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(?:-Latn)?")


def _build(data: Any, source: str) -> RuleSet:
    if not isinstance(data, dict):
        raise SafetyRulesError(source, "the file must be a mapping with a 'rules' list")
    unknown_top = set(data) - _TOP_LEVEL_KEYS
    if unknown_top:
        raise SafetyRulesError(
            source, f"unknown top-level key(s) {sorted(unknown_top)}; expected {sorted(_TOP_LEVEL_KEYS)}"
        )

    def str_list(value: Any, what: str) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
            raise SafetyRulesError(source, f"'{what}' must be a list of words")
        if any(isinstance(v, bool) for v in value):
            # YAML reads bare no/yes/on/off as true/false
            raise SafetyRulesError(
                source, f"'{what}' has a bare yes/no/on/off word; put it in quotes, e.g. \"no\""
            )
        return [_fold(str(v).lower()) for v in value]

    terms_raw = data.get("terms") or {}
    if not isinstance(terms_raw, dict):
        raise SafetyRulesError(source, "'terms' must be a mapping of name: pattern")
    terms: dict[str, str] = {}
    for name, value in terms_raw.items():
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            value = "|".join(value)
        if not isinstance(value, str) or not value.strip():
            raise SafetyRulesError(source, f"term {name!r} must be a pattern or a list of patterns")
        terms[str(name)] = f"(?:{_fold(value)})"

    def expand(pattern: str, rule: str | None) -> str:
        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in terms:
                raise SafetyRulesError(source, f"unknown term {{{name}}} in pattern {pattern!r}", rule)
            return terms[name]

        return _TERM_REF.sub(sub, _fold(pattern))

    def compile_one(pattern: Any, rule: str | None, what: str) -> re.Pattern[str]:
        if not isinstance(pattern, str) or not pattern.strip():
            raise SafetyRulesError(source, f"{what} must be a non-empty pattern, got {pattern!r}", rule)
        expanded = expand(pattern.strip(), rule)
        if _NESTED_REPEAT.search(expanded):
            raise SafetyRulesError(
                source, f"pattern {pattern!r} nests open-ended repeats, which can be very slow", rule
            )
        try:
            return re.compile(_wrap(expanded))
        except re.error as e:
            raise SafetyRulesError(source, f"pattern {pattern!r} is not a valid regex ({e})", rule) from e

    def compile_list(value: Any, what: str) -> _Cue | None:
        items = str_list(value, f"context.{what}")
        if not items:
            return None
        for item in items:
            compile_one(item, None, f"context.{what} entry")
        plain, indic = _split_by_script([expand(i, None) for i in items])
        return _Cue(re.compile(_wrap(*plain)) if plain else None, re.compile(_wrap(*indic)) if indic else None)

    # spelling & fuzzy words
    spelling_raw = data.get("spelling") or {}
    if not isinstance(spelling_raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in spelling_raw.items()
    ):
        raise SafetyRulesError(source, "'spelling' must map misspelt words to words")
    spelling = {_fold(k.lower()): _fold(v.lower()) for k, v in spelling_raw.items()}
    fuzzy = tuple(str_list(data.get("fuzzy_words"), "fuzzy_words"))
    known = frozenset(fuzzy) | frozenset(str_list(data.get("not_typos"), "not_typos")) | frozenset(
        spelling.values()
    )

    # context cues
    ctx = data.get("context") or {}
    if not isinstance(ctx, dict):
        raise SafetyRulesError(source, "'context' must be a mapping")
    unknown_ctx = set(ctx) - _CONTEXT_KEYS
    if unknown_ctx:
        raise SafetyRulesError(source, f"unknown key(s) in 'context': {sorted(unknown_ctx)}")
    window = ctx.get("negation_window", 6)
    if not isinstance(window, int) or not 0 <= window <= 20:
        raise SafetyRulesError(source, "'context.negation_window' must be a whole number from 0 to 20")
    def words(key: str) -> frozenset[str]:
        return frozenset(str_list(ctx.get(key), f"context.{key}"))

    cues = Cues(
        negation=words("negation"),
        negation_fillers=words("negation_fillers"),
        negation_window=window,
        negation_after=words("negation_after"),
        negation_after_skip=words("negation_after_skip"),
        negation_after_end=words("negation_after_end"),
        negation_after_or=words("negation_after_or"),
        clause_breaks=words("clause_breaks"),
        conditional=compile_list(ctx.get("conditional"), "conditional"),
        conditional_after=compile_list(ctx.get("conditional_after"), "conditional_after"),
        hypothetical=compile_list(ctx.get("hypothetical"), "hypothetical"),
        current=compile_list(ctx.get("current"), "current"),
        history=compile_list(ctx.get("history"), "history"),
        recent=compile_list(ctx.get("recent"), "recent"),
    )

    # rules
    rules_raw = data.get("rules")
    if not isinstance(rules_raw, list) or not rules_raw:
        raise SafetyRulesError(source, "'rules' must be a non-empty list")
    rules: list[Rule] = []
    seen: set[str] = set()
    for n, raw in enumerate(rules_raw, start=1):
        label = f"#{n}"
        if not isinstance(raw, dict):
            raise SafetyRulesError(source, "each rule must be a mapping", label)
        rid = raw.get("id")
        if not isinstance(rid, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", rid):
            raise SafetyRulesError(source, f"'id' must be a lower_case_name, got {rid!r}", label)
        if rid in seen:
            raise SafetyRulesError(source, "duplicate id", rid)
        seen.add(rid)
        unknown = set(raw) - {"id", "kind", "description", "message", "patterns", "context"}
        if unknown:
            raise SafetyRulesError(source, f"unknown field(s) {sorted(unknown)}", rid)
        kind = raw.get("kind")
        if kind not in ("escalate", "refer"):
            raise SafetyRulesError(source, f"'kind' must be escalate or refer, got {kind!r}", rid)
        description = raw.get("description")
        if not isinstance(description, str) or not description.strip():
            raise SafetyRulesError(source, "'description' is missing", rid)
        message = raw.get("message")
        if not isinstance(message, str) or not message.strip():
            raise SafetyRulesError(source, "'message' is missing", rid)
        _check_template(message, source, rid)
        context = raw.get("context", "default")
        if context not in ("default", "any"):
            raise SafetyRulesError(source, f"'context' must be default or any, got {context!r}", rid)
        patterns_raw = raw.get("patterns")
        if not isinstance(patterns_raw, list) or not patterns_raw:
            raise SafetyRulesError(source, "'patterns' must be a non-empty list", rid)
        simple: list[str] = []
        simple_indic: list[str] = []
        combos: list[_Combo] = []
        shown: list[str | tuple[str, ...]] = []
        for p in patterns_raw:
            if isinstance(p, dict):
                parts = p.get("all")
                scope = p.get("scope", "sentence")
                if not set(p) <= {"all", "scope"} or not isinstance(parts, list) or len(parts) < 2:
                    raise SafetyRulesError(
                        source, f"a pattern mapping must be 'all: [two or more patterns]', got {p!r}", rid
                    )
                if scope not in ("sentence", "message"):
                    raise SafetyRulesError(source, f"'scope' must be sentence or message, got {scope!r}", rid)
                compiled = tuple(compile_one(part, rid, "each part of 'all'") for part in parts)
                combos.append(_Combo(compiled, cast(Literal["sentence", "message"], scope),
                                     all(c.pattern.isascii() for c in compiled)))
                shown.append(tuple(expand(str(part), rid) for part in parts))
            else:
                compile_one(p, rid, "each pattern")
                one = expand(str(p).strip(), rid)
                plain, indic = _split_by_script([one])
                simple += plain
                simple_indic += indic
                shown.append(one)
        joined = re.compile(_wrap(*simple)) if simple else None
        joined_indic = re.compile(_wrap(*simple_indic)) if simple_indic else None
        rules.append(
            Rule(
                id=rid, kind=cast(RuleKind, kind), description=" ".join(description.split()),
                message=" ".join(message.split()), context=cast(Literal["default", "any"], context),
                patterns=tuple(shown), simple=joined, simple_indic=joined_indic, combos=tuple(combos),
            )
        )
    languages = _build_languages(data.get("languages"), source, rules)
    log.debug("loaded %d safety rules and %d languages from %s", len(rules), len(languages), source)
    return RuleSet(
        rules=tuple(rules), cues=cues, spelling=spelling, fuzzy_words=fuzzy, known_words=known, source=source,
        languages=languages,
    )


_SCRIPT_NAMES = {"latin": Script.LATIN, "tamil": Script.TAMIL, "devanagari": Script.DEVANAGARI}


def _build_languages(raw: Any, source: str, rules: Sequence[Rule]) -> tuple[Language, ...]:
    """The ``languages`` section: per language its script, marker words and escalation messages."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise SafetyRulesError(source, "'languages' must map a language code (e.g. ta, hi-Latn) to its settings")
    escalate_ids = {r.id for r in rules if r.kind == "escalate"}
    out: list[Language] = []
    scripts_seen: set[Script] = set()
    for code, spec in raw.items():
        where = f"languages.{code}"
        if not isinstance(code, str) or not _LANGUAGE_CODE.fullmatch(code) or code == "en":
            raise SafetyRulesError(source, f"{where}: the code must be like 'ta', 'hi' or 'ta-Latn' (English is "
                                           "the rules' own 'message')")
        if not isinstance(spec, dict) or set(spec) - _LANGUAGE_KEYS:
            raise SafetyRulesError(source, f"{where} must be a mapping with keys {sorted(_LANGUAGE_KEYS)}")
        name, script_name, or_word = spec.get("name"), spec.get("script"), spec.get("or")
        if not isinstance(name, str) or not name.strip():
            raise SafetyRulesError(source, f"{where}.name is missing")
        if script_name not in _SCRIPT_NAMES:
            raise SafetyRulesError(source, f"{where}.script must be one of {sorted(_SCRIPT_NAMES)}")
        script = _SCRIPT_NAMES[script_name]
        if not isinstance(or_word, str) or not or_word.strip():
            raise SafetyRulesError(source, f"{where}.or (the word that joins the emergency numbers) is missing")
        markers_raw = spec.get("markers") or []
        if not isinstance(markers_raw, list) or not all(isinstance(m, str) for m in markers_raw):
            raise SafetyRulesError(source, f"{where}.markers must be a list of words")
        if script == Script.LATIN:
            if not markers_raw:
                raise SafetyRulesError(source, f"{where}.markers: a language written in Latin letters needs "
                                               "words that tell it from English")
        elif script in scripts_seen:
            raise SafetyRulesError(source, f"{where}: another language is already written in {script_name}")
        scripts_seen.add(script)
        messages = spec.get("messages")
        if not isinstance(messages, dict) or "default" not in messages:
            raise SafetyRulesError(source, f"{where}.messages needs a 'default' escalation message")
        for key, text in messages.items():
            if key != "default" and key not in escalate_ids:
                raise SafetyRulesError(source, f"{where}.messages.{key}: not an escalate rule's id")
            if not isinstance(text, str) or not text.strip():
                raise SafetyRulesError(source, f"{where}.messages.{key} is empty")
            _check_template(text, source, f"{where}.messages.{key}")
            if not text.lstrip().startswith("{emergency}"):
                raise SafetyRulesError(source, f"{where}.messages.{key} must begin with {{emergency}}: the "
                                               "emergency numbers come first")
        out.append(Language(
            code=code, name=name.strip(), script=script, or_word=or_word.strip(),
            markers=frozenset(_fold(m.lower()) for m in markers_raw),
            messages={k: " ".join(unicodedata.normalize("NFC", str(v)).split()) for k, v in messages.items()},
        ))
    return tuple(out)


def _check_template(message: str, source: str, rid: str) -> None:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(message) if f is not None]
    except ValueError as e:
        raise SafetyRulesError(
            source, f"the message has a stray brace ({e}); write {{{{ or }}}} for a literal one", rid
        ) from e
    for f in fields:
        if f not in PLACEHOLDERS:
            raise SafetyRulesError(
                source, f"unknown placeholder {{{f}}} in the message; use {sorted(PLACEHOLDERS)}", rid
            )


# ------------------------------------------------------------------------------ text analysis

# A word is letters, digits and (Devanagari, Tamil) vowel signs and joiners: "நெஞ்சுவலி" is one word.
_LETTER = f"(?:[^\\W_]|[{_INDIC_CHARS}\u200c\u200d])"
_TOKEN = re.compile(rf"\d+(?:\.\d+)+|{_LETTER}+(?:['’`]{_LETTER}+)*|[.,;:!?\u0964\u0965]|\n")
_FULL_STOPS = frozenset({"\n", "\u0964", "\u0965"})  # a line break, the danda and double danda end a sentence
_SENTENCE_END = frozenset({".", "?", "!"})
_CONTRACTIONS = {
    "cant": "can't", "cannot": "can't", "dont": "don't", "doesnt": "doesn't", "didnt": "didn't",
    "wont": "won't", "isnt": "isn't", "arent": "aren't", "wasnt": "wasn't", "werent": "weren't",
    "havent": "haven't", "hasnt": "hasn't", "hadnt": "hadn't", "couldnt": "couldn't",
    "shouldnt": "shouldn't", "wouldnt": "wouldn't", "im": "i'm", "ive": "i've", "its": "it's",
}


@dataclass
class _Doc:
    """A message as words, with sentence and clause boundaries and offsets back to the original."""

    original: str
    tokens: list[str]
    ostart: list[int]
    oend: list[int]
    nstart: list[int]  # offset of each token in ``norm``
    norm: str
    sentence_of: list[int]
    sentences: list[tuple[int, int]]  # token ranges [a, b)
    clause_of: list[int]  # -1 for a clause-break word
    clauses: list[tuple[int, int, int]]  # (first token, end token, sentence)

    def text(self, a: int, b: int) -> str:
        """Normalised text of tokens [a, b)."""
        if a >= b:
            return ""
        return self.norm[self.nstart[a] : self.nstart[b - 1] + len(self.tokens[b - 1])]

    def token_range(self, start: int, end: int) -> tuple[int, int]:
        """Tokens covering the normalised character range [start, end)."""
        a = bisect_right(self.nstart, start) - 1
        b = bisect_right(self.nstart, end - 1)
        return max(a, 0), max(b, a + 1)

    def original_text(self, a: int, b: int) -> str:
        return self.original[self.ostart[a] : self.oend[b - 1]]


class _Normaliser:
    def __init__(self, rules: RuleSet) -> None:
        self._spelling = rules.spelling
        self._known = rules.known_words
        self._breaks = rules.cues.clause_breaks
        by_first: dict[str, list[str]] = {}
        for w in rules.fuzzy_words:
            if len(w) >= 6:
                by_first.setdefault(w[0], []).append(w)
        self._fuzzy = {k: tuple(v) for k, v in by_first.items()}
        self._cache: dict[str, str] = {}

    def word(self, raw: str) -> str:
        w = raw.lower().replace("’", "'").replace("`", "'")
        if not w.isascii():
            w = _fold(w)
        w = _CONTRACTIONS.get(w, w)
        w = self._spelling.get(w, w)
        if len(w) < 5 or w in self._known or not w.isalpha():
            return w
        hit = self._cache.get(w)
        if hit is None:
            hit = w
            for target in self._fuzzy.get(w[0], ()):
                if _one_edit(w, target):
                    hit = target
                    break
            if len(self._cache) > 20_000:
                self._cache.clear()
            self._cache[w] = hit
        return hit

    def __call__(self, text: str) -> _Doc:
        if not text.isascii():
            text = unicodedata.normalize("NFC", text)
        tokens: list[str] = []
        ostart: list[int] = []
        oend: list[int] = []
        for m in _TOKEN.finditer(text):
            tok = "." if m.group() in _FULL_STOPS else self.word(m.group())
            if tok == "not" and tokens and tokens[-1] == "can":  # "can not" -> "can't"
                tokens[-1] = "can't"
                oend[-1] = m.end()
                continue
            tokens.append(tok)
            ostart.append(m.start())
            oend.append(m.end())
        nstart: list[int] = []
        pos = 0
        for t in tokens:
            nstart.append(pos)
            pos += len(t) + 1
        norm = " ".join(tokens)

        sentence_of: list[int] = []
        sentences: list[tuple[int, int]] = []
        clause_of: list[int] = []
        clauses: list[tuple[int, int, int]] = []
        s_start = 0
        c_start = 0
        for i, t in enumerate(tokens):
            sentence_of.append(len(sentences))
            if t in self._breaks:
                if c_start < i:
                    clauses.append((c_start, i, len(sentences)))
                clause_of.append(-1)
                c_start = i + 1
                continue
            clause_of.append(len(clauses))
            if t in _SENTENCE_END:
                clauses.append((c_start, i + 1, len(sentences)))
                sentences.append((s_start, i + 1))
                s_start = c_start = i + 1
        if c_start < len(tokens):
            clauses.append((c_start, len(tokens), len(sentences)))
        if s_start < len(tokens):
            sentences.append((s_start, len(tokens)))
        return _Doc(text, tokens, ostart, oend, nstart, norm, sentence_of, sentences, clause_of, clauses)


def _one_edit(a: str, b: str) -> bool:
    """True when a and b differ by exactly one insertion, deletion, substitution or adjacent swap."""
    la, lb = len(a), len(b)
    if abs(la - lb) > 1 or a == b:
        return False
    if la == lb:
        diffs = [i for i in range(la) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        return (
            len(diffs) == 2 and diffs[1] == diffs[0] + 1
            and a[diffs[0]] == b[diffs[1]] and a[diffs[1]] == b[diffs[0]]
        )
    if la > lb:
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1 :]


# ----------------------------------------------------------------------------------- checker


@dataclass(frozen=True)
class _Hit:
    a: int  # first token of the match
    b: int  # end token of the match
    span: tuple[int, int]  # tokens to quote as the matched text


class SafetyChecker:
    """Decides, for one message, whether to escalate, refer or answer."""

    def __init__(
        self,
        rules: RuleSet,
        *,
        emergency_numbers: tuple[str, ...],
        clinic_name: str,
        clinic_phone: str,
    ) -> None:
        if not emergency_numbers or not all(str(n).strip() for n in emergency_numbers):
            raise ClinicQAError("SafetyChecker needs at least one emergency number, e.g. ('108', '112').")
        if not clinic_phone.strip():
            raise ClinicQAError("SafetyChecker needs the clinic phone number to show with every referral.")
        self.rules = rules
        self.emergency_numbers = tuple(emergency_numbers)
        self.clinic_name = clinic_name
        self.clinic_phone = clinic_phone
        values = {
            "emergency": " or ".join(self.emergency_numbers),
            "clinic_phone": clinic_phone,
            "clinic_name": clinic_name,
        }
        self._messages = {r.id: r.message.format_map(values) for r in rules.rules}
        # Escalation messages in the patients' other languages: (language, rule) -> text.
        self._localised: dict[tuple[str, str], str] = {}
        for lang in rules.languages:
            numbers = {**values, "emergency": f" {lang.or_word} ".join(self.emergency_numbers)}
            for r in rules.rules:
                if r.kind == "escalate":
                    text = lang.messages.get(r.id, lang.messages["default"])
                    self._localised[(lang.code, r.id)] = text.format_map(numbers)
        self._by_script: dict[Script, str] = {
            lang.script: lang.code for lang in rules.languages if lang.script != Script.LATIN
        }
        self._latin = tuple((lang.code, lang.markers) for lang in rules.languages if lang.script == Script.LATIN)
        self._phones: dict[str, tuple[str, ...]] = {
            "escalate": (*self.emergency_numbers, clinic_phone),
            "refer": (clinic_phone,),
        }
        self._order = [r for r in rules.rules if r.kind == "escalate"] + [
            r for r in rules.rules if r.kind == "refer"
        ]
        self._normalise = _Normaliser(rules)

    @classmethod
    def from_file(
        cls,
        path: Path | None = None,
        *,
        emergency_numbers: tuple[str, ...] = DEFAULT_EMERGENCY_NUMBERS,
        clinic_name: str = DEFAULT_CLINIC_NAME,
        clinic_phone: str = DEFAULT_CLINIC_PHONE,
    ) -> SafetyChecker:
        """Load a rules file (``None``: the bundled ``qa/data/safety_rules.yaml``)."""
        return cls(
            RuleSet.load(path), emergency_numbers=emergency_numbers,
            clinic_name=clinic_name, clinic_phone=clinic_phone,
        )

    @classmethod
    def from_settings(cls, settings: Any, path: Path | None = None) -> SafetyChecker:
        """Build from a :class:`qa.settings.Settings` (emergency numbers and clinic contact)."""
        return cls.from_file(
            path, emergency_numbers=tuple(settings.emergency_numbers),
            clinic_name=settings.clinic_name, clinic_phone=settings.clinic_phone,
        )

    # ------------------------------------------------------------------ public

    def check(self, message: str) -> SafetyVerdict:
        """Escalate (red flag now), refer (a decision for their doctor), or answer."""
        if not message or not message.strip():
            return ANSWER
        doc = self._normalise(message)
        for rule in self._order:
            hit = self._first_hit(rule, doc)
            if hit is not None:
                text, language = self._messages[rule.id], "en"
                if rule.kind == "escalate":  # referrals stay in English: their rules are English only
                    patient = self._language(doc)
                    localised = self._localised.get((patient, rule.id))
                    if localised is not None:
                        text, language = localised, patient
                log.info("safety: %s by rule %s (%s)", rule.kind, rule.id, language)
                return SafetyVerdict(
                    action=rule.kind, rule=rule.id, message=text, phones=self._phones[rule.kind],
                    matched=doc.original_text(*hit.span), language=language,
                )
        return ANSWER

    def language(self, message: str) -> str:
        """The language an escalation for ``message`` is shown in: "en" or a code of the rules file's
        ``languages`` ("ta", "hi", "ta-Latn", "hi-Latn")."""
        return self._language(self._normalise(message)) if message.strip() else "en"

    def _language(self, doc: _Doc) -> str:
        script = detect_script(doc.original)
        code = self._by_script.get(script)
        if code is not None:
            return code
        if script != Script.LATIN or not self._latin:
            return "en"
        # Romanised Tamil or Hindi: the one with the most of its marker words; English when none.
        best, best_n = "en", 0
        for code, markers in self._latin:
            n = sum(1 for t in doc.tokens if t in markers)
            if n > best_n:
                best, best_n = code, n
        return best

    def explain(self, message: str) -> list[tuple[str, str, str]]:
        """Every (rule, matched text, outcome) for a message -- to help clinicians edit rules."""
        out: list[tuple[str, str, str]] = []
        doc = self._normalise(message)
        for rule in self._order:
            for hit, ok in self._candidates(rule, doc):
                outcome = "counts" if ok else "ignored (negated or general question)"
                out.append((rule.id, doc.original_text(*hit.span), outcome))
        return out

    # ------------------------------------------------------------------ matching

    def _first_hit(self, rule: Rule, doc: _Doc) -> _Hit | None:
        for hit, ok in self._candidates(rule, doc):
            if ok:
                return hit
        return None

    def _candidates(self, rule: Rule, doc: _Doc) -> Iterator[tuple[_Hit, bool]]:
        judge = rule.kind == "escalate"
        indic = not doc.norm.isascii()  # patterns with Tamil/Devanagari letters cannot match otherwise
        for joined in (rule.simple, rule.simple_indic if indic else None):
            if joined is None:
                continue
            for m in joined.finditer(doc.norm):
                a, b = doc.token_range(m.start(), m.end())
                hit = _Hit(a, b, (a, b))
                yield hit, (not judge) or self._counts(rule, doc, a, b)
        for combo in rule.combos:
            if not (indic or combo.ascii):
                continue
            parts, scope = combo.parts, combo.scope
            ranges = doc.sentences if scope == "sentence" else [(0, len(doc.tokens))]
            for s_a, s_b in ranges:
                if s_a >= s_b:  # a message with no words at all (only symbols or control characters)
                    continue
                text = doc.text(s_a, s_b)
                base = doc.nstart[s_a]
                if parts[0].search(text) is None:  # the usual case, and the cheapest way to find out
                    continue
                found: list[re.Match[str]] = []
                for p in parts[1:]:  # stop at the first part that is missing
                    m_other = p.search(text)
                    if m_other is None:
                        break
                    found.append(m_other)
                if len(found) < len(parts) - 1:
                    continue
                for m in parts[0].finditer(text):
                    a, b = doc.token_range(base + m.start(), base + m.end())
                    lo = min([m.start(), *(o.start() for o in found)])
                    hi = max([m.end(), *(o.end() for o in found)])
                    hit = _Hit(a, b, doc.token_range(base + lo, base + hi))
                    yield hit, (not judge) or self._counts(rule, doc, a, b)

    def _counts(self, rule: Rule, doc: _Doc, a: int, b: int) -> bool:
        """Does an escalate match at tokens [a, b) describe something happening now?"""
        if self._negated(doc, a, b):
            return False
        if rule.context == "any":
            return True
        cues = self.rules.cues
        clause = doc.clause_of[a]
        if clause < 0:
            return True
        c_a, c_b, sentence = doc.clauses[clause]
        ctext = doc.text(c_a, c_b)
        at = doc.nstart[a] - doc.nstart[c_a]
        region = ctext
        if cues.conditional is not None:
            cond = cues.conditional.search(ctext)
            if cond is not None:
                if cond.start() < at:
                    return False  # "if I get a fever ..." / "what if ..."
                region = ctext[: cond.start()]
        if cues.conditional_after is not None:
            # "நெஞ்சு வலி வந்தால் ...", "seene mein dard ho to ...": hypothetical, unless the red flag is
            # said to be happening before the "if" ("kaichal iruku, injection pottaa ...").
            end_at = min(len(ctext), doc.nstart[b - 1] + len(doc.tokens[b - 1]) - doc.nstart[c_a])
            after = cues.conditional_after.search(ctext, end_at)
            if after is not None and not (
                cues.current is not None and cues.current.search(ctext[end_at : after.start()])
            ):
                return False
        if (
            cues.history is not None and cues.history.search(ctext)
            and not (cues.recent is not None and cues.recent.search(ctext))
        ):
            return False  # "my father had a stroke 2 years ago"
        if cues.current is not None and cues.current.search(region):
            return True
        if cues.hypothetical is not None:
            if cues.hypothetical.search(ctext):
                return False
            # A general question framed earlier in the sentence: "what are the risks, can it ..., X?"
            for e_a, e_b, e_sentence in doc.clauses[:clause]:
                if e_sentence == sentence and cues.hypothetical.search(doc.text(e_a, e_b)):
                    return False
        return True

    def _negated(self, doc: _Doc, a: int, b: int) -> bool:
        cues = self.rules.cues
        tokens = doc.tokens
        # English-style: "no fever", "I don't have any chest pain"
        i = a - 1
        while i >= 0 and a - i <= cues.negation_window:
            t = tokens[i]
            if t in cues.negation:
                return True
            if t not in cues.negation_fillers:
                break
            i -= 1
        # Hindi- and Tamil-style: "bukhar nahi hai", "chest mein dard toh nahi hai", "காய்ச்சல் இல்லை",
        # "sujan ya laali nahi hai" (a joining word and the word after it are skipped once)
        j, skipped, joined = b, 0, False
        while j < len(tokens):
            if skipped < 2 and tokens[j] in cues.negation_after_skip:
                j += 1
                skipped += 1
            elif not joined and tokens[j] in cues.negation_after_or and j + 2 < len(tokens):
                j += 2
                joined = True
            else:
                break
        if j < len(tokens) and tokens[j] in cues.negation_after:
            following = tokens[j + 1] if j + 1 < len(tokens) else ""
            return following in cues.negation_after_end
        return False


def load_checker(path: Path | None = None, **kwargs: Any) -> SafetyChecker:
    """Shorthand for :meth:`SafetyChecker.from_file`."""
    return SafetyChecker.from_file(path, **kwargs)


def rule_summary(rules: RuleSet) -> Sequence[tuple[str, str, str]]:
    """(id, kind, description) for every rule, e.g. for a staff page listing what is checked."""
    return [(r.id, r.kind, r.description) for r in rules.rules]
