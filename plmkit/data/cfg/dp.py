"""Exact next-token distributions by Part 1's two-step dynamic programming [P1 TMLR], in log space.

Two passes over a string x (normally a fresh sentence, at least a prefix of one):

1. **Inside.** beta(A, i, j) = P(A derives x[i:j]) for every symbol and pair of adjacent symbols
   (pair items binarize the ternary rules). Terminals are the base case: beta(t, i, i+1) = [x_i = t].
2. **Prefix.** alpha(k, A) = P(the sentence starts with x[:k] and a node labelled A starts right after).
   A child's alpha depends only on its parent's level, so the pass runs level by level from the root
   down, vectorized over all positions: a first child inherits its parent's alpha, a second child at
   k' collects sum_k alpha(k, A) * beta(first child, k, k'), a third one uses the pair item.

Read-out: pi(k) = alpha(k-1, x_k) is the prefix probability; P(t | x[:k]) = alpha(k, t) / pi(k) and
P(EOS | x[:k]) = beta(root, 0, k) / pi(k).

Storage. beta of a symbol is kept as a band: ``band[i, d] = log beta(A, i, i + lo + d)`` for span lengths
lo..hi (the symbol's minlen..maxlen, clipped to the string). Short bands are combined exactly with
``logaddexp``; wide ones in dense blocks through a matrix product, after subtracting row and column
maxima and tilting by exp(c * span length) so that long and short spans share one scale. The tilt is
undone afterwards, so results stay exact up to float64 rounding.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from plmkit.data.cfg._blas import one_blas_thread
from plmkit.data.cfg.grammar import Grammar, RootLike, resolve
from plmkit.data.cfg.parser import as_token_array

NEG_INF = -np.inf
_DIRECT_LIMIT = 64  # bands with wB * wC up to this are combined exactly, one offset at a time
_BLOCK_ROWS = 128


@dataclass
class Band:
    """log beta over spans of length lo .. lo + width - 1 starting at each position 0..n."""

    lo: int
    values: np.ndarray  # (rows, width) float64, -inf where no derivation

    @property
    def width(self) -> int:
        return self.values.shape[1]


def _logsumexp_rows(m: np.ndarray) -> np.ndarray:
    """Row-wise log(sum(exp)) that keeps -inf rows at -inf (no warnings, no NaN)."""
    if m.shape[1] == 0:
        return np.full(m.shape[0], NEG_INF)
    top = m.max(axis=1)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(m - safe[:, None]).sum(axis=1)) + safe


def _clipped_width(lo: int, hi: int, n: int) -> int:
    return max(0, min(hi, n) - lo + 1)


def _empty_band(lo: int, rows: int) -> Band:
    return Band(lo, np.full((rows, 0), NEG_INF))


class InsideTables:
    """Inside bands of every symbol and pair used by the rules of the root's sub-grammar."""

    def __init__(self, g: Grammar, root: int, tokens: np.ndarray):
        self.g, self.root, self.x, self.n = g, root, tokens, len(tokens)
        self.tilt = float(np.log(max(len(r) for r in g.rules.values()))) / 2
        self.bands: dict = {}
        self.log_rule_prob = {a: -np.log(len(rules)) for a, rules in g.rules.items()}
        self._compute()

    # Symbols and pairs ---------------------------------------------------------------------------
    def bounds(self, key) -> tuple[int, int]:
        symbols = key if isinstance(key, tuple) else (key,)
        return (sum(int(self.g.minlen[s]) for s in symbols), sum(int(self.g.maxlen[s]) for s in symbols))

    def band(self, key) -> Band:
        if key not in self.bands:
            if isinstance(key, tuple):
                left = key[0] if len(key) == 2 else key[:-1]
                self.bands[key] = self.product(self.band(left), self.band(key[-1]))
            elif self.g.is_terminal(key):
                values = np.full((self.n + 1, 1), NEG_INF)
                values[:self.n, 0][self.x == key] = 0.0
                self.bands[key] = Band(1, values)
            else:
                raise KeyError(f"inside band of NT {key} is not computed")
        return self.bands[key]

    def pair_band(self, first: int, second: int, rows: int) -> Band:
        """Pair item (first, second); with rows=1 only spans starting at 0 (the root's rules)."""
        if rows == self.n + 1:
            return self.band((first, second))
        key = ("rows", rows, first, second)
        if key not in self.bands:
            self.bands[key] = self.product(self.band(first), self.band(second), rows)
        return self.bands[key]

    def _compute(self) -> None:
        g = self.g
        reachable = g.reachable(self.root)
        root_level = int(g.level[self.root])
        for lev in range(g.depth - 1, root_level - 1, -1):
            for a in g.level_ids(lev):
                if a in reachable:
                    # The root's node starts at 0, so only its first row is ever read.
                    self.bands[a] = self._nt_band(a, rows=1 if a == self.root else self.n + 1)

    def _nt_band(self, a: int, rows: int) -> Band:
        lo, hi = self.bounds(a)
        width = _clipped_width(lo, hi, self.n)
        out = np.full((rows, width), NEG_INF)
        for rule in self.g.rules[a]:
            if len(rule) == 2:
                part = self.product(self.band(rule[0]), self.band(rule[1]), rows)
            else:
                part = self.product(self.pair_band(rule[0], rule[1], rows), self.band(rule[2]), rows)
            if part.width:
                offset = part.lo - lo
                view = out[:, offset:offset + part.width]
                np.logaddexp(view, part.values, out=view)
        out += self.log_rule_prob[a]
        return Band(lo, out)

    # Band product: log sum_m beta_B(i, m) beta_C(m, j) ------------------------------------------
    def product(self, left: Band, right: Band, rows: Optional[int] = None) -> Band:
        n = self.n
        rows = n + 1 if rows is None else rows
        lo = left.lo + right.lo
        width = _clipped_width(lo, left.lo + left.width - 1 + right.lo + right.width - 1, n)
        if width == 0 or left.width == 0 or right.width == 0:
            return _empty_band(lo, rows)
        if left.width * right.width <= _DIRECT_LIMIT:
            return Band(lo, self._product_direct(left, right, rows, width))
        return Band(lo, self._product_blocked(left, right, rows, width))

    def _product_direct(self, left: Band, right: Band, rows: int, width: int) -> np.ndarray:
        n = self.n
        out = np.full((rows, width), NEG_INF)
        starts = np.arange(rows)
        for d in range(left.width):
            mid = starts + left.lo + d
            ok = mid <= n
            if not ok.any():
                break
            cols = min(right.width, width - d)
            if cols <= 0:
                break
            term = left.values[:rows, d][:, None] + right.values[np.minimum(mid, n), :cols]
            term[~ok] = NEG_INF
            view = out[:, d:d + cols]
            np.logaddexp(view, term, out=view)
        return out

    def _product_blocked(self, left: Band, right: Band, rows: int, width: int) -> np.ndarray:
        n, c = self.n, self.tilt
        out = np.full((rows, width), NEG_INF)
        lo = left.lo + right.lo
        for i0 in range(0, rows, _BLOCK_ROWS):
            i1 = min(rows, i0 + _BLOCK_ROWS)
            m0, m1 = i0 + left.lo, min(n, i1 - 1 + left.lo + left.width - 1)
            if m0 > n:
                break
            k0, k1 = m0 + right.lo, min(n, m1 + right.lo + right.width - 1)
            if k0 > n:
                break
            a = _dense(left, i0, i1, m0, m1 + 1, c)
            b = _dense(right, m0, m1 + 1, k0, k1 + 1, c)
            row_top = _finite_max(a, axis=1)
            col_top = _finite_max(b, axis=0)
            with np.errstate(divide="ignore"):
                block = np.log(np.exp(a - row_top[:, None]) @ np.exp(b - col_top[None, :]))
            block += row_top[:, None] + col_top[None, :]
            i = np.arange(i0, i1)[:, None]
            k = np.arange(k0, k1 + 1)[None, :]
            block -= c * (k - i)  # undo the tilt
            # Scatter the dense block back into band coordinates.
            d = k - i - lo
            ok = (d >= 0) & (d < width)
            ii, kk = np.nonzero(ok)
            out[ii + i0 - 0, d[ii, kk]] = block[ii, kk]
        return out

    # Read-out ------------------------------------------------------------------------------------
    def root_log_prob(self, k: int) -> float:
        """log beta(root, 0, k)."""
        band = self.bands[self.root]
        d = k - band.lo
        return float(band.values[0, d]) if 0 <= d < band.width else NEG_INF


