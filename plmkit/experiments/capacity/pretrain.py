"""Train the shipped Part 3.3 checkpoint with the kit's own command line.

    python -m plmkit reproduce capacity-pretrain --profile cpu --out runs/capacity-pretrain

The 1,000-exposure run of the ``cpu`` profile (bioD-tiny, N = 1500, the law's model) takes longer than a lab
should, so lab 06 loads it. This command trains it (resumable with ``--resume`` after a kill), measures it and
saves it with :func:`plmkit.experiments.shipped.save` in float32 under ``<out>/export/capacity-<profile>/``,
with the group's manifest. Nothing is written under ``data/``: to ship the result, copy
``<out>/export/capacity-cpu`` over ``data/checkpoints/capacity-cpu``.
"""
from __future__ import annotations

import dataclasses

from ...results import run_environment
from .. import shipped, targets
from ..common import RunContext
from .law import long_name, train_long
from .settings import pretrain_settings
from .training import run_summary


def reproduce(ctx: RunContext) -> dict:
    s = pretrain_settings(ctx)
    point = train_long(ctx, s)
    made_by = f"python -m plmkit reproduce capacity-pretrain --profile {ctx.profile}"
    sidecar = {
        "name": long_name(s),
        "label": (f"Part 3.3's base-law model after {s.exposures:,} exposures of {s.people:,} bioD people, trained by "
                  "plmkit on CPU. Its measured capacity is in 'measurement'; it is this small model's, not the paper's."),
        "how": made_by,
        "data": {"dataset": s.data, "people": s.people, "seed": ctx.seed, "description": point.world.describe()},
        "exposures": s.exposures,
        "model_config": point.run.model.config.to_dict(),
        "settings": dataclasses.asdict(s),
        "train": run_summary(point.run),
        "measurement": point.measurement,
        "environment": run_environment(),
    }
    group = f"capacity-{ctx.profile}"
    if ctx.run_dir is not None:
        shipped.save(point.run.model.cpu(), group, long_name(s), sidecar, made_by=made_by,
                     folder=ctx.run_dir.path / "export")
    metrics = {"part": "capacity-pretrain", "profile": ctx.profile, "name": long_name(s),
               **{k: v for k, v in sidecar.items() if k != "environment"}}
    metrics["targets"] = targets.as_dicts(check_targets(metrics, ctx.profile))
    return metrics


def check_targets(metrics: dict, profile: str) -> list[targets.Target]:
    """The shipped model holds more than nothing, and never more than the data (``ci`` is not judged)."""
    m = metrics["measurement"]
    rows = [targets.at_most("learned bits / a perfect model's", m["learned"]["total"] / m["max_bits"]["total"], 1.05,
                            "no model stores more than the data holds")]
    if profile == "ci":
        return rows
    return rows + [targets.at_least("R after 1,000 exposures", m["R"], 1.0, "paper: ~2 [P3.3 Res. 1]; ~1 after 100 exposures")]
