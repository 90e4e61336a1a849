"""Result 2 (and 3) in miniature: reasoning depth on Depo, with and without Canon [P4.1 §5.1, Fig. 7, 8].

Depo asks for the k-th successor of a name on a shuffled cycle, answered at once after ``<ans>``. One
hop (k = 1) is already a two-step look-up for attention: find the edge "q y" whose *first* name is
the query, then read its *second*. With Canon, position y already carries its predecessor q, so one
attention look-up suffices; without it the model must first learn a previous-token head.

The paper's headline is that Canon arms climb the k = 1, 2, 4, ... curriculum far faster [Fig. 8, 19];
in the ``cpu`` profile only the first hop is within reach (Depo-micro: N = 8, K = 4, 2 layers of width
64), in ``gpu`` Depo1-mini (N = 32) adds NoPE and NoPE + Canon, the arm the paper rescues (Result 3).

Accuracy: teacher-forced over the answer tokens of fresh instances at n = N, per k; chance is 1/N for
one-token names (the answer is one of the N names of the instance).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ...data.playground import common as playground
from ...data.playground import depo, metrics
from ..common import RunContext
from . import arms
from .settings import Arm, DepoSettings, settings

EVAL_SEED = 0


def task(s: DepoSettings) -> depo.DepoConfig:
    return depo.PRESETS[s.preset]


def eval_instances(s: DepoSettings) -> list:
    """Instances at n = N, every query's k drawn from 1..K: one pass gives the whole per-k curve."""
    cfg = task(s)
    return depo.eval_set(cfg, s.eval_instances, seed=EVAL_SEED, ks=cfg.hops)


def accuracy_per_k(model, windows: metrics.EvalWindows, ks) -> list[float]:
    scores = metrics.score(windows, metrics.teacher_forced_predictions(model, windows))
    return [scores.by_group[k].token_accuracy if k in scores.by_group else float("nan") for k in ks]


def train_depo_arm(ctx: RunContext, s: DepoSettings, arm: Arm, seed: int, test: Optional[list] = None,
                   experiment: str = "depo", checkpoint_every: Optional[int] = None):
    """Train one arm at one seed; per-k accuracy at n = N every ``eval_every`` steps. Returns (model, result)."""
    cfg = task(s)
    test = test if test is not None else eval_instances(s)
    windows = metrics.pack_for_eval(test, s.sizes.context)
    model = arms.build_model(arm, s.sizes, cfg.layout.vocab_size, seed)
    data = arms.stream(depo.sample_fn(cfg, exclude=playground.fingerprints(test)), s.sizes, s.optimiser, seed)
    history = arms.train_arm(ctx, (experiment, arm.name, f"seed{seed}"), model, data, s.optimiser,
                             eval_fn=lambda m, step: {"per_k": accuracy_per_k(m, windows, cfg.hops)},
                             eval_every=s.eval_every, checkpoint_every=checkpoint_every)
    return model, {"steps": [e["step"] for e in history.evals], "per_k": [e["per_k"] for e in history.evals],
                   "final_loss": history.final_loss, "seconds": round(history.seconds, 1),
                   "parameters": model.param_counts()["total"]}


def run_arm(ctx: RunContext, s: DepoSettings, arm: Arm, seed: int, test: Optional[list] = None,
            experiment: str = "depo") -> dict:
    return train_depo_arm(ctx, s, arm, seed, test, experiment)[1]


def run_depo(ctx: RunContext, s: Optional[DepoSettings] = None, arm_list: Optional[tuple] = None,
             seed_count: Optional[int] = None, experiment: str = "depo") -> dict:
    """Every arm at every seed. Per arm: ``final`` is [seed][k] accuracy, ``curves`` [seed][eval][k]."""
    s = s or settings(ctx).depo
    cfg = task(s)
    test = eval_instances(s)
    result = {"preset": s.preset, "N": cfg.N, "K": cfg.K, "chance": 1.0 / cfg.N, "ks": list(cfg.hops),
              "steps": s.optimiser.steps, "seeds": arms.seeds(ctx, seed_count or s.seeds), "arms": {}}
    for arm in arm_list or s.arms:
        runs = [run_arm(ctx, s, arm, seed, test, experiment) for seed in result["seeds"]]
        result["eval_steps"] = runs[0]["steps"]
        result["arms"][arm.name] = {
            "curves": [r["per_k"] for r in runs],
            "final": [r["per_k"][-1] for r in runs],
            "final_loss": [r["final_loss"] for r in runs],
            "seconds": [r["seconds"] for r in runs],
            "parameters": runs[0]["parameters"],
        }
    return result


def seeds_needed(seeds: int) -> int:
    """Seeds that must agree for a target row: 2 of 3, or all of the seeds run when fewer."""
    return min(seeds, max(1, math.ceil(2 * seeds / 3)))


def per_seed_text(values) -> str:
    return ", ".join(f"{100 * v:.1f}%" for v in values)


def at_k(result: dict, arm: str, k: int) -> list[float]:
    """Final accuracy at hop k, one value per seed."""
    index = result["ks"].index(k)
    return [per_k[index] for per_k in result["arms"][arm]["final"]]


def steps_to_reach(result: dict, arm: str, k: int, level: float = 0.5) -> list[Optional[int]]:
    """Per seed, the first evaluated step at which accuracy at hop k reached ``level`` (None: never)."""
    index = result["ks"].index(k)
    return [next((step for step, per_k in zip(result["eval_steps"], curve) if per_k[index] >= level), None)
            for curve in result["arms"][arm]["curves"]]


def summary_lines(result: dict) -> list[str]:
    lines = [f"{result['preset']} (N={result['N']}, K={result['K']}), {result['steps']} steps, seeds "
             f"{result['seeds']}; final accuracy at n = N per k (chance {100 * result['chance']:.1f}%)"]
    for name, arm in result["arms"].items():
        for seed, per_k in zip(result["seeds"], arm["final"]):
            cells = "  ".join(f"k={k}: {100 * a:5.1f}%" for k, a in zip(result["ks"], per_k))
            lines.append(f"  {name:<14} seed {seed}: {cells}   (loss {arm['final_loss'][result['seeds'].index(seed)]:.3f})")
        lines.append(f"  {'':<14} {np.mean(arm['seconds']):.0f} s per run, {arm['parameters']:,} parameters")
    return lines
