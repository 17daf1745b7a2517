"""The answer engine: question -> safety check -> hybrid retrieval -> sentence extraction -> calibrated
confidence -> a cited, verbatim answer or an honest abstention.

``Engine.load(settings)`` is the only place that loads the model and the index (once); ``ask`` and
``search`` are thread-safe and allocate nothing shared.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.abbreviations import Abbreviations
from qa.context import GENERAL, Context, Preference, Procedures, Resolved, check_context, resolve
from qa.domain import (
    Answer,
    Candidate,
    Citation,
    DocumentInfo,
    Escalation,
    Page,
    Passage,
    Reading,
    Reason,
    SearchHit,
    Span,
)
from qa.embedding import Embedder, query_embedder
from qa.errors import ClinicQAError, InputError
from qa.extraction import (
    DEFAULT_MODEL_PATH,
    AnswerModel,
    Extractor,
    Windows,
    confidence_features,
)
from qa.glossary import Glossary
from qa.indexing import check_corpus_unchanged, chunk_input, index_settings
from qa.lexical import saved_or_built
from qa.multilingual import Form, MultilingualAnswerer, Route, route
from qa.retrieval import Retrieved, Retriever
from qa.settings import Settings
from qa.store import LEXICON_DIR, IndexData, load_index
from qa.text import clean_question, phases, terms

if TYPE_CHECKING:
    from qa.safety import SafetyChecker, SafetyVerdict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trace:
    """The engine's intermediate results for one question (for evaluation and fitting)."""

    question: str
    q_terms: list[str]
    q_vec: np.ndarray
    retrieved: Retrieved
    windows: Windows
    scores: np.ndarray  # ranker logit per window (empty when no model is loaded)


