"""The six probe labels of [P2.1 §4, App. E]: nece, dep, known, value, can_next, nece_next.

Labels range over the parameters of the dependency graph G_d only (instance parameters and the
abstract parameters the problem uses): pairs that are no edge of the structure graph, and item/category
pairs with nothing to sum, never appear. Notation: N = the query and its ancestors; "known after step j"
= defined by the first j solution sentences; predecessors are direct ones, RNG left out.

| task      | label                                          | position (in the training sequence)        |
|-----------|------------------------------------------------|--------------------------------------------|
| nece(A)   | A in N                                         | the token before ``<sol>``                   |
| dep(A, B) | B is a proper ancestor of A                    | the ``.`` ending the last problem sentence   |
| known(A)  | A defined after step j                         | ``<sol>`` (j = 0) or the ``.`` ending step j |
| value(A)  | A's value if known, else 23 (24 classes)       | same                                       |
| can_next  | A not known, all its predecessors known        | same                                       |
| nece_next | can_next(A) and A in N                         | same                                       |

V-probing appends ``[START] A [END]`` (dep: ``[START] A [MID] B [END]``) to the prefix that ends at the
position, see :func:`probe_suffix` [P2.1 §4.1].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from plmkit.data.igsm.problem import LAYOUTS, Problem, _check_choice

TASKS = ("nece", "dep", "known", "value", "can_next", "nece_next")
STEP_TASKS = ("known", "value", "can_next", "nece_next")
UNKNOWN_VALUE = 23  # the 24th class of the value task


@dataclass
class ProbeLabels:
    """All labels of one problem in one layout. Columns follow ``params`` (ids of G_d)."""

    layout: str
    params: list[int]
    names: list[str]
    tokens: list[str]  # the full training sequence the positions index into
    nece_position: int
    dep_position: int
    step_positions: list[int]  # j = 0 .. number of solution sentences
    nece: np.ndarray  # (P,) bool
    dep: np.ndarray  # (P, P) bool: dep[i, k] = params[i] depends on params[k]
    known: np.ndarray  # (J, P) bool
    value: np.ndarray  # (J, P) int64, 23 when unknown
    can_next: np.ndarray  # (J, P) bool
    nece_next: np.ndarray  # (J, P) bool

    def column(self, p: int) -> int:
        return self.params.index(p)

    def table(self, task: str) -> np.ndarray:
        _check_choice("task", task, TASKS)
        return getattr(self, task)


def probe_labels(problem: Problem, layout: str = "pq") -> ProbeLabels:
    """Labels of every probe task for every parameter of G_d, aligned to ``problem.tokens(layout)``."""
    _check_choice("layout", layout, LAYOUTS)
    params = list(problem.graph)
    column = {p: i for i, p in enumerate(params)}
    n = len(params)
    tokens = problem.tokens(layout)
    sol_at = tokens.index("<sol>")
    problem_len = len(problem.problem_tokens)
    dep_position = problem_len if layout == "pq" else sol_at - 1  # '.' of the last problem sentence
    steps = [sol_at]
    for sentence in problem.solution_sentences:
        steps.append(steps[-1] + len(sentence))
    needed = problem.necessary
    nece = np.array([p in needed for p in params], dtype=bool)
    dep = np.zeros((n, n), dtype=bool)
    for i, p in enumerate(params):
        anc = problem.ancestors(p)
        for k, q in enumerate(params):
            dep[i, k] = bool(anc >> q & 1)
    J = len(steps)
    known = np.zeros((J, n), dtype=bool)
    for j, p in enumerate(problem.order, 1):
        known[j:, column[p]] = True
    values = np.array([problem.values[p] for p in params], dtype=np.int64)
    value = np.where(known, values[None, :], UNKNOWN_VALUE)
    pred_cols = [[column[q] for q in problem.preds_of(p)] for p in params]
    can_next = np.zeros((J, n), dtype=bool)
    for j in range(J):
        row = known[j]
        for i in range(n):
            can_next[j, i] = not row[i] and all(row[c] for c in pred_cols[i])
    return ProbeLabels(layout, params, [problem.name(p) for p in params], tokens, sol_at - 1, dep_position, steps,
                       nece, dep, known, value, can_next, can_next & nece[None, :])


@dataclass
class ProbeItem:
    """One probe example: truncate the sequence right after ``position``, ask about A (and B)."""

    task: str
    position: int
    a: int  # parameter id
    label: int
    b: Optional[int] = None
    step: Optional[int] = None  # j, for the step tasks


def sample_probe_items(labels: ProbeLabels, task: str, rng: np.random.Generator, k: int = 10,
                       only: Optional[Sequence[int]] = None) -> list[ProbeItem]:
    """At most k distinct (position, A[, B]) choices for one problem [P2.1 App. E].

    Positions are uniform over the solution sentence ends (step tasks), A and B != A uniform over the
    parameters of G_d; ``only`` restricts A (e.g. to unnecessary parameters, [P2.1 Fig. 7b]).
    """
    _check_choice("task", task, TASKS)
    cols = list(range(len(labels.params)))
    a_cols = cols if only is None else [labels.column(p) for p in only if p in labels.params]
    if task in ("nece",):
        choices = [(None, a, None) for a in a_cols]
    elif task == "dep":
        choices = [(None, a, b) for a in a_cols for b in cols if b != a]
    else:
        choices = [(j, a, None) for j in range(len(labels.step_positions)) for a in a_cols]
    if not choices:
        return []
    picks = rng.choice(len(choices), size=min(k, len(choices)), replace=False)
    items = []
    for idx in np.sort(picks):
        j, a, b = choices[int(idx)]
        if task == "nece":
            items.append(ProbeItem(task, labels.nece_position, labels.params[a], int(labels.nece[a])))
        elif task == "dep":
            items.append(ProbeItem(task, labels.dep_position, labels.params[a], int(labels.dep[a, b]),
                                   b=labels.params[b]))
        else:
            label = int(getattr(labels, task)[j, a])
            items.append(ProbeItem(task, labels.step_positions[j], labels.params[a], label, step=j))
    return items


def probe_suffix(problem: Problem, a: int, b: Optional[int] = None) -> list[int]:
    """Token ids of ``[START] A [END]`` or ``[START] A [MID] B [END]`` [P2.1 §4.1]."""
    tokens = ["[START]"] + problem.name_tokens(a)
    if b is not None:
        tokens += ["[MID]"] + problem.name_tokens(b)
    return problem.world.vocab.ids(tokens + ["[END]"])


def probe_input(problem: Problem, item: ProbeItem, layout: str = "pq") -> np.ndarray:
    """The prefix up to ``item.position`` (included) followed by the probe suffix."""
    ids = problem.world.vocab.ids(problem.tokens(layout)[: item.position + 1])
    return np.asarray(ids + probe_suffix(problem, item.a, item.b), dtype=np.int64)


def distance_to_query(problem: Problem) -> dict[int, int]:
    """Shortest path length from each necessary parameter to the query in G_d (query: 0).

    Bins for the layer-wise nece probe [P2.1 Figs. 10, 14]: shallow layers resolve small distances.
    """
    distance = {problem.query: 0}
    frontier = [problem.query]
    while frontier:
        nxt = []
        for p in frontier:
            for q in problem.preds_of(p):
                if q not in distance:
                    distance[q] = distance[p] + 1
                    nxt.append(q)
        frontier = nxt
    return distance


def ready_params(problem: Problem, known: Sequence[int]) -> list[int]:
    """Parameters of the whole universe U that could be computed next (can_next over U, not only G_d)."""
    known_set = set(known)
    return [p for p in problem.universe
            if p not in known_set and all(q in known_set for q in problem.preds_of(p))]


def majority_baseline(labels: Sequence[int]) -> float:
    """Accuracy of always guessing the most common label (report it beside every probe)."""
    if len(labels) == 0:
        return float("nan")
    _, counts = np.unique(np.asarray(labels), return_counts=True)
    return float(counts.max() / counts.sum())
