"""Part 2.2: learning from mistakes on grade-school math (iGSM retry data).

Ye, Xu, Li and Allen-Zhu (arXiv 2408.16293) ask whether a language model that makes reasoning mistakes
can learn to correct them:

1. Mistakes are easy to detect: a probe on the error-free model's state after "Define A as" tells
   whether A can be computed next [P2.2 §3.1, Result 0].
2. Using that to retry at inference time helps little, unless the detector is perfect; beam search
   adds nothing [P2.2 §3.2, Result 1, Fig. 3].
3. Pretraining on "retry" data (a wrong step, ``[BACK]``, then the right one) beats error-free data at
   equal tokens, most on the hardest problems, the model rarely retries, and the wrong steps need no
   masking [P2.2 §4, Results 2-6, Figs. 4-6].
4. The same data only at fine-tuning time (LoRA) does not buy the gain [P2.2 §5, Result 7, Fig. 7].
5. Cheap fake mistakes (retry_weak) recover most of it at r <= 0.2 [P2.2 §6, Result 8, Fig. 8].

The lab's steps, in order: :func:`retry_examples`, :func:`error_free_model`, :func:`detect`,
:func:`retry_upon_regret`, :func:`own_mistakes`, :func:`compare_arms`, :func:`equal_tokens`, :func:`spot`,
:func:`lora_on_retry_data`; :func:`reproduce` runs them all headless and :func:`check_targets` judges the numbers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ...data import igsm
from ...data.igsm import World
from ...results import load_reference
from .. import targets
from ..common import RunContext
from ..shared.igsm import load_checkpoint, load_world
from . import plots
from .comparison import gains, live_arms, shipped_arms, spot_check, training_data
from .detection import DetectionRun, on_own_steps, train_detector
from .finetune import compare_finetune, lora_finetune
from .regret import run_regret
from .settings import ARMS, SETTINGS, RetrySettings

EXAMPLE_SEED = 11
DETECTOR_GAP = 0.20  # trained minus random-init (the bar of lab 02's probes)
REGRET_GAIN = 0.05  # "a clear gain": at least 5 points and beyond two standard errors
RETRIES_BOUND = 0.3  # retries per correct solution at r = 0.2 [P2.2 Fig. 5a: <= 0.26]
MIN_MISTAKES = 10  # fewer own first wrong steps than this: too few to judge
SCALE = ("the paper's gains are at op 23 (med) and 32 (hard), 8-11 ops beyond training, with GPT2-12-12 "
         "(85M non-embedding parameters) trained on tens of billions of tokens; the nano arms have 1.2M "
         "parameters and 30M tokens, and a gain needs arms that are well above 0% at the op compared")


def settings(ctx: RunContext) -> RetrySettings:
    return ctx.pick(SETTINGS)


def make_world(ctx: RunContext) -> World:
    return load_world(settings(ctx).world)


def reference() -> dict:
    return load_reference("retry")


# ----------------------------------------------------------------------------------------------
# 1. Retry data
# ----------------------------------------------------------------------------------------------
def example_problem(world: World, op: int = 3, seed: int = EXAMPLE_SEED) -> igsm.Problem:
    return igsm.sample_problem(world, np.random.default_rng(seed), op=op)


def retry_examples(world: World, op: int = 3, seed: int = EXAMPLE_SEED) -> dict:
    """One problem's solution as error-free, retry, retry_weak and retry_miss data (rate 0.5 so that a
    short solution shows a few mistakes), and which tokens the label mask hides."""
    problem = example_problem(world, op, seed)
    out = {"problem": problem, "error_free": problem.solution_text}
    for kind in igsm.RETRY_KINDS:
        r = igsm.retry_solution(problem, np.random.default_rng(seed), rate=0.5, kind=kind, mask_wrong=True)
        out[kind] = r
    return out


# ----------------------------------------------------------------------------------------------
# 2. The error-free model, the detector, retry upon regret
# ----------------------------------------------------------------------------------------------
def error_free_model(ctx: RunContext, world: World, live_models: Optional[dict] = None):
    """(model, source): Part 2.1's shipped error-free ``nano`` model (``cpu``, ``ci``), or the error-free arm
    trained in this run (``gpu``)."""
    s = settings(ctx)
    if s.error_free is None:
        if not live_models or "error_free" not in live_models:
            raise ValueError("this profile trains the error-free arm in the lab: run compare_arms first")
        return live_models["error_free"], "error-free arm trained in this run"
    model, sidecar = load_checkpoint(*s.error_free, device=ctx.device)
    if model is None:
        raise FileNotFoundError(f"{sidecar['missing']}: Part 2.1's error-free nano checkpoint ships with plmkit; train it with "
                                "`python -m plmkit reproduce igsm-pretrain --profile cpu` if it was removed")
    return model, f"shipped {'/'.join(s.error_free)}"


def detect(ctx: RunContext, model, world: World) -> DetectionRun:
    """The can_next detector at "as" on ``model`` against the random-init control."""
    return train_detector(ctx, model, world, settings(ctx).probe, settings(ctx).pretrain.layout)


def retry_upon_regret(ctx: RunContext, model, world: World, probe=None):
    """Greedy, beam search, sampling, and sampling with retry upon regret (perfect and probe detector)."""
    return run_regret(ctx, model, world, settings(ctx).regret, probe, settings(ctx).pretrain.layout)


def own_mistakes(ctx: RunContext, detection: DetectionRun, columns: dict, model) -> dict:
    """The detector at the model's own steps of its plain sampled solutions."""
    return on_own_steps(detection.probe, columns["sample"], settings(ctx).pretrain.layout, model.config.context)


