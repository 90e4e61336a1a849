"""Exhaustive enumeration of a small sub-grammar (d2, small d3): the ground truth behind the DP tests.

Every derivation from the root is expanded explicitly, so sentence probabilities are exact fractions
and parse counts are plain counts. This is exponential in the depth: use it only for tiny roots.
"""
from __future__ import annotations

from fractions import Fraction
from itertools import product
from typing import Union

from plmkit.data.cfg.grammar import Grammar, RootLike, resolve


def _derivations(g: Grammar, symbol: int, memo: dict) -> dict[tuple, tuple[Fraction, int]]:
    """{string: (probability, number of derivations)} for everything ``symbol`` derives."""
    if g.is_terminal(symbol):
        return {(symbol,): (Fraction(1), 1)}
    if symbol in memo:
        return memo[symbol]
    rule_prob = Fraction(1, len(g.rules[symbol]))
    out: dict[tuple, list] = {}
    for rule in g.rules[symbol]:
        parts = [_derivations(g, child, memo) for child in rule]
        for combo in product(*(p.items() for p in parts)):
            string = tuple(t for piece, _ in combo for t in piece)
            prob, count = rule_prob, 1
            for _, (p, c) in combo:
                prob *= p
                count *= c
            entry = out.setdefault(string, [Fraction(0), 0])
            entry[0] += prob
            entry[1] += count
    memo[symbol] = {s: (p, c) for s, (p, c) in out.items()}
    return memo[symbol]


def enumerate_sentences(g: Union[str, Grammar], root: RootLike = None, limit: int = 200_000) -> dict[tuple, tuple[Fraction, int]]:
    """All sentences of the root with their exact probability and parse count.

    Raises ValueError when the support would exceed ``limit`` strings at some symbol.
    """
    grammar, root_id = resolve(g, root)
    memo: dict = {}
    for lev in range(grammar.depth - 1, int(grammar.level[root_id]) - 1, -1):
        for a in grammar.level_ids(lev):
            if a in grammar.reachable(root_id):
                if len(_derivations(grammar, a, memo)) > limit:
                    raise ValueError(f"NT {a} derives more than {limit} strings; enumerate a smaller root")
    return _derivations(grammar, root_id, memo)


def next_symbol_table(sentences: dict[tuple, tuple[Fraction, int]], prefix: tuple, num_terminals: int) -> list[Fraction]:
    """Exact P(next | prefix) over (EOS, 1..T) from an enumerated support."""
    weights = [Fraction(0)] * (num_terminals + 1)
    k = len(prefix)
    for string, (prob, _) in sentences.items():
        if string[:k] != prefix:
            continue
        weights[0 if len(string) == k else string[k]] += prob
    total = sum(weights)
    if total == 0:
        raise ValueError(f"{prefix} is a prefix of no sentence")
    return [w / total for w in weights]
