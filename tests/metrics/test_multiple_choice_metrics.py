"""Multiple-choice answer extraction, each case traced by hand through the reference rules:
VLMEvalKit's can_infer (MMBench, MMStar), MMBench's CircularEval, and lmms-eval's ScienceQA,
AI2D, SEED-Bench and RealWorldQA task code."""

import pytest

from mmbench.metrics.multiple_choice import (
    accuracy_breakdown,
    ai2d_filter,
    can_infer,
    can_infer_option,
    can_infer_text,
    circular_eval,
    lmms_exact_match,
    realworldqa_filter,
    scienceqa_correct,
    scienceqa_letter,
    seedbench_letter,
)

CHOICES = {"A": "cat", "B": "dog", "C": "bird", "D": "fish"}


@pytest.mark.parametrize(
    ("answer", "letter"),
    [
        ("B", "B"),
        ("(C)", "C"),
        ("The answer is A.", "A"),
        ("A cat", "A"),  # one letter word, even when it is an article
        ("**D**", "D"),
        ("A or B", None),  # two letters: undecided
        ("E", None),  # not an option
        ("b", None),  # letters are case-sensitive
        ("Sorry, I can't help with images of people yet.", "Z"),
        ("Z", "Z"),
        ("", None),
    ],
)
def test_can_infer_option(answer, letter):
    assert can_infer_option(answer, CHOICES) == letter


def test_can_infer_text_needs_exactly_one_option_text():
    assert can_infer_text("it is a Dog", CHOICES) == "B"
    assert can_infer_text("cat and dog", CHOICES) is None
    assert can_infer_text("nothing", CHOICES) is None


def test_can_infer_tries_letters_then_texts():
    assert can_infer("I choose dog", CHOICES) == "B"
    assert can_infer("A or B", CHOICES) is None  # neither rule decides: the judge's case
    assert can_infer("A or B, the dog", CHOICES) == "B"
    assert can_infer("a", CHOICES) is None


def test_circular_eval_needs_every_shift_right():
    groups = ["1", "1", "1", "2", "2", "3"]
    correct = [True, True, True, True, False, False]
    assert circular_eval(groups, correct) == {"1": True, "2": False, "3": False}


@pytest.mark.parametrize(
    ("prediction", "target", "correct", "letter"),
    [
        ("A", "A", True, "A"),
        ("B. dog", "B", True, "B"),
        ("B.", "B", True, "B"),
        ("A.", "B", False, "A"),
        ("C", "B", False, "C"),
        ("b", "B", False, None),
        ("The answer is B", "B", False, None),
        ("", "B", False, None),
    ],
)
def test_scienceqa_rule(prediction, target, correct, letter):
    assert scienceqa_correct(prediction, target) is correct
    assert scienceqa_letter(prediction, "ABCD") == letter


@pytest.mark.parametrize(
    ("prediction", "target", "correct"),
    [("A.", "A", True), ("(a)", "A", True), ("A. dog", "A", False), (" A", "A", False)],
)
def test_lmms_exact_match_ignores_case_and_punctuation_only(prediction, target, correct):
    assert lmms_exact_match(prediction, target) is correct


@pytest.mark.parametrize(
    ("prediction", "filtered"),
    [
        ("B. dog", "B"),
        ("  C.", "C"),
        ("(b)", "(b)"),
        ("b. dog", "b. dog"),
        ("The answer is B.", "The answer is B."),
    ],
)
def test_ai2d_filter_reads_a_leading_capital_and_period(prediction, filtered):
    assert ai2d_filter(prediction) == filtered


def test_seedbench_reads_the_first_character():
    assert seedbench_letter("B. dog") == "B"
    assert seedbench_letter("  C  ") == "C"
    assert seedbench_letter("The answer") == "T"
    assert seedbench_letter("") == ""


QUESTION = (
    "What color is the car?\nA. red\nB. blue\nC. light green\n"
    "Please answer directly with only the letter of the correct option and nothing else."
)


@pytest.mark.parametrize(
    ("prediction", "filtered"),
    [
        ("B", "B"),
        ("blue", "B"),
        ("Blue.", "Blue"),  # option texts are searched case-sensitively
        ("A. red", "A"),
        ("red or blue", "A"),  # the earliest option text in the answer
        ("light green!", "C"),
        ("Three", "3"),
    ],
)
def test_realworldqa_filters(prediction, filtered):
    assert realworldqa_filter(prediction, QUESTION) == filtered


def test_realworldqa_without_listed_options_keeps_the_cleaned_answer():
    assert realworldqa_filter("two", "How many cars are there?") == "2"
    # the number-word map reads the whole answer, so "Two." keeps its word
    assert realworldqa_filter("Two.", "How many cars are there?") == "Two"
    assert realworldqa_filter("4 cars.", "How many cars are there?") == "4 cars"


def test_accuracy_breakdown():
    assert accuracy_breakdown([1, 0, 1, 1], ["x", "y", "x", None]) == {
        "x": {"accuracy": 1.0, "n": 2},
        "y": {"accuracy": 0.0, "n": 1},
    }
