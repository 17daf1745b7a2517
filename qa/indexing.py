"""Building the index: corpus -> pages -> chunks and sentences -> vectors -> FAISS + manifest.

Every sentence and heading is embedded once. A chunk's vector is *pooled*, not embedded again: the mean
of its sentences' vectors (normalised) plus ``TITLE_WEIGHT`` times its page title's vector, normalised.
Embedding each chunk's text as well cost half of the build; the pooled vectors retrieve as well or better
(tune splits, dense-only doc_hit@1: dev 0.917 → 0.952, clinic questions 0.820 → 0.852; weighted fusion
0.940 → 0.940 and 0.910 → 0.918 — BENCHMARKS.md), because a mean of sentence vectors does not let one
long sentence dominate and the title names the topic most questions name.

Rebuilding re-embeds only what changed: vectors of the previous build are reused for every chunk and
sentence whose text (and model) is unchanged, keyed by a content hash.
"""

from __future__ import annotations

import hashlib
import logging
import platform
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from qa import __version__
from qa.chunking import chunk_page
from qa.domain import Chunk, Page, content_hash
from qa.embedding import Embedder, get_embedder, usable_cpus, worker_pool
from qa.errors import ClinicQAError, IndexDamagedError, IndexMismatchError, IndexNotFoundError
from qa.ingest import corpus_files, load_corpus
from qa.lexical import Lexicon
from qa.multilingual import get_encoder
from qa.multilingual import model_id as multilingual_model_id
from qa.settings import Settings
from qa.store import (
    FORMAT_VERSION,
    UNIT_HEADING,
    UNIT_SENTENCE,
    IndexData,
    check_manifest,
    load_index,
    make_faiss_index,
    read_manifest,
    verify_files,
    write_index,
)

log = logging.getLogger(__name__)

# progress(stage, done, total)
Progress = Callable[[str, int, int], None]

# Below these sizes a build runs in this process: starting worker processes (each imports torch and
# loads the model) costs a few seconds, more than it saves on a small corpus or a small rebuild.
PARALLEL_MIN_PAGES = 200
PARALLEL_MIN_TEXTS = 2000
CHUNK_JOB_CHARS = 200_000  # characters of page text per chunking job
MAX_AUTO_WORKERS = 8  # each worker holds its own copy of torch and the model (~0.5 GB)
TITLE_WEIGHT = 0.5  # of the page title's vector in a chunk's pooled vector (chosen on the tune splits)
CHUNK_POOLING = f"mean-of-sentences+{TITLE_WEIGHT}*title"


def pool_chunk_vector(sentence_vectors: np.ndarray, title_vector: np.ndarray,
                      title_weight: float = TITLE_WEIGHT) -> np.ndarray:
    """A chunk's vector from its sentences' (rows, L2-normalised) and its page title's vector."""
    if len(sentence_vectors):
        mean = sentence_vectors.astype(np.float64).mean(axis=0)
        v = mean / (np.linalg.norm(mean) or 1.0) + title_weight * title_vector
    else:
        v = title_vector.astype(np.float64)
    return (v / (np.linalg.norm(v) or 1.0)).astype(np.float32)


