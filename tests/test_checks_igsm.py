"""Lab 02's checkers: each passes the lab's own solution, fails its stub, and names plausible mistakes."""
import math

import numpy as np
import pytest

from plmkit import checks, labs
from test_checks import exercise_cells
from plmkit.checks import igsm as C

LAB = "02_igsm"


def test_lab_has_five_exercises_each_with_hints_difficulty_and_time():
    assert len(list(exercise_cells(LAB))) == 5
    text = labs._source_path(LAB).read_text()
    for number in range(1, 6):
        block = text.split(f"### Exercise {number}:")[1].split("# %%\ndef ")[0]
        assert "**Difficulty:**" in block and "**Importance:**" in block and "**Time:**" in block
        assert "<details>" in block, f"exercise {number} has no collapsed hint"


# ---- exercise 1: op of a problem ---------------------------------------------------------------------------
def needed(graph, query):
    seen, stack = set(), [query]
    while stack:
        x = stack.pop()
        if x in seen or x == "RNG":
            continue
        seen.add(x)
        stack.extend(graph[x])
    return seen


def op_reference(graph, query):
    return sum(max(1, len(graph[p]) - 1) for p in needed(graph, query))


def test_op_checker_accepts_the_reference():
    checks.op_of_problem(op_reference)


@pytest.mark.parametrize("wrong,message", [
    (lambda g, q: sum(max(1, len(g[p]) - 1) for p in g), "every parameter of the dependency graph"),
    (lambda g, q: sum(len(g[p]) - 1 for p in needed(g, q)), "max\\(1, t - 1\\)"),
    (lambda g, q: sum(max(1, len([x for x in g[p] if x != "RNG"]) - 1) for p in needed(g, q)), "random number counts"),
    (lambda g, q: len(needed(g, q)), "operations, not parameters"),
    (lambda g, q: sum(len(g[p]) for p in needed(g, q)), "t - 1 binary steps"),
])
def test_op_checker_names_the_mistake(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.op_of_problem(wrong)


def test_op_checker_rejects_a_non_int():
    with pytest.raises(AssertionError, match="return an int"):
        checks.op_of_problem(lambda g, q: float(op_reference(g, q)))


# ---- exercise 2: the mod-23 evaluator ------------------------------------------------------------------------
def evaluator(modulo=lambda x: x % 23, minus=lambda a, b: a - b, copy_written=False):
    def evaluate(text):
        values = {}
        for sentence in text.split("."):
            for clause in sentence.split(";")[1:]:
                tokens = clause.split()
                if tokens and tokens[0] == "so":
                    tokens = tokens[1:]
                if copy_written:
                    values[tokens[0]] = int(tokens[-1])
                    continue
                expr = (tokens[2:] + ["="])[: (tokens[2:] + ["="]).index("=")]
                ops = [values[x] if x in values else int(x) for x in expr[0::2]]
                if len(ops) == 1:
                    values[tokens[0]] = modulo(ops[0])
                else:
                    a, b = ops
                    values[tokens[0]] = modulo(a + b if expr[1] == "+" else minus(a, b) if expr[1] == "-" else a * b)
        return values

    return evaluate


def test_evaluator_checker_accepts_the_reference():
    checks.mod23_evaluator(evaluator())


@pytest.mark.parametrize("wrong,message", [
    (evaluator(modulo=lambda x: x), "reduce every result mod 23"),
    (evaluator(modulo=lambda x: int(math.fmod(x, 23))), "negative values"),
    (evaluator(copy_written=True), "repeat the numbers written"),
    (evaluator(minus=lambda a, b: abs(a - b)), "first operand minus the second"),
    (evaluator(minus=lambda a, b: a + b), "first operand minus the second"),
])
def test_evaluator_checker_names_the_mistake(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.mod23_evaluator(wrong)


def test_evaluator_checker_reports_missing_letters():
    with pytest.raises(AssertionError, match="missing"):
        checks.mod23_evaluator(lambda text: {})


# ---- exercise 3: the can_next label -------------------------------------------------------------------------
def can_next_reference(problem, known):
    return [p not in known and all(q in known for q in problem.preds_of(p)) for p in problem.graph]


def test_can_next_checker_accepts_the_reference():
    checks.can_next_label(can_next_reference)


@pytest.mark.parametrize("wrong,message", [
    (lambda pb, k: [all(q in k for q in pb.preds_of(p)) for p in pb.graph], "already computed"),
    (lambda pb, k: [p in pb.necessary and p not in k and all(q in k for q in pb.preds_of(p)) for p in pb.graph],
     "nece_next"),
    (lambda pb, k: [p not in k and bool(pb.preds_of(p)) and all(q in k for q in pb.preds_of(p)) for p in pb.graph],
     "number alone"),
    (lambda pb, k: [p not in k and (not pb.preds_of(p) or any(q in k for q in pb.preds_of(p))) for p in pb.graph],
     "all of its direct predecessors"),
])
def test_can_next_checker_names_the_mistake(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.can_next_label(wrong)


def test_can_next_checker_wants_one_label_per_parameter():
    with pytest.raises(AssertionError, match="one label per parameter"):
        checks.can_next_label(lambda pb, k: [True])


# ---- exercise 4: the first wrong step -----------------------------------------------------------------------
def first_wrong(problem, steps, one_based=False, check_values=True, check_repeats=True, reference_order=False,
                necessary_only=False):
    done = set()
    for i, (name, value) in enumerate(steps):
        index = i + 1 if one_based else i
        if reference_order:
            if i >= len(problem.order) or problem.name(problem.order[i]) != name or problem.values[problem.order[i]] != value:
                return index
            continue
        try:
            p = problem.param_id(name)
        except KeyError:
            return index
        if (check_repeats and p in done) or any(q not in done for q in problem.preds_of(p)):
            return index
        if (check_values and problem.values[p] != value) or (necessary_only and p not in problem.necessary):
            return index
        done.add(p)
    return None


def test_first_wrong_step_checker_accepts_the_reference():
    checks.first_wrong_step(first_wrong)


@pytest.mark.parametrize("options,message", [
    ({"one_based": True}, "1-based"),
    ({"reference_order": True}, "any order"),
    ({"check_values": False}, "value written too"),
    ({"necessary_only": True}, "unnecessary parameters are allowed"),
    ({"check_repeats": False}, "defined a second time"),
])
def test_first_wrong_step_checker_names_the_mistake(options, message):
    with pytest.raises(AssertionError, match=message):
        checks.first_wrong_step(lambda p, s: first_wrong(p, s, **options))


# ---- exercise 5: probe against control -----------------------------------------------------------------------
def summary(trained, control, labels, majority=None, gap_over=None, precision=False, percent=False):
    share = labels.mean()
    right = trained == labels
    out = {"trained": right.mean(), "control": (control == labels).mean(),
           "majority": max(share, 1 - share) if majority is None else majority(share),
           "positives": right[labels == 1].mean(), "negatives": right[labels == 0].mean()}
    if precision:
        out["positives"] = (labels[trained == 1] == 1).mean()
    out["gap"] = out["trained"] - (out["control"] if gap_over is None else out[gap_over])
    return {k: 100 * v for k, v in out.items()} if percent else out


def test_probe_checker_accepts_the_reference():
    checks.probe_vs_control(summary)


@pytest.mark.parametrize("options,message", [
    ({"majority": lambda p: p}, "share of positives"),
    ({"majority": lambda p: 0.5}, "balanced labels"),
    ({"gap_over": "majority"}, "over the random-init control"),
    ({"precision": True}, "precision"),
    ({"percent": True}, "fractions"),
])
def test_probe_checker_names_the_mistake(options, message):
    with pytest.raises(AssertionError, match=message):
        checks.probe_vs_control(lambda t, c, y: summary(t, c, y, **options))


def test_probe_checker_wants_every_key():
    with pytest.raises(AssertionError, match="lacks the keys"):
        checks.probe_vs_control(lambda t, c, y: {"trained": 1.0})
