"""Train the shipped Part 4.1 Depo checkpoints with the kit's own command line.

    python -m plmkit reproduce canon-pretrain --profile cpu --out runs/canon-pretrain-cpu
    python -m plmkit reproduce canon-pretrain --profile cpu --out runs/canon-pretrain-cpu --resume   # after a kill

Lab 07 trains Depo live for one seed, 1,600 steps: enough for Canon to learn the first hop, not enough to
see how far either arm gets or whether the gap holds across seeds. This command trains the same cell (same
model, data law and learning-rate policy) for 4,000 steps: RoPE, NoPE and both with Canon-ABCD, three seeds, each
seed sharing data and initial weights between its arms [P4.1 §3.1]. Each model is rounded to fp16, and *the
rounded model* is evaluated per k on the lab's test instances; it is saved with
:func:`plmkit.experiments.shipped.save` under ``<out>/export/canon-<profile>/depo/<arm>/seed<s>``. To ship::

    python -c "from plmkit.experiments.canon.pretrain import ship; ship('runs/canon-pretrain-cpu')"

:func:`evaluate_shipped` is what lab 07 runs: it loads the shipped models and measures them again (seconds).
"""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Optional

from ...results import run_environment, write_json_atomic
from .. import shipped, targets
from ..common import RunContext
from . import depo as depo_experiment
from .depo import per_seed_text, seeds_needed
from .arms import seeds, slug
from .settings import PRETRAIN, SHIPPED_GROUP, DepoSettings

CHECKPOINT_EVERY = 500


def settings(ctx: RunContext) -> DepoSettings:
    return ctx.pick(PRETRAIN)


def checkpoint_name(arm_name: str, seed: int) -> str:
    return f"depo/{slug(arm_name)}/seed{seed}"


def made_by(profile: str) -> str:
    return f"python -m plmkit reproduce canon-pretrain --profile {profile}"


def reproduce(ctx: RunContext) -> dict:
    s = settings(ctx)
    group = SHIPPED_GROUP.format(profile=ctx.profile)
    test = depo_experiment.eval_instances(s)
    windows = depo_experiment.metrics.pack_for_eval(test, s.sizes.context)
    ks = depo_experiment.task(s).hops
    trained = {}
    for seed in seeds(ctx, s.seeds):
        for arm in s.arms:
            model, result = depo_experiment.train_depo_arm(ctx, s, arm, seed, test, "depo-pretrain", CHECKPOINT_EVERY)
            rounded = shipped.fp16_roundtrip(model.cpu())
            result["final_fp16"] = depo_experiment.accuracy_per_k(rounded, windows, ks)
            trained[(arm.name, seed)] = result
            sidecar = {
                "name": checkpoint_name(arm.name, seed), "arm": dataclasses.asdict(arm), "seed": seed,
                "label": (f"Depo {s.preset}, {arm.name}, seed {seed}: {s.optimiser.steps:,} steps trained by plmkit on "
                          "CPU; 'per_k' is this small model's accuracy at n = N, not the paper's."),
                "made_by": made_by(ctx.profile), "settings": dataclasses.asdict(s),
                "model_config": model.config.to_dict(), "weights": "fp16; 'final_fp16' is measured on the rounded weights",
                "history": result, "environment": run_environment(),
            }
            if ctx.run_dir is not None:
                shipped.save(rounded, group, checkpoint_name(arm.name, seed), sidecar, made_by=made_by(ctx.profile),
                              half=True, folder=ctx.run_dir.path / "export")
            print(f"{arm.name:14s} seed {seed}: " + "  ".join(f"k={k}: {100 * a:5.1f}%" for k, a in
                                                              zip(ks, result["final_fp16"])), flush=True)
    result = _as_depo_result(s, group, sorted({seed for _, seed in trained}),
                             {key: dict(value, final=value["final_fp16"]) for key, value in trained.items()})
    metrics = {"part": "canon-pretrain", "profile": ctx.profile, "depo": result}
    metrics["targets"] = targets.as_dicts(check_targets(metrics, ctx.profile))
    return metrics


