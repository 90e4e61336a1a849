"""The F and R groups, pretrained together in one run.

One pretraining run serves every Part 3.2 task: two disjoint groups of people are trained together,

* F ("forward"), biographies in ``multi5+permute``: the name comes first, then the facts;
* R ("reversed"), in ``multi5+permute+reverse6``: "The person ..." and the name only at the end [3.2 §5].

The paper trains one model per dataset; one run for both keeps the cpu budget, and nothing in R's text links
an F person's facts to their name, so F's inverse search stays a genuine test.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...data import bios
from ...model import GPT
from ...train import History
from ..common import RunContext
from ..shared.bios import SEEDS as FAMILY_SEEDS
from ..shared.bios import BioData, BioWorld
from ..shared.bios import pretrain as pretrain_bios
from .settings import settings

SEEDS = dict(design=10, examples=11, test=12)  # disjoint from the family's streams (0-5)


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


def pretrain(ctx: RunContext, world: BioWorld, data: ManipulationData, exposures: int,
             live_plot: bool = False) -> tuple[GPT, History]:
    """Both groups' biographies shuffled together; every person gets ``exposures`` exposures."""
    return pretrain_bios(ctx, world, data.bio, exposures, "pretrain_f_and_r", settings(ctx).sizes,
                         live_plot=live_plot)
