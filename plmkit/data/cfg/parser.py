"""Membership parser for layered CFGs: accept, count parse trees, return one tree.

Chart layout. For every NT A the chart holds a bit matrix ``E[A]`` of shape (n+1, W) in uint64 words:
bit j of row i is set iff A derives x[i:j]. Because the grammar is layered, the charts are filled one
level at a time from D-1 up to the root's level, and each level needs only the level below it.

A binary rule A -> B C is a relational product: row i of the result is the OR of the rows
``E[C][j]`` over the set bits j of ``E[B][i]``. With numpy this is one gather of C's rows at B's
item ends and one ``bitwise_or.reduceat`` grouped by B's item starts; a ternary rule reuses the pair
product (B, C), memoized because rules of different NTs share pairs. Cost is proportional to the
number of items (i, j) of the left child times W, never to n^3.

Pruning. Every sentence is, at every level, a chain of that level's nodes from 0 to n. After a level
is filled, only positions that such a chain reaches from 0 *and* from which it reaches n can be
node boundaries in a full parse; rows and bits at other positions are cleared. This keeps the item
counts of the upper levels small, and an unreachable n rejects the string early.
"""
from __future__ import annotations

from typing import Iterable, NamedTuple, Optional, Union

import numpy as np

from plmkit.data.cfg.grammar import Grammar, RootLike, resolve

_ONE = np.uint64(1)


class ParseNode(NamedTuple):
    """A parse-tree node spanning tokens ``start:end``; terminals are leaves with no children."""

    symbol: int
    start: int
    end: int
    children: tuple = ()


# --- input checks ---------------------------------------------------------------------------------
def as_token_array(x) -> Optional[np.ndarray]:
    """x as a 1-D int64 array, or None when it is not a sequence of integers (never raises)."""
    if isinstance(x, (str, bytes)):
        return None
    try:
        arr = np.asarray(x)
    except Exception:  # ragged or otherwise unreadable input
        return None
    if arr.ndim != 1:
        return None
    if arr.size == 0:
        return np.zeros(0, np.int64)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        return None
    if arr.dtype == np.uint64 and arr.max() > np.iinfo(np.int64).max:
        return None
    return arr.astype(np.int64, copy=False)


def _wildcard_mask(wildcard: Optional[Iterable[int]], n: int) -> Optional[np.ndarray]:
    if not wildcard:
        return None
    mask = np.zeros(n, bool)
    positions = np.fromiter((int(p) for p in wildcard), np.int64)
    if positions.size and (positions.min() < 0 or positions.max() >= n):
        raise ValueError(f"wildcard positions must lie in 0..{n - 1}")
    mask[positions] = True
    return mask


def _quick_reject(g: Grammar, root: int, x, wildcard) -> Optional[tuple[np.ndarray, Optional[np.ndarray]]]:
    """(tokens, wildcard mask) when x passes the cheap checks, else None.

    The cheap checks reject a length outside [minlen, maxlen] of the root and a token outside 1..T.
    """
    tokens = as_token_array(x)
    if tokens is None:
        return None
    n = len(tokens)
    if not g.minlen[root] <= n <= g.maxlen[root]:
        return None
    wild = _wildcard_mask(wildcard, n)
    check = tokens if wild is None else tokens[~wild]
    if check.size and (check.min() < 1 or check.max() > g.num_terminals):
        return None
    return tokens, wild