class Engine:
    def __init__(self, settings: Settings, data: IndexData, embedder: Embedder,
                 model: AnswerModel | None, safety: SafetyChecker | None = None,
                 abbreviations: Abbreviations | None = None) -> None:
        self.settings = settings
        self.abbreviations = abbreviations
        self.data = data
        self.embedder = embedder
        self.model = model
        self.safety = safety
        pages = {p.doc_id: p for p in data.pages}
        # BM25 sees what the embedder sees: the page title and section heading with the chunk text.
        # Saved with the build (read memory-mapped); builds made before it was saved get one built here.
        self.lexicon = saved_or_built(data.path / LEXICON_DIR if data.path else None,
                                      lambda: [chunk_input(pages[c.doc_id], c) for c in data.chunks],
                                      len(data.chunks))
        self.retriever = Retriever(data, self.lexicon, fusion=settings.fusion, rrf_k=settings.rrf_k,
                                   alpha=settings.fusion_alpha)
        self.extractor = Extractor(data, self.lexicon, n_passages=settings.extract_passages,
                                   max_sentences=settings.max_window_sentences,
                                   max_chars=settings.max_answer_chars)
        self.doc_index = {p.doc_id: i for i, p in enumerate(data.pages)}
        self._chunk_doc = np.asarray([self.doc_index[c.doc_id] for c in data.chunks], dtype=np.int64)
        self.threshold = (settings.answer_threshold if settings.answer_threshold is not None
                          else (model.threshold if model else 0.5))
        # Questions in Tamil and Hindi (qa/multilingual.py); set by load(), None = every question is English.
        self.glossary: Glossary | None = None
        self.multilingual: MultilingualAnswerer | None = None
        self.preference_rule = Preference.STAY  # chosen on the tune half of eval/context (BENCHMARKS.md)
        self.procedures = Procedures.from_pages(((p.procedure, p.title) for p in data.pages),
                                                abbreviations.table if abbreviations else None)

    # --- construction --------------------------------------------------------------------------

    @classmethod
    def load(cls, settings: Settings, *, index_dir: Path | None = None, with_model: bool = True) -> Engine:
        """Load the index (refusing a stale one), the embedder, the answer model and the safety rules."""
        index_dir = Path(index_dir or settings.index_dir)
        embedder = query_embedder(settings)  # questions: torch-free with CLINICQA_QUERY_ENCODER=onnx
        data = load_index(index_dir, expect=index_settings(settings, embedder))
        check_corpus_unchanged(data.manifest, settings, index_dir)
        model = None
        if with_model:
            path = Path(settings.answer_model_path) if settings.answer_model_path else DEFAULT_MODEL_PATH
            try:
                model = AnswerModel.load(path)
            except (OSError, ValueError, KeyError) as err:
                raise ClinicQAError(
                    f"The answer model {path} could not be read ({err}). Reinstall clinicqa or refit it "
                    "with `clinicqa fit`."
                ) from err
        safety = _load_safety(settings)
        abbreviations = Abbreviations.load(Path(settings.abbreviations_path) if settings.abbreviations_path else None)
        embedder.encode_query("warm up")  # first call pays one-off costs; keep them out of requests
        engine = cls(settings, data, embedder, model, safety, abbreviations)
        if settings.multilingual:
            engine.glossary = Glossary.load(Path(settings.glossary_path) if settings.glossary_path else None)
            engine.multilingual = MultilingualAnswerer.build(
                data, embedder.encode_query, threads=1, model_path=None,
                contact=settings.contact_message(), alternatives=settings.alternatives)
        return engine

    # --- public API ----------------------------------------------------------------------------

    @property
    def manifest(self) -> dict[str, Any]:
        return {k: v for k, v in self.data.manifest.items() if not k.startswith("_")}

    @property
    def index_version(self) -> str:
        return str(self.data.manifest.get("build_id", ""))

    def documents(self) -> list[DocumentInfo]:
        counts = np.bincount(self._chunk_doc, minlength=len(self.data.pages))
        return [DocumentInfo(doc_id=p.doc_id, title=p.title, url=p.url, source=p.source,
                             chunks=int(counts[i]), synthetic=p.synthetic, procedure=p.procedure,
                             category=p.category, last_reviewed=p.last_reviewed)
                for i, p in enumerate(self.data.pages)]

    def allowed_mask(self, procedure: str | None, category: str | None) -> np.ndarray | None:
        if not procedure and not category:
            return None
        ok_docs = np.asarray([(not procedure or p.procedure == procedure)
                              and (not category or p.category == category) for p in self.data.pages])
        if not ok_docs.any():
            known = sorted({p.procedure for p in self.data.pages if p.procedure} if procedure
                           else {p.category for p in self.data.pages if p.category})
            what = "procedure" if procedure else "category"
            raise InputError(f"No page has {what} {procedure or category!r}; known values: {', '.join(known)}.")
        return np.asarray(ok_docs[self._chunk_doc])

    def trace(self, question: str, *, allowed: np.ndarray | None = None, k: int | None = None,
              q_vec: np.ndarray | None = None) -> Trace:
        """``q_vec``: the question's vector when the caller already has it (batch analyses); not used
        when the question has abbreviations to spell out (:meth:`expand`), as the vector must be the
        expanded question's."""
        expanded = self.expand(question)
        if expanded != question:
            question, q_vec = expanded, None
        q_terms = terms(question)
        if q_vec is None:
            q_vec = self.embedder.encode_query(question)
        retrieved = self.retriever.retrieve(q_terms, q_vec, k or self.settings.retrieve_k, allowed)
        windows = self.extractor.windows(q_terms, q_vec, retrieved, self.doc_index, phases(question))
        scores = (self.model.ranker.logit(windows.features) if self.model and len(windows.items)
                  else np.zeros(len(windows.items)))
        return Trace(question, q_terms, q_vec, retrieved, windows, scores)

    def route(self, question: str) -> Route:
        """Which path answers ``question``: English, or the multilingual one (Tamil / Hindi, either script)."""
        return route(question, self.glossary) if self.multilingual is not None else Route(Form.ENGLISH, question)

    def expand(self, question: str) -> str:
        """The question with patients' abbreviations spelled out ("rfa (radiofrequency ablation)")."""
        return self.abbreviations.expand(question) if self.abbreviations else question

    def ask(self, question: str, *, procedure: str | None = None, category: str | None = None,
            q_vec: np.ndarray | None = None, context: Context | None = None) -> Answer:
        """``procedure``/``category`` are hard filters; ``context`` (the page's procedure and the
        conversation so far) is a soft preference, see :meth:`context_trace`, and the answer says how the
        question was read (``Answer.reading``). With ``context=None`` the answer is exactly what it was
        before context existed."""
        answer, r = self._ask(question, procedure=procedure, category=category, q_vec=q_vec, context=context)
        if r is None:
            return answer
        return dataclasses.replace(answer, reading=Reading(procedure=r.preference, source=r.source,
                                                           follow_up=r.follow_up, carried=r.carried))

    def _ask(self, question: str, *, procedure: str | None, category: str | None, q_vec: np.ndarray | None,
             context: Context | None) -> tuple[Answer, Resolved | None]:
        """The answer, and how the question was read in ``context`` (None without one, or for an emergency,
        which is escalated before the context is even checked)."""
        t0 = time.perf_counter()
        q = clean_question(question, self.settings.max_question_chars)
        answer_id = uuid.uuid4().hex
        verdict = self.safety.check(q) if self.safety else None
        if verdict is not None and verdict.action == "escalate":
            esc = Escalation(rule=verdict.rule or "", message=verdict.message, phones=tuple(verdict.phones),
                             language=verdict.language)
            return Answer(question=q, abstained=True, reason=Reason.EMERGENCY, confidence=0.0,
                          message=verdict.message, escalation=esc, answer_id=answer_id,
                          latency_ms=_ms(t0)), None
        resolved = self.resolve(q, context) if context is not None else None
        return self._answer(q, verdict, resolved, procedure=procedure, category=category, q_vec=q_vec,
                            answer_id=answer_id, t0=t0), resolved

    def _answer(self, q: str, verdict: SafetyVerdict | None, resolved: Resolved | None, *, procedure: str | None,
                category: str | None, q_vec: np.ndarray | None, answer_id: str, t0: float) -> Answer:
        rt = self.route(q)
        if rt.form is not Form.ENGLISH and self.multilingual is not None:  # Tamil / Hindi (qa/multilingual.py)
            mask = self.allowed_mask(procedure, category)
            if resolved is not None and resolved.preference is not None:  # the page's or the conversation's
                mask = self.preferred_or(resolved.preference, mask)
            docs = None if mask is None else np.bincount(self._chunk_doc[mask], minlength=len(self.data.pages)) > 0
            refer = verdict.message if verdict is not None and verdict.action == "refer" else None
            return self.multilingual.answer(q, rt, refer_message=refer, allowed_docs=docs, answer_id=answer_id, t0=t0)
        if self.model is None:
            raise ClinicQAError("No answer model is loaded; load the engine with with_model=True.")
        tr = (self.trace(q, allowed=self.allowed_mask(procedure, category), q_vec=q_vec) if resolved is None
              else self.context_trace(resolved, procedure=procedure, category=category))
        passages = tuple(self._passage(tr.retrieved, r) for r in range(len(tr.retrieved.chunks)))
        if not tr.windows.items:
            return Answer(question=q, abstained=True, reason=Reason.NO_RELEVANT_PASSAGE, confidence=0.0,
                          message=self.settings.contact_message(), retrieved=passages, answer_id=answer_id,
                          latency_ms=_ms(t0))
        ranked = self._distinct(tr)
        best_i = ranked[0]
        x_best = confidence_features(tr.windows, tr.scores, best_i, tr.retrieved)
        conf = float(self.model.calibrator.proba(x_best)[0])
        best = self._candidate(tr, best_i, conf, passages)
        alternatives = tuple(self._candidate(tr, i, self._confidence(tr, i), passages)
                             for i in ranked[1 : 1 + self.settings.alternatives])
        citations = self._citations(tr, best_i, passages)
        answered = conf >= self.threshold
        if verdict is not None and verdict.action == "refer":
            # A personal medical decision: show the page's general statement (when confident) and refer.
            return Answer(question=q, abstained=not answered, reason=Reason.NEEDS_CLINICIAN, confidence=conf,
                          best=best, citations=citations if answered else (), alternatives=alternatives,
                          message=verdict.message, retrieved=passages, answer_id=answer_id,
                          latency_ms=_ms(t0))
        if answered:
            return Answer(question=q, abstained=False, reason=Reason.ANSWERED, confidence=conf, best=best,
                          citations=citations, alternatives=alternatives, retrieved=passages,
                          answer_id=answer_id, latency_ms=_ms(t0))
        # The pages do not seem to cover the question at all (rather than: unsure which sentence answers it).
        weak = float(self.model.calibrator.covered(x_best)[0]) < 0.5
        return Answer(question=q, abstained=True,
                      reason=Reason.NO_RELEVANT_PASSAGE if weak else Reason.LOW_CONFIDENCE,
                      confidence=conf, best=best, alternatives=alternatives, retrieved=passages,
                      message=self.settings.contact_message(), answer_id=answer_id, latency_ms=_ms(t0))

    # --- page context and follow-ups (issue 13; the rules are in qa/context.py) ----------------------

    def resolve(self, question: str, context: Context) -> Resolved:
        """The question read in its context; InputError for an unknown procedure or a malformed history."""
        check_context(context, self.procedures, self.settings.max_question_chars)
        return resolve(question, context, self.procedures)

    def preferred_mask(self, procedure: str) -> np.ndarray:
        """Chunks of the procedure's pages and of the pages that apply to every procedure (``general``)."""
        ok = np.asarray([p.procedure == procedure or p.procedure == GENERAL for p in self.data.pages])
        return np.asarray(ok[self._chunk_doc])

    def preferred_or(self, preference: str, hard: np.ndarray | None) -> np.ndarray | None:
        """The chunks of :meth:`preferred_mask` within the hard filter ``hard``; ``hard`` itself when none is."""
        allowed = self.preferred_mask(preference)
        if hard is not None:
            allowed = allowed & hard
        return allowed if allowed.any() else hard

    def context_trace(self, resolved: Resolved, *, procedure: str | None = None,
                      category: str | None = None) -> Trace:
        """The trace of a question read in its context (:meth:`resolve`): retrieval matches the resolved text
        (the question plus a follow-up's carried words). With a preferred procedure (named in the question, carried from
        the history, or the page's) only its pages and the general page are searched; under
        ``Preference.FALLBACK`` the open trace (only the hard filters) is used instead when the preferred
        pages do not clear the threshold and it does. Either way a quote's confidence is the one the
        calibrator gives it among the pages searched, and a page outside the preference is never helped."""
        text = self.expand(resolved.text)
        q_vec = self.embedder.encode_query(text)
        hard = self.allowed_mask(procedure, category)
        allowed = hard if resolved.preference is None else self.preferred_or(resolved.preference, hard)
        if allowed is hard:  # no preference, or none of its pages within the hard filter
            return self.trace(text, allowed=hard, q_vec=q_vec)
        preferred = self.trace(text, allowed=allowed, q_vec=q_vec)
        if self.preference_rule == Preference.STAY or self.best_confidence(preferred) >= self.threshold:
            return preferred
        open_ = self.trace(text, allowed=hard, q_vec=q_vec)
        return open_ if self.best_confidence(open_) >= self.threshold else preferred

    def best_confidence(self, tr: Trace) -> float:
        """The calibrated confidence of the trace's best window (0 without windows)."""
        if not tr.windows.items:
            return 0.0
        return self._confidence(tr, int(np.argmax(tr.scores)))

    def search(self, query: str, *, k: int = 5, procedure: str | None = None,
               category: str | None = None) -> list[SearchHit]:
        """Ranked passages for staff lookup, each with its best-matching sentence to highlight."""
        q = clean_question(query, self.settings.max_question_chars)
        if not 1 <= k <= 50:
            raise InputError("k must be between 1 and 50.")
        expanded = self.expand(q)
        q_terms = terms(expanded)
        q_vec = self.embedder.encode_query(expanded)
        retrieved = self.retriever.retrieve(q_terms, q_vec, k, self.allowed_mask(procedure, category))
        hits = []
        for r, ci in enumerate(retrieved.chunks):
            units = self.data.chunk_units[int(ci)]
            chunk = self.data.chunks[int(ci)]
            if len(units):
                sims = self.data.unit_vectors[units] @ q_vec
                u = int(units[int(np.argmax(sims))])
                span = Span(int(self.data.unit_start[u]), int(self.data.unit_end[u]))
            else:
                span = Span(chunk.start, chunk.end)
            hits.append(SearchHit(self._passage(retrieved, r), span))
        return hits

    @property
    def pages(self) -> tuple[Page, ...]:
        """The indexed pages (text, headings and front matter), in index order."""
        return self.data.pages

    def page(self, doc_id: str) -> Page | None:
        """One indexed page by its doc_id, or None."""
        i = self.doc_index.get(doc_id)
        return None if i is None else self.data.pages[i]

    # --- internals -----------------------------------------------------------------------------

    def _passage(self, retrieved: Retrieved, r: int) -> Passage:
        chunk = self.data.chunks[int(retrieved.chunks[r])]
        page = self.data.pages[self.doc_index[chunk.doc_id]]
        return Passage(chunk=chunk, title=page.title, url=page.url, source=page.source,
                       score=float(retrieved.fused[r]), lexical=float(retrieved.bm25[r]),
                       dense=float(retrieved.dense[r]), rank=r + 1, synthetic=page.synthetic,
                       procedure=page.procedure, category=page.category, last_reviewed=page.last_reviewed)

    def _text(self, tr: Trace, i: int) -> str:
        w = tr.windows.items[i]
        return self.data.pages[w.doc].text[w.start : w.end]

    def _distinct(self, tr: Trace) -> list[int]:
        """Window indices by score, dropping windows that overlap a better one or repeat its text."""
        order = np.argsort(-tr.scores, kind="stable")
        kept: list[int] = []
        texts: set[str] = set()
        for i in order.tolist():
            w = tr.windows.items[i]
            text = " ".join(self._text(tr, i).split()).lower()
            if text in texts:
                continue
            if any(o.doc == w.doc and o.start < w.end and w.start < o.end
                   for o in (tr.windows.items[j] for j in kept)):
                continue
            kept.append(i)
            texts.add(text)
            if len(kept) > self.settings.alternatives:
                break
        return kept

    def _confidence(self, tr: Trace, i: int) -> float:
        if self.model is None:
            raise ClinicQAError("No answer model is loaded; load the engine with with_model=True.")
        x = confidence_features(tr.windows, tr.scores, i, tr.retrieved)
        return float(self.model.calibrator.proba(x)[0])

    def _candidate(self, tr: Trace, i: int, conf: float, passages: tuple[Passage, ...]) -> Candidate:
        w = tr.windows.items[i]
        return Candidate(text=self._text(tr, i), doc_id=self.data.pages[w.doc].doc_id, start=w.start,
                         end=w.end, passage=passages[w.rank], score=float(tr.scores[i]), confidence=conf)

    def _citations(self, tr: Trace, best: int, passages: tuple[Passage, ...]) -> tuple[Citation, ...]:
        """The best quote's citation, plus every other page that says exactly the same thing."""
        text = " ".join(self._text(tr, best).split()).lower()
        seen: set[str] = set()
        cites: list[Citation] = []
        for i in [best, *np.argsort(-tr.scores).tolist()]:
            w = tr.windows.items[i]
            doc_id = self.data.pages[w.doc].doc_id
            if doc_id in seen or " ".join(self._text(tr, i).split()).lower() != text:
                continue
            seen.add(doc_id)
            cites.append(self._candidate(tr, i, 0.0, passages).citation())
        return tuple(cites)


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)


def _load_safety(settings: Settings) -> SafetyChecker | None:
    from qa.safety import SafetyChecker

    path = Path(settings.safety_rules_path) if settings.safety_rules_path else None
    return SafetyChecker.from_file(path, emergency_numbers=tuple(settings.emergency_numbers),
                                   clinic_name=settings.clinic_name, clinic_phone=settings.clinic_phone)
