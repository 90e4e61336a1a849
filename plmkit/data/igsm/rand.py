"""Fast scalar random draws for the generator, fed by a numpy Generator.

A problem needs a few hundred small random choices; calling ``rng.integers`` for each costs a few
microseconds apiece. :class:`Draws` takes uniforms from ``rng.random`` in blocks and turns them into
integers, choices, shuffles and samples, so the same ``rng`` state always gives the same problem.
"""
from __future__ import annotations

import math
from typing import Sequence, TypeVar

import numpy as np

T = TypeVar("T")
_BLOCK = 256


class Draws:
    def __init__(self, rng: np.random.Generator):
        if not isinstance(rng, np.random.Generator):
            raise ValueError("expected a numpy.random.Generator (numpy.random.default_rng(seed)), "
                             f"got {type(rng).__name__}")
        self.rng = rng
        self._buf: list[float] = []
        self._i = 0

    def uniform(self) -> float:
        """One U[0, 1) number."""
        if self._i >= len(self._buf):
            self._buf = self.rng.random(_BLOCK).tolist()
            self._i = 0
        u = self._buf[self._i]
        self._i += 1
        return u

    def coin(self, p: float = 0.5) -> bool:
        return self.uniform() < p

    def below(self, n: int) -> int:
        """Uniform integer in 0..n-1 (n >= 1)."""
        return min(int(self.uniform() * n), n - 1)

    def between(self, lo: int, hi: int) -> int:
        """Uniform integer in lo..hi, both included."""
        return lo + self.below(hi - lo + 1)

    def choice(self, seq: Sequence[T]) -> T:
        return seq[self.below(len(seq))]

    def shuffle(self, items: list) -> list:
        """Shuffle in place (Fisher-Yates) and return the list."""
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]
        return items

    def sample(self, seq: Sequence[T], k: int) -> list[T]:
        """k distinct elements in random order (partial Fisher-Yates)."""
        pool = list(seq)
        n = len(pool)
        for i in range(k):
            j = i + self.below(n - i)
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]

    def weighted(self, weights: Sequence[float]) -> int:
        """Index drawn with probability proportional to ``weights``."""
        total = sum(weights)
        u = self.uniform() * total
        acc = 0.0
        for i, w in enumerate(weights):
            acc += w
            if u < acc:
                return i
        return len(weights) - 1

    def normal(self) -> float:
        """One N(0, 1) number (Box-Muller)."""
        u1 = 1.0 - self.uniform()  # in (0, 1]
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * self.uniform())
