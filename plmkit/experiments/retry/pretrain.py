"""Train the shipped Part 2.2 checkpoints with the kit's own command line.

    python -m plmkit reproduce retry-pretrain --profile cpu --out runs/retry-pretrain-cpu
    PLMKIT_RETRY_ARMS=retry_weak python -m plmkit reproduce retry-pretrain ...   # only some arms
    ... --resume                                                                # after a kill

Each arm trains Part 2.1's nano model from scratch on its own data (error-free, retry, retry_weak, ...)
with everything else equal: same model, optimiser, steps, batch and window, so the same number of
training tokens [P2.2 §4]. Weights are rounded to fp16 and *the rounded model* is evaluated (accuracy per
op in and out of distribution, retries the model writes per correct solution) and exported under
``<out>/export/<group>/<arm>.{pt,json}``. To ship a finished run::

    python -c "from plmkit.experiments.retry.pretrain import ship; ship('runs/retry-pretrain-cpu')"
"""
from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Optional

from ...results import write_json_atomic
from .. import shipped, targets
from ..common import RunContext, arms_from_environment
from ..shared.igsm import (checkpoint_sidecar, export_checkpoint, fp16_roundtrip, load_world, make_model,
                           measure_checkpoint, pretrain)
from .settings import ARMS, PRETRAIN, RetryPretrain

ARMS_VARIABLE = "PLMKIT_RETRY_ARMS"


def settings(ctx: RunContext) -> RetryPretrain:
    """The profile's settings; ``$PLMKIT_RETRY_ARMS`` (comma-separated) trains only the arms it names."""
    run = ctx.pick(PRETRAIN)
    return dataclasses.replace(run, arms=arms_from_environment(ARMS_VARIABLE, ARMS, run.arms))


def train_arm(ctx: RunContext, run: RetryPretrain, arm: str) -> dict:
    s = run.train
    data = ARMS[arm]
    world = load_world(s.world)
    model = make_model(world, s.size, s.context, seed=ctx.seed)
    print(f"[{arm}] training {s.size.label} on iGSM-{world.name} ({data.label}): {s.steps} steps of {s.batch} "
          f"windows of {s.window or s.context} tokens", flush=True)
    history = pretrain(ctx, world, model, s, f"retry-{world.name}-{arm}",
                       log=lambda line: print(f"[{arm}] {line}", flush=True), **data.data_options())
    rounded = fp16_roundtrip(model.cpu())
    evaluation = measure_checkpoint(rounded, world, s.layout, run.eval_problems)
    made_by = f"python -m plmkit reproduce retry-pretrain --profile {ctx.profile}"
    sidecar = {
        "name": arm,
        "label": (f"Trained by plmkit itself on {data.label} data ({history.tokens / 1e6:.1f}M tokens, "
                  f"{history.seconds / 60:.0f} min), the same tokens as Part 2.1's error-free nano model. "
                  "The numbers in 'eval' are this small model's."),
        "made_by": made_by + ("" if arm in PRETRAIN[ctx.profile].arms else f" (with {ARMS_VARIABLE}={arm})"),
        "arm": arm, "data_arm": asdict(data),
        **checkpoint_sidecar(world, model, s, history, evaluation, ctx.seed, **data.data_options()),
    }
    if ctx.run_dir is not None:
        export_checkpoint(rounded, run.group, arm, sidecar, ctx.run_dir.path / "export", made_by)
    return sidecar


def reproduce(ctx: RunContext) -> dict:
    run = settings(ctx)
    arms = {arm: train_arm(ctx, run, arm) for arm in run.arms}
    metrics = {"part": "retry-pretrain", "profile": ctx.profile, "world": run.train.world,
               "arms": {arm: {k: v for k, v in side.items() if k not in ("history", "environment")}
                        for arm, side in arms.items()}}
    metrics["targets"] = targets.as_dicts(check_targets(metrics, ctx.profile))
    return metrics


def check_targets(metrics: dict, profile: str) -> list[targets.Target]:
    """The trainer only checks that each arm learned the format; lab 03 compares the arms."""
    rows = []
    for arm, side in metrics["arms"].items():
        acc = side["eval"]["by_op"]["1"]["accuracy"]
        rows.append(targets.at_least(f"{arm}: full-solution accuracy at op 1", acc, 0.3,
                                     "the arm learned the solution format"))
    if profile == "ci":
        return [targets.Target("retry-pretrain targets", None, "cpu or gpu profile", None,
                               f"ci trains for seconds: {len(rows)} targets computed, none judged")]
    return rows


def ship(run_folder, folder: Optional[Path] = None, profile: str = "cpu") -> Path:
    """Copy a finished run's export to ``data/checkpoints/<group>`` (or ``folder``), keeping arms already
    shipped that this run did not train, and record the run's manifest."""
    run_folder = Path(run_folder)
    group = PRETRAIN[profile].group
    source = run_folder / "export" / group
    if not (source / "manifest.json").exists():
        raise ValueError(f"{source} holds no exported checkpoint: is the run in {run_folder} finished?")
    target = (folder or shipped.root()) / group
    target.mkdir(parents=True, exist_ok=True)
    manifest = shipped.read_manifest(group, folder) if (target / "manifest.json").exists() else {}
    new = json.loads((source / "manifest.json").read_text())
    for path in source.iterdir():
        if path.name != "manifest.json":
            shutil.copy2(path, target / path.name)
    merged = {**manifest, **new, "files": {**manifest.get("files", {}), **new.get("files", {})}}
    if (run_folder / "manifest.json").exists():
        merged.setdefault("reproduce_manifests", {})[run_folder.name] = json.loads((run_folder / "manifest.json").read_text())
    write_json_atomic(target / "manifest.json", merged)
    return target
