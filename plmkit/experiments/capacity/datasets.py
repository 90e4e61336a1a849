"""The two kinds of knowledge data of Part 3.3 behind one small interface.

* :class:`BioDWorld`: bioD(N, K, C, D, L, T), random facts whose bits are known exactly [P3.3 §2.1];
* :class:`BioSWorld`: online bioS, biographies in English, every exposure a new writing [P3.3 §2.2];
* :class:`BioSCompactWorld`: the same bioS people as ``name <attr> value ...`` lines in a fresh order every
  exposure (kit decision: about 29 tokens per exposure instead of about 69 for bioS text; bits counted as for bioS).

All answer the same questions: the training stream at a given batch size (one exposure = every person shown
once, in a fresh rendering), the data's bits (the numerator of R^max), a trained model's measurement
(learned bits, R and R^max as plain numbers for metrics files) and, for the junk-data runs, junk windows
drawn like the data (``junk_windows``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from ...data import capacity
from ...data.capacity import BioD, BioSCompact, Bits, FreshExposures
from ...data.capacity.biod import TAG_ID
from ...data.capacity.junk import JunkWindows
from ...tokenizer import WordTokenizer

BIOS_TEMPLATES = "full"


def measurement_dict(m) -> dict:
    """The numbers of a measurement that metrics files keep (both kinds of measurement have them)."""
    out = {"R": m.R, "R_max": m.R_max, "parameters": m.parameters, "learned": m.learned.as_dict(),
           "max_bits": m.max_bits.as_dict(), "people_measured": m.people_measured}
    losses = getattr(m, "losses", None)
    out.update({"p1": losses.p1, "p2": losses.p2, "p3": losses.p3} if losses is not None else {"p1": m.p1, "p2": m.p2})
    return out


@dataclass
class BioDWorld:
    data: BioD
    name: str

    kind = "bioD"

    @property
    def n_people(self) -> int:
        return self.data.config.N

    @property
    def vocab_size(self) -> int:
        return self.data.config.vocab_size

    def stream(self, context: int, batch: int, seed: int, tag: bool = False) -> FreshExposures:
        return capacity.biod_dataset(self.data, context=context, batch_size=batch, seed=seed, tag=tag)

    def max_bits(self) -> Bits:
        return capacity.biod_max_bits(self.data.config)

    def used_token_ids(self, tag: bool = False) -> np.ndarray:
        used = self.data.used_token_ids()
        return np.append(used, TAG_ID) if tag else used

    def measure(self, model: torch.nn.Module, *, tag: bool = False, sample: Optional[int] = None,
                parameters: Optional[int] = None) -> dict:
        return measurement_dict(capacity.measure_biod(model, self.data, tag=tag, sample=sample, parameters=parameters))

    def describe(self) -> str:
        return self.data.config.describe()

    def junk_windows(self, kind: str, context: int, seed: int, pool_people: int = 0):
        """Junk windows drawn like this data [P3.3 §10]: ``random`` or ``repetitive`` (``pool_people`` people)."""
        return JunkWindows(self.data, kind, context, seed, pool_people)


@dataclass
class BioSWorld:
    people: list
    pools: object
    tokenizer: WordTokenizer
    name: str = "bioS"

    kind = "bioS"

    @property
    def n_people(self) -> int:
        return len(self.people)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def stream(self, context: int, batch: int, seed: int, tag: bool = False) -> FreshExposures:
        if tag:
            raise ValueError("the domain tag is implemented for bioD and bioS-compact data; use one of them for the "
                             "junk runs")
        return capacity.bios_online_dataset(self.people, self.tokenizer, context=context, batch_size=batch, seed=seed,
                                            templates=BIOS_TEMPLATES)

    def max_bits(self) -> Bits:
        log2_S0 = self.pools.information_bits()["log2_S0"]
        return capacity.bios_max_bits(self.n_people, self.pools.name_space_size, log2_S0)

    def used_token_ids(self, tag: bool = False) -> np.ndarray:
        return capacity.bios_used_token_ids(self.people, self.tokenizer, BIOS_TEMPLATES)

    def measure(self, model: torch.nn.Module, *, tag: bool = False, sample: Optional[int] = None,
                parameters: Optional[int] = None) -> dict:
        return measurement_dict(capacity.measure_bios(model, self.people, self.pools, self.tokenizer,
                                                      templates=BIOS_TEMPLATES, sample=sample, parameters=parameters))

    def describe(self) -> str:
        return f"online bioS, N = {self.n_people:,} people, {self.pools.describe()}"

    def junk_windows(self, kind: str, context: int, seed: int, pool_people: int = 0):
        raise ValueError("junk windows are implemented for bioD and bioS-compact data; valid datasets for the junk "
                         f"runs: bioS-compact, {', '.join(capacity.PRESETS)}")


@dataclass
class BioSCompactWorld:
    """bioS-compact: the bioS people (same seed, same people as ``bioS``), one ``name <attr> value ...`` line per
    exposure with the pairs in a fresh order; measured like bioS, the employer before the company city."""

    data: BioSCompact
    name: str = "bioS-compact"

    kind = "bioS-compact"

    @property
    def n_people(self) -> int:
        return self.data.n_people

    @property
    def vocab_size(self) -> int:
        return self.data.vocab_size

    def stream(self, context: int, batch: int, seed: int, tag: bool = False) -> FreshExposures:
        return capacity.bios_compact_dataset(self.data, context=context, batch_size=batch, seed=seed, tag=tag)

    def max_bits(self) -> Bits:
        return self.data.max_bits()

    def used_token_ids(self, tag: bool = False) -> np.ndarray:
        return self.data.used_token_ids(tag)

    def measure(self, model: torch.nn.Module, *, tag: bool = False, sample: Optional[int] = None,
                parameters: Optional[int] = None) -> dict:
        return measurement_dict(capacity.measure_bios_compact(model, self.data, tag=tag, sample=sample,
                                                              parameters=parameters))

    def describe(self) -> str:
        return self.data.describe()

    def junk_windows(self, kind: str, context: int, seed: int, pool_people: int = 0):
        """Junk people from the same pools, names never a useful person's [P3.3 §10]."""
        return capacity.CompactJunkWindows(self.data, kind, context, seed, pool_people)


def make_world(data: str, n_people: int, seed: int = 0):
    """A dataset of ``n_people`` people: a bioD preset name (``bioD-tiny``, ``bioD-ci``), ``bioS`` or
    ``bioS-compact`` (the same people as ``bioS`` for the same seed)."""
    if data == "bioS":
        from ...data import bios

        pools = bios.pools_for_profile("gpu")  # the paper's full pools
        people = bios.sample_people(n_people, pools, seed=seed)
        return BioSWorld(people, pools, bios.build_tokenizer(pools, BIOS_TEMPLATES, manipulation=False))
    if data == "bioS-compact":
        return BioSCompactWorld(capacity.generate_bios_compact(n_people, seed=seed, pools="gpu"))
    if data not in capacity.PRESETS:
        raise ValueError(f"unknown dataset {data!r}; valid: bioS, bioS-compact, {', '.join(capacity.PRESETS)}")
    return BioDWorld(capacity.generate_biod(capacity.preset(data, N=n_people), seed=seed), data)
