"""A torch-free query encoder: the bundled sentence model exported once to ONNX, run by onnxruntime.

Answering a question needs one short text encoded. With torch that costs the import of torch,
transformers and sentence-transformers (~4 s cold, ~400 MB of a serving worker's memory); onnxruntime and
the `tokenizers` library import in a fraction of that and run the same network. The graph is exported
from the bundled weights on this machine (nothing is downloaded), by torch's exporter, with the mean
pooling and L2 normalisation of the sentence-transformers model inside it, so its output is the
``sentence_embedding`` that :class:`qa.embedding.Embedder` computes (cosine > 0.9999 in fp32, checked at
every export).

Where the export lives: ``<cache dir>/<model name>-<identity>-<variant>.onnx`` plus a ``.json`` beside it,
where the identity is a hash of the model folder's configuration, tokenizer and weight file sizes/times
(:func:`model_identity`). Both files are written to temporary names and renamed, so a reader never sees
half an export. The ``.json`` records the export's size, modification time and SHA-256, and the vector it
gave for :data:`PROBE` when it was written; an export of another size, or modified since with other bytes,
or that no longer gives that vector, is refused, and :func:`load_encoder` exports again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import ClinicQAError
from qa.store import file_digest

log = logging.getLogger(__name__)

EXPORT_FORMAT = 1  # bump when the exported graph changes: older exports are then made again
OPSET = 18
PROBE = "Will my leg feel weak after the nerve block injection?"
# A loaded export must give its recorded probe vector to this cosine (the same file on the same runtime
# gives it exactly; a damaged weight does not).
PROBE_MIN_COSINE = 0.9999
# At export time, the fp32 graph must agree with torch to this cosine (it does to ~1e-7).
EXPORT_MIN_COSINE = 0.999
BATCH = 32  # texts per onnxruntime run in :meth:`OnnxEncoder.encode`


class Variant(StrEnum):
    """What is exported: the fp32 graph, or the same with int8 (dynamic) quantised weights."""

    FP32 = "fp32"
    INT8 = "int8"


class ExportError(ClinicQAError):
    """The ONNX export could not be made, read or checked (the caller falls back to torch)."""


def model_identity(model_path: Path) -> str:
    """A short hash naming this model folder's export: its config and tokenizer bytes, and the size and
    modification time of its weights (hashing ~90 MB of weights at every start would cost ~0.1 s)."""
    h = hashlib.sha256(f"clinicqa-onnx-export:{EXPORT_FORMAT}:{OPSET}".encode())
    for name in ("config.json", "tokenizer.json", "modules.json", "1_Pooling/config.json"):
        f = model_path / name
        if f.is_file():
            h.update(name.encode() + b"\0" + f.read_bytes())
    for name in ("model.safetensors", "pytorch_model.bin"):
        f = model_path / name
        if f.is_file():
            st = f.stat()
            h.update(f"{name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def export_path(model_path: Path, cache_dir: Path, variant: Variant) -> Path:
    """Where the export of ``model_path`` for ``variant`` lives (it may not exist yet)."""
    name = model_path.name if model_path.name != "model" else model_path.parent.name
    return cache_dir / f"{name}-{model_identity(model_path)}-{variant.value}.onnx"


def _meta_path(onnx_path: Path) -> Path:
    return onnx_path.with_suffix(".json")


@dataclass(frozen=True)
class ExportInfo:
    path: Path
    variant: Variant
    seconds: float  # 0 when the export existed already
    torch_cosine: float | None  # of the export's probe vector with torch's fp32 one (None: not exported now)


class OnnxEncoder:
    """Encodes texts to L2-normalised float32 vectors with an exported graph (see the module's docstring)."""

    def __init__(self, model_path: Path, onnx_path: Path, max_seq_length: int = 256, threads: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.path = onnx_path
        self.max_seq_length = max_seq_length
        tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        # The bundled tokenizer.json pads and truncates to 128 tokens; sentence-transformers truncates at the
        # model's max_seq_length (256 here) and pads a batch to its longest text: do the same.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_seq_length)
        self._tokenizer = tokenizer
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(0, threads)  # 0: onnxruntime's default (one per core)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: its warnings about the graph are not the user's
        try:
            self._session = ort.InferenceSession(str(onnx_path), sess_options=options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types for unreadable files
            raise ExportError(f"{onnx_path} could not be loaded by onnxruntime: {err}") from err
        self.dimension = int(self._session.get_outputs()[0].shape[-1])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of ``texts`` (rows L2-normalised, float32): sorted by token count, in batches padded to
        their longest text (little padding, so little wasted work)."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        if not len(texts):
            return out
        enc = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(enc)), key=lambda i: len(enc[i].ids))
        for start in range(0, len(order), BATCH):
            rows = order[start : start + BATCH]
            width = len(enc[rows[-1]].ids)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                ids[r, : len(enc[i].ids)] = enc[i].ids
                mask[r, : len(enc[i].ids)] = 1
            out[rows] = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return out

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


def _torch_module(model_path: Path) -> Any:
    """The bundled transformer with sentence-transformers' mean pooling and normalisation, in fp32."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    bert = AutoModel.from_pretrained(str(model_path), local_files_only=True, attn_implementation="eager",
                                     dtype=torch.float32).eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=torch.zeros_like(input_ids)).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    return Pooled().eval()


def _write_atomically(final: Path, write: Any) -> None:
    """``write(tmp_path)`` then rename to ``final`` (same folder: the rename is atomic)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the export is no secret (other users may serve)
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export(model_path: Path, cache_dir: Path, variant: Variant = Variant.FP32,
           max_seq_length: int = 256) -> ExportInfo:
    """Export ``model_path`` to ONNX (fp32, then int8 from it if asked) under ``cache_dir``; check that
    the graph agrees with torch; write the file and its ``.json`` atomically. Imports torch (once)."""
    started = time.perf_counter()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ExportError(f"cannot create {cache_dir} for the ONNX export: {err.strerror or err}") from err
    target = export_path(model_path, cache_dir, variant)
    fp32 = export_path(model_path, cache_dir, Variant.FP32)
    if variant is Variant.INT8 and not _valid(fp32, model_path, max_seq_length):
        export(model_path, cache_dir, Variant.FP32, max_seq_length)
    log.info("exporting %s to %s (one-off)", model_path, target)
    # torch's exporter logs its progress and warnings (torchvision missing, ...) at WARNING: not the user's.
    for name in ("torch.onnx", "torch._dynamo", "torch.export", "onnxscript", "onnx_ir"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        import torch

        module = _torch_module(model_path)
        probe_ids, probe_mask = _probe_inputs(model_path, max_seq_length)
        with torch.inference_mode():
            reference = module(torch.from_numpy(probe_ids), torch.from_numpy(probe_mask)).numpy()[0]
        if variant is Variant.FP32:
            batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq", max=512)
            ids = torch.tensor([[101, 2097, 2026, 4190, 2514, 5410, 1029, 102]] * 2)

            def write(tmp: Path) -> None:
                import warnings

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    program = torch.onnx.export(
                        module, (ids, torch.ones_like(ids)), input_names=["input_ids", "attention_mask"],
                        output_names=["sentence_embedding"], opset_version=OPSET, dynamo=True,
                        dynamic_shapes=({0: batch, 1: seq}, {0: batch, 1: seq}), verbose=False)
                if program is None:  # pragma: no cover - the dynamo exporter always returns one
                    raise ExportError("torch.onnx.export returned no program")
                program.save(str(tmp), external_data=False)
        else:
            def write(tmp: Path) -> None:
                from onnxruntime.quantization import QuantType, quantize_dynamic

                # per-channel int8 weights: probe cosine with fp32 ~0.995 (per-tensor: ~0.985). The quantiser
                # logs every tensor it skips, and advice, on the root logger.
                logging.disable(logging.WARNING)
                try:
                    quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
                finally:
                    logging.disable(logging.NOTSET)

        _write_atomically(target, write)
        encoder = OnnxEncoder(model_path, target, max_seq_length)
        probe = encoder.encode([PROBE])[0]
    except ClinicQAError:
        raise
    except Exception as err:  # the exporter, the quantiser and the file system raise many kinds of errors
        raise ExportError(f"Could not export {model_path} to ONNX ({type(err).__name__}: {err})") from err
    cosine = float(probe @ reference)
    if variant is Variant.FP32 and cosine < EXPORT_MIN_COSINE:
        target.unlink(missing_ok=True)
        raise ExportError(f"The ONNX export of {model_path} disagrees with torch (probe cosine {cosine:.5f}).")
    st = target.stat()
    meta = {"format": EXPORT_FORMAT, "variant": variant.value, "model": str(model_path),
            "identity": model_identity(model_path), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns,
            "sha256": file_digest(target),
            "max_seq_length": max_seq_length, "probe": PROBE, "probe_vector": probe.tolist(),
            "torch_cosine": round(cosine, 7), "torch": torch.__version__}
    _write_atomically(_meta_path(target), lambda tmp: tmp.write_text(json.dumps(meta), encoding="utf-8"))
    seconds = time.perf_counter() - started
    log.info("exported %s in %.1f s (probe cosine with torch %.6f)", target.name, seconds, cosine)
    return ExportInfo(target, variant, seconds, cosine)


def _probe_inputs(model_path: Path, max_seq_length: int) -> tuple[np.ndarray, np.ndarray]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_path / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=max_seq_length)
    ids = np.asarray([tok.encode(PROBE).ids], dtype=np.int64)
    return ids, np.ones_like(ids)


def _read_meta(onnx_path: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads(_meta_path(onnx_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _valid(onnx_path: Path, model_path: Path, max_seq_length: int) -> bool:
    meta = _read_meta(onnx_path)
    try:
        return (meta is not None and onnx_path.is_file() and meta.get("bytes") == onnx_path.stat().st_size
                and meta.get("max_seq_length") == max_seq_length)
    except OSError:
        return False


def _open_checked(model_path: Path, onnx_path: Path, max_seq_length: int, threads: int) -> OnnxEncoder:
    """The export at ``onnx_path``, refused (ExportError) unless its ``.json`` is there and the file still
    gives the probe vector recorded when it was written."""
    meta = _read_meta(onnx_path)
    if meta is None or not onnx_path.is_file():
        raise ExportError(f"{onnx_path} or its .json is missing")
    st = onnx_path.stat()
    if meta.get("bytes") != st.st_size:
        raise ExportError(f"{onnx_path} has {st.st_size} bytes, {meta.get('bytes')} were written")
    # Changed since it was written (its time differs): its bytes must still be the ones written. (Hashing it
    # at every start would cost ~0.2-0.4 s of `clinicqa ask`; an unchanged time and size skip that.)
    if meta.get("mtime_ns") != st.st_mtime_ns and meta.get("sha256") != file_digest(onnx_path):
        raise ExportError(f"{onnx_path} has changed since it was written (its checksum differs)")
    if meta.get("max_seq_length") != max_seq_length:
        raise ExportError(f"{onnx_path} was checked for max_seq_length {meta.get('max_seq_length')}")
    encoder = OnnxEncoder(model_path, onnx_path, max_seq_length, threads)
    want = np.asarray(meta.get("probe_vector", []), dtype=np.float32)
    got = encoder.encode([PROBE])[0]
    if want.shape != got.shape or float(got @ want) < PROBE_MIN_COSINE:
        raise ExportError(f"{onnx_path} no longer gives the vector it gave when it was written (damaged?)")
    return encoder


def load_encoder(model_path: Path, cache_dir: Path, variant: Variant = Variant.FP32, max_seq_length: int = 256,
                 threads: int = 1) -> OnnxEncoder:
    """The checked export of ``model_path`` for ``variant``, exporting it first when it is missing or
    damaged (ExportError when even a fresh export cannot be made or read)."""
    path = export_path(model_path, cache_dir, variant)
    try:
        return _open_checked(model_path, path, max_seq_length, threads)
    except ExportError as err:
        if path.exists() or _meta_path(path).exists():
            log.warning("ONNX query encoder: %s; exporting it again", err)
    export(model_path, cache_dir, variant, max_seq_length)
    return _open_checked(model_path, path, max_seq_length, threads)
