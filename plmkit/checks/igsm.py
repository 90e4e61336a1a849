"""Checkers of lab 02 (Part 2.1, grade-school math and the hidden reasoning process).

Each checker runs the student's function on generated iGSM problems against the kit's own answer, and
when it fails, tries the mistakes students make most often so the message can name the one made.
"""
from __future__ import annotations

import re
from typing import Callable, Optional

import numpy as np

from .base import checker

MODULUS = 23


def _problems(world: str, ops, n: int, seed: int):
    from ..data import igsm

    rng = np.random.default_rng(seed)
    return [igsm.sample_problem(world, rng, op=int(ops[i % len(ops)])) for i in range(n)]


def _dependency_dict(problem):
    from ..experiments.igsm import dependency_dict

    return dependency_dict(problem)


def _diagnose(got: list, truth: list, variants: dict[str, list]) -> Optional[str]:
    """The first named mistake whose answers equal the student's wherever the student is wrong."""
    wrong = [i for i, (g, t) in enumerate(zip(got, truth)) if g != t]
    for message, answers in variants.items():
        if wrong and all(got[i] == answers[i] for i in range(len(got))):
            return message
    return None


# ----------------------------------------------------------------------------------------------
# Exercise 1: op of a problem
# ----------------------------------------------------------------------------------------------
def _needed(graph: dict, query: str) -> set:
    seen, stack = set(), [query]
    while stack:
        x = stack.pop()
        if x in seen or x == "RNG":
            continue
        seen.add(x)
        stack.extend(graph[x])
    return seen


def _op_variants(graph: dict, query: str) -> dict[str, int]:
    needed = _needed(graph, query)
    no_rng = {p: [q for q in graph[p] if q != "RNG"] for p in graph}
    return {
        "you counted every parameter of the dependency graph: op counts only the question and its ancestors "
        "(the parameters the solution must compute)": sum(max(1, len(graph[p]) - 1) for p in graph),
        "a parameter with one source still costs one operation: op(p) = max(1, t - 1), not t - 1":
            sum(len(graph[p]) - 1 for p in needed),
        "the random number counts in the in-degree t (a sentence like '5 + X' has t = 2: RNG and X)":
            sum(max(1, len(no_rng[p]) - 1) for p in needed),
        "op counts operations, not parameters: a parameter with t sources costs max(1, t - 1)": len(needed),
        "a parameter with t sources needs t - 1 operations (t numbers are combined by t - 1 binary steps)":
            sum(len(graph[p]) for p in needed),
    }


@checker("op of a problem")
def op_of_problem(fn: Callable[[dict, str], int]) -> None:
    problems = _problems("nano", (1, 2, 3, 4, 5), 40, seed=11) + _problems("mini", (6, 8, 10, 12), 24, seed=12)
    got, truth, variants = [], [], {}
    for p in problems:
        graph, query = _dependency_dict(p), p.name(p.query)
        answer = fn(graph, query)
        assert isinstance(answer, (int, np.integer)), f"op_of should return an int, got {type(answer).__name__}"
        got.append(int(answer))
        truth.append(p.op)
        for message, value in _op_variants(graph, query).items():
            variants.setdefault(message, []).append(value)
    if got == truth:
        return
    mistake = _diagnose(got, truth, variants)
    if mistake:
        raise AssertionError(f"op_of: {mistake}.")
    i = next(i for i, (g, t) in enumerate(zip(got, truth)) if g != t)
    raise AssertionError(f"op_of is wrong on a problem of op {truth[i]} (you returned {got[i]}). Its graph:\n"
                         f"{_dependency_dict(problems[i])}\nquestion: {problems[i].name(problems[i].query)}")


# ----------------------------------------------------------------------------------------------
# Exercise 2: the mod-23 evaluator
# ----------------------------------------------------------------------------------------------
def reference_values(solution_text: str) -> dict[str, int]:
    """Letter -> value, computed from each clause's symbols, mod 23 (the written numbers are ignored)."""
    values: dict[str, int] = {}
    for sentence in solution_text.split("."):
        for clause in sentence.split(";")[1:]:
            tokens = clause.split()
            if tokens and tokens[0] == "so":
                tokens = tokens[1:]
            if len(tokens) < 3 or tokens[1] != "=":
                continue
            expr = (tokens[2:] + ["="])[: (tokens[2:] + ["="]).index("=")]

            def val(x):
                return values[x] if x in values else int(x)

            if len(expr) == 1:
                values[tokens[0]] = val(expr[0]) % MODULUS
            else:
                a, op, b = val(expr[0]), expr[1], val(expr[2])
                values[tokens[0]] = (a + b if op == "+" else a - b if op == "-" else a * b) % MODULUS
    return values


