"""A linear-attention model with and without Canon, on the Depo setting [P4.1 §6, Results 6-9, Fig. 12].

Gated linear attention (GLA) replaces softmax attention by a fading matrix memory per head: linear in the
sequence length, no position encoding needed, and in the paper the weakest of the models it compares on
reasoning depth [Fig. 4]. Canon lifts it too: at 12L768D on Depo1 (K = 4, N = 225) from 19% to 50% at k = K
and from 62% to 96% at k = K/2 [Fig. 12]. The paper's GLA + Canon keeps GLA's built-in short convolution
as "Canon-b" and adds residual Canon at A, C, D; the kit's GLA has no built-in convolution, so its
"GLA + Canon-ABCD" arm uses the residual Canon-B on q/k/v in its place.

Both arms run on the Depo experiment's setting (task, sizes, steps, data and evaluation) and at the Depo
run's seeds, so their per-k curves sit beside RoPE's and RoPE + Canon's: the arms differ only in the
architecture switch.
"""
from __future__ import annotations

from typing import Optional

from ..common import RunContext
from . import depo as depo_experiment
from .settings import DepoSettings, LinearSettings, settings


def run_linear(ctx: RunContext, s: Optional[LinearSettings] = None, depo_settings: Optional[DepoSettings] = None) -> dict:
    """The linear-attention arms at ``s.seeds`` seeds on the Depo setting; the result has the Depo run's layout."""
    s = s or settings(ctx).linear
    if s is None:
        raise ValueError(f"profile {ctx.profile!r} runs no linear-attention arms; the gpu profile does")
    return depo_experiment.run_depo(ctx, depo_settings or settings(ctx).depo, arm_list=s.arms, seed_count=s.seeds,
                                    experiment="linear")


summary_lines = depo_experiment.summary_lines  # same layout as the Depo run
