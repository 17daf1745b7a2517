"""The index on disk: save/load, refusing stale indexes, atomic swaps, incremental rebuilds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from qa.errors import IndexMismatchError, IndexNotFoundError
from qa.indexing import build_index
from qa.store import load_index, resolve_build
from tests.conftest import CLINIC_CORPUS, make_settings


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(CLINIC_CORPUS, tmp_path / "corpus")
    return tmp_path


def test_saved_index_loads_with_the_same_chunks_and_vectors(workdir: Path) -> None:
    s = make_settings(workdir, workdir / "corpus")
    manifest = build_index(s)
    data = load_index(s.index_dir)
    assert manifest["counts"]["chunks"] == len(data.chunks) == data.chunk_vectors.shape[0]
    assert data.faiss_index.ntotal == len(data.chunks)
    assert data.manifest["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    texts = {p.doc_id: p.text for p in data.pages}
    for c in data.chunks:
        assert texts[c.doc_id][c.start : c.end] == c.text
    assert data.unit_vectors.shape[0] == len(data.unit_start)


def test_pooled_chunk_vector_is_the_normalised_sentence_mean_plus_half_the_title() -> None:
    import numpy as np

    from qa.indexing import pool_chunk_vector

    s = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=np.float32)
    title = np.array([0.0, 0.0, 1.0], dtype=np.float32)
    v = pool_chunk_vector(s, title)
    expected = np.array([0.5 ** 0.5, 0.5 ** 0.5, 0.5])
    np.testing.assert_allclose(v, expected / np.linalg.norm(expected), rtol=1e-6)
    assert v.dtype == np.float32 and abs(float(np.linalg.norm(v)) - 1) < 1e-6
    np.testing.assert_allclose(pool_chunk_vector(s[:0], title), title)  # a chunk without sentences


def test_every_chunk_vector_is_pooled_from_its_own_sentences_and_page_title(workdir: Path) -> None:

    from qa.embedding import get_embedder
    from qa.indexing import pool_chunk_vector

    s = make_settings(workdir, workdir / "corpus")
    build_index(s)
    data = load_index(s.index_dir)
    embedder = get_embedder(s.model_path, s.embed_dtype, s.embed_batch_size, s.chunk_max_seq_length)
    titles = {p.doc_id: p.title for p in data.pages}
    title_vecs = dict(zip(titles, embedder.encode(list(titles.values())), strict=True))
    for ci, chunk in enumerate(data.chunks):
        expected = pool_chunk_vector(data.unit_vectors[data.chunk_units[ci]], title_vecs[chunk.doc_id])
        assert float(expected @ data.chunk_vectors[ci]) > 0.999, chunk.chunk_id


def test_stale_reason_says_when_serve_must_rebuild_first(workdir: Path) -> None:
    from qa.indexing import stale_reason

    s = make_settings(workdir, workdir / "corpus")
    assert "no index" in (stale_reason(s) or "")
    build_index(s)
    assert stale_reason(s) is None
    assert "chunk_max_chars" in (stale_reason(s.model_copy(update={"chunk_max_chars": 500})) or "")
    page = workdir / "corpus" / "trigger-point-injection.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nA new closing sentence.\n", encoding="utf-8")
    assert "changed" in (stale_reason(s) or "")


def test_missing_index_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="clinicqa build-index"):
        load_index(tmp_path / "nowhere")


def test_an_index_from_another_model_or_settings_is_refused(workdir: Path) -> None:
    s = make_settings(workdir, workdir / "corpus")
    build_index(s)
    with pytest.raises(IndexMismatchError, match="model"):
        load_index(s.index_dir, expect={"model": "some/other-model"})
    with pytest.raises(IndexMismatchError, match="chunk_max_chars"):
        load_index(s.index_dir, expect={"chunk_max_chars": 123})


def test_engine_refuses_an_index_whose_corpus_changed(workdir: Path) -> None:
    from qa.engine import Engine

    s = make_settings(workdir, workdir / "corpus")
    build_index(s)
    page = workdir / "corpus" / "trigger-point-injection.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nA new closing sentence.\n", encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="has changed"):
        Engine.load(s)


def test_rebuild_reembeds_only_changed_text_and_swaps_atomically(workdir: Path) -> None:
    s = make_settings(workdir, workdir / "corpus")
    first = build_index(s)
    old_build = resolve_build(s.index_dir)
    page = workdir / "corpus" / "trigger-point-injection.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nA new closing sentence.\n", encoding="utf-8")
    second = build_index(s)
    assert second["counts"]["reused"] > 0
    assert 0 < second["counts"]["embedded"] < first["counts"]["embedded"] / 4
    assert resolve_build(s.index_dir) != old_build
    assert (s.index_dir / "current").is_symlink()
    again = build_index(s)
    assert again["counts"]["embedded"] == 0  # idempotent: nothing new to embed


def test_a_crash_mid_build_leaves_the_previous_index_intact(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import qa.store

    s = make_settings(workdir, workdir / "corpus")
    build_index(s)
    before = resolve_build(s.index_dir)
    n_chunks = len(load_index(s.index_dir).chunks)

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(qa.store.faiss, "write_index", boom)
    (workdir / "corpus" / "extra.md").write_text("---\ntitle: Extra\n---\n# Extra\n\nSome text.\n", encoding="utf-8")
    with pytest.raises(OSError, match="disk full"):
        build_index(s)
    assert resolve_build(s.index_dir) == before
    assert len(load_index(s.index_dir).chunks) == n_chunks
    assert not list((s.index_dir / "builds").glob(".tmp-*"))


def test_large_corpora_get_an_approximate_hnsw_index(workdir: Path) -> None:
    s = make_settings(workdir, workdir / "corpus", exact_search_max=10)
    manifest = build_index(s)
    assert manifest["faiss"] == "IndexHNSWFlat"
    data = load_index(s.index_dir)
    _scores, ids = data.faiss_index.search(data.chunk_vectors[:1], 1)
    assert ids[0][0] == 0


# --- a damaged index: one clear error, rebuilt from scratch --------------------------------------------


@pytest.fixture()
def built(workdir: Path, clinic_settings):  # type: ignore[no-untyped-def]
    """Settings of a fresh copy of the session's clinic index (copied, not rebuilt), with its corpus."""
    s = make_settings(workdir, workdir / "corpus")
    shutil.copytree(clinic_settings.index_dir, s.index_dir, symlinks=True)
    # the copy's manifest names the session corpus, whose files are the same: no corpus check needed
    return s.model_copy(update={"check_corpus": False})


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