def _finite_max(m: np.ndarray, axis: int) -> np.ndarray:
    top = m.max(axis=axis) if m.size else np.zeros(m.shape[1 - axis])
    return np.where(np.isfinite(top), top, 0.0)


def _dense(band: Band, r0: int, r1: int, c0: int, c1: int, tilt: float) -> np.ndarray:
    """Rows r0..r1-1, end positions c0..c1-1 of a band as a dense block, tilted by exp(tilt * length)."""
    i = np.arange(r0, r1)[:, None]
    j = np.arange(c0, c1)[None, :]
    d = j - i - band.lo
    ok = (d >= 0) & (d < band.width)
    values = band.values[np.minimum(i, band.values.shape[0] - 1), np.clip(d, 0, max(band.width - 1, 0))]
    return np.where(ok, values + tilt * (j - i), NEG_INF)


def _spread(log_alpha: np.ndarray, band: Band) -> np.ndarray:
    """out[k'] = log sum_k alpha(k) beta(k, k') for one band (the later-child step of the prefix pass)."""
    n1 = len(log_alpha)
    if band.width == 0:
        return np.full(n1, NEG_INF)
    target = np.arange(n1)[:, None]
    d = np.arange(band.width)[None, :]
    source = target - band.lo - d  # the start k whose span of length lo + d ends at k'
    ok = (source >= 0) & (source < band.values.shape[0])
    src = np.where(ok, source, 0)
    values = np.where(ok, log_alpha[src] + band.values[src, d], NEG_INF)
    return _logsumexp_rows(values)


