"""E1: pretrain on one augmentation, LoRA-fine-tune on P_train's QAs, ask about P_test [3.1 §4, Res. 2-3].

Also the measurement every Part 3.1 run shares (:func:`evaluate_run`): biography memorisation beside QA
extraction, for training and held-out people.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

from ...data import bios
from ...data.bios import Person
from ...model import GPT
from ...train import History
from ..common import RunContext, history_summary
from ..shared.bios import (BioData, BioWorld, bio_accuracy, finetune_qa, make_bio_data, pretrain, qa_accuracy,
                           qa_first_token_accuracy)
from .settings import settings

MEMORISED = 0.95  # BIO first-token accuracy below this on the held-out people marks a run under-trained


@dataclass
class KnowledgeRun:
    """Everything one pretraining run produced: its data, models and measurements."""

    name: str
    data: BioData
    model: GPT
    history: History
    tuned: Optional[GPT] = None
    finetune_history: Optional[History] = None
    metrics: dict = field(default_factory=dict)


def evaluate_run(run: KnowledgeRun, world: BioWorld, test_people: Optional[Sequence[Person]] = None,
                 train_people: Optional[Sequence[Person]] = None) -> dict:
    """BIO memorisation beside QA extraction (P_train and P_test), per attribute and mean."""
    train_people = list(train_people if train_people is not None else run.data.group("train"))
    test_people = list(test_people if test_people is not None else run.data.group("test"))
    bio_train = bio_accuracy(run.model, world, run.data.entries_with_owners(train_people)[0])
    bio_test = bio_accuracy(run.model, world, run.data.entries_with_owners(test_people)[0])
    model = run.tuned if run.tuned is not None else run.model
    qa_test = qa_accuracy(model, world, bios.qa_pairs(test_people))
    qa_train = qa_accuracy(model, world, bios.qa_pairs(train_people))
    first_test = qa_first_token_accuracy(model, world, bios.qa_pairs(test_people))
    metrics = {
        "augmentation": run.data.augmentation,
        "people": len(run.data.people),
        "pretrain": history_summary(run.history),
        "bio_first_token": {"train_people": bio_train["first_token_mean"], "test_people": bio_test["first_token_mean"]},
        "bio_whole": {"train_people": bio_train["whole_mean"], "test_people": bio_test["whole_mean"]},
        "bio_per_attribute_test_people": bio_test["first_token"],
        "qa_test": qa_test.per_task, "qa_test_mean": qa_test.mean,
        "qa_train": qa_train.per_task, "qa_train_mean": qa_train.mean,
        "qa_first_token_test": first_test.per_task, "qa_first_token_test_mean": first_test.mean,
        "under_trained": bio_test["first_token_mean"] < MEMORISED,
    }
    if run.finetune_history is not None:
        metrics["finetune"] = history_summary(run.finetune_history)
    run.metrics.update(metrics)
    return metrics


def run_augmentation(ctx: RunContext, world: BioWorld, augmentation: str, n_people: int, exposures: int,
                     live_plot: bool = False) -> KnowledgeRun:
    """E1 for one augmentation: pretrain, LoRA QA fine-tune on P_train, evaluate on P_test."""
    sizes = settings(ctx).sizes
    data = make_bio_data(world, n_people, augmentation, ctx.seed)
    name = augmentation.replace("+", "_")
    model, history = pretrain(ctx, world, data, exposures, f"pretrain_{name}", sizes, live_plot=live_plot)
    tuned, ft_history = finetune_qa(ctx, world, model, bios.qa_pairs(data.group("train")), f"finetune_{name}", sizes)
    run = KnowledgeRun(data.augmentation, data, model, history, tuned, ft_history)
    evaluate_run(run, world)
    return run
