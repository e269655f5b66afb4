"""tokenize_ptb must equal pycocoevalcap's Java PTBTokenizer (CoreNLP 3.4.1) token for token.

The expected outputs in data/ptb_cases.json were produced by the real jar through pycocoevalcap;
regenerate them with `python tests/metrics/test_ptb_tokenizer.py --regenerate` (needs Java).
One test also runs the jar live when `java` is on PATH.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
from pathlib import Path

import pytest

from mmbench.errors import MMBenchError
from mmbench.metrics import tokenize_ptb
from mmbench.metrics.ptb_tokenizer import PUNCTUATIONS, tokenized_lines

DATA = Path(__file__).parent / "data" / "ptb_cases.json"

# Hand-written caption-like sentences covering the tokenizer's corner cases.
SENTENCES = [
    "A man riding a wave on top of a surfboard.",
    "A man riding a wave on top of a surfboard .",
    "a dog runs through the grass",
    "Two dogs play in the snow.  ",
    "  Leading spaces and   multiple    spaces inside .",
    "Tabs\tbetween\twords\there.",
    "The dog's ball isn't red; it's blue!",
    "Dogs' toys and James's car aren't here.",
    "I can't, won't, don't, shouldn't and couldn't do it.",
    "They're happy, we've gone, I'd say, you'll see, I'm fine.",
    "WE'RE SHOUTING AND CAN'T STOP!",
    'He said "hello" to me.',
    '"Quoted at the start," she said.',
    "'Single quoted' text and 'another one'.",
    "It's a `weird' quote and ``latex'' style.",
    "Curly “double” and ‘single’ quotes’ here.",
    "French «guillemets» and ‹single› ones.",
    "Low „German“ quotes and ‚single‘ ones.",
    "A 3,000-pound car costs $45,000.50 today.",
    "Numbers: 1,234,567 and 3.14159 and .5 and 0.25 and -7 and +3.",
    "Scores 10-7 and 2-1, times 5:30 and 10:45pm, 7am.",
    "It is 50% off, 100 % guaranteed, 3.5% interest.",
    "He was born in 1990; the '90s were fun and so were the 1980s.",
    "The 1st, 2nd, 3rd and 4th places.",
    "Call (650) 723-4567 or 650-723-4567 or +1 650 723 4567 now.",
    "Mix 1/2 cup and 3/4 teaspoon, or ½ cup and ¾ spoon, plus ⅓ and ⅔.",
    "It weighs 5 7/8 pounds and 2 1/2 kilos.",
    "Prices: £5, €10, ¥300, ¢50, $5, US$5, A$10, C$ 3 and ₹100.",
    "Mr. Smith met Dr. Jones and Mrs. Brown at St. Paul's.",
    "Mr Smith met Dr Jones without periods.",
    "The U.S. flag. The U.S. Army. In the U.S.",
    "Washington D.C. is the capital.",
    "A man in Washington D.C.",
    "The U.S.A. team won.",
    "She has a Ph.D. in physics.",
    "J. R. R. Tolkien wrote books.",
    "He lives on Main St. near 5th Ave. in N.Y.",
    "It happened on Jan. 5 and Sept. 10, or Feb 3.",
    "e.g. this, i.e. that, etc. and so on, vs. them.",
    "Meet at 5 p.m. or 10 a.m. tomorrow.",
    "Apples, oranges, etc.",
    "Apples, oranges, etc. Then more.",
    "Apple Inc. and Microsoft Corp. and Foo Ltd. and Bar Co.",
    "No. 5 is the number.",
    "Wait... what?! Really?? Yes!!! No!?",
    "An ellipsis . . . with spaces.",
    "Another ellipsis…unicode and … spaced.",
    "Four dots.... and two dots.. here.",
    "A well-known 3-year-old child plays.",
    "A long--dash and a longer---dash and em—dash and en–dash.",
    "A - hyphen spaced and -- double spaced.",
    "Self-driving, e-mail, x-ray, T-shirt, non-stop.",
    "A dog (brown) jumps [high] over {the} fence.",
    "(Parenthetical at start) and (end).",
    "Use and/or but not either/or; 24/7 and 9/11.",
    "A/B testing and w/ and w/o sugar.",
    "Back\\slash and pipe | and tilde ~ and caret ^ here.",
    "Asterisks *bold* and **double** and * alone.",
    "Hash #tag and @mention and user_name here.",
    "Emoticons :) :-) ;) :( :D <3 and :P here.",
    "AT&T and Q&A and R&B and Tom & Jerry.",
    "Entities &amp; &lt;tag&gt; &quot;quoted&quot; &apos;s &nbsp; &#39; here.",
    'HTML <b>bold</b> and <br/> and <a href="x">link</a> tags.',
    "Visit http://www.example.com/path?q=1&r=2 or https://x.org.",
    "Go to www.example.com or example.org today.",
    "Email me at john.doe@example.com please.",
    "Files photo.jpg and data.tar.gz and C++ and C# and .NET.",
    "Café, naïve, résumé, façade, jalapeño, Ångström.",
    "Straße and Größe and Übermensch.",
    "Greek ΑΒΓ αβγ ΟΔΟΣ and Cyrillic Москва привет.",
    "Arabic مرحبا and Hebrew שלום here.",
    "Hindi नमस्ते and Thai สวัสดี here.",
    "Chinese 你好世界 and Japanese こんにちは and カタカナ.",
    "Korean 안녕하세요 here.",
    "Emoji 😀 and 👍🏽 and 🇺🇸 and ❤️ and ☺ here.",
    "A dog 🐶 runs.",
    "Symbols © ® ™ § ¶ ° ± × ÷ • · ‰ † ‡ here.",
    "Math ∑ ∞ ≤ ≥ ≠ √ ∫ and → ← arrows.",
    "Superscripts x² and H₂O and 10³.",
    "Temperature 25°C and 77°F.",
    "Roman numerals II, IV, XII and King Henry VIII.",
    "Soft\xadhyphen in a word.",
    "Zero\u200bwidth space here.",
    "Non breaking space here.",
    "Thin space here.",
    "Ideographic\u3000space here.",
    "Em space here.",
    "Byte order mark \ufeffhere.",
    "Control chars  and  here.",
    "CP1252 chars and  and  and  here.",
    "Inverted ¿question? and ¡exclamation!",
    "Primes 5′ 10″ tall.",
    "Ratio 3:1 and 16:9 screens.",
    'A man holding a sign that says "STOP".',
    "A sign reads 'No Parking'.",
    'The sign says: "Welcome to N.Y.C."',
    'He yelled "Go!" and left.',
    '"Is it?" she asked.',
    "She said, 'it's fine.'",
    "Rock 'n' roll and rock'n'roll music.",
    "O'Brien and O'Neil and D'Angelo.",
    "Y'all and ma'am and 'tis and 'twas.",
    "The dogs are gonna run and wanna play, gotta go, lemme see, gimme that.",
    "I cannot do it and Cannot either.",
    "More'n enough and d'ye know.",
    "Hyphenated-Words-Everywhere-In-A-Row.",
    "ALL CAPS SENTENCE WITH NUMBERS 123.",
    "mIxEd CaSe SeNtEnCe.",
    "Trailing period at the end.",
    "Question at the end?",
    "Exclamation at the end!",
    "Ends with comma,",
    "Ends with semicolon;",
    "Ends with colon:",
    "Ends with dash -",
    "Ends with ellipsis...",
    'Ends with quote"',
    "Ends with close paren)",
    "Ends with abbreviation etc.",
    "Ends with Mr.",
    "Ends with U.S.",
    "Ends with a.m.",
    ".",
    "...",
    "!!!",
    "?",
    '"',
    "'",
    "-",
    "--",
    ",",
    "()",
    "[]",
    "{}",
    "&",
    "%",
    "$",
    "#",
    "@",
    "*",
    "/",
    "\\",
    "|",
    "~",
    "^",
    "_",
    "+",
    "=",
    "<",
    ">",
    "A",
    "a",
    "1",
    "I",
    "x.",
    "A.",
    "Jan.",
    "12:00",
    "3.",
    "$.",
    ".5",
    "1.",
    "2,",
    "a.b.c.",
    "A.B.C.",
    "U.S.-based company.",
    "Gov. Brown and Sen. Smith and Rep. Jones and Gen. Lee and Col. Mustard.",
    "Calif. and Mass. and Ill. and Tex. and Fla. states.",
    "Fig. 3 and Figs. 4 and Vol. 2 and pp. 10-12.",
    "The man vs. the machine.",
    "A dog, a cat, and a bird.",
    "A dog; a cat: a bird.",
    '"A dog," "a cat," and "a bird."',
    "A dog's, a cat's and birds' toys.",
    "The '60s and the 60's and 1960's.",
    "$100M and 5M and 3B dollars.",
    "5km and 10 km and 3kg and 2.5kg and 100m.",
    "6ft tall and 5'10\" tall and 6' tall.",
    "#1 fan and No.1 and #hashtag.",
    "A+ grade and B- grade.",
    "Co-op and re-enter and pre-/post-war.",
    "Wi-Fi and Wi Fi and WiFi.",
    "iPhone and eBay and McDonald's.",
    "It's 5 o'clock somewhere.",
    "Y2K and 3D and 4K and MP3.",
    "A 1.5-liter bottle and a 10-year-old girl.",
    "Two men --- one tall, one short --- walk.",
    "A woman(in red) walks.",
    "A woman (in red)walks.",
    "A dog.A cat.",
    "A dog,a cat.",
    "A dog!A cat?A bird.",
    "Sentence one. Sentence two.",
    "Sentence one.Sentence two.",
    "A man with a hat.",
    "a man with a hat",
    "A MAN WITH A HAT",
    "   ",
    "   A man with spaces around.   ",
    'A "quoted" word in the middle.',
    'Say "hi".',
    "Say 'hi'.",
    "Say `hi'.",
    (
        "A caption with a very long sequence of words that goes on and on and on and on "
        "and on and on and on and on and on and on and on and on and on and on and on "
        "and on and on and on and on and on and on and on and on and on and on and on "
        "and on and on and on to test long inputs."
    ),
]

# Captions that end with an abbreviation or initial: how its period is tokenised depends on the
# first character of the *next* caption in the same tokenizer call.
CONTEXT_BATCHES = [
    ["A sign with the letter A.", "A dog runs."],
    ["A sign with the letter A.", "a dog runs."],
    ["A shirt with No.", "1 on it"],
    ["A shirt with No.", "One on it"],
    ["See Fig.", "12"],
    ["A man in Washington D.C.", "A dog runs."],
    ["A man in Washington D.C.", "a dog runs."],
    ["A boy stands in an R.V.", "Two dogs."],
    ["He works for the U.S.", "", "Another caption."],
    ["Ends with etc.", "Then more."],
    ["Visit the U.K.", "(a note)", "U.S. flag"],
    ["Only one caption in D.C."],
    ["Last caption in the call ends with U.S."],
    ["Mr.", "Mr.", "mr."],
]


def _words(text: str, separator: str | None = None) -> list[str]:
    return text.split(separator)


_PIECES = _words(
    "a A dog Dog U.S. Mr. etc. e.g. p.m. D.C. 's n't ' \" ` `` '' ( ) [ ] { } < > <b> </b> & &amp; "
    "&lt; &quot; . .. ... . . . … , ; : ! ? ?! - -- --- — – / \\ * 1 12 1,000 3.5 .5 1/2 ½ $ $5 £ "
    "€ % # @ ~ ^ _ + = | can't cannot gonna wanna 'tis y'all o'clock http://x.com/a?b=1 a@b.com "
    ":) :-) <3 café ΟΔΟΣ Москва 日本語 😀 👍🏽 © ° ™ \u00ad \u200b \u00a0 \t \x85 \x93 \x94 "
    "“ ” ‘ ’ « » Inc. Jan. No. St. vs. A. I. x. Ph.D. 3rd '90s 5:30 10-7 24/7 and/or "
    "well-known C++ .NET",
    " ",
)


# Tokens that may span several space-separated fragments (phone numbers, fractions, ellipses).
_NUMBER_PIECES = _words(
    "1 2 19 650 723 4567 (650) 723-4567 1/2 7/8 3/4 5 ½ . .. ... : , - 10 100 1,000 A"
)
REGRESSIONS = [
    "11990s Calif., can't Москва}&lt;&quot;«",
    "11990s ",
    "∞Corp. y'all naïve&lt;:-) &amp;",
    "A crowd of people remember the Armenian genocide from 1915 to 1923 .",
    "Call (650) 723 4567 or 650 723 4567 now, mix 5 7/8 and 2 1/2 cups. . . then 19 1/2",
]


def generated_sentences(n: int = 300, seed: int = 0, pieces: list[str] = _PIECES) -> list[str]:
    """Deterministic random mixes of tricky pieces, glued with and without spaces."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(0, 12)):
            parts.append(rng.choice(pieces))
            parts.append(rng.choice(["", " ", " ", " ", "  "]))
        out.append("".join(parts))
    return out


