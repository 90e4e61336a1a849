"""Gated linear attention: the arithmetic, in three equal forms (the layer itself is in :mod:`plmkit.model`).

Each head keeps a matrix memory S of shape (key dim, value dim). Token t writes into it and reads from it:

    S_t = diag(g_t) S_{t-1} + k_t^T v_t          o_t = q_t S_t

where g_t in (0, 1)^key_dim is a data-dependent *forget gate*, one value per key dim (GLA, Yang et al. 2024;
the linear model Part 4.1 pairs with Canon [P4.1 §6]). Unrolled, the read-out is attention without a softmax:

    o_i = sum_{j <= i} (q_i . (k_j * exp(b_i - b_j))) v_j,    b_i = log g_1 + ... + log g_i

so token j's key fades by the gates of every token after it. The same outputs, three ways:

* :func:`recurrent`: the loop above, one token at a time; generation with a cache, O(1) per new token;
* :func:`quadratic`: the (T, T) score matrix of the unrolled sum; the reference, O(T^2) memory;
* :func:`chunked`: the score matrix inside chunks of C tokens, the recurrence between chunks; training.

Numerical safety: everything works from log g <= 0, and only differences b_i - b_j with j <= i are ever
exponentiated. Those are <= 0, so no factor exceeds 1, however strong the forgetting (the tempting
shortcut ``(q * exp(b)) @ (k * exp(-b))^T`` overflows once a chunk forgets more than e^-88).

Shapes: q, k, log_g (B, H, T, dk); v (B, H, T, dv); state (B, H, dk, dv). No scaling is applied here.
"""
from __future__ import annotations

from typing import Optional

import torch

# Tokens per chunk: the score tensor costs T x C x dk numbers, the state hand-off loops T / C times.
# 8 was the fastest of 4, 8, 16, 32 for a 4L64D model at context 128 on CPU.
CHUNK = 8


def _check(q, k, v, log_g, state):
    if q.dim() != 4 or k.shape != q.shape or log_g.shape != q.shape or v.shape[:3] != q.shape[:3]:
        raise ValueError("gated linear attention wants q, k, log_g of shape (B, H, T, dk) and v of shape "
                         f"(B, H, T, dv); got q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}, "
                         f"log_g {tuple(log_g.shape)}")
    if state is not None and state.shape != (*q.shape[:2], q.shape[-1], v.shape[-1]):
        raise ValueError(f"state must have shape (B, H, dk, dv) = {(*q.shape[:2], q.shape[-1], v.shape[-1])}, "
                         f"got {tuple(state.shape)}")


def _zero_state(q, v):
    return q.new_zeros(*q.shape[:2], q.shape[-1], v.shape[-1])


def causal_scores(q: torch.Tensor, k: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(..., T, T) scores A_ij = sum_c q_ic k_jc exp(b_ic - b_jc) for j <= i, 0 above the diagonal.

    ``b`` (..., T, dk) is the running sum of log gates. Entries above the diagonal are set to -inf
    *before* exponentiating: there b_i - b_j > 0 could overflow, and exp(-inf) = 0 passes no gradient.
    """
    T = q.shape[-2]
    future = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)
    gaps = (b[..., :, None, :] - b[..., None, :, :]).masked_fill(future[:, :, None], float("-inf"))
    return torch.einsum("...ijc,...jc->...ij", q[..., :, None, :] * gaps.exp(), k)


def recurrent(q, k, v, log_g, state: Optional[torch.Tensor] = None):
    """The recurrence token by token. Returns (outputs (B, H, T, dv), final state (B, H, dk, dv))."""
    _check(q, k, v, log_g, state)
    S = _zero_state(q, v) if state is None else state
    outputs = []
    for t in range(q.shape[2]):
        S = log_g[:, :, t, :, None].exp() * S + k[:, :, t, :, None] * v[:, :, t, None, :]  # forget, then write
        outputs.append((q[:, :, t, None, :] @ S).squeeze(2))  # read with the current token included
    return torch.stack(outputs, dim=2), S


def quadratic(q, k, v, log_g):
    """The unrolled sum over the whole sequence from an empty memory. Returns (outputs, scores (B, H, T, T))."""
    _check(q, k, v, log_g, None)
    scores = causal_scores(q, k, log_g.cumsum(dim=2))
    return scores @ v, scores


def chunked(q, k, v, log_g, state: Optional[torch.Tensor] = None, chunk: Optional[int] = None):
    """Quadratic inside each chunk of ``chunk`` tokens, recurrent between chunks; equal to :func:`recurrent`.

    With b the running log gate *inside* a chunk (restarting at 0), token i of a chunk reads

        o_i = (q_i * exp(b_i)) S_start  +  sum_{j <= i in the chunk} A_ij v_j

    and the chunk hands on  S_end = exp(b_last) * S_start + sum_j (k_j * exp(b_last - b_j))^T v_j.
    Every exponent is <= 0. All chunks' inner parts run at once; only the short state hand-off loops.
    ``chunk`` defaults to :data:`CHUNK`; any size gives the same outputs, up to rounding.
    Returns (outputs (B, H, T, dv), final state (B, H, dk, dv)).
    """
    _check(q, k, v, log_g, state)
    chunk = CHUNK if chunk is None else chunk
    if chunk < 1:
        raise ValueError(f"chunk must be a positive number of tokens, got {chunk}")
    B, H, T, dk = q.shape
    dv = v.shape[-1]
    pad = -T % chunk
    if pad:  # trailing padding: zero keys and values write nothing, log g = 0 forgets nothing
        q, k, v, log_g = (torch.nn.functional.pad(t, (0, 0, 0, pad)) for t in (q, k, v, log_g))
    n = (T + pad) // chunk
    q, k, log_g = (t.reshape(B, H, n, chunk, dk) for t in (q, k, log_g))
    v = v.reshape(B, H, n, chunk, dv)

    b = log_g.cumsum(dim=3)  # (B, H, n, C, dk), <= 0 and falling
    b_last = b[:, :, :, -1:, :]  # (B, H, n, 1, dk)
    inner = causal_scores(q, k, b) @ v  # within each chunk
    writes = (k * (b_last - b).exp()).transpose(-1, -2) @ v  # (B, H, n, dk, dv): chunk m's keys, faded to its end
    fade = b_last.squeeze(3).exp()[..., None]  # (B, H, n, dk, 1): how much of S survives a whole chunk

    S = _zero_state(q, v) if state is None else state
    starts = []
    for m in range(n):
        starts.append(S)
        S = fade[:, :, m] * S + writes[:, :, m]
    from_before = (q * b.exp()) @ torch.stack(starts, dim=2)  # (B, H, n, C, dv)
    out = (inner + from_before).reshape(B, H, n * chunk, dv)[:, :, :T]
    return out, S
