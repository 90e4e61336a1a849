"""What each profile runs in Part 3.1. The measurements behind the cpu choices: docs/notes/part3_tuning.md."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..common import RunContext
from ..shared.bios import BIO_SIZES, BioSizes


@dataclass(frozen=True)
class MixedSettings:
    """E2, mixed training [3.1 §2.1, App. C]: biography exposures per person, the share of QA windows
    (the paper's QA_r = 0.8) and how often the four learning curves are measured (in steps)."""

    n_people: int
    bio_exposures: int
    qa_ratio: float
    eval_every: int


@dataclass(frozen=True)
class CelebritySettings:
    """E3, celebrities helping a minority [3.1 §6]: group sizes and exposures per person."""

    n_minority: int
    n_celebrities: int
    exposures: int


@dataclass(frozen=True)
class KnowledgeSettings:
    sizes: BioSizes
    n_people: int
    exposures: int  # occurrences of a person's biography in pretraining, not passes
    augmentations: tuple  # E1: one pretraining run per augmentation [3.1 §4]
    probe_runs: tuple  # the E1 runs that are P- and Q-probed [3.1 §5]
    whole_attribute_probes: bool  # also probe whole values, not only their first token
    probe_steps: int  # P-probe head: steps and batch on cached features
    probe_batch: int
    qprobe_steps: int  # Q-probe: steps, batch, and the learning rate of the <q> vectors (heads: 1e-3). At 1e-3
    # the <q> vectors had not moved far enough after 300 steps (cpu run B: mean 27% vs 99% at 1e-2); batch 50
    # reads the same as 150 on cpu runs A and B at a third of the cost
    qprobe_batch: int
    qprobe_query_lr: float
    mixed: Optional[MixedSettings]
    celebrities: Optional[CelebritySettings]
    shipped_runs: tuple = ()  # pretraining runs the lab may load from data/checkpoints/knowledge-<profile>


SETTINGS = {
    "ci": KnowledgeSettings(
        sizes=BIO_SIZES["ci"], n_people=40, exposures=30, augmentations=("single", "multi5+permute"),
        probe_runs=("single", "multi5+permute"), whole_attribute_probes=False,
        probe_steps=20, probe_batch=64, qprobe_steps=20, qprobe_batch=32, qprobe_query_lr=1e-2,
        mixed=MixedSettings(n_people=40, bio_exposures=30, qa_ratio=0.8, eval_every=20),
        celebrities=CelebritySettings(n_minority=20, n_celebrities=20, exposures=30)),
    "cpu": KnowledgeSettings(
        sizes=BIO_SIZES["cpu"], n_people=300, exposures=150, augmentations=("single", "multi5+permute"),
        probe_runs=("single", "multi5+permute"), whole_attribute_probes=False,
        probe_steps=400, probe_batch=256, qprobe_steps=300, qprobe_batch=50, qprobe_query_lr=1e-2,
        mixed=MixedSettings(n_people=200, bio_exposures=50, qa_ratio=0.8, eval_every=200),
        # Four celebrities per minority person: fewer gave a smaller gain, more people overloaded the small model.
        celebrities=CelebritySettings(n_minority=100, n_celebrities=400, exposures=150),
        shipped_runs=("pretrain_celebrities", "pretrain_minority", "mixed_single")),
    "gpu": KnowledgeSettings(
        sizes=BIO_SIZES["gpu"], n_people=2000, exposures=200,
        augmentations=("single", "single+permute1", "single+permute5", "multi5", "multi5+permute",
                       "multi5+permute+fullname"),
        probe_runs=("single", "multi5", "single+permute5", "multi5+permute"), whole_attribute_probes=True,
        probe_steps=3000, probe_batch=256, qprobe_steps=3000, qprobe_batch=200, qprobe_query_lr=1e-2,
        mixed=MixedSettings(n_people=2000, bio_exposures=60, qa_ratio=0.8, eval_every=500),
        celebrities=CelebritySettings(n_minority=2000, n_celebrities=2000, exposures=200)),
}


def settings(ctx: RunContext) -> KnowledgeSettings:
    return ctx.pick(SETTINGS)


def shipped_group(ctx: RunContext, name: str) -> Optional[str]:
    """The group of shipped checkpoints that may hold pretraining run ``name`` for this profile, or None."""
    return f"knowledge-{ctx.profile}" if name in settings(ctx).shipped_runs else None
