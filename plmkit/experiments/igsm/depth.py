"""Depth versus width at equal size and equal tokens [P2.1 §6, Fig. 9].

The paper trains GPT2-l-h models of about the same non-embedding size (12 l d^2) on the same data and
finds that depth, not size, drives accuracy on the hardest out-of-distribution problems: GPT2-4-30
(4 layers, 1920 wide) gets 27.3% on hard_pq op 32 while GPT2-20-9 (20 layers, 576 wide) gets 87.4%.
Its explanation: deciding which quantities are needed is a backward walk from the question through the
dependency graph, and deeper layers resolve quantities farther from the question [P2.1 Figs. 10, 14].

Here: each arm of ``DepthSettings.arms`` trains with the same steps, batch and window (equal tokens) and is
scored on the hardest OOD column. It needs the ``gpu`` profile; ``dry_run=True`` runs every arm for one
step at its full size and scores one problem at the top training op and one at the hardest OOD op (the
plumbing test on a CPU).
"""
from __future__ import annotations

import dataclasses

from ..common import RunContext
from ..shared.igsm import EVAL_SEED, ModelSize, accuracy_by_op, law_weighted, make_model, pretrain
from .settings import DepthSettings


def arm_name(size: ModelSize) -> str:
    return f"depth-{size.n_layer}x{size.d_model}"


def run_depth_width(ctx: RunContext, world, s: DepthSettings, dry_run: bool = False, log=print) -> dict:
    """Train every arm on the same tokens; accuracy in distribution and on the hardest OOD op per arm."""
    cfg = world.config
    hardest = max(cfg.ood_ops)
    train = dataclasses.replace(s.train, steps=1, warmup=0, eval_every=0, batch=min(s.train.batch, 2)) if dry_run \
        else s.train
    n = 1 if dry_run else s.eval_problems
    arms = {}
    for size in s.arms:
        settings = dataclasses.replace(train, size=size)
        model = make_model(world, size, settings.context, seed=ctx.seed)
        history = pretrain(ctx, world, model, settings, arm_name(size), log=None)
        ops = (cfg.op_max, hardest) if dry_run else (*cfg.in_distribution_ops, hardest)
        by_op = accuracy_by_op(model, world, ops, n, EVAL_SEED + ctx.seed, settings.layout)
        arms[arm_name(size)] = {
            "size": dataclasses.asdict(size), "label": size.label,
            "non_embedding": model.param_counts()["non_embedding"], "tokens": history.tokens,
            "in_distribution": by_op[cfg.op_max]["accuracy"] if dry_run else law_weighted(by_op, cfg.op_max),
            "hardest_ood": by_op[hardest]["accuracy"],
        }
        if log:
            a = arms[arm_name(size)]
            log(f"{size.label}: {a['non_embedding']:,} non-embedding parameters, {a['tokens']:,} tokens: "
                f"in distribution {a['in_distribution']:.1%}, op {hardest} {a['hardest_ood']:.1%}")
    return {"hardest_op": hardest, "arms": arms, "dry_run": dry_run}


def deepest_beats_widest(result: dict) -> tuple[bool, float]:
    """(the deepest arm beats the shallowest on the hardest OOD column, their difference)."""
    arms = sorted(result["arms"].values(), key=lambda a: a["size"]["n_layer"])
    gap = arms[-1]["hardest_ood"] - arms[0]["hardest_ood"]
    return gap > 0, gap