def _batches() -> list[list[str]]:
    numbers = generated_sentences(150, seed=3, pieces=_NUMBER_PIECES)
    return [SENTENCES, generated_sentences(), numbers, REGRESSIONS, *CONTEXT_BATCHES]


def java_tokenized(captions: list[str]) -> list[str]:
    """pycocoevalcap's PTBTokenizer (the real jar) on captions of one call, in order."""
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    out = PTBTokenizer().tokenize({i: [{"caption": c}] for i, c in enumerate(captions)})
    return [out[i][0] for i in range(len(captions))]


def _cases() -> list[dict]:
    return json.loads(DATA.read_text(encoding="utf-8"))["batches"]


def test_fixture_covers_the_corpus():
    batches = _cases()
    assert [b["captions"] for b in batches] == _batches()
    assert sum(len(b["captions"]) for b in batches) >= 500


@pytest.mark.parametrize("index", range(len(_batches())))
def test_matches_java_tokenizer_fixture(index):
    from mmbench.metrics.ptb_tokenizer import clear_cache

    batch = _cases()[index]
    clear_cache()
    assert tokenized_lines(batch["captions"]) == batch["expected"]  # cold: fragments scanned
    assert tokenized_lines(batch["captions"]) == batch["expected"]  # warm: from the caches


