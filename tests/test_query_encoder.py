"""The torch-free query encoder (issue 16): the bundled model exported to ONNX gives torch's vectors, a
damaged export is made again, an unusable one falls back to torch, the setting is checked by name, and
`clinicqa ask` answers without importing torch."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.embedding import Embedder, QueryEncoder, bundled_model_path, query_encoder_named
from qa.errors import ClinicQAError
from qa.onnxencoder import PROBE, ExportError, Variant, export_path, load_encoder
from qa.settings import Settings
from tests.conftest import ROOT

SENTENCES = ["will my leg feel weak?", "How long does the numbness last after a genicular nerve block?",
             "Can I drive home after a facet joint injection?", "what should I bring",
             "Radiofrequency ablation uses heat to interrupt the nerves that carry pain signals from the joint."]


@pytest.fixture(scope="session")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh fp32 and int8 export of the bundled model (the real exporter, offline), made once."""
    folder = tmp_path_factory.mktemp("encoders")
    load_encoder(bundled_model_path(), folder, Variant.FP32)
    load_encoder(bundled_model_path(), folder, Variant.INT8)
    return folder


@pytest.fixture(scope="session")
def torch_fp32() -> Embedder:
    return Embedder(dtype="float32", query_encoder="torch")


@pytest.mark.slow
def test_the_onnx_encoder_gives_the_torch_models_vectors(export_dir: Path, torch_fp32: Embedder) -> None:
    onnx = load_encoder(bundled_model_path(), export_dir, Variant.FP32)
    got, want = onnx.encode(SENTENCES), torch_fp32.encode(SENTENCES)
    assert got.shape == want.shape == (len(SENTENCES), 384)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert float(np.einsum("ij,ij->i", got, want).min()) > 1 - 1e-3
    # one text alone gives what it gives in a padded batch
    assert float(onnx.encode_query(SENTENCES[1]) @ got[1]) > 1 - 1e-5
    # the engine's embedder with the onnx setting: questions and batches (gap and lint reports) alike
    embedder = Embedder(dtype="float32", query_encoder="onnx", cache_dir=str(export_dir))
    assert embedder.query_backend == "onnx-fp32" and embedder.dimension == 384
    assert np.allclose(embedder.encode(SENTENCES), got, atol=1e-5)
    assert np.allclose(embedder.encode_query(SENTENCES[2]), onnx.encode_query(SENTENCES[2]), atol=1e-5)


@pytest.mark.slow
def test_the_int8_export_is_close_but_less_exact(export_dir: Path, torch_fp32: Embedder) -> None:
    int8 = load_encoder(bundled_model_path(), export_dir, Variant.INT8)
    cos = np.einsum("ij,ij->i", int8.encode(SENTENCES), torch_fp32.encode(SENTENCES))
    assert cos.min() > 0.97
    assert int8.path.stat().st_size < export_path(bundled_model_path(), export_dir, Variant.FP32).stat().st_size / 3


