"""Remove personal data from patient messages before they are stored, logged or shown to staff.

:func:`redact` replaces each piece of personal data with a placeholder naming its kind::

    >>> redact("my name is Ramesh Kumar, my number is 98450 12345").text
    'my name is [NAME], my number is [PHONE]'

Kinds: ``NAME`` (only names introduced as such: "my name is ...", "I am Priya", "i'm priya", "this is
priya raman", "myself Priya", "Priya Raman here", "Ravi speaking", "Lakshmi this side", a signature at the
end "- Priya (ph [PHONE])", "mera naam ... hai", "Mr./Mrs./Dr./Shri/Smt. ...", "for my mother kamala",
"Regards, ..."), ``PHONE``
(Indian mobiles and landlines, +91/0091/0 prefixes, international numbers), ``EMAIL``, ``AADHAAR``
(12 digits, not starting with 0 or 1), ``PAN``, ``DOB`` (dates of birth and dates in general),
``ADDRESS`` (door/flat numbers with a street, road, nagar, colony, layout...; PIN codes; "I live
at ..."), ``ID`` (UHID / MRN / patient, IP, OP, registration, policy, ABHA numbers).

It is deliberately conservative about medical text: "L4-L5", "12 – 18 hours", "after 24 hours",
"2 tablets", "5 mg", "BP 140/90", "1-0-1" and the like are left alone. Pure Python, no model.

How a name is told from "I am diabetic" (patients write names in lower case, so capitals prove little):
after a cue ("I am", "this is", "my mother", "- " at the end, "... here"), one to three words are taken
as a name when each could be one: not in a stop-list of words that follow the cues (``_NOT_NAMES``), and
either in ``qa/data/indian_names.txt`` (about 880 common Indian given and family names: Tamil, Telugu,
Kannada, Malayalam, Hindi, Bengali, Punjabi, Gujarati, Marathi, Muslim, Christian) or *not* an English
word (pyspellchecker's English list, so "scared", "pregnant", "constipated" are not names), with a vowel
("tkr" is not) and without an adjective or diagnosis ending ("-ed", "-ic", "-osis", "-algia"...). The
list is the second signal: a word it does not know is a name after "I am" / "this is" only when the
phrase ends there (punctuation, "here", "from", "and can I ..."), so "i am fibromyalgia patient" stays.
Names that are also common English words ("Rose", "Joy", "Harsh") are missed by design: catching them
would redact "I am harsh" or "this is joy". Recall and false positives on a labelled table are in
BENCHMARKS.md ("Redaction of names").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from spellchecker import SpellChecker

__all__ = ["KINDS", "Redaction", "redact"]

KINDS = ("NAME", "PHONE", "EMAIL", "AADHAAR", "PAN", "DOB", "ADDRESS", "ID")


@dataclass(frozen=True)
class Redaction:
    text: str  # redacted text, e.g. "my number is [PHONE]"
    found: tuple[tuple[str, int, int], ...]  # (kind, start, end) in the ORIGINAL text, in order

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(k for k, _, _ in self.found)

    @property
    def changed(self) -> bool:
        return bool(self.found)


@dataclass(frozen=True)
class _Span:
    kind: str
    start: int
    end: int
    priority: int  # lower wins where spans overlap


# --------------------------------------------------------------------------------- vocabulary

_MONTHS = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)

def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that follow "I am", "this is", "my wife" ... but are not names.
_NOT_NAMES = _words(
    """
    a an the and or but not no yes from here there in on at with to for of by as so too very also still
    just only now today tomorrow yesterday tonight again back new old this that it its his her their my
    your our me him them we you they i he she is am are was were be been has have had do does did will
    would can could should shall may might must ok okay fine good better well great sure sorry happy
    glad grateful thankful worried scared afraid anxious nervous confused tired weak dizzy numb sick ill
    unwell bedridden diabetic prediabetic pregnant hypertensive asthmatic epileptic allergic obese
    overweight positive negative type post pre on off retired working married single alone widow
    widower unemployed employed free busy available unable able interested planning scheduled booked
    due ready done finished calling writing asking messaging texting following waiting coming going
    having feeling taking suffering staying living getting trying hoping looking thinking wondering
    bit little lot much many more less fully totally completely really quite almost about around
    patient patients doctor doctors sir madam mam maam nurse staff team clinic hospital
    mr mrs ms miss dr shri sri smt kumari selvi thiru tmt prof
    tamil hindi english telugu malayalam kannada marathi bengali gujarati urdu punjabi indian nri
    keralite malayali malayalee tamilian kannadiga bihari odia oriya assamese sindhi rajasthani kashmiri goan
    hindu muslim christian jain sikh vegetarian veg nonveg male female man woman boy girl lady gentleman
    son daughter wife husband mother father brother sister friend relative neighbour neighbor
    monday tuesday wednesday thursday friday saturday sunday
    january february march april june july august september october november december
    said told asked says advised suggested gave wants wanted prescribed recommended referred
    above below age aged years year yrs months weeks days old
    mri ct xray rfa pan uhid mrn op ip id abha aadhaar aadhar otp sms
    pain back neck knee leg hip shoulder sciatica injection block epidural procedure surgery operation
    hi hello dear thanks thank regards please pls kindly urgent
    both all each every some any none who what which when where why how need needs come go
    painful severe serious bad worse worst normal abnormal common important emergency unbearable
    terrible okay elderly lonely friendly healthy senior citizen covid sugar bp kidney heart cancer
    depressed frustrated comfortable fit thin poor desperate stuck immobile relieved hopeful confident
    hypothyroid thyroid arthritic paralysed disabled handicapped
    """
)

_TITLES_ANY_CASE = r"mr|mrs|dr|shri|smt|thiru|tmt|prof"
_TITLES_CAPITALISED = r"Ms|Miss|Sri|Kumari|Selvi|Thirumathi|Selvan"

_RELATIONS = (
    r"son|daughter|wife|husband|mother|father|mom|mum|dad|brother|sister|friend|amma|appa|uncle|aunt|aunty"
    r"|grandmother|grandfather|grandma|grandpa|patti|thatha|niece|nephew|cousin|relative|neighbour|patient"
)

_NAME_WORD = re.compile(r"[A-Za-z][A-Za-z]*(?:-[A-Za-z]+)?")
_INITIAL = re.compile(r"[A-Z](?:\.\s*|\s+(?=[A-Z]))")


def _take_name(text: str, pos: int, *, allow_lower: bool, max_words: int = 3) -> tuple[int, int] | None:
    """Span of a name starting at ``pos`` (after spaces): initials and up to ``max_words`` words."""
    i = pos
    n = len(text)
    while i < n and text[i] in " \t":
        i += 1
    start = i
    end = None
    words = 0
    capitalised = False  # "Mrs. Lakshmi called": after a capitalised word, stop at lower case
    while i < n and words < max_words:
        ini = _INITIAL.match(text, i)
        if ini and not (text[i] == "I" and not ini.group().startswith("I.")):
            i = ini.end()
            end = i if text[i - 1] == "." else end
            continue
        m = _NAME_WORD.match(text, i)
        if not m:
            break
        word = m.group()
        if word.lower() in _NOT_NAMES or (word.lower().endswith("ing") and len(word) > 5):
            break
        if not (word[0].isupper() or (allow_lower and not capitalised)):
            break
        capitalised = capitalised or word[0].isupper()
        if word.isupper() and len(word) < 4 and not allow_lower:
            break
        words += 1
        end = m.end()
        i = m.end()
        j = i
        while j < n and text[j] in " \t":
            j += 1
        if j >= n or not (text[j].isalpha()):
            break
        i = j
    if end is None or words == 0:
        return None
    return start, end


_NAMES_FILE = Path(__file__).parent / "data" / "indian_names.txt"
# Endings of English adjectives, participles and diagnoses: "I am constipated", "this is spondylosis?".
# Names with such an ending (Ahmed, Manish) are in the list of names, which is looked at first.
_NOT_NAME_ENDINGS = (
    "ed", "ing", "ful", "ous", "ive", "able", "ible", "oid", "less", "ness", "ish", "ic", "ical", "ism", "itis",
    "osis", "algia", "pathy", "plasty", "ectomy", "otomy", "scopy", "graphy", "emia", "aemia", "plegia",
)
_NAME_TOKEN = re.compile(r"[A-Za-z](?:'[A-Za-z]+|[A-Za-z]*(?:-[A-Za-z]+)?)(?![\w])")


@cache
def _indian_names() -> frozenset[str]:
    """``qa/data/indian_names.txt``: common Indian given and family names, lower case."""
    text = _NAMES_FILE.read_text(encoding="utf-8")
    return frozenset(w for line in text.splitlines() for w in line.split("#", 1)[0].lower().split())


@cache
def english_words() -> SpellChecker:
    """pyspellchecker's English word list (about 160,000 words from subtitles), loaded once (~0.3 s) for the
    whole process: ``word in english_words()`` (lower-cased by it). Also used by qa/glossary.py."""
    return SpellChecker(language="en", distance=1)


def _name_word(word: str) -> bool:
    """Could ``word`` be part of a personal name? Known Indian names: yes; the stop-list, words without a
    vowel (abbreviations: "tkr", "ncv"), adjective or diagnosis endings and English words: no."""
    w = word.lower()
    if "-" in w:  # "post-op", "follow-up": every part must pass
        return all(_name_word(part) for part in w.split("-"))
    if len(w) < 2 or w in _NOT_NAMES:
        return False
    if w in _indian_names():
        return True
    return any(c in "aeiouy" for c in w) and not w.endswith(_NOT_NAME_ENDINGS) and w not in english_words()


@dataclass(frozen=True)
class _Found:
    start: int
    end: int
    known: bool  # a word is in the list of Indian names
    capitalised: bool  # every word starts with a capital


def _scan_name(text: str, pos: int, max_words: int = 3) -> _Found | None:
    """Initials and up to ``max_words`` words that pass :func:`_name_word`, from ``pos`` (after spaces)."""
    n = len(text)
    i = pos
    while i < n and text[i] in " \t":
        i += 1
    start, end, words, known, capitalised = i, -1, 0, False, True
    while i < n and words < max_words:
        ini = _INITIAL.match(text, i)
        if ini and not (text[i] == "I" and not ini.group().startswith("I.")):
            if words and ini.group()[1] == ".":
                end = ini.start() + 2  # "Ramesh K."
            i = ini.end()
            continue
        m = _NAME_TOKEN.match(text, i)
        if not m or not _name_word(m.group()):
            break
        is_known = m.group().lower() in _indian_names()
        if words and capitalised and not m.group()[0].isupper() and not is_known:
            break  # "Mrs. Lakshmi narrated": after a capitalised word, only a known name in lower case
        words += 1
        known = known or is_known
        capitalised = capitalised and m.group()[0].isupper()
        end = i = m.end()
        while i < n and text[i] in " \t":
            i += 1
        if i >= n or not text[i].isalpha():
            break
    return _Found(start, end, known, capitalised) if words else None


# --------------------------------------------------------------------------------- detectors

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)

_ID_KEYWORD = re.compile(
    r"\b(?:uhid|mrn|mr\s?no|patient\s*(?:id|no|number|code)|pt\.?\s*(?:id|no)|ip\s*(?:no|number|id)"
    r"|op\s*(?:no|number|id)|hospital\s*(?:no|number|id)|registration\s*(?:no|number|id)"
    r"|reg\.?\s*(?:no|number)|file\s*(?:no|number)|case\s*(?:no|number|id)|policy\s*(?:no|number)"
    r"|claim\s*(?:no|number)|member\s*id|abha(?:\s*(?:no|number|id|address))?|health\s*id"
    r"|insurance\s*(?:no|number|id)|tpa\s*(?:id|no)|my\s+id)\b"
    r"\.?\s*(?:no\b\.?|number\b|num\b|#)?\s*(?:is\s+)?[:#-]?\s*",
    re.IGNORECASE,
)
_ID_VALUE = re.compile(r"(?:[A-Za-z]{1,5}[-/ ]?)?\d[\dA-Za-z/-]*")
_CLINIC_ID = re.compile(r"\bAPC[-/ ]?\d{2,4}[-/]\d{2,6}\b", re.IGNORECASE)
_ABHA = re.compile(r"(?<![\d-])\d{2}-\d{4}-\d{4}-\d{4}(?![\d-])")

_AADHAAR = re.compile(r"(?<![\d+-])[2-9]\d{3}([ -]?)\d{4}\1\d{4}(?![\d-])")
_AADHAAR_CUE = re.compile(r"\b(?:aadhaa?r|adhaa?r|aadar|uid|uidai)\b", re.IGNORECASE)

_PAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{3}[PCHFATBLJGpchfatbljg][A-Za-z]\d{4}[A-Za-z](?![A-Za-z0-9])")

# Phones. Prefixed (+91 / 0091 / +other) numbers are found loosely and then trimmed to a valid
# length; domestic numbers must match one of the usual groupings exactly.
_PHONE_PREFIXED = re.compile(r"(?<![\w+])(?:\+\s?|\b00\s?)\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){1,6}")
_PHONE_91 = re.compile(r"(?<![\d+])91[6-9]\d{9}(?!\d)")
_PHONE_MOBILE = re.compile(
    r"(?<![\w+/.-])(?:0 ?)?(?:[6-9]\d{9}|[6-9]\d{4}[ .-]\d{5}|[6-9]\d{2}[ .-]\d{3}[ .-]\d{4}"
    r"|[6-9]\d{3}[ .-]\d{3}[ .-]\d{3}|[6-9]\d[ .-]\d{4}[ .-]\d{4})(?![\d/-]|\.\d)"
)
_PHONE_LANDLINE = re.compile(
    r"(?<![\w+/.-])(?:\(0\d{2,4}\)|0\d{2,4})[ .-]?\d{3,4}[ .-]?\d{3,4}(?![\d/-]|\.\d)"
)

# Dates
_DATE_NUMERIC = re.compile(r"(?<![\w/.-])(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?![\w/-]|\.\d)")
_DATE_ISO = re.compile(r"(?<![\w/.-])(?:19|20)\d{2}-(?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12]\d|3[01])(?![\w/-])")
_DATE_SHORT = re.compile(
    r"\b(?:on|dated|date|dob|d\.o\.b\.?|born|till|until|by|before|from)\s*[:-]?\s*"
    r"(\d{1,2}[/.-]\d{1,2})(?![\w/.-])",
    re.IGNORECASE,
)
_DATE_DAY_MONTH = re.compile(
    rf"(?<![\w.])(\d{{1,2}})(st|nd|rd|th)?\s*(?:of\s+)?({_MONTHS})\b\.?(?:,?\s*('?\d{{2}}|\d{{4}})\b)?",
    re.IGNORECASE,
)
_DATE_MONTH_DAY = re.compile(
    rf"\b({_MONTHS})\.?\s+(\d{{1,2}})(st|nd|rd|th)?\b(?:,?\s*(\d{{4}})\b)?"
    r"(?!\s*(?:mg|ml|kg|days?|weeks?|months?|years?|hours?|hrs?|mins?|minutes|tablets?|%))",
    re.IGNORECASE,
)
_SCORE_BEFORE = re.compile(r"\b(?:score|scale|pain|vas|nrs|out\s+of|\d+/10)\b", re.IGNORECASE)
_UNIT_AFTER_DATE = re.compile(r"\s*(?:days?|weeks?|times?|hours?|hrs?|mg|ml|pain|score)\b", re.IGNORECASE)
_BIRTH_YEAR = re.compile(
    r"\b(?:born\s+(?:on\s+|in\s+)?|year\s+of\s+birth\s*[:-]?\s*|birth\s*year\s*[:-]?\s*|dob\s*[:-]?\s*"
    r"|janam\s+(?:saal|varsh|tithi)?\s*[:-]?\s*)((?:19|20)\d{2})(?![\w/.-])",
    re.IGNORECASE,
)

# Addresses
_STREET_WORDS = (
    r"street|st\.|road|rd\.?|nagar|colony|layout|puram|palayam|pudur|salai|veedhi|veethi|theru"
    r"|apartments?|apts?\.?|residency|enclave|extension|extn\.?|gardens?|towers?|illam|nilayam|avenue"
    r"|lane|cross road|bypass|housing board|quarters|flats|complex|villas?"
)
_ORDINAL_STREET = (
    r"\d{1,3}(?:st|nd|rd|th)\s+(?:main|cross|street|block|stage|phase|sector|avenue|lane|floor)(?:\s+road)?"
)
_ADDR_NUMBER = (
    r"(?:(?:door|flat|house|plot|shop)\b\.?\s*(?:no\b\.?|number\b)?\s*[:#.-]?\s*|(?:h|d)\.?\s*no\b\.?\s*[:#.-]?\s*"
    r"|#\s*|no\.\s*|no\s+)?"
    r"\d{1,5}[A-Za-z]?(?:\s*[/-]\s*\d{1,5}[A-Za-z]?){0,3}"
)
_DOOR_CUE = re.compile(r"(?:(?:door|flat|house|plot|shop)\b|(?:h|d)\.?\s*no\b|#)", re.IGNORECASE)
_ADDRESS_NUM_STREET = re.compile(
    rf"(?<![\w/-])(?:{_ADDR_NUMBER})(?:\s*,\s*|\s+)"
    rf"(?:[A-Za-z][\w.'&-]*[ \t,]+){{0,4}}?"
    rf"(?:{_ORDINAL_STREET}|(?:{_STREET_WORDS})(?:\s+(?:main\s+)?road)?)\b"
    r"(?!\s+accident)",
    re.IGNORECASE,
)
_ADDRESS_FLAT = re.compile(
    r"\b(?:(?:flat|door|house|plot)\b\.?\s*(?:no\b\.?|number\b)?|(?:h|d)\.?\s*no\b\.?)\s*[:#.-]?\s*"
    r"\d{1,5}[A-Za-z]?(?:\s*[/-]\s*\d{1,5}[A-Za-z]?){0,3}\b",
    re.IGNORECASE,
)
# Words that start the question after an address ("…, Avinashi Road, Do I need to fast?"): an address
# never takes them, so the rest of the question always survives.
_QUESTION_WORDS = (
    "is are am was were can could what when where how why do does did will would should shall may might must "
    "please pls kindly i so and but also sir madam doctor which who whether if my there any thanks thank "
    "after before during then now today tomorrow"
)
_NOT_PLACE = rf"(?!(?i:{'|'.join(_QUESTION_WORDS.split())})\b)"
# After an address: ", RS Puram, Coimbatore - 641002"
_ADDRESS_TAIL = re.compile(
    rf"(?:\s*,\s*(?:\d{{1,3}}(?:st|nd|rd|th)\s+\w+|{_NOT_PLACE}[A-Z]\w*(?:\.\w+)*"
    rf"(?:[ \t]+{_NOT_PLACE}[A-Z]\w*(?:\.\w+)*){{0,3}}))*"
    r"(?:[ \t,-]*[1-8]\d{2}\s?\d{3}(?!\d))?"
)
_PIN = re.compile(r"(?<![\w₹.,/-])[1-8]\d{2}\s?\d{3}(?![\w,/-]|\.\d)")
_PIN_CUE = re.compile(
    r"(?:pin\s*(?:code)?|postal\s*code|zip)\s*(?:no\.?|number)?\s*[:#-]?\s*$", re.IGNORECASE
)
_CURRENCY_BEFORE = re.compile(
    r"(?:rs\.?|inr|₹|rupees|amount|cost|fee|fees|paid|bill|count|platelets?)\s*$", re.IGNORECASE
)
_UNIT_AFTER = re.compile(r"\s*(?:rs|rupees|inr|/-|steps|units|mg|ml|iu|cells|copies|k\b)", re.IGNORECASE)
_PLACE_BEFORE = re.compile(r"[A-Za-z]{3,}\s*[-,]?\s*$")

_LIVE_AT = re.compile(
    r"\b(?:i\s+(?:live|stay|reside)|i'm\s+(?:living|staying)|i\s+am\s+(?:living|staying)|we\s+(?:live|stay)"
    r"|residing)\s+(?:at|near|opposite|opp\.?|behind|next\s+to|close\s+to)\s+"
    r"|\b(?:my|our|his|her)\s+(?:home\s+|residential\s+|full\s+)?address\s+(?:is\s*)?[:-]?\s*"
    r"|\baddress\s*[:-]\s*"
    r"|\b(?:mera|hamara)\s+(?:ghar|address|pata)\s+",
    re.IGNORECASE,
)
_LIVE_IN = re.compile(
    r"\b(?:i\s+(?:live|stay|reside)|i'm\s+(?:living|staying)|i\s+am\s+(?:living|staying))\s+in\s+(?=[A-Z])"
)
_CLAUSE_STOP_WORDS = _words(_QUESTION_WORDS)
_ADDRESS_STOP_WORDS = _CLAUSE_STOP_WORDS | _words("mein me hai")
_ABBREVIATIONS = frozenset({"no", "st", "rd", "dr", "mr", "mrs", "smt", "opp", "nr", "extn", "apts"})

# Names
_NAME_IS = re.compile(
    r"\b(?:(?:my|his|her|patient'?s?|the\s+patient'?s?)(?:\s+\w+'s)?\s+(?:full\s+)?name\s+(?:is\b|:|-)"
    r"|(?<![\w'])name\s*[:-]|\bname\s+(?=[A-Z]))\s*",
    re.IGNORECASE,
)
_NAAM = re.compile(r"\b(?:(?:mera|meri|mere|apna|humara|hamara)\s+(?:naam|name)|naam)\s+", re.IGNORECASE)
_NAAM_END = re.compile(r"\s+(?:hai|h|he|hain|hei)\b", re.IGNORECASE)
# Self-introductions: "I am Priya", "i'm priya", "this is priya raman", "myself Priya".
_I_AM = re.compile(r"\b(?:I\s+am|I'm|I’m|Im|I\s+m|this\s+is|myself)\s+", re.IGNORECASE)
# What may follow a name without the name being known (in the list of Indian names) or capitalised:
# the end, punctuation, 's, or one of these words. "I am Comfortable now", "I am Sugar patient" are not names.
_AFTER_NAME = re.compile(
    r"\s*(?:$|[,.!?;:\n()\[-]|'s\b|’s\b|(?:from|here|speaking|calling|writing|this\s+side|aged?|s/o|d/o|w/o|c/o"
    r"|sir|madam|mam|who|whose|is|has|had|was|will|needs?|wants?|underwent|took|got)\b"
    rf"|and\s+(?:{'|'.join(_QUESTION_WORDS.split())}|me|she|he|her|his|we|our)\b|[A-Z]\w*'s\b)",
    re.IGNORECASE,
)
# "Priya Raman here, ...", "Ravi speaking", "Lakshmi this side": a name at the start of the message or of a
# sentence, or after a greeting, then the cue, then the end of that phrase.
_NAME_FIRST_START = re.compile(
    r"(?:^|(?<=[.!?])\s+|\b(?:hi|hello|hey|dear|namaste|namaskar(?:am)?|vanakkam|(?:as)?salaam?|assalamu?\s+alaikum|good\s+(?:morning|afternoon|evening))\b"
    r"(?:\s+(?:doctor|doc|sir|madam|mam|ma'am|team|all|there))?\s*[,!.:-]*\s*)(?=[A-Za-z])",
    re.IGNORECASE,
)
_NAME_FIRST_CUE = re.compile(
    r"\s+(?:here|speaking|this\s+side)\b(?=\s*(?:$|[,.!?;:\n(-]|(?:and|from|with|about|regarding)\b))",
    re.IGNORECASE,
)
# A signature at the end: "... - Priya", "-- priya raman (ph [PHONE])", "~Ravi, 98450 12345".
_SIGNATURE = re.compile(r"(?:^|(?<=[\s.!?]))(?:-{1,2}|[–—~])[ \t]*(?=[A-Za-z])")
_MESSAGE_END = re.compile(
    r"\s*[.!]*\s*(?:[(,]?\s*(?:(?:ph|phone|mob|mobile|cell|tel|contact|whatsapp)\b\.?\s*(?:no\b\.?)?\s*[:.-]?\s*)?"
    r"(?:\[PHONE\]|\+?\d[\d \t()+./-]{5,})\s*\)?)?\s*[.!]*\s*$",
    re.IGNORECASE,
)
_TITLE = re.compile(rf"(?<![\w.])(?:(?i:{_TITLES_ANY_CASE})|{_TITLES_CAPITALISED})\b\.?\s*(?=[A-Za-z])")
_RELATION = re.compile(
    rf"\b(?:my|his|her|our)\s+(?:\d{{1,3}}[ -]?(?:years?|yrs?)[ -]?old\s+|old\s+|elderly\s+)?(?:{_RELATIONS})"
    r"(?:'s)?\s+(?=[A-Za-z])",
    re.IGNORECASE,
)
_SIGN_OFF = re.compile(
    r"\b(?:thanks|thank\s+you|thanking\s+you|regards|warm\s+regards|best\s+regards|kind\s+regards"
    r"|yours\s+(?:sincerely|truly|faithfully)|sincerely)\s*[,.!-]?\s*\n?\s*(?=[A-Za-z])",
    re.IGNORECASE,
)


def _emails(text: str) -> Iterator[_Span]:
    for m in _EMAIL.finditer(text):
        yield _Span("EMAIL", m.start(), m.end(), 0)


def _ids(text: str) -> Iterator[_Span]:
    for m in _ID_KEYWORD.finditer(text):
        v = _ID_VALUE.match(text, m.end())
        if v:
            end = v.end()
            while end > v.start() and text[end - 1] in "-/":
                end -= 1
            yield _Span("ID", v.start(), end, 1)
    for rx in (_CLINIC_ID, _ABHA):
        for m in rx.finditer(text):
            yield _Span("ID", m.start(), m.end(), 1)


def _aadhaar(text: str) -> Iterator[_Span]:
    for m in _AADHAAR.finditer(text):
        cue = _AADHAAR_CUE.search(text, max(0, m.start() - 40), m.start())
        digits = re.sub(r"\D", "", m.group())
        if cue:
            yield _Span("AADHAAR", m.start(), m.end(), 2)
        elif digits.startswith("91") and digits[2] in "6789" and m.group().isdigit():
            continue  # 91 + a mobile number: left to the phone detector
        else:
            yield _Span("AADHAAR", m.start(), m.end(), 5)


def _pan(text: str) -> Iterator[_Span]:
    for m in _PAN.finditer(text):
        yield _Span("PAN", m.start(), m.end(), 4)


def _phones(text: str) -> Iterator[_Span]:
    for m in _PHONE_PREFIXED.finditer(text):
        span = _trim_prefixed_phone(text, m.start(), m.end())
        if span:
            yield _Span("PHONE", span[0], span[1], 3)
    for m in _PHONE_91.finditer(text):
        yield _Span("PHONE", m.start(), m.end(), 3)
    for m in _PHONE_MOBILE.finditer(text):
        yield _Span("PHONE", m.start(), m.end(), 6)
    for m in _PHONE_LANDLINE.finditer(text):
        digits = sum(c.isdigit() for c in m.group())
        if 10 <= digits <= 11:
            yield _Span("PHONE", m.start(), m.end(), 6)


def _trim_prefixed_phone(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Drop trailing digit groups until the number has a valid length (so "… 10 am" is not eaten)."""
    while end > start:
        chunk = text[start:end]
        digits = re.sub(r"\D", "", chunk)
        if chunk.startswith("00"):
            digits = digits[2:]
        indian = digits.startswith("91")
        if (indian and len(digits) == 12) or (not indian and 8 <= len(digits) <= 15):
            close = chunk.rfind(")") if chunk.count("(") == chunk.count(")") else -1
            return start, max(end, start + close + 1)
        cut = max(chunk.rfind(" "), chunk.rfind("-"), chunk.rfind("."))
        if cut <= 0:
            return None
        end = start + cut
        while end > start and text[end - 1] in " .-(":
            end -= 1
    return None