def test_token_lists_are_the_strings_split():
    batch = _cases()[0]
    tokens = tokenize_ptb(batch["captions"])
    for toks, line in zip(tokens, batch["expected"], strict=True):
        assert toks == [w for w in line.split(" ") if w]
        assert not PUNCTUATIONS.intersection(toks)


@pytest.mark.skipif(shutil.which("java") is None, reason="java not on PATH")
def test_matches_live_java_tokenizer():
    from mmbench.metrics.ptb_tokenizer import clear_cache

    clear_cache()  # scan every fragment afresh, many per scanner call
    captions = generated_sentences(200, seed=1) + SENTENCES[:50]
    captions += generated_sentences(100, seed=4, pieces=_NUMBER_PIECES)
    random.Random(2).shuffle(captions)
    assert tokenized_lines(captions) == java_tokenized(captions)


def test_known_conventions():
    lines = tokenized_lines(
        [
            'A man (in a hat) says "hello" to the dog\'s owner.',
            "He can't stop; I'm sure they're gonna win!!!",
            "3,000 people paid $4.50 for 1.5 kg... of ½ cup",
            "Café naïve 日本語 😀 emoji & AT&T and/or well-known",
            "A   caption with    spaces .",
        ]
    )
    assert lines == [
        "a man -lrb- in a hat -rrb- says hello to the dog 's owner",
        "he ca n't stop i 'm sure they 're gon na win !!!",
        "3,000 people paid $ 4.50 for 1.5 kg of 1/2 cup",
        "café naïve 日本語 emoji & at&t and/or well-known",
        "a caption with spaces",
    ]


