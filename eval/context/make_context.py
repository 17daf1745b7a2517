#!/usr/bin/env python3
"""Write eval/context/questions.jsonl and eval/context/conversations.jsonl: the page-context and follow-up
set of issue 13 (see README.md in this folder).

    .venv/bin/python eval/context/make_context.py        # from the repo root

The questions and their answer SENTENCES (never offsets) are written below; offsets are computed and checked
exactly as eval/clinic/make_questions.py does (its ``resolve``/``check_span``: a span occurs once in the
page text, starts and ends on sentence boundaries, lies inside one section body), and no question may be
caught by the product's safety rules. Any problem stops the script, printing it, and nothing is written.

* ``questions.jsonl``: questions that do NOT name their procedure, each asked from one procedure page
  (``page_procedure``), gold spans in the format of eval/clinic/questions.jsonl (the page's own sentence,
  plus the FAQ do's and don'ts page's when it says the same, as that page applies to every procedure).
* ``conversations.jsonl``: two turns — ``history`` (the first question) and ``question`` (the follow-up),
  asked from ``page_procedure`` (null: the chat opened without a page), gold spans for the follow-up;
  ``switch`` marks follow-ups that name another procedure ("and for the genicular block?").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
for path in (REPO, REPO / "eval" / "clinic"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import make_questions as mq  # noqa: E402
from make_questions import (  # noqa: E402
    ADULT, BT, DIAB, DONT_STOP, EPI, FACET, FACET_DIARY_HOW, FACET_DIARY_WHY, FACET_LEVELS, FACET_MBB_TEST,
    FACET_SORE, FAQ, FAQ_BATH, FAQ_BT, FAQ_CLOTHES, FAQ_DIARY, FAQ_FAST, FAQ_NO_DRIVE, FAQ_NO_SELF_DRIVE,
    FAQ_ADULT, FAQ_REST, FAQ_RETURN, FAQ_SCS, FAQ_SHOWER, FAQ_STRENUOUS, FAQ_SUGAR, FAQ_TOO_EARLY, FAQ_WORK,
    FAST, GNB, GNB_CLOTHES, GNB_EXERCISE, GNB_SORE, GNB_TEST, GNB_USES, ILIO, ILIO_AIM, ILIO_BOTOX, ILIO_BT,
    ILIO_DYE, ILIO_IMAGING, ILIO_LA, ILIO_LAST, ILIO_NUMB, ILIO_POSITION, ILIO_REST, ILIO_TIME, ILIO_WEAK,
    ILIO_WHAT, MEDS, MEDS_DYE, ONB, ONB_HAIR, ONB_QUICK, RFA, RFA_REGROW, RFA_SORE, RFA_TEST_NEEDLE,
    RFA_TWITCH, RFA_WEEKS, SCS, SCS_AVOID, SCS_DRIVE, SCS_SHOWER, SGB, SGB_EFFECTS, SIJ, SIJ_DIARY,
    SIJ_PRESSURE, SIJ_SORE, STEROID_DAYS, TPI, TPI_FIND, TPI_SORE, TPI_STRETCH, TPI_TWITCH, Problems,
    check_span, resolve,
)

from qa.ingest import load_corpus  # noqa: E402

MIN_QUESTIONS = 60
MIN_CONVERSATIONS = 40

ILIO_SOURCE = ("The iliopsoas muscle is frequently responsible for pain, which can radiate from the thoracic spine "
               "to the hip area, occasionally extending to the buttocks.")
ILIO_MUSCLE = "It is joined to a muscle called the iliacus, and together these form the iliopsoas muscle."
EPI_HEADACHE = ("A headache that gets worse when you sit or stand and eases when you lie down should be reported to "
                "the clinic.")
EPI_FEEL = "You may feel some pressure, or a brief tingling along the nerve, while the medicine is injected."
EPI_NUMB = "The skin is cleaned and numbed with local anaesthetic before the needle is placed."
EPI_AIM = mq.EPI_AIM
GNB_NEEDLES = ("The doctor guides a thin needle to each nerve using X-ray or ultrasound, usually at several points "
               "around the knee.")
GNB_PRESSURE = "The medicine is injected at each point, and you may feel some pressure."
ONB_NUMB = "The back of your head and scalp may feel numb as the local anaesthetic takes effect."
ONB_LIGHT = "Some people feel briefly lightheaded, so the team will ask you to rest before you leave."
ONB_HAIRLOSS = "When a steroid is used, a small patch of thinning skin or hair loss can occur at the injection site."
SIJ_WHERE = "The sacroiliac joints connect the base of your spine, called the sacrum, to your pelvis on each side."
SIJ_CONFIRM = ("It can reduce pain and inflammation, and it can also help the doctor confirm whether the joint is "
               "the source of your pain.")
SIJ_DURING = ["You will usually lie on your tummy with a pillow under your hips.",
              "The skin over the joint is cleaned and numbed with local anaesthetic.", mq.SIJ_IMAGING, SIJ_PRESSURE]
SCS_LASTS = "The trial usually lasts several days, and the clinic team will tell you how long yours will be."
SCS_END = ("At the end of the trial the leads are removed at the clinic, and you and the team decide together whether "
           "a permanent stimulator is right for you.")
SCS_PSYCH = ("Before a trial, you will usually meet members of the team to talk about your goals, and this may "
             "include a psychological assessment.")
SGB_EAT = "Wait until any hoarseness or difficulty swallowing has passed before you eat or drink."
SGB_SIPS = "Then start with small sips of water before you try food."
SGB_WARM = "Your arm or hand on that side may feel warm."
SGB_WATCH = "The team will watch your breathing, heart rate and blood pressure throughout."
SGB_USES = ("It is used for some types of pain in the arm, hand, face or upper chest, such as complex regional pain "
            "syndrome.")
SGB_WEAR_OFF = "These effects are expected and wear off as the local anaesthetic wears off."
SGB_CALL = "Contact the clinic if you have a fever, or redness or swelling in the neck that is getting worse."
TPI_VISIT = "Several trigger points can be treated in one visit."
TPI_LUNG = ("When trigger points near the chest wall are treated, there is a rare risk that the needle may affect "
            "the lung.")
TPI_RISKS = "Risks include bruising, soreness, bleeding, infection and, rarely, an allergic reaction."
TPI_COMMON = "Trigger points are common in the neck, shoulders and upper and lower back."
EPI_CALL = mq.EPI_CALL

# (page the chat sits on, question not naming a procedure, gold: doc -> sentence(s))
QUESTIONS: list[tuple[str, str, dict[str, object]]] = [
    (ILIO, "how long does it take?", {ILIO: ILIO_TIME}),
    (ILIO, "will my leg feel weak?", {ILIO: ILIO_WEAK}),
    (ILIO, "how long will the effect last?", {ILIO: ILIO_LAST}),
    (ILIO, "when does the numbness wear off?", {ILIO: ILIO_LA}),
    (ILIO, "what position will i be in?", {ILIO: ILIO_POSITION}),
    (ILIO, "will you advise me about blood thinners?", {ILIO: ILIO_BT, FAQ: FAQ_BT}),
    (ILIO, "what is the aim of the injection?", {ILIO: ILIO_AIM}),
    (ILIO, "what medicine do you inject?", {ILIO: ILIO_WHAT}),
    (ILIO, "will you use x-ray or ultrasound?", {ILIO: ILIO_IMAGING}),
    (ILIO, "how do you check the needle is in the right place?", {ILIO: ILIO_DYE}),
    (ILIO, "how long will i stay in the recovery room?", {ILIO: ILIO_TIME}),
    (ILIO, "what should i do for the first day?", {ILIO: ILIO_REST, FAQ: FAQ_REST}),
    (ILIO, "will i need botox?", {ILIO: ILIO_BOTOX}),
    (ILIO, "does the skin get numbed first?", {ILIO: ILIO_NUMB}),
    (ILIO, "can i go home the same day?", {ILIO: ILIO_TIME}),
    (ILIO, "which muscles are involved?", {ILIO: ILIO_MUSCLE}),
    (ILIO, "will i have pain when the numbing medicine wears off?", {ILIO: ILIO_LA}),
    (ILIO, "do i need to do exercises afterwards?", {ILIO: ILIO_LAST, FAQ: FAQ_RETURN}),
    (ILIO, "how many minutes is the procedure?", {ILIO: ILIO_TIME}),
    (ILIO, "where can the pain spread?", {ILIO: ILIO_SOURCE}),
    (ILIO, "can i drive myself home after it?", {FAQ: [FAQ_ADULT, FAQ_NO_SELF_DRIVE, FAQ_NO_DRIVE]}),
    (EPI, "what is the aim of the injection?", {EPI: EPI_AIM}),
    (EPI, "how long until the steroid starts working?", {EPI: STEROID_DAYS, FAQ: FAQ_TOO_EARLY}),
    (EPI, "what will i feel while the medicine goes in?", {EPI: EPI_FEEL}),
    (EPI, "i have diabetes, is there anything to watch?", {EPI: DIAB, FAQ: FAQ_SUGAR}),
    (EPI, "what kind of headache should i report?", {EPI: EPI_HEADACHE}),
    (FACET, "why do i need to keep a diary?", {FACET: FACET_DIARY_WHY}),
    (FACET, "what should i write in the pain diary?", {FACET: FACET_DIARY_HOW}),
    (FACET, "can both sides be done at once?", {FACET: FACET_LEVELS}),
    (FACET, "is the block just a test?", {FACET: FACET_MBB_TEST}),
    (FACET, "how sore will i be afterwards?", {FACET: FACET_SORE}),
    (GNB, "what should i wear?", {GNB: GNB_CLOTHES, FAQ: FAQ_CLOTHES}),
    (GNB, "will my knee be bruised?", {GNB: GNB_SORE}),
    (GNB, "what is it used for?", {GNB: GNB_USES}),
    (GNB, "which exercises help afterwards?", {GNB: GNB_EXERCISE, FAQ: FAQ_RETURN}),
    (GNB, "how many needles will be used?", {GNB: GNB_NEEDLES}),
    (ONB, "can i wash my hair?", {ONB: ONB_HAIR, FAQ: FAQ_SHOWER}),
    (ONB, "will my scalp feel numb?", {ONB: ONB_NUMB}),
    (ONB, "will i feel dizzy afterwards?", {ONB: ONB_LIGHT}),
    (ONB, "is the injection quick?", {ONB: ONB_QUICK}),
    (ONB, "could i lose some hair?", {ONB: ONB_HAIRLOSS}),
    (RFA, "when will i feel the full benefit?", {RFA: RFA_WEEKS}),
    (RFA, "can the pain come back?", {RFA: RFA_REGROW}),
    (RFA, "will the skin feel like sunburn?", {RFA: RFA_SORE}),
    (RFA, "will my muscle twitch?", {RFA: RFA_TWITCH}),
    (RFA, "do i need to fast?", {RFA: FAST, FAQ: FAQ_FAST}),
    (SIJ, "where will i feel pressure?", {SIJ: SIJ_PRESSURE}),
    (SIJ, "where exactly is the joint?", {SIJ: SIJ_WHERE}),
    (SIJ, "can it show where my pain comes from?", {SIJ: SIJ_CONFIRM}),
    (SIJ, "will there be soreness afterwards?", {SIJ: SIJ_SORE}),
    (SIJ, "should i keep a pain diary?", {SIJ: SIJ_DIARY, FAQ: FAQ_DIARY}),
    (SCS, "can i shower?", {SCS: SCS_SHOWER, FAQ: FAQ_SCS}),
    (SCS, "how many days is the trial?", {SCS: SCS_LASTS}),
    (SCS, "which movements should i avoid?", {SCS: SCS_AVOID}),
    (SCS, "can i drive?", {SCS: SCS_DRIVE, FAQ: FAQ_SCS}),
    (SCS, "what happens when the trial ends?", {SCS: SCS_END}),
    (SCS, "will i see a psychologist first?", {SCS: SCS_PSYCH}),
    (SGB, "when can i eat?", {SGB: SGB_EAT}),
    (SGB, "why would my eyelid droop?", {SGB: SGB_EFFECTS}),
    (SGB, "will my arm feel warm?", {SGB: SGB_WARM}),
    (SGB, "will you monitor my heart rate?", {SGB: SGB_WATCH}),
    (SGB, "what kind of pain is it used for?", {SGB: SGB_USES}),
    (TPI, "how do you find the knots?", {TPI: TPI_FIND}),
    (TPI, "will i feel a twitch?", {TPI: TPI_TWITCH}),
    (TPI, "how many can be treated in a visit?", {TPI: TPI_VISIT}),
    (TPI, "is there a risk to my lung?", {TPI: TPI_LUNG}),
    (TPI, "how long will my muscles be sore?", {TPI: TPI_SORE}),
    (TPI, "what helps the benefit to last?", {TPI: TPI_STRETCH}),
]

# (page or None, first question, follow-up, gold for the follow-up, switches procedure)
CONVERSATIONS: list[tuple[str | None, str, str, dict[str, object], bool]] = [
    (ILIO, "will my leg feel weak?", "how long does that last?", {ILIO: ILIO_WEAK}, False),
    (None, "will my leg feel weak after the iliopsoas injection?", "how long does that last?", {ILIO: ILIO_WEAK},
     False),
    (ILIO, "how long does it take?", "and how long does the effect last?", {ILIO: ILIO_LAST}, False),
    (None, "how long does the iliopsoas injection take?", "and how long will the effect last?", {ILIO: ILIO_LAST},
     False),
    (None, "what is an iliopsoas injection?", "what is the aim of it?", {ILIO: ILIO_AIM}, False),
    (None, "do i need to stop blood thinners before the iliopsoas injection?", "what position will i lie in?",
     {ILIO: ILIO_POSITION}, False),
    (ILIO, "can i drive home after the injection?", "and when can i go back to work?", {FAQ: FAQ_WORK}, False),
    (ILIO, "when does the local anaesthetic wear off?", "will it hurt after that?", {ILIO: ILIO_LA}, False),
    (ILIO, "will you use x-ray?", "and how do you know the needle is in the right place?", {ILIO: ILIO_DYE},
     False),
    (EPI, "how long until the steroid works?", "and what if i have diabetes?", {EPI: DIAB, FAQ: FAQ_SUGAR}, False),
    (None, "what are the risks of an epidural steroid injection?", "what about the headache?",
     {EPI: EPI_HEADACHE}, False),
    (EPI, "what happens during the procedure?", "will that hurt?", {EPI: [EPI_NUMB, EPI_FEEL]}, False),
    (FACET, "what should i do after the block?", "why do i need that diary?", {FACET: FACET_DIARY_WHY}, False),
    (None, "what is a medial branch block?", "and what if it works?", {FACET: FACET_MBB_TEST}, False),
    (FACET, "can you treat more than one level?", "both sides too?", {FACET: FACET_LEVELS}, False),
    (GNB, "will my knee be sore?", "how long does that last?", {GNB: GNB_SORE}, False),
    (None, "what is a genicular nerve block used for?", "can it be a test for something else?", {GNB: GNB_TEST},
     False),
    (GNB, "what happens during the procedure?", "will i feel anything?", {GNB: GNB_PRESSURE}, False),
    (ONB, "will my head feel numb?", "and will i feel lightheaded?", {ONB: ONB_LIGHT}, False),
    (None, "what happens after an occipital nerve block?", "when can i wash my hair?",
     {ONB: ONB_HAIR, FAQ: FAQ_SHOWER}, False),
    (ONB, "what are the risks?", "what about hair loss?", {ONB: ONB_HAIRLOSS}, False),
    (RFA, "will the area be sore?", "how long does that last?", {RFA: RFA_SORE}, False),
    (None, "when will i feel the benefit of radiofrequency ablation?", "will the pain come back?",
     {RFA: RFA_REGROW}, False),
    (RFA, "what happens during the procedure?", "why do you test the needle with a current?",
     {RFA: RFA_TEST_NEEDLE}, False),
    (SIJ, "what happens during the injection?", "will i feel pressure?", {SIJ: SIJ_PRESSURE}, False),
    (None, "what is a sacroiliac joint injection?", "where is that joint?", {SIJ: SIJ_WHERE}, False),
    (SIJ, "should i keep a pain diary?", "for how long?", {SIJ: SIJ_DIARY}, False),
    (SCS, "how long does the trial last?", "and what happens at the end?", {SCS: SCS_END}, False),
    (None, "can i shower during a spinal cord stimulator trial?", "and can i drive?",
     {SCS: SCS_DRIVE, FAQ: FAQ_SCS}, False),
    (SCS, "what should i avoid during the trial?", "why is that?", {SCS: SCS_AVOID}, False),
    (SGB, "when can i eat after the procedure?", "and what should i start with?", {SGB: SGB_SIPS}, False),
    (None, "what can i expect after a stellate ganglion block?", "is a blocked nose common?", {SGB: SGB_EFFECTS},
     False),
    (SGB, "will my eye look red?", "when does that wear off?", {SGB: SGB_WEAR_OFF}, False),
    (SGB, "can i eat before the procedure?", "and after?", {SGB: [SGB_EAT, SGB_SIPS]}, False),
    (TPI, "will i feel a twitch?", "is that normal?", {TPI: TPI_TWITCH}, False),
    (None, "what is a trigger point?", "where are they common?", {TPI: TPI_COMMON}, False),
    (TPI, "how long will my muscles be sore?", "and what helps the benefit last?", {TPI: TPI_STRETCH}, False),
    (None, "can i drive after the procedure?", "and when can i go back to work?", {FAQ: FAQ_WORK}, False),
    (None, "can i shower after the procedure?", "what about a bath?", {FAQ: FAQ_BATH}, False),
    (None, "what should i do after my procedure?", "and what should i avoid?",
     {FAQ: [FAQ_NO_DRIVE, FAQ_BATH, FAQ_STRENUOUS]}, False),
    # follow-ups that name another procedure: answered from that page, the topic carried over
    (ILIO, "what should i wear?", "and for the genicular block?", {GNB: GNB_CLOTHES, FAQ: FAQ_CLOTHES}, True),
    (None, "what are the risks of radiofrequency ablation?", "and for a trigger point injection?",
     {TPI: TPI_RISKS}, True),
    (None, "can i shower after a spinal cord stimulator trial?", "what about after an occipital nerve block?",
     {ONB: ONB_HAIR, FAQ: FAQ_SHOWER}, True),
    (None, "how do i prepare for a genicular nerve block?", "and for rfa?",
     {RFA: [MEDS, BT, DONT_STOP, FAST, ADULT]}, True),
    (None, "what happens during an epidural steroid injection?", "and during a sacroiliac joint injection?",
     {SIJ: SIJ_DURING}, True),
    (ILIO, "when should i call the clinic after an epidural?", "and after a stellate ganglion block?",
     {SGB: SGB_CALL}, True),
]


def _gold(where: str, gold: dict[str, object], pages: dict, problems: list[str], cache: dict) -> dict | None:
    by_doc: dict[str, list[list[int]]] = {}
    for doc, spans in gold.items():
        if doc not in pages:
            problems.append(f"{where}: unknown doc_id {doc!r}")
            continue
        got = []
        for item in spans if isinstance(spans, list) else [spans]:
            r = resolve(pages[doc], item, where, problems, cache)
            if r is not None:
                check_span(pages[doc], r[0], r[1], where, problems)
                got.append(list(r))
        if got:
            by_doc[doc] = got
    if not by_doc:
        return None
    primary = next(iter(by_doc))
    s0, e0 = by_doc[primary][0]
    return {"answerable": True, "doc_id": primary, "gold_doc_ids": list(by_doc), "answer_spans": by_doc[primary],
            "gold_spans_by_doc": by_doc, "answer_text": pages[primary].text[s0:e0]}


def build(pages: dict, safety=None) -> tuple[list[dict], list[dict]]:  # type: ignore[no-untyped-def]
    problems: list[str] = []
    cache: dict = {}

    def check_question(where: str, text: str) -> None:
        if safety is not None:
            verdict = safety.check(text)
            if verdict.action != "answer":
                problems.append(f"{where}: the safety rules {verdict.action} {text!r} ({verdict.rule})")

    questions = []
    seen: set[tuple[str, str]] = set()
    for n, (page, text, gold) in enumerate(QUESTIONS, 1):
        qid = f"context-{n:04d}"
        where = f"{qid} {text!r}"
        if (page, text) in seen:
            problems.append(f"{where}: duplicate")
        seen.add((page, text))
        if mq.PROCEDURE_WORDS.search(text):
            problems.append(f"{where}: names a procedure (this set is of questions that do not)")
        check_question(where, text)
        rec = _gold(where, gold, pages, problems, cache)
        if rec is not None:
            questions.append({"id": qid, "question": text, "page_procedure": page, **rec})
    conversations = []
    for n, (page, first, follow, gold, switch) in enumerate(CONVERSATIONS, 1):
        cid = f"conversation-{n:04d}"
        where = f"{cid} {follow!r}"
        check_question(where, first)
        check_question(where, follow)
        if switch != bool(mq.PROCEDURE_WORDS.search(follow)):
            problems.append(f"{where}: switch={switch} but the follow-up "
                            f"{'does not name' if switch else 'names'} a procedure")
        rec = _gold(where, gold, pages, problems, cache)
        if rec is not None:
            conversations.append({"id": cid, "page_procedure": page, "history": [first], "question": follow,
                                  "switch": switch, **rec})
    if len(questions) < MIN_QUESTIONS:
        problems.append(f"only {len(questions)} questions (need >= {MIN_QUESTIONS})")
    if len(conversations) < MIN_CONVERSATIONS:
        problems.append(f"only {len(conversations)} conversations (need >= {MIN_CONVERSATIONS})")
    if problems:
        raise Problems("\n".join(problems))
    return questions, conversations


def _write(path: Path, records: list[dict]) -> None:
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=REPO / "corpus")
    ap.add_argument("--out", type=Path, default=HERE)
    a = ap.parse_args(argv)
    from qa.safety import load_checker

    pages = {p.doc_id: p for p in load_corpus(a.corpus, strict=True).pages}
    try:
        questions, conversations = build(pages, load_checker())
    except Problems as err:
        print(f"make_context: FAILED, nothing written:\n{err}", file=sys.stderr)  # noqa: T201
        return 1
    a.out.mkdir(parents=True, exist_ok=True)
    _write(a.out / "questions.jsonl", questions)
    _write(a.out / "conversations.jsonl", conversations)
    by_page: dict[str, int] = {}
    for q in questions:
        by_page[q["page_procedure"]] = by_page.get(q["page_procedure"], 0) + 1
    print(f"wrote {len(questions)} questions ({', '.join(f'{k} {v}' for k, v in sorted(by_page.items()))}) "  # noqa: T201
          f"and {len(conversations)} conversations ({sum(c['switch'] for c in conversations)} switch procedure, "
          f"{sum(c['page_procedure'] is None for c in conversations)} without a page)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