@pytest.mark.slow
def test_a_damaged_export_is_refused_and_made_again(export_dir: Path, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "encoders"
    shutil.copytree(export_dir, folder)
    path = export_path(bundled_model_path(), folder, Variant.INT8)
    good = load_encoder(bundled_model_path(), folder, Variant.INT8).encode_query(PROBE)
    data = bytearray(path.read_bytes())
    # the same size, but weights changed (where the probe sentence's tokens may not reach): the checksum tells
    data[len(data) // 2 : len(data) // 2 + 200_000] = bytes(200_000)
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="qa.onnxencoder"):
        again = load_encoder(bundled_model_path(), folder, Variant.INT8)
    assert "has changed since it was written" in caplog.text
    assert float(again.encode_query(PROBE) @ good) > 0.9999
    # truncated: refused by its size, made again
    path.write_bytes(path.read_bytes()[:1000])
    assert float(load_encoder(bundled_model_path(), folder, Variant.INT8).encode_query(PROBE) @ good) > 0.9999


@pytest.mark.slow
def test_an_export_that_cannot_be_made_falls_back_to_torch(tmp_path: Path, torch_fp32: Embedder,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be", encoding="utf-8")
    embedder = Embedder(dtype="float32", query_encoder="onnx", cache_dir=str(blocker / "encoders"))
    with caplog.at_level(logging.WARNING, logger="qa.embedding"):
        vec = embedder.encode_query(SENTENCES[0])
    assert embedder.query_backend == "torch"
    assert "questions are encoded with torch" in caplog.text
    assert float(vec @ torch_fp32.encode_query(SENTENCES[0])) > 0.99999
    with pytest.raises(ExportError, match="cannot create"):
        load_encoder(bundled_model_path(), blocker / "encoders")


def test_the_query_encoder_setting_is_checked_by_name() -> None:
    assert query_encoder_named("onnx") is QueryEncoder.ONNX
    assert query_encoder_named("onnx-int8") is QueryEncoder.ONNX_INT8
    with pytest.raises(ClinicQAError, match=r"CLINICQA_QUERY_ENCODER must be one of torch, onnx, onnx-int8, not 'gpu'"):
        Embedder(query_encoder="gpu")


def _env(tmp_path: Path, settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINICQA_")}
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", CLINICQA_INDEX_DIR=str(settings.index_dir),
               CLINICQA_CORPUS_DIR=str(settings.corpus_dir), CLINICQA_DATABASE_URL=f"sqlite:///{tmp_path / 'l.db'}",
               **extra)
    return env


ASK_AND_LIST_MODULES = (
    "import json, sys\n"
    "from qa.cli import app\n"
    "try:\n"
    "    app(['ask', '--json', 'will my leg feel weak?'])\n"
    "except SystemExit as e:\n"
    "    assert not e.code, e.code\n"
    "print('MODULES' + json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
)


@pytest.mark.slow
def test_clinicqa_ask_answers_without_importing_torch(clinic_settings: Settings, export_dir: Path,
                                                       tmp_path: Path) -> None:
    env = _env(tmp_path, clinic_settings, CLINICQA_CACHE_DIR=str(export_dir.parent), CLINICQA_QUERY_ENCODER="onnx")
    shutil.copytree(export_dir, export_dir.parent / "encoders", dirs_exist_ok=True)
    res = subprocess.run([sys.executable, "-c", ASK_AND_LIST_MODULES], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr
    answer_json, modules_line = res.stdout.split("MODULES")
    answer = json.loads(answer_json)
    assert "leg may feel heavy or weak" in answer["answer"]["text"]
    modules = set(json.loads(modules_line))
    assert {"onnxruntime", "tokenizers"} <= modules
    assert not modules & {"torch", "sentence_transformers", "transformers", "sklearn", "bm25s"}, modules


@pytest.mark.slow
def test_clinicqa_ask_with_an_unknown_encoder_says_what_to_set(clinic_settings: Settings, tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "qa.cli", "ask", "will my leg feel weak?"], capture_output=True,
                         text=True, env=_env(tmp_path, clinic_settings, CLINICQA_QUERY_ENCODER="cuda"),
                         cwd=tmp_path, timeout=300)
    assert res.returncode == 2
    assert "CLINICQA_QUERY_ENCODER must be one of torch, onnx, onnx-int8" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.slow
def test_export_encoder_checks_an_existing_export_without_exporting_again(
        export_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from qa.cli import app

    cache = tmp_path / "cache"
    shutil.copytree(export_dir, cache / "encoders")
    before = {p.name: p.stat().st_mtime_ns for p in (cache / "encoders").iterdir()}
    monkeypatch.setenv("CLINICQA_CACHE_DIR", str(cache))
    res = CliRunner().invoke(app, ["export-encoder", "--int8"])
    assert res.exit_code == 0, res.output
    assert "fp32" in res.output and "int8" in res.output and "checked" in res.output
    assert {p.name: p.stat().st_mtime_ns for p in (cache / "encoders").iterdir()} == before
