"""Depo: mental reasoning depth, k hops along a shuffled cycle [P4.1 §2.1, App. A.1].

    <bos> x1 y1 x2 y2 ... xn yn <query_k1> q1 <ans> a1 ... <query_kt> qt <ans> at

n names sit on a random directed cycle; the edges "x y" (y follows x) come in random order. Query j
asks for the k_j-th successor of q_j, which the model must find "in its head": the answer follows
``<ans>`` at once, with no chain of thought. The cycle wraps when k >= n.

* n follows the size law on 3..N; t = min(10, n) queries on distinct nodes; k ~ U{1..K} in training.
* Depo1: names of 1-2 tokens over V = 50; Depo2: names of 5-7 tokens over V = 4, so one edge spans
  10-14 tokens, far wider than a Canon layer's 4-token window [P4.1 §5.1, fn 13].
* Loss on ``<ans>`` and the answer tokens (as the official release does); accuracy counts only the
  answer tokens, because ``<ans>`` is trivially predictable.
* Evaluation fixes n = N and draws every query's k from a given set: {K} or {K/2} for the paper's
  "K/K/2" cell [P4.1 App. A.1], or {1, 2, 4, ..., K} for a per-k curve in one pass.

:func:`walk` / :func:`check` answer queries from the instance text alone, without the generator.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Optional, Sequence

import numpy as np

from . import common
from .common import Answer, Instance
from .vocab import ANS, BOS, Layout, NameScheme, split_names

MAX_QUERIES = 10  # t = min(10, n) [P4.1 App. A.1]


@dataclass(frozen=True)
class DepoConfig:
    """Sizes of one Depo dataset. ``name_len`` is (shortest, longest) name in tokens."""

    N: int = 375
    K: int = 8
    V: int = 50
    name_len: tuple[int, int] = (1, 2)
    max_queries: int = MAX_QUERIES

    def __post_init__(self):
        common.check_range("N", self.N, common.MIN_GRAPH_SIZE)
        common.check_range("K", self.K, 1)
        common.check_range("max_queries", self.max_queries, 1)
        object.__setattr__(self, "name_len", tuple(int(x) for x in self.name_len))
        if self.names.count() < self.N:
            raise ValueError(f"only {self.names.count()} distinct names exist with V={self.V} and lengths "
                             f"{self.name_len[0]}..{self.name_len[1]}; N={self.N} needs at least N")

    @cached_property
    def names(self) -> NameScheme:
        return NameScheme(self.V, *self.name_len)

    @cached_property
    def layout(self) -> Layout:
        return Layout(tuple(f"<query_{k}>" for k in range(1, self.K + 1)), self.names.symbol_names())

    @cached_property
    def query_ids(self) -> range:
        """``<query_1>``..``<query_K>``: id of ``<query_k>`` is ``query_ids[k - 1]``."""
        first = self.layout.special("<query_1>")
        return range(first, first + self.K)

    @cached_property
    def hops(self) -> tuple[int, ...]:
        """k = 1..K, the training range."""
        return tuple(range(1, self.K + 1))

    def eval_ks(self) -> tuple[int, ...]:
        """k = 1, 2, 4, ..., K (and K itself): one evaluation pass gives the per-k curve."""
        ks, k = [], 1
        while k < self.K:
            ks.append(k)
            k *= 2
        return tuple(ks + [self.K])


PRESETS = {
    "depo1": DepoConfig(N=375, K=8, V=50, name_len=(1, 2)),     # rows N = 375 / 300 / 225; K = 4 for weak models
    "depo2": DepoConfig(N=125, K=16, V=4, name_len=(5, 7)),     # rows N = 125 / 100 / 75; K = 4 for weak models
    "depo1-mini": DepoConfig(N=32, K=4, V=50, name_len=(1, 2)), # the gpu cell (context 512)
    "depo-micro": DepoConfig(N=8, K=4, V=24, name_len=(1, 1)),  # the cpu cell (context 128; chance 1/8)
}
PAPER_ROWS = {"depo1": (375, 300, 225), "depo2": (125, 100, 75)}


def sample_instance(cfg: DepoConfig, rng: np.random.Generator, n: Optional[int] = None,
                    ks: Optional[Sequence[int]] = None) -> Instance:
    """One instance. ``n`` fixes the cycle size (default: the size law); ``ks`` the set k is drawn from."""
    n = common.draw_size(rng, cfg.N) if n is None else n
    names = cfg.names.sample(rng, n, cfg.layout.first_symbol)  # random order = a random cycle
    pieces: list = [(BOS,)]
    for i in rng.permutation(n).tolist():
        pieces += [names[i], names[(i + 1) % n]]
    t = min(cfg.max_queries, n)
    queries = rng.permutation(n)[:t].tolist()
    ks = cfg.hops if ks is None else tuple(ks)
    hops = [ks[int(u * len(ks))] for u in rng.random(t).tolist()]  # uniform on ks
    answers, length = [], sum(len(p) for p in pieces)
    for q, k in zip(queries, hops):
        target = names[(q + k) % n]
        marker = length + 1 + len(names[q])
        answers.append(Answer(marker, marker + 1, marker + 1 + len(target), k))
        pieces += [(cfg.query_ids[k - 1],), names[q], (ANS,), target]
        length = marker + 1 + len(target)
    return common.build_instance(pieces, answers=answers, info={"n": n})


def sample_fn(cfg: DepoConfig, exclude: Optional[frozenset] = None, marker_weight: Optional[float] = None):
    """Training ``sample_fn(rng, n)``: size law, k ~ U{1..K}, loss on ``<ans>`` + answers."""
    return common.make_sample_fn(lambda rng: sample_instance(cfg, rng), exclude, marker_weight)


def eval_set(cfg: DepoConfig, count: int, seed: int = 0, ks: Optional[Sequence[int]] = None,
             n: Optional[int] = None) -> list[Instance]:
    """``count`` instances at n = N (default), every query's k drawn from ``ks`` (default {K})."""
    ks = (cfg.K,) if ks is None else tuple(ks)
    for k in ks:
        common.check_range("k", k, 1, cfg.K)
    n = cfg.N if n is None else n
    common.check_range("n", n, common.MIN_GRAPH_SIZE, cfg.N)
    rng = common.eval_rng(seed)
    return [sample_instance(cfg, rng, n=n, ks=ks) for _ in range(count)]