def _valid_day_month(a: int, b: int) -> bool:
    return (1 <= a <= 31 and 1 <= b <= 12) or (1 <= b <= 31 and 1 <= a <= 12)


def _dates(text: str) -> Iterator[_Span]:
    for m in _DATE_NUMERIC.finditer(text):
        if _valid_day_month(int(m.group(1)), int(m.group(3))):
            yield _Span("DOB", m.start(), m.end(), 7)
    for m in _DATE_ISO.finditer(text):
        yield _Span("DOB", m.start(), m.end(), 7)
    for m in _DATE_SHORT.finditer(text):
        a, b = re.split(r"[/.-]", m.group(1))
        if b == "10" and _SCORE_BEFORE.search(text, max(0, m.start() - 30), m.start()):
            continue  # "pain 8/10 on 3/10 days"
        if _valid_day_month(int(a), int(b)) and not _UNIT_AFTER_DATE.match(text, m.end()):
            yield _Span("DOB", m.start(1), m.end(1), 7)
    for m in _DATE_DAY_MONTH.finditer(text):
        day, suffix, month, year = m.groups()
        if not 1 <= int(day) <= 31:
            continue
        if month.lower() == "may" and not (suffix or year or month[0] == "M"):
            continue  # "5 may help"
        yield _Span("DOB", m.start(), m.end(), 7)
    for m in _DATE_MONTH_DAY.finditer(text):
        month, day, suffix, year = m.groups()
        if not 1 <= int(day) <= 31:
            continue
        if month.lower() in ("may", "mar") and month[0] != month[0].upper():
            continue  # "you may 2", Hindi "mar"
        yield _Span("DOB", m.start(), m.end(), 7)
    for m in _BIRTH_YEAR.finditer(text):
        yield _Span("DOB", m.start(1), m.end(1), 7)


