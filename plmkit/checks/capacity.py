"""Checkers of lab 06 (Part 3.3, knowledge capacity).

Each checker runs the student's function on a few cases against plmkit's own implementation
(:mod:`plmkit.data.capacity`). When the answer is wrong it also tries the usual mistakes of that exercise and,
if one of them explains the answer, says which.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from .base import checker

LOG2E = 1.0 / math.log(2.0)


def _close(a: float, b: float, rel: float = 1e-6, abs_tol: float = 1e-6) -> bool:
    return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=abs_tol)


def _as_triple(result, what: str) -> tuple[float, float, float]:
    if hasattr(result, "name") and hasattr(result, "value") and hasattr(result, "diversity"):
        result = (result.name, result.value, result.diversity)
    try:
        name, value, diversity = (float(x) for x in result)
    except (TypeError, ValueError):
        raise AssertionError(f"{what} should return three numbers (name, value, diversity), got {result!r}") from None
    return name, value, diversity


def _explain(got: tuple, candidates: dict, default: str) -> str:
    """The message of the first known mistake whose numbers match the student's answer."""
    for message, numbers in candidates.items():
        if all(_close(g, n, rel=1e-4, abs_tol=1e-3) for g, n in zip(got, numbers)):
            return message
    return default


# ----------------------------------------------------------------------------------------------
# Exercise 1: the entropy of a bioD dataset
# ----------------------------------------------------------------------------------------------
def _log2_comb(n: int, k: int) -> float:
    from ..data.capacity import log2_binomial

    return log2_binomial(n, k)


def _entropy_mistakes(cfg) -> dict:
    right_div = cfg.K * _log2_comb(cfg.T ** cfg.L, cfg.D)
    right_name, right_value = _log2_comb(cfg.N0, cfg.N), cfg.N * cfg.K * cfg.C * math.log2(cfg.D)
    pool_of_tokens = cfg.K * _log2_comb(cfg.T, cfg.D) if cfg.D <= cfg.T else float("nan")
    return {
        "the name term counts N names drawn with replacement (N * log2 N0); the names are N *distinct* names, "
        "so the data only says which set of N was drawn: log2 C(N0, N)":
            (cfg.N * math.log2(cfg.N0), right_value, right_div),
        "the value term forgets the C chunks: each value is C independent draws from the pool, N*K*C*log2 D":
            (right_name, cfg.N * cfg.K * math.log2(cfg.D), right_div),
        "the diversity term is missing: the K pools are themselves random, K * log2 C(T^L, D) bits":
            (right_name, right_value, 0.0),
        "the diversity term counts T possible chunks; a chunk is L tokens, so there are T^L strings: K * log2 C(T^L, D)":
            (right_name, right_value, pool_of_tokens),
        "the diversity term counts the pool as an ordered list drawn with replacement (K*D*log2 T^L); a pool is a "
        "set of D distinct strings: K * log2 C(T^L, D)":
            (right_name, right_value, cfg.K * cfg.D * cfg.L * math.log2(cfg.T)),
        "these look like nats: the entropy is asked in bits (log2, not the natural log)":
            (right_name / LOG2E, right_value / LOG2E, right_div / LOG2E),
    }


@checker("entropy of a bioD dataset")
def biod_entropy(fn: Callable) -> None:
    from ..data.capacity import BioDConfig
    from ..data.capacity import biod_entropy as reference

    configs = [BioDConfig(N=500, K=8, C=1, D=64, L=1, T=256, name_pools=(256, 256)),
               BioDConfig(N=300, K=3, C=2, D=15, L=2, T=20, name_pools=(30, 40)),
               BioDConfig(N=10_000, K=5, C=3, D=30, L=3, T=40, name_pools=(400, 400, 1000))]
    for cfg in configs:
        got = _as_triple(fn(cfg), "entropy_bits(config)")
        want = reference(cfg)
        expected = (want.name, want.value, want.diversity)
        if all(_close(g, w) for g, w in zip(got, expected)):
            continue
        terms = [t for t, g, w in zip(("name", "value", "diversity"), got, expected) if not _close(g, w)]
        default = (f"for N={cfg.N}, K={cfg.K}, C={cfg.C}, D={cfg.D}, L={cfg.L}, T={cfg.T}, N0={cfg.N0} the "
                   f"{' and '.join(terms)} term{'s are' if len(terms) > 1 else ' is'} off: expected "
                   f"{tuple(round(x, 2) for x in expected)}, got {tuple(round(x, 2) for x in got)}")
        raise AssertionError(_explain(got, _entropy_mistakes(cfg), default))


