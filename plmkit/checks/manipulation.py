"""Checkers of lab 05 (Part 3.2, knowledge manipulation)."""
from __future__ import annotations

import math
from typing import Callable

from .base import checker
from .knowledge import NAME, VALUES, person_sentences, split_sentences


def _number(got, what: str) -> float:
    assert isinstance(got, (float, int)) or hasattr(got, "item"), f"{what}: return a number, got {type(got).__name__}"
    return float(got)


# ----------------------------------------------------------------------------------------------
# Lab 05, exercise 1: chance and majority baselines of a classification task
# ----------------------------------------------------------------------------------------------
@checker("chance and majority baselines")
def task_baselines(fn: Callable) -> None:
    months = list(range(1, 13))
    cases = [  # (what, label, values, chance, majority)
        ("month parity", lambda m: "Yes" if m % 2 == 0 else "No", months, 1 / 2, 1 / 2),
        ("month mod 5", lambda m: str(m % 5), months, 1 / 5, 3 / 12),
        ("month in numerics", str, months, 1 / 12, 1 / 12),
        ("luckiness 0-99 mod 7", lambda v: str(v % 7), list(range(100)), 1 / 7, 15 / 100),
    ]
    for what, label, values, chance, majority in cases:
        got = fn(label, values)
        assert isinstance(got, tuple) and len(got) == 2, \
            f"{what}: return a pair (chance, majority), got {type(got).__name__} {got!r}"
        got_chance, got_majority = _number(got[0], what), _number(got[1], what)
        if math.isclose(got_chance, chance, abs_tol=1e-9) and math.isclose(got_majority, majority, abs_tol=1e-9):
            continue
        n_answers = len({label(v) for v in values})
        if math.isclose(got_chance, majority, abs_tol=1e-9) and math.isclose(got_majority, chance, abs_tol=1e-9):
            raise AssertionError(f"{what}: the two numbers are swapped; return (chance, majority)")
        if got_majority > 1:
            raise AssertionError(f"{what}: the majority baseline is a share of the values (between 0 and 1), "
                                 f"not a count; got {got_majority:g}")
        if not math.isclose(got_chance, chance, abs_tol=1e-9):
            if math.isclose(got_chance, 1 / len(values), abs_tol=1e-9):
                raise AssertionError(f"{what}: chance is a uniform guess over the {n_answers} possible *answers*, "
                                     f"not over the {len(values)} values of the attribute")
            raise AssertionError(f"{what}: chance = {got_chance:.4f}, expected 1 / (number of answers) = {chance:.4f}")
        counts = sorted((sum(label(v) == a for v in values) for a in {label(v) for v in values}))
        if math.isclose(got_majority, counts[0] / len(values), abs_tol=1e-9):
            raise AssertionError(f"{what}: that is the share of the *least* common answer; the majority baseline "
                                 "always gives the most common one")
        if math.isclose(got_majority, chance, abs_tol=1e-9):
            raise AssertionError(f"{what}: the answers are not equally common here (count how many values give "
                                 f"each answer); the majority baseline is {majority:.4f}, not the uniform {chance:.4f}")
        raise AssertionError(f"{what}: majority = {got_majority:.4f}, expected the share of the most common answer, "
                             f"{majority:.4f}")


# ----------------------------------------------------------------------------------------------
# Lab 05, exercise 2: what a hint predicts
# ----------------------------------------------------------------------------------------------
@checker("hint prediction")
def hint_prediction(fn: Callable) -> None:
    cases = [(0.91, 0.5, False, 0.955), (0.781, 1 / 12, True, 0.781 ** 2 + (1 - 0.781 ** 2) / 12),
             (1.0, 0.2, False, 1.0), (0.0, 0.2, False, 0.2), (0.5, 0.5, True, 0.25 + 0.75 * 0.5),
             (0.6, 0.2, False, 0.68)]
    for h, c, pair, expected in cases:
        got = _number(fn(h, c, pair), f"predicted_accuracy({h}, {c:.3f}, pair={pair})")
        if math.isclose(got, expected, abs_tol=1e-6):
            continue
        right = h * h if pair else h
        if pair and math.isclose(got, h + (1 - h) * c, abs_tol=1e-6):
            raise AssertionError("for a pair both hints must be right: with per-person hint accuracy h, the chance of "
                                 "that is h * h")
        if not pair and math.isclose(got, h * h + (1 - h * h) * c, abs_tol=1e-6):
            raise AssertionError("one person needs one hint: square h only for pairs")
        if math.isclose(got, right, abs_tol=1e-6):
            raise AssertionError("a wrong hint still leaves a chance guess: add (1 - P[hints right]) * chance")
        if math.isclose(got, right + c, abs_tol=1e-6):
            raise AssertionError("the chance guess only happens when a hint is wrong: add "
                                 "(1 - P[hints right]) * chance, not the whole chance")
        raise AssertionError(f"predicted_accuracy({h}, {c:.3f}, pair={pair}) = {got:.4f}, expected {expected:.4f}")