def _addresses(text: str) -> Iterator[_Span]:
    # An explicit "door no" / "flat" / "#" outranks dates, so "h.no 12-3-45" stays one address.
    for m in _ADDRESS_NUM_STREET.finditer(text):
        tail = _ADDRESS_TAIL.match(text, m.end())
        end = tail.end() if tail else m.end()
        yield _Span("ADDRESS", m.start(), end, 6 if _DOOR_CUE.match(text, m.start()) else 8)
    for m in _ADDRESS_FLAT.finditer(text):
        yield _Span("ADDRESS", m.start(), m.end(), 6)
    for m in _PIN.finditer(text):
        before = text[max(0, m.start() - 30) : m.start()]
        if _CURRENCY_BEFORE.search(before) or _UNIT_AFTER.match(text, m.end()):
            continue
        if _PIN_CUE.search(before) or m.group()[0] in "56" or _PLACE_BEFORE.search(before):
            yield _Span("ADDRESS", m.start(), m.end(), 8)
    for rx in (_LIVE_AT, _LIVE_IN):
        for m in rx.finditer(text):
            end = _clause_end(text, m.end())
            if end > m.end():
                yield _Span("ADDRESS", m.end(), end, 8)


_LAST_WORD = re.compile(r"(\w+)$")
_NEXT_WORD = re.compile(r"\s*([A-Za-z]+)\b")