# ----------------------------------------------------------------------------------------------
# 3. Pretraining on retry data
# ----------------------------------------------------------------------------------------------
def compare_arms(ctx: RunContext, world: World, folder: Optional[Path] = None, log=print):
    """(rows, models, gains over error-free): the shipped arms (``cpu``) or arms trained here."""
    s = settings(ctx)
    if s.shipped_group is not None:
        rows, models = shipped_arms(ctx, world, s, folder, log)
    else:
        rows, models = live_arms(ctx, world, s, log)
    return rows, models, gains(rows, world)


def equal_tokens(ctx: RunContext, world: World) -> dict:
    return training_data(world, settings(ctx))


def spot(ctx: RunContext, models: dict, world: World) -> dict:
    return spot_check(ctx, models, world, settings(ctx), settings(ctx).pretrain.layout)


# ----------------------------------------------------------------------------------------------
# 4. Retry data only at fine-tuning time
# ----------------------------------------------------------------------------------------------
def lora_on_retry_data(ctx: RunContext, model, world: World, greedy_columns: Optional[dict] = None,
                       log=print) -> dict:
    """The error-free model, its LoRA on retry data and the same LoRA on error-free data (the control)."""
    s = settings(ctx)
    retry_lora, history = lora_finetune(ctx, model, world, s, s.finetune.rate, log)
    control, _ = lora_finetune(ctx, model, world, s, 0.0, log)
    models = {"error_free": model, "lora_retry": retry_lora, "lora_error_free": control}
    return compare_finetune(ctx, models, world, s, history, greedy_columns)


# ----------------------------------------------------------------------------------------------
def reproduce(ctx: RunContext) -> dict:
    ref = reference()
    world = make_world(ctx)
    data = retry_examples(world)
    rows, models, arm_gains = compare_arms(ctx, world)
    model, source = error_free_model(ctx, world, models)
    note = f"Error-free model: {source}."
    detection = detect(ctx, model, world)
    regret_report, columns = retry_upon_regret(ctx, model, world, detection.probe)
    own = own_mistakes(ctx, detection, columns, model)
    ctx.save_figure(plots.detection_figure(detection.report, own, ref, note), "detection")
    ctx.save_figure(plots.regret_figure(regret_report, ref, note), "retry_upon_regret")
    ctx.save_figure(plots.comparison_figure(rows, ref, world.config.op_max), "pretraining_by_op")
    ctx.save_figure(plots.retries_figure(rows, ref), "retries_per_correct")
    tuned = lora_on_retry_data(ctx, model, world, columns.get("greedy"))
    ctx.save_figure(plots.finetune_figure(tuned, rows, ref, note), "finetune")
    metrics = {
        "part": "retry", "profile": ctx.profile, "world": world.name, "error_free_model": source,
        "examples": {k: (v if isinstance(v, str) else " ".join(v.tokens)) for k, v in data.items() if k != "problem"},
        "detection": detection.report, "own_steps": own, "regret": regret_report,
        "arms": rows, "gains": arm_gains, "equal_tokens": equal_tokens(ctx, world), "spot_check": spot(ctx, models, world),
        "finetune": tuned, "op_max": world.config.op_max, "first_ood": world.config.ood_ops[0],
    }
    metrics["targets"] = targets.as_dicts(check_targets(metrics, ctx.profile))
    return metrics


def check_targets(metrics: dict, profile: str) -> list[targets.Target]:
    """The claims of lab 03 (the ``ci`` run only shows the code runs). Rows whose checkpoints are missing
    are "not measured" and say what is missing."""
    if profile == "ci":
        return [targets.Target("retry targets", None, "cpu or gpu profile", None, "ci runs for seconds")]
    d = metrics["detection"]
    rows = [targets.at_least("can_next detector at 'as': trained minus random-init", d["gap"], DETECTOR_GAP,
                             f"trained {d['trained']['accuracy']:.1%}, control {d['random_init']['accuracy']:.1%}, "
                             f"majority {d['majority']:.1%}; [P2.2 §3.1]: about 99%"),
            _own_row(metrics["own_steps"]), _regret_row(metrics["regret"])]
    rows += _pretraining_rows(metrics)
    rows.append(_finetune_row(metrics["finetune"]))
    return rows


