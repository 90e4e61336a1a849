"""Token layout shared by the playground tasks, and the multi-token names of the graph tasks.

The playground has no tokenizer: instances are raw integer symbols [P4.1 App. C]. Every task uses
the same first five ids, so one packing rule (``<bos>`` separates instances, ``<pad>`` = 0 fills a
window's tail) works for all of them:

    0 <pad>   1 <bos>   2 <ans>   3 <eos>   4 <query>

then the task's own specials (``<query_1>``..``<query_K>`` for Depo, ``<len_1>``..``<len_L>`` and the
three operators for Mano), then its symbols. A task that does not use ``<eos>`` or ``<query>`` simply
never emits them.

Names [P4.1 fn 29]: a name of length l has its first l-1 tokens drawn from V "inner" symbols and its
last token from V "end" symbols. The end symbol marks the word boundary, as a BPE word end would, so
a list of names can be split without separators. With one-token names only the V end symbols exist.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from ...tokenizer import WordTokenizer

COMMON_SPECIALS = ("<pad>", "<bos>", "<ans>", "<eos>", "<query>")
PAD, BOS, ANS, EOS, QUERY = range(len(COMMON_SPECIALS))


@dataclass(frozen=True)
class Layout:
    """Ids of one task: the common specials, the task's specials, then ``symbols`` (their printed names)."""

    extra_specials: tuple[str, ...]
    symbols: tuple[str, ...]
    tokenizer: WordTokenizer = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        tok = WordTokenizer(self.symbols, specials=COMMON_SPECIALS + tuple(self.extra_specials))
        if tok.vocab_size != len(COMMON_SPECIALS) + len(self.extra_specials) + len(self.symbols):
            raise ValueError("special and symbol names must be distinct")
        object.__setattr__(self, "tokenizer", tok)

    @property
    def first_symbol(self) -> int:
        """Id of the first symbol; symbol i (0-based) has id ``first_symbol + i``."""
        return len(COMMON_SPECIALS) + len(self.extra_specials)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def special(self, name: str) -> int:
        if name not in COMMON_SPECIALS and name not in self.extra_specials:
            valid = ", ".join(COMMON_SPECIALS + tuple(self.extra_specials))
            raise ValueError(f"unknown special token {name!r}; this task has: {valid}")
        return self.tokenizer.id_of(name)

    def render(self, ids: Sequence[int]) -> str:
        """Readable text of a token sequence, e.g. ``<bos> 9 5 7 3 <query_2> 3 <ans> 5``."""
        return " ".join(self.tokenizer.tokens(int(i) for i in ids))


@dataclass(frozen=True)
class NameScheme:
    """Names of ``min_len``..``max_len`` tokens over V inner and V end symbols [P4.1 fn 29]."""

    V: int
    min_len: int = 1
    max_len: int = 1

    def __post_init__(self):
        if self.V < 1:
            raise ValueError(f"V must be at least 1, got {self.V}")
        if not 1 <= self.min_len <= self.max_len:
            raise ValueError(f"name lengths must satisfy 1 <= min <= max, got {self.min_len}..{self.max_len}")

    @property
    def n_symbols(self) -> int:
        return self.V if self.max_len == 1 else 2 * self.V

    def symbol_names(self) -> tuple[str, ...]:
        """Printed names: inner symbols ``1..V``, end symbols ``V+1..2V`` (just ``1..V`` for one-token names)."""
        return tuple(str(i) for i in range(1, self.n_symbols + 1))

    def count(self) -> int:
        """How many distinct names exist."""
        return sum(self.V ** length for length in range(self.min_len, self.max_len + 1))

    def end_offset(self) -> int:
        """Index of the first end symbol among the name symbols."""
        return 0 if self.max_len == 1 else self.V

    def sample(self, rng: np.random.Generator, n: int, first_id: int) -> list[tuple[int, ...]]:
        """n distinct names as token-id tuples, in random order (ids start at ``first_id``)."""
        if n > self.count():
            raise ValueError(f"cannot draw {n} distinct names: only {self.count()} exist with V={self.V}, "
                             f"lengths {self.min_len}..{self.max_len}")
        end_base = first_id + self.end_offset()
        if self.max_len == 1:  # one-token names: a draw without replacement is the same law, and faster
            return [(end_base + int(i),) for i in rng.permutation(self.V)[:n]]
        names: list[tuple[int, ...]] = []
        seen: set[tuple[int, ...]] = set()
        while len(names) < n:  # a stream of random names; a duplicate is skipped, i.e. drawn again
            batch = n - len(names) + 8
            lengths = rng.integers(self.min_len, self.max_len + 1, batch)
            inner = (rng.integers(0, self.V, (batch, self.max_len - 1)) + first_id).tolist()
            ends = (rng.integers(0, self.V, batch) + end_base).tolist()
            for length, row, end in zip(lengths.tolist(), inner, ends):
                name = (*row[:length - 1], end)
                if name not in seen and len(names) < n:
                    seen.add(name)
                    names.append(name)
        return names

def split_names(tokens: Sequence[int], scheme: NameScheme, first_id: int) -> Optional[list[tuple[int, ...]]]:
    """Cut a run of name tokens at the end symbols; None if it is not a list of valid names.

    A token that is not a name symbol, a name of the wrong length, or a trailing unfinished name makes
    the whole run invalid.
    """
    end_lo = first_id + scheme.end_offset()
    end_hi, inner_lo = end_lo + scheme.V, first_id
    names, current = [], []
    for t in tokens:
        t = int(t)
        current.append(t)
        if end_lo <= t < end_hi:
            if not scheme.min_len <= len(current) <= scheme.max_len:
                return None
            names.append(tuple(current))
            current = []
        elif not (scheme.max_len > 1 and inner_lo <= t < inner_lo + scheme.V):
            return None
    return names if not current else None
