"""Page context and conversation history: which procedure a question is about, and what a follow-up
question refers to (issue 13).

The chat widget sits on one of the clinic's procedure pages (``/ui/?procedure=iliopsoas-injection``) and
remembers the patient's previous questions in the browser. A patient there types "how long does it take?"
(about the page's procedure) and then "and how long does the effect last?" or "what about the numbness?"
(about the previous turn). :func:`resolve` turns (question, :class:`Context`) into a :class:`Resolved`:

* ``preference`` — the procedure to prefer (a *soft* preference, see :meth:`qa.engine.Engine.ask`): the
  procedure the question names itself ("and for the genicular block?"), else — for a follow-up — the
  previous turn's, else the page's;
* ``text`` — what retrieval and extraction match: the patient's question, plus, for a follow-up without a
  topic of its own, the content words of the previous turn ("and after?" after "can I eat before the
  procedure?" is looked up as "and after? eat"). The question shown and logged stays the patient's own.

Pure functions over plain data (no engine, no model), so every rule is unit-tested
(tests/test_context.py) and measured (bench/context.py, BENCHMARKS.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from qa.errors import InputError
from qa.text import STOPWORDS, normalize, phases

MAX_HISTORY = 5
# Pages whose advice applies to every procedure (the FAQ do's and don'ts page): always reachable under a
# procedure preference.
GENERAL = "general"

# Words that only frame a question ("how long does it take?"): a follow-up made of these has no topic of
# its own, so the previous turn's topic carries over.
GENERIC = frozenset(
    """long last lasts lasting take takes taking happen happens happening normal much many often soon
    time times okay ok fine usual usually need needed possible expect expected going thing things else
    again same also well know tell mean means ask like want way kind sort long-term""".split()  # noqa: SIM905
)
# Words that start an elliptical follow-up ("and after?", "what about the numbness?").
_CONNECTOR = re.compile(r"^(?:and|but|also|so|then|what about|how about|what if|and if|plus|same for|"
                        r"what else|anything else)\b")
# Words that point back at the previous turn ("how long does that last?"). "it" usually means the
# procedure of the page or of the previous turn: it carries the procedure, not the topic.
_POINTERS = re.compile(r"\b(?:that|this|those|these|they|them|such)\b")
_IT = re.compile(r"\b(?:it|its|it's)\b")
_WORDS = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# First words of procedure names that are also ordinary words ("spinal fluid", "what triggers it").
_ORDINARY = frozenset({"spinal", "trigger", "medial", "nerve", "joint", "steroid", "facet"})
_NAME_WORDS = frozenset({"injection", "injections", "block", "blocks", "nerve", "joint", "trial", "ablation",
                         "and", "the", "a", "an", "of", "procedure", "procedures", "treatment", "shot"})


class Preference(StrEnum):
    """What a procedure preference does when its pages do not answer (measured in bench/context.py)."""

    FALLBACK = "fallback"  # use the unrestricted answer when it clears the threshold
    STAY = "stay"  # abstain: a quote from another procedure's page is not what the patient asked about


@dataclass(frozen=True)
class Context:
    """What the chat widget sends with a question: the page's procedure (or None) and the patient's previous
    questions in this conversation, newest last."""

    procedure: str | None = None
    history: tuple[str, ...] = ()


@dataclass(frozen=True)
class Procedures:
    """The corpus's procedures: slug -> display title, and a pattern of the names patients call each."""

    titles: Mapping[str, str]
    patterns: Mapping[str, re.Pattern[str]]
    general: frozenset[str]

    @classmethod
    def from_pages(cls, pages: Iterable[tuple[str | None, str]],
                   abbreviations: Mapping[str, str] | None = None) -> Procedures:
        """From (procedure, title) of each page (``Page.procedure``, ``Page.title``) and the abbreviations
        table (short -> long form, ``qa.abbreviations``). A procedure's names: its title and each part of it
        around "and" ("Facet Joint Injection and Medial Branch Block": "facet joint injection", "medial
        branch block"), each part's first two words ("medial branch"), its first word when that is not an
        ordinary word ("genicular", "iliopsoas"), a long word no other title has ("stimulator"), its slug's
        words, and every abbreviation whose long form is one of these ("gnb")."""
        titles: dict[str, str] = {}
        general: set[str] = set()
        for procedure, title in pages:
            if not procedure:
                continue
            if procedure == GENERAL:
                general.add(procedure)
                continue
            titles.setdefault(procedure, title)
        words_of = {slug: set(_WORDS.findall(normalize(title))) for slug, title in titles.items()}
        names: dict[str, set[str]] = {}
        for slug, title in titles.items():
            # a long word of this title only ("stimulator", "ganglion") names it on its own
            others = set().union(*(w for s, w in words_of.items() if s != slug))
            own_words = {w for w in words_of[slug] - others
                         if len(w) >= 7 and w not in _ORDINARY and w not in _NAME_WORDS}
            own = {normalize(slug.replace("-", " ")), normalize(title), *own_words}
            for part in re.split(r"\band\b|&|/|,", normalize(title)):
                words = _WORDS.findall(part)
                if not words:
                    continue
                own.add(" ".join(words))
                if len(words) >= 3:
                    own.add(" ".join(words[:2]))
                if words[0] not in _ORDINARY and words[0] not in _NAME_WORDS and len(words[0]) >= 5:
                    own.add(words[0])
                # "genicular block", "occipital injection": the first word with the kind of procedure.
                if words[0] not in _ORDINARY and words[-1] in _NAME_WORDS:
                    own.update(f"{words[0]} {kind}" for kind in ("injection", "block", "shot"))
            for short, long in (abbreviations or {}).items():
                if normalize(long) in own or any(normalize(long) == n for n in own):
                    own.add(short.lower())
            names[slug] = {n for n in own if n}
        patterns = {
            slug: re.compile(r"(?<![a-z0-9])(?:" + "|".join(re.escape(n) + "s?" for n in sorted(ns, key=len,
                                                                                               reverse=True))
                             + r")(?![a-z0-9])")
            for slug, ns in names.items()
        }
        return cls(titles=titles, patterns=patterns, general=frozenset(general))

    def known(self) -> tuple[str, ...]:
        return tuple(sorted(self.titles))

    def title(self, slug: str) -> str:
        return self.titles.get(slug, slug)

    def mention(self, text: str, slug: str) -> tuple[int, int] | None:
        """Where (in ``normalize(text)``) ``text`` first names the procedure ``slug``, or None."""
        rx = self.patterns.get(slug)
        m = rx.search(normalize(text)) if rx is not None else None
        return (m.start(), m.end()) if m else None

    def named(self, text: str) -> tuple[str, ...]:
        """The procedures ``text`` names, in the order they first appear."""
        t = normalize(text)
        found = []
        for slug, rx in self.patterns.items():
            m = rx.search(t)
            if m:
                found.append((m.start(), slug))
        return tuple(slug for _, slug in sorted(found))