def _as_depo_result(s: DepoSettings, group: str, seed_list: list, runs: dict) -> dict:
    """The shape :func:`plmkit.experiments.canon.depo.run_depo` returns, so its summary and plot apply."""
    cfg = depo_experiment.task(s)
    result = {"preset": s.preset, "N": cfg.N, "K": cfg.K, "chance": 1.0 / cfg.N, "ks": list(cfg.hops),
              "steps": s.optimiser.steps, "seeds": seed_list, "arms": {}, "shipped": group}
    for arm in s.arms:
        per_seed = [runs[(arm.name, seed)] for seed in seed_list]
        result["eval_steps"] = per_seed[0]["steps"]
        # the last curve point is replaced by the fp16 weights' measurement: what ships is what is shown
        result["arms"][arm.name] = {"curves": [run["per_k"][:-1] + [run["final"]] for run in per_seed],
                                    "final": [run["final"] for run in per_seed],
                                    "final_loss": [run["final_loss"] for run in per_seed],
                                    "seconds": [run["seconds"] for run in per_seed], "parameters": per_seed[0]["parameters"]}
    return result


def evaluate_shipped(ctx: RunContext, group: str, folder: Optional[Path] = None) -> dict:
    """Load every shipped Depo checkpoint of ``group`` and measure it on the lab's test instances, per k.

    The curves come from the sidecars (measured while training); the final point is measured here, now.
    """
    s = PRETRAIN[group.removeprefix(SHIPPED_GROUP.format(profile=""))]
    test = depo_experiment.eval_instances(s)
    windows = depo_experiment.metrics.pack_for_eval(test, s.sizes.context)
    ks = depo_experiment.task(s).hops
    runs, seed_list = {}, seeds(ctx, s.seeds)
    for seed in seed_list:
        for arm in s.arms:
            model, card = shipped.load(group, checkpoint_name(arm.name, seed), device=ctx.device, folder=folder)
            runs[(arm.name, seed)] = dict(card["history"], final=depo_experiment.accuracy_per_k(model, windows, ks))
    return _as_depo_result(s, group, seed_list, runs)


def ship(run_folder, folder: Optional[Path] = None, profile: str = "cpu") -> Path:
    """Copy a finished run's export to ``data/checkpoints/canon-<profile>`` (or ``folder``) with the run's manifest."""
    run_folder = Path(run_folder)
    group = SHIPPED_GROUP.format(profile=profile)
    source = run_folder / "export" / group
    expected = [checkpoint_name(arm.name, seed) for seed in range(PRETRAIN[profile].seeds) for arm in PRETRAIN[profile].arms]
    missing = [name for name in expected if not shipped.paths(group, name, run_folder / "export")[0].exists()]
    if missing:
        raise ValueError(f"{source} lacks {', '.join(missing)}: is the run in {run_folder} finished?")
    target = (folder or shipped.root()) / group
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    manifest = shipped.read_manifest(group, folder)
    if (run_folder / "manifest.json").exists():
        manifest["reproduce_manifest"] = json.loads((run_folder / "manifest.json").read_text())
    write_json_atomic(target / "manifest.json", manifest)
    return target


def shipped_depo_rows(result: dict) -> list[targets.Target]:
    """The shipped 3-seed runs: the first hop, the second (reasoning depth) [P4.1 Result 2, Fig. 7] and, where
    NoPE arms shipped, the rescue of a model without position encoding [P4.1 Result 3]."""
    n, need = len(result["seeds"]), seeds_needed(len(result["seeds"]))
    at = f"Depo N={result['N']}, n=N, shipped ({result['steps']:,} steps)"

    def wins_row(k: int, better: str, worse: str, strict: bool = True) -> targets.Target:
        a, b = depo_experiment.at_k(result, better, k), depo_experiment.at_k(result, worse, k)
        wins = sum((x > y) if strict else (x >= y) for x, y in zip(a, b))
        return targets.holds(f"{at}, k={k}: {better} {'above' if strict else 'at least'} {worse}", wins >= need, wins,
                             f">= {need} of {n} seeds", f"{better} {per_seed_text(a)} vs {worse} {per_seed_text(b)}; "
                             f"chance {100 * result['chance']:.1f}%")

    rows = [wins_row(1, "RoPE + Canon", "RoPE"), wins_row(2, "RoPE + Canon", "RoPE")]
    if {"NoPE", "NoPE + Canon"} <= set(result["arms"]):
        rows += [wins_row(1, "NoPE + Canon", "NoPE"), wins_row(1, "NoPE + Canon", "RoPE", strict=False)]
    return rows


def check_targets(metrics: dict, profile: str) -> list[targets.Target]:
    rows = shipped_depo_rows(metrics["depo"])
    if profile == "ci":
        return [targets.Target("canon-pretrain targets", None, "cpu profile", None,
                               f"ci trains for seconds: {len(rows)} targets computed, none judged")]
    return rows
