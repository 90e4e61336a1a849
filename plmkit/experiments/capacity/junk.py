"""Junk data and the domain tag [P3.3 §10, App. E, Res. 10-12, Fig. 8].

Real pretraining text is mostly not knowledge worth storing. The paper trains on useful bioS people as 1/8 of
the tokens and junk the other 7/8, and measures the capacity on the useful people only:

* **random junk** (people never seen twice) cuts the useful capacity about 20x at 100 exposures;
* **repetitive junk** (a small set of people repeated) costs nothing: it is memorised once;
* a **domain tag** (one token, here ``<tag>``, in front of every useful line, like "wikipedia.org" in front
  of a web page) brings the loss down to about 2x: the model learns which source is worth remembering.

Kit design: windows hold only useful or only junk lines (as in the paper [App. E]); every step has the same
share of useful windows, and the no-junk arm trains on those useful windows alone, so all arms see each useful
person the same number of times in the same number of steps. Junk follows the useful data's distribution
(names from the same name space, never a useful person's; values from the same attribute pools), for bioD and
bioS-compact alike (each world draws its own junk windows: ``world.junk_windows``).
"""
from __future__ import annotations

from typing import Optional

import torch

from ...data.capacity import FreshExposures
from ...data.capacity.junk import JunkWindows, draw_junk_people, name_codes  # noqa: F401  (re-exported)
from ...data.packing import Batch, windows_to_batch
from ..common import RunContext
from .datasets import BioDWorld, make_world
from .mlp import ratio
from .settings import JunkSettings, settings
from .training import make_model, run_summary, train_on, TRAIN_SEED

JUNK_SEED = 7_000  # junk streams are seeded apart from the useful data's


class JunkMix:
    """Every batch: ``useful.batch_size`` useful windows (fresh exposures of the useful people) and ``junk_rows``
    junk windows. Exposures are counted on the useful people, so ``steps_for`` is the useful stream's."""

    def __init__(self, useful: FreshExposures, junk: JunkWindows, junk_rows: int):
        self.useful, self.junk, self.junk_rows = useful, junk, junk_rows

    def steps_for(self, exposures: float) -> int:
        return self.useful.steps_for(exposures)

    def batch(self, step: int) -> Batch:
        good = self.useful.batch(step)
        bad = windows_to_batch(*self.junk.windows(step, self.junk_rows))
        return Batch(torch.cat([good.inputs, bad.inputs]), torch.cat([good.targets, bad.targets]),
                     torch.cat([good.weights, bad.weights]))

    def describe(self) -> dict:
        return {"kind": "junk_mix", "useful": self.useful.describe(), "junk": self.junk.kind,
                "junk_rows": self.junk_rows, "junk_seed": self.junk.seed}


def useful_rows(s: JunkSettings) -> int:
    rows = int(round(s.recipe.batch * s.useful_share))
    if rows < 1:
        raise ValueError(f"a batch of {s.recipe.batch} windows has no room for a {s.useful_share:g} share of useful data")
    return rows


def arm_stream(world: BioDWorld, s: JunkSettings, arm: str, seed: int):
    """The training stream of one arm: ``none``, ``random``, ``random+tag`` or ``repetitive``."""
    tag = arm.endswith("+tag")
    useful = world.stream(s.model.context, useful_rows(s), seed=TRAIN_SEED + seed, tag=tag)
    if arm == "none":
        return useful
    kind = arm.split("+")[0]
    junk = world.junk_windows(kind, s.model.context, JUNK_SEED + seed, s.repetitive_people)
    return JunkMix(useful, junk, s.recipe.batch - useful_rows(s))


def run_junk(ctx: RunContext, *, steps: Optional[int] = None) -> Optional[dict]:
    """Train every arm on the same useful people; R of each, measured on the useful people only."""
    s = settings(ctx).junk
    if s is None:
        return None
    world = make_world(s.data, s.people, seed=ctx.seed)
    if world.kind == "bioS":
        raise ValueError("the junk experiment runs on bioD or bioS-compact data (bioS text has no junk windows)")
    arms = {}
    for arm in s.arms:
        lrs = s.random_junk_lrs if arm == "random" else (s.recipe.lr,)
        tries = {}
        for lr in lrs:
            model = make_model(world.vocab_size, s.model, seed=ctx.seed)
            run = train_on(ctx, f"junk-{arm}-lr{lr:g}", model, arm_stream(world, s, arm, ctx.seed), s.exposures,
                           s.recipe, lr=lr, steps=steps)
            tries[lr] = {**world.measure(run.model, tag=arm.endswith("+tag")), "train": run_summary(run)}
        best = max(tries, key=lambda lr: tries[lr]["R"])
        arms[arm] = {**tries[best], "lrs_tried": {f"{lr:g}": t["R"] for lr, t in tries.items()}}
    return {"people": s.people, "exposures": s.exposures, "useful_share": s.useful_share, "arms": arms,
            **junk_summary(arms)}


def junk_summary(arms: dict) -> dict:
    """How many times random junk cuts the useful R, and which share of that loss the tag wins back."""
    out = {}
    if {"none", "random"} <= set(arms):
        none, rand = arms["none"]["R"], arms["random"]["R"]
        out["random_cut"] = ratio(none, rand)
        out["random_leaves_nothing"] = bool(rand <= 0 < none)
        if "random+tag" in arms and none > rand:
            out["tag_recovery"] = (arms["random+tag"]["R"] - rand) / (none - rand)
    if {"none", "repetitive"} <= set(arms):
        out["repetitive_over_none"] = ratio(arms["repetitive"]["R"], arms["none"]["R"])
    return out
