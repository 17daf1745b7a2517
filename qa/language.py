"""Which script a patient's message is written in.

The clinic's pages are English; patients also write Tamil (Tamil script), Hindi (Devanagari) and either in
Latin letters. The script decides which retrieval path answers a question and in which language an
emergency message is shown. Romanised Tamil or Hindi is Latin script: telling it from English needs words,
not code points (the glossary's job, not this module's).
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum


class Script(StrEnum):
    LATIN = "latin"
    TAMIL = "tamil"  # U+0B80–U+0BFF
    DEVANAGARI = "devanagari"  # U+0900–U+097F (Hindi)
    OTHER = "other"  # letters of another script, or no letters at all


_BLOCKS: tuple[tuple[int, int, Script], ...] = (
    (0x0B80, 0x0BFF, Script.TAMIL),
    (0x0900, 0x097F, Script.DEVANAGARI),
    (0xA8E0, 0xA8FF, Script.DEVANAGARI),  # Devanagari Extended
)


def char_script(ch: str) -> Script | None:
    """The script of one character, or None for what is not a letter or mark (digits, punctuation, space)."""
    cp = ord(ch)
    for lo, hi, script in _BLOCKS:
        if lo <= cp <= hi:
            return script
    cat = unicodedata.category(ch)
    if cat[0] not in "LM":
        return None
    if cp < 0x0250 or 0x1E00 <= cp <= 0x1EFF:  # Basic Latin … Latin Extended-B, Latin Extended Additional
        return Script.LATIN
    return Script.OTHER


def script_counts(text: str) -> dict[Script, int]:
    counts = dict.fromkeys(Script, 0)
    for ch in text:
        s = char_script(ch)
        if s is not None:
            counts[s] += 1
    return counts


def detect_script(text: str) -> Script:
    """The script of most of the message's letters. A Tamil or Hindi message with a few English words
    ("scan report-ல வலி") is Tamil: an Indic script wins when at least a quarter of the letters are in it."""
    counts = script_counts(text)
    total = sum(counts.values())
    if not total:
        return Script.OTHER
    indic = max((Script.TAMIL, Script.DEVANAGARI), key=lambda s: counts[s])
    if counts[indic] * 4 >= total:
        return indic
    return max(counts, key=lambda s: counts[s])
