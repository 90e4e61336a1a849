"""Vectorized sampling of sentences, with the parse-tree labels the probes read [P1].

All sentences of a call are expanded together, one level at a time: the level-l nodes of every
sentence sit in one flat array (sentence after sentence, left to right), all rule choices of a level
are drawn at once, and the children are gathered from the grammar's padded rule table. Because
children keep their parents' order, each sentence's nodes stay contiguous at every level, and the
parent pointers recorded on the way give the labels (ancestor, node index, span end) for free.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np

from plmkit.data.cfg.grammar import Grammar, RootLike, resolve

RngLike = Union[np.random.Generator, int, None]


def as_rng(rng: RngLike) -> np.random.Generator:
    """Accept a Generator or an integer seed (never the global numpy state)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        raise ValueError("pass a numpy.random.Generator or an integer seed (sampling is always seeded)")
    return np.random.default_rng(rng)


@dataclass
class _Expansion:
    """Flat node arrays of one sampling call, level by level (root level first)."""

    levels: list[int]  # level numbers, root level .. D
    symbols: list[np.ndarray]  # per level: symbol of each node
    parents: list[np.ndarray]  # per level: index of the parent node one level up (root level: sentence)
    node_offsets: list[np.ndarray]  # per level: (n+1,) first node of each sentence


def _expand(g: Grammar, root: int, n: int, rng: np.random.Generator) -> _Expansion:
    children, lengths, degree = g.rule_table
    root_level = int(g.level[root])
    symbols = [np.full(n, root, np.int64)]
    parents = [np.arange(n, dtype=np.int64)]
    offsets = [np.arange(n + 1, dtype=np.int64)]
    for _ in range(root_level, g.depth):
        sym = symbols[-1]
        choice = rng.integers(0, degree[sym])  # uniform over each node's own rules
        kids = children[sym, choice]  # (m, 3), padded with -1
        count = lengths[sym, choice]
        symbols.append(kids[kids >= 0])  # row-major: children stay in order, parents stay in order
        parents.append(np.repeat(np.arange(len(sym), dtype=np.int64), count))
        # Nodes of sentence s at the new level: the children of its nodes at the old level.
        cum = np.concatenate([[0], np.cumsum(count)])
        offsets.append(cum[offsets[-1]])
    return _Expansion(list(range(root_level, g.depth + 1)), symbols, parents, offsets)


@dataclass
class SentenceLabels:
    """Labels of one sentence: arrays of shape (levels, n); row r is level ``levels[r]``."""

    levels: tuple[int, ...]
    anc: np.ndarray
    cls: np.ndarray
    nid: np.ndarray
    end: np.ndarray
    start: np.ndarray

    def row(self, level: int) -> int:
        return self.levels.index(level)

    def nodes(self, level: int) -> np.ndarray:
        """(k, 3) array of the level's nodes: symbol, first token, last token (0-based, inclusive)."""
        r = self.row(level)
        first = np.flatnonzero(self.start[r])
        last = np.flatnonzero(self.end[r])
        return np.stack([self.anc[r, first], first, last], axis=1)