@dataclass(frozen=True)
class Resolved:
    """How a question is read in its context (see the module docstring)."""

    question: str  # the patient's own question (shown, logged)
    text: str  # what retrieval and extraction match
    preference: str | None  # the procedure to prefer, or None
    source: str  # where the preference came from: "question", "history", "page" or "none"
    follow_up: bool  # the question depends on the previous turn
    carried: tuple[str, ...] = ()  # words carried over from the previous turn (into ``text`` only)

    def key(self) -> tuple[str, str]:
        """What the answer depends on besides the question (for the answer cache)."""
        return (self.preference or "", self.text)


def check_context(context: Context, procedures: Procedures, max_chars: int) -> None:
    """Raise InputError, saying what to send instead, for an unknown procedure or a malformed history."""
    if context.procedure is not None and context.procedure not in procedures.titles:
        raise InputError(f"Unknown procedure {context.procedure!r} in context; known procedures: "
                         f"{', '.join(procedures.known())} (see GET /v1/documents).")
    if len(context.history) > MAX_HISTORY:
        raise InputError(f"The context history has {len(context.history)} questions; send at most "
                         f"{MAX_HISTORY}, the newest last.")
    for i, previous in enumerate(context.history):
        if not isinstance(previous, str) or not previous.strip():
            raise InputError(f"context.history[{i}] is empty: send the patient's previous questions as text.")
        if len(previous) > max_chars:
            raise InputError(f"context.history[{i}] is {len(previous)} characters long; each previous "
                             f"question may have at most {max_chars}.")