def _clause_end(text: str, start: int, limit: int = 120) -> int:
    """Where an address given in running text ends: sentence end, or ", is there ..." etc."""
    n = min(len(text), start + limit)
    i = start
    while i < n:
        c = text[i]
        if c in "\n?!":
            break
        if c == ".":
            word = _LAST_WORD.search(text, max(start, i - 12), i)
            nxt = text[i + 1 : i + 3]
            short = word and (word.group(1).lower() in _ABBREVIATIONS or len(word.group(1)) == 1)  # "R.S."
            if not short and (nxt[:1] in ("", "\n") or (nxt[:1] == " " and nxt[1:2].isalpha())):
                break
        if c in ", ":
            w = _NEXT_WORD.match(text, i + 1, n)
            stops = _CLAUSE_STOP_WORDS if c == "," else _ADDRESS_STOP_WORDS
            if w and w.group(1).lower() in stops:
                break
        i += 1
    end = i
    while end > start and text[end - 1] in " \t,.;:-":
        end -= 1
    return end


def _names(text: str) -> Iterator[_Span]:
    def emit(pos: int, allow_lower: bool, max_words: int = 3) -> Iterator[_Span]:
        span = _take_name(text, pos, allow_lower=allow_lower, max_words=max_words)
        if span:
            yield _Span("NAME", span[0], span[1], 9)

    for m in _NAME_IS.finditer(text):
        yield from emit(m.end(), allow_lower=True)
    for m in _NAAM.finditer(text):
        end = _NAAM_END.search(text, m.end(), m.end() + 60)
        if end:
            stop = end.start()
            span = _take_name(text[:stop], m.end(), allow_lower=True)
            if span:
                yield _Span("NAME", span[0], span[1], 9)
        elif m.group().lower().startswith(("mera", "meri", "mere", "apna", "humara", "hamara")):
            yield from emit(m.end(), allow_lower=True, max_words=2)
    for m in _I_AM.finditer(text):
        found = _scan_name(text, m.end())
        if found and (found.known or _AFTER_NAME.match(text, found.end)):
            yield _Span("NAME", found.start, found.end, 9)
    for m in _RELATION.finditer(text):
        found = _scan_name(text, m.end())
        if found and (found.known or found.capitalised or _AFTER_NAME.match(text, found.end)):
            yield _Span("NAME", found.start, found.end, 9)
    for m in _SIGN_OFF.finditer(text):
        found = _scan_name(text, m.end())
        if found and (found.known or found.capitalised or _MESSAGE_END.match(text, found.end)):
            yield _Span("NAME", found.start, found.end, 9)
    for m in _SIGNATURE.finditer(text):
        found = _scan_name(text, m.end())
        if found and _MESSAGE_END.match(text, found.end):
            yield _Span("NAME", found.start, found.end, 9)
    for m in _NAME_FIRST_START.finditer(text):
        found = _scan_name(text, m.end())
        if found and _NAME_FIRST_CUE.match(text, found.end):
            yield _Span("NAME", found.start, found.end, 9)
    for m in _TITLE.finditer(text):
        yield from emit(m.end(), allow_lower=True)


