"""Gated (SwiGLU) against GELU MLP at equal parameters and 100 exposures [P3.3 §7.1, Res. 6-7, Figs. 4-5].

LLaMA and Mistral store about 1.3x fewer bits than GPT-2 after 100 exposures, even with the best of three
learning rates, and the paper traces the gap to one change, the gated MLP; after 1,000 exposures the
architectures store about the same [P3.3 Res. 5-7]. Here the two models differ in the MLP only (the gated one
has 8d/3 hidden units so both hold about 8d^2 MLP weights): same data, exposures, steps, everything else.
Both get the best of the same learning rates (see ``MLPSettings``).
"""
from __future__ import annotations

from typing import Optional

from ..common import RunContext
from .datasets import make_world
from .settings import settings
from .training import run_summary, train_world

MLPS = {"gelu": "GELU", "swiglu": "gated"}


def arm_name(mlp: str, lr: float) -> str:
    return f"{MLPS[mlp]} lr {lr:g}"


def run_mlp(ctx: RunContext, *, steps: Optional[int] = None) -> Optional[dict]:
    """Train each MLP at each learning rate; R of every run, and the ratio of the best gated to the best GELU."""
    s = settings(ctx).mlp
    if s is None:
        return None
    world = make_world(s.data, s.people, seed=ctx.seed)
    arms = {}
    for mlp in MLPS:
        for lr in s.lrs:
            run = train_world(ctx, f"mlp-{mlp}-lr{lr:g}", world, s.model, s.exposures, s.recipe, mlp=mlp, lr=lr,
                              steps=steps)
            arms[arm_name(mlp, lr)] = {**world.measure(run.model), "mlp": mlp, "train": run_summary(run)}
    best = {mlp: max((a for a in arms if arms[a]["mlp"] == mlp), key=lambda a: arms[a]["R"]) for mlp in MLPS}
    return {"people": s.people, "exposures": s.exposures, "arms": arms, "best_gelu": best["gelu"],
            "best_gated": best["swiglu"], "gated_over_gelu": ratio(arms[best["swiglu"]]["R"], arms[best["gelu"]]["R"])}


def ratio(numerator: float, denominator: float) -> Optional[float]:
    """A ratio of capacities; None when the denominator stores nothing (the ratio would mean nothing)."""
    return numerator / denominator if denominator > 0 else None
