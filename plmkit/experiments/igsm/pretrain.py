"""Train the shipped Part 2.1 checkpoint with the kit's own command line.

    python -m plmkit reproduce igsm-pretrain --profile cpu --out runs/igsm-pretrain-cpu
    python -m plmkit reproduce igsm-pretrain --profile cpu --out runs/igsm-pretrain-cpu --resume   # after a kill

A GPT trains from scratch on fresh iGSM problems (checkpoints every few minutes), its weights are rounded
to fp16, and *the rounded model* (what ships) is evaluated: full-solution accuracy at every training op,
at the out-of-distribution ops and on reask problems, with the unnecessary parameters per correct
solution [P2.1 Figs. 3, 4]. The result is saved with :func:`plmkit.experiments.shipped.save` under
``<out>/export/<group>/<name>.{pt,json}`` with the group's manifest. Nothing is written under ``data/``;
to ship a finished run::

    python -c "from plmkit.experiments.igsm.pretrain import ship; ship('runs/igsm-pretrain-cpu')"

which copies ``<out>/export/igsm-cpu`` to ``data/checkpoints/igsm-cpu`` and records the run's manifest.

The ``cpu`` entries are the shipped nano checkpoints, because a model trained for a lab's few minutes does
not get past one-operation problems [P2.1 §3 needs ~40 B tokens at full size]: ``nano`` (the default, Part
2.2's error-free baseline, over an hour on one CPU thread) and ``nano-xl`` (``PLMKIT_IGSM_CHECKPOINT=nano-xl``,
lab 02's, 4x the batch: minutes on a GPU). The ``gpu`` entry trains the mini world.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Optional

from ...profiles import pick_device
from ...results import write_json_atomic
from .. import shipped, targets
from ..common import RunContext, arms_from_environment
from ..shared.igsm import (checkpoint_sidecar, export_checkpoint, fp16_roundtrip, load_world, make_model,
                           measure_checkpoint, per_correct_solution, pretrain)
from .settings import CHECKPOINT_VARIABLE, PRETRAIN, PRETRAIN_RUNS, PretrainRun

FALL_TOLERANCE = 0.03  # per-op accuracies may rise by this much (sampling noise) and still count as falling


def settings(ctx: RunContext) -> PretrainRun:
    """The profile's default checkpoint, or the one ``$PLMKIT_IGSM_CHECKPOINT`` names (an unknown name lists the valid)."""
    runs = {run.name: run for run in ctx.pick(PRETRAIN_RUNS)}
    chosen = arms_from_environment(CHECKPOINT_VARIABLE, runs, (next(iter(runs)),))
    if len(chosen) != 1:
        raise ValueError(f"{CHECKPOINT_VARIABLE} names one checkpoint per run, got {', '.join(chosen)}; "
                         f"valid: {', '.join(runs)}")
    return runs[chosen[0]]


def measure(model, world, run: PretrainRun) -> dict:
    return measure_checkpoint(model, world, run.train.layout, run.eval_problems)


def reproduce(ctx: RunContext) -> dict:
    run = settings(ctx)
    s = run.train
    world = load_world(s.world)
    model = make_model(world, s.size, s.context, seed=ctx.seed)
    print(f"training {s.size.label} on iGSM-{world.name}: {model.param_counts()['non_embedding']:,} non-embedding "
          f"parameters, {s.steps} steps of {s.batch} windows of {s.window or s.context} tokens"
          + (", one problem per window" if s.one_per_row else ""), flush=True)
    history = pretrain(ctx, world, model, s, f"igsm-{world.name}", log=lambda line: print(line, flush=True))
    # Measured where it trained (a GPU generates the 2,000-odd test solutions in seconds), exported from the CPU.
    rounded = fp16_roundtrip(model.cpu()).to(pick_device(ctx.device))
    evaluation = measure(rounded, world, run)
    rounded = rounded.cpu()
    made_by = f"python -m plmkit reproduce igsm-pretrain --profile {ctx.profile}"
    if run is not PRETRAIN[ctx.profile]:
        made_by = f"{CHECKPOINT_VARIABLE}={run.name} {made_by}"
    sidecar = {
        "name": run.name,
        "label": (f"Trained by plmkit itself ({history.tokens / 1e6:.1f}M tokens, {history.seconds / 60:.0f} min; the "
                  f"paper's med recipe is ~39 B tokens [P2.1 App. F]). The numbers in 'eval' are this small model's."),
        "made_by": made_by,
        **checkpoint_sidecar(world, model, s, history, evaluation, ctx.seed),
    }
    if ctx.run_dir is not None:
        export_checkpoint(rounded, run.group, run.name, sidecar, ctx.run_dir.path / "export", made_by)
    metrics = {"part": "igsm-pretrain", "profile": ctx.profile, "world": world.name,
               "checkpoint": {k: v for k, v in sidecar.items() if k not in ("history", "environment")}}
    metrics["targets"] = targets.as_dicts(check_targets(metrics, ctx.profile))
    return metrics


