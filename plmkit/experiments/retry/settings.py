"""Per-profile settings of Part 2.2 (lab 03) and of the runs that train its shipped checkpoints.

The comparison of training data is only fair at equal training tokens [P2.2 §4]: every arm below uses
the very optimiser, model, steps, batch and window of Part 2.1's shipped error-free ``nano`` model
(:data:`plmkit.experiments.shared.igsm.CHECKPOINT_RECIPE`), so that model is the ``error_free`` arm and only the
data differs. ``ci`` proves the code runs; ``cpu`` analyses shipped checkpoints; ``gpu`` trains on the
mini world in the lab.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

from ..shared.igsm import CHECKPOINT_RECIPE, ModelSize, PretrainSettings
from ..shared.igsm_probes import ProbeSettings


@dataclass(frozen=True)
class DataArm:
    """What one arm trains on: error-free (rate 0) or retry data of one kind at rate r [P2.2 §4, §6]."""

    rate: float = 0.0
    kind: str = "retry"  # retry | retry_weak | retry_miss (plmkit.data.igsm.RETRY_KINDS)
    weak_variant: str = "later"  # retry_weak: W from the steps strictly after the next one [P2.2 eq. (6.1)]
    mask_wrong: bool = False  # hide the wrong parameter's name from the loss [P2.2 §4]

    def data_options(self) -> dict:
        if self.rate == 0:
            return {}
        return {"retry": self.rate, "retry_kind": self.kind, "weak_variant": self.weak_variant,
                "mask_wrong": self.mask_wrong}

    @property
    def label(self) -> str:
        if self.rate == 0:
            return "error-free"
        return f"{self.kind} r={self.rate:g}" + (" (masked)" if self.mask_wrong else "")


# The arms of [P2.2 Figs. 5, 9]: error-free, retry at r = 0.2 (the paper's sweet spot on its hardest
# problems), the masked variant, the cheap retry_weak at r = 0.1, and a cautionary high rate.
ARMS = {
    "error_free": DataArm(),
    "retry": DataArm(rate=0.2),
    "retry_masked": DataArm(rate=0.2, mask_wrong=True),
    "retry_weak": DataArm(rate=0.1, kind="retry_weak"),
    "retry_high": DataArm(rate=0.5),
}


@dataclass(frozen=True)
class RetryPretrain:
    """The checkpoint trainer (``python -m plmkit reproduce retry-pretrain``): one run per arm."""

    train: PretrainSettings
    arms: tuple[str, ...]
    eval_problems: int  # test problems per op column
    group: str
    # The error-free arm already ships with Part 2.1 (same settings): (group, name) to reuse, or None to train it.
    error_free_from: Optional[tuple[str, str]]


PRETRAIN = {
    "ci": RetryPretrain(train=CHECKPOINT_RECIPE["ci"], arms=("retry", "retry_weak"), eval_problems=4,
                        group="retry-ci", error_free_from=None),
    # Equal tokens with Part 2.1's nano model: 11,000 steps x 24 windows x 112 tokens = 29.6M tokens each,
    # 45-70 minutes per arm on one CPU thread. 0.3% of retry-0.2 problems outgrow the window and are
    # redrawn (0.03% of error-free ones), so the arms see nearly the same problem sizes.
    "cpu": RetryPretrain(train=CHECKPOINT_RECIPE["cpu"], arms=("retry", "retry_weak"), eval_problems=300,
                         group="retry-cpu", error_free_from=("igsm-cpu", "nano")),
    # Sized by arithmetic, not yet run on a GPU (benchmarks/gpu_check.py extrapolates it): four arms of
    # 3,000 steps x 128 x 512 tokens (197M tokens each) fit the lab's hour on an A100/H100-class GPU.
    "gpu": RetryPretrain(train=replace(CHECKPOINT_RECIPE["gpu"], steps=3000, eval_every=500),
                         arms=("error_free", "retry", "retry_weak", "retry_high"),
                         eval_problems=512, group="retry-gpu", error_free_from=None),
}

# ----------------------------------------------------------------------------------------------
# Lab 03 (``python -m plmkit reproduce retry``)
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RegretSettings:
    """Retry upon regret [P2.2 §3.2, Fig. 3]: sample a solution (multinomial, beam 1); after each
    "Define <A> as" ask a detector whether A can be computed next; if not, roll back to the end of the
    previous sentence and sample again, at most ``max_retries`` times per solution. Baselines: the same
    sampling without a detector (same random draws: a paired comparison), greedy decoding, beam search."""

    ops: tuple[int, ...]  # the columns (ops where the error-free model is not at 0)
    problems: int  # test problems per op, the same for every decoding method
    max_retries: int = 10  # [P2.2 §3.2]
    temperature: float = 1.0  # multinomial sampling of the model's own distribution
    beam: int = 4  # the beam-search baseline [P2.2 Fig. 3b]


@dataclass(frozen=True)
class FinetuneSettings:
    """Retry data only at fine-tuning time [P2.2 §5]: a LoRA on the error-free model, rank ``rank`` on
    attention q/v and ``embedding_rank`` on the input embedding, trained on r = ``rate`` retry data."""

    steps: int
    batch: int
    lr: float
    rank: int = 8
    embedding_rank: int = 16  # 2 x the q/v rank, as [P2.2 App. D.3]
    weight_decay: float = 0.05  # [P2.2 App. D.3]
    warmup: int = 10
    rate: float = 0.2
    eval_problems: int = 100  # test problems per op


@dataclass(frozen=True)
class RetrySettings:
    world: str
    error_free: Optional[tuple[str, str]]  # (group, name) of the shipped error-free model; None: its arm, live
    arms: tuple[str, ...]  # the pretraining comparison (names of ARMS)
    pretrain: PretrainSettings  # how every arm is (or was) trained: same model, steps, batch, window [P2.2 §4]
    shipped_group: Optional[str]  # where the retry arms ship; None: every arm is trained live
    comparison_problems: int  # test problems per op for arms measured live
    probe: ProbeSettings  # the can_next detector [P2.2 §3.1]: linear head (+ rank-r embedding update) at "as"
    regret: RegretSettings
    finetune: FinetuneSettings
    spot_problems: int = 12  # problems per op decoded live by each shipped retry model, to read its [BACK]s


SETTINGS = {
    # Seconds: Part 2.1's shipped nano model for inference, tiny arms trained live for 12 steps. No claim.
    "ci": RetrySettings(
        world="nano", error_free=("igsm-cpu", "nano"), arms=("error_free", "retry", "retry_weak"),
        pretrain=replace(PRETRAIN["ci"].train, steps=12, eval_every=0), shipped_group=None, comparison_problems=3,
        probe=ProbeSettings(train_problems=12, test_problems=8, items_per_problem=2, steps=1, batch=8, rank=0),
        regret=RegretSettings(ops=(1, 2), problems=3, max_retries=3, beam=2),
        finetune=FinetuneSettings(steps=3, batch=4, lr=1e-3, warmup=1, eval_problems=2), spot_problems=2),
    # Inference on Part 2.1's shipped error-free nano model (detector, retry upon regret, beam search); the
    # pretraining comparison read from the shipped checkpoints, each measured on the same 300 test problems
    # per op when it was made; two short LoRA fine-tunes. Timed on one thread of a busy 2-core machine:
    # the five decoding methods 0.7 s per problem together (300 problems: 3.5 min), each LoRA 1 min, the
    # detector 15 s; about 7 minutes in all, half that on an idle machine.
    "cpu": RetrySettings(
        world="nano", error_free=("igsm-cpu", "nano"), arms=("error_free", "retry", "retry_weak"),
        pretrain=PRETRAIN["cpu"].train, shipped_group=PRETRAIN["cpu"].group, comparison_problems=100,
        # Rank 0: a linear head fitted by logistic regression on the state at "as", computed once. The probe
        # reads the model's own text, with no appended tokens for an embedding update to adapt, at a small
        # fraction of the rank-8 training's cost.
        probe=ProbeSettings(train_problems=300, test_problems=150, items_per_problem=2, steps=1, batch=32, rank=0),
        regret=RegretSettings(ops=(1, 2, 3), problems=100),
        finetune=FinetuneSettings(steps=150, batch=16, lr=2e-3, eval_problems=100)),
    # Every arm trained live on the mini world at equal tokens with the checkpoint recipe, including the
    # masked variant and the cautionary high rate. Not timed yet: measure tokens/s first and trim the steps
    # (the same for every arm) to fit an hour.
    "gpu": RetrySettings(
        world="mini", error_free=None,
        arms=("error_free", "retry", "retry_weak", "retry_high"),  # retry_masked: add it with a second hour
        pretrain=PRETRAIN["gpu"].train, shipped_group=None, comparison_problems=512,
        probe=ProbeSettings(train_problems=2000, test_problems=1000, items_per_problem=4, steps=1500, batch=128),
        regret=RegretSettings(ops=(8, 10, 11), problems=256),
        finetune=FinetuneSettings(steps=2000, batch=64, lr=1e-3, eval_problems=256)),
}

__all__ = ["ARMS", "DataArm", "PRETRAIN", "RetryPretrain", "ModelSize", "FinetuneSettings", "RegretSettings",
           "RetrySettings", "SETTINGS"]
