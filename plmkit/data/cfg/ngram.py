"""The n-gram ladder (a kit baseline): add-alpha smoothed n-gram models with context 0..K tokens.

Fit on a packed token stream ``<bos> s1 <bos> s2 ...`` and report the held-out cross-entropy per
context length. A model whose loss drops below the best rung uses structure that no short-context
model can see.

Contexts are integer codes: extending a context by one more token multiplies by the number of
outcomes V and adds that token. When the codes would grow too large they are renumbered (jointly for
the training and held-out streams), so any V and any K work without hashing collisions. Counting
uses ``np.bincount`` while the code range is small and sorting beyond that.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

_RECODE_ABOVE = 1 << 40  # renumber context codes before code * V could overflow int64
_DENSE_COUNT_LIMIT = 1 << 23  # bincount up to this many distinct keys, sorting beyond


def _dense_symbols(train: np.ndarray, heldout: np.ndarray, num_outcomes: Optional[int]) -> tuple[np.ndarray, np.ndarray, int]:
    symbols, codes = np.unique(np.concatenate([train, heldout]), return_inverse=True)
    size = len(symbols) if num_outcomes is None else int(num_outcomes)
    if size < len(symbols):
        raise ValueError(f"num_outcomes={num_outcomes} but the streams hold {len(symbols)} distinct tokens")
    return codes[:len(train)].astype(np.int64), codes[len(train):].astype(np.int64), size


def _counts_for(train_keys: np.ndarray, query_keys: np.ndarray) -> np.ndarray:
    """How often each query key occurs among the training keys."""
    top = int(max(train_keys.max(initial=0), query_keys.max(initial=0))) + 1
    if top <= _DENSE_COUNT_LIMIT:
        return np.bincount(train_keys, minlength=top)[query_keys]
    uniq, counts = np.unique(train_keys, return_counts=True)
    where = np.minimum(np.searchsorted(uniq, query_keys), len(uniq) - 1)
    return np.where(uniq[where] == query_keys, counts[where], 0)


def ngram_ladder(train_stream: Sequence[int], heldout_stream: Sequence[int], max_context: int = 11,
                 alpha: float = 0.1, num_outcomes: Optional[int] = None) -> list[float]:
    """Held-out cross-entropy (nats per token) of the add-alpha n-gram with context k, for k = 0..max_context.

    Both streams are 1-D token-id arrays. Every order predicts the same positions (those with at
    least ``max_context`` tokens before them), so the rungs are comparable. ``num_outcomes`` is the
    size V of the smoothing vocabulary: by default the number of distinct tokens in the two streams
    (T+1 for a grammar stream: the terminals and ``<bos>``).
    """
    train = np.asarray(train_stream, np.int64)
    heldout = np.asarray(heldout_stream, np.int64)
    K = int(max_context)
    if K < 0 or alpha <= 0:
        raise ValueError("max_context must be >= 0 and alpha > 0")
    if len(train) <= K or len(heldout) <= K:
        raise ValueError(f"both streams need more than max_context={K} tokens")
    train, heldout, V = _dense_symbols(train, heldout, num_outcomes)
    target_tr, target_ho = train[K:], heldout[K:]
    ctx_tr = np.zeros(len(target_tr), np.int64)
    ctx_ho = np.zeros(len(target_ho), np.int64)
    ladder = []
    for k in range(K + 1):
        pair_count = _counts_for(ctx_tr * V + target_tr, ctx_ho * V + target_ho)
        context_count = _counts_for(ctx_tr, ctx_ho)
        log_p = np.log(pair_count + alpha) - np.log(context_count + alpha * V)
        ladder.append(float(-log_p.mean()))
        if k == K:
            break
        # Extend every context by the token k+1 places back.
        ctx_tr = ctx_tr * V + train[K - k - 1:len(train) - k - 1]
        ctx_ho = ctx_ho * V + heldout[K - k - 1:len(heldout) - k - 1]
        if max(ctx_tr.max(), ctx_ho.max()) > _RECODE_ABOVE // V:
            _, codes = np.unique(np.concatenate([ctx_tr, ctx_ho]), return_inverse=True)
            ctx_tr, ctx_ho = codes[:len(ctx_tr)].astype(np.int64), codes[len(ctx_tr):].astype(np.int64)
    return ladder


def sentence_stream(sentences: Sequence[np.ndarray], bos_id: int) -> np.ndarray:
    """``<bos> s1 <bos> s2 ... <bos> sn <bos>`` as one int64 array."""
    if len(sentences) == 0:
        return np.array([bos_id], np.int64)
    lengths = np.fromiter((len(s) for s in sentences), np.int64, count=len(sentences))
    tokens = np.concatenate([np.asarray(s, np.int64) for s in sentences])
    return np.insert(tokens, np.concatenate([[0], np.cumsum(lengths)]), bos_id)
