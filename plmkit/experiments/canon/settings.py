"""What each profile runs in Part 4.1: one frozen dataclass per experiment, gathered per profile.

Every arm of an experiment shares the step count, data stream, evaluation set and learning-rate policy;
arms differ only in the architecture switch (:class:`Arm`). Arms are compared at equal **steps**, the
paper's convention, never at equal seconds: a Canon step costs more than a plain one [P4.1 fn 11].

* ``ci``: seconds; the mechanics of every experiment, no phenomenon.
* ``cpu``: the lab in about ten minutes on one core: the copy experiment (Result 1) with every arm and
  three seeds, and Depo in miniature (Result 2's first hop).
* ``gpu``: about an hour on one GPU: copy in the paper's setting, Depo1-mini with NoPE (Results 2-3),
  Mano-mini with constant Canon (Fig. 24), the placement ablation (Figs. 27, 29) and a linear-attention
  model (GLA) with and without Canon on the same Depo setting (Results 6-9).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

from ..common import RunContext


@dataclass(frozen=True)
class Arm:
    """One architecture of a comparison; ``None`` sizes take the experiment's own."""

    name: str
    n_layer: Optional[int] = None
    canon: str = ""  # subset of "ABCD" [P4.1 §4]
    trainable: bool = True  # False: cst-Canon, frozen at its random init [P4.1 App. C.2]
    residual: bool = True  # Canon(res): h + Canon(h); False is the "no-res" ablation [P4.1 Fig. 10]
    pos: str = "rope"
    n_head: Optional[int] = None
    d_model: Optional[int] = None
    attention: str = "softmax"  # "gla": gated linear attention [P4.1 §6]


PLAIN_1L, CANON_1L = Arm("1L", 1), Arm("1L + Canon", 1, "ABCD")
CONSTANT_1L, TWO_LAYERS = Arm("1L + cst-Canon", 1, "ABCD", trainable=False), Arm("2L", 2)
WIDE_1L = Arm("1L-16H-128D", 1, n_head=16, d_model=128)  # [P4.1 Fig. 5]: one wide layer copies from 5k steps
ROPE, ROPE_CANON = Arm("RoPE"), Arm("RoPE + Canon", canon="ABCD")
NOPE, NOPE_CANON = Arm("NoPE", pos="nope"), Arm("NoPE + Canon", canon="ABCD", pos="nope")
ROPE_CST = Arm("RoPE + cst-Canon", canon="ABCD", trainable=False)
PLACEMENTS = {name: Arm(f"Canon-{name}" if name != "none" else "none", canon=name if name != "none" else "")
              for name in ("none", "B", "AC", "ACD", "ABC", "ABCD")}
NO_RESIDUAL = Arm("Canon-ABCD (no-res)", canon="ABCD", residual=False)
# GLA without a short convolution of its own (the paper's plain GLA); with Canon, B is the residual Canon on its
# q/k/v where GLA's optional conv would sit. No position encoding: the decaying memory orders tokens [P4.1 §6].
GLA = Arm("GLA", pos="nope", attention="gla")
GLA_CANON = Arm("GLA + Canon-ABCD", canon="ABCD", pos="nope", attention="gla")


@dataclass(frozen=True)
class ModelSizes:
    n_layer: int
    n_head: int
    d_model: int
    context: int


@dataclass(frozen=True)
class Optimiser:
    """One learning-rate policy shared by all arms of an experiment [P4.1 App. A]."""

    steps: int
    batch: int
    lr: float
    warmup: int
    schedule: str  # "constant" or "cosine"
    weight_decay: float
    min_lr_ratio: float = 0.1  # cosine decays to 10% [P4.1 App. A.1]


@dataclass(frozen=True)
class CopySettings:
    """Full copy, Result 1 [P4.1 §4, Fig. 5]: a permutation of 1..N, then ``<query>``, then it again."""

    N: int
    sizes: ModelSizes  # 1 layer, 2 heads, width 16 unless an arm says otherwise
    optimiser: Optimiser
    arms: tuple[Arm, ...]
    seeds: int
    eval_every: int
    eval_sequences: int