def ship(run_folder, folder: Optional[Path] = None, profile: str = "cpu") -> Path:
    """Copy a finished run's checkpoint into ``data/checkpoints/<group>`` (or ``folder``), next to the group's
    other checkpoints, and record its files and the run's manifest (command, versions, commit, wall time)."""
    run_folder = Path(run_folder)
    exported = [run for run in PRETRAIN_RUNS[profile]
                if shipped.paths(run.group, run.name, run_folder / "export")[0].exists()]
    if not exported:
        raise ValueError(f"{run_folder / 'export'} holds no exported checkpoint: is the run in {run_folder} finished?")
    run = exported[0]
    source = shipped.read_manifest(run.group, run_folder / "export")
    target = (folder or shipped.root()) / run.group
    target.mkdir(parents=True, exist_ok=True)
    manifest = shipped.read_manifest(run.group, folder)
    for path in shipped.paths(run.group, run.name, run_folder / "export"):
        shutil.copy2(path, target / path.name)
        manifest["files"][path.name] = source["files"][path.name]
    made_by = source.get("made_by", "")
    manifest.setdefault("made_by_checkpoint", {})[run.name] = made_by
    if (run_folder / "manifest.json").exists():
        manifest.setdefault("reproduce_manifests", {})[run.name] = json.loads((run_folder / "manifest.json").read_text())
    write_json_atomic(target / "manifest.json", manifest)
    return target


def _number(value):
    """A measured value, or None when it is NaN (nothing to measure it on)."""
    return None if value is None or value != value else float(value)


def falls_with_op(accuracies: list[float], tolerance: float = FALL_TOLERANCE) -> bool:
    return all(b <= a + tolerance for a, b in zip(accuracies, accuracies[1:]))


def check_targets(metrics: dict, profile: str) -> list[targets.Target]:
    """The shipped model's claims [P2.1 Figs. 3, 4] at small scale (the ``ci`` run shows the code runs)."""
    ev = metrics["checkpoint"]["eval"]
    world = metrics["world"]
    ops = sorted(int(op) for op in ev["by_op"])
    acc = [ev["by_op"][str(op)]["accuracy"] for op in ops]
    op_max = metrics["checkpoint"]["world_config"]["op_max"]
    ood = [op for op in ops if op > op_max]
    first_ood = ev["by_op"][str(ood[0])]["accuracy"] if ood else None
    normal_unnecessary = _number(per_correct_solution(ev["by_op"], op_max))  # None: no correct solution to count
    reask_unnecessary = _number(ev["reask"]["unnecessary_params"])
    bound = 0.95 if profile == "gpu" else 0.80
    rows = [
        targets.at_least(f"{world}: full-solution accuracy in distribution (op <= {op_max})", ev["in_distribution"], bound,
                         "[P2.1 Fig. 3]: 99.9 on med, 100 on hard"),
        targets.holds(f"{world}: accuracy falls with op ({', '.join(f'{a:.0%}' for a in acc)})", falls_with_op(acc),
                      threshold=f"non-increasing within {FALL_TOLERANCE:g}"),
        targets.at_least(f"{world}: accuracy at the first OOD op {ood[0] if ood else '-'} (never trained on)", first_ood,
                         0.05, "clearly above zero: length generalisation [P2.1 Result 2]"),
        targets.at_most(f"{world}: unnecessary parameters per correct solution", normal_unnecessary, 0.05,
                        "[P2.1 Fig. 4]: <= 0.01"),
        targets.holds(f"{world}: more unnecessary parameters on reask",
                      None if None in (reask_unnecessary, normal_unnecessary) else reask_unnecessary > normal_unnecessary,
                      reask_unnecessary, "> ordinary", "[P2.1 Fig. 4]: 0.09-0.44 on reask; not measured without correct "
                                                       "solutions on both sides"),
    ]
    if profile == "ci":
        return [targets.Target("igsm-pretrain targets", None, "cpu or gpu profile", None,
                               f"ci trains for seconds: {len(rows)} targets computed, none judged")]
    return rows
