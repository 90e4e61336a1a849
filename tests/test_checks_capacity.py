"""Lab 06's checkers: each passes the lab's own solution, fails its stub, and names plausible mistakes."""
import math
from collections import Counter

import numpy as np
import pytest
import torch

from plmkit import checks, labs
from test_checks import exercise_cells, run_cell

LAB = "06_capacity"


def solution(name: str):
    """The lab's reference solution of one exercise, as a function."""
    for param in exercise_cells(LAB):
        imports, source = param.values[0], param.values[1]
        if f"def {name}(" in source:
            namespace: dict = {}
            run_cell(source.split("\nchecks.")[0], imports, namespace)
            return namespace[name]
    raise KeyError(name)


def test_lab_has_five_graded_exercises_with_hints():
    cells = list(exercise_cells(LAB))
    assert len(cells) == 5
    source = (labs.SOURCES / f"{LAB}.py").read_text()
    assert source.count("**Difficulty:**") == 5 and source.count("**Importance:**") == 5
    assert source.count("<details><summary>Hint") >= 5


def rejects(checker, fn, *words):
    with pytest.raises(AssertionError) as info:
        checker(fn)
    message = str(info.value).lower()
    assert all(w.lower() in message for w in words), message
    return message


def log2_comb(n, k):
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)) / math.log(2)


# ---- exercise 1: entropy ----------------------------------------------------------------------------------
def test_entropy_accepts_the_solution():
    checks.biod_entropy(solution("entropy_bits"))


@pytest.mark.parametrize("wrong,words", [
    (lambda c: (c.N * math.log2(c.N0), c.N * c.K * c.C * math.log2(c.D), c.K * log2_comb(c.T ** c.L, c.D)),
     ("with replacement", "distinct", "C(N0, N)")),
    (lambda c: (log2_comb(c.N0, c.N), c.N * c.K * math.log2(c.D), c.K * log2_comb(c.T ** c.L, c.D)), ("C chunks",)),
    (lambda c: (log2_comb(c.N0, c.N), c.N * c.K * c.C * math.log2(c.D), 0.0), ("diversity", "missing")),
    (lambda c: (log2_comb(c.N0, c.N), c.N * c.K * c.C * math.log2(c.D), c.K * log2_comb(c.T, c.D)), ("T^L",)),
    (lambda c: tuple(x * math.log(2) for x in (log2_comb(c.N0, c.N), c.N * c.K * c.C * math.log2(c.D),
                                                 c.K * log2_comb(c.T ** c.L, c.D))), ("nats",)),
])
def test_entropy_rejects_plausible_mistakes(wrong, words):
    rejects(checks.biod_entropy, wrong, *words)


# ---- exercise 2: bits from per-token losses -------------------------------------------------------------------
def bits_variant(mode):
    def fn(token_loss, positions, c):
        n, K, V = positions.shape
        values = np.take_along_axis(token_loss, positions.reshape(n, K * V), axis=1).reshape(n, K, V)
        agg = (lambda x, axis: x.mean(axis=axis)) if mode == "mean" else (lambda x, axis: x.sum(axis=axis))
        p1 = agg(token_loss[:, :c.name_length], 1).mean()
        p2 = agg(values, 2).mean()
        p3 = p2 if mode == "p2_for_p3" else agg(values[:, :, :c.L], 2).mean()
        to_bits = 1.0 if mode == "nats" else 1 / math.log(2)
        per_value = c.N if mode == "times_N" else c.N * c.K
        return (c.N * (math.log2(c.N0) - p1 * to_bits), per_value * (c.C * math.log2(c.D) - p2 * to_bits),
                c.K * c.D * (math.log2(c.T ** c.L / c.D) - p3 * to_bits))
    return fn


def test_bits_accept_the_solution():
    checks.bits_from_losses(solution("learned_bits"))


@pytest.mark.parametrize("mode,words", [("mean", ("averaged per token", "sums")), ("nats", ("nats", "log2(e)")),
                                        ("p2_for_p3", ("first chunk",)), ("times_N", ("N*K",))])
def test_bits_reject_plausible_mistakes(mode, words):
    rejects(checks.bits_from_losses, bits_variant(mode), *words)


