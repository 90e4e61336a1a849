"""Inverse search: from the attributes to the name [3.2 §5, Res. 7].

One LoRA per group on its training people's inverse questions, tested on the group's held-out people: F_test
stays at chance, R_test does not. A completion probe on the pretrained model (no fine-tuning) shows why: the
facts -> name link is stored for R people only.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from ...data import bios
from ...data.bios import QAPair
from ...model import GPT
from ..common import RunContext
from ..shared.bios import BioWorld, finetune_qa, qa_accuracy
from .groups import ManipulationData
from .settings import settings

INVERSE_TASKS = ("all_to_first", "all_to_full")


def inverse_examples(people: Sequence, tasks: Sequence[str] = INVERSE_TASKS) -> list[QAPair]:
    return [qa for task in tasks for qa in bios.person_examples(task, people)]


def inverse_train_people(data: ManipulationData) -> dict[str, list]:
    """Per group, the people whose inverse questions are trained: all of R_train and as many of F_train.

    Equal groups keep the comparison fair: both groups' LoRAs learn the question format from as many people."""
    reverse = data.reverse("train")
    return {"forward": data.forward("train")[:len(reverse)], "reverse": reverse}


def finetune_inverse(ctx: RunContext, world: BioWorld, model: GPT, data: ManipulationData) -> tuple[dict, dict]:
    """One LoRA per group on its training people's inverse questions, from the same pretrained model.

    Returns ({group: tuned model}, {group: history}). Separate runs, as the paper trains one model per
    dataset [3.2 Fig. 6]: one LoRA on both groups can fit the forward people's questions only by memorising
    their names, and that memorising crowds out the reversed group's retrieval.
    """
    sizes = settings(ctx).inverse
    models, histories = {}, {}
    for group, people in inverse_train_people(data).items():
        train = inverse_examples(people)
        bios.check_no_test_leak(train, data.forward("test") + data.reverse("test"))
        models[group], histories[group] = finetune_qa(ctx, world, model, train, f"inverse_search_{group}", sizes)
    return models, histories


def evaluate_inverse(models: dict, world: BioWorld, data: ManipulationData) -> dict:
    """Accuracy of each inverse task for F_train, F_test (the forward LoRA), R_train, R_test (the reversed
    one), with chance levels and a one-sided binomial p-value for R_test > F_test."""
    out = {}
    trained = inverse_train_people(data)
    for group, pick_group in (("forward", data.forward), ("reverse", data.reverse)):
        for part in ("train", "test"):
            people = trained[group] if part == "train" else pick_group(part)
            score = qa_accuracy(models[group], world, inverse_examples(people))
            out[f"{group}_{part}"] = score.per_task
    n_test = len(data.forward("test"))
    out["chance"] = {"all_to_first": bios.majority_baseline("all_to_first", world.pools),
                     "all_to_full": bios.majority_baseline("all_to_full", world.pools, n_candidates=n_test)}
    f_first = out["forward_test"]["all_to_first"]
    r_first = out["reverse_test"]["all_to_first"]
    n_reverse = len(data.reverse("test"))
    out["p_value_reverse_above_forward"] = binomial_tail(round(r_first * n_reverse), n_reverse,
                                                         max(f_first, out["chance"]["all_to_first"]))
    return out


@torch.no_grad()
def name_completion_accuracy(model: GPT, world: BioWorld, people: Sequence) -> float:
    """Share of people whose first name the model predicts right after
    ``The person studied ... . The person 's name is`` (:func:`bios.inverse_statement`), no fine-tuning.

    Asks whether the facts -> name link is stored at all, in the pretraining text's own sentence shape.
    """
    model.eval()
    hits = 0
    for person in people:
        ids = [world.eos, *world.tokenizer.encode(bios.inverse_statement(person))]
        logits = model(torch.as_tensor([ids], device=model.device)).logits[0, -1]
        hits += int(logits.argmax().item() == world.tokenizer.encode(person.first)[0])
    return hits / max(1, len(people))


def completion_probe(model: GPT, world: BioWorld, data: ManipulationData) -> dict:
    """:func:`name_completion_accuracy` of the pretrained model for F_test and R_test people."""
    return {"forward_test": name_completion_accuracy(model, world, data.forward("test")),
            "reverse_test": name_completion_accuracy(model, world, data.reverse("test"))}


def binomial_tail(successes: int, trials: int, p: float) -> float:
    """P[X >= successes] for X ~ Binomial(trials, p): how surprising the reversed group's hits are if
    it were no better than the forward group."""
    p = min(max(p, 1e-12), 1 - 1e-12)
    return float(sum(math.comb(trials, k) * p ** k * (1 - p) ** (trials - k) for k in range(successes, trials + 1)))