def _corrupt_numbers(text: str, rng: np.random.Generator) -> str:
    """The same solution with every number after the symbolic part replaced: the symbols still decide."""
    out = []
    for sentence in text.split(". "):
        clauses = []
        for clause in sentence.split("; "):
            parts = clause.split(" = ")
            if len(parts) > 2:
                parts = parts[:2] + [re.sub(r"\b\d+\b", lambda m: str(int(rng.integers(0, 23))), x) for x in parts[2:]]
            clauses.append(" = ".join(parts))
        out.append("; ".join(clauses))
    return ". ".join(out)


def _evaluator_variants(text: str) -> dict[str, dict]:
    written = {}
    for sentence in text.rstrip(".").split(". "):
        for clause in sentence.split("; ")[1:]:
            tokens = clause.replace("so ", "").split(" = ")
            written[tokens[0].strip()] = int(tokens[-1].strip().rstrip(".")) if tokens[-1].strip().rstrip(".").isdigit() \
                else None
    return {"copy": written}


@checker("mod-23 evaluator")
def mod23_evaluator(fn: Callable[[str], dict]) -> None:
    rng = np.random.default_rng(5)
    problems = _problems("nano", (2, 3, 4, 5), 40, seed=21)
    for p in problems:
        for text in (p.solution_text, _corrupt_numbers(p.solution_text, rng)):
            got = fn(text)
            assert isinstance(got, dict), f"evaluate should return a dict letter -> value, got {type(got).__name__}"
            expected = reference_values(text)
            if got == expected:
                continue
            missing = sorted(set(expected) - set(got))
            assert not missing, f"letters {missing} are missing from your result for:\n{text}"
            values = [int(v) for v in got.values()]
            if any(v < 0 for v in values):
                raise AssertionError("negative values: a - b can be negative, and the result must be reduced into 0..22 "
                                     "(Python's % does this; math.fmod and C-style remainders do not)")
            if any(v >= MODULUS for v in values):
                raise AssertionError("values above 22: reduce every result mod 23 [P2.1 §2.2]")
            if text != p.solution_text and got == _evaluator_variants(text)["copy"]:
                raise AssertionError("your values repeat the numbers written in the solution; here they were "
                                     "replaced by wrong ones: compute each letter from the symbols (e.g. 'D + h')")
            if any("-" in c for c in text.split(";")) and _matches_without_minus(got, text):
                raise AssertionError("'a - b' is the first operand minus the second (mod 23), not a sum or |a - b|")
            bad = next(k for k in expected if got.get(k) != expected[k])
            raise AssertionError(f"letter {bad} should be {expected[bad]}, you have {got.get(bad)}, in:\n{text}")


def _matches_without_minus(got: dict, text: str) -> bool:
    plus = reference_values(text.replace(" - ", " + "))
    absolute = _absolute_values(text)
    return got == plus or got == absolute


def _absolute_values(text: str) -> dict:
    values: dict[str, int] = {}
    for sentence in text.split("."):
        for clause in sentence.split(";")[1:]:
            tokens = clause.replace("so ", "").split()
            if len(tokens) < 3:
                continue
            expr = (tokens[2:] + ["="])[: (tokens[2:] + ["="]).index("=")]

            def val(x):
                return values[x] if x in values else int(x)

            if len(expr) == 1:
                values[tokens[0]] = val(expr[0]) % MODULUS
            else:
                a, op, b = val(expr[0]), expr[1], val(expr[2])
                values[tokens[0]] = (a + b if op == "+" else abs(a - b) if op == "-" else a * b) % MODULUS
    return values


