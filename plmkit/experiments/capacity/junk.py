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
(names from the same name space, never a useful person's; values from the same attribute pools).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

import numpy as np
import torch

from ...data.capacity import BioD, EOS_ID, FreshExposures
from ...data.capacity.biod import pack_equal_lines
from ...data.packing import Batch, step_rng, windows_to_batch
from ..common import RunContext
from .datasets import BioDWorld, make_world
from .mlp import ratio
from .settings import JunkSettings, settings
from .training import make_model, run_summary, train_on, TRAIN_SEED

JUNK_SEED = 7_000  # junk streams are seeded apart from the useful data's


def name_codes(names: np.ndarray, pools) -> np.ndarray:
    """One integer per name (mixed radix over the name positions), to tell names apart quickly."""
    codes = np.zeros(len(names), dtype=np.int64)
    for j, radix in enumerate(pools):
        codes = codes * radix + names[:, j]
    return codes


def draw_junk_people(useful: BioD, n: int, rng: np.random.Generator) -> BioD:
    """n junk people: names uniform over the name space but never a useful person's, values drawn from the
    useful data's own pools. Junk names may repeat among themselves (the name space is finite), each time
    with new values: nothing about a junk person can be learned."""
    cfg = useful.config
    taken = name_codes(useful.names, cfg.name_pools)
    names = np.empty((0, cfg.name_length), dtype=np.int64)
    while len(names) < n:
        draw = np.stack([rng.integers(0, r, size=n) for r in cfg.name_pools], axis=1)
        names = np.concatenate([names, draw[~np.isin(name_codes(draw, cfg.name_pools), taken)]])[:n]
    chunks = rng.integers(0, cfg.D, size=(n, cfg.K, cfg.C))
    return BioD(replace(cfg, N=n), useful.seed, names, useful.pools, chunks)


class JunkWindows:
    """Junk training windows, a pure function of (seed, step): ``random`` people drawn afresh every time, or
    draws from a ``repetitive`` fixed set of ``pool_people`` people."""

    def __init__(self, useful: BioD, kind: str, context: int, seed: int, pool_people: int = 0):
        if kind not in ("random", "repetitive"):
            raise ValueError(f"unknown junk kind {kind!r}; valid: random, repetitive")
        self.useful, self.kind, self.context, self.seed = useful, kind, context, seed
        self.per_window = context // (useful.config.line_length + 1)
        self.pool = draw_junk_people(useful, pool_people, np.random.default_rng([seed, 0])) if kind == "repetitive" else None

    def windows(self, step: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        rng = step_rng(self.seed, step)
        lines = n * self.per_window
        if self.pool is None:
            people = draw_junk_people(self.useful, lines, rng)
            rows = people.render(people.draw_orders(rng))
        else:
            chosen = rng.integers(0, self.pool.config.N, size=lines)
            rows = self.pool.render(self.pool.draw_orders(rng, lines), chosen)
        return pack_equal_lines(rows, self.context, EOS_ID)


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
    junk = JunkWindows(world.data, kind, s.model.context, JUNK_SEED + seed, s.repetitive_people)
    return JunkMix(useful, junk, s.recipe.batch - useful_rows(s))


def run_junk(ctx: RunContext, *, steps: Optional[int] = None) -> Optional[dict]:
    """Train every arm on the same useful people; R of each, measured on the useful people only."""
    s = settings(ctx).junk
    if s is None:
        return None
    world = make_world(s.data, s.people, seed=ctx.seed)
    if not isinstance(world, BioDWorld):
        raise ValueError("the junk experiment runs on bioD data")
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
