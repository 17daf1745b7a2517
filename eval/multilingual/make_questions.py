#!/usr/bin/env python3
"""Write eval/multilingual/questions.jsonl: patient questions in Tamil script, Hindi (Devanagari) script,
romanised Tamil ("Tanglish") and romanised Hindi ("Hinglish") over the clinic corpus (corpus/*.md).

    .venv/bin/python eval/multilingual/make_questions.py        # from the repo root

Each INTENT below is one thing a patient wants to know, with the English answer SENTENCES of the pages
(never offsets) and the question as a patient would type it in each of the four forms. Offsets are
computed from the pages as the product loads them (``qa.ingest.load_corpus``; offsets index ``Page.text``).
A gold sentence is looked up in EVERY page: a sentence that several pages say word for word ("Rest and do
only gentle activity for the first 24 hours.") is gold on each of them. The script stops, printing every
problem and writing nothing, when a gold sentence is found on no page at sentence boundaries, a question
is not in the script of its form (``qa.language.detect_script``), a question is duplicated, a question is
caught by the safety rules, or a form has fewer than MIN_ANSWERABLE / MIN_UNANSWERABLE questions.

Record format: that of eval/clinic/questions.jsonl (``id, question, answerable, doc_id, gold_doc_ids,
answer_spans, gold_spans_by_doc, answer_text, qtype``) plus ``form`` (ta | hi | ta-Latn | hi-Latn),
``language`` (ta | hi), ``intent`` (the same id for the four forms of one intent) and ``near_miss``.
Ids: ``ml-<form>-<intent number>``; unanswerable intents are numbered from 1001. Add new intents at the
END of their list so existing ids stay put. Output is deterministic.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from qa.ingest import load_corpus  # noqa: E402
from qa.language import Script, detect_script  # noqa: E402
from qa.text import sentence_spans  # noqa: E402

MIN_ANSWERABLE = 40
MIN_UNANSWERABLE = 10
FORMS = ("ta", "hi", "ta-Latn", "hi-Latn")
FORM_SCRIPT = {"ta": Script.TAMIL, "hi": Script.DEVANAGARI, "ta-Latn": Script.LATIN, "hi-Latn": Script.LATIN}
ILIO = "iliopsoas-injection"

# (gold sentences, {form: question}); the first gold sentence's first page is the primary page.
Intent = tuple[tuple[str, ...], dict[str, str]]

REST = ("Gentle activity and rest is recommended for the first 24 hours following the procedure.",
        "Rest and do only gentle activity for the first 24 hours.",
        "- Do rest and do only gentle activity for the first 24 hours.",
        "Rest and do only gentle activity for the first 24 hours, then slowly return to your usual activities.")
XRAY = ("An X-ray or an ultrasound machine will then be used to determine where the needle should be placed.",
        "The doctor guides the needle using X-ray, and a small amount of contrast dye is used to check that the "
        "medicine will spread to the right place.",
        "The doctor guides a thin needle to each level using X-ray, and a small amount of contrast dye may be used "
        "to check its position.",
        "The doctor guides a thin needle to each nerve using X-ray or ultrasound, usually at several points around "
        "the knee.",
        "The doctor guides the needle into the joint using X-ray or ultrasound, and contrast dye may be used to "
        "confirm the position.",
        "The doctor guides a thin needle using ultrasound or X-ray, and the medicine is injected slowly.",
        "The skin is numbed with local anaesthetic, and special needles are guided to the nerves using X-ray.",
        "The doctor guides a needle into the epidural space using X-ray, and passes a thin lead through it.",
        "Please tell the team if you are or might be pregnant, because X-ray is used to guide the needle.")
LIE = ("In the procedure room, you will be assisted into a position that involves lying on your tummy with pillows "
       "supporting your hip and abdomen.",
       "You will usually lie on your tummy, with a pillow under your hips to make you comfortable.",
       "You will usually lie on your tummy with a pillow under your hips.",
       "You will usually lie on your tummy for the lower back, or on your tummy or side for the neck.",
       "You will lie in a comfortable position, usually on your tummy for the spine.",
       "You will lie on your tummy, and the skin of your back is cleaned and numbed with local anaesthetic.",
       "You will usually sit and lean forward, or lie on your tummy.",
       "You will lie on your back, usually with a pillow under the knee.",
       "You will lie on your back with your head tilted slightly.",
       "You will sit or lie in a comfortable position.")
THINNERS = ("Blood thinning medicines must be stopped prior to your procedure, and we will advise you regarding that "
            "at Atlas Pain Care, Coimbatore.",
            "If you take blood-thinning medicines, the clinic team will advise you about them before your procedure.",
            "- Do tell the clinic team if you take blood-thinning medicines; the team will advise you about them "
            "before your procedure.")
SUGAR = ("If you have diabetes, check your blood sugar more often for a few days, because the steroid can raise it.",
         "If a steroid is used and you have diabetes, check your blood sugar more often for a few days, because the "
         "steroid can raise it.",
         "- Do check your blood sugar more often for a few days if you have diabetes and were given a steroid.")
STEROID_DAYS = ("The steroid may take several days to start working.",
                "If a steroid is used, it may take several days to start working.",
                "- Don't judge the result too early, because some medicines take several days to start working.")
SORE = ("Some people have soreness at the injection site or a temporary increase in pain for a day or two.",
        "You may have soreness at the injection site or a temporary increase in pain for a day or two.",
        "The area may feel sore for a day or two.",
        "You may have some bruising or soreness around the knee for a day or two.",
        "The muscles may feel sore for a day or two.",
        "The treated area is often sore for a week or two, and some people notice a sunburn-like feeling over the "
        "skin.",
        "The local anaesthetic will wear off 12 – 18 hours following your procedure after which you might "
        "experience slight discomfort till the other medications start taking effect.")
CLOTHES = ("- Do wear loose, comfortable clothes and leave jewellery and valuables at home.",
           "Wear loose clothing, such as shorts or loose trousers, so that the knee can be reached easily.",
           "Wear loose, comfortable clothes and bring a responsible adult to take you home.",
           "Wear loose, comfortable clothing that lets the team reach the painful area easily.")
MEDS = ("- Do bring a list of all the medicines you take, including any herbal or over-the-counter products.",
        "Tell the clinic team about all the medicines you take, and about any allergies to contrast dye, iodine, "
        "local anaesthetic or latex.",
        "Tell the clinic team about all the medicines you take and about any allergies.")
FAST = ("- Do follow the clinic team's instructions about eating and drinking, because whether you need to fast "
        "depends on whether you will have sedation.",
        "The clinic team will tell you whether you need to stop eating and drinking beforehand.")
ADULT = ("- Do bring a responsible adult to drive you home after the procedure.",
         "Please bring a responsible adult to take you home.",
         "Wear loose, comfortable clothes and bring a responsible adult to take you home.")
SHOWER = ("- Do wait until the day after the procedure to shower, and remove the small dressing at that time.",
          "You can wash your hair the day after the procedure.",
          "- Don't soak in a bath, hot tub or swimming pool for 48 hours.")
DIARY = ("Your diary helps the doctor decide whether radiofrequency ablation is likely to help you.",
         "Keeping a pain diary can help you and the team see how well the injections are working.",
         "Keep a headache diary before and after the injection so that you and the team can see whether it helps.",
         "- Do keep a pain diary, noting your pain level, your activities and any changes, and bring it to your "
         "follow-up visit.")

ANSWERABLE: list[Intent] = [
    (("Occasionally, you leg may feel heavy or weak for a few hours.",),
     {"ta": "ஊசி போட்ட பிறகு கால் கனமா இருக்குமா?", "hi": "इंजेक्शन के बाद पैर भारी या कमजोर लगेगा क्या?",
      "ta-Latn": "injection apram kaal ganama irukkuma?", "hi-Latn": "injection ke baad pair bhaari lagega kya?"}),
    (("The local anaesthetic will wear off 12 – 18 hours following your procedure after which you might experience "
      "slight discomfort till the other medications start taking effect.",),
     {"ta": "மரத்துப்போனது எவ்வளவு நேரத்தில் சரியாகும்?", "hi": "सुन्नपन कितनी देर में जाएगा?",
      "ta-Latn": "maraththu pona feeling evvalavu neram irukkum?", "hi-Latn": "injection ke baad sunnpan kab jayega?"}),
    (("The procedure takes not more than 15 minutes, following which you will be observed in the recovery room for "
      "an hour and discharged home later.", "The injection itself is usually quick."),
     {"ta": "ஊசி போட எவ்வளவு நேரம் ஆகும்?", "hi": "इंजेक्शन लगाने में कितना समय लगता है?",
      "ta-Latn": "procedure ku evvalavu neram aagum?", "hi-Latn": "procedure mein kitna time lagta hai?"}),
    (("The effect should last a few months during which our rehabilitation and functional restoration exercises "
      "should be followed to provide long-term benefit.",),
     {"ta": "இந்த ஊசியோட பலன் எத்தனை நாள் இருக்கும்?", "hi": "इंजेक्शन का असर कितने दिन रहेगा?",
      "ta-Latn": "injection effect evlo naal irukkum?", "hi-Latn": "injection ka asar kitne din rahega?"}),
    (("On occasions, we might have to inject Botox for long-term benefit.",),
     {"ta": "botox ஊசி போடணுமா?", "hi": "क्या बोटॉक्स भी लगाना पड़ेगा?",
      "ta-Latn": "botox oosi podanuma?", "hi-Latn": "botox bhi lagana padega kya?"}),
    (THINNERS,
     {"ta": "ரத்தம் நீர்க்கும் மாத்திரை சாப்பிடுறேன், அதை பத்தி என்ன?",
      "hi": "खून पतला करने की दवा लेता हूँ, उसका क्या?",
      "ta-Latn": "blood thinner maathirai saapdren, athu pathi enna?",
      "hi-Latn": "khoon patla karne ki dawai leta hoon, uska kya?"}),
    (LIE,
     {"ta": "ஊசி போடும்போது எப்படி படுக்கணும்?", "hi": "इंजेक्शन के समय कैसे लेटना होगा?",
      "ta-Latn": "injection podum bothu eppadi padukkanum?", "hi-Latn": "injection ke time kaise letna hoga?"}),
    (XRAY,
     {"ta": "ஊசி போட எக்ஸ்ரே பயன்படுத்துவாங்களா?", "hi": "क्या सुई लगाने के लिए एक्स-रे इस्तेमाल होता है?",
      "ta-Latn": "oosi poda x-ray use pannuvaangala?", "hi-Latn": "sui lagane ke liye x-ray use karte hain kya?"}),
    (("The psoas is a muscle that extends from the ribs in the back of your chest cage alongside your low back "
      "spine and attaches to your hip.",),
     {"ta": "psoas தசை எங்க இருக்கு?", "hi": "सोआस मांसपेशी कहाँ होती है?",
      "ta-Latn": "psoas muscle enga irukku?", "hi-Latn": "psoas muscle kahan hota hai?"}),
    (("The iliopsoas muscle is frequently responsible for pain, which can radiate from the thoracic spine to the "
      "hip area, occasionally extending to the buttocks.",),
     {"ta": "இடுப்பு வலிக்கு இந்த தசை தான் காரணமா?", "hi": "क्या कूल्हे का दर्द इस मांसपेशी से होता है?",
      "ta-Latn": "idupu vali ku intha muscle thaan kaaranama?", "hi-Latn": "kya hip ka dard is muscle se hota hai?"}),
    (("The aim of the injection is to reduce inflammation, irritation and swelling around the iliopsoas muscle.",
      "The aim is to reduce inflammation around the nerve so that you can move more comfortably and take part in "
      "exercise and physiotherapy.",
      "It can reduce pain and inflammation, and it can also help the doctor confirm whether the joint is the "
      "source of your pain."),
     {"ta": "இந்த ஊசியால வீக்கம் குறையுமா?", "hi": "क्या इस इंजेक्शन से सूजन कम होगी?",
      "ta-Latn": "intha oosi la veekkam kuraiyuma?", "hi-Latn": "is injection se sujan kam hogi kya?"}),
    (REST,
     {"ta": "ஊசி போட்ட பிறகு எவ்வளவு நாள் ஓய்வு எடுக்கணும்?", "hi": "इंजेक्शन के बाद कितना आराम करना है?",
      "ta-Latn": "oosi potta apram evlo naal rest edukkanum?", "hi-Latn": "injection ke baad kitna aaram karna hai?"}),
    (("- Don't drive for 24 hours after the procedure.", "- Don't plan to drive yourself home.",
      "- Do bring a responsible adult to drive you home after the procedure."),
     {"ta": "ஊசி போட்ட அன்னைக்கு வண்டி ஓட்டலாமா?", "hi": "इंजेक्शन के बाद गाड़ी चला सकता हूँ?",
      "ta-Latn": "injection apram vandi ottalaama?", "hi-Latn": "injection ke baad gaadi chala sakte hain?"}),
    (("- Don't soak in a bath, hot tub or swimming pool for 48 hours.",),
     {"ta": "நீச்சல் குளத்துல எப்ப நீந்தலாம்?", "hi": "स्विमिंग पूल में कब जा सकते हैं?",
      "ta-Latn": "swimming pool la eppo neenthalaam?", "hi-Latn": "swimming pool mein kab ja sakte hain?"}),
    (SHOWER,
     {"ta": "எப்போ குளிக்கலாம்?", "hi": "नहाना कब से कर सकते हैं?",
      "ta-Latn": "eppo kulikkalaam?", "hi-Latn": "kab naha sakte hain?"}),
    (("- Do wait until the day after the procedure to shower, and remove the small dressing at that time.",),
     {"ta": "கட்டு எப்ப எடுக்கலாம்?", "hi": "पट्टी कब हटा सकते हैं?",
      "ta-Latn": "bandage eppo edukkalaam?", "hi-Latn": "patti kab hatani hai?"}),
    (("Most people can return to work the day after the procedure.",),
     {"ta": "எப்போ வேலைக்கு போகலாம்?", "hi": "काम पर कब वापस जा सकता हूँ?",
      "ta-Latn": "eppo velaikku pogalaam?", "hi-Latn": "kaam pe kab wapas ja sakta hoon?"}),
    (("Ask the clinic team before you go back if your job involves lifting or hard physical work.",),
     {"ta": "என் வேலையில கனமான பொருள் தூக்கணும், வேலைக்கு போகலாமா?",
      "hi": "मेरे काम में भारी सामान उठाना पड़ता है, क्या काम पर जा सकता हूँ?",
      "ta-Latn": "en velai la heavy weight thookanum, velaikku pogalaama?",
      "hi-Latn": "mere kaam mein bhaari saaman uthana padta hai, kaam pe ja sakta hoon?"}),
    (("- Don't do strenuous exercise or lifting for the first 24 hours.",
      "- Do return to your normal activities gradually after that, and follow the exercises the team recommends."),
     {"ta": "ஊசி போட்ட அடுத்த நாளே உடற்பயிற்சி செய்யலாமா?", "hi": "क्या अगले दिन कसरत कर सकते हैं?",
      "ta-Latn": "gym ku eppo pogalaam?", "hi-Latn": "gym kab se ja sakte hain?"}),
    (CLOTHES,
     {"ta": "என்ன டிரஸ் போட்டுட்டு வரணும்?", "hi": "कैसे कपड़े पहनकर आऊँ?",
      "ta-Latn": "enna dress pottu varanum?", "hi-Latn": "kaise kapde pehen ke aana hai?"}),
    (("- Do wear loose, comfortable clothes and leave jewellery and valuables at home.",),
     {"ta": "நகை போட்டுட்டு வரலாமா?", "hi": "गहने पहनकर आ सकती हूँ?",
      "ta-Latn": "nagai pottu varalaama?", "hi-Latn": "gehne pehen ke aa sakti hoon?"}),
    (MEDS,
     {"ta": "என்னோட மருந்து லிஸ்ட் கொண்டு வரணுமா?", "hi": "अपनी दवाइयों की लिस्ट लानी है क्या?",
      "ta-Latn": "marunthu list kondu varanuma?", "hi-Latn": "dawai ki list lani hai kya?"}),
    (FAST,
     {"ta": "ஊசிக்கு முன்னாடி சாப்பிடலாமா?", "hi": "इंजेक्शन से पहले खाना खा सकते हैं?",
      "ta-Latn": "oosi ku munnadi saapdalaama?", "hi-Latn": "injection se pehle khana kha sakte hain?"}),
    (("- Don't come in for your procedure if you have a fever or an infection; call the clinic first, as the "
      "procedure may need to be postponed.",
      "If you have a fever or an infection on the day, call the clinic before you come in, as the procedure may "
      "need to be postponed."),
     {"ta": "ஊசி போடுற அன்னைக்கு காய்ச்சல் இருந்தா வரலாமா?", "hi": "उस दिन बुखार हो तो आना है क्या?",
      "ta-Latn": "appointment annaikku kaaichal irundha varalaama?", "hi-Latn": "agar procedure ke din bukhar ho toh kya karu?"}),
    (("Please tell the team if you are or might be pregnant, because X-ray is used to guide the needle.",
      "- Do tell the team if you are or might be pregnant, or if you have any allergies.",
      "Please tell the team if you are or might be pregnant."),
     {"ta": "கர்ப்பமா இருந்தா டீம் கிட்ட சொல்லணுமா?", "hi": "प्रेग्नेंसी हो तो टीम को बताना है क्या?",
      "ta-Latn": "pregnant ah irundha team kitta sollanuma?", "hi-Latn": "pregnancy ho toh team ko batana hai kya?"}),
    (ADULT,
     {"ta": "கூட யாராவது வரணுமா?", "hi": "साथ में किसी को लाना ज़रूरी है?",
      "ta-Latn": "kooda yaaravathu varanuma?", "hi-Latn": "saath mein kisi ko lana zaroori hai?"}),
    (SUGAR,
     {"ta": "எனக்கு சுகர் இருக்கு, ஊசிக்கு அப்புறம் சுகர் ஏறுமா?", "hi": "मुझे शुगर है, इंजेक्शन के बाद शुगर बढ़ेगी क्या?",
      "ta-Latn": "enakku sugar irukku, oosi apram sugar yerumaa?",
      "hi-Latn": "mujhe sugar hai, injection ke baad sugar badhegi kya?"}),
    (STEROID_DAYS,
     {"ta": "ஸ்டீராய்டு மருந்து வேலை செய்ய எத்தனை நாள் ஆகும்?", "hi": "स्टेरॉयड असर करने में कितने दिन लगेंगे?",
      "ta-Latn": "steroid velai seiya evlo naal aagum?", "hi-Latn": "steroid ka asar hone mein kitne din lagenge?"}),
    (SORE,
     {"ta": "ஊசி போட்ட இடத்துல வலி இருக்குமா?", "hi": "इंजेक्शन वाली जगह पर दर्द रहेगा क्या?",
      "ta-Latn": "oosi potta idathula vali irukkuma?", "hi-Latn": "injection wali jagah pe dard rahega kya?"}),
    (("Epidural injections are generally considered safe, but every procedure has some risks.",
      "These include bleeding, infection, an allergic reaction, and a headache if the covering of the spinal "
      "nerves is punctured."),
     {"ta": "epidural ஊசியில என்ன ஆபத்து இருக்கு?", "hi": "एपिड्यूरल इंजेक्शन के क्या खतरे हैं?",
      "ta-Latn": "epidural oosi la enna risk irukku?", "hi-Latn": "epidural injection ke kya risk hain?"}),
    (("Some people notice flushing of the face or difficulty sleeping for a short time.",),
     {"ta": "epidural போட்ட பிறகு தூக்கம் வரலை, இது சாதாரணமா?", "hi": "एपिड्यूरल के बाद नींद नहीं आ रही, क्या यह होता है?",
      "ta-Latn": "epidural apram thookam varala, normal ah?", "hi-Latn": "epidural ke baad neend nahi aa rahi, normal hai kya?"}),
    (("An epidural steroid injection places a steroid medicine and a local anaesthetic into the epidural space, "
      "which surrounds the nerves in your spine.",),
     {"ta": "epidural ஊசின்னா என்ன?", "hi": "एपिड्यूरल स्टेरॉयड इंजेक्शन क्या होता है?",
      "ta-Latn": "epidural injection na enna?", "hi-Latn": "epidural injection kya hota hai?"}),
    (("Facet joints are small joints at the back of the spine that link one vertebra to the next.",),
     {"ta": "facet மூட்டுன்னா என்ன?", "hi": "फैसेट जोड़ क्या होते हैं?",
      "ta-Latn": "facet joint na enna?", "hi-Latn": "facet joint kya hote hain?"}),
    (DIARY,
     {"ta": "வலி டைரி ஏன் எழுதணும்?", "hi": "पेन डायरी क्यों लिखनी है?",
      "ta-Latn": "pain diary yen ezhuthanum?", "hi-Latn": "pain diary kyun likhni hai?"}),
    (("It is often used for long-standing knee pain from arthritis, or for pain that continues after knee surgery.",
      "The genicular nerves are small sensory nerves that carry pain signals from the knee joint.",
      "A genicular nerve block places a local anaesthetic, sometimes with a steroid, next to these nerves."),
     {"ta": "முழங்கால் வலிக்கு nerve block உதவுமா?", "hi": "घुटने के पुराने दर्द के लिए कौन सा इंजेक्शन है?",
      "ta-Latn": "muttu vali ku nerve block help pannuma?", "hi-Latn": "ghutne ke dard ke liye nerve block kaam karta hai?"}),
    (("It is used for occipital neuralgia and for some types of headache and migraine.",
      "An occipital nerve block places a local anaesthetic, often with a steroid, next to these nerves."),
     {"ta": "ஒற்றைத் தலைவலிக்கு ஊசி இருக்கா?", "hi": "माइग्रेन के लिए कोई इंजेक्शन है?",
      "ta-Latn": "migraine ku oosi irukka?", "hi-Latn": "migraine ke liye injection hai kya?"}),
    (("The back of your head and scalp may feel numb as the local anaesthetic takes effect.",),
     {"ta": "தலையின் பின்பக்கம் மரத்துப் போகுமா?", "hi": "सिर का पिछला हिस्सा सुन्न हो जाएगा क्या?",
      "ta-Latn": "thalai pinnadi maraththu pogumaa?", "hi-Latn": "sir ka pichla hissa sunn hoga kya?"}),
    (("You can wash your hair the day after the procedure.",
      "- Do wait until the day after the procedure to shower, and remove the small dressing at that time."),
     {"ta": "தலைக்கு எப்போ குளிக்கலாம்?", "hi": "बाल कब धो सकते हैं?",
      "ta-Latn": "thalaikku eppo kulikkalaam?", "hi-Latn": "baal kab dho sakte hain?"}),
    (("When a steroid is used, a small patch of thinning skin or hair loss can occur at the injection site.",),
     {"ta": "ஊசி போட்ட இடத்துல முடி கொட்டுமா?", "hi": "इंजेक्शन की जगह बाल झड़ सकते हैं क्या?",
      "ta-Latn": "oosi potta idathula mudi kottuma?", "hi-Latn": "injection ki jagah baal jhad sakte hain kya?"}),
    (("The nerves can grow back over time, so the pain may return and the procedure may need to be repeated.",),
     {"ta": "RFA பண்ணின பிறகு வலி திரும்ப வருமா?", "hi": "आरएफए के बाद दर्द वापस आ सकता है?",
      "ta-Latn": "rfa apram vali thirumba varuma?", "hi-Latn": "rfa ke baad dard wapas aa sakta hai kya?"}),
    (("It can take a few weeks before you feel the full benefit.",),
     {"ta": "RFA முழு பலன் தெரிய எத்தனை வாரம் ஆகும்?", "hi": "आरएफए का पूरा फायदा कब तक दिखेगा?",
      "ta-Latn": "rfa full benefit theriya evlo week aagum?", "hi-Latn": "rfa ka pura fayda kab tak dikhega?"}),
    (("The treated area is often sore for a week or two, and some people notice a sunburn-like feeling over the "
      "skin.", "Some people have a patch of numb or unusually sensitive skin over the treated area for a while."),
     {"ta": "RFA க்கு அப்புறம் தோல் எரிச்சல் இருக்குமா?", "hi": "आरएफए के बाद त्वचा पर जलन होगी क्या?",
      "ta-Latn": "rfa apram skin erichal irukkuma?", "hi-Latn": "rfa ke baad skin pe jalan hogi kya?"}),
    (("The sacroiliac joints connect the base of your spine, called the sacrum, to your pelvis on each side.",),
     {"ta": "sacroiliac மூட்டு எங்க இருக்கு?", "hi": "सैक्रोइलियक जोड़ कहाँ होता है?",
      "ta-Latn": "si joint enga irukku?", "hi-Latn": "si joint kahan hota hai?"}),
    (("The trial usually lasts several days, and the clinic team will tell you how long yours will be.",),
     {"ta": "stimulator trial எத்தனை நாள் நடக்கும்?", "hi": "स्टिमुलेटर ट्रायल कितने दिन चलता है?",
      "ta-Latn": "stimulator trial evlo naal?", "hi-Latn": "stimulator trial kitne din ka hota hai?"}),
    (("Keep the dressing clean and dry, and do not shower while the trial leads are in place.",
      "- Don't shower or drive while spinal cord stimulator trial leads are in place; the team will give you "
      "separate advice for the trial."),
     {"ta": "stimulator trial நடக்கும்போது குளிக்கலாமா?", "hi": "स्टिमुलेटर ट्रायल के दौरान नहा सकते हैं?",
      "ta-Latn": "trial leads irukkum bothu kulikkalaama?", "hi-Latn": "trial ke dauran naha sakte hain kya?"}),
    (("It is common to notice a droopy eyelid, a red eye, a blocked nose or a hoarse voice on the side of the "
      "injection.",),
     {"ta": "கழுத்துல ஊசி போட்ட பிறகு கண் இமை தொங்குமா?", "hi": "गर्दन के इंजेक्शन के बाद आँख की पलक झुक जाती है क्या?",
      "ta-Latn": "kazhuthu oosi apram kan imai thonguma?", "hi-Latn": "gardan ke injection ke baad palak jhuk jaati hai kya?"}),
    (("Wait until any hoarseness or difficulty swallowing has passed before you eat or drink.",
      "Then start with small sips of water before you try food."),
     {"ta": "stellate ganglion block அப்புறம் எப்போ சாப்பிடலாம்?", "hi": "स्टेलेट गैंग्लियन ब्लॉक के बाद कब खाना खा सकते हैं?",
      "ta-Latn": "sgb apram eppo saapdalaam?", "hi-Latn": "sgb ke baad khana kab kha sakte hain?"}),
    (("A trigger point is a tight, tender knot in a muscle that can cause pain in the area and sometimes in other "
      "parts of the body.",),
     {"ta": "trigger point ன்னா என்ன?", "hi": "ट्रिगर पॉइंट क्या होता है?",
      "ta-Latn": "trigger point na enna?", "hi-Latn": "trigger point kya hota hai?"}),
    (("When trigger points near the chest wall are treated, there is a rare risk that the needle may affect the "
      "lung.",),
     {"ta": "நெஞ்சு பக்கத்துல ஊசி போட்டா நுரையீரல் பாதிக்குமா?", "hi": "छाती के पास इंजेक्शन से फेफड़े को खतरा है क्या?",
      "ta-Latn": "nenju pakkathula oosi pota lungs ku problem varuma?",
      "hi-Latn": "chhati ke paas injection se lungs ko khatra hai kya?"}),
    (("Several trigger points can be treated in one visit.",
      "More than one level, and both sides, may be treated in the same session."),
     {"ta": "ஒரே தடவையில எத்தனை இடத்துல ஊசி போடுவாங்க?", "hi": "एक बार में कितनी जगह इंजेक्शन लग सकता है?",
      "ta-Latn": "ore visit la evlo idathula oosi poduvaanga?", "hi-Latn": "ek visit mein kitni jagah injection lagate hain?"}),
]

# Not in the pages (cost, logistics, other treatments, off-topic); (near_miss, {form: question}).
UNANSWERABLE: list[tuple[bool, dict[str, str]]] = [
    (False, {"ta": "இந்த ஊசிக்கு எவ்வளவு செலவாகும்?", "hi": "इस इंजेक्शन का खर्चा कितना है?",
             "ta-Latn": "intha oosi ku evlo selavu aagum?", "hi-Latn": "is injection ka kharcha kitna hai?"}),
    (False, {"ta": "இன்சூரன்ஸ்ல கவர் ஆகுமா?", "hi": "क्या इंश्योरेंस में कवर होता है?",
             "ta-Latn": "insurance la cover aaguma?", "hi-Latn": "insurance mein cover hota hai kya?"}),
    (False, {"ta": "ஞாயிற்றுக்கிழமை கிளினிக் திறந்திருக்குமா?", "hi": "क्या रविवार को क्लिनिक खुला रहता है?",
             "ta-Latn": "sunday clinic thirandhu irukkuma?", "hi-Latn": "sunday ko clinic khula hai kya?"}),
    (False, {"ta": "கார் பார்க்கிங் வசதி இருக்கா?", "hi": "पार्किंग की सुविधा है?",
             "ta-Latn": "car parking vasathi irukka?", "hi-Latn": "parking ki suvidha hai kya?"}),
    (False, {"ta": "டாக்டர் பேர் என்ன?", "hi": "डॉक्टर का नाम क्या है?",
             "ta-Latn": "doctor peru enna?", "hi-Latn": "doctor ka naam kya hai?"}),
    (True, {"ta": "முழங்கால் மாற்று ஆபரேஷன் பண்ணுவீங்களா?", "hi": "क्या आप घुटना बदलने का ऑपरेशन करते हैं?",
            "ta-Latn": "knee replacement operation pannuveengala?", "hi-Latn": "knee replacement operation karte ho kya?"}),
    (False, {"ta": "ஆயுர்வேத சிகிச்சை கொடுப்பீங்களா?", "hi": "क्या आप आयुर्वेदिक इलाज करते हैं?",
             "ta-Latn": "ayurveda treatment kudupeengala?", "hi-Latn": "ayurvedic ilaaj karte ho kya?"}),
    (False, {"ta": "எடை குறைக்க என்ன சாப்பிடணும்?", "hi": "वजन कम करने के लिए क्या खाऊँ?",
             "ta-Latn": "weight kuraiya enna saapdanum?", "hi-Latn": "wajan kam karne ke liye kya khaun?"}),
    (False, {"ta": "ஆன்லைன்ல அப்பாயின்ட்மென்ட் எப்படி புக் பண்றது?", "hi": "ऑनलाइन अपॉइंटमेंट कैसे बुक करें?",
             "ta-Latn": "online appointment eppadi book panrathu?", "hi-Latn": "online appointment kaise book kare?"}),
    (False, {"ta": "MRI ஸ்கேன் எடுக்க எவ்வளவு ஆகும்?", "hi": "एमआरआई स्कैन कितने का है?",
             "ta-Latn": "mri scan ku evlo aagum?", "hi-Latn": "mri scan kitne ka hai?"}),
    (False, {"ta": "இன்னிக்கு மழை வருமா?", "hi": "आज मैच कौन जीतेगा?",
             "ta-Latn": "innikku mazhai varuma?", "hi-Latn": "aaj match kaun jeetega?"}),
    (True, {"ta": "குழந்தைகளுக்கு இந்த ஊசி போடலாமா?", "hi": "क्या बच्चों को यह इंजेक्शन लग सकता है?",
            "ta-Latn": "kozhandhaigalukku intha oosi podalaama?", "hi-Latn": "bachchon ko ye injection lag sakta hai kya?"}),
]


def _locate(pages: list, sentence: str, cache: dict) -> dict[str, tuple[int, int]]:
    """Every page where ``sentence`` occurs exactly once at sentence boundaries -> its span."""
    found: dict[str, tuple[int, int]] = {}
    for page in pages:
        if page.text.count(sentence) != 1:
            continue
        s = page.text.find(sentence)
        e = s + len(sentence)
        if page.doc_id not in cache:
            spans = sentence_spans(page.text)
            cache[page.doc_id] = ({sp.start for sp in spans}, {sp.end for sp in spans})
        starts, ends = cache[page.doc_id]
        if s in starts and e in ends:
            found[page.doc_id] = (s, e)
    return found


def build(pages: list, safety: object | None = None) -> list[dict]:
    problems: list[str] = []
    cache: dict = {}
    records: list[dict] = []
    seen: set[str] = set()
    items = [(i, True, golds, forms, False) for i, (golds, forms) in enumerate(ANSWERABLE, 1)]
    items += [(1000 + i, False, (), forms, near) for i, (near, forms) in enumerate(UNANSWERABLE, 1)]
    for number, answerable, golds, forms, near in items:
        by_doc: dict[str, list[list[int]]] = {}
        primary: tuple[str, tuple[int, int], str] | None = None
        for sentence in golds:
            where = _locate(pages, sentence, cache)
            if not where:
                problems.append(f"intent {number}: gold sentence on no page: {sentence[:80]!r}")
            for doc_id, span in where.items():
                by_doc.setdefault(doc_id, []).append(list(span))
                if primary is None:
                    primary = (doc_id, span, sentence)
        if set(forms) != set(FORMS):
            problems.append(f"intent {number}: forms {sorted(forms)} (need {', '.join(FORMS)})")
        for form in FORMS:
            q = forms.get(form, "")
            if q in seen:
                problems.append(f"intent {number} {form}: duplicate question {q!r}")
            seen.add(q)
            if detect_script(q) is not FORM_SCRIPT[form]:
                problems.append(f"intent {number} {form}: {q!r} is {detect_script(q)}, not {FORM_SCRIPT[form]}")
            if safety is not None:
                verdict = safety.check(q)  # type: ignore[attr-defined]
                if verdict is not None and verdict.action != "answer":
                    problems.append(f"intent {number} {form}: the safety rules {verdict.action} {q!r}")
            records.append({
                "id": f"ml-{form}-{number:04d}", "question": q, "answerable": answerable,
                "doc_id": primary[0] if primary else None,
                "gold_doc_ids": sorted(by_doc, key=lambda d: (d != (primary[0] if primary else ""), d)),
                "answer_spans": [list(primary[1])] if primary else [],
                "gold_spans_by_doc": {d: sorted(v) for d, v in sorted(by_doc.items())},
                "answer_text": primary[2] if primary else "",
                "qtype": "multilingual", "form": form, "language": form.split("-")[0],
                "intent": f"intent-{number:04d}", "near_miss": near,
            })
    for form in FORMS:
        n_ans = sum(r["answerable"] for r in records if r["form"] == form)
        n_un = sum(not r["answerable"] for r in records if r["form"] == form)
        if n_ans < MIN_ANSWERABLE or n_un < MIN_UNANSWERABLE:
            problems.append(f"{form}: {n_ans} answerable / {n_un} unanswerable (need {MIN_ANSWERABLE} / "
                            f"{MIN_UNANSWERABLE})")
    if problems:
        raise SystemExit("make_questions: nothing written:\n  " + "\n  ".join(problems))
    return records


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=REPO / "corpus")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "questions.jsonl")
    ap.add_argument("--no-safety-check", action="store_true")
    a = ap.parse_args(argv)
    pages = list(load_corpus(a.corpus, strict=True).pages)
    safety = None
    if not a.no_safety_check:
        from qa.safety import load_checker
        safety = load_checker()
    records = build(pages, safety)
    with open(a.out, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    counts = Counter((r["form"], r["answerable"]) for r in records)
    for form in FORMS:
        print(f"{form:8} answerable {counts[(form, True)]:3}  unanswerable {counts[(form, False)]:3}")
    print(f"wrote {len(records)} questions to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
