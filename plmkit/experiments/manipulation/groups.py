"""The F and R groups, pretrained together in one run.

One pretraining run serves every Part 3.2 task: two disjoint groups of people are trained together,

* F ("forward"), biographies in ``multi5+permute``: the name comes first, then the facts;
* R ("reversed"), in ``multi5+permute+reverse6``: "The person ..." and the name only at the end [3.2 §5].

The paper trains one model per dataset; one run for both keeps the cpu budget, and nothing in R's text links
an F person's facts to their name, so F's inverse search stays a genuine test.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ...data import bios
from ...model import GPT
from ...train import History
from ..common import RunContext
from ..shared.bios import SEEDS as FAMILY_SEEDS
from ..shared.bios import BioData, BioWorld
from ..shared.bios import export_shipped
from ..shared.bios import pretrain as pretrain_bios
from .settings import settings

SEEDS = dict(design=10, examples=11, test=12)  # disjoint from the family's streams (0-5)
PRETRAIN_RUN = "pretrain_f_and_r"
# Profiles whose pretraining run ships as data/checkpoints/manipulation-<profile> (made by ``python -m plmkit
# reproduce manipulation``, exported with :func:`export_checkpoints`): the lab loads it when it is exactly the
# run asked for, which keeps the cpu lab within its budget; ``ci`` trains for seconds, ``gpu`` trains live.
SHIPPED_PROFILES = ("cpu",)


@dataclass
class ManipulationData:
    design: bios.InverseSearchDesign
    bio: BioData  # both groups' biographies; its split is F's

    def forward(self, part: str) -> list:
        return self.design.forward_split.select(self.design.forward, part)

    def reverse(self, part: str) -> list:
        return self.design.reverse_split.select(self.design.reverse, part)


def make_data(world: BioWorld, n_forward: int, n_reverse: int, seed: int = 0) -> ManipulationData:
    """F in multi5+permute and R in multi5+permute+reverse6, drawn as one population (unique names)."""
    design = bios.inverse_search_design(n_forward, n_reverse, world.pools, seed=1000 * seed + SEEDS["design"])
    render_seed = 1000 * seed + FAMILY_SEEDS["render"]
    forward_entries = bios.render_bios(design.forward, design.forward_augmentation, world.templates, seed=render_seed)
    reverse_entries = bios.render_bios(design.reverse, design.reverse_augmentation, world.templates,
                                       seed=render_seed + 1)
    people = list(design.forward) + list(design.reverse)
    bio = BioData(people, forward_entries + reverse_entries, design.forward_split,
                  f"F {design.forward_augmentation} + R {design.reverse_augmentation}", [1] * len(people))
    return ManipulationData(design, bio)


def shipped_group(ctx: RunContext) -> Optional[str]:
    return f"manipulation-{ctx.profile}" if ctx.profile in SHIPPED_PROFILES else None


def pretrain(ctx: RunContext, world: BioWorld, data: ManipulationData, exposures: int,
             live_plot: bool = False, shipped: bool = True) -> tuple[GPT, History]:
    """Both groups' biographies shuffled together; every person gets ``exposures`` exposures. With
    ``shipped`` (default), load the profile's shipped run instead when it is exactly this run."""
    return pretrain_bios(ctx, world, data.bio, exposures, PRETRAIN_RUN, settings(ctx).sizes, live_plot=live_plot,
                         shipped_group=shipped_group(ctx) if shipped else None)


def export_checkpoints(run_dir, folder: Optional[Path] = None) -> list[str]:
    """Ship the pretraining run of a finished ``python -m plmkit reproduce manipulation`` run as
    data/checkpoints/manipulation-<profile> (or under ``folder``)."""
    profile = json.loads((Path(run_dir) / "manifest.json").read_text())["profile"]
    return export_shipped(run_dir, f"manipulation-{profile}", [PRETRAIN_RUN],
                          made_by=f"python -m plmkit reproduce manipulation --profile {profile}", folder=folder)
