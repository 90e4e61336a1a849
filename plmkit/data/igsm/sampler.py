"""Drawing problems: the training mix, fixed-op sets, the train/test split, reask, and a stream for training.

* Training mix: op = min of two uniforms on 1..op_max [P2.1 fn. 9]; examples i.i.d., never sorted or
  sharded by op (the top op must be present).
* Fixed op ("force"): ``op=k``, used for evaluation columns and out-of-distribution ops.
* Split: a train problem has template key < 17, a test problem >= 17 [P2.1 §2.4]; a drawn problem on
  the wrong side is redrawn with the same op, so the op law holds on both sides.
* Reask [P2.1 §2.4, fn. 10]: the same problem sentences with a new query drawn from U; kit rule: the
  new query differs from the old one and the reasked problem is kept only on the requested side.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from plmkit.data.igsm.graphs import GenerationError, draw_dependency_graph, draw_op
from plmkit.data.igsm.problem import SPLITS, Expr, Problem, _check_choice, assemble, split_of
from plmkit.data.igsm.rand import Draws
from plmkit.data.igsm.vocab import LETTERS
from plmkit.data.igsm.world import World, load_world

MAX_LETTERS = len(LETTERS)  # each clause defines one letter [P2.1 §2.2]
MAX_SPLIT_TRIES = 2000


def draw_exprs(draws: Draws, preds: dict, uses_rng: dict, modulus: int) -> dict:
    """Sentence forms [P2.1 Alg. 6]: predecessor order, sum/difference, and how the RNG constant enters.

    Kit rule: a multiplier is drawn from 1..22, never 0 (a factor 0 would make the predecessors irrelevant).
    """
    exprs = {}
    for p, ps in preds.items():
        ps = draws.shuffle(list(ps))
        if not ps:
            exprs[p] = Expr((), "id", "const", draws.below(modulus))
            continue
        comb = "id" if len(ps) == 1 else ("diff" if len(ps) == 2 and draws.coin() else "sum")
        mode = const = None
        if uses_rng[p]:
            if draws.coin():
                mode, const = "plus", draws.below(modulus)
            else:
                mode, const = "times", draws.between(1, modulus - 1)
        exprs[p] = Expr(tuple(ps), comb, mode, const or 0)
    return exprs


def _world(world) -> World:
    return world if isinstance(world, World) else load_world(world)


def random_topological_order(draws: Draws, preds_of: Callable[[int], tuple], targets: list[int]) -> list[int]:
    """A uniformly-chosen-step topological order of ``targets`` (closed under predecessors)."""
    members = set(targets)
    waiting = {p: sum(1 for q in preds_of(p) if q in members) for p in targets}
    users: dict[int, list[int]] = {p: [] for p in targets}
    for p in targets:
        for q in preds_of(p):
            if q in members:
                users[q].append(p)
    ready = sorted(p for p in targets if waiting[p] == 0)
    order = []
    while ready:
        p = ready.pop(draws.below(len(ready)))
        order.append(p)
        for u in users[p]:
            waiting[u] -= 1
            if waiting[u] == 0:
                ready.append(u)
    return order


def _generate(world: World, draws: Draws, s: int, style: Optional[str], split_key: str) -> Problem:
    st, dg, tries = draw_dependency_graph(draws, world, s)
    exprs = draw_exprs(draws, dg.preds, dg.uses_rng, world.config.modulus)
    sentence_order = draws.shuffle(list(range(st.ip)))  # uniformly random sentence order [P2.1 App. D.3]
    letters = draws.sample(LETTERS, s)
    return assemble(world, st, exprs, dg.order, dg.query, dg.necessary_order, sentence_order, letters,
                    style=style, split_key=split_key, tries=tries)


def sample_problem(world="nano", rng: Optional[np.random.Generator] = None, op_max: Optional[int] = None,
                   op: Optional[int] = None, split: str = "train", split_key: str = "skeleton",
                   style: Optional[str] = None, top_op_boost: float = 0.0, draws: Optional[Draws] = None) -> Problem:
    """One problem; the same ``rng`` state gives the same problem.

    ``op=None`` draws op from the training law on 1..op_max (default: the world's op_max); ``op=k``
    forces it. ``split`` is ``train``, ``test`` or ``any``; ``style`` overrides the world's sentence style.
    """
    world = _world(world)
    _check_choice("split", split, SPLITS)
    if draws is None:
        draws = Draws(rng if rng is not None else np.random.default_rng())
    op_max = op_max or world.config.op_max
    if op is not None and not 1 <= op <= MAX_LETTERS:
        raise ValueError(f"op must lie in 1..{MAX_LETTERS} (one letter per operation), got {op}")
    if op is None and not 1 <= op_max <= MAX_LETTERS:
        raise ValueError(f"op_max must lie in 1..{MAX_LETTERS}, got {op_max}")
    s = op if op is not None else draw_op(draws, op_max, top_op_boost)
    for _ in range(MAX_SPLIT_TRIES):
        problem = _generate(world, draws, s, style, split_key)
        if split == "any" or problem.split == split:
            return problem
    raise GenerationError(f"no {split} problem with op = {s} in {MAX_SPLIT_TRIES} draws")


def reask(problem: Problem, rng: Optional[np.random.Generator] = None, split: str = "test",
          tries: int = 20, draws: Optional[Draws] = None) -> Optional[Problem]:
    """The same problem sentences with a new query [P2.1 §2.4]; None if no new query lands on ``split``.

    The new query is uniform over U minus the old query; the necessary set, a random topological
    order, the solution, op and answer are recomputed. Abstract ancestors of the new query join G_d.
    """
    _check_choice("split", split, SPLITS)
    draws = draws or Draws(rng if rng is not None else np.random.default_rng())
    st = problem.structure
    others = [p for p in range(st.size) if p != problem.query]
    for _ in range(tries):
        query = draws.choice(others)
        needed = [q for q in range(st.size) if problem.ancestors(query) >> q & 1] + [query]
        order = random_topological_order(draws, problem.preds_of, needed)
        op = sum(problem.param_op(q) for q in order)
        if op > MAX_LETTERS:
            continue
        in_graph = set(problem.graph)
        graph = list(problem.graph) + [q for q in order if q not in in_graph]
        new = assemble(problem.world, st, problem.exprs, graph, query, order, problem.sentence_order,
                       draws.sample(LETTERS, op), style=problem.style, split_key=problem.split_key,
                       values=problem.values, sentences=problem.sentences, reask=True, tries=problem.tries)
        if split == "any" or new.split == split:
            return new
    return None


def sample_reask(world="nano", rng: Optional[np.random.Generator] = None, op: Optional[int] = None,
                 split: str = "test", split_key: str = "skeleton", style: Optional[str] = None,
                 draws: Optional[Draws] = None) -> Problem:
    """A reask item: a problem drawn at ``op`` (default: the world's first reask op), then reasked."""
    world = _world(world)
    draws = draws or Draws(rng if rng is not None else np.random.default_rng())
    op = op or world.config.reask_from
    for _ in range(MAX_SPLIT_TRIES):
        base = sample_problem(world, op=op, split="any", split_key=split_key, style=style, draws=draws)
        new = reask(base, split=split, draws=draws)
        if new is not None:
            return new
    raise GenerationError(f"no reask item on the {split} side at op = {op}")


def training_sample_fn(world="nano", op_max: Optional[int] = None, layout: str = "pq", loss: str = "solution",
                       window: Optional[int] = None, split: str = "train", style: Optional[str] = None,
                       retry: float = 0.0, retry_kind: str = "retry", weak_variant: str = "later",
                       mask_wrong: bool = False, top_op_boost: float = 0.0, split_key: str = "skeleton"):
    """``fn(rng, n) -> list[Example]`` for :class:`plmkit.data.packing.OnlineStream` (``sep_id=vocab.eos``).

    Problems are drawn i.i.d. from the training law; examples longer than ``window`` (whole
    sequence plus the separator) are dropped and redrawn [P2.1 App. F.1]. ``retry > 0`` inserts retry
    or retry_weak / retry_miss mistakes at that rate [P2.2 §4, §6]; ``mask_wrong`` zeroes the loss on the
    wrong parameters' names.
    """
    from plmkit.data.igsm.retry import RETRY_KINDS, WEAK_VARIANTS, retry_solution

    world = _world(world)
    _check_choice("layout", layout, ("pq", "qp"))
    _check_choice("retry_kind", retry_kind, RETRY_KINDS)
    _check_choice("weak_variant", weak_variant, WEAK_VARIANTS)
    if not 0.0 <= retry < 1.0:
        raise ValueError(f"retry rate must lie in [0, 1), got {retry}")

    def sample_fn(rng: np.random.Generator, n: int):
        draws = Draws(rng)
        out = []
        while len(out) < n:
            problem = sample_problem(world, op_max=op_max, split=split, style=style, top_op_boost=top_op_boost,
                                     split_key=split_key, draws=draws)
            if split != "any" and problem.split != split:  # never a test template in the training stream
                raise RuntimeError(f"a {problem.split} problem reached the {split} stream")
            solution = None
            if retry > 0:
                solution = retry_solution(problem, rate=retry, kind=retry_kind, weak_variant=weak_variant,
                                          draws=draws, mask_wrong=mask_wrong)
            example = problem.example(layout, loss, solution)
            if window is None or len(example.tokens) + 2 <= window + 1:
                out.append(example)
        return out

    return sample_fn


__all__ = ["sample_problem", "reask", "sample_reask", "training_sample_fn", "draw_exprs", "split_of"]
