"""MMMU's answer parsers and scorers, checked on cases traced by hand through the official
MMMU-Benchmark/MMMU eval/eval_utils.py rules (facts of its behaviour, not its code)."""

import random

import pytest

from mmbench.metrics.mmmu import (
    DISCIPLINE_OF,
    DISCIPLINES,
    eval_multi_choice,
    eval_open,
    gold_answer,
    multi_choice_info,
    normalize_str,
    parse_multi_choice_response,
    parse_open_response,
    subject_of,
)

OPTIONS = ["cat", "dog", "bird", "artery wall"]


def parse(response, seed=0):
    index2ans, letters = multi_choice_info(OPTIONS)
    return parse_multi_choice_response(response, letters, index2ans, random.Random(seed))


@pytest.mark.parametrize(
    ("response", "letter"),
    [
        ("(B)", "B"),
        ("B", "B"),
        ("B.", "B"),
        ("'B'", "B"),
        ("B.,", "B"),  # ',' is stripped first, then '.'
        ("The answer is (C), not (A).", "A"),  # two bracketed letters: the last one written
        ("(A) or (B)", "B"),
        ("A or B", "B"),  # two standalone letters: the last one
        ("A dog is shown in the image", "A"),  # a standalone article reads as option A
        ("I think the right answer must be the dog here", "B"),  # > 5 words: option text
        ("the cat chased the dog around the cat tree", "A"),  # texts: the one found last
    ],
)
def test_multi_choice_parser_reads_letters_and_texts(response, letter):
    parsed = parse(response)
    assert (parsed.letter, parsed.random_fallback) == (letter, False)


@pytest.mark.parametrize(
    "response",
    [
        "D. artery wall",  # "D." is neither "(D)" nor " D ", and 3 words are too few for texts
        "AB",
        "",
        "B,.",  # '.' is stripped after ',', leaving "B," which no rule reads
        "the dog",  # an option text, but only 2 words
    ],
)
def test_multi_choice_parser_falls_back_to_a_seeded_random_letter(response):
    for seed in (0, 1, 7):
        parsed = parse(response, seed)
        assert parsed.random_fallback
        assert parsed.letter == random.Random(seed).choice(["A", "B", "C", "D"])


def test_eval_multi_choice_compares_letters_exactly():
    assert eval_multi_choice("B", "B")
    assert not eval_multi_choice("B", "b")
    assert eval_multi_choice(["A", "C"], "C")
    assert not eval_multi_choice(["A", "C"], "B")


def test_normalize_str_numbers_and_short_text():
    assert normalize_str(" 1,234.567 ") == [1234.57]
    assert normalize_str("1e3") == [1000.0]
    assert normalize_str("Paris") == ["paris"]
    assert normalize_str("B") == [" b", "b "]


def test_open_parser_takes_the_shortest_tail_and_its_numbers():
    assert parse_open_response("The answer is 42.") == [42.0]
    assert parse_open_response("x is 5 so 7") == [7.0]  # "so " leaves the shorter tail
    preds = parse_open_response("so the total is 1,234 dollars")
    assert set(preds) == {"1,234 dollars", 1234.0, 234.0}
    # each line is a sub-response; "=" counts only in the last line
    assert set(parse_open_response("step one\nthus 3\nfinal 4")) == {3.0, 4.0}
    assert parse_open_response("a = 3\nb = 4") == [4.0]
    # no key phrase anywhere: the whole lower-cased response
    assert parse_open_response("Paris") == ["paris"]


def test_eval_open_numbers_texts_and_lists():
    assert eval_open("42", parse_open_response("The answer is 42."))
    assert eval_open("42.001", parse_open_response("The answer is 42."))  # 2 decimals
    assert not eval_open("41", parse_open_response("The answer is 42."))
    assert eval_open("1234", parse_open_response("so the total is 1,234 dollars"))
    assert eval_open("Paris", parse_open_response("It is paris."))
    assert eval_open("paris", parse_open_response("I would say Paris, France"))  # substring
    assert eval_open("B", parse_open_response("b"))
    assert not eval_open("B", parse_open_response("abc"))  # one letter must stand alone
    assert eval_open(["24/7", "3.429"], parse_open_response("3.429"))
    assert not eval_open("3", parse_open_response(""))


def test_gold_answer_reads_list_literals_only():
    assert gold_answer("['24/7', '3.429']") == ["24/7", "3.429"]
    assert gold_answer("B") == "B"
    assert gold_answer("[1, 2]") == "[1, 2]"
    assert gold_answer("[not python") == "[not python"


def test_subjects_and_disciplines():
    assert subject_of("validation_Art_Theory_12") == "Art_Theory"
    assert subject_of("dev_Math_3") == "Math"
    assert subject_of("no-id") is None
    assert DISCIPLINE_OF["Art_Theory"] == "Art and Design"
    assert DISCIPLINE_OF["Energy_and_Power"] == "Tech and Engineering"
    assert sum(len(s) for s in DISCIPLINES.values()) == 30


def test_equal_positions_go_to_the_first_option():
    """Option texts that end at different places but start at the same one tie on rfind; numpy's
    argmax then takes the first candidate in option order."""
    index2ans, letters = multi_choice_info(["cat", "cat food", "dog", "bird"])
    parsed = parse_multi_choice_response(
        "I would choose the cat food for sure", letters, index2ans, random.Random(0)
    )
    assert (parsed.letter, parsed.random_fallback) == ("A", False)
