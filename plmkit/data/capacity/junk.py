"""Junk people for Part 3.3's junk-data experiment [P3.3 §10]: bioD people whose facts are fresh noise every
time (``random``) or drawn from a small fixed set (``repetitive``), never sharing a name with a useful person."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..packing import step_rng
from .biod import EOS_ID, BioD, pack_equal_lines


def name_codes(names: np.ndarray, pools) -> np.ndarray:
    """One integer per name (mixed radix over the name positions), to tell names apart quickly."""
    codes = np.zeros(len(names), dtype=np.int64)
    for j, radix in enumerate(pools):
        codes = codes * radix + names[:, j]
    return codes


def draw_junk_people(useful: BioD, n: int, rng: np.random.Generator) -> BioD:
    """n junk people: names uniform over the name space but never a useful person's, values drawn from the
    useful data's own pools. Junk names may repeat among themselves (the name space is finite), each time
    with new values: nothing about a junk person can be learned."""
    cfg = useful.config
    taken = name_codes(useful.names, cfg.name_pools)
    names = np.empty((0, cfg.name_length), dtype=np.int64)
    while len(names) < n:
        draw = np.stack([rng.integers(0, r, size=n) for r in cfg.name_pools], axis=1)
        names = np.concatenate([names, draw[~np.isin(name_codes(draw, cfg.name_pools), taken)]])[:n]
    chunks = rng.integers(0, cfg.D, size=(n, cfg.K, cfg.C))
    return BioD(replace(cfg, N=n), useful.seed, names, useful.pools, chunks)


class JunkWindows:
    """Junk training windows, a pure function of (seed, step): ``random`` people drawn afresh every time, or
    draws from a ``repetitive`` fixed set of ``pool_people`` people."""

    def __init__(self, useful: BioD, kind: str, context: int, seed: int, pool_people: int = 0):
        if kind not in ("random", "repetitive"):
            raise ValueError(f"unknown junk kind {kind!r}; valid: random, repetitive")
        self.useful, self.kind, self.context, self.seed = useful, kind, context, seed
        self.per_window = context // (useful.config.line_length + 1)
        self.pool = draw_junk_people(useful, pool_people, np.random.default_rng([seed, 0])) if kind == "repetitive" else None

    def windows(self, step: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        rng = step_rng(self.seed, step)
        lines = n * self.per_window
        if self.pool is None:
            people = draw_junk_people(self.useful, lines, rng)
            rows = people.render(people.draw_orders(rng))
        else:
            chosen = rng.integers(0, self.pool.config.N, size=lines)
            rows = self.pool.render(self.pool.draw_orders(rng, lines), chosen)
        return pack_equal_lines(rows, self.context, EOS_ID)
