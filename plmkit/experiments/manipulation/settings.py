"""What each profile runs in Part 3.2, built from the family's sizes (:data:`..shared.bios.BIO_SIZES`).

Pretraining and the task LoRA use ``sizes``: the family's, with a context that fits two ``reverse6``
entries (about 54 tokens) and the task LoRA's own fine-tuning choices. The inverse-search LoRA uses
``inverse``: the task LoRA's sizes with the paper's embedding rank 128 for it [3.2 App. D]. The measurements
behind the cpu choices: docs/notes/part3_tuning.md.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..common import RunContext
from ..shared.bios import BIO_SIZES, BioSizes

TASKS = ("month_mod2", "month_mod12", "major_mod5", "month_rank", "birth_year")
GPU_TASKS = ("month_mod2", "month_mod6", "month_mod12", "major_mod5", "major_mod20", "major_mod100", "month_rank",
             "month_sub", "birth_year", "birth_day")


@dataclass(frozen=True)
class ManipulationSettings:
    sizes: BioSizes  # pretraining and the task LoRAs
    inverse: BioSizes  # the inverse-search LoRAs
    n_forward: int  # F: multi5+permute people, every task is asked about them
    n_reverse: int  # R: multi5+permute+reverse6 people, the inverse-search control
    exposures: int
    train_pairs: int  # training examples per task (pairs for comparisons, person draws otherwise)
    test_pairs: int  # test pairs per comparison task
    extraction_copies: int  # copies of F_train's six extraction questions in every task mix
    tasks: tuple


def _settings(base: BioSizes, *, inverse_steps: int, inverse_lr: float, inverse_emb_rank: int,
              **task_sizes) -> tuple[BioSizes, BioSizes]:
    sizes = replace(base, **task_sizes)
    return sizes, replace(sizes, ft_steps=inverse_steps, ft_lr=inverse_lr, lora_emb_rank=inverse_emb_rank)


_CI = _settings(BIO_SIZES["ci"], context=64, ft_context=64, ft_batch=16, ft_steps=60, lora_rank=4, lora_emb_rank=16,
                inverse_steps=60, inverse_lr=3e-3, inverse_emb_rank=16)
_CPU = _settings(BIO_SIZES["cpu"], context=128, ft_context=96, ft_batch=16, ft_steps=800, ft_lr=3e-3, lora_rank=16,
                 lora_emb_rank=64, inverse_steps=1000, inverse_lr=1e-3, inverse_emb_rank=128)
_GPU = _settings(BIO_SIZES["gpu"], context=512, ft_context=128, ft_batch=48, ft_steps=5000, lora_rank=16,
                 lora_emb_rank=128, inverse_steps=5000, inverse_lr=1e-3, inverse_emb_rank=128)

SETTINGS = {
    "ci": ManipulationSettings(*_CI, n_forward=40, n_reverse=40, exposures=30, train_pairs=200, test_pairs=100,
                               extraction_copies=2, tasks=TASKS),
    "cpu": ManipulationSettings(*_CPU, n_forward=600, n_reverse=150, exposures=150, train_pairs=2000,
                                test_pairs=1000, extraction_copies=2, tasks=TASKS),
    "gpu": ManipulationSettings(*_GPU, n_forward=2000, n_reverse=1000, exposures=300, train_pairs=20000,
                                test_pairs=2000, extraction_copies=2, tasks=GPU_TASKS),
}


def settings(ctx: RunContext) -> ManipulationSettings:
    return ctx.pick(SETTINGS)
