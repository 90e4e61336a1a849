"""Capo: knowledge capacity in the 100-exposure regime [P4.1 §2.1, App. A.3], on Part 3's bioS.

The data is bioS(N): N fake people, six attributes each, and every exposure of a person is a freshly
paraphrased biography (new templates, new sentence order) [P3.3 §2.2]. Each person is seen exactly
100 times, an undertrained regime chosen on purpose: at 1000 exposures architectures converge
[P4.1 §2.1 fn 4]. The metric (learned bits per parameter, with partial credit) is Part 3.3's.

This module only schedules the exposures; people, rendering and the vocabulary come from
:mod:`plmkit.data.bios`. Pass ``p`` shows every person once, in a fresh random order, each with a new
rendering. The paper uses GPT-2's tokenizer restricted to the 3,275 tokens that occur; the kit's
word-level tokenizer stands in for it, since capacity hardly depends on the text format [P4.1 App. A.3].
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Optional

import numpy as np

from .. import bios
from ..bios.vocab import default_template_set
from ..packing import Example, FixedDataset, pack_windows, step_rng
from . import common

PEOPLE_SEED, RENDER_SEED = 0, 1  # sub-streams of the data seed


@dataclass(frozen=True)
class CapoConfig:
    people: int = 50_000       # N = 50K .. 2M in the paper
    exposures: int = 100
    pools: str = "gpu"         # bios pool profile: ci, cpu or gpu (the paper's pools)

    def __post_init__(self):
        common.check_range("people", self.people, 1)
        common.check_range("exposures", self.exposures, 1)
        if self.pools not in bios.PROFILES:
            raise ValueError(f"unknown pools {self.pools!r}; valid: {', '.join(bios.PROFILES)}")


PRESETS = {
    "capo": CapoConfig(50_000),                       # the smallest paper row; N up to 2M
    "capo-mini": CapoConfig(2_000, pools="cpu"),      # a few-minute CPU sweep point
}
PAPER_PEOPLE = (50_000, 100_000, 200_000, 500_000, 1_000_000, 2_000_000)
PAPER_BATCH = {50_000: 12, 100_000: 24, 200_000: 48, 500_000: 96, 1_000_000: 192, 2_000_000: 384}


class CapoData:
    """The people of one Capo run and their exposures, as packing examples (loss on every token)."""

    def __init__(self, cfg: CapoConfig, seed: int = 0):
        self.cfg, self.seed = cfg, seed
        self.pools = bios.pools_for_profile(cfg.pools)
        self.people = bios.sample_people(cfg.people, self.pools, seed=step_rng(seed, PEOPLE_SEED))

    @cached_property
    def tokenizer(self):
        return bios.build_tokenizer(self.pools)

    @property
    def sep_id(self) -> int:
        return self.tokenizer.id_of("<eos>")

    @cached_property
    def _renderer(self):
        return bios.BioRenderer(default_template_set(self.pools))

    def exposure(self, index: int) -> list[Example]:
        """Pass ``index``: every person once, in a fresh order, each with a fresh paraphrase."""
        rng = step_rng(self.seed, RENDER_SEED, index)
        order = rng.permutation(len(self.people))
        entries = self._renderer.render_online([self.people[i] for i in order], rng)
        return [Example(*bios.encode_entry(e, self.tokenizer)) for e in entries]

    def bits(self) -> float:
        """Information the data holds: N times the per-person value bits of Part 3.3 (names excluded)."""
        return self.cfg.people * bios.information_bits(self.pools)["log2_S0"]


class CapoStream(FixedDataset):
    """Exposure passes as one long sequence of packed windows; ``steps_for(cfg.exposures)`` covers them.

    Same interface as :class:`~plmkit.data.packing.FixedDataset`, but every pass is re-rendered.
    """

    def __init__(self, data: CapoData, context: int, batch_size: int):
        self.data = data
        first_pass = data.exposure(0)
        super().__init__(first_pass, context, batch_size, data.sep_id, seed=data.seed, shuffle=False)

    def epoch_windows(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        if epoch not in self._epoch_cache:
            examples = self.examples if epoch == 0 else self.data.exposure(epoch)
            tok, w, _ = pack_windows(examples, self.context, self.sep_id, truncate=False)
            if len(self._epoch_cache) > 2:  # keep memory flat over long runs
                self._epoch_cache.pop(min(self._epoch_cache))
            self._epoch_cache[epoch] = (tok, w)
        return self._epoch_cache[epoch]

    def steps(self) -> int:
        """Optimizer steps for exactly ``exposures`` passes."""
        return self.steps_for(self.data.cfg.exposures)

    def describe(self) -> dict:
        return {**super().describe(), "kind": "capo", "people": self.data.cfg.people,
                "exposures": self.data.cfg.exposures, "pools": self.data.cfg.pools}


def capo_stream(cfg: CapoConfig, context: int = 512, batch_size: Optional[int] = None, seed: int = 0) -> CapoStream:
    """The training stream; ``batch_size`` defaults to the paper's batch for N (12 for 50K, ..., 384 for 2M)."""
    batch = batch_size or PAPER_BATCH.get(cfg.people, 12)
    return CapoStream(CapoData(cfg, seed), context, batch)