# ----------------------------------------------------------------------------------------------
# Exercise 3: the can_next label
# ----------------------------------------------------------------------------------------------
@checker("can_next label")
def can_next_label(fn: Callable) -> None:
    from ..data import igsm

    problems = _problems("nano", (2, 3, 4, 5), 30, seed=31) + _problems("mini", (5, 8), 10, seed=32)
    for p in problems:
        labels = igsm.probe_labels(p)
        for j in range(len(p.order) + 1):
            known = set(p.order[:j])
            got = fn(p, known)
            assert len(got) == len(p.graph), \
                f"return one label per parameter of problem.graph ({len(p.graph)}), got {len(got)}"
            got = np.asarray([bool(x) for x in got])
            expected = labels.can_next[j]
            if np.array_equal(got, expected):
                continue
            col = int(np.flatnonzero(got != expected)[0])
            a = p.graph[col]
            preds = p.preds_of(a)
            if got[col] and a in known:
                raise AssertionError(f"{p.name(a)} is already computed: can_next means 'not known yet and every "
                                     "predecessor known'")
            if not got[col] and a not in p.necessary:
                raise AssertionError(f"{p.name(a)} is ready but unnecessary: can_next covers every parameter of G_d "
                                     "(restricting it to necessary ones is the nece_next task)")
            if not got[col] and not preds:
                raise AssertionError(f"{p.name(a)} is given by a number alone (no predecessors), so it can be computed "
                                     "at once: an empty list of predecessors is all known")
            if got[col] and any(q in known for q in preds):
                raise AssertionError(f"{p.name(a)} has a predecessor that is not known yet: all of its direct "
                                     "predecessors must be known, not just one")
            raise AssertionError(f"can_next({p.name(a)}) should be {bool(expected[col])} when the known parameters are "
                                 f"{sorted(p.name(q) for q in known)}")


# ----------------------------------------------------------------------------------------------
# Exercise 4: the first wrong step
# ----------------------------------------------------------------------------------------------
def reference_first_wrong(problem, steps) -> Optional[int]:
    """The index of the first step that names no parameter, repeats one, uses a parameter not computed
    yet, or writes a wrong value; None when every step is right."""
    done = set()
    for i, (name, value) in enumerate(steps):
        try:
            p = problem.param_id(name)
        except KeyError:
            return i
        if p in done or any(q not in done for q in problem.preds_of(p)) or problem.values[p] != value:
            return i
        done.add(p)
    return None


def _step_cases(seed: int = 41):
    """(problem, steps): right solutions in other valid orders, with unnecessary steps, and broken ones."""
    from ..data.igsm.sampler import random_topological_order
    from ..data import igsm

    rng = np.random.default_rng(seed)
    draws = igsm.Draws(rng)
    cases = []
    for p in _problems("nano", (3, 4, 5), 24, seed) + _problems("mini", (6, 8), 12, seed + 1):
        order = random_topological_order(draws, p.preds_of, list(p.order))
        right = [(p.name(q), p.values[q]) for q in order]
        cases.append((p, right))
        extra = [q for q in p.graph if q not in p.necessary and all(x in p.necessary for x in p.preds_of(q))]
        if extra:
            cases.append((p, right[:-1] + [(p.name(extra[0]), p.values[extra[0]])] + right[-1:]))
        k = int(rng.integers(0, len(right)))
        cases.append((p, right[:k] + [(right[k][0], (right[k][1] + 1) % MODULUS)] + right[k + 1:]))
        if len(right) > 2:
            cases.append((p, right[:1] + right[:1] + right[1:]))
            later = right[1:] + right[:1]
            cases.append((p, later))
        cases.append((p, right + [("Nowhere's Thing", 3)]))
    return cases


@checker("first wrong step")
def first_wrong_step(fn: Callable) -> None:
    cases = _step_cases()
    got, truth = [], []
    for p, steps in cases:
        answer = fn(p, list(steps))
        assert answer is None or isinstance(answer, (int, np.integer)), \
            f"return the index of the first wrong step (an int) or None, got {type(answer).__name__}"
        got.append(None if answer is None else int(answer))
        truth.append(reference_first_wrong(p, steps))
    if got == truth:
        return
    variants = {
        "your indices are 1-based: return the 0-based index of the step in the list":
            [None if t is None else t + 1 for t in truth],
        "a solution may compute its parameters in any order in which each comes after its predecessors: compare "
        "with what was computed so far, not with the reference order": [_against_reference_order(p, s) for p, s in cases],
        "check the value written too: a step with a wrong number is a wrong step": [_ignoring_values(p, s) for p, s in cases],
        "unnecessary parameters are allowed in a correct solution [P2.1 Fig. 4]; only a wrong name, a repeated one, "
        "a parameter not ready yet or a wrong value make a step wrong": [_necessary_only(p, s) for p, s in cases],
        "a parameter defined a second time is a wrong step": [_ignoring_repeats(p, s) for p, s in cases],
    }
    mistake = _diagnose(got, truth, variants)
    if mistake:
        raise AssertionError(f"first_wrong_step: {mistake}.")
    i = next(i for i, (g, t) in enumerate(zip(got, truth)) if g != t)
    raise AssertionError(f"first_wrong_step should be {truth[i]}, you returned {got[i]}, for the steps\n{cases[i][1]}")


