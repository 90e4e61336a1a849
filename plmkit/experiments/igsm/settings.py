"""Per-profile settings of Part 2.1 (lab 02) and of the run that trains its shipped checkpoint.

``ci`` proves the code runs (seconds, no claim); ``cpu`` is lab 02 on a laptop: the live parts on the
nano world and the analysis on the shipped nano checkpoint; ``gpu`` trains and analyses its own
models on the mini world (about an hour on one GPU).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

from ..shared.igsm import CHECKPOINT_RECIPE, ModelSize, PretrainSettings
from ..shared.igsm_probes import ProbeSettings


@dataclass(frozen=True)
class PretrainRun:
    """The checkpoint trainer (``python -m plmkit reproduce igsm-pretrain``): training, then the
    evaluation recorded in the sidecar, then the export under ``<out>/export/<group>/<name>``."""

    train: PretrainSettings
    eval_problems: int  # test problems per op column (and for reask)
    group: str
    name: str


# Per profile, the checkpoints ``igsm-pretrain`` can train; the first is the default, the others are picked with
# PLMKIT_IGSM_CHECKPOINT=<name>. On cpu, ``nano`` is the recipe Part 2.2's retry arms share (equal tokens: it is
# their error-free arm; about 80 minutes on one core). ``nano-xl``, lab 02's analysis checkpoint, is the same
# model and optimiser on 4x the batch for 30,000 steps (2.9M problems, 11x nano): minutes on a GPU, where worker
# processes draw the batches ahead, most of a day on one CPU core. Fewer, smaller batches stall: the same recipe
# at batch 24 for 20,000 steps still failed most two-operation problems, mostly by reusing a letter it had already
# defined (a used letter costs only ln(52/51) nats when the letter is random [P2.1 §2.2], a weak signal that
# more problems per step sharpen).
PRETRAIN_RUNS = {
    "ci": (PretrainRun(CHECKPOINT_RECIPE["ci"], eval_problems=4, group="igsm-ci", name="nano"),),
    "cpu": (PretrainRun(CHECKPOINT_RECIPE["cpu"], eval_problems=300, group="igsm-cpu", name="nano"),
            PretrainRun(replace(CHECKPOINT_RECIPE["cpu"], batch=96, steps=30000, checkpoint_every=1000,
                                eval_every=3000), eval_problems=300, group="igsm-cpu", name="nano-xl")),
    "gpu": (PretrainRun(CHECKPOINT_RECIPE["gpu"], eval_problems=512, group="igsm-gpu", name="mini"),),
}
PRETRAIN = {profile: runs[0] for profile, runs in PRETRAIN_RUNS.items()}
CHECKPOINT_VARIABLE = "PLMKIT_IGSM_CHECKPOINT"


@dataclass(frozen=True)
class DepthSettings:
    """Depth vs width [P2.1 §6]: arms of equal non-embedding size trained on the same tokens."""

    arms: tuple[ModelSize, ...]
    train: PretrainSettings  # its ``size`` is replaced by each arm's
    eval_problems: int


@dataclass(frozen=True)
class IGSMSettings:
    world: str
    toy: PretrainSettings  # the live training run of the lab
    shipped: Optional[tuple[str, str]]  # (group, name) of the checkpoint the analysis uses; None: the live model
    eval_problems: int  # test problems per op column
    probes: ProbeSettings
    depth: Optional[DepthSettings]  # None: not run in this profile
    toy_eval_problems: int = 40  # test problems per op for the live run's accuracy (full and answer-only)
    examples: int = 5  # problems rendered at the start


SETTINGS = {
    "ci": IGSMSettings(
        world="nano",
        toy=PretrainSettings(world="nano", size=ModelSize(2, 2, 32), context=256, batch=8, steps=40, lr=3e-3, warmup=5,
                             window=112, one_per_row=True, eval_every=20, curve_problems=2),
        shipped=("igsm-cpu", "nano-xl"), eval_problems=4,
        probes=ProbeSettings(train_problems=16, test_problems=8, items_per_problem=3, steps=4, batch=8),
        depth=DepthSettings(arms=(ModelSize(1, 2, 64), ModelSize(4, 2, 32)),
                            train=PretrainSettings(world="nano", size=ModelSize(1, 2, 64), context=256, batch=2,
                                                   steps=3, lr=3e-3, warmup=1),
                            eval_problems=2),
        toy_eval_problems=3,
    ),
    # The live part: the pilot recipe of a 4-layer d=64 model for a few minutes, enough to learn the format
    # and some one-operation problems; the analysis runs on the shipped checkpoint.
    "cpu": IGSMSettings(
        world="nano",
        toy=PretrainSettings(world="nano", size=ModelSize(4, 4, 64), context=256, batch=16, steps=1300, lr=1e-2,
                             warmup=100, window=112, one_per_row=True, eval_every=325, curve_problems=10),
        shipped=("igsm-cpu", "nano-xl"), eval_problems=100,
        # A few hundred problems and 100 steps at a higher learning rate than the paper's 100,000 steps at 0.002.
        probes=ProbeSettings(train_problems=400, test_problems=200, items_per_problem=3, steps=100, batch=32, lr=1e-2),
        depth=None,
    ),
    # The mini world, trained and analysed in the lab (about an hour on one GPU).
    "gpu": IGSMSettings(
        world="mini",
        toy=PretrainSettings(world="mini", size=ModelSize(6, 6, 384), context=512, batch=128, steps=6000, lr=2e-3,
                             warmup=500, loss="all", checkpoint_every=500, eval_every=1000, curve_problems=64),
        shipped=None, eval_problems=512, toy_eval_problems=256,
        probes=ProbeSettings(train_problems=2000, test_problems=1000, items_per_problem=10, steps=1500, batch=128),
        # 12 l d^2 = 6.3 M for both: 2 layers x 512 against 8 layers x 256 [P2.1 §6].
        depth=DepthSettings(arms=(ModelSize(2, 8, 512), ModelSize(8, 4, 256)),
                            train=PretrainSettings(world="mini", size=ModelSize(2, 8, 512), context=512, batch=64,
                                                   steps=3000, lr=2e-3, warmup=300, loss="all", checkpoint_every=500),
                            eval_problems=512),
    ),
}
