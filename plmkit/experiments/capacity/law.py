"""The base law: how many bits one model size stores as the data grows [P3.3 Fig. 1, Res. 1 and 4].

One model size, several numbers of people N, the same number of exposures. A model whose R^max (the data's
bits per parameter) lies below its capacity stores nearly everything: an **under-filled** point, R close to
R^max. Past the capacity the learned bits stop growing with the data: an **over-filled** point, where R
measures the model rather than the dataset. The paper finds the capacity near 2 bits per parameter after 1,000
exposures and near 1 after 100 [P3.3 Res. 1, 4].

:func:`long_run` adds one 1,000-exposure run (shipped as a checkpoint at ``cpu``: it takes longer than a lab).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .. import shipped
from ..common import RunContext
from .datasets import make_world
from .settings import LongSettings, settings
from .training import TrainedModel, run_summary, train_world


@dataclass
class LawPoint:
    """One N of the sweep: the world, the trained model and its measurement (see ``datasets.measurement_dict``)."""

    world: object
    run: TrainedModel
    measurement: dict

    @property
    def people(self) -> int:
        return self.world.n_people


def run_point(ctx: RunContext, n_people: int, *, steps: Optional[int] = None, sample: Optional[int] = None,
              callbacks=()) -> LawPoint:
    """Train the law's model on N people at the law's exposures and measure what it stores.

    ``steps`` and ``sample`` (people measured) override the profile's, for dry runs of large profiles."""
    s = settings(ctx)
    law = s.law
    world = make_world(law.data, n_people, seed=ctx.seed)
    run = train_world(ctx, f"law-{law.data}-N{n_people}", world, law.model, law.exposures, law.recipe,
                      steps=steps, callbacks=callbacks)
    return LawPoint(world, run, world.measure(run.model, sample=sample or s.measure_sample))


def run_law(ctx: RunContext, *, steps: Optional[int] = None, sample: Optional[int] = None) -> list[LawPoint]:
    """Every N of the profile's sweep, under-filled first."""
    return [run_point(ctx, n, steps=steps, sample=sample) for n in settings(ctx).law.people]


def point_metrics(point: LawPoint) -> dict:
    m = point.measurement
    return {"people": point.people, "data": point.world.name, "data_bits": m["max_bits"]["total"],
            "learned_bits": m["learned"]["total"], "stored_fraction": m["R"] / m["R_max"],
            **m, "train": run_summary(point.run)}


def law_metrics(points: list[LawPoint]) -> dict:
    """The sweep's numbers, and the two comparisons the law is judged on: the first (under-filled) point's share
    of R^max, and how much the learned bits grow over the last step of the sweep (from the point before the last
    to the last, over-filled one) against the data's bits."""
    rows = [point_metrics(p) for p in points]
    first, before, last = rows[0], rows[-2], rows[-1]
    return {
        "points": rows,
        "under_filled": {"people": first["people"], "R": first["R"], "R_max": first["R_max"],
                         "stored_fraction": first["stored_fraction"]},
        "over_filled": {"people": last["people"], "R": last["R"], "R_max": last["R_max"],
                        "stored_fraction": last["stored_fraction"]},
        "growth_from": before["people"],
        "learned_growth": last["learned_bits"] / before["learned_bits"] if before["learned_bits"] > 0 else None,
        "data_growth": last["data_bits"] / before["data_bits"],
        "exposures": points[0].run.exposures,
    }


def fill_label(measurement: dict, capacity: float) -> str:
    """Where a point's data sits against the model's capacity (in bits per parameter, e.g. the R of the most
    over-filled point): ``under-filled`` below 0.9x, ``over-filled`` above 2x, else ``near capacity``."""
    if measurement["R_max"] <= 0.9 * capacity:
        return "under-filled"
    return "over-filled" if measurement["R_max"] >= 2 * capacity else "near capacity"


# ----------------------------------------------------------------------------------------------
# The 1,000-exposure run
# ----------------------------------------------------------------------------------------------
def long_name(s: LongSettings) -> str:
    """The shipped checkpoint's name, e.g. ``bioD-tiny-N1500-E1000``."""
    return f"{s.data}-N{s.people}-E{s.exposures}"


def train_long(ctx: RunContext, s: LongSettings, *, steps: Optional[int] = None) -> LawPoint:
    world = make_world(s.data, s.people, seed=ctx.seed)
    run = train_world(ctx, f"long-{long_name(s)}", world, s.model, s.exposures, s.recipe, steps=steps)
    return LawPoint(world, run, world.measure(run.model))


def load_long(s: LongSettings, device: Optional[str] = None) -> tuple[object, object, dict]:
    """The shipped 1,000-exposure model, its dataset (drawn again from the recorded seed) and its sidecar."""
    model, card = shipped.load(s.shipped, long_name(s), device=device)
    world = make_world(card["data"]["dataset"], card["data"]["people"], seed=card["data"]["seed"])
    return model, world, card


def long_run(ctx: RunContext, *, steps: Optional[int] = None) -> Optional[dict]:
    """The profile's 1,000-exposure run, measured: loaded from the shipped checkpoint when there is one
    (``cpu``), else trained here (``gpu``). None when the profile has no long run."""
    s = settings(ctx).long
    if s is None:
        return None
    if s.shipped:
        model, world, card = load_long(s, ctx.device)
        measurement = world.measure(model)
        return {"source": f"shipped checkpoint {s.shipped}/{long_name(s)}", "people": world.n_people,
                "exposures": card["exposures"], "train": card["train"], **measurement}
    point = train_long(ctx, s, steps=steps)
    return {"source": "trained in this run", "people": point.people, "exposures": s.exposures,
            "train": run_summary(point.run), **point.measurement}