_PLACEHOLDER = re.compile(r"\[(?:" + "|".join(KINDS) + r")\]")

_DETECTORS: tuple[Callable[[str], Iterator[_Span]], ...] = (
    _emails, _ids, _aadhaar, _pan, _phones, _dates, _addresses, _names,
)


def redact(text: str) -> Redaction:
    """Replace personal data in ``text`` with ``[KIND]`` placeholders."""
    if not text:
        return Redaction(text=text, found=())
    spans = [s for detect in _DETECTORS for s in detect(text) if s.end > s.start]
    if not spans:
        return Redaction(text=text, found=())
    # Each character takes the kind of the strongest span covering it; a weaker span that overlaps
    # a stronger one keeps only its uncovered parts.
    spans.sort(key=lambda s: (s.priority, s.start - s.end))
    owner: list[int] = [-1] * len(text)
    for m in _PLACEHOLDER.finditer(text):  # already redacted: leave alone
        owner[m.start() : m.end()] = [-2] * (m.end() - m.start())
    for idx, s in enumerate(spans):
        for i in range(s.start, s.end):
            if owner[i] == -1:
                owner[i] = idx
    found: list[tuple[str, int, int]] = []
    i = 0
    n = len(text)
    while i < n:
        idx = owner[i]
        if idx < 0:
            i += 1
            continue
        j = i
        while j < n and owner[j] == idx:
            j += 1
        a, b = i, j
        while a < b and not text[a].isalnum() and text[a] not in "+(#":
            a += 1
        while b > a and not text[b - 1].isalnum() and text[b - 1] != ")":
            b -= 1
        if a < b and any(c.isalnum() for c in text[a:b]):
            kind = spans[idx].kind
            if found and found[-1][0] == kind and found[-1][2] == a and kind == "ADDRESS":
                found[-1] = (kind, found[-1][1], b)
            else:
                found.append((kind, a, b))
        i = j
    out: list[str] = []
    pos = 0
    for kind, a, b in found:
        out.append(text[pos:a])
        out.append(f"[{kind}]")
        pos = b
    out.append(text[pos:])
    return Redaction(text="".join(out), found=tuple(found))