# ----------------------------------------------------------------------------------------------
# Exercise 2: the bits a model holds, from its per-token losses
# ----------------------------------------------------------------------------------------------
def _bits(cfg, p1: float, p2: float, p3: float) -> tuple[float, float, float]:
    from ..data.capacity import biod_learned_bits

    b = biod_learned_bits(cfg, p1, p2, p3)
    return b.name, b.value, b.diversity


def _loss_case(seed: int):
    """A small dataset's measurement rows with made-up per-token losses (in nats)."""
    from ..data.capacity import BioDConfig, generate_biod
    from ..data.capacity.bits import measurement_lines

    cfg = BioDConfig(N=60, K=3, C=2, D=40, L=2, T=30, name_pools=(20, 30))
    data = generate_biod(cfg, seed=seed)
    rows, positions = measurement_lines(data, seed=seed)
    rng = np.random.default_rng(seed)
    token_loss = rng.gamma(1.0, 0.8, size=(rows.shape[0], rows.shape[1] - 1))
    return cfg, token_loss, positions


def _loss_mistakes(cfg, token_loss, positions) -> dict:
    n, k, v = positions.shape
    values = np.take_along_axis(token_loss, positions.reshape(n, k * v), axis=1).reshape(n, k, v)
    p1, p2, p3 = token_loss[:, :2].sum(1).mean(), values.sum(2).mean(), values[:, :, :cfg.L].sum(2).mean()
    mean1, mean2, mean3 = token_loss[:, :2].mean(), values.mean(), values[:, :, :cfg.L].mean()
    right = _bits(cfg, p1, p2, p3)
    return {
        "the losses are averaged per token; Part 3.3 *sums* the losses over a name's and a value's tokens "
        "(the loss of the whole name or value), then averages over people [P3.3 Remark 3.1]":
            _bits(cfg, mean1, mean2, mean3),
        "the losses are in nats: convert them to bits with log2(e) = 1.4427 before subtracting them from bit counts":
            tuple(b + c * p * (LOG2E - 1) for b, c, p in
                  zip(right, (cfg.N, cfg.N * cfg.K, cfg.K * cfg.D), (p1, p2, p3))),
        "the diversity term uses the loss of the whole value; it needs loss_value1, the loss of the *first chunk* "
        "(its first L tokens) only":
            _bits(cfg, p1, p2, p2),
        "the name loss sums one column too many: the name is columns 0 .. name_length-1 (column t is line token t)":
            _bits(cfg, token_loss[:, :3].sum(1).mean(), p2, p3),
        "the name loss starts one column late: column 0 is already the name's first token (the <eos> before it is "
        "the input, not a target)": _bits(cfg, token_loss[:, 1:3].sum(1).mean(), p2, p3),
        "the value term counts N people once each; there are N*K (person, attribute) values, each with its own loss":
            (right[0], cfg.N * (cfg.C * math.log2(cfg.D) - p2 * LOG2E), right[2]),
    }


@checker("bits from per-token losses")
def bits_from_losses(fn: Callable) -> None:
    for seed in (0, 1):
        cfg, token_loss, positions = _loss_case(seed)
        got = _as_triple(fn(token_loss.copy(), positions.copy(), cfg), "learned_bits(token_loss, value_positions, config)")
        from ..data.capacity import biod_learned_bits, biod_losses

        losses = biod_losses(token_loss, positions, cfg.name_length, cfg.L)
        want = biod_learned_bits(cfg, losses.p1, losses.p2, losses.p3)
        expected = (want.name, want.value, want.diversity)
        if all(_close(g, w, rel=1e-5, abs_tol=1e-4) for g, w in zip(got, expected)):
            continue
        default = (f"expected (name, value, diversity) = {tuple(round(x, 1) for x in expected)} bits, got "
                   f"{tuple(round(x, 1) for x in got)}: check p1 (sum over the name), p2 (sum over each value), "
                   "p3 (sum over each value's first chunk) and the three formulas of Def. 4.1")
        raise AssertionError(_explain(got, _loss_mistakes(cfg, token_loss, positions), default))
    # a perfect "model" stores exactly what the data holds
    cfg, token_loss, positions = _loss_case(2)
    perfect = np.zeros_like(token_loss)
    perfect[:, :cfg.name_length] = math.log(cfg.N) / cfg.name_length
    got = _as_triple(fn(perfect, positions, cfg), "learned_bits")
    from ..data.capacity import biod_max_bits

    want = biod_max_bits(cfg)
    assert _close(sum(got), want.total, rel=1e-6), \
        f"a perfect model (name loss ln N, value losses 0) should get {want.total:.1f} bits, yours gets {sum(got):.1f}"


