"""Lab 05's checkers: each passes the lab's own solution, fails its stub, and names plausible mistakes."""
import contextlib
import io

import pytest

from plmkit import checks, labs

LAB = "05_manipulation"
PREAMBLE = "import numpy as np\nimport torch\nimport torch.nn.functional as F\nfrom plmkit import checks\n"


def exercise_cells(lab: str):
    solution, student = labs.render(lab, "solution"), labs.render(lab, "student")
    for sol, stub in zip(solution.cells, student.cells):
        if "checker" in sol.metadata.get("tags", []):
            yield pytest.param(sol.source, stub.source, id=f"{lab}:{sol.id}")


def run_cell(source: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(PREAMBLE + source, {})
    return out.getvalue()


@pytest.mark.parametrize("solution,stub", list(exercise_cells(LAB)))
def test_checker_passes_on_solution_and_fails_on_stub(solution, stub):
    assert "\u2714" in run_cell(solution)
    with pytest.raises(checks.ExerciseNotDone, match="not implemented yet"):
        run_cell(stub)


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
