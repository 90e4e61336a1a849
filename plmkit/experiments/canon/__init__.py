"""Part 4.1: architecture design and Canon layers (lab 07, ``python -m plmkit reproduce canon``).

The question: which architecture choices make a language model better at *reasoning*, once the noise of
real pretraining is removed? Part 4.1 answers it in a synthetic playground (:mod:`plmkit.data.playground`)
and finds one small component that helps nearly everywhere: the **Canon layer**, a residual, causal,
depthwise convolution over the last 4 tokens ("horizontal information flow").

* :mod:`.mechanics`: its exact properties (causal at every placement, init, KV cache, conv form);
* :mod:`.copy`: Result 1, one attention layer cannot copy but one layer plus Canon can [Fig. 5];
* :mod:`.depo`: Result 2 (and 3 on gpu) in miniature, reasoning depth on Depo [Fig. 7, 8];
* :mod:`.placement`: which of the points A, B, C, D matter, and constant Canon on Mano [Figs. 24, 27, 29];
* :mod:`.linear`: a gated linear attention model with and without Canon, on Depo (gpu) [Results 6-9];
* :mod:`.tasks`: breadth (Brevo1-mini) and structure (Lano, NoPE +- Canon) at small scale (gpu) [Fig. 7, 10];
* :mod:`.pretrain`: the shipped Depo models (3 seeds, NoPE too) and their evaluation (cpu);
* :mod:`.cost`: parameters per placement (formula) and step time per placement (measured here);
* :mod:`.plots`: every figure with the paper's number and its citation beside ours.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ...data.playground import brevo, copy as copy_task, depo as depo_task, mano
from .. import targets
from ..common import RunContext
from . import depo as depo_experiment
from . import placement as placement_experiment
from .arms import build_model, model_config  # noqa: F401
from .copy import run_copy, summary_lines as copy_summary  # noqa: F401
from .cost import canon_parameter_formula, canon_widths, measure_overhead, parameter_table  # noqa: F401
from .depo import per_seed_text, run_depo, seeds_needed, summary_lines as depo_summary  # noqa: F401
from .linear import run_linear  # noqa: F401
from .mechanics import INIT_STD, canon_layers, exact_checks, future_leak  # noqa: F401
from .pretrain import evaluate_shipped, shipped_depo_rows  # noqa: F401
from .placement import mano_summary_lines, placement_accuracy, run_mano, run_placement  # noqa: F401
from .plots import (plot_copy, plot_cost, plot_depo, plot_init, plot_linear, plot_mano, plot_placement,  # noqa: F401
                    reference)
from .settings import SETTINGS, Arm, CanonSettings, settings  # noqa: F401
from .tasks import TASKS, plot_tasks, run_tasks, summary_lines as tasks_summary, task_rows, task_settings  # noqa: F401


def example_instances(seed: int = 0) -> dict[str, str]:
    """One small instance of each playground task, rendered as text (the same on every machine)."""
    rng = np.random.default_rng(seed)
    cases = {
        "Depo (n = 4, k in {1, 2})": (depo_task.PRESETS["depo-micro"],
                                       lambda cfg: depo_task.sample_instance(cfg, rng, n=4, ks=(1, 2))),
        "Brevo (n = 6)": (brevo.BrevoConfig(N=8), lambda cfg: brevo.sample_instance(cfg, rng, n=6)),
        "Mano (l = 3)": (mano.ManoConfig(L=4), lambda cfg: mano.sample_instance(cfg, rng, length=3)),
        "copy (N = 8)": (copy_task.CopyConfig(8), lambda cfg: copy_task.sample_instance(cfg, rng)),
    }
    return {name: cfg.layout.render(draw(cfg).tokens) for name, (cfg, draw) in cases.items()}


# ----------------------------------------------------------------------------------------------
def reproduce(ctx: RunContext, s: CanonSettings | None = None) -> dict:
    """All of Part 4.1 for the profile (or the settings ``s``); figures into ``ctx.run_dir``. Returns the metrics.

    Brevo and Lano (:mod:`.tasks`) run with the profile's own settings only, never beside custom ``s``."""
    tasks_s = task_settings(ctx) if s is None else None
    s = s or settings(ctx)
    ref = reference()
    metrics: dict = {"part": "canon", "profile": ctx.profile, "settings": dataclasses.asdict(s),
                     "exact": exact_checks(ctx.seed),
                     "parameters_12L768D": parameter_table(12, 768, count=False),
                     "overhead": measure_overhead(ctx, s.cost)}
    ctx.save_figure(plot_cost(metrics["parameters_12L768D"], metrics["overhead"], ref), "cost")
    metrics["copy"] = run_copy(ctx, s.copy)
    ctx.save_figure(plot_copy(metrics["copy"], ref), "copy")
    if s.jump is not None:
        metrics["jump"] = run_copy(ctx, s.jump, experiment="jump")
        ctx.save_figure(plot_copy(metrics["jump"], ref, title="Copy at a larger N: the abrupt jump"), "copy_jump")
    metrics["depo"] = run_depo(ctx, s.depo)
    ctx.save_figure(plot_depo(metrics["depo"], ref), "depo")
    if s.shipped_depo is not None:
        metrics["depo_shipped"] = evaluate_shipped(ctx, s.shipped_depo)
        ctx.save_figure(plot_depo(metrics["depo_shipped"], ref), "depo_shipped")
    if s.placement is not None:
        metrics["placement"] = run_placement(ctx, s.placement, s.depo)
        k = metrics["depo"]["K"]
        ctx.save_figure(plot_placement(placement_accuracy(metrics["depo"], metrics["placement"], k), k, ref), "placement")
    if s.mano is not None:
        metrics["mano"] = run_mano(ctx, s.mano)
        ctx.save_figure(plot_mano(metrics["mano"], ref), "mano")
    if s.linear is not None:
        metrics["linear"] = run_linear(ctx, s.linear, s.depo)
        ctx.save_figure(plot_linear(metrics["linear"], metrics["depo"], ref), "linear")
    if tasks_s is not None:  # Brevo and Lano: gpu (and ci, to prove the code runs)
        metrics["tasks"] = run_tasks(ctx, tasks_s)
        ctx.save_figure(plot_tasks(metrics["tasks"], ref), "tasks")
    metrics["targets"] = targets.as_dicts(check_targets(metrics, ctx.profile))
    return metrics


