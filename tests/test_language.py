from qa.language import Script, detect_script


def test_english_is_latin() -> None:
    assert detect_script("will my leg feel weak?") is Script.LATIN


def test_romanised_tamil_and_hindi_are_latin_script() -> None:
    assert detect_script("kaal kamzor aagumaa?") is Script.LATIN
    assert detect_script("injection ke baad sunnpan kab jayega?") is Script.LATIN


def test_tamil_script_with_vowel_signs() -> None:
    assert detect_script("நெஞ்சு வலி அதிகமா இருக்கு") is Script.TAMIL


def test_hindi_script() -> None:
    assert detect_script("इंजेक्शन के बाद पैर कमजोर लगेगा?") is Script.DEVANAGARI


def test_code_mixed_tamil_with_english_words_is_tamil() -> None:
    assert detect_script("injection போட்ட பிறகு கால் weak ஆகுமா?") is Script.TAMIL


def test_no_letters_is_other() -> None:
    assert detect_script("?? 123 !!") is Script.OTHER
    assert detect_script("") is Script.OTHER


def test_another_script_is_other() -> None:
    assert detect_script("足が弱くなりますか") is Script.OTHER