# ----------------------------------------------------------------------------------------------
# Exercise 3: R and R^max, with the parameters Part 3.3 counts
# ----------------------------------------------------------------------------------------------
def _ratio_models():
    from ..model import GPT, GPTConfig

    torch.manual_seed(0)
    tied = GPT(GPTConfig(vocab_size=300, context=32, n_layer=2, n_head=2, d_model=16, tie_embeddings=True))
    untied = GPT(GPTConfig(vocab_size=200, context=32, n_layer=1, n_head=2, d_model=24, tie_embeddings=False))
    return [(tied, np.arange(3, 150)), (untied, np.array(sorted(set(range(0, 200, 3)))))]


def _parameter_mistakes(model, used: np.ndarray) -> dict:
    counts = model.param_counts(used_token_ids=used)
    unused = model.config.vocab_size - len(used)
    d = model.config.d_model
    tied = model.config.tie_embeddings
    return {
        "P counts every embedding row; Part 3.3 leaves out the rows of tokens that never occur in the data [P3.3 App. A]":
            counts["total"],
        "P leaves out the embeddings altogether; the rows of tokens the data uses are parameters too [P3.3 App. A]":
            counts["non_embedding"],
        "tied embeddings are one table: remove each unused row once, not twice": counts["total"] - 2 * unused * d,
        "the untied output layer has one row per token too: remove the unused rows from both tables":
            counts["total"] - unused * d,
    }


@checker("R and R^max")
def capacity_ratios(fn: Callable) -> None:
    from ..data.capacity import counted_parameters

    for model, used in _ratio_models():
        learned, max_bits = 12_345.0, 54_321.0
        result = fn(model, used.copy(), learned, max_bits)
        try:
            R, R_max = (float(x) for x in result)
        except (TypeError, ValueError):
            raise AssertionError(f"capacity_ratios should return two numbers (R, R_max), got {result!r}") from None
        P = counted_parameters(model, used)
        if _close(R, learned / P) and _close(R_max, max_bits / P):
            continue
        if _close(R, max_bits / P) and _close(R_max, learned / P):
            raise AssertionError("R and R^max are swapped: R uses the learned bits, R^max a perfect model's")
        implied = learned / R if R else float("nan")
        kind = "tied" if model.config.tie_embeddings else "untied"
        for message, count in _parameter_mistakes(model, used).items():
            if math.isfinite(implied) and abs(implied - count) < 0.5:
                raise AssertionError(f"{message} (this {kind} model: P should be {P:,}, yours is {count:,})")
        raise AssertionError(f"for this {kind} model P should be {P:,} parameters (R = {learned / P:.4f}, "
                             f"R^max = {max_bits / P:.4f}); yours implies P = {implied:,.0f}")


# ----------------------------------------------------------------------------------------------
# Exercise 4: round-to-nearest quantisation
# ----------------------------------------------------------------------------------------------
def _rtn(w: torch.Tensor, bits: int, per_row: bool = True, levels: Optional[int] = None, rounding=torch.round,
         dim: int = 1) -> torch.Tensor:
    levels = levels if levels is not None else 2 ** (bits - 1) - 1
    peak = w.abs().amax(dim=dim, keepdim=True) if per_row else w.abs().amax()
    scale = torch.where(peak > 0, peak / levels, torch.ones_like(peak))
    return torch.clamp(rounding(w / scale), -levels, levels) * scale


def _quantization_mistakes(w: torch.Tensor, bits: int) -> dict:
    return {
        "one scale for the whole matrix; use one scale per output channel (per row), so a row of small weights "
        "keeps its own resolution": _rtn(w, bits, per_row=False),
        "the scale is computed per column (over dim 0); nn.Linear stores one output channel per *row*: use "
        "max over dim 1": _rtn(w, bits, dim=0),
        f"{bits} bits give the symmetric levels -(2^(b-1)-1) .. 2^(b-1)-1; the scale must be max|w| / (2^(b-1) - 1)":
            _rtn(w, bits, levels=2 ** (bits - 1)),
        "the scale divides by 2^b - 1 levels, but signed b-bit integers reach only 2^(b-1) - 1 on each side":
            _rtn(w, bits, levels=2 ** bits - 1),
        "the values are truncated toward zero; round to the *nearest* level": _rtn(w, bits, rounding=torch.trunc),
        "the values are floored; round to the *nearest* level": _rtn(w, bits, rounding=torch.floor),
    }