# --- the answer check (independent of the generator) ------------------------------------------------
def _parse(cfg: DepoConfig, tokens: Sequence[int]) -> tuple[dict, list[tuple[int, tuple]]]:
    """(successor of each name, [(k, query name), ...]) read from the instance text."""
    tokens = [int(t) for t in tokens]
    if not tokens or tokens[0] != BOS:
        raise ValueError("not a Depo instance: it must start with <bos>")
    query_ids = set(cfg.query_ids)
    marks = [i for i, t in enumerate(tokens) if t in query_ids]
    first = cfg.layout.first_symbol
    edge_names = split_names(tokens[1:marks[0] if marks else len(tokens)], cfg.names, first)
    if edge_names is None or len(edge_names) % 2:
        raise ValueError("not a Depo instance: the edge list is not a sequence of name pairs")
    successor = dict(zip(edge_names[0::2], edge_names[1::2]))
    queries = []
    for m in marks:
        if ANS not in tokens[m:]:
            raise ValueError("not a Depo instance: a query without <ans>")
        name = split_names(tokens[m + 1:tokens.index(ANS, m)], cfg.names, first)
        if name is None or len(name) != 1:
            raise ValueError("not a Depo instance: a query must name exactly one node")
        queries.append((tokens[m] - cfg.query_ids[0] + 1, name[0]))
    return successor, queries


def walk(cfg: DepoConfig, tokens: Sequence[int]) -> list[tuple[int, ...]]:
    """The answer to every query, found by following k edges from the query name in the text."""
    successor, queries = _parse(cfg, tokens)
    answers = []
    for k, node in queries:
        for _ in range(k):
            if node not in successor:
                raise ValueError("not a Depo instance: a walk reached a name with no outgoing edge")
            node = successor[node]
        answers.append(node)
    return answers


def check(cfg: DepoConfig, tokens: Sequence[int], candidates: Sequence[Sequence[int]]) -> list[bool]:
    """One verdict per query: is the candidate (the tokens after its ``<ans>``) the right name?"""
    truth = walk(cfg, tokens)
    if len(candidates) != len(truth):
        raise ValueError(f"the instance has {len(truth)} queries but {len(candidates)} candidate answers were given")
    return [tuple(int(t) for t in cand) == answer for cand, answer in zip(candidates, truth)]


def query_hops(cfg: DepoConfig, tokens: Sequence[int]) -> list[int]:
    """k of every query, read from its ``<query_k>`` token."""
    return [k for k, _ in _parse(cfg, tokens)[1]]