@dataclass
class PrefixDP:
    """Result of the two passes over x. All arrays are natural logs.

    ``log_next[k]`` is log P(next symbol | x[:k]) over (EOS, 1..T); ``log_prefix[k]`` = log pi(k);
    ``log_complete[k]`` = log beta(root, 0, k), the probability that the sentence is exactly x[:k].
    """

    log_next: np.ndarray
    log_prefix: np.ndarray
    log_complete: np.ndarray

    @property
    def probs(self) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.exp(self.log_next)

    @property
    def sentence_log_prob(self) -> float:
        """log P(x) as a complete sentence (-inf when x is only a prefix)."""
        return float(self.log_complete[-1])


def _validated_tokens(g: Grammar, x) -> np.ndarray:
    tokens = as_token_array(x)
    if tokens is None:
        raise ValueError("x must be a 1-D sequence of terminal ids")
    if tokens.size and (tokens.min() < 1 or tokens.max() > g.num_terminals):
        raise ValueError(f"x must hold terminal ids 1..{g.num_terminals} only (no <bos> or other specials)")
    return tokens


def prefix_dp(g: Union[str, Grammar], x, root: RootLike = None) -> PrefixDP:
    """Run the inside and prefix passes over x (terminal ids, no <bos>)."""
    grammar, root_id = resolve(g, root)
    tokens = _validated_tokens(grammar, x)
    n, T = len(tokens), grammar.num_terminals
    with one_blas_thread():
        inside = InsideTables(grammar, root_id, tokens)
    alpha = {root_id: np.full(n + 1, NEG_INF)}
    alpha[root_id][0] = 0.0
    for lev in range(int(grammar.level[root_id]), grammar.depth):
        below: dict = {}
        for a in grammar.level_ids(lev):
            if a not in alpha or not np.isfinite(alpha[a]).any():
                continue
            weighted = alpha[a] + inside.log_rule_prob[a]
            for rule in grammar.rules[a]:
                _accumulate(below, rule[0], weighted)
                _accumulate(below, rule[1], _spread(weighted, inside.band(rule[0])))
                if len(rule) == 3:
                    rows = 1 if a == root_id else n + 1  # the root only has alpha at position 0
                    _accumulate(below, rule[2], _spread(weighted, inside.pair_band(rule[0], rule[1], rows)))
        alpha = below
    terminal_alpha = np.full((n + 1, T + 1), NEG_INF)
    for t in range(1, T + 1):
        if t in alpha:
            terminal_alpha[:, t] = alpha[t]
    log_prefix = np.zeros(n + 1)
    if n:
        log_prefix[1:] = terminal_alpha[np.arange(n), tokens]
    log_complete = np.array([inside.root_log_prob(k) for k in range(n + 1)])
    terminal_alpha[:, 0] = log_complete
    with np.errstate(invalid="ignore"):
        log_next = terminal_alpha - log_prefix[:, None]
    log_next[~np.isfinite(log_prefix)] = np.nan  # rows after an impossible prefix are undefined
    return PrefixDP(log_next, log_prefix, log_complete)