def test_abbreviation_at_the_end_looks_at_the_next_caption():
    # Before an upper-case letter the initial's period is a sentence end (then dropped).
    assert tokenized_lines(["the letter A.", "A dog"]) == ["the letter a", "a dog"]
    assert tokenized_lines(["the letter A.", "a dog"]) == ["the letter a.", "a dog"]
    assert tokenized_lines(["shirt No.", "1 dog"]) == ["shirt no.", "1 dog"]
    assert tokenized_lines(["shirt No.", "a dog"]) == ["shirt no", "a dog"]
    # The last caption of a call is followed by the end of the input.
    assert tokenize_ptb(["the letter A."]) == [["the", "letter", "a."]]


def test_edge_cases():
    assert tokenize_ptb([]) == []
    assert tokenize_ptb([""]) == [[]]
    assert tokenize_ptb(["...", " ", "!?", "A dog."]) == [[], [], ["!?"], ["a", "dog"]]
    long = " ".join(["word"] * 5000) + "."
    assert tokenize_ptb([long]) == [["word"] * 5000]
    # emoji are deleted by the tokenizer; other astral characters survive inside tokens
    assert tokenize_ptb(["a 😀 dog", "x😀y"]) == [["a", "dog"], ["x", "y"]]


def test_line_breaks_inside_a_caption_do_not_shift_later_captions():
    # pycocoevalcap replaces "\n" by a space; other line terminators would make the Java tokenizer
    # emit extra lines and misalign every later caption. Here all of them act as spaces.
    captions = ["A dog\nruns.", "A cat\rsits.", "Two\u2028birds\u2029fly\x0bnow\x0c.", "End."]
    assert tokenize_ptb(captions) == [
        ["a", "dog", "runs"],
        ["a", "cat", "sits"],
        ["two", "birds", "fly", "now"],
        ["end"],
    ]


def test_cache_does_not_change_results():
    from mmbench.metrics.ptb_tokenizer import clear_cache

    captions = generated_sentences(100, seed=5)
    first = tokenized_lines(captions)
    assert tokenized_lines(captions) == first  # warm: fragments come from the cache
    clear_cache()
    assert tokenized_lines(captions) == first


def test_missing_jar_is_a_one_line_error(monkeypatch):
    from mmbench.metrics import _ptb_tables

    monkeypatch.setattr(_ptb_tables.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MMBenchError) as err:
        _ptb_tables.find_jar()
    assert "\n" not in str(err.value) and "pycocoevalcap" in str(err.value)


def regenerate() -> None:
    """Write data/ptb_cases.json from the real Java tokenizer (run this file with --regenerate)."""
    batches = [{"captions": b, "expected": java_tokenized(b)} for b in _batches()]
    payload = {
        "source": "pycocoevalcap 1.2 PTBTokenizer (stanford-corenlp-3.4.1.jar, -preserveLines "
        "-lowerCase) plus its PUNCTUATIONS filter; one tokenizer call per batch",
        "batches": batches,
    }
    DATA.write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {sum(len(b['captions']) for b in batches)} captions to {DATA}")


if __name__ == "__main__" and "--regenerate" in sys.argv:
    regenerate()