def _own_row(own: dict) -> targets.Target:
    name = "detector says 'not ready' more often at own first wrong steps than at own right steps"
    if own["mistakes"] < MIN_MISTAKES:
        return targets.Target(name, None, f">= {MIN_MISTAKES} own mistakes", None,
                              f"only {own['mistakes']} not-ready first mistakes: too few to judge")
    flagged_right = 1 - own["ready_passed"]
    return targets.holds(name, own["detected"] > flagged_right, own["detected"], f"> {flagged_right:.3f}",
                         f"{own['mistakes']} mistakes, {own['ready_steps']} right steps; [P2.2 §3.1]: about 60% at "
                         "the first wrong step")


def _regret_row(report: dict) -> targets.Target:
    m = report["methods"].get("regret_oracle", {})
    gain, se = m.get("gain"), m.get("gain_se")
    name = "retry upon regret (perfect detector): gain over the same sampling without it"
    if gain is None:
        return targets.Target(name, None, f">= {REGRET_GAIN:g} and > 2 SE", None, "not run")
    clear = gain >= REGRET_GAIN and gain > 2 * se
    return targets.holds(name, clear, gain, f">= {REGRET_GAIN:g} and > 2 SE (= {2 * se:.3f})",
                         f"ops {report['ops']}, {report['problems_per_op']} problems each, paired; "
                         f"[P2.2 Fig. 3b]: vP +7.3 on med_pq op 23")


def _pretraining_rows(metrics: dict) -> list[targets.Target]:
    arms, arm_gains = metrics["arms"], metrics["gains"]
    out = []
    for op, where in ((metrics["op_max"], "the hardest training op"), (metrics["first_ood"], "the first OOD op")):
        name = f"retry r=0.2 beats error-free at op {op} ({where}), equal tokens"
        missing = [a for a in ("error_free", "retry") if a not in arms or "missing" in arms[a]]
        if missing:
            why = "; ".join(arms[a]["missing"] for a in missing if a in arms) or "arm not in this profile"
            out.append(targets.Target(name, None, "> 2 SE", None, f"not measured: {why}"))
            continue
        g = arm_gains["retry"][str(op)]
        acc = {a: arms[a]["by_op"][str(op)]["accuracy"] for a in ("error_free", "retry")}
        beats = g["gain"] > 2 * g["se"]
        note = f"error-free {acc['error_free']:.1%}, retry {acc['retry']:.1%}, n = {arms['retry']['by_op'][str(op)]['n']}"
        if not beats:
            note += f"; {SCALE}"
        out.append(targets.holds(name, beats, g["gain"], f"> 2 SE (= {2 * g['se']:.3f})", note))
    out.append(_weak_row(metrics))
    retry = arms.get("retry", {})
    value = retry.get("retries_per_correct") if "missing" not in retry else None
    note = (f"{retry.get('correct_solutions', 0)} correct solutions; [P2.2 Fig. 5a]: <= 0.26" if value is not None else
            retry.get("missing", "no correct solution to count retries on"))
    out.append(targets.at_most("retries written per correct solution, retry r=0.2", value, RETRIES_BOUND, note))
    return out


def _weak_row(metrics: dict) -> targets.Target:
    """Fake mistakes recover most of the gain [P2.2 Result 8]: retry_weak against error-free at the hardest training op."""
    arms, op = metrics["arms"], metrics["op_max"]
    name = f"retry_weak r=0.1 beats error-free at op {op} (the hardest training op), equal tokens"
    missing = [a for a in ("error_free", "retry_weak") if a not in arms or "missing" in arms[a]]
    if missing:
        why = "; ".join(arms[a]["missing"] for a in missing if a in arms) or "arm not in this profile"
        return targets.Target(name, None, "> 2 SE", None, f"not measured: {why}")
    g = metrics["gains"]["retry_weak"][str(op)]
    acc = {a: arms[a]["by_op"][str(op)]["accuracy"] for a in ("error_free", "retry_weak")}
    note = (f"error-free {acc['error_free']:.1%}, retry_weak {acc['retry_weak']:.1%}; "
            "[P2.2 Fig. 8]: 77.7 -> 90.1 on med_pq op 23")
    return targets.holds(name, g["gain"] > 2 * g["se"], g["gain"], f"> 2 SE (= {2 * g['se']:.3f})", note)


def _finetune_row(f: dict) -> targets.Target:
    g = f["gains"]["lora_retry-lora_error_free"]
    versus = f["gains"]["lora_retry-error_free"]
    return targets.holds("LoRA on retry data: no clear gain over the same LoRA on error-free data",
                         not g["gain"] > 2 * g["se"], g["gain"], f"<= 2 SE (= {2 * g['se']:.3f})",
                         f"{f['steps']} steps; over the error-free model itself {versus['gain']:+.3f} (SE "
                         f"{versus['se']:.3f}); consistent with, not evidence for, [P2.2 Result 7] at this budget; "
                         "the positive control is the retry-pretraining row")


__all__ = ["ARMS", "SETTINGS", "settings", "make_world", "reference", "example_problem", "retry_examples",
           "error_free_model", "detect", "retry_upon_regret", "own_mistakes", "compare_arms", "equal_tokens", "spot",
           "lora_on_retry_data",
           "reproduce", "check_targets"]
