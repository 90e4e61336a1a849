"""What each profile runs in Part 3.3, as frozen dataclasses: ``SETTINGS = {"ci", "cpu", "gpu"}``.

The recipe follows the paper at small scale [P3.3 App. A]: GPT-2 blocks with rotary positions, tied input and
output embeddings, no dropout, AdamW with 10% warmup then cosine decay to 0.1x the peak rate, weight decay 0.01,
small batches so that even short runs take thousands of steps. Every training run is counted in *exposures*
(times each person is shown) [P3.3 §1], so runs of different N are compared at equal exposures.

Data (kit decisions):

* ``bioD-tiny`` (cpu, and gpu's small runs): 8 attributes, one 1-token value each from a pool of 64 of
  256 value tokens, 2-token names (N0 = 65,536): 19 tokens per person and exposure, 48 + log2(N0/N)
  bits per person;
* ``bioD-ci``: the same with 4 attributes, for seconds-long runs;
* ``bioS``: online bioS text with the full pools (every exposure a new writing) [P3.3 §2.2], gpu only;
* ``bioS-compact``: the same people and facts as ``bioS``, written as ``name <attr> value ...`` with the seven
  pairs (six attributes and the gender) in a fresh order every exposure: 29 tokens per exposure instead of
  about 69 for bioS text with the kit's tokenizer, the same bits per person [P3.3 Def. 4.3]; gpu only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..common import RunContext

DATASETS = ("bioD-ci", "bioD-tiny", "bioS", "bioS-compact")


@dataclass(frozen=True)
class ModelShape:
    """A GPT2-l-h-like model: rotary, tied embeddings, LayerNorm, GELU unless ``mlp`` says otherwise."""

    n_layer: int
    n_head: int
    d_model: int
    context: int


@dataclass(frozen=True)
class Recipe:
    """Optimiser settings of one training run [P3.3 App. A, Remark A.2]."""

    lr: float
    batch: int  # windows of ``context`` tokens per step
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    min_lr_ratio: float = 0.1


@dataclass(frozen=True)
class LawSettings:
    """The base law [P3.3 Fig. 1]: one model size, several N, the same exposures. ``people`` lists the N
    from under-filled (R^max below the capacity) to over-filled (R^max well above it)."""

    data: str
    people: tuple
    exposures: int
    model: ModelShape
    recipe: Recipe


@dataclass(frozen=True)
class LongSettings:
    """One long run (1,000 exposures) that tests "about 2 bits per parameter" [P3.3 Res. 1].

    ``shipped``: the group of shipped checkpoints that holds it (trained by ``python -m plmkit reproduce
    capacity-pretrain``); None trains it inside the run.
    """

    data: str
    people: int
    exposures: int
    model: ModelShape
    recipe: Recipe
    shipped: Optional[str] = None


@dataclass(frozen=True)
class MLPSettings:
    """Gated (SwiGLU) against GELU MLP at equal parameters and exposures [P3.3 §7.1, Res. 6-7].

    Each MLP gets the best of the same learning rates ``lrs``. The paper gives only the negative result (the gated
    model) several rates; at this small scale the best rate moves with the exposures for GELU too, so both get
    the same search.
    """

    data: str
    people: int
    exposures: int
    model: ModelShape
    recipe: Recipe  # everything but the learning rate
    lrs: tuple


@dataclass(frozen=True)
class JunkSettings:
    """Useful data as 1/8 of the training windows, junk the rest [P3.3 §10, Res. 10-12].

    ``batch`` windows per step, ``batch * useful_share`` of them useful; the no-junk arm trains on the
    useful windows alone, so every arm sees the useful people equally often in the same number of steps.
    ``random_junk_lrs``: the junk-without-tag arm (a negative result) gets the best of these rates.
    """

    data: str
    people: int
    exposures: int
    model: ModelShape
    recipe: Recipe
    useful_share: float
    arms: tuple
    repetitive_people: int
    random_junk_lrs: tuple


@dataclass(frozen=True)
class CapacitySettings:
    law: LawSettings
    quantization_bits: tuple
    long: Optional[LongSettings]
    mlp: Optional[MLPSettings]
    junk: Optional[JunkSettings]
    measure_sample: Optional[int] = None  # bioS: measure a seeded sample of this many people


JUNK_ARMS = ("none", "random", "random+tag", "repetitive")

_CI_MODEL = ModelShape(n_layer=1, n_head=2, d_model=16, context=64)
# The cpu model (about 26K counted parameters): N = 300 under-fills it (R^max 0.7), N = 500 sits near its
# capacity at 300 exposures (R^max 1.1), N = 1500 over-fills it (R^max 3.1), as a capacity measurement needs
# (R^max >= 2.5). A width-32 model at N = 1500 (R^max 2.0) stored 1.40 bits per parameter and was not yet full.
_CPU_MODEL = ModelShape(n_layer=2, n_head=2, d_model=24, context=128)
_CPU_RECIPE = Recipe(lr=4e-3, batch=8)
_GPU_BIOS_MODEL = ModelShape(n_layer=2, n_head=2, d_model=128, context=512)  # GPT2-2-2 [P3.3 §2.3]
_GPU_SMALL_MODEL = ModelShape(n_layer=2, n_head=1, d_model=64, context=512)  # GPT2-2-1

# The gpu profile's budget, in tokens the model reads (windows x 512, padding included; one pass of bioS text
# packs about 7.0 people per window, one of bioS-compact about 17.0, measured with the kit's packing):
#   law, bioS text, GPT2-2-2, 100 exposures:  (1,433 + 5,723 windows per pass) x 100 x 512    = 366M tokens
#   long, bioS-compact, GPT2-2-1, N = 15K:    881 windows x 1,000 exposures x 512              = 451M tokens
#                                             (55K steps of 16 windows: the paper's >= 50K steps [P3.3 App. A])
#   mlp, bioS-compact, GPT2-2-2, N = 20K:     1,173 windows x 100 x 512 = 60M per run, x 6 runs = 360M tokens
#   junk, bioS-compact, GPT2-2-1, N = 5K:     294 useful windows x 100 = 29.4K, 2 of every 16 rows useful:
#                                             14.7K steps x 16 x 512 = 120M per junk run; no junk 15M,
#                                             random junk x 3 lrs, junk + tag, repetitive = 615M tokens
#   total about 1.8B tokens. At an assumed (not yet measured) T4 rate of about 0.6M tokens/s for GPT2-2-2 and
#   1M tokens/s for GPT2-2-1 (fp16 autocast, 16 x 512 tokens per step) that is 10 + 7.5 + 10 + 10 minutes of
#   training, under an hour with the measurements; benchmarks/gpu_check.py measures the real rate.

SETTINGS = {
    "ci": CapacitySettings(
        law=LawSettings("bioD-ci", people=(40, 120), exposures=40, model=_CI_MODEL, recipe=Recipe(lr=1e-2, batch=4)),
        quantization_bits=(8, 4),
        long=LongSettings("bioD-tiny", people=1500, exposures=1000, model=_CPU_MODEL, recipe=_CPU_RECIPE,
                          shipped="capacity-cpu"),
        mlp=MLPSettings("bioD-ci", people=120, exposures=10, model=_CI_MODEL, recipe=Recipe(lr=1e-2, batch=4),
                        lrs=(1e-2,)),
        junk=JunkSettings("bioD-ci", people=40, exposures=4, model=_CI_MODEL, recipe=Recipe(lr=1e-2, batch=8),
                          useful_share=1 / 8, arms=JUNK_ARMS, repetitive_people=10, random_junk_lrs=(1e-2,)),
    ),
    "cpu": CapacitySettings(
        law=LawSettings("bioD-tiny", people=(300, 500, 1500), exposures=300, model=_CPU_MODEL, recipe=_CPU_RECIPE),
        quantization_bits=(8, 4),
        long=LongSettings("bioD-tiny", people=1500, exposures=1000, model=_CPU_MODEL, recipe=_CPU_RECIPE,
                          shipped="capacity-cpu"),
        mlp=MLPSettings("bioD-tiny", people=1500, exposures=100, model=_CPU_MODEL, recipe=_CPU_RECIPE,
                        lrs=(4e-3, 8e-3)),
        junk=None,  # 8x the useful data's tokens per arm: a gpu experiment
    ),
    "gpu": CapacitySettings(
        # GPT2-2-2 on online bioS: N = 10K under-fills it (R^max ~0.75), N = 40K over-fills it (R^max ~2.9).
        law=LawSettings("bioS", people=(10_000, 40_000), exposures=100, model=_GPU_BIOS_MODEL,
                        recipe=Recipe(lr=1e-3, batch=16)),
        quantization_bits=(8, 4),
        # GPT2-2-1 (about 0.3M counted parameters) on 15K people (0.92M bits): R^max ~3.1 over-fills it; lr and
        # weight decay of the paper's 1,000-exposure runs at N = 10K-20K [P3.3 App. A, Parameter 1].
        long=LongSettings("bioS-compact", people=15_000, exposures=1000, model=_GPU_SMALL_MODEL,
                          recipe=Recipe(lr=1e-3, batch=16, weight_decay=0.02)),
        # GPT2-2-2 sizes on 20K people (R^max ~1.5 for GELU, more than the ~1 bit per parameter of 100 exposures).
        mlp=MLPSettings("bioS-compact", people=20_000, exposures=100, model=_GPU_BIOS_MODEL,
                        recipe=Recipe(lr=1e-3, batch=16), lrs=(5e-4, 1e-3, 2e-3)),
        # Useful people as 1/8 of the rows [P3.3 §10]; GPT2-2-1 on 5K people sits near its 100-exposure capacity
        # (R^max ~1.05), where the paper reads the junk losses; repetitive junk: 200 people.
        junk=JunkSettings("bioS-compact", people=5_000, exposures=100, model=_GPU_SMALL_MODEL,
                          recipe=Recipe(lr=1e-3, batch=16), useful_share=1 / 8, arms=JUNK_ARMS,
                          repetitive_people=200, random_junk_lrs=(5e-4, 1e-3, 2e-3)),
        measure_sample=20_000,
    ),
}


def settings(ctx: RunContext) -> CapacitySettings:
    return ctx.pick(SETTINGS)


def pretrain_settings(ctx: RunContext) -> LongSettings:
    """What ``capacity-pretrain`` trains: the profile's long run (ci: a seconds-long stand-in)."""
    if ctx.profile == "ci":
        return LongSettings("bioD-ci", people=60, exposures=20, model=_CI_MODEL, recipe=Recipe(lr=1e-2, batch=4))
    return settings(ctx).long
