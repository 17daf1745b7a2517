"""The multilingual sentence vectors in the index (issue 14): built, reused, checked, optional."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qa.store import load_index, resolve_build
from tests.conftest import make_settings


@pytest.fixture()
def built(tmp_path: Path, clinic_settings):  # type: ignore[no-untyped-def]
    """A copy of the session's clinic index (with multilingual vectors) and of its corpus."""
    shutil.copytree(clinic_settings.corpus_dir, tmp_path / "corpus")
    s = make_settings(tmp_path, tmp_path / "corpus")
    shutil.copytree(clinic_settings.index_dir, s.index_dir, symlinks=True)
    return s.model_copy(update={"check_corpus": False})


def test_a_damaged_multilingual_file_is_refused_like_the_others(built) -> None:  # type: ignore[no-untyped-def]
    from qa.errors import IndexDamagedError

    path = resolve_build(built.index_dir) / "multilingual.npz"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(IndexDamagedError, match=r"multilingual\.npz") as info:
        load_index(built.index_dir)
    assert "clinicqa build-index" in str(info.value)


def test_a_rebuild_reuses_the_multilingual_vectors_of_unchanged_sentences(built) -> None:  # type: ignore[no-untyped-def]
    from qa.indexing import build_index

    before = load_index(built.index_dir)
    manifest = build_index(built)
    assert manifest["counts"]["multilingual_embedded"] == 0
    assert manifest["counts"]["multilingual_vectors"] == len(before.unit_start)
    after = load_index(built.index_dir)
    assert after.ml_vectors is not None and before.ml_vectors is not None
    assert (after.ml_vectors == before.ml_vectors).all()


def test_above_the_size_limit_the_index_has_no_multilingual_vectors(built) -> None:  # type: ignore[no-untyped-def]
    from qa.engine import Engine
    from qa.indexing import build_index

    small = built.model_copy(update={"multilingual_index_max_sentences": 10})
    manifest = build_index(small)
    assert manifest["counts"]["multilingual_vectors"] == 0
    assert not (resolve_build(small.index_dir) / "multilingual.npz").exists()
    assert load_index(small.index_dir).ml_vectors is None
    engine = Engine.load(small)
    assert engine.multilingual is None  # Tamil and Hindi questions take the English path
    assert engine.ask("ஊசி போட்ட பிறகு கால் பலவீனமாக இருக்குமா?").language == "en"