# ----------------------------------------------------------------------------------------------
def exact_rows(exact: dict) -> list[targets.Target]:
    """Properties that hold exactly in every profile (they are measured on the kit's model, not trained)."""
    params = exact["parameters"]
    leaks = exact["future_leak"]
    return [
        targets.at_most("Canon init: worst |std - 0.2887| over kernels", exact["init"]["worst_gap"], 0.02,
                        "default conv init U(-0.5, 0.5) [P4.1 App. C.2]"),
        targets.holds("Canon parameters: formula = count of built models", not params["mismatches_with_built_models"],
                      len(params["mismatches_with_built_models"]), "0 mismatches", "8 placements x 3 sizes, both MLPs"),
        targets.holds("Canon-ABCD parameters at 12L768D", params["formula_12L768D"] == 380_928,
                      params["formula_12L768D"], "= 380928", "0.45% of GPT-2 small [P4.1 fn 11]"),
        targets.at_most("causal at every placement: change at positions <= t", max(leaks.values()), 0.0,
                        "perturb tokens after t: " + ", ".join(leaks)),
        targets.at_least("KV-cache generation = uncached (share of equal tokens)",
                         min(exact["kv_cache_agreement"].values()), 1.0, "greedy, Canon-B and Canon-ABCD"),
        targets.at_most("shift-and-sum = depthwise conv1d (largest difference)", exact["conv_equivalence"], 1e-6,
                        "outputs and gradients, float64"),
    ]


def copy_rows(copy: dict, ceiling: float, floor: float = 0.95) -> list[targets.Target]:
    """The one-layer arm fails (at most ``ceiling``) beside its controls, which reach ``floor``."""
    n, need = len(copy["seeds"]), seeds_needed(len(copy["seeds"]))
    at = f"copy N={copy['N']}, {copy['steps']} steps"
    plain = copy["arms"]["1L"]["final"]
    controls = [name for name in copy["arms"] if name not in ("1L", "1L-16H-128D")]
    rows = [targets.holds(f"{at}: 1 layer at most {100 * ceiling:.0f}%", sum(a <= ceiling for a in plain) >= need,
                          sum(a <= ceiling for a in plain), f">= {need} of {n} seeds",
                          f"per seed {per_seed_text(plain)}; controls (same steps, data, init): " + ", ".join(controls))]
    for name in controls:
        finals = copy["arms"][name]["final"]
        rows.append(targets.holds(f"{at}: {name} at least {100 * floor:.0f}%", sum(a >= floor for a in finals) >= need,
                                  sum(a >= floor for a in finals), f">= {need} of {n} seeds",
                                  f"per seed {per_seed_text(finals)}; control of the 1-layer row"))
    return rows


def depo_cpu_rows(result: dict) -> list[targets.Target]:
    canon, rope = depo_experiment.at_k(result, "RoPE + Canon", 1), depo_experiment.at_k(result, "RoPE", 1)
    wins = sum(c > r for c, r in zip(canon, rope))
    n, need = len(canon), seeds_needed(len(canon))
    return [targets.holds(f"Depo N={result['N']}, k=1, n=N: RoPE + Canon above RoPE", wins >= need, wins,
                          f">= {need} of {n} seeds", f"Canon {per_seed_text(canon)} vs RoPE {per_seed_text(rope)}; "
                          f"chance {100 * result['chance']:.1f}%")]