DAMAGEABLE = ["pages.jsonl", "chunks.jsonl", "units.npz", "vectors.npz", "chunks.faiss", "manifest.json",
              "lexicon/data.npy", "lexicon/vocab.json"]


@pytest.mark.parametrize("name", DAMAGEABLE)
def test_a_truncated_index_file_is_reported_as_damaged_in_one_line(built, name: str) -> None:  # type: ignore[no-untyped-def]
    from qa.errors import IndexDamagedError

    _truncate(resolve_build(built.index_dir) / name)
    with pytest.raises(IndexDamagedError) as info:
        load_index(built.index_dir)
    message = str(info.value)
    assert "\n" not in message and "damaged" in message and "clinicqa build-index" in message
    assert len(info.value.problem) <= 200


def test_a_missing_index_file_is_reported_as_damaged(built) -> None:  # type: ignore[no-untyped-def]
    from qa.errors import IndexDamagedError

    (resolve_build(built.index_dir) / "vectors.npz").unlink()
    with pytest.raises(IndexDamagedError, match=r"vectors\.npz"):
        load_index(built.index_dir)


def test_a_current_link_to_a_deleted_build_is_damaged_not_missing(built) -> None:  # type: ignore[no-untyped-def]
    from qa.errors import IndexDamagedError

    shutil.rmtree(resolve_build(built.index_dir))
    with pytest.raises(IndexDamagedError, match="build folder is missing"):
        load_index(built.index_dir)


