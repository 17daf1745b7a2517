"""IDF-weighted lexical signals (pure functions over a small lexicon)."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import bm25s
import numpy as np
import pytest

from qa.lexical import Lexicon, saved_or_built
from qa.text import terms

TEXTS = ["Adult Hodgkin lymphoma is a cancer of the lymph system.",
         "Adult non-Hodgkin lymphoma is a different cancer of the lymph system.",
         "Knee replacement surgery replaces the knee joint.",
         "Back pain is common in adults."]


@pytest.fixture()
def lexicon() -> Lexicon:
    return Lexicon(TEXTS)


def test_a_title_word_the_question_lacks_makes_the_title_novel(lexicon: Lexicon) -> None:
    q = terms("What are the symptoms of Adult Hodgkin Lymphoma?")
    assert lexicon.novelty(terms("Adult Hodgkin Lymphoma"), q) == 0.0
    extra = lexicon.novelty(terms("Adult Non-Hodgkin Lymphoma"), q)
    assert 0.0 < extra < 1.0
    # coverage alone cannot tell the two titles apart
    assert lexicon.coverage(q, terms("Adult Non-Hodgkin Lymphoma")) == lexicon.coverage(
        q, terms("Adult Hodgkin Lymphoma"))


def test_novelty_weighs_rare_title_words_more_than_common_ones(lexicon: Lexicon) -> None:
    q = terms("knee")
    rare = lexicon.novelty(terms("knee replacement"), q)  # "replacement": one text
    common = lexicon.novelty(terms("knee lymphoma"), q)  # "lymphoma": two texts
    assert rare > common > 0.0


def test_novelty_of_an_empty_title_is_zero(lexicon: Lexicon) -> None:
    assert lexicon.novelty([], terms("back pain")) == 0.0
    assert lexicon.novelty(terms("back pain"), []) == 1.0


# --- the lexicon saved with an index build (issue 16) ---------------------------------------------------

QUERIES = ["lymphoma lymph", "knee knee pain", "hodgkin", "unknownword", "adult cancer system back"]


def test_a_saved_lexicon_gives_identical_scores_and_frequencies(tmp_path: Path) -> None:
    texts = [*TEXTS, "", "Knee pain after knee replacement: knee exercises help."]
    built = Lexicon(texts)
    built.save(tmp_path / "lexicon")
    loaded = Lexicon.load(tmp_path / "lexicon")
    bm25 = bm25s.BM25(k1=1.2, b=0.75)  # what Lexicon computed before the weights were saved
    bm25.index([terms(t) or ["_empty_"] for t in texts], show_progress=False)
    for q in QUERIES:
        qt = terms(q)
        assert np.array_equal(built.scores(qt), loaded.scores(qt))
        known = [t for t in qt if built.df(t)]
        want = np.asarray(bm25.get_scores(known), dtype=np.float32) if known else np.zeros(len(texts), np.float32)
        assert np.array_equal(loaded.scores(qt), want)
    mask = np.array([True, False, True, True, True, False])
    assert np.array_equal(loaded.scores(terms("knee lymphoma"), mask), built.scores(terms("knee lymphoma"), mask))
    df = Counter(t for text in texts for t in set(terms(text) or ["_empty_"]))
    assert all(loaded.df(t) == n == built.df(t) for t, n in df.items())
    assert loaded.df("unknownword") == 0 and loaded.n_docs == built.n_docs == len(texts)
    assert loaded.idf("knee") == built.idf("knee")


def test_saved_lexicon_files_that_do_not_fit_together_are_rebuilt(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    Lexicon(TEXTS).save(tmp_path / "lexicon")
    np.save(tmp_path / "lexicon" / "indices.npy", np.zeros(3, dtype=np.int32))
    with pytest.raises(ValueError, match="do not fit together"):
        Lexicon.load(tmp_path / "lexicon")
    with caplog.at_level(logging.WARNING, logger="qa.lexical"):
        lexicon = saved_or_built(tmp_path / "lexicon", lambda: TEXTS, len(TEXTS))
    assert "building it again" in caplog.text
    assert lexicon.df("lymphoma") == 2
    # a build made before lexicons were saved has none: built from the texts, silently
    assert saved_or_built(tmp_path / "none", lambda: TEXTS, len(TEXTS)).df("knee") == 1
