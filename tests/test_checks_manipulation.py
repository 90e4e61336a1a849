"""Lab 05's checkers: each passes the lab's own solution, fails its stub, and names plausible mistakes."""

import pytest

from plmkit import checks
from test_checks import exercise_cells

LAB = "05_manipulation"


def test_lab_has_two_exercises():
    assert len(list(exercise_cells(LAB))) == 2


# ---- exercise 1: the reversed biography ------------------------------------------------------------
def test_reversed_bio_checker_catches_the_name_first():
    wrong = lambda pairs, name: " ".join([f"The person 's name is {name}."] + [p for _, p in pairs])  # noqa: E731
    with pytest.raises(AssertionError, match="comes after the name"):
        checks.reversed_bio(wrong)


def test_reversed_bio_checker_catches_a_missing_name_sentence():
    wrong = lambda pairs, name: " ".join(a if k == 0 else b for k, (a, b) in enumerate(pairs))  # noqa: E731
    with pytest.raises(AssertionError, match="exactly once"):
        checks.reversed_bio(wrong)


def test_reversed_bio_checker_catches_the_name_repeated():
    def twice(pairs, name):
        sentences = [a if k == 0 else b for k, (a, b) in enumerate(pairs)]
        return " ".join(sentences + [f"The person 's name is {name}.", f"{name} is the person."])

    with pytest.raises(AssertionError, match="exactly once"):
        checks.reversed_bio(twice)


def test_reversed_bio_checker_catches_no_pronouns():
    wrong = lambda pairs, name: " ".join([a for a, _ in pairs] + [f"The person 's name is {name}."])  # noqa: E731
    with pytest.raises(AssertionError, match="pronoun"):
        checks.reversed_bio(wrong)


# ---- exercise 2: the hint prediction ---------------------------------------------------------------
def test_hint_prediction_checker_passes_the_formula():
    checks.hint_prediction(lambda h, c, pair=False: (h * h if pair else h) + (1 - (h * h if pair else h)) * c)


def test_hint_prediction_checker_catches_one_hint_for_a_pair():
    with pytest.raises(AssertionError, match="both hints"):
        checks.hint_prediction(lambda h, c, pair=False: h + (1 - h) * c)


def test_hint_prediction_checker_catches_no_chance_guess():
    with pytest.raises(AssertionError, match="chance guess"):
        checks.hint_prediction(lambda h, c, pair=False: h)


def test_hint_prediction_checker_catches_a_wrong_formula():
    with pytest.raises(AssertionError, match="expected"):
        checks.hint_prediction(lambda h, c, pair=False: h * (1 - c) + c * c)