def _without_checksums(index_dir):  # type: ignore[no-untyped-def]
    """The current build, its manifest rewritten as builds were before it recorded file checksums."""
    import json

    build = resolve_build(index_dir)
    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    del manifest["files"]
    (build / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return build


def test_truncated_files_of_a_build_without_checksums_are_still_caught(built) -> None:  # type: ignore[no-untyped-def]
    """Builds written before the manifest recorded checksums: parsing the files catches the damage."""

    from qa.errors import IndexDamagedError

    build = _without_checksums(built.index_dir)
    _truncate(build / "vectors.npz")
    with pytest.raises(IndexDamagedError, match=r"vectors\.npz"):
        load_index(built.index_dir)


def test_files_that_do_not_agree_with_each_other_are_damaged(built) -> None:  # type: ignore[no-untyped-def]
    """Readable files that do not fit together (here: vectors for one chunk fewer) are caught too."""

    import numpy as np

    from qa.errors import IndexDamagedError

    build = _without_checksums(built.index_dir)
    with np.load(build / "vectors.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["chunk"] = arrays["chunk"][:-1]
    np.savez(build / "vectors.npz", **arrays)
    with pytest.raises(IndexDamagedError, match="chunk vectors"):
        load_index(built.index_dir)


def test_serve_sees_a_damaged_index_as_one_to_rebuild(built) -> None:  # type: ignore[no-untyped-def]
    from qa.indexing import stale_reason

    assert stale_reason(built) is None
    _truncate(resolve_build(built.index_dir) / "vectors.npz")
    reason = stale_reason(built) or ""
    assert "damaged" in reason and "vectors.npz" in reason


@pytest.mark.parametrize("name", ["vectors.npz", "chunks.faiss", "manifest.json"])
def test_build_index_rebuilds_a_damaged_index_from_scratch(built, name: str) -> None:  # type: ignore[no-untyped-def]
    damaged = resolve_build(built.index_dir)
    _truncate(damaged / name)
    manifest = build_index(built)
    assert manifest["counts"]["reused"] == 0 and manifest["counts"]["embedded"] > 0
    assert resolve_build(built.index_dir) != damaged
    assert len(load_index(built.index_dir).chunks) == manifest["counts"]["chunks"]


def test_every_index_file_and_folder_is_fsynced_before_current_is_swapped(
        workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    import qa.store

    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.path.realpath(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        events.append(("replace", str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(qa.store.os, "fsync", fsync)
    monkeypatch.setattr(qa.store.os, "replace", replace)
    s = make_settings(workdir, workdir / "corpus")
    build_index(s)
    index_dir = os.path.realpath(s.index_dir)
    builds = os.path.join(index_dir, "builds")
    swap = events.index(("replace", os.path.join(s.index_dir, "current")))
    rename = next(i for i, (kind, dst) in enumerate(events) if kind == "replace" and dst.startswith(builds))
    before_rename = [path for kind, path in events[:rename] if kind == "fsync"]
    for name in (*qa.store.DATA_FILES, "manifest.json"):
        assert any(path.endswith("/" + name) for path in before_rename), name
    # the build folder itself (still builds/.tmp-*, before its rename)
    assert any(os.path.dirname(path) == builds and os.path.basename(path).startswith(".tmp-")
               for path in before_rename)
    assert ("fsync", builds) in events[rename:swap]
    assert ("fsync", index_dir) in events[swap:]


def test_the_engine_reads_the_saved_bm25_weights_and_rebuilds_them_for_older_builds(built) -> None:  # type: ignore[no-untyped-def]
    """Issue 16: BM25 is saved with the build (memory-mapped on load), not rebuilt at every load; a build made
    before that (no lexicon/ and none in the manifest) still loads, with the same scores."""
    import numpy as np

    from qa.engine import Engine
    from qa.text import terms

    build = resolve_build(built.index_dir)
    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    assert {"lexicon/data.npy", "lexicon/indices.npy", "lexicon/vocab.json"} <= set(manifest["files"])
    saved = Engine.load(built).lexicon
    assert isinstance(saved._data, np.memmap)
    shutil.rmtree(build / "lexicon")
    manifest["files"] = {k: v for k, v in manifest["files"].items() if not k.startswith("lexicon/")}
    (build / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    rebuilt = Engine.load(built).lexicon
    assert not isinstance(rebuilt._data, np.memmap)
    for q in ("will my leg feel weak?", "radiofrequency ablation risks", "how long does the numbness last"):
        assert np.array_equal(saved.scores(terms(q)), rebuilt.scores(terms(q)))
