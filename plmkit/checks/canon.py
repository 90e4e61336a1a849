"""Checkers of lab 07, Part 4.1: Canon layers and the synthetic playground."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .base import _assert_close, checker

KERNEL = 4


# ----------------------------------------------------------------------------------------------
# Exercise 1: a causal depthwise convolution, written as a shift-and-sum
# ----------------------------------------------------------------------------------------------
def _conv(x: torch.Tensor, w: torch.Tensor, left: int = KERNEL - 1, right: int = 0) -> torch.Tensor:
    """Depthwise conv1d of x (B, T, C) with taps w (C, 4), padded ``left``/``right``, cut to T outputs."""
    y = F.conv1d(F.pad(x.transpose(1, 2), (left, right)), w[:, None, :], groups=x.shape[-1])
    return y[..., : x.shape[1]].transpose(1, 2)


def _rolled(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return sum(torch.roll(x, j, dims=1) * w[:, KERNEL - 1 - j] for j in range(KERNEL))


@checker("causal depthwise convolution")
def canon_conv(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 9, 5, generator=generator, dtype=torch.float64)
    w = torch.rand(5, KERNEL, generator=generator, dtype=torch.float64) - 0.5
    got = fn(x, w)
    assert isinstance(got, torch.Tensor) and got.shape == x.shape, \
        f"canon_conv(x, w) should return a tensor of x's shape {tuple(x.shape)}, got {getattr(got, 'shape', got)}"
    got = got.to(torch.float64)
    expected = _conv(x, w)
    if torch.allclose(got, expected, atol=1e-6):
        return
    mistakes = [
        (_conv(x, w.flip(-1)), "the taps are reversed: PyTorch's conv is a cross-correlation, so with 3 zeros padded "
                               "on the left w[:, 3] multiplies the current token x_t and w[:, 0] multiplies x_{t-3}"),
        (expected + x, "you added the residual x: this exercise asks for the convolution alone (Canon adds x itself)"),
        (_rolled(x, w), "the first 3 positions see tokens from the end of the sequence: torch.roll wraps around; "
                        "positions before the start must count as zeros"),
        (_conv(x, w, left=1, right=2), "the output at t uses later tokens: 'same' padding leaks the future; pad 3 zeros "
                                       "on the left only"),
    ]
    for wrong, message in mistakes:
        if torch.allclose(got, wrong, atol=1e-6):
            raise AssertionError(message)
    future = x.clone()
    future[:, 5:] += 1.0
    if not torch.allclose(fn(future, w).to(torch.float64)[:, :5], got[:, :5], atol=1e-9):
        raise AssertionError("the output at position t changes when tokens after t change: the convolution must be causal")
    _assert_close(got, expected, "canon_conv(x, w)", atol=1e-6)


# ----------------------------------------------------------------------------------------------
# Exercise 2: causality by perturbation
# ----------------------------------------------------------------------------------------------
def _strict_past(x):  # out_t = x_{t-1}: causal, and blind to x_t itself
    return torch.cat((torch.zeros_like(x[:, :1]), x[:, :-1]), dim=1)


def _future_mix(x):  # out_t also sees x_{t+1}
    return x + torch.cat((x[:, 1:], torch.zeros_like(x[:, :1])), dim=1)


def _first_sees_second(x):  # a single leak: position 0 reads position 1
    out = x.clone()
    out[:, 0] = out[:, 0] + x[:, 1]
    return out


def _tiny_leak(x):  # a leak of one part in a thousand
    return x.cumsum(1) + 1e-3 * x.flip(1).cumsum(1).flip(1)


def _same_padded(x):
    w = torch.linspace(-0.5, 0.5, KERNEL, dtype=x.dtype).repeat(x.shape[-1], 1)
    return _conv(x, w, left=1, right=2)


CAUSAL_CASES = {
    "the identity": lambda x: x.clone(),
    "a running sum": lambda x: x.cumsum(1),
    "a causal convolution": lambda x: _conv(x, torch.linspace(-0.5, 0.5, KERNEL, dtype=x.dtype).repeat(x.shape[-1], 1)),
    "a running mean of squares": lambda x: (x ** 2).cumsum(1) / torch.arange(1, x.shape[1] + 1, dtype=x.dtype)[:, None],
}
LEAKY_CASES = {
    "a function that mixes in the next token": _future_mix,
    "a reversed running sum": lambda x: x.flip(1).cumsum(1).flip(1),
    "a 'same'-padded convolution": _same_padded,
    "a function whose position 0 reads position 1 (and nothing else leaks)": _first_sees_second,
    "a function with a leak of size 1e-3": _tiny_leak,
}


@checker("causality by perturbation")
def is_causal(fn: Callable[..., bool]) -> None:
    for name, f in CAUSAL_CASES.items():
        verdict = fn(f, 10, 3)
        assert isinstance(verdict, (bool, np.bool_)), f"is_causal should return True or False, got {verdict!r}"
        if not verdict:
            # A check that also perturbs x_t still passes a function that only reads the strict past.
            hint = (" Position t may depend on x_t itself: perturb only the positions after t."
                    if name == "the identity" and fn(_strict_past, 10, 3) else
                    " Only the outputs at positions <= t must stay the same; outputs after t may change.")
            raise AssertionError(f"is_causal calls {name} leaky, but it is causal.{hint}")
    for name, f in LEAKY_CASES.items():
        if fn(f, 10, 3):
            hint = {
                "a function with a leak of size 1e-3": " Compare exactly, or with a tolerance far below 1e-3.",
                "a function whose position 0 reads position 1 (and nothing else leaks)":
                    " Try every t: perturb the positions after t and compare the outputs at positions <= t.",
            }.get(name, "")
            raise AssertionError(f"is_causal calls {name} causal, but it leaks the future.{hint}")


# ----------------------------------------------------------------------------------------------
# Exercise 3: the Depo answer by walking the cycle
# ----------------------------------------------------------------------------------------------
@checker("Depo: walking the cycle")
def depo_answers(fn: Callable) -> None:
    from ..data.playground import depo

    cfg = depo.PRESETS["depo-micro"]
    rng = np.random.default_rng(0)
    for trial in range(40):
        inst = depo.sample_instance(cfg, rng, n=int(rng.integers(3, cfg.N + 1)))
        prompt = inst.tokens.tolist()
        truth = [int(a[0]) for a in depo.walk(cfg, prompt)]
        got = fn(prompt, cfg)
        assert isinstance(got, (list, tuple)) and len(got) == len(truth), \
            f"depo_answers should return one answer per query ({len(truth)} here), got {got!r}"
        got = [int(g) for g in got]
        if got == truth:
            continue
        hops = depo.query_hops(cfg, prompt)
        successor = {prompt[i]: prompt[i + 1] for i in range(1, 1 + 2 * inst.info["n"], 2)}
        predecessor = {v: u for u, v in successor.items()}
        queries = [prompt[i + 1] for i, t in enumerate(prompt) if t in cfg.query_ids]

        def walk(table, steps):
            out = []
            for q, k in zip(queries, steps):
                for _ in range(k):
                    q = table[q]
                out.append(q)
            return out

        if got == walk(predecessor, hops):
            raise AssertionError("you followed the edges backwards: in an edge 'x y', y is the successor of x")
        if got == walk(successor, [k - 1 for k in hops]) or got == walk(successor, [k + 1 for k in hops]):
            raise AssertionError("off by one hop: the answer to <query_k> q is reached after exactly k edges from q")
        if got == walk(successor, [1] * len(hops)) and any(k != 1 for k in hops):
            raise AssertionError("every answer is one hop away: read k from the query token (<query_k> has id "
                                 "cfg.query_ids[k - 1])")
        raise AssertionError(f"wrong answers for an instance with n = {inst.info['n']}: expected {truth}, got {got}")


# ----------------------------------------------------------------------------------------------
# Exercise 4: is a Brevo answer valid?
# ----------------------------------------------------------------------------------------------
def _brevo_cases(seed: int = 0, count: int = 60):
    """(edges, query, answer, valid, what) cases from random DAGs: valid orders and broken ones."""
    from ..data.playground import brevo

    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        n = int(rng.integers(5, 12))
        parents = brevo.random_dag(rng, n)
        q = n - 1
        needed = brevo.ancestors_of(parents, q)
        if len(needed) < 3:
            continue
        edges = [(u, v) for v in range(n) for u in parents[v]]
        order = brevo.random_topological_order(rng, parents, needed)
        other = brevo.random_topological_order(rng, parents, needed)
        cases += [(edges, q, order, True, "valid"), (edges, q, other, True, "valid, another order"),
                  (edges, q, sorted(needed), True, "valid, by index")]  # parents have smaller indices
        for i in range(len(order) - 1):
            swapped = order[:i] + [order[i + 1], order[i]] + order[i + 2:]
            if order[i] in parents[order[i + 1]]:
                cases.append((edges, q, swapped, False, "edge-breaking swap"))
                break
        cases += [(edges, q, order[:-1], False, "missing vertex"), (edges, q, order + [q], False, "the query listed"),
                  (edges, q, order + [order[0]], False, "duplicate")]
        direct = [p for p in order if p in parents[q]]
        if len(direct) < len(order):
            cases.append((edges, q, direct, False, "direct parents only"))
    return cases


BREVO_MESSAGES = {  # in the order a failure is reported: the mistake that explains most wrong verdicts first
    "the query listed": "accepted an answer that lists the query itself: only its ancestors are listed",
    "direct parents only": "accepted the direct parents alone: the answer lists every vertex the query depends on "
                           "recursively (parents of parents too)",
    "edge-breaking swap": "accepted an answer in which a vertex comes before one of its parents",
    "missing vertex": "accepted an answer that leaves out an ancestor",
    "duplicate": "accepted an answer that lists a vertex twice",
}


@checker("Brevo: a valid answer")
def brevo_valid(fn: Callable) -> None:
    wrong, valid_verdicts = set(), []
    for edges, q, answer, valid, what in _brevo_cases():
        verdict = fn(list(edges), q, list(answer))
        assert isinstance(verdict, (bool, np.bool_)), f"is_valid_answer should return True or False, got {verdict!r}"
        if valid:
            valid_verdicts.append(bool(verdict))
        elif verdict:
            wrong.add(what)
    for what, message in BREVO_MESSAGES.items():
        if what in wrong:
            raise AssertionError(message)
    if not all(valid_verdicts):
        if any(valid_verdicts):
            raise AssertionError("rejected some valid answers: any topological order of the ancestors is correct, "
                                 "not only one particular order")
        raise AssertionError("rejected every valid answer: the ancestors of the query, each after all of its parents")


# ----------------------------------------------------------------------------------------------
# Exercise 5: the parameters a placement adds
# ----------------------------------------------------------------------------------------------
@checker("Canon parameter count")
def canon_param_count(fn: Callable[..., int]) -> None:
    from ..experiments.canon.cost import canon_parameter_formula, canon_widths, gated_hidden

    cases = [(12, 768, "ABCD", "swiglu"), (4, 64, "B", "swiglu"), (2, 64, "D", "swiglu"), (3, 48, "D", "gelu"),
             (1, 16, "AC", "swiglu"), (5, 40, "ABCD", "gelu"), (2, 32, "A", "swiglu")]
    for n_layer, d, placement, mlp in cases:
        got = fn(n_layer, d, placement, mlp)
        expected = canon_parameter_formula(n_layer, d, placement, mlp)
        if got == expected:
            continue
        widths = canon_widths(d, mlp)
        what = f"{placement} at {n_layer}L{d}D ({mlp} MLP): expected {expected:,}, got {got}"
        if got == expected // n_layer:
            raise AssertionError(f"{what}. Canon sits in every layer: multiply by n_layer")
        if got == expected // KERNEL:
            raise AssertionError(f"{what}. Each channel has 4 taps (kernel 4)")
        if got == expected + n_layer * sum(widths[p] for p in placement):
            raise AssertionError(f"{what}. Canon has no bias")
        if "B" in placement and got == expected - 4 * n_layer * 2 * d:
            raise AssertionError(f"{what}. B acts on q, k and v together: width 3d")
        if "D" in placement and mlp == "swiglu" and got == expected - 4 * n_layer * gated_hidden(d):
            raise AssertionError(f"{what}. The gated MLP's D acts on gate and up together: width 2 x hidden")
        if "D" in placement and mlp == "swiglu" and got == expected - 4 * n_layer * (widths["D"] - 4 * d):
            raise AssertionError(f"{what}. 4d is the standard MLP's width; the gated MLP's up-projection has "
                                 "2 x hidden outputs (hidden = gated_hidden(d))")
        raise AssertionError(what)
