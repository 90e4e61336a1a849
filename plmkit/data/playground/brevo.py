"""Brevo: mental reasoning breadth, a vertex's ancestors in topological order [P4.1 §2.1, App. A.2].

    <bos> x1 y1 ... xm ym <query> q <ans> a1 ... ap <eos>

An edge "x y" means y depends on x. The answer lists every vertex q recursively depends on, leaves
first, in a topological order; q itself is not listed (the official release also appends q; the paper
does not). The order is not unique, so the model must plan the whole set before writing a1 [P4.1 §2.1].

DAG generator [P4.1 App. A.2]: n by the size law; the first L ~ U{1..ceil((n-1)/4)+1} vertices are
leaves; every later vertex takes 1..min(4, #candidates) random parents among the earlier vertices of
out-degree <= 3 (so degrees stay <= 4); the query comes from the last quarter; names are random and
the edge list is shuffled. The training answer is one random valid order (randomised Kahn).

:func:`validate` checks any candidate order from the instance text alone and accepts every valid one.
Evaluation: n = N, greedy generation up to ``<eos>``, no partial credit.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from functools import cached_property
from typing import Optional, Sequence

import numpy as np

from . import common
from .common import Answer, Instance
from .vocab import ANS, BOS, EOS, QUERY, Layout, NameScheme, split_names

MAX_DEGREE = 4


@dataclass(frozen=True)
class BrevoConfig:
    """Sizes of one Brevo dataset; ``V=None`` means one-token names from a pool of N (Brevo1)."""

    N: int = 110
    V: Optional[int] = None
    name_len: tuple[int, int] = (1, 1)

    def __post_init__(self):
        common.check_range("N", self.N, common.MIN_GRAPH_SIZE)
        object.__setattr__(self, "name_len", tuple(int(x) for x in self.name_len))
        if self.names.count() < self.N:
            raise ValueError(f"only {self.names.count()} distinct names exist with V={self.names.V} and lengths "
                             f"{self.name_len[0]}..{self.name_len[1]}; N={self.N} needs at least N")

    @cached_property
    def names(self) -> NameScheme:
        return NameScheme(self.N if self.V is None else self.V, *self.name_len)

    @cached_property
    def layout(self) -> Layout:
        return Layout((), self.names.symbol_names())


PRESETS = {
    "brevo1": BrevoConfig(N=110),                           # rows N = 110 / 90 / 70, context 1024
    "brevo2": BrevoConfig(N=50, V=4, name_len=(2, 4)),      # rows N = 50 / 40 / 30, context 1536
    "brevo1-mini": BrevoConfig(N=16),                       # optional gpu cell (N = 16-24, context 256)
}
PAPER_ROWS = {"brevo1": (110, 90, 70), "brevo2": (50, 40, 30)}


# --- the generator ---------------------------------------------------------------------------------
def random_dag(rng: np.random.Generator, n: int) -> list[list[int]]:
    """Parents of vertices 0..n-1 (a vertex's parents all come earlier) [P4.1 App. A.2].

    Each vertex's choices come from one row of uniforms: the first picks how many parents, the rest
    pick them one by one without replacement (a partial Fisher-Yates shuffle of the candidates).
    """
    leaves = int(rng.integers(1, math.ceil((n - 1) / 4) + 2))
    uniforms = rng.random((n, MAX_DEGREE + 1)).tolist()
    parents: list[list[int]] = [[] for _ in range(n)]
    open_slots = list(range(leaves))  # earlier vertices of out-degree <= 3, in index order
    out_degree = [0] * n
    for v in range(leaves, n):
        u = uniforms[v]
        candidates = list(open_slots)  # never empty: L >= 1 leaves and at most 4 edges per later vertex
        count = 1 + int(u[0] * min(MAX_DEGREE, len(candidates)))
        for j in range(count):
            pick = j + int(u[j + 1] * (len(candidates) - j))
            candidates[j], candidates[pick] = candidates[pick], candidates[j]
        parents[v] = sorted(candidates[:count])
        for p in parents[v]:
            out_degree[p] += 1
            if out_degree[p] == MAX_DEGREE:
                open_slots.remove(p)
        open_slots.append(v)
    return parents


def ancestors_of(parents: list[list[int]], q: int) -> set[int]:
    seen, stack = set(), list(parents[q])
    while stack:
        u = stack.pop()
        if u not in seen:
            seen.add(u)
            stack.extend(parents[u])
    return seen


def random_topological_order(rng: np.random.Generator, parents: list[list[int]], subset: set[int]) -> list[int]:
    """Randomised Kahn on ``subset``: repeatedly emit a uniformly chosen vertex whose parents are all out."""
    waiting = {v: len(parents[v]) for v in subset}
    children: dict[int, list[int]] = {v: [] for v in subset}
    for v in subset:
        for u in parents[v]:
            children[u].append(v)
    ready = sorted(v for v, w in waiting.items() if w == 0)
    order = []
    while ready:
        v = ready.pop(int(rng.integers(len(ready))))
        order.append(v)
        for c in children[v]:
            waiting[c] -= 1
            if waiting[c] == 0:
                ready.append(c)
    return order


def leaf_distance(parents: list[list[int]], q: int) -> tuple[int, int]:
    """(shortest, longest) number of edges from q up to a leaf of its sub-DAG [P4.1 Fig. 9]."""
    shortest, frontier, seen = 0, deque([(q, 0)]), {q}
    while frontier:
        v, d = frontier.popleft()
        if not parents[v]:
            shortest = d
            break
        for u in parents[v]:
            if u not in seen:
                seen.add(u)
                frontier.append((u, d + 1))
    longest: dict[int, int] = {}
    for v in sorted(ancestors_of(parents, q) | {q}):  # parents come earlier, so index order is topological
        longest[v] = max((longest[u] + 1 for u in parents[v]), default=0)
    return shortest, longest[q]


def sample_instance(cfg: BrevoConfig, rng: np.random.Generator, n: Optional[int] = None) -> Instance:
    """One instance; ``n`` fixes the number of vertices (default: the size law)."""
    n = common.draw_size(rng, cfg.N) if n is None else n
    parents = random_dag(rng, n)
    q = int(rng.integers(n - math.ceil(n / 4), n))
    names = cfg.names.sample(rng, n, cfg.layout.first_symbol)
    edges = [(u, v) for v in range(n) for u in parents[v]]
    pieces: list = [(BOS,)]
    for e in rng.permutation(len(edges)).tolist():
        u, v = edges[e]
        pieces += [names[u], names[v]]
    order = random_topological_order(rng, parents, ancestors_of(parents, q))
    pieces += [(QUERY,), names[q], (ANS,)]
    marker = sum(len(p) for p in pieces) - 1
    pieces += [names[v] for v in order] + [(EOS,)]
    shortest, longest = leaf_distance(parents, q)
    inst = common.build_instance(pieces, answers=[], info={"n": n, "depth": shortest, "max_depth": longest})
    eos = len(inst.tokens) - 1
    inst.answers = [Answer(marker, marker + 1, eos, n)]
    inst.also_weighted = (eos,)  # the loss covers <ans>, the answer and <eos> [P4.1 App. A.2]
    return inst


def sample_fn(cfg: BrevoConfig, exclude: Optional[frozenset] = None, marker_weight: Optional[float] = None):
    return common.make_sample_fn(lambda rng: sample_instance(cfg, rng), exclude, marker_weight)


def eval_set(cfg: BrevoConfig, count: int, seed: int = 0, n: Optional[int] = None) -> list[Instance]:
    """``count`` instances at n = N (default); prompt each up to ``<ans>`` with :func:`prompt`."""
    n = cfg.N if n is None else n
    common.check_range("n", n, common.MIN_GRAPH_SIZE, cfg.N)
    rng = common.eval_rng(seed)
    return [sample_instance(cfg, rng, n=n) for _ in range(count)]


def prompt(inst: Instance) -> np.ndarray:
    """The tokens a model is given: everything up to and including ``<ans>``."""
    return inst.tokens[:inst.answers[0].marker + 1]


# --- the answer check (independent of the generator) ------------------------------------------------
@dataclass
class Verdict:
    correct: bool
    reason: str  # "ok" or what is wrong


def validate(cfg: BrevoConfig, tokens: Sequence[int], candidate: Sequence[int]) -> Verdict:
    """Is ``candidate`` (tokens after ``<ans>``; an ``<eos>`` ends it) the query's ancestors in a valid order?

    Reads the edges and the query from the instance text, finds the ancestors by a reverse search,
    then requires the same set, no repeats, and every vertex after all of its parents.
    """
    parents_of, query = _parse(cfg, tokens)
    needed, stack = set(), list(parents_of.get(query, ()))
    while stack:
        u = stack.pop()
        if u not in needed:
            needed.add(u)
            stack.extend(parents_of.get(u, ()))
    cand = [int(t) for t in candidate]
    if EOS in cand:
        cand = cand[:cand.index(EOS)]
    written = split_names(cand, cfg.names, cfg.layout.first_symbol)
    if written is None:
        return Verdict(False, "the answer is not a list of names")
    if len(set(written)) != len(written):
        return Verdict(False, "a vertex is listed twice")
    if set(written) - needed:
        return Verdict(False, "a listed vertex is not an ancestor of the query")
    if needed - set(written):
        return Verdict(False, f"{len(needed - set(written))} ancestor(s) missing")
    done: set = set()
    for name in written:
        if not parents_of.get(name, set()) <= done:
            return Verdict(False, "a vertex comes before one of its parents")
        done.add(name)
    return Verdict(True, "ok")


def score_generations(cfg: BrevoConfig, instances: Sequence[Instance], outputs: Sequence[Sequence[int]]) -> dict:
    """Accuracy of generated answers (the tokens after ``<ans>``), overall and by sub-DAG depth [P4.1 Fig. 9].

    ``by_depth`` uses the shortest distance from the query to a leaf; no partial credit.
    """
    if len(instances) != len(outputs):
        raise ValueError(f"{len(instances)} instances but {len(outputs)} outputs")
    verdicts = [validate(cfg, inst.tokens, out).correct for inst, out in zip(instances, outputs)]
    by_depth: dict[int, list[bool]] = {}
    for inst, ok in zip(instances, verdicts):
        by_depth.setdefault(inst.info["depth"], []).append(ok)
    return {"accuracy": float(np.mean(verdicts)) if verdicts else float("nan"), "count": len(verdicts),
            "by_depth": {d: {"accuracy": float(np.mean(v)), "count": len(v)} for d, v in sorted(by_depth.items())}}


def _parse(cfg: BrevoConfig, tokens: Sequence[int]) -> tuple[dict, tuple]:
    """(parents of every name, the query name) read from the instance text."""
    tokens = [int(t) for t in tokens]
    if not tokens or tokens[0] != BOS or QUERY not in tokens or ANS not in tokens:
        raise ValueError("not a Brevo instance: it must start with <bos> and contain <query> and <ans>")
    q_at, ans_at = tokens.index(QUERY), tokens.index(ANS)
    first = cfg.layout.first_symbol
    edge_names = split_names(tokens[1:q_at], cfg.names, first)
    query = split_names(tokens[q_at + 1:ans_at], cfg.names, first)
    if edge_names is None or len(edge_names) % 2 or query is None or len(query) != 1:
        raise ValueError("not a Brevo instance: expected name pairs, then <query> and one name")
    parents_of: dict = {}
    for parent, child in zip(edge_names[0::2], edge_names[1::2]):
        parents_of.setdefault(child, set()).add(parent)
    return parents_of, query[0]
