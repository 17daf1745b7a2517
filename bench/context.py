"""Page context and follow-ups (issue 13): right / wrong / abstained on eval/context, in one run.

    python bench/context.py [--index DIR] [--split all|tune|report] [--json FILE]

Questions that do not name their procedure (eval/context/questions.jsonl), each asked
  * ``no context``   — as today, alone;
  * ``hard filter``  — with the page's procedure as the hard ``filters.procedure`` (only that page);
  * ``page context`` — with ``context.procedure`` = the page (a soft preference, qa/context.py).
Two-turn conversations (eval/context/conversations.jsonl), the follow-up asked
  * ``no context``   — alone;
  * ``hard filter``  — with the page's procedure as a hard filter (none when the chat has no page);
  * ``page context`` — with the page as context but no history;
  * ``history``      — with the page and the first question as context (what the chat sends).

``right``: answered, and the quote lies in a gold span of a gold page (qa.evaluation.is_correct);
``wrong``: answered otherwise; ``abstained``: not answered (any reason). ``top-1 right``: the best quote
is right whether or not it clears the threshold (the "right sentence ranked first" of the issue).
Rows are given for both halves of the id-hash split (qa.evaluation.split_of): the rules in qa/context.py
were written looking at the tune half only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.context import Context, Preference  # noqa: E402
from qa.domain import Answer  # noqa: E402
from qa.engine import Engine  # noqa: E402
from qa.evaluation import is_correct, split_of  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.text import read_questions_jsonl  # noqa: E402

SET = ROOT / "eval" / "context"
Asker = Callable[[Engine, dict[str, Any]], Answer]

QUESTION_MODES: dict[str, Asker] = {
    "no context": lambda e, q: e.ask(q["question"]),
    "hard filter": lambda e, q: e.ask(q["question"], procedure=q["page_procedure"]),
    "page context": lambda e, q: e.ask(q["question"], context=Context(q["page_procedure"])),
}
CONVERSATION_MODES: dict[str, Asker] = {
    "no context": lambda e, q: e.ask(q["question"]),
    "hard filter": lambda e, q: e.ask(q["question"], procedure=q["page_procedure"]),
    "page context": lambda e, q: e.ask(q["question"], context=Context(q["page_procedure"])),
    "history": lambda e, q: e.ask(q["question"], context=Context(q["page_procedure"], tuple(q["history"]))),
}


def outcome(engine: Engine, q: dict[str, Any], answer: Answer) -> tuple[str, bool]:
    """('right' | 'wrong' | 'abstained', best quote right)."""
    best = answer.best
    top1 = best is not None and is_correct(q, best.doc_id, best.start, best.end,
                                           engine.page(best.doc_id).text)  # type: ignore[union-attr]
    if answer.abstained or best is None:
        return "abstained", top1
    return ("right" if top1 else "wrong"), top1


def run(engine: Engine, records: list[dict[str, Any]], modes: dict[str, Asker]) -> list[dict[str, Any]]:
    rows = []
    for mode, ask in modes.items():
        for q in records:
            start = time.perf_counter()
            answer = ask(engine, q)
            ms = (time.perf_counter() - start) * 1000
            result, top1 = outcome(engine, q, answer)
            rows.append({"id": q["id"], "mode": mode, "split": split_of(q["id"]), "result": result, "top1": top1,
                         "switch": bool(q.get("switch")), "page": q.get("page_procedure"), "ms": ms})
    return rows


def timing(rows: list[dict[str, Any]]) -> str:
    """Median milliseconds per question of each mode (one engine call each, this run), and the ratio to no
    context."""
    modes = list(dict.fromkeys(r["mode"] for r in rows))
    medians = {m: statistics.median(r["ms"] for r in rows if r["mode"] == m) for m in modes}
    base = medians[modes[0]]
    return "median ms per question: " + ", ".join(f"{m} {v:.1f} ({v / base:.2f}x)" for m, v in medians.items())


def table(title: str, rows: list[dict[str, Any]], split: str) -> str:
    modes = list(dict.fromkeys(r["mode"] for r in rows))
    halves = ["tune", "report"] if split == "all" else [split]
    lines = [f"### {title}", "", "| mode | half | n | right | wrong | abstained | top-1 right |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for mode in modes:
        for half in [*halves, "all"] if split == "all" else halves:
            sel = [r for r in rows if r["mode"] == mode and (half == "all" or r["split"] == half)]
            if not sel:
                continue
            n = len(sel)
            count = {k: sum(r["result"] == k for r in sel) for k in ("right", "wrong", "abstained")}
            top1 = sum(r["top1"] for r in sel)
            lines.append(f"| {mode} | {half} | {n} | {count['right']} ({count['right'] / n:.0%}) | {count['wrong']} | "
                         f"{count['abstained']} | {top1} ({top1 / n:.0%}) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path, default=ROOT / "index")
    ap.add_argument("--split", choices=("all", "tune", "report"), default="all")
    ap.add_argument("--preference", choices=[p.value for p in Preference], default=Preference.STAY.value,
                    help="what a preference does when its pages do not answer (qa.context.Preference)")
    ap.add_argument("--json", type=Path, default=None, help="also write every outcome here")
    a = ap.parse_args(argv)
    engine = Engine.load(Settings(index_dir=a.index))
    engine.preference_rule = Preference(a.preference)
    questions = read_questions_jsonl(SET / "questions.jsonl", required=("id", "question", "page_procedure"))
    conversations = read_questions_jsonl(SET / "conversations.jsonl", required=("id", "question", "history"))
    if a.split != "all":
        questions = [q for q in questions if split_of(q["id"]) == a.split]
        conversations = [q for q in conversations if split_of(q["id"]) == a.split]
    q_rows = run(engine, questions, QUESTION_MODES)
    c_rows = run(engine, conversations, CONVERSATION_MODES)
    out = [table(f"{len(questions)} questions that do not name their procedure, asked from a procedure page",
                 q_rows, a.split), "",
           table(f"{len(conversations)} two-turn conversations: the follow-up", c_rows, a.split), "",
           table(f"of which {sum(bool(c.get('switch')) for c in conversations)} follow-ups that name another "
                 "procedure", [r for r in c_rows if r["switch"]], "report" if a.split == "report" else "tune"
                 if a.split == "tune" else "all")]
    out += ["", timing(q_rows + c_rows)]
    print("\n".join(out))
    if a.json:
        a.json.write_text(json.dumps({"questions": q_rows, "conversations": c_rows}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
