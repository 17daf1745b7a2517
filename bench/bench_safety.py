"""Time SafetyChecker.check() and redact() over the test messages; print µs per message.

    python bench/bench_safety.py [--rounds 20]

Each message is timed ``rounds`` times and its fastest time kept (the least disturbed by other
work on the machine); the table gives the median, 95th percentile and maximum over messages.
The first pass (cold: spelling cache empty, regexes compiled but unused) is reported separately.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.redaction import redact  # noqa: E402
from qa.safety import SafetyChecker  # noqa: E402

SAFETY_MESSAGES = ROOT / "tests" / "data" / "safety_messages.csv"
# Tamil script, Devanagari, romanised Tamil and Hindi (issue 14)
LANGUAGE_MESSAGES = [ROOT / "tests" / "data" / f"safety_messages_{s}.csv" for s in ("ta", "hi", "ta-latn", "hi-latn")]
REDACTION_MESSAGES = ROOT / "tests" / "data" / "redaction_messages.jsonl"
# Long and repetitive messages (what a regex with nested repeats would take exponential time on): timed here,
# not in the tests (no wall-clock limits in correctness tests); the question length limit is 500 characters,
# these go far beyond it to show the checker stays linear.
ADVERSARIAL = [
    "a " * 5000, "chest " * 3000, "no " * 3000 + "fever", "my leg my leg my leg " * 800, "x" * 20000,
    "saans " * 2000 + "nahi", "நெஞ்சு " * 3000, "வலி " * 3000 + "இல்லை", "सांस " * 3000 + "नहीं",
    "kaal " * 3000 + "marathu", "ா" * 20000,
    "9" * 5000, "1 " * 5000, "a@" * 3000, "Mr " * 3000, "12/" * 3000, "No. 1 " * 2000, "I am A " * 2000,
]


def load_messages() -> tuple[list[str], list[str], list[str]]:
    with SAFETY_MESSAGES.open(encoding="utf-8", newline="") as fh:
        safety = [row["message"] for row in csv.DictReader(fh)]
    languages: list[str] = []
    for path in LANGUAGE_MESSAGES:
        with path.open(encoding="utf-8", newline="") as fh:
            languages += [row["message"] for row in csv.DictReader(fh)]
    with REDACTION_MESSAGES.open(encoding="utf-8") as fh:
        redaction = [json.loads(line)["text"] for line in fh if line.strip()]
    return safety, languages, redaction


def time_each(
    fn: Callable[[str], object], messages: Sequence[str], rounds: int
) -> tuple[list[float], list[float]]:
    """(cold µs per message from the first pass, best-of-rounds µs per message)."""
    cold: list[float] = []
    for m in messages:
        t0 = time.perf_counter_ns()
        fn(m)
        cold.append((time.perf_counter_ns() - t0) / 1000)
    best = [float("inf")] * len(messages)
    for _ in range(rounds):
        for i, m in enumerate(messages):
            t0 = time.perf_counter_ns()
            fn(m)
            best[i] = min(best[i], (time.perf_counter_ns() - t0) / 1000)
    return cold, best


def row(name: str, n: int, cold: list[float], warm: list[float]) -> str:
    q = statistics.quantiles(warm, n=20)[-1] if len(warm) >= 20 else max(warm)
    return (f"{name:<28} {n:>5} {statistics.median(cold):>10.1f} {statistics.median(warm):>10.1f} "
            f"{q:>8.1f} {max(warm):>8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    t0 = time.perf_counter()
    checker = SafetyChecker.from_file()
    load_ms = (time.perf_counter() - t0) * 1000
    safety, languages, redaction = load_messages()
    everything = safety + languages + redaction

    print(f"rules loaded and compiled in {load_ms:.1f} ms ({len(checker.rules.rules)} rules); "
          f"{args.rounds} rounds, best time per message")
    print(f"{'function / messages':<28} {'n':>5} {'cold med':>10} {'median µs':>10} {'p95':>8} {'max':>8}")
    print(row("check()   safety set", len(safety), *time_each(checker.check, safety, args.rounds)))
    print(row("check()   ta/hi/romanised sets", len(languages), *time_each(checker.check, languages, args.rounds)))
    print(row("check()   all messages", len(everything), *time_each(checker.check, everything, args.rounds)))
    print(row("check()   long/repetitive (6-20k ch)", len(ADVERSARIAL), *time_each(checker.check, ADVERSARIAL, 3)))
    print(row("redact()  redaction set", len(redaction), *time_each(redact, redaction, args.rounds)))
    print(row("redact()  all messages", len(everything), *time_each(redact, everything, args.rounds)))
    print(row("redact()  long/repetitive", len(ADVERSARIAL), *time_each(redact, ADVERSARIAL, 3)))
    both = lambda m: (checker.check(m), redact(m))  # noqa: E731
    print(row("check()+redact() all", len(everything), *time_each(both, everything, args.rounds)))


if __name__ == "__main__":
    main()
