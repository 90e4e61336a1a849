"""Which Canon points matter, and do the weights need training? [P4.1 Result 4, Figs. 10, 24, 27, 29]

* **Placement ablation** on the Depo experiment's setting, one seed: Canon at B only (on q/k/v), at A
  and C (before attention and before the MLP, leaving attention itself untouched), ACD, ABC, all four,
  and all four without the residual. The paper: every point helps and the gains stack, A + C already
  get most of it, B alone is the weakest, and dropping the residual can make Canon worse than none.
  The plain and the ABCD arms at the same seed are reused from the Depo run.
* **Constant Canon on Mano** [Fig. 24]: Canon kernels frozen at their random init (cst-Canon) against
  trained ones and none, on modular arithmetic. On Mano the frozen kernels did as well as trained ones
  (even better), so what matters is *that* tokens are mixed with their neighbours, not the learned values.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ...data.playground import common as playground
from ...data.playground import mano, metrics
from ..common import RunContext
from . import arms
from . import depo as depo_experiment
from .settings import ROPE, ROPE_CANON, DepoSettings, ManoSettings, PlacementSettings, settings

EVAL_SEED = 0
REUSED = {"none": ROPE.name, "ABCD": ROPE_CANON.name}  # placement -> the Depo arm with that architecture


def run_placement(ctx: RunContext, s: Optional[PlacementSettings] = None,
                  depo_settings: Optional[DepoSettings] = None) -> dict:
    """The ablation arms at one seed (``ctx.seed``), on the Depo experiment's setting."""
    s = s or settings(ctx).placement
    return depo_experiment.run_depo(ctx, depo_settings or settings(ctx).depo, arm_list=s.arms, seed_count=1,
                                    experiment="placement")


def placement_accuracy(depo_result: dict, placement_result: dict, k: int) -> dict:
    """Accuracy at hop k per placement at the first seed; none and ABCD come from the Depo run."""
    table = {placement: depo_experiment.at_k(depo_result, name, k)[0] for placement, name in REUSED.items()
             if name in depo_result["arms"]}
    for name in placement_result["arms"]:
        table[name.removeprefix("Canon-")] = depo_experiment.at_k(placement_result, name, k)[0]
    return table


def mano_task(s: ManoSettings) -> mano.ManoConfig:
    return mano.ManoConfig(L=s.L)


def mano_eval_instances(s: ManoSettings) -> list:
    """``eval_instances`` expressions of every length l = 1..L (l = 1 is a single table look-up)."""
    cfg = mano_task(s)
    return [inst for length in range(1, s.L + 1) for inst in mano.eval_set(cfg, s.eval_instances, EVAL_SEED + length, length)]


def run_mano(ctx: RunContext, s: Optional[ManoSettings] = None) -> dict:
    """Every Mano arm at every seed; per arm ``final`` is [seed][l] answer accuracy (chance 1/23)."""
    s = s or settings(ctx).mano
    cfg = mano_task(s)
    test = mano_eval_instances(s)
    windows = metrics.pack_for_eval(test, s.sizes.context)
    lengths = list(range(1, s.L + 1))
    # Only l = L is held out of training: short expressions are table look-ups, stored knowledge the model must
    # have seen (there are only 3 x 23 x 23 of length 1); long ones are a fresh composition every time.
    hardest = playground.fingerprints([inst for inst in test if inst.info["ops"] == s.L])
    result = {"L": s.L, "lengths": lengths, "chance": 1.0 / cfg.modulus, "steps": s.optimiser.steps,
              "seeds": arms.seeds(ctx, s.seeds), "arms": {}}
    for arm in s.arms:
        finals, losses = [], []
        for seed in result["seeds"]:
            model = arms.build_model(arm, s.sizes, cfg.layout.vocab_size, seed)
            data = arms.stream(mano.sample_fn(cfg, exclude=hardest), s.sizes, s.optimiser, seed)
            history = arms.train_arm(ctx, ("mano", arm.name, f"seed{seed}"), model, data, s.optimiser)
            scores = metrics.score(windows, metrics.teacher_forced_predictions(model, windows))
            finals.append([scores.by_group[length].token_accuracy for length in lengths])
            losses.append(history.final_loss)
        result["arms"][arm.name] = {"final": finals, "final_loss": losses}
    return result


def at_length(result: dict, arm: str, length: Optional[int] = None) -> list[float]:
    """Per seed, accuracy at l = ``length`` (default L)."""
    index = result["lengths"].index(length or result["L"])
    return [per_l[index] for per_l in result["arms"][arm]["final"]]


def order_holds(values: dict, order=("none", "B", "AC", "ABCD"), slack: float = 0.02) -> bool:
    """none < B < AC <= ABCD up to ``slack`` (the paper's order on Depo, read qualitatively [Fig. 27, 29])."""
    v = [values[name] for name in order]
    return v[0] < v[1] < v[2] and v[2] <= v[3] + slack


def mano_summary_lines(result: dict) -> list[str]:
    lines = [f"Mano L={result['L']}, {result['steps']} steps; accuracy per l (chance {100 * result['chance']:.1f}%)"]
    for name, arm in result["arms"].items():
        for seed, per_l in zip(result["seeds"], arm["final"]):
            lines.append(f"  {name:<18} seed {seed}: " + " ".join(f"{100 * a:4.0f}" for a in per_l)
                         + f"   mean {100 * np.mean(per_l):.1f}%")
    return lines
