#!/usr/bin/env python3
"""Write eval/clinic/questions.jsonl: labelled patient questions over the clinic corpus (corpus/*.md).

    .venv/bin/python eval/clinic/make_questions.py            # from the repo root
    python eval/clinic/make_questions.py --corpus corpus --out eval/clinic/questions.jsonl

The questions and their answer SENTENCES (never offsets) are written out below. Offsets are computed
from the pages exactly as the product loads them (``qa.ingest.load_corpus``; offsets index
``Page.text``), and every span is checked; any problem stops the script with a list of what is wrong
and nothing is written:

* the span text occurs exactly once in the page text, has no leading/trailing whitespace, starts at a
  sentence start and ends at a sentence end (``qa.text.sentence_spans``, as the product segments);
* it lies inside one section body: it never includes or crosses a heading line, and is not in the
  "sample content" line before the first heading;
* every page is covered; ids and questions are unique; the counts meet the minimums;
* no question is caught by the product's safety rules (``qa/data/safety_rules.yaml``): emergencies
  and personal medical decisions are answered before retrieval, so they do not belong here.

Ids: answerable clinic-0001..., unanswerable clinic-1001...; add new questions at the END of
their list so existing ids (and the id-hash tune/report split) stay put.

Record format (as the shared evaluation set, plus ``gold_spans_by_doc``, ``style`` and two flags):
``id, question, answerable, doc_id, gold_doc_ids, answer_spans, gold_spans_by_doc, answer_text,
qtype, style, mentions_procedure, near_miss``. ``doc_id``/``answer_spans`` are the primary (most
specific) gold page, always the first page listed for a question below; ``gold_doc_ids`` lists every
page that answers the question, each with its spans in ``gold_spans_by_doc``.

Output is deterministic: the same corpus and this file give byte-identical questions.jsonl.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from qa.ingest import load_corpus  # noqa: E402
from qa.text import sentence_spans  # noqa: E402

MIN_ANSWERABLE = 160
MIN_UNANSWERABLE = 60
MIN_NEAR_MISS = 20

# ------------------------------------------------------------------------------------------ pages

ILIO = "iliopsoas-injection"
EPI = "epidural-steroid-injection"
FACET = "facet-joint-injection-medial-branch-block"
FAQ = "faq-dos-and-donts"
GNB = "genicular-nerve-block"
ONB = "occipital-nerve-block"
RFA = "radiofrequency-ablation"
SIJ = "sacroiliac-joint-injection"
SCS = "spinal-cord-stimulator-trial"
SGB = "stellate-ganglion-block"
TPI = "trigger-point-injection"
ALL_DOCS = (ILIO, EPI, FACET, FAQ, GNB, ONB, RFA, SIJ, SCS, SGB, TPI)

# `mentions_procedure`: the question names a procedure (not just a body part or an anatomy term:
# "what are facet joints?" does not name one, "facet injection side effects" does), whether or not
# the corpus has a page on it. Misspellings used below are included.
_PROCEDURE_NAMES = (
    r"(?:ilio ?psoas|ilopsoas|psoas|facet(?: joint)?|genicu?la?u?r(?: nerve)?|genicualr(?: nerve)?|"
    r"o?c?cipital(?: nerve)?|sacroiliac(?: joint)?|si(?: joint)?|stell?ate(?: ganglion)?|trigger (?:point|pt)|"
    r"medial branch|epidural steroid|lumbar sympathetic|hyaluronic acid gel|prp|botox)"
    r" (?:injections?|inj|blocks?|shot)"
    r"|epidurals?(?! space)|rfa|radio ?frequency(?: ablation| denervation)?|ablation|"
    r"(?:spinal cord )?stimulator(?: trial)?|scs|caudal epidural|vertebroplasty|ozone therapy|"
    r"knee replacement|chiropractic|acupuncture"
)
PROCEDURE_WORDS = re.compile(rf"\b(?:{_PROCEDURE_NAMES})\b", re.I)


@dataclass(frozen=True)
class Section:
    """The whole body of the section under this heading line (the heading itself excluded)."""

    heading: str


# --------------------------------------------------------------------- sentences shared by pages
# A generic question ("can I drive after?") is answered by every page that says it. These themes
# hold each page's answer; `theme(...)` puts the primary page first.

REST_24 = "Rest and do only gentle activity for the first 24 hours."
BT = "If you take blood-thinning medicines, the clinic team will advise you about them before your procedure."
DONT_STOP = "Do not stop or change any medicine on your own."
MEDS = "Tell the clinic team about all the medicines you take and about any allergies."
MEDS_DYE = ("Tell the clinic team about all the medicines you take, and about any allergies to contrast dye, "
            "iodine, local anaesthetic or latex.")
FAST = "The clinic team will tell you whether you need to stop eating and drinking beforehand."
ADULT = "Please bring a responsible adult to take you home."
DIAB = "If you have diabetes, check your blood sugar more often for a few days, because the steroid can raise it."
DIAB_IF = ("If a steroid is used and you have diabetes, check your blood sugar more often for a few days, "
           "because the steroid can raise it.")
STEROID_DAYS = "The steroid may take several days to start working."

FAQ_MEDS_LIST = "- Do bring a list of all the medicines you take, including any herbal or over-the-counter products."
FAQ_BT = ("- Do tell the clinic team if you take blood-thinning medicines; the team will advise you about them "
          "before your procedure.")
FAQ_FAST = ("- Do follow the clinic team's instructions about eating and drinking, because whether you need to fast "
            "depends on whether you will have sedation.")
FAQ_CLOTHES = "- Do wear loose, comfortable clothes and leave jewellery and valuables at home."
FAQ_ADULT = "- Do bring a responsible adult to drive you home after the procedure."
FAQ_PREG = "- Do tell the team if you are or might be pregnant, or if you have any allergies."
FAQ_DONT_STOP = "- Don't stop or change any medicine on your own; ask the clinic team first."
FAQ_FEVER_BEFORE = ("- Don't come in for your procedure if you have a fever or an infection; call the clinic first, "
                    "as the procedure may need to be postponed.")
FAQ_NO_SELF_DRIVE = "- Don't plan to drive yourself home."
FAQ_REST = "- Do rest and do only gentle activity for the first 24 hours."
FAQ_RETURN = ("- Do return to your normal activities gradually after that, and follow the exercises the team "
              "recommends.")
FAQ_DIARY = ("- Do keep a pain diary, noting your pain level, your activities and any changes, and bring it to your "
             "follow-up visit.")
FAQ_SHOWER = "- Do wait until the day after the procedure to shower, and remove the small dressing at that time."
FAQ_SUGAR = "- Do check your blood sugar more often for a few days if you have diabetes and were given a steroid."
FAQ_NO_DRIVE = "- Don't drive for 24 hours after the procedure."
FAQ_BATH = "- Don't soak in a bath, hot tub or swimming pool for 48 hours."
FAQ_STRENUOUS = "- Don't do strenuous exercise or lifting for the first 24 hours."
FAQ_SCS = ("- Don't shower or drive while spinal cord stimulator trial leads are in place; the team will give you "
           "separate advice for the trial.")
FAQ_TOO_EARLY = "- Don't judge the result too early, because some medicines take several days to start working."
FAQ_WORK = "Most people can return to work the day after the procedure."
FAQ_WORK_HEAVY = "Ask the clinic team before you go back if your job involves lifting or hard physical work."
FAQ_WORK_SCS = ("If you are having a spinal cord stimulator trial, the team will give you separate advice for the "
                "period while the trial leads are in place.")
FAQ_CALL = ("Contact the clinic if you have a fever, or redness, swelling, warmth or fluid leaking at the injection "
            "site.")

ILIO_WEAK = "Occasionally, you leg may feel heavy or weak for a few hours."
ILIO_TIME = ("The procedure takes not more than 15 minutes, following which you will be observed in the recovery "
             "room for an hour and discharged home later.")
ILIO_LA = ("The local anaesthetic will wear off 12 – 18 hours following your procedure after which you might "
           "experience slight discomfort till the other medications start taking effect.")
ILIO_LAST = ("The effect should last a few months during which our rehabilitation and functional restoration "
             "exercises should be followed to provide long-term benefit.")
ILIO_BT = ("Blood thinning medicines must be stopped prior to your procedure, and we will advise you regarding that "
           "at Atlas Pain Care, Coimbatore.")
ILIO_REST = "Gentle activity and rest is recommended for the first 24 hours following the procedure."
ILIO_POSITION = ("In the procedure room, you will be assisted into a position that involves lying on your tummy with "
                 "pillows supporting your hip and abdomen.")
ILIO_IMAGING = "An X-ray or an ultrasound machine will then be used to determine where the needle should be placed."
ILIO_NUMB = ("Following infiltration of local anaesthesia to reduce skin discomfort during the procedure, the needle "
             "is placed and guided into the iliopsoas muscle under image control.")
ILIO_DYE = "Once correct placement is confirmed with a dye, local anaesthetic and other medications are injected."
ILIO_WHAT = ("Iliopsoas injection involves the injection of local anaesthetic and other medications into the psoas "
             "sheath.")
ILIO_AIM = "The aim of the injection is to reduce inflammation, irritation and swelling around the iliopsoas muscle."
ILIO_BOTOX = "On occasions, we might have to inject Botox for long-term benefit."

RFA_REGROW = ("The nerves can grow back over time, so the pain may return and the procedure may need to be "
              "repeated.")
RFA_WEEKS = "It can take a few weeks before you feel the full benefit."
RFA_SORE = ("The treated area is often sore for a week or two, and some people notice a sunburn-like feeling over "
            "the skin.")
RFA_TEST_NEEDLE = ("Before any heat is applied, the doctor tests the position of each needle with a small electrical "
                   "current.")
RFA_TWITCH = ("You may feel tingling or a muscle twitch during testing, and the doctor may ask you to describe what "
              "you feel.")
RFA_NUMBED = "The nerves are then numbed before the heat treatment is given."
RFA_USES = "It is most often used for pain from the facet joints of the spine, the sacroiliac joints or the knee."
RFA_AFTER_TEST = ("It is usually offered only after test blocks with local anaesthetic have given you good short-term "
                  "relief.")
RFA_RISKS = "Risks include soreness, bruising, bleeding, infection and a temporary increase in pain."
RFA_EXERCISE = "Continuing with the exercises the team recommends helps you get the most from the treatment."

GNB_TEST = ("It can also be used as a test to see whether radiofrequency ablation of the same nerves is likely to "
            "help.")
GNB_CLOTHES = "Wear loose clothing, such as shorts or loose trousers, so that the knee can be reached easily."
GNB_DIARY = ("The team may ask you to keep a pain diary and to try the movements that usually hurt, such as walking or "
             "climbing stairs.")
GNB_SORE = "You may have some bruising or soreness around the knee for a day or two."
GNB_STEROID = "If a steroid is used, it may take several days to start working."
GNB_EXERCISE = "Continuing with your knee exercises helps you get the most from the treatment."
GNB_USES = "It is often used for long-standing knee pain from arthritis, or for pain that continues after knee surgery."

FACET_MBB_TEST = ("A medial branch block is mainly a test. If it gives good short-term relief, the pain is probably "
                  "coming from those joints, and radiofrequency ablation may be considered for longer-lasting relief.")
FACET_DIARY = "After a medial branch block, the team will ask you to keep a pain diary over the next several hours."
FACET_DIARY_HOW = ("Try the activities that usually cause your pain, and write down how much pain you have at the "
                   "times the team suggests.")
FACET_DIARY_WHY = "Your diary helps the doctor decide whether radiofrequency ablation is likely to help you."
FACET_LEVELS = "More than one level, and both sides, may be treated in the same session."
FACET_SORE = "The area may feel sore for a day or two."

ONB_DIARY = "Keep a headache diary before and after the injection so that you and the team can see whether it helps."
ONB_QUICK = "The injection itself is usually quick."
ONB_HAIR = "You can wash your hair the day after the procedure."
ONB_SIDES = "The skin is cleaned, and a fine needle is used to inject the medicine on one or both sides."

SIJ_PREG = "Please tell the team if you are or might be pregnant."
SIJ_CLOTHES = "Wear loose, comfortable clothes and bring a responsible adult to take you home."
SIJ_DIARY = ("The team may ask you to keep a pain diary and to note how your pain changes over the first few hours "
             "and days.")
SIJ_SORE = "You may have soreness at the injection site or a temporary increase in pain for a day or two."
SIJ_PRESSURE = "The medicine is then injected slowly, and you may feel some pressure in the buttock."
SIJ_IMAGING = ("The doctor guides the needle into the joint using X-ray or ultrasound, and contrast dye may be used to "
               "confirm the position.")

EPI_AIM = ("The aim is to reduce inflammation around the nerve so that you can move more comfortably and take part "
           "in exercise and physiotherapy.")
EPI_PREG = "Please tell the team if you are or might be pregnant, because X-ray is used to guide the needle."
EPI_FEVER_BEFORE = ("If you have a fever or an infection on the day, call the clinic before you come in, as the "
                    "procedure may need to be postponed.")
EPI_SORE = "Some people have soreness at the injection site or a temporary increase in pain for a day or two."
EPI_FEEL = "You may feel some pressure, or a brief tingling along the nerve, while the medicine is injected."
EPI_NUMB = "The skin is cleaned and numbed with local anaesthetic before the needle is placed."
EPI_IMAGING = ("The doctor guides the needle using X-ray, and a small amount of contrast dye is used to check that the "
               "medicine will spread to the right place.")
EPI_CALL = ("Contact the clinic straight away if you have a fever, or redness, swelling, warmth or fluid leaking at "
            "the injection site.")

SCS_LIE = "You will lie on your tummy, and the skin of your back is cleaned and numbed with local anaesthetic."
SCS_SHOWER = "Keep the dressing clean and dry, and do not shower while the trial leads are in place."
SCS_DRIVE = "Do not drive while the trial leads are in place."
SCS_AVOID = "Avoid bending, twisting, lifting and reaching above your head, because these movements can move the leads."
SCS_DIARY = "Keep a pain diary and note how the stimulator affects your pain, sleep and daily activities."

TPI_FIND = "The doctor finds the trigger points by pressing on the muscle, and cleans the skin over each one."
TPI_REST = "Rest and do only gentle activity for the first 24 hours, then slowly return to your usual activities."
TPI_CLOTHES = "Wear loose, comfortable clothing that lets the team reach the painful area easily."
TPI_TWITCH = "You may feel a brief twitch or ache in the muscle as the needle reaches the trigger point."
TPI_SORE = "The muscles may feel sore for a day or two."
TPI_DIARY = "Keeping a pain diary can help you and the team see how well the injections are working."
TPI_STRETCH = "Gentle stretching and the exercises recommended by the team help the benefit to last."

SGB_EFFECTS = ("It is common to notice a droopy eyelid, a red eye, a blocked nose or a hoarse voice on the side of the "
               "injection.")

# Gentle activity / rest for the first 24 hours (every page but the stimulator trial).
T_REST = {ILIO: ILIO_REST, EPI: REST_24, FACET: REST_24, FAQ: FAQ_REST, GNB: REST_24, ONB: REST_24,
          RFA: REST_24, SIJ: REST_24, SGB: REST_24, TPI: TPI_REST}
# Blood thinners: the team advises (the facet page has no preparation section).
T_BT = {ILIO: ILIO_BT, FAQ: FAQ_BT, EPI: f"{BT} {DONT_STOP}", GNB: f"{BT} {DONT_STOP}", ONB: f"{BT} {DONT_STOP}",
        RFA: f"{BT} {DONT_STOP}", SIJ: f"{BT} {DONT_STOP}", SCS: f"{BT} {DONT_STOP}", SGB: f"{BT} {DONT_STOP}",
        TPI: f"{BT} {DONT_STOP}"}
# Don't stop or change medicines on your own.
T_DONT_STOP = {FAQ: FAQ_DONT_STOP, EPI: DONT_STOP, GNB: DONT_STOP, ONB: DONT_STOP, RFA: DONT_STOP,
               SIJ: DONT_STOP, SCS: DONT_STOP, SGB: DONT_STOP, TPI: DONT_STOP}
# Tell the team about your medicines (and allergies).
T_MEDS = {FAQ: FAQ_MEDS_LIST, EPI: MEDS_DYE, SIJ: MEDS_DYE, GNB: MEDS, ONB: MEDS, RFA: MEDS, SCS: MEDS,
          SGB: MEDS, TPI: MEDS}
# Allergies.
T_ALLERGY = {FAQ: FAQ_PREG, EPI: MEDS_DYE, SIJ: MEDS_DYE, GNB: MEDS, ONB: MEDS, RFA: MEDS, SCS: MEDS,
             SGB: MEDS, TPI: MEDS}
# Eating and drinking before.
T_FAST = {FAQ: FAQ_FAST, RFA: FAST, SCS: FAST, SGB: FAST}
# Someone to take you home.
T_ADULT = {FAQ: [FAQ_ADULT, FAQ_NO_SELF_DRIVE, FAQ_NO_DRIVE], GNB: ADULT, RFA: ADULT, SGB: ADULT, SIJ: SIJ_CLOTHES}
# Driving after the procedure.
T_DRIVE = {FAQ: [FAQ_ADULT, FAQ_NO_SELF_DRIVE, FAQ_NO_DRIVE], SCS: SCS_DRIVE, GNB: ADULT, RFA: ADULT, SGB: ADULT,
           SIJ: SIJ_CLOTHES}
# Showering / washing.
T_SHOWER = {FAQ: [FAQ_SHOWER, FAQ_SCS], ONB: ONB_HAIR, SCS: SCS_SHOWER}
# Fever or a red, swollen injection site after the procedure.
T_FEVER = {FAQ: FAQ_CALL, EPI: EPI_CALL, SIJ: EPI_CALL,
           FACET: "Contact the clinic if you have a fever or redness, swelling or fluid at the injection site.",
           GNB: "Contact the clinic if you have a fever, or if the knee becomes hot, red and swollen.",
           ONB: ("Contact the clinic if you have a fever, or a headache that is very different from your usual "
                 "headaches."),
           RFA: ("Contact the clinic if you have a fever, redness or swelling at the needle sites, or pain that keeps "
                 "getting worse."),
           SCS: ("Contact the clinic if you have a fever, redness or swelling around the dressing, or fluid leaking "
                 "from the lead site."),
           SGB: "Contact the clinic if you have a fever, or redness or swelling in the neck that is getting worse.",
           TPI: "Contact the clinic if you have a fever or redness, swelling or fluid at the injection sites."}
# Pregnancy.
T_PREG = {EPI: EPI_PREG, SIJ: SIJ_PREG, FAQ: FAQ_PREG}
# Diabetes and the steroid.
T_DIAB = {FAQ: FAQ_SUGAR, EPI: DIAB, SIJ: DIAB, ONB: DIAB, FACET: DIAB_IF, GNB: DIAB_IF}
# Pain diary.
T_DIARY = {FAQ: FAQ_DIARY, FACET: FACET_DIARY, GNB: GNB_DIARY, ONB: ONB_DIARY, SIJ: SIJ_DIARY, SCS: SCS_DIARY,
           TPI: TPI_DIARY}
# When it starts working.
T_DELAY = {FAQ: FAQ_TOO_EARLY, EPI: STEROID_DAYS, SIJ: STEROID_DAYS, ONB: STEROID_DAYS, GNB: GNB_STEROID,
           RFA: RFA_WEEKS, ILIO: ILIO_LA}
# Soreness / discomfort afterwards.
T_SORE = {ILIO: ILIO_LA, EPI: EPI_SORE, SIJ: SIJ_SORE, FACET: FACET_SORE, GNB: GNB_SORE, RFA: RFA_SORE,
          TPI: TPI_SORE}
# How it feels during the procedure.
T_DURING = {ILIO: ILIO_NUMB, EPI: [EPI_NUMB, EPI_FEEL],
            FACET: "The skin is cleaned and numbed with local anaesthetic.",
            GNB: ["The skin is cleaned and numbed with local anaesthetic.",
                  "The medicine is injected at each point, and you may feel some pressure."],
            RFA: [RFA_TWITCH + " " + RFA_NUMBED],
            SIJ: ["The skin over the joint is cleaned and numbed with local anaesthetic.", SIJ_PRESSURE],
            SCS: "You will lie on your tummy, and the skin of your back is cleaned and numbed with local anaesthetic.",
            SGB: "The skin on the side of your neck is cleaned and numbed with local anaesthetic.",
            TPI: TPI_TWITCH}
# The skin is numbed first.
T_NUMB = {ILIO: ILIO_NUMB, EPI: EPI_NUMB, FACET: "The skin is cleaned and numbed with local anaesthetic.",
          GNB: "The skin is cleaned and numbed with local anaesthetic.",
          RFA: "The skin is numbed with local anaesthetic, and special needles are guided to the nerves using X-ray.",
          SIJ: "The skin over the joint is cleaned and numbed with local anaesthetic.",
          SCS: "You will lie on your tummy, and the skin of your back is cleaned and numbed with local anaesthetic.",
          SGB: "The skin on the side of your neck is cleaned and numbed with local anaesthetic."}
# Position on the table.
T_POSITION = {ILIO: ILIO_POSITION,
              EPI: "You will usually lie on your tummy, with a pillow under your hips to make you comfortable.",
              FACET: "You will usually lie on your tummy for the lower back, or on your tummy or side for the neck.",
              GNB: "You will lie on your back, usually with a pillow under the knee.",
              ONB: "You will usually sit and lean forward, or lie on your tummy.",
              RFA: "You will lie in a comfortable position, usually on your tummy for the spine.",
              SIJ: "You will usually lie on your tummy with a pillow under your hips.",
              SCS: SCS_LIE,
              SGB: "You will lie on your back with your head tilted slightly.",
              TPI: "You will sit or lie in a comfortable position."}
# Image guidance.
T_IMAGING = {ILIO: ILIO_IMAGING, EPI: EPI_IMAGING,
             FACET: ("The doctor guides a thin needle to each level using X-ray, and a small amount of contrast dye "
                     "may be used to check its position."),
             GNB: ("The doctor guides a thin needle to each nerve using X-ray or ultrasound, usually at several points "
                   "around the knee."),
             ONB: ("The doctor finds the nerves by feeling landmarks at the back of your head, sometimes with the help "
                   "of ultrasound."),
             RFA: ("The skin is numbed with local anaesthetic, and special needles are guided to the nerves using "
                   "X-ray."),
             SIJ: SIJ_IMAGING,
             SCS: "The doctor guides a needle into the epidural space using X-ray, and passes a thin lead through it.",
             SGB: "The doctor guides a thin needle using ultrasound or X-ray, and the medicine is injected slowly."}
# Checking the needle position.
T_CHECK = {ILIO: ILIO_DYE, EPI: EPI_IMAGING, FACET: T_IMAGING[FACET], SIJ: SIJ_IMAGING, RFA: RFA_TEST_NEEDLE}
# Risks / side effects.
T_RISKS = {EPI: ("Epidural injections are generally considered safe, but every procedure has some risks. These include "
                 "bleeding, infection, an allergic reaction, and a headache if the covering of the spinal nerves is "
                 "punctured."),
           FACET: ("Side effects are uncommon, but they include bruising, soreness, infection, bleeding and an "
                   "allergic reaction."),
           GNB: ("Side effects are uncommon, but they include bruising, soreness, bleeding, infection and an allergic "
                 "reaction."),
           ONB: "Risks include soreness, bruising, bleeding, infection and, rarely, an allergic reaction.",
           RFA: "Risks include soreness, bruising, bleeding, infection and a temporary increase in pain.",
           TPI: "Risks include bruising, soreness, bleeding, infection and, rarely, an allergic reaction."}
# What to wear.
T_CLOTHES = {FAQ: FAQ_CLOTHES, GNB: GNB_CLOTHES, SIJ: SIJ_CLOTHES, TPI: TPI_CLOTHES}
# Exercises afterwards.
T_EXERCISE = {ILIO: ILIO_LAST, FAQ: FAQ_RETURN, GNB: GNB_EXERCISE, RFA: RFA_EXERCISE, TPI: TPI_STRETCH}
# How long relief lasts.
T_LASTS = {ILIO: ILIO_LAST, RFA: RFA_REGROW}
# Going home the same day.
T_HOME = {ILIO: ILIO_TIME, **T_ADULT}
# Fever or infection on the day of the procedure.
T_FEVER_BEFORE = {EPI: EPI_FEVER_BEFORE, FAQ: FAQ_FEVER_BEFORE}


def theme(*parts: dict[str, object], first: str | None = None, drop: tuple[str, ...] = ()) -> dict[str, object]:
    """Merge theme dicts (later parts add spans), optionally putting `first` first and dropping pages."""
    out: dict[str, list[object]] = {}
    for part in parts:
        for doc, spans in part.items():
            if doc in drop:
                continue
            items = spans if isinstance(spans, list) else [spans]
            bucket = out.setdefault(doc, [])
            bucket.extend(s for s in items if s not in bucket)
    if first is not None:
        if first not in out:
            raise SystemExit(f"theme(): primary page {first!r} is not among the pages of this theme")
        out = {first: out[first], **{d: v for d, v in out.items() if d != first}}
    return dict(out)


# ------------------------------------------------------------------------------------- questions


@dataclass
class Q:
    question: str
    qtype: str
    gold: dict[str, object] = field(default_factory=dict)  # doc_id -> span text | Section | list of them
    style: str = "patient"  # patient | typo (misspellings / txt-speak)
    near_miss: bool = False


def A(question: str, qtype: str, gold: dict[str, object], style: str = "patient") -> Q:
    return Q(question, qtype, gold, style)


def U(question: str, qtype: str, near_miss: bool = False, style: str = "patient") -> Q:
    return Q(question, qtype, {}, style, near_miss)


ANSWERABLE: list[Q] = [
    # ---------------------------------------------------------------- iliopsoas-injection (clinic's own page)
    A("will my leg feel weak?", "after_care", {ILIO: ILIO_WEAK}),
    A("can my leg feel heavy afterwards?", "after_care", {ILIO: ILIO_WEAK}),
    A("leg heavyness after hip injection how many hours", "after_care", {ILIO: ILIO_WEAK}, style="typo"),
    A("how long does it take", "procedure", {ILIO: ILIO_TIME, ONB: ONB_QUICK}),
    A("how long will i be at the clinic after the injection?", "logistics", {ILIO: ILIO_TIME}),
    A("how long will i be in the recovery room", "logistics", {ILIO: ILIO_TIME}),
    A("can i go home the same day?", "logistics", theme(T_HOME, first=ILIO)),
    A("when does the numbness wear off", "after_care", {ILIO: ILIO_LA}),
    A("how many hours does the local anaesthetic last in the hip injection", "after_care", {ILIO: ILIO_LA}),
    A("will there be some discomfort once the numbing goes", "after_care", {ILIO: ILIO_LA}),
    A("how long will the relief last", "results", theme(T_LASTS, first=ILIO)),
    A("how many months will the effect last", "results", theme(T_LASTS, first=ILIO)),
    A("what is the psoas muscle", "definition",
      {ILIO: "The psoas is a muscle that extends from the ribs in the back of your chest cage alongside your low back "
             "spine and attaches to your hip. It is joined to a muscle called the iliacus, and together these form "
             "the iliopsoas muscle."}),
    A("where is the psoas muscle located?", "definition",
      {ILIO: "The psoas is a muscle that extends from the ribs in the back of your chest cage alongside your low back "
             "spine and attaches to your hip."}),
    A("what is iliacus", "definition",
      {ILIO: "It is joined to a muscle called the iliacus, and together these form the iliopsoas muscle."}),
    A("What is Iliopsoas injection?", "definition", {ILIO: f"{ILIO_WHAT} {ILIO_AIM}"}),
    A("wat is ilopsoas injection", "definition", {ILIO: f"{ILIO_WHAT} {ILIO_AIM}"}, style="typo"),
    A("what medicines are put in the psoas injection", "procedure", {ILIO: ILIO_WHAT}),
    A("why is the iliopsoas injection given, what is the aim", "purpose", {ILIO: ILIO_AIM}),
    A("can the psoas muscle cause pain in the hip and buttock?", "indication",
      {ILIO: "The iliopsoas muscle is frequently responsible for pain, which can radiate from the thoracic spine to "
             "the hip area, occasionally extending to the buttocks."}),
    A("where does iliopsoas pain spread to", "indication",
      {ILIO: "The iliopsoas muscle is frequently responsible for pain, which can radiate from the thoracic spine to "
             "the hip area, occasionally extending to the buttocks."}),
    A("do blood thinners have to be stopped before the iliopsoas injection?", "preparation",
      {ILIO: ILIO_BT, FAQ: FAQ_BT}),
    A("do i need to stop blood thinners before the procedure", "preparation", theme(T_BT, first=ILIO)),
    A("will they use x-ray or ultrasound?", "procedure", theme(T_IMAGING, first=ILIO)),
    A("is it done under scan guidance", "procedure", theme(T_IMAGING, first=ILIO)),
    A("how do you know the needle is in the right place", "procedure",
      theme(T_CHECK, T_IMAGING, {TPI: TPI_FIND}, first=ILIO)),
    A("will i have to lie on my stomach?", "procedure", theme(T_POSITION, first=ILIO)),
    A("how will i be positioned for the iliopsoas injection", "procedure", {ILIO: ILIO_POSITION}),
    A("will you numb the skin first", "procedure", theme(T_NUMB, first=ILIO)),
    A("is it painful", "procedure", theme(T_DURING, first=ILIO)),
    A("is it paining a lot during the injection?", "procedure", theme(T_DURING, first=ILIO)),
    A("will i need botox?", "treatment", {ILIO: ILIO_BOTOX}),
    A("do you use botox for psoas pain", "treatment", {ILIO: ILIO_BOTOX}),
    A("do i need to do exercises after the injection", "after_care", theme(T_EXERCISE, first=ILIO)),
    A("is physiotherapy needed after the injection", "after_care",
      theme(T_EXERCISE, {EPI: EPI_AIM}, first=ILIO)),
    A("do i need to rest after?", "after_care", theme(T_REST, first=ILIO)),
    A("how many days rest is needed after injection", "after_care", theme(T_REST, first=ILIO)),
    A("will there be pain after the injection for few days", "after_care", theme(T_SORE, first=ILIO)),
    A("where can i read the do's and don'ts for the psoas injection", "logistics",
      {ILIO: "Please read our FAQ section to know more about the do's and don'ts prior to and after the procedure."}),
    A("What should I expect if I am undergoing Iliopsoas injection?", "procedure",
      {ILIO: Section("What should I expect if I am undergoing Iliopsoas injection?")}),
    A("what can i expect after the iliopsoas injection", "after_care",
      {ILIO: Section("What can I expect after the procedure?")}),

    # ---------------------------------------------------------------- epidural-steroid-injection
    A("what is an epidural steroid injection", "definition",
      {EPI: "An epidural steroid injection places a steroid medicine and a local anaesthetic into the epidural space, "
            "which surrounds the nerves in your spine."}),
    A("what's the epidural space", "definition",
      {EPI: "An epidural steroid injection places a steroid medicine and a local anaesthetic into the epidural space, "
            "which surrounds the nerves in your spine."}),
    A("what injection is used for pain shooting down the leg", "indication",
      {EPI: "It is most often used for pain that spreads from the back into the buttock or down the leg, or from the "
            "neck into the arm.",
       SCS: "It is used for some types of long-standing nerve pain, for example back and leg pain that continues after "
            "spinal surgery."}),
    A("can a steroid injection in the spine help neck pain going into the arm", "indication",
      {EPI: "It is most often used for pain that spreads from the back into the buttock or down the leg, or from the "
            "neck into the arm."}),
    A("can an injection help a disc bulge", "indication",
      {EPI: "This kind of pain is often caused by an irritated nerve root, for example from a disc bulge or a "
            "narrowing of the spinal canal."}),
    A("how does an epidural injection help", "purpose",
      {EPI: "The aim is to reduce inflammation around the nerve so that you can move more comfortably and take part in "
            "exercise and physiotherapy."}),
    A("why do you need to know if i might be pregnant?", "preparation", {EPI: EPI_PREG}),
    A("what if i have fever on the day of the procedure", "preparation", theme(T_FEVER_BEFORE, first=EPI)),
    A("should i mention my iodine allergy", "preparation", theme(T_ALLERGY, first=EPI)),
    A("will i feel tingling when the medicine goes in", "procedure", {EPI: EPI_FEEL}),
    A("is contrast dye used", "procedure",
      {EPI: EPI_IMAGING, FACET: T_IMAGING[FACET], SIJ: SIJ_IMAGING, ILIO: ILIO_DYE}),
    A("how will i lie for the epidural", "procedure",
      {EPI: "You will usually lie on your tummy, with a pillow under your hips to make you comfortable."}),
    A("how many days till the epidural steroid starts working", "results", {EPI: STEROID_DAYS, FAQ: FAQ_TOO_EARLY}),
    A("can the steroid make my face flushed or disturb my sleep", "side_effects",
      {EPI: "Some people notice flushing of the face or difficulty sleeping for a short time."}),
    A("can the pain increase for a day or two after the injection", "after_care",
      {EPI: EPI_SORE, SIJ: SIJ_SORE, RFA: RFA_RISKS}),
    A("is an epidural injection safe", "risks",
      {EPI: "Epidural injections are generally considered safe, but every procedure has some risks."}),
    A("What are the risks of an epidural steroid injection?", "risks", {EPI: Section("What are the risks?")}),
    A("can i get a headache after the back injection", "risks",
      {EPI: "These include bleeding, infection, an allergic reaction, and a headache if the covering of the spinal "
            "nerves is punctured. A headache that gets worse when you sit or stand and eases when you lie down should "
            "be reported to the clinic."}),
    A("is there a risk of nerve damage", "risks",
      {EPI: "Serious nerve injury is rare, and the doctor will discuss the risks with you before you give consent."}),
    A("does the epidural steroid raise blood sugar", "side_effects", {EPI: DIAB, FAQ: FAQ_SUGAR}),
    A("when should i call the clinic after an epidural", "when_to_call",
      {EPI: Section("When should I call the clinic?")}),

    # ---------------------------------------------------------------- facet-joint-injection-medial-branch-block
    A("what are facet joints", "definition",
      {FACET: "Facet joints are small joints at the back of the spine that link one vertebra to the next. They help "
              "the spine bend and twist, and like other joints they can become worn or inflamed."}),
    A("where is facet joint pain felt", "indication",
      {FACET: "Pain from the facet joints is often felt in the neck or lower back, and it may spread to the shoulders "
              "or buttocks."}),
    A("does facet pain get worse when bending backwards", "indication",
      {FACET: "It often feels worse when you lean backwards or twist."}),
    A("difference between facet joint injection and medial branch block?", "definition",
      {FACET: Section("What is the difference between a facet joint injection and a medial branch block?")}),
    A("what is a medial branch block", "definition",
      {FACET: "A medial branch block places a local anaesthetic next to the medial branch nerves, which are the small "
              "nerves that carry pain signals from the facet joints. A medial branch block is mainly a test."}),
    A("what are the medial branch nerves", "definition",
      {FACET: "A medial branch block places a local anaesthetic next to the medial branch nerves, which are the small "
              "nerves that carry pain signals from the facet joints."}),
    A("does the facet injection contain steroid", "procedure",
      {FACET: "A facet joint injection places a local anaesthetic, sometimes with a steroid, into or next to the joint "
              "itself."}),
    A("why is the medial branch block called a test", "purpose", {FACET: FACET_MBB_TEST}),
    A("what happens if the test block works", "results",
      {FACET: "If it gives good short-term relief, the pain is probably coming from those joints, and radiofrequency "
              "ablation may be considered for longer-lasting relief.",
       RFA: RFA_AFTER_TEST, GNB: GNB_TEST}),
    A("can both sides be done in the same sitting?", "procedure", {FACET: FACET_LEVELS, ONB: ONB_SIDES}),
    A("how many levels can be done in one session", "procedure", {FACET: FACET_LEVELS}),
    A("how will i lie if the injection is for my neck", "procedure",
      {FACET: "You will usually lie on your tummy for the lower back, or on your tummy or side for the neck.",
       SGB: T_POSITION[SGB], ONB: T_POSITION[ONB]}),
    A("why do i have to keep a pain diary", "after_care",
      {FACET: FACET_DIARY_WHY, ONB: ONB_DIARY, TPI: TPI_DIARY}),
    A("what should i do after the medial branch block", "after_care",
      {FACET: f"{FACET_DIARY} {FACET_DIARY_HOW} {FACET_DIARY_WHY}"}),
    A("what do i write in the pain diary", "after_care",
      theme({FAQ: FAQ_DIARY, FACET: FACET_DIARY_HOW, SCS: SCS_DIARY, GNB: GNB_DIARY, SIJ: SIJ_DIARY}, first=FAQ)),
    A("will my back be sore after", "after_care", theme(T_SORE, first=FACET, drop=(GNB,))),
    A("facet injection side effects", "risks", {FACET: T_RISKS[FACET]}),

    # ---------------------------------------------------------------- faq-dos-and-donts
    A("what all should i bring on the day", "preparation",
      theme({FAQ: [FAQ_MEDS_LIST, FAQ_ADULT]}, {GNB: ADULT, RFA: ADULT, SGB: ADULT, SIJ: SIJ_CLOTHES})),
    A("should i tell about my ayurvedic or herbal medicines", "preparation", theme(T_MEDS, first=FAQ)),
    A("can i wear my gold chain for the procedure", "preparation", {FAQ: FAQ_CLOTHES}),
    A("what should i wear", "preparation", theme(T_CLOTHES, first=FAQ)),
    A("can i eat before?", "preparation", theme(T_FAST, first=FAQ)),
    A("shud i come empty stomach", "preparation", theme(T_FAST, first=FAQ), style="typo"),
    A("do i need someone to drive me home", "logistics", theme(T_ADULT, first=FAQ)),
    A("shall i come alone on my two wheeler?", "logistics", theme(T_ADULT, first=FAQ)),
    A("can i drive after the procedure?", "after_care", theme(T_DRIVE, first=FAQ)),
    A("when can i shower", "after_care", theme(T_SHOWER, first=FAQ)),
    A("wen can i remove the plaster", "after_care", {FAQ: FAQ_SHOWER}, style="typo"),
    A("can i go swimming after the injection", "after_care", {FAQ: FAQ_BATH}),
    A("can i soak in a hot tub after", "after_care", {FAQ: FAQ_BATH}),
    A("when can i go back to work?", "recovery_time", {FAQ: f"{FAQ_WORK} {FAQ_WORK_HEAVY}"}),
    A("by when can i join office again", "recovery_time", {FAQ: FAQ_WORK}),
    A("my job involves lifting heavy things, when can i go back", "recovery_time", {FAQ: FAQ_WORK_HEAVY}),
    A("can i go to gym aftr the injection", "after_care", theme({FAQ: FAQ_STRENUOUS}, T_REST), style="typo"),
    A("can i lift heavy things after", "after_care", theme({FAQ: FAQ_STRENUOUS}, T_REST, {SCS: SCS_AVOID})),
    A("when can i get back to my normal routine", "recovery_time", {FAQ: FAQ_RETURN, TPI: TPI_REST}),
    A("when will i know if it has worked", "results", theme(T_DELAY, first=FAQ)),
    A("should i bring my pain diary to the follow up", "after_care", {FAQ: FAQ_DIARY}),
    A("can i stop my usual medicines by myself before the injection", "preparation", theme(T_DONT_STOP, first=FAQ)),
    A("what if i have a fever after", "when_to_call", theme(T_FEVER, first=FAQ)),
    A("when should i contact the clinic after the procedure", "when_to_call",
      theme({FAQ: Section("When should I call the clinic?")}, {d: v for d, v in T_FEVER.items() if d != FAQ})),
    A("what should i tell the team before the procedure", "preparation",
      theme({FAQ: [FAQ_MEDS_LIST, FAQ_BT, FAQ_PREG]}, T_MEDS, T_BT, T_PREG, drop=(ILIO,))),
    A("what are the dos and donts after the procedure", "after_care",
      {FAQ: [Section("What should I do after my procedure?"), Section("What should I avoid after my procedure?")]}),
    A("what shouldn't i do before my procedure", "preparation",
      {FAQ: Section("What should I avoid before my procedure?")}),
    A("what should i do before the procedure", "preparation", {FAQ: Section("What should I do before my procedure?")}),
    A("is fasting needed only if i get sedation", "preparation", {FAQ: FAQ_FAST}),
    A("can i go to work during the stimulator trial", "recovery_time", {FAQ: FAQ_WORK_SCS}),
    A("if i'm diabetic will the steroid affect my sugar", "side_effects", theme(T_DIAB, first=FAQ)),
    A("i have sugar, will injection increase sugar levels", "side_effects", theme(T_DIAB, first=FAQ)),
    A("do i need to tell if i'm pregnant", "preparation", theme(T_PREG, first=FAQ)),
    A("do i need to keep a diary after the injection", "after_care", theme(T_DIARY, first=FAQ)),
    A("what are the side effects", "risks",
      theme(T_RISKS, {SGB: SGB_EFFECTS, ILIO: ILIO_WEAK}, first=EPI)),
    A("can i exercise after the procedure", "after_care",
      theme({FAQ: [FAQ_STRENUOUS, FAQ_RETURN]}, T_REST, T_EXERCISE)),

    # ---------------------------------------------------------------- genicular-nerve-block
    A("what is a genicular nerve block", "definition",
      {GNB: "The genicular nerves are small sensory nerves that carry pain signals from the knee joint. A genicular "
            "nerve block places a local anaesthetic, sometimes with a steroid, next to these nerves."}),
    A("what are genicular nerves", "definition",
      {GNB: "The genicular nerves are small sensory nerves that carry pain signals from the knee joint."}),
    A("is there any injection for knee arthritis pain", "indication", {GNB: GNB_USES, RFA: RFA_USES}),
    A("knee still paining after knee surgery, any injection for that?", "indication", {GNB: GNB_USES}),
    A("is the genicular block a test for rfa", "purpose", {GNB: GNB_TEST}),
    A("wat to wear for knee injection", "preparation", {GNB: GNB_CLOTHES, FAQ: FAQ_CLOTHES}, style="typo"),
    A("should i wear shorts", "preparation", theme(T_CLOTHES, first=GNB)),
    A("how many pricks in the knee", "procedure",
      {GNB: "The doctor guides a thin needle to each nerve using X-ray or ultrasound, usually at several points around "
            "the knee."}),
    A("how will i lie for the knee block", "procedure", {GNB: T_POSITION[GNB]}),
    A("will i feel pressure during the knee injection", "procedure",
      {GNB: "The medicine is injected at each point, and you may feel some pressure."}),
    A("can i climb stairs after the knee injection", "after_care", {GNB: GNB_DIARY}),
    A("will my knee be bruised after", "after_care", {GNB: GNB_SORE}),
    A("should i continue my knee exercises after the block", "after_care", {GNB: GNB_EXERCISE}),
    A("what if the knee becomes hot and red after the injection", "when_to_call", {GNB: T_FEVER[GNB]}),
    A("genicualr nerve block side effects", "risks", {GNB: T_RISKS[GNB]}, style="typo"),
    A("does the knee block steroid work straight away", "results", {GNB: GNB_STEROID}),

    # ---------------------------------------------------------------- occipital-nerve-block
    A("what is an occipital nerve block", "definition",
      {ONB: "An occipital nerve block places a local anaesthetic, often with a steroid, next to these nerves."}),
    A("where are the occipital nerves", "definition",
      {ONB: "The occipital nerves run from the top of the neck over the back of the head."}),
    A("what kind of pain do the occipital nerves cause", "indication",
      {ONB: "When they are irritated, they can cause pain at the back of the head, sometimes spreading over the scalp "
            "towards the eyes."}),
    A("is there an injection for migraines", "indication",
      {ONB: "It is used for occipital neuralgia and for some types of headache and migraine."}),
    A("do i need to keep a headache diary", "preparation", {ONB: ONB_DIARY}),
    A("do i sit up for the head injection", "procedure",
      {ONB: "You will usually sit and lean forward, or lie on your tummy."}),
    A("how do they find the nerve in the back of the head", "procedure", {ONB: T_IMAGING[ONB]}),
    A("how long does the injection for headaches take", "procedure", {ONB: ONB_QUICK}),
    A("will my scalp feel numb", "after_care",
      {ONB: "The back of your head and scalp may feel numb as the local anaesthetic takes effect."}),
    A("will i feel dizzy after the head injection", "after_care",
      {ONB: "Some people feel briefly lightheaded, so the team will ask you to rest before you leave."}),
    A("when can i wash my hair", "after_care", {ONB: ONB_HAIR, FAQ: FAQ_SHOWER}),
    A("can i take head bath next day", "after_care", {ONB: ONB_HAIR, FAQ: FAQ_SHOWER}),
    A("will i lose hair where they inject", "side_effects",
      {ONB: "When a steroid is used, a small patch of thinning skin or hair loss can occur at the injection site."}),
    A("are both sides of the head injected", "procedure", {ONB: ONB_SIDES}),
    A("when should i call after occipital nerve block", "when_to_call", {ONB: T_FEVER[ONB]}),
    A("ocipital nerve block risks", "risks", {ONB: T_RISKS[ONB]}, style="typo"),

    # ---------------------------------------------------------------- radiofrequency-ablation
    A("how does RFA work", "definition",
      {RFA: "Radiofrequency ablation, also called radiofrequency denervation, uses heat from a radio wave current to "
            "interrupt small nerves that carry pain signals."}),
    A("what is radiofrequency denervation", "definition",
      {RFA: "Radiofrequency ablation, also called radiofrequency denervation, uses heat from a radio wave current to "
            "interrupt small nerves that carry pain signals."}),
    A("which areas can radiofrequency ablation treat", "indication", {RFA: RFA_USES}),
    A("can rfa be done for the knee", "indication", {RFA: RFA_USES, GNB: GNB_TEST}),
    A("why do i need test blocks before rfa", "indication",
      {RFA: RFA_AFTER_TEST, FACET: FACET_MBB_TEST, GNB: GNB_TEST}),
    A("what is the goal of the burning procedure", "purpose",
      {RFA: "The aim is longer-lasting pain relief, so that you can be more active and take part in exercise."}),
    A("do they test the needle before the heat", "procedure", {RFA: RFA_TEST_NEEDLE}),
    A("will i feel a twitch when they test the needle", "procedure", {RFA: RFA_TWITCH}),
    A("does the heat part hurt", "procedure", {RFA: RFA_NUMBED}),
    A("hw long is the soreness after rfa", "after_care", {RFA: RFA_SORE}, style="typo"),
    A("can the skin feel like sunburn afterwards", "after_care", {RFA: RFA_SORE}),
    A("when will rfa start working", "results", {RFA: RFA_WEEKS}),
    A("will the pain come back after rfa", "results", {RFA: RFA_REGROW}),
    A("can the nerve burning be repeated", "results", {RFA: RFA_REGROW}),
    A("rfa risks", "risks",
      {RFA: f"{RFA_RISKS} Some people have a patch of numb or unusually sensitive skin over the treated area for a "
            "while."}),
    A("can the skin go numb after the nerve burning", "side_effects",
      {RFA: "Some people have a patch of numb or unusually sensitive skin over the treated area for a while."}),
    A("do i need to fast before rfa", "preparation", {RFA: FAST, FAQ: FAQ_FAST}),
    A("what happens during radiofrequency ablation?", "procedure",
      {RFA: Section("What happens during the procedure?")}),

    # ---------------------------------------------------------------- sacroiliac-joint-injection
    A("what is the sacroiliac joint", "definition",
      {SIJ: "The sacroiliac joints connect the base of your spine, called the sacrum, to your pelvis on each side."}),
    A("what is the sacrum", "definition",
      {SIJ: "The sacroiliac joints connect the base of your spine, called the sacrum, to your pelvis on each side."}),
    A("where do you feel si joint pain", "indication",
      {SIJ: "When these joints are inflamed or irritated, they can cause pain in the lower back and buttock, and "
            "sometimes in the groin or thigh."}),
    A("can the si joint cause groin pain", "indication",
      {SIJ: "When these joints are inflamed or irritated, they can cause pain in the lower back and buttock, and "
            "sometimes in the groin or thigh."}),
    A("what is injected into the SI joint", "procedure",
      {SIJ: "A sacroiliac joint injection places a local anaesthetic, usually with a steroid, into the joint."}),
    A("can the sacroiliac injection tell if the joint is the cause of my pain", "purpose",
      {SIJ: "It can reduce pain and inflammation, and it can also help the doctor confirm whether the joint is the "
            "source of your pain."}),
    A("what happens during an SI joint injection?", "procedure", {SIJ: Section("What happens during the procedure?")}),
    A("will i feel pressure in my buttock", "procedure", {SIJ: SIJ_PRESSURE}),
    A("is ultrasound used", "procedure", theme(T_IMAGING, first=ILIO, drop=(EPI, FACET, RFA, SCS))),
    A("what should i note down after the si injection", "after_care", {SIJ: SIJ_DIARY}),
    A("can the pain get worse for a day or two after the sacroiliac joint injection", "after_care", {SIJ: SIJ_SORE}),
    A("do i need to tell about pregnancy before sacroiliac injection", "preparation", {SIJ: SIJ_PREG, FAQ: FAQ_PREG}),
    A("what to wear for si joint injection", "preparation", {SIJ: SIJ_CLOTHES, FAQ: FAQ_CLOTHES}),
    A("when should i call the clinic after a sacroiliac joint injection", "when_to_call",
      {SIJ: Section("When should I call the clinic?")}),
    A("which allergies should i tell about before the si joint injection", "preparation",
      {SIJ: MEDS_DYE, FAQ: FAQ_PREG}),

    # ---------------------------------------------------------------- spinal-cord-stimulator-trial
    A("what is a spinal cord stimulator", "definition",
      {SCS: "A spinal cord stimulator sends mild electrical signals to the spinal cord to change the way pain signals "
            "reach the brain."}),
    A("how does the stimulator work", "definition",
      {SCS: "A spinal cord stimulator sends mild electrical signals to the spinal cord to change the way pain signals "
            "reach the brain."}),
    A("is the stimulator used for pain after back surgery", "indication",
      {SCS: "It is used for some types of long-standing nerve pain, for example back and leg pain that continues after "
            "spinal surgery."}),
    A("why do a trial first", "purpose",
      {SCS: "A trial lets you test the stimulator for a short period before any decision is made about a permanent "
            "device."}),
    A("is the trial device inside my body or outside", "definition",
      {SCS: "Temporary leads are placed near the spinal cord and connected to a small stimulator that you wear outside "
            "the body."}),
    A("why do i need to see a psychologist before the trial", "preparation",
      {SCS: "Before a trial, you will usually meet members of the team to talk about your goals, and this may include "
            "a psychological assessment."}),
    A("how are the leads put in", "procedure",
      {SCS: "The doctor guides a needle into the epidural space using X-ray, and passes a thin lead through it."}),
    A("will the doctor ask me questions while placing the leads", "procedure",
      {SCS: "The doctor may ask you to describe what you feel while the stimulator is tested, so that the settings "
            "cover your area of pain."}),
    A("how are the wires held in place after", "procedure",
      {SCS: "The leads are then taped to your skin and covered with a dressing."}),
    A("how long is the scs trial", "duration",
      {SCS: "The trial usually lasts several days, and the clinic team will tell you how long yours will be."}),
    A("can i bathe with the trial leads in", "after_care", {SCS: SCS_SHOWER, FAQ: FAQ_SCS}),
    A("can i drive while the leads are in", "after_care", {SCS: SCS_DRIVE, FAQ: FAQ_SCS}),
    A("what movements should i avoid during the trial", "after_care", {SCS: SCS_AVOID}),
    A("can i reach for things on a high shelf with the leads in", "after_care", {SCS: SCS_AVOID}),
    A("what should i track in the diary during the trial", "after_care", {SCS: SCS_DIARY}),
    A("what happens at the end of the trial", "results",
      {SCS: "At the end of the trial the leads are removed at the clinic, and you and the team decide together whether "
            "a permanent stimulator is right for you."}),
    A("what if the stimulator stops working", "when_to_call",
      {SCS: "Also contact the clinic if the stimulation stops working or suddenly changes."}),
    A("what can I expect during the spinal cord stimulator trial?", "after_care",
      {SCS: Section("What can I expect during the trial?")}),

    # ---------------------------------------------------------------- stellate-ganglion-block
    A("what is the stellate ganglion", "definition",
      {SGB: "The stellate ganglion is a group of nerves at the front of the neck that forms part of the sympathetic "
            "nervous system."}),
    A("what is a stellate ganglion block", "definition",
      {SGB: "The stellate ganglion is a group of nerves at the front of the neck that forms part of the sympathetic "
            "nervous system. A stellate ganglion block is an injection of local anaesthetic next to these nerves."}),
    A("stelate block is used for wat", "indication",
      {SGB: "It is used for some types of pain in the arm, hand, face or upper chest, such as complex regional pain "
            "syndrome."}),
    A("is there any injection for crps", "indication",
      {SGB: "It is used for some types of pain in the arm, hand, face or upper chest, such as complex regional pain "
            "syndrome."}),
    A("can the neck block improve blood flow to the arm", "purpose",
      {SGB: "It can reduce pain and may improve blood flow to the arm."}),
    A("how will i lie for the stellate block", "procedure", {SGB: T_POSITION[SGB]}),
    A("do you monitor bp during the neck injection", "procedure",
      {SGB: "The team will watch your breathing, heart rate and blood pressure throughout."}),
    A("can the neck injection make my voice hoarse", "side_effects",
      {SGB: "It is common to notice a droopy eyelid, a red eye, a blocked nose or a hoarse voice on the side of the "
            "injection."}),
    A("will my hand feel warm after the neck injection", "after_care",
      {SGB: "Your arm or hand on that side may feel warm."}),
    A("how long will the droopy eyelid last", "after_care",
      {SGB: "These effects are expected and wear off as the local anaesthetic wears off."}),
    A("can i eat after the injection", "after_care", {SGB: Section("Can I eat and drink after the procedure?")}),
    A("why can't i eat straight after the neck injection", "after_care",
      {SGB: "The injection can affect the muscles you use to swallow for a short time."}),
    A("what should i have first after the block, water or food", "after_care",
      {SGB: "Then start with small sips of water before you try food."}),
    A("when to call the clinic after stellate ganglion block", "when_to_call", {SGB: T_FEVER[SGB]}),
    A("do i need to fast for the stellate ganglion block", "preparation", {SGB: FAST, FAQ: FAQ_FAST}),

    # ---------------------------------------------------------------- trigger-point-injection
    A("what is a trigger point", "definition",
      {TPI: "A trigger point is a tight, tender knot in a muscle that can cause pain in the area and sometimes in "
            "other parts of the body."}),
    A("where do trigger points usually occur", "definition",
      {TPI: "Trigger points are common in the neck, shoulders and upper and lower back."}),
    A("what is injected into the muscle knot", "procedure",
      {TPI: "A trigger point injection places a small amount of local anaesthetic, sometimes with a steroid, into the "
            "knot."}),
    A("how does trigger point injection help", "purpose",
      {TPI: "The aim is to relax the muscle and ease the pain, so that stretching and exercise become easier."}),
    A("how do you find the trigger points", "procedure",
      {TPI: "The doctor finds the trigger points by pressing on the muscle, and cleans the skin over each one."}),
    A("will my muscle twitch", "procedure", {TPI: TPI_TWITCH, RFA: RFA_TWITCH}),
    A("how many trigger points can be done in one visit", "procedure",
      {TPI: "Several trigger points can be treated in one visit."}),
    A("will my muscles be sore after the knot injections", "after_care", {TPI: TPI_SORE}),
    A("should i stretch after", "after_care", {TPI: TPI_STRETCH}),
    A("can the needle hit the lung", "risks",
      {TPI: "When trigger points near the chest wall are treated, there is a rare risk that the needle may affect the "
            "lung."}),
    A("what to wear for trigger point injection", "preparation", {TPI: TPI_CLOTHES, FAQ: FAQ_CLOTHES}),
    A("trigger point injection risks", "risks", {TPI: T_RISKS[TPI]}),
    A("do i sit or lie down for trigger point injection", "procedure", {TPI: T_POSITION[TPI]}),
    A("trigger pt inj wat happens", "procedure", {TPI: Section("What happens during the procedure?")}, style="typo"),
    A("is a diary useful after trigger point injections", "after_care", {TPI: TPI_DIARY}),
]

UNANSWERABLE: list[Q] = [
    # cost, insurance, logistics
    U("how much does it cost?", "cost"),
    U("what is the price of rfa", "cost"),
    U("is the iliopsoas injection covered by insurance", "cost"),
    U("do you accept star health cashless", "cost"),
    U("can i pay by upi or card", "cost"),
    U("where can i park", "logistics"),
    U("what are your opening hours", "logistics"),
    U("is the clinic open on sunday", "logistics"),
    U("who is the doctor at atlas pain care", "logistics"),
    U("how do i book an appointment", "logistics"),
    U("what is the clinic address in coimbatore", "logistics"),
    U("is there a lady doctor available", "logistics"),
    U("do you do online video consultation", "logistics"),
    U("do i need a referral letter from my family doctor", "logistics"),
    U("how long is the waiting time to get a procedure date", "logistics"),
    U("is there a pharmacy inside the clinic", "logistics"),
    U("can i bring my child along to the appointment", "logistics"),
    # procedures not in the corpus
    U("do you do knee replacement surgery", "other_procedure"),
    U("what is PRP injection", "other_procedure"),
    U("is ozone therapy good for disc bulge", "other_procedure"),
    U("do you offer chiropractic adjustment", "other_procedure"),
    U("what is vertebroplasty", "other_procedure"),
    U("do you do acupuncture", "other_procedure"),
    U("what is a hyaluronic acid gel injection for the knee", "other_procedure"),
    U("what is a lumbar sympathetic block", "other_procedure"),
    U("what is a caudal epidural", "other_procedure", near_miss=True),
    U("what is pulsed radiofrequency", "other_procedure", near_miss=True),
    U("how is the permanent spinal cord stimulator implanted", "detail_not_given", near_miss=True),
    # conditions / diseases
    U("is my back pain cancer", "condition"),
    U("what causes fibromyalgia", "condition"),
    U("how do i know if i have arthritis in my knee", "condition"),
    U("what is ankylosing spondylitis", "condition"),
    U("can a slipped disc heal on its own", "condition"),
    U("is migraine hereditary", "condition"),
    U("is psoas pain a sign of kidney problems", "condition", near_miss=True),
    # medicines and doses the pages do not give
    U("which steroid do you use in the epidural", "medication", near_miss=True),
    U("how much steroid is in the injection", "medication", near_miss=True),
    U("what is the dose of local anaesthetic used", "medication", near_miss=True),
    U("what are the side effects of pregabalin", "medication"),
    U("which painkiller will you give after the procedure", "medication", near_miss=True),
    # details a page does not give (near misses)
    U("how many days before the procedure are blood thinners usually stopped?", "detail_not_given", near_miss=True),
    U("what percentage of patients get relief from RFA?", "detail_not_given", near_miss=True),
    U("how long does the rfa procedure take", "detail_not_given", near_miss=True),
    U("how long does an epidural steroid injection take?", "detail_not_given", near_miss=True),
    U("is there a limit on epidural injections per year", "detail_not_given", near_miss=True),
    U("how long does the relief from a genicular nerve block last", "detail_not_given", near_miss=True),
    U("how long will the numbness from the occipital block last", "detail_not_given", near_miss=True),
    U("what temperature is used in radiofrequency ablation", "detail_not_given", near_miss=True),
    U("how many hours should i fast before the procedure", "detail_not_given", near_miss=True),
    U("how long does the battery of a permanent stimulator last", "detail_not_given", near_miss=True),
    U("how soon after the trial is the permanent stimulator put in", "detail_not_given", near_miss=True),
    U("can i travel by flight after the injection", "detail_not_given", near_miss=True),
    U("can i drink alcohol after the injection", "detail_not_given", near_miss=True),
    U("how many times can the iliopsoas injection be repeated", "detail_not_given", near_miss=True),
    U("what is the success rate of trigger point injections", "detail_not_given", near_miss=True),
    U("how long does the relief from a sacroiliac joint injection last", "detail_not_given", near_miss=True),
    U("is the botox injection for psoas painful", "detail_not_given", near_miss=True),
    U("how long after the medial branch block can rfa be done", "detail_not_given", near_miss=True),
    U("is there an age limit for radiofrequency ablation", "detail_not_given", near_miss=True),
    U("can children have these injections", "detail_not_given", near_miss=True),
    U("do you use botox for migraine", "detail_not_given", near_miss=True),
    U("how many sessions of trigger point injections will i need", "detail_not_given", near_miss=True),
    U("how long does pain relief from a stellate ganglion block last", "detail_not_given", near_miss=True),
    U("do i need an mri before the epidural", "detail_not_given", near_miss=True),
    U("will i need a blood test before the procedure", "detail_not_given", near_miss=True),
    U("can i sleep on my back after rfa", "detail_not_given", near_miss=True),
    # off-topic
    U("what's the weather in coimbatore today", "off_topic"),
    U("who won the cricket match yesterday", "off_topic"),
    U("best biryani near gandhipuram?", "off_topic"),
    U("tell me a joke", "off_topic"),
    U("what is the capital of australia", "off_topic"),
    U("is there wifi in the waiting room", "logistics"),
    U("wat r ur timings on saturday", "logistics", style="typo"),
    U("hw much 4 genicular block", "cost", style="typo"),
]


# ------------------------------------------------------------------------------------ building


class Problems(Exception):
    pass


def _section_bounds(page) -> list[tuple[int, int, str]]:
    """(body start, body end, heading text) of every section; body excludes the heading line."""
    heads = sorted(page.headings, key=lambda h: h.start)
    out = []
    for i, h in enumerate(heads):
        end = heads[i + 1].start if i + 1 < len(heads) else len(page.text)
        out.append((h.end, end, page.text[h.start:h.end]))
    return out


def _strip(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def resolve(page, item, where: str, problems: list[str], sent_cache: dict) -> tuple[int, int] | None:
    text = page.text
    if isinstance(item, Section):
        matches = [b for b in _section_bounds(page) if b[2] == item.heading]
        if len(matches) != 1:
            problems.append(f"{where}: heading {item.heading!r} found {len(matches)} times in {page.doc_id}")
            return None
        s, e = _strip(text, matches[0][0], matches[0][1])
        if e <= s:
            problems.append(f"{where}: section {item.heading!r} of {page.doc_id} is empty")
            return None
        return s, e
    if not isinstance(item, str) or not item:
        problems.append(f"{where}: span must be a non-empty string or Section, got {item!r}")
        return None
    if item != item.strip():
        problems.append(f"{where}: span has leading/trailing whitespace: {item!r}")
        return None
    n = text.count(item)
    if n != 1:
        problems.append(f"{where}: span found {n} times in {page.doc_id} (must be exactly once): {item[:90]!r}")
        return None
    s = text.find(item)
    e = s + len(item)
    if text[s:e] != item:  # cannot happen; belt and braces
        problems.append(f"{where}: offsets do not reproduce the text")
        return None
    if page.doc_id not in sent_cache:
        spans = sentence_spans(text)
        sent_cache[page.doc_id] = ({sp.start for sp in spans}, {sp.end for sp in spans})
    starts, ends = sent_cache[page.doc_id]
    if s not in starts:
        problems.append(f"{where}: span does not start at a sentence start in {page.doc_id}: {item[:90]!r}")
    if e not in ends:
        problems.append(f"{where}: span does not end at a sentence end in {page.doc_id}: {item[-90:]!r}")
    return s, e


def check_span(page, s: int, e: int, where: str, problems: list[str]) -> None:
    for h in page.headings:
        if s < h.end and h.start < e:
            problems.append(f"{where}: span [{s}, {e}] overlaps the heading {page.text[h.start:h.end]!r}")
    inside = [b for b in _section_bounds(page) if b[0] <= s and e <= b[1]]
    if not inside:
        problems.append(f"{where}: span [{s}, {e}] of {page.doc_id} is not inside one section body")


def build(pages: dict, safety=None) -> list[dict]:
    problems: list[str] = []
    sent_cache: dict = {}
    records: list[dict] = []
    seen_q: dict[str, int] = {}
    # Answerable questions are clinic-0001..., unanswerable ones clinic-1001...: appending a question
    # to the end of its list leaves every other id (and so the tune/report hash split) unchanged.
    if len(ANSWERABLE) >= 1000:
        problems.append("more than 999 answerable questions: the id ranges would collide")
    items = [(i, q, True) for i, q in enumerate(ANSWERABLE, 1)] + \
            [(1000 + i, q, False) for i, q in enumerate(UNANSWERABLE, 1)]
    for n, q, answerable in items:
        qid = f"clinic-{n:04d}"
        where = f"{qid} {q.question!r}"
        key = re.sub(r"[^a-z0-9]+", " ", q.question.lower()).strip()
        if key in seen_q:
            problems.append(f"{where}: duplicate of clinic-{seen_q[key]:04d}")
        seen_q[key] = n
        if q.question != q.question.strip() or not q.question:
            problems.append(f"{where}: question is empty or has surrounding whitespace")
        if q.style not in {"patient", "typo"}:
            problems.append(f"{where}: unknown style {q.style!r}")
        if safety is not None:
            verdict = safety.check(q.question)
            if verdict.action != "answer":
                problems.append(f"{where}: the safety rules {verdict.action} it ({verdict.rule}: "
                                f"{verdict.matched!r}); rephrase it or leave it out")
        rec: dict = {"id": qid, "question": q.question, "answerable": answerable}
        if not answerable:
            if q.gold:
                problems.append(f"{where}: an unanswerable question has gold spans")
            rec.update({"doc_id": None, "gold_doc_ids": [], "answer_spans": [], "gold_spans_by_doc": {},
                        "answer_text": ""})
        else:
            if not q.gold:
                problems.append(f"{where}: an answerable question has no gold spans")
                continue
            if q.near_miss:
                problems.append(f"{where}: near_miss is only for unanswerable questions")
            by_doc: dict[str, list[list[int]]] = {}
            for doc, spans in q.gold.items():
                if doc not in pages:
                    problems.append(f"{where}: unknown doc_id {doc!r}")
                    continue
                page = pages[doc]
                resolved = []
                for item in (spans if isinstance(spans, list) else [spans]):
                    r = resolve(page, item, where, problems, sent_cache)
                    if r is not None:
                        check_span(page, r[0], r[1], where, problems)
                        resolved.append(list(r))
                if not resolved:
                    continue
                ordered = sorted(resolved)
                for (a0, a1), (b0, b1) in itertools.pairwise(ordered):
                    if b0 < a1:
                        problems.append(f"{where}: overlapping spans in {doc}: [{a0}, {a1}] and [{b0}, {b1}]")
                by_doc[doc] = resolved  # in the order written (the first is the main answer)
            if not by_doc:
                continue
            primary = next(iter(q.gold))
            spans0 = by_doc.get(primary, [])
            if not spans0:
                continue
            s0, e0 = spans0[0]
            rec.update({
                "doc_id": primary,
                "gold_doc_ids": list(by_doc),
                "answer_spans": spans0,
                "gold_spans_by_doc": by_doc,
                "answer_text": pages[primary].text[s0:e0],
            })
        rec.update({
            "qtype": q.qtype,
            "style": q.style,
            "mentions_procedure": bool(PROCEDURE_WORDS.search(q.question)),
            "near_miss": q.near_miss,
        })
        records.append(rec)

    # whole-set checks
    n_ans = sum(r["answerable"] for r in records)
    n_un = len(records) - n_ans
    n_near = sum(r["near_miss"] for r in records)
    if n_ans < MIN_ANSWERABLE:
        problems.append(f"only {n_ans} answerable questions (need >= {MIN_ANSWERABLE})")
    if n_un < MIN_UNANSWERABLE:
        problems.append(f"only {n_un} unanswerable questions (need >= {MIN_UNANSWERABLE})")
    if n_near < MIN_NEAR_MISS:
        problems.append(f"only {n_near} near-miss unanswerable questions (need >= {MIN_NEAR_MISS})")
    covered = {d for r in records for d in r["gold_doc_ids"]}
    primary_docs = {r["doc_id"] for r in records if r["answerable"]}
    for doc in pages:
        if doc not in covered or doc not in primary_docs:
            problems.append(f"page {doc} is not the primary gold page of any question")
    unknown = set(pages) - set(ALL_DOCS)
    if unknown:
        problems.append(f"corpus pages this file does not know about: {sorted(unknown)}")
    if problems:
        raise Problems("\n".join(problems))
    return records


def summary(records: list[dict], pages: dict) -> str:
    ans = [r for r in records if r["answerable"]]
    un = [r for r in records if not r["answerable"]]
    lines = [f"{len(records)} questions: {len(ans)} answerable, {len(un)} unanswerable "
             f"({sum(r['near_miss'] for r in un)} near misses)",
             f"answerable naming a procedure: {sum(r['mentions_procedure'] for r in ans)}/{len(ans)}; "
             f"with several gold pages: {sum(len(r['gold_doc_ids']) > 1 for r in ans)}; "
             f"typo style: {sum(r['style'] == 'typo' for r in records)}",
             f"{'page':45s} {'primary':>7s} {'gold':>5s} {'sections hit':>12s}"]
    for doc in sorted(pages):
        page = pages[doc]
        bounds = _section_bounds(page)
        hit = set()
        for r in ans:
            for s, e in r["gold_spans_by_doc"].get(doc, []):
                hit.update(i for i, b in enumerate(bounds) if b[0] <= s and e <= b[1])
        lines.append(f"{doc:45s} {sum(r['doc_id'] == doc for r in ans):7d} "
                     f"{sum(doc in r['gold_doc_ids'] for r in ans):5d} {len(hit):>7d}/{len(bounds)}")
    qt = Counter(r["qtype"] for r in un)
    lines.append("unanswerable by qtype: " + ", ".join(f"{k} {v}" for k, v in sorted(qt.items())))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=REPO / "corpus")
    ap.add_argument("--out", type=Path, default=here / "questions.jsonl")
    ap.add_argument("--no-safety-check", action="store_true",
                    help="skip the check that no question is caught by qa/data/safety_rules.yaml")
    a = ap.parse_args(argv)

    result = load_corpus(a.corpus, strict=True)
    pages = {p.doc_id: p for p in result.pages}
    safety = None
    if not a.no_safety_check:
        from qa.safety import load_checker
        safety = load_checker()
    try:
        records = build(pages, safety)
    except Problems as err:
        print(f"make_questions: FAILED, nothing written:\n{err}", file=sys.stderr)  # noqa: T201
        return 1
    payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_suffix(".jsonl.tmp")
    tmp.write_text(payload, encoding="utf-8")
    tmp.replace(a.out)
    print(f"wrote {a.out}")  # noqa: T201
    print(summary(records, pages))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
