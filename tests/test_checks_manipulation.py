"""Lab 05's checkers: each passes the lab's own solution, fails its stub, and names plausible mistakes.

The solution-passes / stub-fails test of every checker cell runs in tests/test_checks.py; here each checker
meets the reference implementation and at least three wrong ones.
"""
import re
from collections import Counter

import pytest

from plmkit import checks, labs
from test_checks import exercise_cells

LAB = "05_manipulation"
CHECKERS = ("task_baselines", "hint_prediction", "hint_scoring", "reversed_bio", "majority_name_baseline")


def test_lab_has_five_exercises_each_with_its_facts_and_hints():
    cells = list(exercise_cells(LAB))
    assert len(cells) >= 5
    called = [re.search(r"^checks\.(\w+)\(", c.values[1], re.M).group(1) for c in cells]
    assert sorted(called) == sorted(CHECKERS)
    source = labs.render(LAB, "solution")
    headers = [c.source for c in source.cells if c.cell_type == "markdown" and "### Exercise" in c.source]
    assert len(headers) == len(cells)
    for text in headers:
        assert re.search(r"\*\*Difficulty:\*\* [123] / 3", text), text[:80]
        assert "**Importance:**" in text and re.search(r"\*\*Time:\*\* \d+ minutes", text), text[:80]
    markdown = "\n".join(c.source for c in source.cells if c.cell_type == "markdown")
    assert markdown.count("<details><summary>Hint") >= len(cells)


def test_exercises_are_spread_through_the_lab():
    source = labs.render(LAB, "solution")
    sections = []
    section = 0
    for cell in source.cells:
        if cell.cell_type == "markdown" and re.search(r"^## \d", cell.source, re.M):
            section = int(re.search(r"^## (\d)", cell.source, re.M).group(1))
        if cell.cell_type == "code" and re.search(r"^checks\.\w+\(", cell.source, re.M):
            sections.append(section)
    assert len(set(sections)) >= 3, sections


# ---- exercise 1: chance and majority baselines ------------------------------------------------------
def reference_baselines(label, values):
    counts = Counter(label(v) for v in values)
    return 1 / len(counts), max(counts.values()) / len(values)


def test_baselines_checker_passes_the_reference():
    checks.task_baselines(reference_baselines)


@pytest.mark.parametrize("wrong,mistake", [
    (lambda label, values: (1 / len(values), reference_baselines(label, values)[1]), "not over the 12 values"),
    (lambda label, values: (reference_baselines(label, values)[0],) * 2, "not equally common"),
    (lambda label, values: (reference_baselines(label, values)[0],
                            max(Counter(label(v) for v in values).values())), "not a count"),
    (lambda label, values: (reference_baselines(label, values)[0],
                            min(Counter(label(v) for v in values).values()) / len(values)), "least"),
    (lambda label, values: reference_baselines(label, values)[::-1], "swapped"),
], ids=["chance_over_values", "majority_assumed_uniform", "count_not_share", "least_common", "swapped"])
def test_baselines_checker_names_the_mistake(wrong, mistake):
    with pytest.raises(AssertionError, match=mistake):
        checks.task_baselines(wrong)


# ---- exercise 2: the hint prediction --------------------------------------------------------------
def reference_prediction(h, c, pair=False):
    right = h * h if pair else h
    return right + (1 - right) * c


def test_hint_prediction_checker_passes_the_formula():
    checks.hint_prediction(reference_prediction)


@pytest.mark.parametrize("wrong,mistake", [
    (lambda h, c, pair=False: h + (1 - h) * c, "both hints"),
    (lambda h, c, pair=False: h * h if pair else h, "chance guess"),
    (lambda h, c, pair=False: h * h + (1 - h * h) * c, "square h only for pairs"),
    (lambda h, c, pair=False: (h * h if pair else h) + c, "not the whole chance"),
], ids=["pair_not_squared", "no_chance_guess", "always_squared", "whole_chance_added"])
def test_hint_prediction_checker_names_the_mistake(wrong, mistake):
    with pytest.raises(AssertionError, match=mistake):
        checks.hint_prediction(wrong)


# ---- exercise 3: scoring an answer given with a hint ----------------------------------------------
def reference_scoring(generated, hint, answer):
    hint_part, _, rest = generated.partition(".")
    said = hint_part.strip()
    got_answer = rest.partition(".")[0].strip()
    values = [v.strip() for v in said.split(";")]
    targets = [v.strip() for v in hint.split(";")]
    right = sum(g == t for g, t in zip(values, targets))
    return said == hint, right, got_answer == answer


def test_hint_scoring_checker_passes_the_reference():
    checks.hint_scoring(reference_scoring)


def _as_sets(generated, hint, answer):
    said, right, answer_right = reference_scoring(generated, hint, answer)
    values = {v.strip() for v in generated.partition(".")[0].split(";")}
    targets = {v.strip() for v in hint.split(";")}
    return values == targets, len(values & targets), answer_right


def _answer_only_after_right_hint(generated, hint, answer):
    said, right, answer_right = reference_scoring(generated, hint, answer)
    return said, right, said and answer_right


def _all_or_nothing(generated, hint, answer):
    said, right, answer_right = reference_scoring(generated, hint, answer)
    return said, len(hint.split(";")) if said else 0, answer_right


def _answer_not_cut(generated, hint, answer):
    said, right, _ = reference_scoring(generated, hint, answer)
    return said, right, generated.partition(".")[2].strip().rstrip(".") == answer


@pytest.mark.parametrize("wrong,mistake", [
    (_as_sets, "ordered"),
    (_answer_only_after_right_hint, "on its own"),
    (_all_or_nothing, "each person's hint value"),
    (_answer_not_cut, "ends at its first period"),
], ids=["hint_as_a_set", "answer_needs_right_hint", "values_all_or_nothing", "answer_not_cut"])
def test_hint_scoring_checker_names_the_mistake(wrong, mistake):
    with pytest.raises(AssertionError, match=mistake):
        checks.hint_scoring(wrong)


# ---- exercise 4: the reversed biography -----------------------------------------------------------
def test_reversed_bio_checker_passes_the_reference():
    checks.reversed_bio(lambda pairs, name: " ".join([a if k == 0 else b for k, (a, b) in enumerate(pairs)]
                                                     + [f"The person 's name is {name}."]))


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


# ---- exercise 5: the held-out baseline of inverse search -------------------------------------------
def reference_name_baseline(train_names, test_names):
    name = Counter(train_names).most_common(1)[0][0]
    return sum(n == name for n in test_names) / len(test_names)


def test_name_baseline_checker_passes_the_reference():
    checks.majority_name_baseline(reference_name_baseline)


@pytest.mark.parametrize("wrong,mistake", [
    (lambda train, test: reference_name_baseline(test, test), "leaks"),
    (lambda train, test: reference_name_baseline(train + test, test), "leaks"),
    (lambda train, test: reference_name_baseline(train, train), "among the training people"),
    (lambda train, test: 1 / len(set(train)), "uniform guess"),
    (lambda train, test: sum(n == Counter(train).most_common(1)[0][0] for n in test), "not a count"),
], ids=["chosen_on_test", "chosen_on_train_and_test", "scored_on_train", "uniform", "count_not_share"])
def test_name_baseline_checker_names_the_mistake(wrong, mistake):
    with pytest.raises(AssertionError, match=mistake):
        checks.majority_name_baseline(wrong)
