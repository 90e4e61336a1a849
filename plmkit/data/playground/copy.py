"""Full copy, the side task of Result 1 [P4.1 §4, Fig. 5, App. B].

    <bos> p1 p2 ... pN <query> p1 p2 ... pN

p is a random permutation of the symbols 1..N. The loss is on the copy only. One attention layer of
width 16 cannot learn this in 50k steps; one layer plus Canon, or two layers, learn it in ~1.5k
[P4.1 Fig. 5]. Accuracy is teacher-forced over the copied tokens; the paper also reads the first
t = 1, 2, 4 copied tokens, with nearly the same curves [P4.1 Fig. 18].
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Optional, Sequence

import numpy as np

from . import common
from .common import Answer, Instance
from .vocab import BOS, QUERY, Layout


@dataclass(frozen=True)
class CopyConfig:
    N: int = 500  # length of the permutation [P4.1 §4]

    def __post_init__(self):
        common.check_range("N", self.N, 1)

    @cached_property
    def layout(self) -> Layout:
        return Layout((), tuple(str(i) for i in range(1, self.N + 1)))

    @property
    def instance_length(self) -> int:
        return 2 * self.N + 2


PRESETS = {
    "copy": CopyConfig(500),       # the paper's setting
    "copy-mini": CopyConfig(64),   # the cpu cell: 130-token sequences
}


def sample_instance(cfg: CopyConfig, rng: np.random.Generator) -> Instance:
    perm = rng.permutation(cfg.N) + cfg.layout.first_symbol
    tokens = np.concatenate(([BOS], perm, [QUERY], perm)).astype(np.int64)
    marker = cfg.N + 1
    return Instance(tokens, [Answer(marker, marker + 1, len(tokens), cfg.N)], {"N": cfg.N}, marker_weight=0.0)


def sample_fn(cfg: CopyConfig, exclude: Optional[frozenset] = None):
    """Training ``sample_fn(rng, n)``: loss on the copied tokens only, never on ``<query>``."""
    return common.make_sample_fn(lambda rng: sample_instance(cfg, rng), exclude)


def eval_set(cfg: CopyConfig, count: int, seed: int = 0) -> list[Instance]:
    rng = common.eval_rng(seed)
    return [sample_instance(cfg, rng) for _ in range(count)]


# --- the answer check (independent of the generator) ------------------------------------------------
def expected_copy(tokens: Sequence[int]) -> list[int]:
    """What must be copied: everything between ``<bos>`` and the first ``<query>``."""
    tokens = [int(t) for t in tokens]
    if not tokens or tokens[0] != BOS or QUERY not in tokens:
        raise ValueError("not a copy instance: it must start with <bos> and contain <query>")
    return tokens[1:tokens.index(QUERY)]


def check(tokens: Sequence[int], candidate: Sequence[int]) -> bool:
    """Exact match of the candidate with the copied part."""
    return [int(t) for t in candidate] == expected_copy(tokens)