@dataclass(frozen=True)
class DepoSettings:
    """Depo, k hops on a cycle [P4.1 §2.1]; ``preset`` names a :data:`plmkit.data.playground.depo.PRESETS` row."""

    preset: str
    sizes: ModelSizes
    optimiser: Optimiser
    arms: tuple[Arm, ...]
    seeds: int
    eval_every: int
    eval_instances: int  # at n = N, every k in 1..K


@dataclass(frozen=True)
class ManoSettings:
    """Mano-mini with constant Canon [P4.1 Fig. 24]; loss on every token."""

    L: int
    sizes: ModelSizes
    optimiser: Optimiser
    arms: tuple[Arm, ...]
    seeds: int
    eval_instances: int  # per length l = 1..L


@dataclass(frozen=True)
class PlacementSettings:
    """Which Canon points matter [P4.1 Figs. 27, 29]: arms on the Depo experiment's setting, one seed."""

    arms: tuple[Arm, ...]


@dataclass(frozen=True)
class LinearSettings:
    """A linear-attention model with and without Canon [P4.1 Results 6-9, Fig. 12]: arms on the Depo setting."""

    arms: tuple[Arm, ...]
    seeds: int


@dataclass(frozen=True)
class CostSettings:
    """Step time per placement, measured on the device in use [P4.1 fn 11]."""

    sizes: ModelSizes
    batch: int
    placements: tuple[str, ...]
    repeats: int  # interleaved rounds: each times every placement once


@dataclass(frozen=True)
class CanonSettings:
    copy: CopySettings
    depo: DepoSettings
    cost: CostSettings
    jump: Optional[CopySettings] = None  # copy at a larger N: the abrupt jump [P4.1 Fig. 5, 18]
    placement: Optional[PlacementSettings] = None
    mano: Optional[ManoSettings] = None
    linear: Optional[LinearSettings] = None  # GLA +- Canon on the Depo setting
    shipped_depo: Optional[str] = None  # a group of shipped Depo checkpoints (``canon-pretrain``) the lab evaluates


COPY_ARMS = (PLAIN_1L, CANON_1L, CONSTANT_1L, TWO_LAYERS)
COST_PLACEMENTS = ("", "A", "B", "C", "D", "AC", "ABCD")

# Copy: batch 32, lr 5e-3 after 100 warm-up steps, weight decay 0.03 (the paper's copy recipe [P4.1 App. B];
# constant after warm-up on cpu, cosine to 10% at the paper's scale).
_COPY_CPU = Optimiser(steps=600, batch=32, lr=5e-3, warmup=100, schedule="constant", weight_decay=0.03)
_COPY_GPU = Optimiser(steps=3000, batch=32, lr=5e-3, warmup=100, schedule="cosine", weight_decay=0.03)
_DEPO_CPU = Optimiser(steps=1600, batch=32, lr=3e-3, warmup=80, schedule="cosine", weight_decay=0.03)
# gpu step counts are first guesses, to calibrate on the first GPU run (raise the Depo count until RoPE + Canon
# passes 80% at k = K/2 in 2 of 3 seeds, then freeze it for every arm); the paper trains ~100k steps at batch 128.
_DEPO_GPU = Optimiser(steps=2000, batch=64, lr=1e-3, warmup=100, schedule="cosine", weight_decay=0.03)

