"""Checkers of lab 01 (Part 1, context-free grammars)."""
from __future__ import annotations

from collections import Counter
from typing import Callable

import numpy as np
import torch

from .base import _assert_close, checker

SAMPLER_GRAMMAR = "cfg3f-d2"  # small enough to enumerate: exact sentence probabilities
SAMPLER_DRAWS = 4000
SAMPLER_MAX_TV = 0.12  # a correct sampler stays below ~0.08 at 4000 draws (tests/test_checks_cfg.py)


def _grammar(name: str):
    from ..data import cfg

    return cfg.Grammar.load(name)


def _as_tokens(out, what: str) -> list[int]:
    if isinstance(out, torch.Tensor):
        out = out.tolist()
    if isinstance(out, np.ndarray):
        out = out.tolist()
    assert isinstance(out, (list, tuple)), f"{what} should return a list of token ids, got {type(out).__name__}"
    assert all(isinstance(t, (int, np.integer)) for t in out), \
        f"{what} should return plain token ids (ints), got {out[:5]}... Expand non-terminals until only terminals remain"
    return [int(t) for t in out]


@checker("sampling from a grammar")
def cfg_sampler(fn: Callable) -> None:
    from ..data import cfg

    g = _grammar(SAMPLER_GRAMMAR)
    rules = {a: [tuple(r) for r in rs] for a, rs in g.rules.items()}
    rng = np.random.default_rng(0)
    draws = [tuple(_as_tokens(fn(rules, g.root, rng), "sample_sentence")) for _ in range(SAMPLER_DRAWS)]
    for x in draws[:300]:
        assert cfg.accepts(g, x), (f"sample_sentence produced {list(x)}, which root {g.root} cannot derive: children must be "
                                   "expanded left to right, each non-terminal by one of its own rules")
    support = cfg.enumerate_sentences(g)
    counts = Counter(draws)
    assert len(counts) > 10, (f"only {len(counts)} different sentences in {SAMPLER_DRAWS} draws: pick a rule at random "
                              "for every non-terminal you expand (rng.integers(len(rules[A])))")
    tv = 0.5 * sum(abs(counts.get(s, 0) / SAMPLER_DRAWS - float(p)) for s, (p, _) in support.items())
    assert tv < SAMPLER_MAX_TV, (f"your sentences are valid but their frequencies are off (total variation {tv:.2f} from the "
                                 "exact distribution): every rule of a non-terminal must have probability 1/len(rules[A]), "
                                 "chosen independently at every node")


@checker("membership by dynamic programming")
def cfg_membership(fn: Callable) -> None:
    from ..data import cfg

    rng = np.random.default_rng(1)
    for name in ("cfg3f-d3", "cfg3b-d3"):
        g = _grammar(name)
        rules = {a: [tuple(r) for r in rs] for a, rs in g.rules.items()}
        cases = [list(s) for s in cfg.sample(g, 60, rng)]
        for s in cfg.sample(g, 60, rng):  # 1-3 flipped tokens: mostly, not always, outside the language
            bad, _ = cfg.corrupt_prefix(s, len(s), 0.1, rng, g)
            cases.append(bad.tolist())
        cases += [rng.integers(1, g.num_terminals + 1, size=int(k)).tolist() for k in rng.integers(1, 30, size=30)]
        cases += [[], list(cases[0][:-1]), list(cases[0]) + [1]]
        for x in cases:
            got = fn(rules, g.root, list(x))
            assert isinstance(got, (bool, np.bool_)), f"accepts_dp should return True or False, got {type(got).__name__}"
            expected = cfg.accepts(g, x)
            if bool(got) != expected:
                if expected:
                    raise AssertionError(
                        f"{name}: accepts_dp rejects {x} (length {len(x)}), a sentence the grammar derives. Check the "
                        "ternary rules (two split points) and that a span x[i:j] ends at j exclusive")
                raise AssertionError(
                    f"{name}: accepts_dp accepts {x} (length {len(x)}), which root {g.root} cannot derive. The root must "
                    "derive the whole string x[0:n], not just a piece of it")


@checker("boundary probe")
def boundary_probe(fn: Callable) -> None:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    n_train, n_test, d = 3000, 1500, 16
    direction = torch.randn(d, generator=gen)
    x = torch.randn(n_train + n_test, d, generator=gen) * torch.linspace(0.5, 4.0, d)
    score = (x / torch.linspace(0.5, 4.0, d)) @ direction + 0.3 * torch.randn(n_train + n_test, generator=gen)
    y = (score > torch.quantile(score, 0.9)).long()  # 10% boundaries, as at a high level of the tree
    train_x, train_y, test_x, test_y = x[:n_train], y[:n_train], x[n_train:], y[n_train:]
    got = fn(train_x, train_y, test_x, test_y)
    assert isinstance(got, (float, np.floating)) or (isinstance(got, torch.Tensor) and got.numel() == 1), \
        f"return the balanced accuracy as one float, got {type(got).__name__}"
    got = float(got)
    assert 0.0 <= got <= 1.0, f"a balanced accuracy lies in [0, 1], got {got}"
    assert got > 0.85, (f"your probe scores {got:.2f} where the boundary is linearly readable (a good probe gets > 0.9): "
                        "standardise the features, train longer, and check that the loss is cross-entropy")
    shuffled = train_y[torch.randperm(n_train, generator=gen)]
    chance = float(fn(train_x, shuffled, test_x, test_y))
    assert chance < 0.62, (f"trained on shuffled labels your probe still scores {chance:.2f}. With 90% non-boundaries, "
                           "plain accuracy rewards always answering 'no': report the mean of the recall of each class "
                           "(balanced accuracy), where that trivial rule scores 0.5")


def _reference_excess(A: torch.Tensor) -> torch.Tensor:
    T = A.shape[0]
    out = torch.zeros_like(A)
    for delta in range(T):
        idx = torch.arange(delta, T)
        diagonal = A[idx, idx - delta]
        out[idx, idx - delta] = diagonal - diagonal.mean()
    return out


@checker("excess attention")
def excess_attention(fn: Callable) -> None:
    gen = torch.Generator().manual_seed(0)
    for T in (5, 9):
        scores = torch.randn(T, T, generator=gen).masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
        A = scores.softmax(-1)
        got = fn(A.clone())
        assert isinstance(got, torch.Tensor) and got.shape == A.shape, \
            f"excess_attention should return a tensor of shape {tuple(A.shape)}, got {getattr(got, 'shape', type(got))}"
        upper = got.triu(1)
        assert torch.all(upper == 0), "keys after the query (j > i) carry no attention: leave those entries at 0"
        expected = _reference_excess(A)
        if not torch.allclose(got, expected, atol=1e-5):
            wrong_mean = A.diagonal(-1).sum() / T
            if torch.isclose(got[1, 0], A[1, 0] - wrong_mean, atol=1e-6):
                raise AssertionError("the mean at distance d runs over the T - d queries that have a key at that distance, "
                                     "not over all T rows")
            _assert_close(got, expected, "excess_attention(A)")
    # attention that depends only on the distance carries no excess at all
    T = 7
    distance_only = torch.zeros(T, T)
    for d, value in enumerate((0.5, 0.3, 0.2)):
        idx = torch.arange(d, T)
        distance_only[idx, idx - d] = value
    got = fn(distance_only)
    assert torch.allclose(got, torch.zeros(T, T), atol=1e-6), \
        "attention that depends only on the distance i - j should have zero excess everywhere"