def corpus_fingerprint(path: Path) -> str:
    """A hash of the corpus files' names and bytes (cheap: no parsing)."""
    path = Path(path)
    h = hashlib.sha256()
    root = path if path.is_dir() else path.parent
    for f in corpus_files(path):
        h.update(f.relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()[:24]


def index_settings(settings: Settings, embedder: Embedder) -> dict[str, Any]:
    """What an index depends on besides the corpus: a changed value makes a stored index stale."""
    return {
        "model": embedder.model_id,
        # the model of the multilingual sentence vectors (questions in Tamil and Hindi): another version makes
        # them stale. Whether the build has them (CLINICQA_MULTILINGUAL, multilingual_index_max_sentences) is in
        # counts.multilingual_vectors; an engine finding none answers every question on the English path.
        "multilingual_model": multilingual_model_id(),
        "embed_dtype": embedder.resolved_dtype,
        "chunk_max_chars": settings.chunk_max_chars,
        "chunk_overlap_sentences": settings.chunk_overlap_sentences,
        "chunk_max_seq_length": settings.chunk_max_seq_length,
        "chunk_vectors": CHUNK_POOLING,
    }


def chunk_input(page: Page, chunk: Chunk) -> str:
    """The text embedded for a chunk: the page title and section give the chunk its context."""
    head = page.title
    if chunk.section and chunk.heading is not None and chunk.start != chunk.heading.start:
        head = f"{head} — {chunk.section}"
    return f"{head}\n{chunk.text}"


def check_corpus_unchanged(manifest: dict[str, Any], settings: Settings, index_dir: Path) -> None:
    """Raise IndexMismatchError when the corpus the index was built from has changed since (unless
    ``settings.check_corpus`` is off, or the corpus is not where it was)."""
    corpus = Path(str(manifest.get("corpus", "")))
    if settings.check_corpus and manifest.get("corpus") and corpus.exists() and \
            corpus_fingerprint(corpus) != manifest.get("corpus_fingerprint"):
        raise IndexMismatchError(
            f"The corpus {corpus} has changed since the index in {index_dir} was built. "
            f"Rebuild it: clinicqa build-index --corpus {corpus} --index {index_dir}"
        )


def stale_reason(settings: Settings, index_dir: Path | None = None) -> str | None:
    """Why the index must be (re)built before serving — missing, damaged, built with other settings or
    model, or from a corpus that changed since — or None when it is current. The checks are those of
    loading (:func:`qa.store.check_manifest`, :func:`check_corpus_unchanged`, and the files' sizes and
    checksums, :func:`qa.store.verify_files`; builds without checksums are loaded in full)."""
    index_dir = Path(index_dir or settings.index_dir)
    embedder = get_embedder(settings.model_path, settings.embed_dtype, settings.embed_batch_size,
                            settings.chunk_max_seq_length)  # cheap: the model loads on first use
    try:
        manifest = read_manifest(index_dir)
        check_manifest(manifest, index_dir, index_settings(settings, embedder))
        check_corpus_unchanged(manifest, settings, index_dir)
        verify_files(manifest, index_dir)
        if not isinstance(manifest.get("files"), dict):
            load_index(index_dir)
    except IndexNotFoundError:
        return f"there is no index in {index_dir}"
    except (IndexMismatchError, IndexDamagedError) as err:
        return str(err)
    return None


def _previous_vectors(index_dir: Path, expect: dict[str, Any]) -> dict[str, np.ndarray]:
    try:
        old = load_index(index_dir, expect=expect)
    except (IndexNotFoundError, IndexMismatchError):
        return {}
    except IndexDamagedError as err:  # nothing of a damaged build is reused: everything is embedded again
        log.warning("%s; building it again from scratch", err)
        return {}
    cache: dict[str, np.ndarray] = {}
    pairs = [(old.chunk_keys, old.chunk_vectors), (old.unit_keys, old.unit_vectors)]
    if old.ml_vectors is not None and old.ml_keys is not None and len(old.ml_keys) == len(old.ml_vectors):
        pairs.append((old.ml_keys, old.ml_vectors))
    for keys, vecs in pairs:
        for k, v in zip(keys.tolist(), vecs, strict=True):
            cache[str(k)] = v
    return cache


def _multilingual_vectors(settings: Settings, unit_texts: list[str], unit_kinds: list[int],
                          cache: dict[str, np.ndarray],
                          progress: Progress | None) -> tuple[np.ndarray | None, list[str], int]:
    """Every unit's vector from the multilingual model (reused from the previous build when its text is
    unchanged), or None when the path is off or the corpus has more sentences than
    ``multilingual_index_max_sentences``. Headings are not answers: their rows stay zero.
    Returns (vectors, keys, number embedded now)."""
    n_sentences = sum(1 for k in unit_kinds if k == UNIT_SENTENCE)
    if not settings.multilingual or n_sentences > settings.multilingual_index_max_sentences:
        if settings.multilingual:
            log.info("no multilingual vectors: %d sentences > multilingual_index_max_sentences=%d", n_sentences,
                     settings.multilingual_index_max_sentences)
        return None, [], 0
    tag = multilingual_model_id()
    keys = [content_hash(tag, t) for t in unit_texts]
    rows: list[np.ndarray | None] = [cache.get(k) for k in keys]
    rows = [v if v is not None and v.any() else None for v in rows]  # a heading's zero row is no vector
    todo = [i for i, v in enumerate(rows) if v is None and unit_kinds[i] == UNIT_SENTENCE]
    if todo:
        # One OpenMP thread: more spin-wait for each other on a shared machine (2 threads took 5x the wall time
        # of 1 for the same sentences with the cores busy; BENCHMARKS.md), and the CPU cost is the same.
        encoder = get_encoder(1)
        for n in range(0, len(todo), 64):
            part = todo[n : n + 64]
            for i, v in zip(part, encoder.passages([unit_texts[i] for i in part]), strict=True):
                rows[i] = v
            if progress:
                progress("multilingual", min(n + 64, len(todo)), len(todo))
    dim = next((v.shape[0] for v in rows if v is not None), 384)
    return _stack(rows, dim), keys, len(todo)


def _chunk_pages(pages: Sequence[Page], max_chars: int, overlap: int) -> list[list[Chunk]]:
    """Chunks of each page (runs in a worker process)."""
    return [chunk_page(page, max_chars, overlap) for page in pages]


def _chunk_all(pages: Sequence[Page], settings: Settings, pool: Executor | None,
               progress: Progress | None) -> list[list[Chunk]]:
    """Chunks of every page, in page order; in ``pool``'s processes when given (pysbd is slow)."""
    size, overlap = settings.chunk_max_chars, settings.chunk_overlap_sentences
    out: list[list[Chunk]] = []
    if pool is None:
        for di, page in enumerate(pages):
            out.append(chunk_page(page, size, overlap))
            if progress:
                progress("chunking", di + 1, len(pages))
        return out
    batches: list[tuple[int, int]] = []  # [start, end) page ranges of about CHUNK_JOB_CHARS characters
    start, chars = 0, 0
    for di, page in enumerate(pages):
        chars += len(page.text)
        if chars >= CHUNK_JOB_CHARS:
            batches.append((start, di + 1))
            start, chars = di + 1, 0
    if start < len(pages):
        batches.append((start, len(pages)))
    futures = {pool.submit(_chunk_pages, pages[a:b], size, overlap): (a, b) for a, b in batches}
    results: dict[int, list[list[Chunk]]] = {}
    done = 0
    for fut in as_completed(futures):
        a, b = futures[fut]
        results[a] = fut.result()
        done += b - a
        if progress:
            progress("chunking", done, len(pages))
    for a, _ in batches:
        out.extend(results[a])
    return out


def _stack(rows: list[np.ndarray | None], dim: int) -> np.ndarray:
    out = np.zeros((len(rows), dim), dtype=np.float32)
    for i, v in enumerate(rows):
        if v is not None:
            out[i] = v
    return out


def build_index(settings: Settings, *, corpus: Path | None = None, index_dir: Path | None = None,
                strict: bool = False, progress: Progress | None = None,
                embedder: Embedder | None = None) -> dict[str, Any]:
    """Build (or incrementally rebuild) the index and make it current. Returns the manifest."""
    corpus = Path(corpus or settings.corpus_dir)
    index_dir = Path(index_dir or settings.index_dir)
    started = time.perf_counter()
    result = load_corpus(corpus, strict=strict)
    if not result.pages:
        raise ClinicQAError(f"No pages could be read from {corpus}; nothing to index.")
    fingerprint = corpus_fingerprint(corpus)
    embedder = embedder or get_embedder(settings.model_path, settings.embed_dtype, settings.embed_batch_size,
                                        settings.chunk_max_seq_length)
    expect = index_settings(settings, embedder)

    pages = result.pages
    chunks: list[Chunk] = []
    chunk_inputs: list[str] = []
    unit_rows: list[tuple[int, int, int, int]] = []  # doc, start, end, kind
    unit_of: dict[tuple[int, int, int], int] = {}
    chunk_units: list[np.ndarray] = []
    heading_unit: list[int] = []
    chunk_doc: list[int] = []  # page index of each chunk

    def unit(doc: int, start: int, end: int, kind: int) -> int:
        key = (doc, start, end)
        if key not in unit_of:
            unit_of[key] = len(unit_rows)
            unit_rows.append((doc, start, end, kind))
        return unit_of[key]

    workers = settings.build_workers or min(usable_cpus(), MAX_AUTO_WORKERS)
    pool: ProcessPoolExecutor | None = None
    try:
        t_chunk = time.perf_counter()
        if workers > 1 and len(pages) >= PARALLEL_MIN_PAGES:
            pool = worker_pool(workers)
        page_chunks = _chunk_all(pages, settings, pool, progress)
        for di, (page, these) in enumerate(zip(pages, page_chunks, strict=True)):
            for chunk in these:
                chunks.append(chunk)
                chunk_doc.append(di)
                chunk_inputs.append(chunk_input(page, chunk))
                heading_unit.append(unit(di, chunk.heading.start, chunk.heading.end, UNIT_HEADING)
                                    if chunk.heading else -1)
                chunk_units.append(np.asarray([unit(di, s.start, s.end, UNIT_SENTENCE) for s in chunk.sentences],
                                              dtype=np.int64))
        chunk_seconds = time.perf_counter() - t_chunk
        if not chunks:
            raise ClinicQAError(f"The pages in {corpus} have no text to index.")

        unit_texts = [pages[d].text[s:e] for d, s, e, _ in unit_rows]
        tag = f"{embedder.model_id}|{embedder.resolved_dtype}|{settings.chunk_max_seq_length}"
        chunk_keys = [content_hash(tag, CHUNK_POOLING, t) for t in chunk_inputs]
        unit_keys = [content_hash(tag, t) for t in unit_texts]

        cache = _previous_vectors(index_dir, expect)
        chunk_rows: list[np.ndarray | None] = [cache.get(k) for k in chunk_keys]
        unit_vec_rows: list[np.ndarray | None] = [cache.get(k) for k in unit_keys]
        # the titles of the pages whose chunks are new or changed (their vectors are pooled below)
        title_docs = sorted({chunk_doc[i] for i, v in enumerate(chunk_rows) if v is None})
        title_rows: list[np.ndarray | None] = [None] * len(title_docs)
        todo = [(unit_vec_rows, i, t) for i, t in enumerate(unit_texts) if unit_vec_rows[i] is None]
        todo += [(title_rows, i, pages[d].title) for i, d in enumerate(title_docs)]
        reused = len(unit_rows) - sum(v is None for v in unit_vec_rows)
        t_embed = time.perf_counter()
        if todo:
            done = 0

            def tick(n: int) -> None:
                nonlocal done
                done += n
                if progress:
                    progress("embedding", done, len(todo))

            texts = [t for _, _, t in todo]
            # Worker processes pay off for a big job; a few changed texts are embedded here, unless the
            # workers are running anyway (started for chunking).
            if pool is None and workers > 1 and len(set(texts)) >= PARALLEL_MIN_TEXTS:
                pool = worker_pool(workers)
            vecs = (embedder.encode(texts, progress=tick, executor=pool) if pool is not None
                    else embedder.encode(texts, progress=tick))
            for (target, i, _), v in zip(todo, vecs, strict=True):
                target[i] = v
        embed_seconds = time.perf_counter() - t_embed
        t_ml = time.perf_counter()
        ml_vecs, ml_keys, ml_embedded = _multilingual_vectors(settings, unit_texts, [r[3] for r in unit_rows], cache,
                                                              progress)
        ml_seconds = time.perf_counter() - t_ml
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    dim = next(v for v in [*unit_vec_rows, *title_rows, *chunk_rows] if v is not None).shape[0]
    unit_vecs = _stack(unit_vec_rows, dim)
    title_of = {d: v for d, v in zip(title_docs, title_rows, strict=True) if v is not None}
    for ci, v in enumerate(chunk_rows):
        if v is None:  # its page's title was embedded above
            chunk_rows[ci] = pool_chunk_vector(unit_vecs[chunk_units[ci]], title_of[chunk_doc[ci]])
    chunk_vecs = _stack(chunk_rows, dim)

    faiss_index = make_faiss_index(chunk_vecs, settings.exact_search_max)
    built_at = datetime.now(UTC)
    build_id = built_at.strftime("%Y%m%dT%H%M%S%fZ") + "-" + fingerprint[:8]
    units = np.asarray(unit_rows, dtype=np.int64).reshape(-1, 4)
    total_seconds = time.perf_counter() - started
    manifest: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "build_id": build_id,
        "built_at": built_at.isoformat(timespec="seconds"),
        "clinicqa_version": __version__,
        "corpus": str(corpus.resolve()),
        "corpus_fingerprint": fingerprint,
        **expect,
        "dimension": dim,
        "faiss": type(faiss_index).__name__,
        "counts": {"pages": len(pages), "chunks": len(chunks), "sentences": int((units[:, 3] == 0).sum()),
                   "headings": int((units[:, 3] == 1).sum()), "embedded": len(todo), "reused": reused,
                   "ingest_errors": len(result.errors),
                   "multilingual_vectors": 0 if ml_vecs is None else len(ml_vecs),
                   "multilingual_embedded": ml_embedded},
        "timings_s": {"total": round(total_seconds, 2), "chunking": round(chunk_seconds, 2),
                      "embedding": round(embed_seconds, 2), "multilingual": round(ml_seconds, 2)},
        "chunks_per_s": round(len(chunks) / max(total_seconds, 1e-9), 1),
        "python": platform.python_version(),
    }
    data = IndexData(
        manifest=manifest, pages=tuple(pages), chunks=tuple(chunks),
        chunk_vectors=chunk_vecs, chunk_keys=np.asarray(chunk_keys), unit_doc=units[:, 0].copy(),
        unit_start=units[:, 1].copy(), unit_end=units[:, 2].copy(), unit_kind=units[:, 3].copy(),
        unit_vectors=unit_vecs, unit_keys=np.asarray(unit_keys), chunk_units=tuple(chunk_units),
        chunk_heading_unit=np.asarray(heading_unit, dtype=np.int64), faiss_index=faiss_index,
        ml_vectors=ml_vecs, ml_keys=np.asarray(ml_keys) if ml_vecs is not None else None,
    )
    write_index(data, index_dir, build_id, lexicon=Lexicon(chunk_inputs))  # BM25 sees what the embedder sees
    log.info("built index %s: %d pages, %d chunks, %d embedded, %d reused in %.1fs",
             build_id, len(pages), len(chunks), len(todo), reused, total_seconds)
    return manifest