def depo_gpu_rows(result: dict) -> list[targets.Target]:
    """Anchors 3-5: depth at k = K, the NoPE rescue, the curriculum climb [P4.1 Fig. 7, 8]."""
    K, chance = result["K"], result["chance"]
    canon, rope = depo_experiment.at_k(result, "RoPE + Canon", K), depo_experiment.at_k(result, "RoPE", K)
    nope, nope_canon = depo_experiment.at_k(result, "NoPE", K), depo_experiment.at_k(result, "NoPE + Canon", K)
    n, need = len(canon), seeds_needed(len(canon))
    gaps = [c - r for c, r in zip(canon, rope)]
    never = float("inf")
    climb = [(c if c is not None else never) < (r if r is not None else never)
             for c, r in zip(depo_experiment.steps_to_reach(result, "RoPE + Canon", 2),
                             depo_experiment.steps_to_reach(result, "RoPE", 2))]
    return [
        targets.holds(f"Depo k={K}: RoPE + Canon above RoPE in every seed", all(g > 0 for g in gaps),
                      sum(g > 0 for g in gaps), f"= {n} of {n} seeds", f"Canon {per_seed_text(canon)} vs RoPE {per_seed_text(rope)}"),
        targets.at_least(f"Depo k={K}: median gap Canon - RoPE (points)", 100 * float(np.median(gaps)), 20.0),
        targets.at_most(f"Depo k={K}: NoPE near chance (median minus chance)", float(np.median(nope)) - chance, 0.05,
                        f"per seed {per_seed_text(nope)}; control: the NoPE + Canon row"),
        targets.holds(f"Depo k={K}: NoPE + Canon at least plain RoPE", sum(a >= b for a, b in zip(nope_canon, rope)) >= need,
                      sum(a >= b for a, b in zip(nope_canon, rope)), f">= {need} of {n} seeds",
                      f"NoPE + Canon {per_seed_text(nope_canon)}"),
        targets.holds("Depo k=2: Canon reaches 50% in fewer steps than RoPE", sum(climb) >= need, sum(climb),
                      f">= {need} of {n} seeds", "the curriculum climb [P4.1 Fig. 8]"),
    ]


def placement_rows(depo: dict, placement: dict) -> list[targets.Target]:
    """Anchors 6 and 8, read qualitatively on one seed [P4.1 Figs. 10, 27, 29]."""
    K = depo["K"]
    table = placement_accuracy(depo, placement, K)
    rows = []
    if all(p in table for p in ("none", "B", "AC", "ABCD")):
        rows.append(targets.holds(f"placements at k={K}: none < B < AC <= ABCD", placement_experiment.order_holds(table),
                                  None, "true", ", ".join(f"{p} {100 * v:.0f}%" for p, v in table.items())))
    if "ABCD (no-res)" in table and "ABCD" in table:
        rows.append(targets.holds(f"placements at k={K}: ABCD without residual below ABCD",
                                  table["ABCD (no-res)"] < table["ABCD"], table["ABCD"] - table["ABCD (no-res)"], "> 0"))
    return rows


def mano_rows(result: dict) -> list[targets.Target]:
    """Anchor 7: constant and trained Canon both at least plain RoPE at l = L [P4.1 Fig. 24]."""
    rope = placement_experiment.at_length(result, "RoPE")
    rows = []
    for name in ("RoPE + Canon", "RoPE + cst-Canon"):
        values = placement_experiment.at_length(result, name)
        wins = sum(v >= r for v, r in zip(values, rope))
        rows.append(targets.holds(f"Mano l={result['L']}: {name} at least RoPE", wins == len(rope), wins,
                                  f"= {len(rope)} of {len(rope)} seeds", f"{per_seed_text(values)} vs RoPE {per_seed_text(rope)}"))
    return rows


def check_targets(metrics: dict, profile: str) -> list[targets.Target]:
    """The exact rows in every profile; trained-model rows in ``cpu`` (copy, Depo k = 1) and ``gpu`` (anchors)."""
    rows = exact_rows(metrics["exact"]) if "exact" in metrics else []
    if profile == "ci":
        return rows + [targets.Target("trained-model targets", None, "cpu or gpu profile", None, "ci trains for seconds")]
    if "copy" in metrics:
        rows += copy_rows(metrics["copy"], ceiling=0.15 if profile == "cpu" else 0.05)
    if "depo" in metrics:
        rows += depo_cpu_rows(metrics["depo"]) if profile == "cpu" else depo_gpu_rows(metrics["depo"])
    if "depo_shipped" in metrics:
        rows += shipped_depo_rows(metrics["depo_shipped"])
    if profile == "gpu" and "placement" in metrics and "depo" in metrics:
        rows += placement_rows(metrics["depo"], metrics["placement"])
    if profile == "gpu" and "mano" in metrics:
        rows += mano_rows(metrics["mano"])
    if profile == "gpu" and "tasks" in metrics:
        rows += task_rows(metrics["tasks"])
    return rows
