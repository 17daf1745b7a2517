"""Shared fixtures: the real bundled model and a real index of the clinic corpus, built once."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
CLINIC_CORPUS = ROOT / "corpus"


def make_settings(tmp: Path, corpus: Path = CLINIC_CORPUS, **extra: object):  # type: ignore[no-untyped-def]
    from qa.settings import Settings

    return Settings(corpus_dir=corpus, index_dir=tmp / "index",
                    database_url=f"sqlite:///{tmp / 'log.sqlite3'}", **extra)


@pytest.fixture(scope="session")
def clinic_settings(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Settings whose index is a real build of the bundled clinic corpus (built once per session)."""
    from qa.indexing import build_index

    tmp = tmp_path_factory.mktemp("clinic")
    corpus = tmp / "corpus"
    shutil.copytree(CLINIC_CORPUS, corpus)
    settings = make_settings(tmp, corpus)
    build_index(settings)
    return settings


@pytest.fixture(scope="session")
def engine(clinic_settings):  # type: ignore[no-untyped-def]
    from qa.engine import Engine

    return Engine.load(clinic_settings)