SETTINGS = {
    "ci": CanonSettings(
        copy=CopySettings(N=8, sizes=ModelSizes(1, 2, 16, 18), seeds=1, eval_every=10, eval_sequences=16,
                          optimiser=Optimiser(20, 8, 5e-3, 2, "constant", 0.03), arms=COPY_ARMS),
        depo=DepoSettings("depo-micro", ModelSizes(2, 2, 32, 64), Optimiser(20, 8, 3e-3, 2, "cosine", 0.03),
                          arms=(ROPE, ROPE_CANON, NOPE, NOPE_CANON), seeds=2, eval_every=10, eval_instances=16),
        cost=CostSettings(ModelSizes(2, 2, 32, 64), batch=4, placements=("", "AC", "ABCD"), repeats=2),
        jump=CopySettings(N=12, sizes=ModelSizes(1, 2, 16, 26), seeds=1, eval_every=10, eval_sequences=8,
                          optimiser=Optimiser(10, 8, 5e-3, 2, "constant", 0.03), arms=(PLAIN_1L, CANON_1L)),
        placement=PlacementSettings(arms=(PLACEMENTS["B"], PLACEMENTS["AC"], NO_RESIDUAL)),
        mano=ManoSettings(L=3, sizes=ModelSizes(2, 2, 32, 64), optimiser=Optimiser(10, 8, 3e-3, 2, "cosine", 0.1),
                          arms=(ROPE, ROPE_CANON, ROPE_CST), seeds=1, eval_instances=8),
        shipped_depo="canon-cpu",  # evaluating the shipped models takes seconds: ci exercises the lab's path
    ),
    "cpu": CanonSettings(
        copy=CopySettings(N=64, sizes=ModelSizes(1, 2, 16, 130), optimiser=_COPY_CPU, arms=COPY_ARMS, seeds=3,
                          eval_every=50, eval_sequences=64),
        depo=DepoSettings("depo-micro", ModelSizes(2, 4, 64, 128), _DEPO_CPU, arms=(ROPE, ROPE_CANON), seeds=1,
                          eval_every=200, eval_instances=256),
        cost=CostSettings(ModelSizes(4, 4, 64, 128), batch=32, placements=COST_PLACEMENTS, repeats=12),
        shipped_depo="canon-cpu",
    ),
    "gpu": CanonSettings(
        copy=CopySettings(N=500, sizes=ModelSizes(1, 2, 16, 1002), optimiser=_COPY_GPU, seeds=3, eval_every=250,
                          eval_sequences=64, arms=COPY_ARMS + (WIDE_1L,)),
        depo=DepoSettings("depo1-mini", ModelSizes(4, 4, 256, 512), _DEPO_GPU, arms=(ROPE, ROPE_CANON, NOPE, NOPE_CANON),
                          seeds=3, eval_every=250, eval_instances=256),
        cost=CostSettings(ModelSizes(4, 4, 256, 512), batch=64, placements=COST_PLACEMENTS, repeats=10),
        jump=CopySettings(N=200, sizes=ModelSizes(1, 2, 16, 402), optimiser=replace(_COPY_CPU, steps=2000),
                          arms=(PLAIN_1L, CANON_1L), seeds=1, eval_every=125, eval_sequences=64),
        placement=PlacementSettings(arms=(PLACEMENTS["B"], PLACEMENTS["AC"], PLACEMENTS["ACD"], PLACEMENTS["ABC"],
                                          NO_RESIDUAL)),
        mano=ManoSettings(L=8, sizes=ModelSizes(4, 4, 256, 256), seeds=2, eval_instances=256,
                          optimiser=Optimiser(2000, 128, 1e-3, 100, "cosine", 0.1), arms=(ROPE, ROPE_CANON, ROPE_CST)),
        linear=LinearSettings(arms=(GLA, GLA_CANON), seeds=3),
    ),
}


# The shipped Depo checkpoints (``python -m plmkit reproduce canon-pretrain``): the cpu lab's Depo cell with
# RoPE, NoPE and both with Canon-ABCD (Results 2-3), three seeds, trained 2.5x longer than the lab can (about
# 70 minutes on one CPU core), checkpoints every 500 steps so a killed run resumes. Same optimiser policy as
# the lab's run, stretched to the new length.
PRETRAIN = {
    "ci": DepoSettings("depo-micro", ModelSizes(2, 2, 32, 64), Optimiser(12, 8, 3e-3, 2, "cosine", 0.03),
                       arms=(ROPE, ROPE_CANON), seeds=2, eval_every=6, eval_instances=16),
    "cpu": DepoSettings("depo-micro", ModelSizes(2, 4, 64, 128), replace(_DEPO_CPU, steps=4000, warmup=200),
                        arms=(ROPE, ROPE_CANON, NOPE, NOPE_CANON), seeds=3, eval_every=250, eval_instances=256),
    # Nothing ships for gpu (its lab trains Depo1-mini live, 3 seeds); this trains that cell 4x longer.
    "gpu": DepoSettings("depo1-mini", ModelSizes(4, 4, 256, 512), replace(_DEPO_GPU, steps=8000), arms=(ROPE, ROPE_CANON),
                        seeds=3, eval_every=500, eval_instances=256),
}
SHIPPED_GROUP = "canon-{profile}"


def settings(ctx: RunContext) -> CanonSettings:
    return ctx.pick(SETTINGS)
