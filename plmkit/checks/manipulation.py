"""Checkers of lab 05 (Part 3.2, knowledge manipulation)."""
from __future__ import annotations

import math
from typing import Callable

from .base import checker
from .knowledge import NAME, VALUES, person_sentences, split_sentences


# ----------------------------------------------------------------------------------------------
# Lab 05, exercise 1: the reversed-data fix
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
# Lab 05, exercise 2: what a hint predicts
# ----------------------------------------------------------------------------------------------
@checker("hint prediction")
def hint_prediction(fn: Callable) -> None:
    cases = [(0.91, 0.5, False, 0.955), (0.781, 1 / 12, True, 0.781 ** 2 + (1 - 0.781 ** 2) / 12), (1.0, 0.2, False, 1.0),
             (0.0, 0.2, False, 0.2), (0.5, 0.5, True, 0.25 + 0.75 * 0.5)]
    for h, c, pair, expected in cases:
        got = fn(h, c, pair)
        assert isinstance(got, (float, int)) or hasattr(got, "item"), f"return a number, got {type(got).__name__}"
        got = float(got)
        if math.isclose(got, expected, abs_tol=1e-6):
            continue
        if pair and math.isclose(got, h + (1 - h) * c, abs_tol=1e-6):
            raise AssertionError("for a pair both hints must be right: the chance of that is h * h")
        if math.isclose(got, h, abs_tol=1e-6):
            raise AssertionError("a wrong hint still leaves a chance guess: add (1 - P[hints right]) * chance")
        raise AssertionError(f"predicted_accuracy({h}, {c:.3f}, pair={pair}) = {got:.4f}, expected {expected:.4f}")
