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
    for T in (5, 9, 2, 1):  # the larger sizes first: at T = 1 several mistakes look alike
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


def _rotary_variants(x: torch.Tensor, base: float) -> dict:
    """Plausible wrong rotations of x (T, d), keyed by the message that names the mistake."""
    T, d = x.shape

    def rotate(a, b, angles, sign=1.0):
        return a * angles.cos() - sign * b * angles.sin(), sign * a * angles.sin() + b * angles.cos()

    pos = torch.arange(T, dtype=torch.float32)[:, None]
    freq = base ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)
    a, b = x[:, 0::2], x[:, 1::2]
    out = {}
    a2, b2 = rotate(a, b, pos * freq, sign=-1.0)
    out["rotates the wrong way: (a, b) -> (a cos + b sin, -a sin + b cos) is a rotation by -theta"] = \
        torch.stack((a2, b2), -1).flatten(-2)
    h = d // 2
    a2, b2 = rotate(x[:, :h], x[:, h:], pos * freq)
    out["pairs dimension k with k + d/2: the planes here are (0, 1), (2, 3), ... (interleaved)"] = torch.cat((a2, b2), -1)
    a2, b2 = rotate(a, b, pos * base ** (-torch.arange(0, h, dtype=torch.float32) / d))
    out["uses base**(-k/d) for plane k: the angle of plane k is t * base**(-2k/d)"] = torch.stack((a2, b2), -1).flatten(-2)
    a2, b2 = rotate(a, b, (pos + 1) * freq)
    out["starts positions at 1: the vector at position t is rotated by t times the frequency, so row 0 stays put"] = \
        torch.stack((a2, b2), -1).flatten(-2)
    return out


@checker("rotary embedding")
def rotary(fn: Callable[..., torch.Tensor]) -> None:
    from ..model import Rotary

    torch.manual_seed(0)
    for T, d in ((6, 4), (10, 8)):
        x = torch.randn(T, d)
        got = fn(x, base=10000.0)
        assert isinstance(got, torch.Tensor) and got.shape == x.shape, \
            f"rotate({tuple(x.shape)}) should return a tensor of the same shape, got {getattr(got, 'shape', got)}"
        expected = Rotary(d, 1.0, 10000.0, T)(x[None, :, None, :])[0, :, 0, :]
        if torch.allclose(got, expected, atol=1e-4):
            continue
        for message, wrong in _rotary_variants(x, 10000.0).items():
            if torch.allclose(got, wrong, atol=1e-4):
                raise AssertionError(f"rotate(x) {message}")
        assert torch.allclose(got[0], x[0], atol=1e-5), \
            "position 0 should not move (its angle is 0): check that positions start at 0"
        norms_ok = torch.allclose(got.norm(dim=-1), x.norm(dim=-1), atol=1e-4)
        assert norms_ok, "a rotation keeps every vector's length, but yours changes it: check the sin/cos signs"
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
    scales, offsets = torch.linspace(0.5, 3.0, d), torch.linspace(-4.0, 4.0, d)
    z = torch.randn(n, d)
    x = z * scales + offsets  # unequal scales and means, like hidden states: standardising matters
    y = (z @ direction).argmax(-1)
    train_x, train_y, test_x, test_y = x[:600], y[:600], x[600:], y[600:]
    weight, bias = fn(train_x, train_y, classes)
    assert weight.shape == (d, classes) and bias.shape == (classes,), \
        f"return weight of shape ({d}, {classes}) and bias of shape ({classes},), got {tuple(weight.shape)} and {tuple(bias.shape)}"
    weight, bias = weight.detach().float(), bias.detach().float()

    def accuracy(features, w, b) -> float:
        return ((features @ w + b).argmax(-1) == test_y).float().mean().item()

    raw = accuracy(test_x, weight, bias)
    if raw <= 0.85:
        mean, std = train_x.mean(0), train_x.std(0)
        if accuracy((test_x - mean) / std, weight, bias) > 0.85:
            raise AssertionError(f"your weights reach {raw:.0%} on raw features but work on standardised ones: fold the "
                                 "standardisation into the returned weight and bias (weight / std, and bias minus "
                                 "(mean / std) @ weight) so they apply to raw hidden states")
        if accuracy(test_x, weight, bias - mean @ weight) > 0.85:
            raise AssertionError(f"your probe reaches {raw:.0%}: the weight is folded but the bias is not; subtract "
                                 "(mean / std) @ W from the bias as well, or raw features get shifted logits")
    assert raw > 0.85, (f"your probe reaches {raw:.0%} on held-out data where a linear rule is 100% right; "
                        "train longer or with a larger learning rate, and make sure the loss is cross-entropy")
    shuffled = train_y[torch.randperm(600)]
    weight, bias = fn(train_x, shuffled, classes)
    chance = ((test_x @ weight + bias).argmax(-1) == test_y).float().mean().item()
    assert chance < 0.6, (f"trained on shuffled labels your probe still reaches {chance:.0%} on the test set: "
                          "it must only see the training data it is given")


# ----------------------------------------------------------------------------------------------
# Lab 00: the entropy of one step of the bracket walk
# ----------------------------------------------------------------------------------------------
def _step_entropy(depth: int, first: bool, p_end: float, max_depth: int) -> float:
    if first:
        return math.log(2)
    if depth == max_depth:
        return 0.0
    if depth == 0:
        return -(p_end * math.log(p_end) + (1 - p_end) * math.log((1 - p_end) / 2)) if p_end < 1 else 0.0
    return -(2 * 0.25 * math.log(0.25) + 0.5 * math.log(0.5))


