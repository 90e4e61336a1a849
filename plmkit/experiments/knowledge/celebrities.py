"""E3: richly written celebrities make a poorly written minority's knowledge extractable [3.1 §6, Res. 6]."""
from __future__ import annotations

from dataclasses import dataclass

from ...data import bios
from ...data.bios import PersonSplit
from ..common import RunContext
from ..shared.bios import SEEDS, BioData, BioWorld, finetune_qa, pretrain, qa_accuracy
from .extraction import KnowledgeRun, evaluate_run
from .settings import CelebritySettings, settings, shipped_group


@dataclass
class CelebrityData:
    """The celebrity run's data (``both``), the minority-alone baseline's data (``alone``) and the QA sets."""

    design: bios.CelebrityDesign
    both: BioData
    alone: BioData
    minority_test: list  # the minority people whose QAs are asked in both runs


def make_celebrity_data(world: BioWorld, n_minority: int, n_celebrities: int, seed: int = 0) -> CelebrityData:
    """Minority in ``single+permute1``, celebrities in ``multi5+permute`` (disjoint names) [3.1 §6].

    Every person gets the same number of exposures: a minority person's one entry is repeated as often
    as a celebrity has entries (the kit's reading of the paper's sampling, which leaves this open).
    The minority is split in half; the celebrity run is tested on the same minority half that the
    minority-alone run holds out, so the two numbers are directly comparable.
    """
    design = bios.celebrity_design(n_minority, n_celebrities, world.pools, seed=1000 * seed + SEEDS["people"])
    minority, celebrities = list(design.minority), list(design.celebrities)
    render_seed = 1000 * seed + SEEDS["render"]
    minority_entries = bios.render_bios(minority, design.minority_augmentation, world.templates, seed=render_seed)
    celebrity_entries = bios.render_bios(celebrities, design.celebrity_augmentation, world.templates,
                                         seed=render_seed + 1)
    copies = bios.parse_augmentation(design.celebrity_augmentation).copies
    minority_split = bios.split_people(minority, seed=1000 * seed + SEEDS["split"])
    celebrity_split = PersonSplit(train=design.qa_train, test=design.celebrity_test)
    both = BioData(minority + celebrities, minority_entries + celebrity_entries, celebrity_split,
                   f"{design.minority_augmentation} + CEL {design.celebrity_augmentation}",
                   [copies] * len(minority) + [1] * len(celebrities))
    alone = BioData(minority, minority_entries, minority_split, design.minority_augmentation, [1] * len(minority))
    return CelebrityData(design, both, alone, minority_split.select(minority, "test"))


def run_celebrities(ctx: RunContext, world: BioWorld, celebrities: CelebritySettings, shipped: bool = False) -> dict:
    """E3: pretrain minority + celebrities, fine-tune on celebrity QAs, test on the minority; and the
    minority-alone baseline (pretrained alone, fine-tuned on half of the minority). ``shipped``: load the
    two pretraining runs from the kit's checkpoints when they match (the fine-tuning always runs)."""
    sizes, exposures = settings(ctx).sizes, celebrities.exposures

    def pretrained(data: BioData, name: str):
        return pretrain(ctx, world, data, exposures, name, sizes,
                        shipped_group=shipped_group(ctx, name) if shipped else None)

    cel = make_celebrity_data(world, celebrities.n_minority, celebrities.n_celebrities, ctx.seed)
    model, history = pretrained(cel.both, "pretrain_celebrities")
    celebrity_train = cel.both.split.select(cel.both.people, "train")
    tuned, ft_history = finetune_qa(ctx, world, model, bios.qa_pairs(celebrity_train), "finetune_celebrities", sizes)
    with_cel = KnowledgeRun("with celebrities", cel.both, model, history, tuned, ft_history)
    evaluate_run(with_cel, world, test_people=cel.minority_test)
    held_out = qa_accuracy(tuned, world, bios.qa_pairs(cel.both.split.select(cel.both.people, "test")))
    alone = KnowledgeRun("minority alone", cel.alone, *pretrained(cel.alone, "pretrain_minority"))
    alone.tuned, alone.finetune_history = finetune_qa(ctx, world, alone.model, bios.qa_pairs(cel.alone.group("train")),
                                                      "finetune_minority", sizes)
    evaluate_run(alone, world, test_people=cel.minority_test)
    return {
        "minority_alone": alone.metrics["qa_test_mean"],
        "minority_with_celebrities": with_cel.metrics["qa_test_mean"],
        "celebrities_held_out": held_out.mean,
        "gain_points": 100 * (with_cel.metrics["qa_test_mean"] - alone.metrics["qa_test_mean"]),
        "minority_alone_detail": alone.metrics, "with_celebrities_detail": with_cel.metrics,
        "celebrities_held_out_per_attribute": held_out.per_task,
        "exposures_per_person": exposures,
        "people": {"minority": celebrities.n_minority, "celebrities": celebrities.n_celebrities,
                   "minority_test": len(cel.minority_test), "celebrity_qa_train": len(cel.design.qa_train)},
    }