def content_words(text: str, procedures: Procedures | None = None) -> tuple[str, ...]:
    """The words of ``text`` that say what it is about: not stop words, not question framing (GENERIC),
    not a procedure's name (that is carried as the preference instead), in order, without repeats."""
    t = normalize(text)
    if procedures is not None:
        for rx in procedures.patterns.values():
            t = rx.sub(" ", t)
    seen: list[str] = []
    for w in _WORDS.findall(t):
        if w in STOPWORDS or w in GENERIC or w in _NAME_WORDS or w.isdigit() or w in seen:
            continue
        seen.append(w)
    return tuple(seen)


def is_follow_up(question: str, procedures: Procedures | None = None) -> bool:
    """Does the question lean on an earlier one? It starts with a connector ("and after?", "what about
    the numbness?"), points back ("how long does that last?"), or says nothing of its own but "it"
    ("is it painful?")."""
    t = normalize(question).strip()
    if _CONNECTOR.search(t) or _POINTERS.search(t):
        return True
    return bool(_IT.search(t)) or not content_words(question, procedures)


def _needs_topic(question: str, procedures: Procedures) -> bool:
    """A follow-up whose topic is the previous turn's: elliptical ("and after?", "what about the
    numbness?") or pointing back ("how long does that last?") with at most one content word of its own."""
    t = normalize(question).strip()
    own = content_words(question, procedures)
    if not own:
        return True
    return bool(_CONNECTOR.search(t) or _POINTERS.search(t)) and len(own) <= 1


def resolve(question: str, context: Context | None, procedures: Procedures, *, _depth: int = 0) -> Resolved:
    """Read ``question`` in ``context`` (see the module docstring). With no context — or an empty one —
    the result is the question itself, with no preference."""
    if context is None:
        return Resolved(question=question, text=question, preference=None, source="none", follow_up=False)
    named = procedures.named(question)
    history = tuple(h for h in context.history if h and h.strip())
    follow = bool(history) and is_follow_up(question, procedures)
    previous: Resolved | None = None  # the previous turn, itself read in its own context
    if history and _depth < MAX_HISTORY:
        previous = resolve(history[-1], Context(context.procedure, history[:-1]), procedures, _depth=_depth + 1)
    if named:
        preference, source = named[0], "question"
    elif previous is not None and previous.preference is not None:
        preference, source = previous.preference, ("history" if previous.source in ("question", "history")
                                                   else previous.source)
    elif context.procedure:
        preference, source = context.procedure, "page"
    else:
        preference, source = None, "none"
    carried: tuple[str, ...] = ()
    if (previous is not None and follow and named and previous.preference
            and previous.preference != named[0] and _needs_topic(question, procedures)):
        # "and for the genicular block?" after "what should i wear for an rfa?": the previous question with
        # the new procedure in place of the old one (or after it, when it named none).
        new_at = procedures.mention(question, named[0])
        old_at = procedures.mention(previous.text, previous.preference)
        name = normalize(question)[new_at[0]:new_at[1]] if new_at else procedures.title(named[0]).lower()
        earlier = normalize(previous.text)
        text = f"{earlier[:old_at[0]]}{name}{earlier[old_at[1]:]}" if old_at else f"{earlier} {name}"
        carried = tuple(w for w in content_words(earlier, procedures) if w not in content_words(question, procedures))
        return Resolved(question=question, text=text, preference=named[0], source="question", follow_up=True,
                        carried=carried)
    if previous is not None and follow and _needs_topic(question, procedures):
        own = set(content_words(question, procedures))
        before = content_words(previous.text, procedures)
        carried = tuple(w for w in before if w not in own)
        if phases(question):  # "and after?": the new phase replaces the previous one
            carried = tuple(w for w in carried if not phases(w))
        else:  # "before", "after" are stop words: carry the previous turn's phase by name
            carried += tuple(sorted(phases(previous.text) - set(carried)))
    text = f"{question} {' '.join(carried)}".strip() if carried else question
    return Resolved(question=question, text=text, preference=preference, source=source, follow_up=follow,
                    carried=carried)