def _step_entropy_mistakes(depth: int, first: bool, p_end: float, max_depth: int) -> dict:
    right = _step_entropy(depth, first, p_end, max_depth)
    free = 0 < depth < max_depth and not first
    out = {"is in bits: the loss is measured in nats (natural log), as the training loss is": right / math.log(2)}
    if free:
        out["counts two closers: only the closer of the innermost open bracket is legal, so 'close' is one "
            "outcome of probability 1/2"] = math.log(4)
    if depth == max_depth and not first:
        out[f"at depth max_depth = {max_depth} the walk must close: one outcome, entropy 0"] = 1.5 * math.log(2)
    if depth == 0 and not first:
        out["at depth 0 (after the first token) the sentence may end with probability p_end, or open one of two "
            "brackets"] = math.log(2)
    out["is the uniform guess over the five outcomes: the walk's choices are not uniform"] = math.log(5)
    return out


@checker("entropy of one step")
def step_entropy(fn: Callable[..., float]) -> None:
    cases = [(0, True, 0.25, 4), (0, False, 0.25, 4), (1, False, 0.25, 4), (3, False, 0.25, 4), (4, False, 0.25, 4),
             (0, False, 0.5, 2), (2, False, 0.5, 2), (1, False, 0.1, 3)]
    for depth, first, p_end, max_depth in cases:
        got = fn(depth, first=first, p_end=p_end, max_depth=max_depth)
        call = f"step_entropy({depth}, first={first}, p_end={p_end}, max_depth={max_depth})"
        assert isinstance(got, (int, float)) or (isinstance(got, torch.Tensor) and got.numel() == 1), \
            f"{call} should return one number, got {type(got).__name__}"
        got, want = float(got), _step_entropy(depth, first, p_end, max_depth)
        if math.isclose(got, want, abs_tol=1e-6):
            continue
        for message, wrong in _step_entropy_mistakes(depth, first, p_end, max_depth).items():
            if math.isclose(got, wrong, abs_tol=1e-6):
                raise AssertionError(f"{call} = {got:.4f}: your entropy {message}")
        raise AssertionError(f"{call} = {got:.4f}, expected {want:.4f} nats: list the outcomes the walk can take at "
                             "this depth and their probabilities, then sum -p ln p")


# ----------------------------------------------------------------------------------------------
# Lab 00: where counting cannot tell which bracket closes next
# ----------------------------------------------------------------------------------------------
def _to_close_labels(symbols, rule: str = "right") -> list[int]:
    """-1, or the innermost open bracket after the token (0 round, 1 square) where the probe reads it."""
    stack, labels = [], []
    for s in symbols:
        before = stack[-1] if stack else None
        if s in "([":
            stack.append(s)
        else:
            stack.pop()
        closer = s in ")]"
        both = "(" in stack and "[" in stack
        inner = stack[-1] if stack else None
        if rule == "every_closer":
            probed = closer and stack
        elif rule == "every_token":
            probed = both
        else:
            probed = closer and both
        if not probed:
            labels.append(-1)
        elif rule == "before":
            labels.append(0 if before == "(" else 1)
        elif rule == "outermost":
            labels.append(0 if stack[0] == "(" else 1)
        else:
            labels.append(0 if inner == "(" else 1)
    return labels


_TO_CLOSE_MISTAKES = {
    "every_closer": "labels positions where only one kind of bracket is open: there counting the brackets tells the "
                    "answer, so a random network reads it too. Label a closer only while both kinds are still open",
    "every_token": "labels positions right after an opening bracket: there the current token shows the answer. "
                   "Label only positions right after a closing bracket",
    "before": "is off by one: a label describes the state after reading its token (the bracket that must close "
              "next), not the bracket the token just closed",
    "outermost": "reads the outermost open bracket: the one that must close next is the innermost (top of the stack)",
}


@checker("bracket to close: probe labels")
def to_close_labels(fn: Callable) -> None:
    import numpy as np

    from ..data.brackets import BracketWorld

    world = BracketWorld(max_depth=4, p_end=0.25, max_len=60)
    tok = world.tokenizer()
    sentences = [list("([()])"), list("[(])"), list("([])[()]"), list("(([[]]))")]
    sentences = [s for s in sentences if world.is_valid(tok.encode(s))]
    sentences += [tok.decode(s).split() for s in world.sample(np.random.default_rng(7), 40)]
    answers = []
    for symbols in sentences:
        got = fn(list(symbols))
        assert isinstance(got, (list, tuple)) and len(got) == len(symbols), \
            f"return one label per token ({len(symbols)} for {' '.join(symbols)}), got {got!r}"
        answers.append([int(v) for v in got])
    wrong = [(symbols, got) for symbols, got in zip(sentences, answers) if got != _to_close_labels(symbols)]
    if not wrong:
        return
    symbols, got = wrong[0]
    for rule, message in _TO_CLOSE_MISTAKES.items():
        if all(a == _to_close_labels(s, rule) for s, a in zip(sentences, answers)):
            raise AssertionError(f"for {' '.join(symbols)} your labels {got} {message}")
    raise AssertionError(f"for {' '.join(symbols)} the labels should be {_to_close_labels(symbols)}, yours are {got}")