# ----------------------------------------------------------------------------------------------
# Lab 05, exercise 3: scoring an answer given with a hint
# ----------------------------------------------------------------------------------------------
@checker("hint scoring")
def hint_scoring(fn: Callable) -> None:
    pair_hint, pair_answer = "October; September", "Yes"
    cases = [  # (generated, hint, answer, expected (hint right, hint values right, answer right))
        ("October; September. Yes.", pair_hint, pair_answer, (True, 2, True)),
        ("October; May. No.", pair_hint, pair_answer, (False, 1, False)),
        ("September; October. Yes.", pair_hint, pair_answer, (False, 0, True)),
        ("May; June. Yes.", pair_hint, pair_answer, (False, 0, True)),
        ("October; September. Yes. No.", pair_hint, pair_answer, (True, 2, True)),
        ("Electrical Engineering. 3.", "Electrical Engineering", "3", (True, 1, True)),
        ("Music. 4.", "Electrical Engineering", "3", (False, 0, False)),
    ]
    for generated, hint, answer, expected in cases:
        got = fn(generated, hint, answer)
        assert isinstance(got, tuple) and len(got) == 3, \
            f"return (hint_right, values_right, answer_right), got {type(got).__name__} {got!r}"
        got = (bool(got[0]), int(got[1]), bool(got[2]))
        if got == expected:
            continue
        where = f"score_hinted({generated!r}, {hint!r}, {answer!r}) = {got}, expected {expected}"
        if generated.startswith("September; October") and (got[0] or got[1] == 2):
            raise AssertionError(f"{where}: a pair's hint is ordered, the first value is the first person's; "
                                 "'September; October' has both months in the wrong places")
        if got[2] != expected[2]:
            if expected[2] and not expected[0]:
                raise AssertionError(f"{where}: score the answer on its own, even after a wrong hint: those "
                                     "answers are the chance guesses of the prediction (1 - h) * c")
            if generated.endswith("No."):
                raise AssertionError(f"{where}: the answer ends at its first period; what comes after is not scored")
            raise AssertionError(f"{where}: the answer is the text between the hint's period and the next one")
        if got[1] != expected[1]:
            if got[1] in (0, 2) and expected[1] == 1 and "; " in hint:
                raise AssertionError(f"{where}: count each person's hint value on its own: 'October; May' has one of "
                                     "the two months right")
            raise AssertionError(f"{where}: values_right counts the hint's values (split at ';') that match, "
                                 "position by position")
        raise AssertionError(f"{where}: the hint is right only when it is exactly the expected hint")


# ----------------------------------------------------------------------------------------------
# Lab 05, exercise 4: the reversed-data fix
# ----------------------------------------------------------------------------------------------
@checker("reversed biography")
def reversed_bio(fn: Callable) -> None:
    pairs = list(zip(person_sentences("The person"), person_sentences("She")))
    text = fn(pairs, NAME)
    assert isinstance(text, str), f"reverse_bio should return one string, got {type(text).__name__}"
    assert text.count(NAME) == 1, f"state the full name exactly once, got {text.count(NAME)} times in {text!r}"
    name_at = text.index(NAME)
    for value in VALUES:
        assert value in text, f"the attribute value {value!r} is missing from {text!r}"
        assert text.index(value) < name_at, (f"{value!r} comes after the name: for inverse search every attribute "
                                             "must be stated before the name, so that the name is predicted from them")
    sentences = split_sentences(text)
    assert sentences[0].startswith("The person"), \
        f"the first sentence must refer to the person without the name ('The person ...'), got {sentences[0]!r}"
    assert all(s.startswith("She") for s in sentences[1:6]), \
        "sentences 2-6 should use the pronoun, as in the forward biographies"
    assert sentences[-1].endswith(f"{NAME}.") and len(sentences) == 7, \
        "end with one sentence that states the name, e.g. \"The person 's name is Anya Briar Forger.\""


# ----------------------------------------------------------------------------------------------
# Lab 05, exercise 5: the held-out baseline of inverse search
# ----------------------------------------------------------------------------------------------
@checker("inverse-search baseline")
def majority_name_baseline(fn: Callable) -> None:
    train = ["Anya", "Anya", "Anya", "Ben", "Cleo"]
    test = ["Ben", "Ben", "Ben", "Ben", "Anya", "Dan"]
    got = _number(fn(list(train), list(test)), "majority_first_name_accuracy(train, test)")
    expected = 1 / 6
    if not math.isclose(got, expected, abs_tol=1e-9):
        if math.isclose(got, 4 / 6, abs_tol=1e-9):
            raise AssertionError("the name was chosen on the test people: that leaks the test answers into the "
                                 "baseline; choose the most common name of the *training* people")
        if math.isclose(got, 3 / 5, abs_tol=1e-9):
            raise AssertionError("that is how often the name occurs among the training people; score it on the test "
                                 "people")
        if got >= 1 and float(got).is_integer():
            raise AssertionError(f"return a share of the test people (between 0 and 1), not a count; got {got:g}")
        if math.isclose(got, 1 / 3, abs_tol=1e-9) or math.isclose(got, 1 / 5, abs_tol=1e-9) \
                or math.isclose(got, 1 / 4, abs_tol=1e-9):
            raise AssertionError("that is 1 / (number of names), a uniform guess; the baseline always answers the most "
                                 "common training name and counts how many test people have it")
        raise AssertionError(f"majority_first_name_accuracy(train, test) = {got:.4f}, expected {expected:.4f}")
    again = _number(fn(["Eve", "Eve", "Ben"], ["Ben", "Ben"]), "majority_first_name_accuracy")
    assert math.isclose(again, 0.0, abs_tol=1e-9), \
        f"when no test person has the most common training name the baseline is 0, got {again:g}"