def _against_reference_order(p, steps):
    for i, (name, value) in enumerate(steps):
        if i >= len(p.order) or name != p.name(p.order[i]) or value != p.values[p.order[i]]:
            return i
    return None


def _ignoring_values(p, steps):
    return reference_first_wrong(p, [(n, p.values[p.param_id(n)] if _known_name(p, n) else v) for n, v in steps])


def _necessary_only(p, steps):
    first = reference_first_wrong(p, steps)
    for i, (name, _) in enumerate(steps):
        if _known_name(p, name) and p.param_id(name) not in p.necessary:
            return i if first is None else min(i, first)
    return first


def _ignoring_repeats(p, steps):
    seen, kept, index = set(), [], []
    for i, step in enumerate(steps):
        if step[0] in seen:
            continue
        seen.add(step[0])
        kept.append(step)
        index.append(i)
    first = reference_first_wrong(p, kept)
    return None if first is None else index[first]


def _known_name(p, name) -> bool:
    try:
        p.param_id(name)
        return True
    except KeyError:
        return False


# ----------------------------------------------------------------------------------------------
# Exercise 5: probe against control
# ----------------------------------------------------------------------------------------------
def reference_probe_summary(trained, control, labels) -> dict:
    trained, control, labels = (np.asarray(x) for x in (trained, control, labels))
    share = labels.mean()
    return {"trained": float((trained == labels).mean()), "control": float((control == labels).mean()),
            "majority": float(max(share, 1 - share)),
            "gap": float((trained == labels).mean() - (control == labels).mean()),
            "positives": float((trained[labels == 1] == 1).mean()), "negatives": float((trained[labels == 0] == 0).mean())}


def _probe_cases():
    rng = np.random.default_rng(51)
    cases = []
    for share, skill, control_skill in ((0.15, 0.95, 0.85), (0.5, 0.9, 0.55), (0.3, 0.8, 0.7), (0.8, 0.97, 0.8)):
        labels = (rng.random(400) < share).astype(int)
        trained = np.where(rng.random(400) < skill, labels, 1 - labels)
        control = np.where(rng.random(400) < control_skill, labels, (rng.random(400) < share).astype(int))
        cases.append((trained, control, labels))
    return cases


@checker("probe against control")
def probe_vs_control(fn: Callable) -> None:
    for trained, control, labels in _probe_cases():
        got = fn(trained.copy(), control.copy(), labels.copy())
        expected = reference_probe_summary(trained, control, labels)
        missing = sorted(set(expected) - set(got))
        assert not missing, f"the summary lacks the keys {missing}"
        if any(float(v) > 1.0 + 1e-9 for v in got.values()):
            raise AssertionError("report accuracies as fractions in [0, 1], not percentages")
        share = labels.mean()
        if abs(got["majority"] - expected["majority"]) > 1e-6:
            hint = " (you return the share of positives)" if abs(got["majority"] - share) < 1e-6 else \
                " (0.5 is only right for balanced labels)" if abs(got["majority"] - 0.5) < 1e-6 else ""
            raise AssertionError("the majority baseline always guesses the more common label: its accuracy is "
                                 f"max(p, 1 - p) for a share p of positives{hint}")
        if abs(got["gap"] - expected["gap"]) > 1e-6:
            if abs(got["gap"] - (expected["trained"] - expected["majority"])) < 1e-6:
                raise AssertionError("the gap that counts is over the random-init control, not the majority baseline: "
                                     "a random network can beat the majority on its own [P2.1 §4.1]")
            raise AssertionError("gap = accuracy of the trained probe minus accuracy of the control probe")
        for key in ("positives", "negatives"):
            if abs(got[key] - expected[key]) > 1e-6:
                kind = 1 if key == "positives" else 0
                predicted = trained == kind
                precision = float((labels[predicted] == kind).mean()) if predicted.any() else float("nan")
                extra = (" You computed the share of right answers among the items the probe *predicted* as "
                         f"{kind} (precision)." if abs(got[key] - precision) < 1e-6 else "")
                raise AssertionError(f"{key}: the share of items whose true label is {kind} that the trained probe gets "
                                     f"right.{extra}")
        for key in ("trained", "control"):
            assert abs(got[key] - expected[key]) < 1e-6, f"{key}: accuracy of that probe's predictions on all items"