# --- bit-matrix helpers -------------------------------------------------------------------------------
def _bits_from_items(num_rows: int, words: int, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    rows = np.zeros((num_rows, words), np.uint64)
    if len(starts):
        np.bitwise_or.at(rows, (starts, ends >> 6), np.left_shift(_ONE, (ends & 63).astype(np.uint64)))
    return rows


def _items_from_bits(rows: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """All (start, end) pairs with a set bit, sorted by start then end.

    Only the words that can hold a span of length lo..hi are unpacked, so short spans cost a word
    or two per row however long the string is.
    """
    nz = np.flatnonzero(rows.any(axis=1))
    if not len(nz):
        return nz, nz
    num_words = rows.shape[1]
    band = (hi - lo + 1 + 62) // 64 + 1  # words that a window of hi-lo+1 bits can touch
    if band >= num_words:
        first = np.zeros(len(nz), np.int64)
        window = rows[nz]
        band = num_words
    else:
        first = np.minimum((nz + lo) >> 6, num_words - band)
        window = rows[nz[:, None], first[:, None] + np.arange(band)]
    bits = np.unpackbits(np.ascontiguousarray(window).view(np.uint8), axis=1, bitorder="little")
    flat = np.flatnonzero(bits)
    row, bit = np.divmod(flat, band * 64)
    return nz[row], first[row] * 64 + bit


def _join(starts: np.ndarray, ends: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Relational product: for each distinct start, the OR of ``right[end]`` over its items."""
    if not len(starts):
        return starts, right[:0]
    group = np.flatnonzero(np.concatenate(([True], starts[1:] != starts[:-1])))
    return starts[group], np.bitwise_or.reduceat(right[ends], group, axis=0)


def _row_ints(rows: np.ndarray) -> list[int]:
    """Rows of a bit matrix as Python ints (fast scalar bit tests)."""
    raw = np.ascontiguousarray(rows).astype("<u8", copy=False).tobytes()
    step = rows.shape[1] * 8
    return [int.from_bytes(raw[k:k + step], "little") for k in range(0, len(raw), step)]


def _ints_to_words(value: int, words: int) -> np.ndarray:
    return np.frombuffer(value.to_bytes(words * 8, "little"), dtype="<u8").astype(np.uint64)


def _chain_positions(union_rows: np.ndarray, n: int) -> int:
    """Positions on some chain of spans 0 -> ... -> n (as a Python-int bit set; 0 if none)."""
    starts = np.flatnonzero(union_rows.any(axis=1)).tolist()
    succ = _row_ints(union_rows[starts])
    forward = 1
    for i, reach in zip(starts, succ):
        if forward >> i & 1:
            forward |= reach
    if not forward >> n & 1:
        return 0
    backward = 1 << n
    for i, reach in zip(reversed(starts), reversed(succ)):
        if reach & backward:
            backward |= 1 << i
    return forward & backward


def _bottom_rules(g: Grammar) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Rules of the NTs above the terminals, by length: (sorted pattern codes, owning NT per code).

    A pattern t_1..t_L is coded as sum_k t_k * B^k with B = T + 1, so matching a window of x is
    one integer comparison. Codes may repeat when two NTs share a rule.
    """
    if "bottom_rules" not in g._cache:
        base = g.num_terminals + 1
        by_size: dict[int, list] = {}
        for a in g.level_ids(g.depth - 1):
            for rule in g.rules[a]:
                by_size.setdefault(len(rule), []).append((sum(t * base ** k for k, t in enumerate(rule)), a))
        table = {}
        for size, entries in by_size.items():
            entries.sort()
            table[size] = (np.array([c for c, _ in entries], np.int64), np.array([a for _, a in entries], np.int64))
        g._cache["bottom_rules"] = table
    return g._cache["bottom_rules"]


def _match_codes(tokens: np.ndarray, size: int, base: int, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (pattern index, start) with tokens[start:start+size] equal to the pattern of that code."""
    count = len(tokens) - size + 1
    window = np.zeros(count, np.int64)
    for k in range(size):
        window += tokens[k:k + count] * base ** k
    first = np.searchsorted(codes, window, side="left")
    hits = np.searchsorted(codes, window, side="right") - first
    where = np.repeat(np.arange(count), hits)
    # Entries of one code are adjacent in the sorted table: number them within each window.
    offset = np.arange(len(where)) - np.repeat(np.cumsum(hits) - hits, hits)
    return np.repeat(first, hits) + offset, where


class Chart:
    """The filled, pruned chart of one string: ``rows[A]`` per NT, plus lazily extracted item lists."""

    def __init__(self, g: Grammar, root: int, tokens: np.ndarray, wild: Optional[np.ndarray], prune: bool = True):
        self.g, self.root, self.tokens, self.wild = g, root, tokens, wild
        self.n = n = len(tokens)
        self.words = (n + 1 + 63) // 64
        self.rows: dict = {}
        self._items: dict = {}
        self._pairs: dict = {}
        self.accepted = self._fill(prune)

    # Items and pair products ------------------------------------------------------------------
    def span_bounds(self, key) -> tuple[int, int]:
        g = self.g
        if isinstance(key, tuple):
            return sum(int(g.minlen[s]) for s in key), sum(int(g.maxlen[s]) for s in key)
        return int(g.minlen[key]), int(g.maxlen[key])

    def items(self, key) -> tuple[np.ndarray, np.ndarray]:
        if key not in self._items:
            rows = self.rows[key] if not isinstance(key, tuple) else self._pairs[key]
            self._items[key] = _items_from_bits(rows, *self.span_bounds(key))
        return self._items[key]

    def pair(self, left, right: int) -> np.ndarray:
        """Bit matrix of the concatenation left·right (left an NT or a pair key)."""
        key = (left, right) if not isinstance(left, tuple) else left + (right,)
        if key not in self._pairs:
            starts, ends = self.items(left)
            out = np.zeros((self.n + 1, self.words), np.uint64)
            uniq, merged = _join(starts, ends, self.rows[right])
            out[uniq] = merged
            self._pairs[key] = out
        return self._pairs[key]

    # Filling -----------------------------------------------------------------------------------
    def _fill(self, prune: bool) -> bool:
        g, n = self.g, self.n
        reachable = g.reachable(self.root)
        root_level = int(g.level[self.root])
        for lev in range(g.depth - 1, root_level - 1, -1):
            level_nts = [a for a in g.level_ids(lev) if a in reachable]
            if lev == g.depth - 1:
                self._fill_bottom(level_nts)
            else:
                for a in level_nts:
                    self.rows[a] = self._rule_rows(a)
            if prune and lev > root_level and not self._prune_level(level_nts):
                return False
        return bool(self.rows[self.root][0, n >> 6] >> np.uint64(n & 63) & _ONE)

    def _fill_bottom(self, level_nts: list[int]) -> None:
        """Charts of the NTs just above the terminals: where does each of their rules match x?"""
        if self.wild is not None:
            for a in level_nts:
                self.rows[a] = self._terminal_rows(a)
            return
        slot = {a: k for k, a in enumerate(level_nts)}
        nts, starts, ends = [], [], []
        for size, (codes, owners) in _bottom_rules(self.g).items():
            if size > self.n:
                continue
            found, where = _match_codes(self.tokens, size, self.g.num_terminals + 1, codes)
            nts.append(owners[found])
            starts.append(where)
            ends.append(where + size)
        rows = np.zeros((len(level_nts), self.n + 1, self.words), np.uint64)
        if nts:
            nt = np.concatenate(nts)
            keep = np.isin(nt, level_nts)
            index = np.array([slot.get(int(a), -1) for a in nt[keep]], np.int64)
            end = np.concatenate(ends)[keep]
            np.bitwise_or.at(rows, (index, np.concatenate(starts)[keep], end >> 6),
                             np.left_shift(_ONE, (end & 63).astype(np.uint64)))
        for a, k in slot.items():
            self.rows[a] = rows[k]

    def _terminal_rows(self, a: int) -> np.ndarray:
        """One NT's bottom chart, rule by rule (the path that honours wildcard positions)."""
        x, n, wild = self.tokens, self.n, self.wild
        starts, ends = [], []
        for rule in self.g.rules[a]:
            size = len(rule)
            if size > n:
                continue
            match = np.ones(n - size + 1, bool)
            for k, t in enumerate(rule):
                hit = x[k:n - size + 1 + k] == t
                if wild is not None:
                    hit |= wild[k:n - size + 1 + k]
                match &= hit
            where = np.flatnonzero(match)
            starts.append(where)
            ends.append(where + size)
        starts = np.concatenate(starts) if starts else np.zeros(0, np.int64)
        ends = np.concatenate(ends) if ends else np.zeros(0, np.int64)
        return _bits_from_items(n + 1, self.words, starts, ends)

    def _rule_rows(self, a: int) -> np.ndarray:
        out = np.zeros((self.n + 1, self.words), np.uint64)
        for rule in self.g.rules[a]:
            if len(rule) == 2:
                left = rule[0]
            else:
                self.pair(rule[0], rule[1])
                left = (rule[0], rule[1])
            if a == self.root:
                starts, ends = self.items(left)
                keep = starts == 0  # the root node starts at 0: no other row is needed
                uniq, merged = _join(starts[keep], ends[keep], self.rows[rule[-1]])
                out[uniq] |= merged
            else:
                out |= self.pair(left, rule[-1])
        return out

    def _prune_level(self, level_nts: list[int]) -> bool:
        union = np.zeros((self.n + 1, self.words), np.uint64)
        for a in level_nts:
            union |= self.rows[a]
        keep = _chain_positions(union, self.n)
        if not keep:
            return False
        keep_words = _ints_to_words(keep, self.words)
        keep_rows = np.unpackbits(keep_words.astype("<u8").view(np.uint8), bitorder="little")[: self.n + 1].astype(bool)
        for a in level_nts:
            rows = self.rows[a]
            rows &= keep_words
            rows[~keep_rows] = 0
        return True

    # Read-out ------------------------------------------------------------------------------------
    def has(self, key, i: int, j: int) -> bool:
        rows = self.rows[key] if not isinstance(key, tuple) else self._pairs[key]
        return bool(rows[i, j >> 6] >> np.uint64(j & 63) & _ONE)

    def ends_from(self, key, i: int) -> list[int]:
        starts, ends = self.items(key)
        a, b = np.searchsorted(starts, [i, i + 1])
        return ends[a:b].tolist()


def build_chart(g: Union[str, Grammar], x, root: RootLike = None, wildcard=None, prune: bool = True) -> Optional[Chart]:
    """The filled chart of x, or None when x fails the early checks (bad tokens, wrong length)."""
    grammar, root_id = resolve(g, root)
    checked = _quick_reject(grammar, root_id, x, wildcard)
    if checked is None:
        return None
    return Chart(grammar, root_id, checked[0], checked[1], prune=prune)


def accepts(g: Union[str, Grammar], x, root: RootLike = None, wildcard=None) -> bool:
    """True iff the root derives x. Malformed input (specials, unknown ids, empty, too long) -> False."""
    chart = build_chart(g, x, root, wildcard)
    return bool(chart is not None and chart.accepted)


# --- counting and trees ---------------------------------------------------------------------------------
class _Deriver:
    """Top-down walks over an accepted chart: every item visited is derivable by construction."""

    def __init__(self, chart: Chart):
        self.chart, self.g = chart, chart.g
        self.bottom = chart.g.depth - 1
        self._count: dict = {}
        self._ints: dict = {}

    def has(self, a: int, i: int, j: int) -> bool:
        if a not in self._ints:
            self._ints[a] = _row_ints(self.chart.rows[a])
        return bool(self._ints[a][i] >> j & 1)

    def terminal_matches(self, a: int, i: int, j: int) -> list[tuple]:
        chart = self.chart
        out = []
        for rule in self.g.rules[a]:
            if len(rule) != j - i:
                continue
            if all(chart.wild is not None and chart.wild[i + k] or chart.tokens[i + k] == t for k, t in enumerate(rule)):
                out.append(rule)
        return out

    def splits(self, a: int, i: int, j: int):
        """Yield (rule, [(child, start, end), ...]) for every way a rule of a derives x[i:j]."""
        if self.g.level[a] == self.bottom:
            for rule in self.terminal_matches(a, i, j):
                yield rule, [(t, i + k, i + k + 1) for k, t in enumerate(rule)]
            return
        for rule in self.g.rules[a]:
            first = rule[0]
            for m1 in self.chart.ends_from(first, i):
                if m1 >= j:
                    break
                if len(rule) == 2:
                    if self.has(rule[1], m1, j):
                        yield rule, [(first, i, m1), (rule[1], m1, j)]
                    continue
                for m2 in self.chart.ends_from(rule[1], m1):
                    if m2 >= j:
                        break
                    if self.has(rule[2], m2, j):
                        yield rule, [(first, i, m1), (rule[1], m1, m2), (rule[2], m2, j)]

    def count(self, a: int, i: int, j: int) -> int:
        key = (a, i, j)
        if key not in self._count:
            total = 0
            for rule, parts in self.splits(a, i, j):
                if self.g.level[a] == self.bottom:
                    total += 1
                    continue
                product = 1
                for child, s, e in parts:
                    product *= self.count(child, s, e)
                total += product
            self._count[key] = total
        return self._count[key]

    def tree(self, a: int, i: int, j: int) -> ParseNode:
        if self.g.is_terminal(a):
            return ParseNode(a, i, j)
        rule, parts = next(iter(self.splits(a, i, j)))
        return ParseNode(a, i, j, tuple(self.tree(c, s, e) for c, s, e in parts))


def count_parses(g: Union[str, Grammar], x, root: RootLike = None, wildcard=None) -> int:
    """The exact number of parse trees of x under the root (0 when rejected)."""
    chart = build_chart(g, x, root, wildcard)
    if chart is None or not chart.accepted:
        return 0
    return _Deriver(chart).count(chart.root, 0, chart.n)


def parse(g: Union[str, Grammar], x, root: RootLike = None, wildcard=None) -> Optional[ParseNode]:
    """One parse tree of x (a :class:`ParseNode`), or None when x is not a sentence."""
    chart = build_chart(g, x, root, wildcard)
    if chart is None or not chart.accepted:
        return None
    return _Deriver(chart).tree(chart.root, 0, chart.n)


def tree_labels(g: Union[str, Grammar], tree: ParseNode) -> dict[int, dict[str, np.ndarray]]:
    """Per NT level of a parse tree: anc, nid and end arrays over its tokens (the probing labels)."""
    grammar = g if isinstance(g, Grammar) else resolve(g)[0]
    n = tree.end - tree.start
    out: dict[int, dict[str, np.ndarray]] = {}
    frontier = [tree]
    lev = int(grammar.level[tree.symbol])
    while frontier and not grammar.is_terminal(frontier[0].symbol):
        anc = np.empty(n, np.int64)
        nid = np.empty(n, np.int64)
        end = np.zeros(n, np.int8)
        for index, node in enumerate(frontier):
            anc[node.start - tree.start:node.end - tree.start] = node.symbol
            nid[node.start - tree.start:node.end - tree.start] = index
            end[node.end - 1 - tree.start] = 1
        out[lev] = {"anc": anc, "nid": nid, "end": end}
        frontier = [child for node in frontier for child in node.children]
        lev += 1
    return out
