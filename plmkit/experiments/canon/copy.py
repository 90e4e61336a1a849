"""Result 1: copying needs horizontal information flow [P4.1 §4, Fig. 5].

Task: ``<bos>``, a random permutation of 1..N, ``<query>``, the permutation again; loss on the copy.
To copy token i, the model must find where token i-1 sits in the first half and read what follows
it: it needs, at every position, to know its *predecessor*. One attention layer cannot look up "the
token after the one I just wrote" (it would need two hops), unless something has already mixed each
token with its neighbour. Two layers can (a previous-token head, then the look-up); one layer plus
Canon can too, because Canon writes h_{t-1} into position t before attention runs.

Arms at equal steps: one layer, one layer + Canon-ABCD, one layer + constant (frozen random) Canon,
two layers. Accuracy is teacher-forced over the copied tokens of fresh permutations.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ...data.playground import common as playground
from ...data.playground import copy as copy_task
from ...data.playground import metrics
from ..common import RunContext
from . import arms
from .settings import Arm, CopySettings, settings

EVAL_SEED = 0  # one evaluation set for every arm and seed


def task(s: CopySettings) -> copy_task.CopyConfig:
    return copy_task.CopyConfig(s.N)


def eval_instances(s: CopySettings) -> list:
    return copy_task.eval_set(task(s), s.eval_sequences, seed=EVAL_SEED)


def copy_accuracy(model, windows: metrics.EvalWindows) -> float:
    """Share of copied tokens predicted right (teacher-forced; ``<query>`` is never counted)."""
    return metrics.score(windows, metrics.teacher_forced_predictions(model, windows)).token_accuracy


def run_arm(ctx: RunContext, s: CopySettings, arm: Arm, seed: int, test: Optional[list] = None,
            experiment: str = "copy") -> dict:
    """Train one arm at one seed; accuracy on the evaluation set every ``eval_every`` steps."""
    cfg = task(s)
    test = test if test is not None else eval_instances(s)
    windows = metrics.pack_for_eval(test, s.sizes.context)
    model = arms.build_model(arm, s.sizes, cfg.layout.vocab_size, seed)
    data = arms.stream(copy_task.sample_fn(cfg, exclude=playground.fingerprints(test)), s.sizes, s.optimiser, seed,
                       per_call=s.optimiser.batch)
    history = arms.train_arm(ctx, (experiment, arm.name, f"seed{seed}"), model, data, s.optimiser,
                             eval_fn=lambda m, step: {"accuracy": copy_accuracy(m, windows)}, eval_every=s.eval_every)
    return {"steps": [e["step"] for e in history.evals], "accuracy": [e["accuracy"] for e in history.evals],
            "final_loss": history.final_loss, "seconds": round(history.seconds, 1),
            "parameters": model.param_counts()["total"]}


def run_copy(ctx: RunContext, s: Optional[CopySettings] = None, experiment: str = "copy") -> dict:
    """Every arm at every seed; per arm, lists over seeds of the accuracy curve and its last value."""
    s = s or settings(ctx).copy
    test = eval_instances(s)
    result = {"N": s.N, "steps": s.optimiser.steps, "seeds": arms.seeds(ctx, s.seeds), "arms": {}}
    for arm in s.arms:
        runs = [run_arm(ctx, s, arm, seed, test, experiment) for seed in result["seeds"]]
        result["eval_steps"] = runs[0]["steps"]
        result["arms"][arm.name] = {
            "curves": [r["accuracy"] for r in runs],
            "final": [r["accuracy"][-1] for r in runs],
            "final_loss": [r["final_loss"] for r in runs],
            "seconds": [r["seconds"] for r in runs],
            "parameters": runs[0]["parameters"],
        }
    return result


def first_step_at(curve: list[float], steps: list[int], level: float) -> Optional[int]:
    """The first evaluated step at which accuracy reached ``level`` (None if never)."""
    return next((step for step, acc in zip(steps, curve) if acc >= level), None)


def summary_lines(result: dict) -> list[str]:
    """One line per arm: final accuracy per seed and the step at which it first reached 95%."""
    lines = [f"copy N={result['N']}, {result['steps']} steps, seeds {result['seeds']}"]
    for name, arm in result["arms"].items():
        finals = ", ".join(f"{100 * a:.1f}%" for a in arm["final"])
        reached = [first_step_at(c, result["eval_steps"], 0.95) for c in arm["curves"]]
        when = ", ".join("never" if r is None else str(r) for r in reached)
        lines.append(f"  {name:<16} final {finals:<26} first >= 95% at step {when:<20} "
                     f"({arm['parameters']:,} parameters, {np.mean(arm['seconds']):.0f} s per run)")
    return lines
