"""Corrupted sentences for the robustness experiment: noise in the pretraining data makes a model
robust to corrupted prompts [P1 abstract].

``kind="flip"``: with probability p a sentence is corrupted, and then each of its tokens is replaced
independently with probability gamma by a uniformly chosen *different* terminal.
``kind="struct"``: a random internal node of the generating tree is regrown from another NT of the same
level, so the result is locally grammatical but globally wrong.
Separators are never touched: the functions work on separator-free sentences.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

from plmkit.data.cfg.grammar import Grammar, RootLike, load_grammar
from plmkit.data.cfg.sampler import RngLike, TreeLabels, as_rng, sample

DEFAULT_TERMINALS = 3  # the cfg3 family; pass the grammar for cfg3e1 (T=9) or cfg3e2 (T=4)


def _num_terminals(g: Union[str, Grammar, None], num_terminals: Optional[int]) -> int:
    if num_terminals is not None:
        return int(num_terminals)
    if g is not None:
        return load_grammar(g).num_terminals
    return DEFAULT_TERMINALS


def flip_tokens(tokens: np.ndarray, flip: np.ndarray, num_terminals: int, rng: np.random.Generator) -> np.ndarray:
    """Replace tokens[flip] by a different terminal, uniformly among the other T-1."""
    out = np.array(tokens, dtype=np.int64, copy=True)
    k = int(np.count_nonzero(flip))
    if k:
        # Adding 1..T-1 modulo T never returns the same terminal and hits every other one equally often.
        shift = rng.integers(1, num_terminals, size=k)
        out[flip] = (out[flip] - 1 + shift) % num_terminals + 1
    return out


def corrupt(sentences: Sequence[np.ndarray], p: float, gamma: float, rng: RngLike,
            g: Union[str, Grammar, None] = None, *, kind: str = "flip", num_terminals: Optional[int] = None,
            labels: Optional[TreeLabels] = None, root: RootLike = None, return_mask: bool = False):
    """Corrupt each sentence with probability p; returns new arrays, inputs untouched.

    ``flip`` needs the number of terminals: from ``g``, from ``num_terminals``, else 3 (cfg3 family).
    ``struct`` needs ``g`` and the sentences' ``labels`` (from ``sample(..., labels=True)``); gamma is
    unused there. With ``return_mask`` also returns a bool array: which sentences were picked.
    """
    if not 0 <= p <= 1 or not 0 <= gamma <= 1:
        raise ValueError(f"p and gamma must lie in [0, 1], got p={p}, gamma={gamma}")
    if kind not in ("flip", "struct"):
        raise ValueError(f"unknown corruption kind {kind!r}; valid kinds: flip, struct")
    rng = as_rng(rng)
    n = len(sentences)
    picked = rng.random(n) < p
    if kind == "flip":
        T = _num_terminals(g, num_terminals)
        lengths = np.fromiter((len(s) for s in sentences), np.int64, count=n)
        flat = np.concatenate([np.asarray(s, np.int64) for s in sentences]) if n else np.zeros(0, np.int64)
        in_picked = np.repeat(picked, lengths)
        flips = in_picked & (rng.random(len(flat)) < gamma)
        flat = flip_tokens(flat, flips, T, rng)
        out = np.split(flat, np.cumsum(lengths)[:-1]) if n else []
    else:
        if g is None or labels is None:
            raise ValueError("kind='struct' needs the grammar g and the sentences' labels")
        grammar = load_grammar(g)
        out = [regrow_subtree(grammar, s, labels[i], rng, root) if picked[i] else np.array(s, np.int64)
               for i, s in enumerate(sentences)]
    return (out, picked) if return_mask else out


def regrow_subtree(g: Grammar, sentence: np.ndarray, labels, rng: np.random.Generator,
                   root: RootLike = None) -> np.ndarray:
    """Replace the span of a random non-root node by a fresh sample from another NT of its level.

    The node is drawn uniformly among all nodes of the probe levels (root level excluded). When the
    level has a single NT the node is regrown from the same NT.
    """
    levels = [lev for lev in labels.levels if lev > int(g.level[g.resolve_root(root)])]
    if not levels:
        return np.array(sentence, np.int64)
    nodes = [(lev, node) for lev in levels for node in labels.nodes(lev)]
    lev, (symbol, first, last) = nodes[int(rng.integers(len(nodes)))]
    others = [a for a in g.level_ids(lev) if a != symbol] or [int(symbol)]
    new_symbol = others[int(rng.integers(len(others)))]
    piece = sample(g, 1, rng, root=new_symbol)[0]
    return np.concatenate([sentence[:first], piece, sentence[last + 1:]]).astype(np.int64)


def corrupt_prefix(sentence: np.ndarray, k: int, gamma: float, rng: RngLike,
                   g: Union[str, Grammar, None] = None, *, num_terminals: Optional[int] = None) -> tuple[np.ndarray, int]:
    """Flip each of the first k tokens with probability gamma, forcing at least one flip (a corrupted prompt).

    Returns (corrupted copy of the whole sentence, number of flips f). Tokens after k are unchanged.
    """
    rng = as_rng(rng)
    sentence = np.asarray(sentence, np.int64)
    k = min(int(k), len(sentence))
    if k < 1:
        raise ValueError("corrupt_prefix needs a prefix of at least one token")
    flips = np.zeros(len(sentence), bool)
    flips[:k] = rng.random(k) < gamma
    if not flips.any():
        flips[int(rng.integers(k))] = True
    return flip_tokens(sentence, flips, _num_terminals(g, num_terminals), rng), int(flips.sum())