def _accumulate(table: dict, symbol: int, log_values: np.ndarray) -> None:
    if symbol in table:
        np.logaddexp(table[symbol], log_values, out=table[symbol])
    else:
        table[symbol] = log_values.copy()


def next_token_dist(g: Union[str, Grammar], x, root: RootLike = None) -> np.ndarray:
    """P of shape (n+1, T+1): row k is the distribution after ``<bos> x_1..x_k``; column 0 is EOS.

    x must be a prefix of some sentence; rows after an impossible prefix are NaN.
    """
    return prefix_dp(g, x, root).probs


def sentence_log_prob(g: Union[str, Grammar], x, root: RootLike = None) -> float:
    """log P(x) = log beta(root, 0, n), summed over all parse trees (-inf for non-sentences)."""
    grammar, root_id = resolve(g, root)
    tokens = _validated_tokens(grammar, x)
    if not grammar.minlen[root_id] <= len(tokens) <= grammar.maxlen[root_id]:
        return NEG_INF
    with one_blas_thread():
        return InsideTables(grammar, root_id, tokens).root_log_prob(len(tokens))


def first_error(g: Union[str, Grammar], x, root: RootLike = None) -> Optional[int]:
    """Where x stops being grammatical, as a count of tokens.

    Returns the smallest k such that x_1..x_k is a prefix of no sentence (a token outside 1..T counts
    as an error at its position); ``len(x) + 1`` when every prefix is viable but x itself is not a
    complete sentence (the missing piece is at the end); None when x is a sentence.
    """
    grammar, root_id = resolve(g, root)
    tokens = as_token_array(x)
    if tokens is None:
        raise ValueError("x must be a 1-D sequence of integer token ids")
    bad = np.flatnonzero((tokens < 1) | (tokens > grammar.num_terminals))
    limit = int(bad[0]) if len(bad) else len(tokens)
    # Beyond maxlen no prefix is viable, so a longer string can be cut there first.
    limit = min(limit, int(grammar.maxlen[root_id]) + 1)
    result = prefix_dp(grammar, tokens[:limit], root_id)
    dead = np.flatnonzero(~np.isfinite(result.log_prefix))
    if len(dead):
        return int(dead[0])
    if limit < len(tokens):
        return limit + 1
    return None if np.isfinite(result.log_complete[-1]) else len(tokens) + 1