@dataclass
class TreeLabels:
    """Probing labels for a batch of sentences, stored flat over all tokens.

    Row r of ``anc``/``cls``/``nid``/``end``/``start`` is level ``levels[r]`` (root level .. D-1);
    columns are the tokens of all sentences, sentence i occupying ``offsets[i]:offsets[i+1]``.
    ``labels[i]`` gives one sentence's :class:`SentenceLabels`.
    """

    levels: tuple[int, ...]
    offsets: np.ndarray
    anc: np.ndarray
    cls: np.ndarray
    nid: np.ndarray
    end: np.ndarray
    start: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> SentenceLabels:
        if not -len(self) <= i < len(self):
            raise IndexError(f"sentence {i} out of range (have {len(self)})")
        i %= len(self)
        a, b = self.offsets[i], self.offsets[i + 1]
        return SentenceLabels(self.levels, self.anc[:, a:b], self.cls[:, a:b], self.nid[:, a:b],
                              self.end[:, a:b], self.start[:, a:b])

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def _labels(g: Grammar, tree: _Expansion) -> TreeLabels:
    token_level = len(tree.levels) - 1
    num_tokens = len(tree.symbols[token_level])
    token_owner = np.repeat(np.arange(len(tree.node_offsets[0]) - 1), np.diff(tree.node_offsets[token_level]))
    rows = token_level  # NT levels: root level .. D-1
    anc = np.empty((rows, num_tokens), np.int32)
    cls = np.empty((rows, num_tokens), np.int32)
    nid = np.empty((rows, num_tokens), np.int32)
    end = np.empty((rows, num_tokens), np.int8)
    start = np.empty((rows, num_tokens), np.int8)
    node = np.arange(num_tokens)  # index of each token's ancestor at the current level
    for r in range(rows - 1, -1, -1):
        node = tree.parents[r + 1][node]
        symbols = tree.symbols[r][node]
        anc[r] = symbols
        cls[r] = g.class_index[symbols]
        nid[r] = node - tree.node_offsets[r][token_owner]
        # Nodes are numbered globally and sentences never share one, so a change of node index
        # between neighbours marks a span end even across a sentence boundary.
        changes = node[1:] != node[:-1]
        end[r, :-1] = changes
        start[r, 1:] = changes
        if num_tokens:
            end[r, -1] = 1
            start[r, 0] = 1
    return TreeLabels(tuple(tree.levels[:-1]), tree.node_offsets[token_level], anc, cls, nid, end, start)


def sample(g: Union[str, Grammar], n: int, rng: RngLike, root: RootLike = None, labels: bool = False):
    """Sample n sentences, choosing every node's rule uniformly at random [P1].

    Returns a list of n int64 arrays of terminal ids (no ``<bos>``), or ``(sentences, TreeLabels)``
    when ``labels`` is true. The same generator state gives the same sentences bit for bit.
    """
    grammar, root_id = resolve(g, root)
    rng = as_rng(rng)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    tree = _expand(grammar, root_id, int(n), rng)
    tokens = tree.symbols[-1]
    bounds = tree.node_offsets[-1]
    sentences = np.split(tokens, bounds[1:-1]) if n else []
    if not labels:
        return sentences
    return sentences, _labels(grammar, tree)


def sample_tokens(g: Union[str, Grammar], n: int, rng: RngLike, root: RootLike = None) -> tuple[np.ndarray, np.ndarray]:
    """Fast path: all tokens of n sentences in one array, plus the (n+1,) sentence offsets."""
    grammar, root_id = resolve(g, root)
    tree = _expand(grammar, root_id, int(n), as_rng(rng))
    return tree.symbols[-1], tree.node_offsets[-1]


def sample_stream(g: Union[str, Grammar], n: int, rng: RngLike, root: RootLike = None) -> np.ndarray:
    """n sentences as one token stream ``<bos> s1 <bos> s2 ... <bos> sn <bos>`` (for n-gram fits)."""
    grammar, _ = resolve(g, root)
    tokens, offsets = sample_tokens(grammar, n, rng, root)
    stream = np.insert(tokens, offsets, grammar.bos_id)  # a <bos> before each sentence and at the end
    return stream


def sample_min_length(g: Union[str, Grammar], n: int, rng: RngLike, min_length: int, root: RootLike = None,
                      max_rounds: int = 1000) -> list[np.ndarray]:
    """n sentences of length >= min_length (cutK prompts need sentences longer than K: shorter ones are resampled)."""
    grammar, root_id = resolve(g, root)
    if min_length > grammar.maxlen[root_id]:
        raise ValueError(f"no sentence of root {root_id} reaches length {min_length} (maxlen {grammar.maxlen[root_id]})")
    rng = as_rng(rng)
    kept: list[np.ndarray] = []
    for _ in range(max_rounds):
        kept.extend(s for s in sample(grammar, max(2 * (n - len(kept)), 16), rng, root_id) if len(s) >= min_length)
        if len(kept) >= n:
            return kept[:n]
    raise ValueError(f"sentences of length >= {min_length} are too rare under root {root_id}")
