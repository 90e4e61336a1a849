"""Entropy floor per token and KL along true sentences, both from the exact DP [P1 TMLR; P4.1 Fig. 27].

H* = E[-ln P(x)] / E[n(x) + 1] nats per predicted token, the +1 being the final EOS (``<bos>``)
prediction. No model can have a lower mean cross-entropy on sentence-aligned sequences; a model's
excess loss over H* equals its mean KL(true || model) along those sentences.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional, Sequence, Union

import numpy as np

from plmkit.data.cfg.dp import prefix_dp
from plmkit.data.cfg.grammar import Grammar, RootLike, resolve
from plmkit.data.cfg.sampler import RngLike, as_rng, sample


def row_entropy(p_rows: np.ndarray) -> np.ndarray:
    """Entropy in nats of each row of a probability matrix (0 ln 0 = 0)."""
    p = np.asarray(p_rows, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return terms.sum(axis=-1)


def ratio_and_se(numerators: np.ndarray, denominators: np.ndarray) -> tuple[float, float]:
    """Sum(y)/Sum(m) over independent units and its delta-method standard error."""
    y = np.asarray(numerators, np.float64)
    m = np.asarray(denominators, np.float64)
    ratio = float(y.sum() / m.sum())
    units = len(y)
    if units < 2:
        return ratio, float("nan")
    residual = y - ratio * m
    se = np.sqrt(np.sum(residual ** 2) / (units * (units - 1))) / m.mean()
    return ratio, float(se)


@dataclass
class EntropyFloor:
    """Both estimators of H* (nats per predicted token) with standard errors over sentences.

    ``ratio``: sum of -ln P(x) over sum of (n+1). ``rows``: mean entropy of the DP rows (lower variance).
    ``gap`` and ``gap_se``: their difference, whose expectation is exactly 0 (a consistency check).
    """

    ratio: float
    ratio_se: float
    rows: float
    rows_se: float
    gap: float
    gap_se: float
    sentences: int
    predictions: int
    mean_length: float
    chance: float

    @property
    def value(self) -> float:
        """The estimate to report (the lower-variance row estimator)."""
        return self.rows

    def to_dict(self) -> dict:
        return asdict(self)


def entropy_floor(g: Union[str, Grammar], n: int = 200, rng: RngLike = 0, root: RootLike = None,
                  sentences: Optional[Sequence[np.ndarray]] = None) -> EntropyFloor:
    """Estimate H* from n fresh sentences (or the given ones) with the exact DP of ``prefix_dp``."""
    grammar, root_id = resolve(g, root)
    if sentences is None:
        sentences = sample(grammar, n, as_rng(rng), root_id)
    if len(sentences) == 0:
        raise ValueError("entropy_floor needs at least one sentence")
    neg_log_p, row_sums, predictions = [], [], []
    for x in sentences:
        result = prefix_dp(grammar, x, root_id)
        if not np.isfinite(result.sentence_log_prob):
            raise ValueError("entropy_floor got a string that is not a sentence of this (sub-)grammar")
        neg_log_p.append(-result.sentence_log_prob)
        row_sums.append(row_entropy(result.probs).sum())
        predictions.append(len(x) + 1)
    neg_log_p, row_sums, predictions = map(np.asarray, (neg_log_p, row_sums, predictions))
    ratio, ratio_se = ratio_and_se(neg_log_p, predictions)
    rows, rows_se = ratio_and_se(row_sums, predictions)
    gap, gap_se = ratio_and_se(neg_log_p - row_sums, predictions)
    return EntropyFloor(ratio, ratio_se, rows, rows_se, gap, gap_se, len(sentences), int(predictions.sum()),
                        float(predictions.mean() - 1), float(np.log(grammar.num_terminals + 1)))


# --- KL along a sentence ---------------------------------------------------------------------------------
def model_rows(probs: np.ndarray, g: Union[str, Grammar]) -> np.ndarray:
    """Model softmax over the full vocabulary (n+1, vocab) -> (n+1, T+1) rows over (EOS, 1..T).

    Keeps the T+1 legal outcomes (``<bos>`` as EOS, then the terminals) and renormalizes.
    """
    grammar = resolve(g)[0]
    p = np.asarray(probs, np.float64)
    if p.ndim != 2 or p.shape[1] < grammar.vocab_size:
        raise ValueError(f"expected model probabilities of shape (n+1, {grammar.vocab_size}), got {p.shape}")
    legal = p[:, [grammar.bos_id, *range(1, grammar.num_terminals + 1)]]
    return legal / legal.sum(axis=1, keepdims=True)


def _smoothed_log(rows: np.ndarray, eps: float) -> np.ndarray:
    smoothed = rows + eps
    return np.log(smoothed / smoothed.sum(axis=1, keepdims=True))


def kl_along_sentence(p_rows: np.ndarray, q_rows: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Per-row KL(p || q) in nats: weights are the raw p, the logs use eps-smoothed p and q.

    ``p_rows``: the DP rows (n+1, T+1); ``q_rows``: the model's rows over the same outcomes (see
    :func:`model_rows`). The sentence KL is the mean of the returned vector.
    """
    p = np.asarray(p_rows, np.float64)
    q = np.asarray(q_rows, np.float64)
    if p.shape != q.shape or p.ndim != 2:
        raise ValueError(f"p_rows and q_rows must be matching 2-D arrays, got {p.shape} and {q.shape}")
    if np.isnan(p).any() or np.isnan(q).any():
        raise ValueError("p_rows or q_rows holds NaN (was the DP run on a non-sentence?)")
    return np.sum(p * (_smoothed_log(p, eps) - _smoothed_log(q, eps)), axis=1)


def sentence_kl(p_rows: np.ndarray, q_rows: np.ndarray, eps: float = 1e-5) -> float:
    """Mean KL over the n+1 rows of one sentence."""
    return float(kl_along_sentence(p_rows, q_rows, eps).mean())


def mean_and_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error over independent units (e.g. per-sentence KLs)."""
    v = np.asarray(values, np.float64)
    if len(v) == 0:
        raise ValueError("mean_and_se needs at least one value")
    se = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")
    return float(v.mean()), se
