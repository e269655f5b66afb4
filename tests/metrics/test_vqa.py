"""VQA accuracy and answer normalisation against the official vqaEval.py rules."""

from __future__ import annotations

import pytest

from mmbench.errors import MMBenchError
from mmbench.metrics import exact_match, normalize_vqa_answer, vqa_accuracy
from mmbench.metrics.vqa import process_digit_article, process_punctuation


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Two dogs.", "2 dogs"),  # number word -> digit, trailing period stripped
        ("a red car", "red car"),  # articles removed
        ("The answer is an apple", "answer is apple"),
        ("isnt", "isn't"),  # contractions restored ...
        ("isn't", "isn't"),  # ... and an apostrophe is not punctuation
        ("dont know", "don't know"),
        ("Yes", "yes"),
        ("none", "0"),
        ("ten", "10"),
        ("  yes\n", "yes"),  # whitespace and newlines
        ("yes\tsir", "yes sir"),
        ("3.5", "3.5"),  # a period before a digit stays
        ("U.S.A.", "usa"),
        ("1,000", "1000"),  # digit,digit: punctuation removed, not spaced
        ("red,blue", "red blue"),  # otherwise ',' becomes a space
        ("red, blue", "red blue"),  # ', ' present: ',' removed
        ("black/white", "black white"),
        ("t-shirt", "t shirt"),
        ("left!", "left"),
        ("what?", "what"),
        ("50%", "50%"),  # '%' is not in the script's punctuation list
        ("o'clock", "o'clock"),
        ("Im fine", "im fine"),  # the script's capitalised keys never match after lowercasing
    ],
)
def test_normalisation_follows_vqa_eval(raw, expected):
    assert normalize_vqa_answer(raw) == expected


def test_period_strip_quirks():
    # The regex strips periods not followed by a digit, at most 32 of them (re.UNICODE as count).
    assert process_punctuation("a.b") == "ab"
    assert process_punctuation("." * 40) == "." * 8
    assert process_punctuation("1.5.") == "1.5"


def test_digit_comma_digit_removes_all_punctuation():
    # With a digit,digit anywhere, every listed mark is deleted instead of becoming a space.
    assert process_punctuation("1,000 black/white") == "1000 blackwhite"
    assert process_punctuation("black/white") == "black white"


def test_process_digit_article_alone():
    assert process_digit_article("The Two CATS") == "2 cats"
    assert process_digit_article("an a the") == ""


@pytest.mark.parametrize(
    ("matching", "expected"),
    [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (10, 1.0)],
)
def test_leave_one_out_accuracy(matching, expected):
    # k of 10 annotators agree. k=3: 7 subsets keep all three (1.0), 3 keep two (2/3) -> 0.9.
    answers = [["cat"] * matching + ["dog"] * (10 - matching)]
    assert vqa_accuracy(["cat"], answers)["per_question"][0] == pytest.approx(expected)


def test_accuracy_matches_by_normalised_prediction():
    answers = [["2"] * 10, ["yes"] * 3 + ["no"] * 7, ["red car"] * 10]
    result = vqa_accuracy(["Two.", "Yes!", "a red car"], answers)
    assert result["per_question"] == pytest.approx([1.0, 0.9, 1.0])
    assert result["mean"] == pytest.approx((1.0 + 0.9 + 1.0) / 3)


def test_references_punctuation_processed_only_when_annotators_disagree():
    # Disagreeing references go through processPunctuation ("t-shirt" -> "t shirt") ...
    disagree = [["t-shirt"] * 5 + ["shirt"] * 5]
    assert vqa_accuracy(["t shirt"], disagree)["mean"] == 1.0
    # ... unanimous ones are used as given, so raw references do not match (official behaviour).
    unanimous = [["Yes"] * 10]
    assert vqa_accuracy(["yes"], unanimous)["mean"] == 0.0
    assert vqa_accuracy(["yes"], unanimous, normalize_references=True)["mean"] == 1.0


def test_fewer_than_ten_annotators():
    # Leave-one-out over the annotators there are: 3 answers, 2 match -> subsets 1/3, 1/3, 2/3.
    assert vqa_accuracy(["cat"], [["cat", "cat", "dog"]])["mean"] == pytest.approx(4 / 9)


def test_exact_match_modes():
    preds = ["The 2 dogs.", "B", " Paris "]
    targets = [["two dogs"], "b", ["paris", "london"]]
    assert exact_match(preds, targets)["per_question"] == [1.0, 1.0, 1.0]
    assert exact_match(preds, targets, normalize="lower")["per_question"] == [0.0, 1.0, 1.0]
    assert exact_match(preds, targets, normalize=None)["mean"] == 0.0


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: vqa_accuracy(["a"], [["a"], ["b"]]), "1 predictions but 2"),
        (lambda: vqa_accuracy(["a"], [["a"]]), "exact_match"),
        (lambda: vqa_accuracy(["a"], [[]]), "no reference"),
        (lambda: vqa_accuracy(["a"], ["abc"]), "list of strings"),
        (lambda: vqa_accuracy([None], [["a", "a"]]), "strings"),
        (lambda: exact_match(["a"], ["a"], normalize="upper"), "normalize"),
    ],
)
def test_user_errors(call, match):
    with pytest.raises(MMBenchError, match=match) as err:
        call()
    assert "\n" not in str(err.value)