def test_bits_reject_a_name_read_one_column_late():
    right = solution("learned_bits")

    def late(token_loss, positions, c):
        shifted = token_loss.copy()
        shifted[:, :c.name_length] = token_loss[:, 1:c.name_length + 1]
        return right(shifted, positions, c)

    rejects(checks.bits_from_losses, late, "one column late")


# ---- exercise 3: R and R^max -----------------------------------------------------------------------------------
def ratios(count):
    def fn(model, used, learned, max_bits):
        P = count(model, len(set(int(t) for t in used)))
        return learned / P, max_bits / P
    return fn


def total(model):
    return sum(p.numel() for p in model.parameters())


def test_ratios_accept_the_solution():
    checks.capacity_ratios(solution("capacity_ratios"))


@pytest.mark.parametrize("count,words", [
    (lambda m, used: total(m), ("every embedding row",)),
    (lambda m, used: total(m) - m.lm_head.weight.numel() - (0 if m.config.tie_embeddings else m.tok_emb.weight.numel()),
     ("leaves out the embeddings",)),
    (lambda m, used: total(m) - 2 * (m.config.vocab_size - used) * m.config.d_model, ("tied", "once")),
    (lambda m, used: total(m) - (m.config.vocab_size - used) * m.config.d_model, ("output layer",)),
])
def test_ratios_reject_plausible_parameter_counts(count, words):
    rejects(checks.capacity_ratios, ratios(count), *words)


def test_ratios_reject_swapped_outputs():
    right = solution("capacity_ratios")
    rejects(checks.capacity_ratios, lambda m, u, a, b: right(m, u, a, b)[::-1], "swapped")


# ---- exercise 4: the double-counted fact ---------------------------------------------------------------------------
def test_free_bits_accept_the_solution():
    checks.double_counted_bits(solution("free_employer_bits"))


@pytest.mark.parametrize("wrong,words", [
    (lambda cities: math.log2(len(cities)), ("all employer bits",)),
    (lambda cities: math.log2(len(set(cities))), ("equally likely",)),
    (lambda cities: float(np.mean([math.log2(len(cities) / n) for n in Counter(cities).values()])), ("weighting",)),
    (lambda cities: sum(n / len(cities) * math.log2(n) for n in Counter(cities).values()), ("h(employer | city)",)),
    (lambda cities: sum(n / len(cities) * math.log(len(cities) / n) for n in Counter(cities).values()), ("nats",)),
])
def test_free_bits_reject_plausible_mistakes(wrong, words):
    rejects(checks.double_counted_bits, wrong, *words)


# ---- exercise 5: round-to-nearest ----------------------------------------------------------------------------------
def rtn(per_row=True, levels=None, rounding=torch.round, dim=1, integers=False):
    def fn(w, bits):
        top = levels(bits) if levels else 2 ** (bits - 1) - 1
        peak = w.abs().amax(dim=dim, keepdim=True) if per_row else w.abs().amax()
        scale = torch.where(peak > 0, peak / top, torch.ones_like(peak))
        q = torch.clamp(rounding(w / scale), -top, top)
        return q.to(torch.int8) if integers else q * scale
    return fn


def test_rtn_accepts_the_solution():
    checks.round_to_nearest(solution("round_to_nearest"))


@pytest.mark.parametrize("wrong,words", [
    (rtn(per_row=False), ("one scale for the whole matrix",)),
    (rtn(dim=0), ("per column",)),
    (rtn(levels=lambda b: 2 ** (b - 1)), ("2^(b-1) - 1",)),
    (rtn(levels=lambda b: 2 ** b - 1), ("2^b - 1",)),
    (rtn(rounding=torch.floor), ("floored",)),
    (rtn(rounding=torch.trunc), ("truncated",)),
    (rtn(integers=True), ("dequantised",)),
])
def test_rtn_rejects_plausible_mistakes(wrong, words):
    rejects(checks.round_to_nearest, wrong, *words)


def test_rtn_rejects_nan_on_a_zero_row():
    def unguarded(w, bits):
        top = 2 ** (bits - 1) - 1
        scale = w.abs().amax(dim=1, keepdim=True) / top
        return torch.clamp(torch.round(w / scale), -top, top) * scale

    rejects(checks.round_to_nearest, unguarded, "nan")
