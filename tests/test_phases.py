"""Phases of a procedure in questions and headings (qa.text.phases) and the ranker's phase_agree feature."""

from __future__ import annotations

import pytest

from qa.text import phases


@pytest.mark.parametrize(("text", "expected"), [
    ("can i eat before?", {"before"}),
    ("How should I prepare?", {"before"}),
    ("What happens during the procedure?", {"during"}),
    ("Can I eat and drink after the procedure?", {"after"}),
    ("how long is the recovery", {"after"}),
    ("Do's and Don'ts Before and After Your Procedure", {"before", "after"}),
    ("When should I call the clinic?", set()),
    ("how fast does it work", set()),
])
def test_phases_names_when_around_the_procedure_a_text_speaks_of(text: str, expected: set[str]) -> None:
    assert phases(text) == expected


def test_a_heading_about_another_phase_counts_against_a_window(engine) -> None:  # type: ignore[no-untyped-def]
    from qa.extraction import WINDOW_FEATURES

    col = WINDOW_FEATURES.index("phase_agree")
    tr = engine.trace("can i eat before the injection?")
    by_heading: dict[str, set[float]] = {}
    for i, w in enumerate(tr.windows.items):
        heading = engine.data.chunks[w.chunk].heading
        if heading is not None:
            text = engine.data.pages[w.doc].text[heading.start : heading.end]
            by_heading.setdefault(text, set()).add(float(tr.windows.features[i, col]))
    assert by_heading["Can I eat and drink after the procedure?"] == {-1.0}
    assert by_heading["How should I prepare?"] == {1.0}
    assert by_heading.get("When should I call the clinic?", {0.0}) == {0.0}
    # a question that names no phase leaves the feature silent
    plain = engine.trace("will my leg feel weak?")
    assert set(plain.windows.features[:, col].tolist()) == {0.0}


def test_a_question_about_before_is_not_answered_confidently_from_an_after_section(engine) -> None:  # type: ignore[no-untyped-def]
    answer = engine.ask("can i eat before the injection?")
    assert answer.abstained or (answer.best is not None
                                and answer.best.passage.section != "Can I eat and drink after the procedure?")
