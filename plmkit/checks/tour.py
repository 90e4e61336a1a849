"""Checkers of lab 00, the tour."""
from __future__ import annotations

import math
from typing import Callable

import torch

from .base import _assert_close, checker


# ----------------------------------------------------------------------------------------------
# Lab 00: the tour
# ----------------------------------------------------------------------------------------------
@checker("causal mask")
def causal_mask(fn: Callable[[int], torch.Tensor]) -> None:
    for T in (1, 2, 5, 9):
        mask = fn(T)
        assert isinstance(mask, torch.Tensor), f"causal_mask({T}) should return a tensor, got {type(mask).__name__}"
        assert mask.shape == (T, T), f"causal_mask({T}) should have shape ({T}, {T}), got {tuple(mask.shape)}"
        assert mask.dtype == torch.bool, f"causal_mask should return a bool tensor (True = may attend), got {mask.dtype}"
        expected = torch.ones(T, T, dtype=torch.bool).tril()
        if torch.equal(mask, expected):
            continue
        if torch.equal(mask, expected.T):
            raise AssertionError("causal_mask looks transposed: row i is the query, so row i may see columns 0..i, "
                                 "not i..T-1")
        if torch.equal(mask, torch.ones(T, T, dtype=torch.bool).tril(-1)):
            raise AssertionError("causal_mask forgets the diagonal: a token may attend to itself")
        if torch.equal(mask, ~expected):
            raise AssertionError("causal_mask looks inverted: True must mean 'may attend'")
        raise AssertionError(f"causal_mask({T}) is wrong: query i must see keys 0..i and nothing after")


@checker("rotary embedding")
def rotary(fn: Callable[..., torch.Tensor]) -> None:
    from ..model import Rotary

    torch.manual_seed(0)
    for T, d in ((6, 4), (10, 8)):
        x = torch.randn(T, d)
        got = fn(x, base=10000.0)
        assert isinstance(got, torch.Tensor) and got.shape == x.shape, \
            f"rotate({tuple(x.shape)}) should return a tensor of the same shape, got {getattr(got, 'shape', got)}"
        assert torch.allclose(got[0], x[0], atol=1e-5), \
            "position 0 should not move (its angle is 0): check that positions start at 0"
        norms_ok = torch.allclose(got.norm(dim=-1), x.norm(dim=-1), atol=1e-4)
        assert norms_ok, "a rotation keeps every vector's length, but yours changes it: check the sin/cos signs"
        expected = Rotary(d, 1.0, 10000.0, T)(x[None, :, None, :])[0, :, 0, :]
        _assert_close(got, expected, "rotate(x)", atol=1e-4)
    # the point of it all: scores depend only on the distance between query and key
    q, k = torch.randn(1, 8).repeat(12, 1), torch.randn(1, 8).repeat(12, 1)
    rq, rk = fn(q, base=10000.0), fn(k, base=10000.0)
    assert math.isclose((rq[7] @ rk[4]).item(), (rq[10] @ rk[7]).item(), abs_tol=1e-4), \
        "q_i . k_j should depend only on i - j"


@checker("linear probe")
def linear_probe(fn: Callable[..., tuple]) -> None:
    torch.manual_seed(0)
    n, d, classes = 900, 16, 3
    direction = torch.randn(d, classes)
    x = torch.randn(n, d) * torch.linspace(0.5, 3.0, d)  # unequal scales: standardising matters
    y = (x / torch.linspace(0.5, 3.0, d) @ direction).argmax(-1)
    train_x, train_y, test_x, test_y = x[:600], y[:600], x[600:], y[600:]
    weight, bias = fn(train_x, train_y, classes)
    assert weight.shape == (d, classes) and bias.shape == (classes,), \
        f"return weight of shape ({d}, {classes}) and bias of shape ({classes},), got {tuple(weight.shape)} and {tuple(bias.shape)}"
    accuracy = ((test_x @ weight + bias).argmax(-1) == test_y).float().mean().item()
    assert accuracy > 0.85, (f"your probe reaches {accuracy:.0%} on held-out data where a linear rule is 100% right; "
                             "train longer or with a larger learning rate, and make sure the loss is cross-entropy")
    shuffled = train_y[torch.randperm(600)]
    weight, bias = fn(train_x, shuffled, classes)
    chance = ((test_x @ weight + bias).argmax(-1) == test_y).float().mean().item()
    assert chance < 0.6, (f"trained on shuffled labels your probe still reaches {chance:.0%} on the test set: "
                          "it must only see the training data it is given")