@checker("round-to-nearest quantisation")
def round_to_nearest(fn: Callable) -> None:
    from ..data.capacity import quantize_tensor

    torch.manual_seed(0)
    w = torch.randn(12, 20) * torch.logspace(-2, 0, 12)[:, None]  # rows of very different sizes
    w[3] = 0.0  # an all-zero row must stay zero
    for bits in (8, 4):
        got = fn(w.clone(), bits)
        assert isinstance(got, torch.Tensor) and got.shape == w.shape, \
            f"round_to_nearest(w, {bits}) should return a tensor of shape {tuple(w.shape)}, got {getattr(got, 'shape', got)}"
        assert torch.isfinite(got).all(), f"round_to_nearest(w, {bits}) returned NaN or inf: guard rows whose maximum is 0"
        expected = quantize_tensor(w, bits)[0]
        if torch.allclose(got.float(), expected, atol=1e-6, rtol=1e-5):
            continue
        if not got.is_floating_point() or (torch.equal(got, got.round()) and got.abs().max() > 2 * w.abs().max()):
            raise AssertionError("return the *dequantised* weights (integer level times scale), not the integer levels")
        for message, candidate in _quantization_mistakes(w, bits).items():
            if torch.allclose(got.float(), candidate, atol=1e-6, rtol=1e-5):
                raise AssertionError(f"int{bits}: {message}")
        worst = (got.float() - expected).abs().max().item()
        raise AssertionError(f"int{bits}: values differ from round-to-nearest with one scale per row "
                             f"(largest difference {worst:.3g})")
    levels = len(torch.unique(fn(w.clone(), 4)[0]))
    assert levels <= 15, f"an int4 row may take at most 15 distinct values, yours takes {levels}"


# ----------------------------------------------------------------------------------------------
# Exercise 5: spot the double-counted fact
# ----------------------------------------------------------------------------------------------
def free_bits_reference(company_cities: Sequence[str]) -> float:
    """The bits a model that knows nothing about a person earns on the employer when the company city is read
    first: log2 M - E[log2 (employers sharing the city)] = H(company city), employers uniform."""
    counts = Counter(company_cities)
    m = len(company_cities)
    return sum(n / m * math.log2(m / n) for n in counts.values())


def _free_bits_mistakes(cities: Sequence[str]) -> dict:
    counts = Counter(cities)
    m = len(cities)
    return {
        "this is log2 of the number of employers: all employer bits. Only the part the city gives away is free":
            math.log2(m),
        "this treats every city as equally likely; a city's weight is the share of employers based there":
            math.log2(len(counts)),
        "this averages over cities without weighting them; weight each city by the share of employers in it":
            float(np.mean([math.log2(m / n) for n in counts.values()])),
        "this is H(employer | city), what is still unknown after reading the city; the free bits are what the city "
        "already tells, log2 M minus that": sum(n / m * math.log2(n) for n in counts.values()),
    }


@checker("spot the double-counted fact")
def double_counted_bits(fn: Callable) -> None:
    from ..data import bios

    tables = [["Paris"] * 4 + ["Lyon"] * 2 + ["Nice", "Lille"],
              ["A"] * 3 + ["B"] * 3 + ["C"] * 3,
              ["X"] + ["Y"] * 7,
              list(bios.load_full_pools().company_cities)]
    for cities in tables:
        got = fn(list(cities))
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise AssertionError(f"free_employer_bits should return one number of bits, got {got!r}") from None
        want = free_bits_reference(cities)
        if _close(got, want, rel=1e-6, abs_tol=1e-9):
            continue
        for message, value in _free_bits_mistakes(cities).items():
            if _close(got, value, rel=1e-6, abs_tol=1e-9):
                raise AssertionError(message)
        if _close(got, want / LOG2E):
            raise AssertionError("this looks like nats: give the answer in bits (log2)")
        raise AssertionError(f"for {len(cities)} employers in {len(set(cities))} cities the free bits are {want:.4f}, "
                             f"yours {got:.4f}")
