"""Part 3.2: knowledge manipulation (lab 05, ``python -m plmkit reproduce manipulation``).

The question: a model that can *state* a person's birth month perfectly, can it also *use* it, e.g. say
whether the month is even, or whether one person was born later in the year than another? And can it
search backwards, from the attributes to the name?

* :mod:`.groups`: one pretraining run on two groups, F (name first) and R (name last);
* :mod:`.tasks`: classification (month parity, month in numerics, major luckiness mod 5), comparison (month
  rank) and partial retrieval (birth year), LoRA-fine-tuned on F_train once **without hints** and once
  **with hints** (the hint writes the needed attribute first: a chain of thought) [3.2 Res. 3-5];
* :mod:`.inverse`: inverse search (attributes -> first / full name), one LoRA per group; F_test stays at
  chance, R_test does not [3.2 Res. 7].
"""
from __future__ import annotations

import dataclasses

from .. import targets
from ..common import RunContext, history_summary
from ..shared.bios import bio_accuracy, entry_html, generate_answers, make_model, make_world, qa_accuracy  # noqa: F401
from .groups import ManipulationData, make_data, pretrain  # noqa: F401
from .inverse import (INVERSE_TASKS, binomial_tail, completion_probe, evaluate_inverse,  # noqa: F401
                      finetune_inverse, inverse_train_people, name_completion_accuracy)
from .plots import plot_inverse, plot_tasks, reference  # noqa: F401
from .settings import SETTINGS, ManipulationSettings, settings  # noqa: F401
from .tasks import evaluate_tasks, finetune_tasks, task_examples, training_mix  # noqa: F401


def reproduce(ctx: RunContext) -> dict:
    """All of Part 3.2 for the profile: one pretraining run, the task LoRAs and inverse search."""
    s = settings(ctx)
    world = make_world(ctx)
    ref = reference()
    data = make_data(world, s.n_forward, s.n_reverse, ctx.seed)
    model, history = pretrain(ctx, world, data, s.exposures)
    metrics: dict = {"part": "manipulation", "profile": ctx.profile, "settings": dataclasses.asdict(s),
                     "parameters": model.param_counts(), "pretrain": history_summary(history)}
    forward_entries = data.bio.entries_of([p.pid for p in data.design.forward])
    reverse_entries = data.bio.entries_of([p.pid for p in data.design.reverse])
    metrics["bio_first_token"] = {"forward": bio_accuracy(model, world, forward_entries)["first_token_mean"],
                                  "reverse": bio_accuracy(model, world, reverse_entries)["first_token_mean"]}
    results = {}
    for with_hints in (False, True):
        tuned, ft_history = finetune_tasks(ctx, world, model, data, with_hints)
        key = "with_hint" if with_hints else "without_hint"
        results[key] = evaluate_tasks(ctx, tuned, world, data)
        metrics[f"finetune_{key}"] = history_summary(ft_history)
    metrics["tasks"] = results
    ctx.save_figure(plot_tasks(results["without_hint"], results["with_hint"], ref), "classification_comparison")
    inverse_models, inv_histories = finetune_inverse(ctx, world, model, data)
    metrics["inverse_search"] = evaluate_inverse(inverse_models, world, data)
    metrics["inverse_search"]["completion_probe"] = completion_probe(model, world, data)
    metrics["finetune_inverse"] = {g: history_summary(h) for g, h in inv_histories.items()}
    ctx.save_figure(plot_inverse(metrics["inverse_search"], ref), "inverse_search")
    metrics["targets"] = targets.as_dicts(check_targets(metrics, ctx.profile))
    return metrics


def check_targets(metrics: dict, profile: str) -> list[targets.Target]:
    """The kit's Part 3.2 targets on this run's numbers (every profile); reported, never enforced.

    Each "cannot" row has its control beside it: answering without a hint stays near chance while the same
    LoRA answers with a hint about as well as its extraction predicts [3.2 Res. 3-4]; F_test's inverse
    search at chance beside R_test far above it, from the same pretrained model [3.2 Res. 7].
    """
    rows = []
    without, with_hint = metrics["tasks"]["without_hint"], metrics["tasks"]["with_hint"]
    for task in ("month_mod2", "major_mod5", "month_rank"):
        if task in without:
            row = without[task]
            rows.append(targets.at_most(f"{task}_without_hint_within_10_points_of_chance",
                                        abs(row["accuracy_direct"] - row["chance"]), 0.10,
                                        f"|accuracy - chance|; control: {task}_with_hint row"))
    for task, row in with_hint.items():
        if "hint_accuracy" in row:
            rows.append(targets.at_most(f"{task}_with_hint_within_10_points_of_prediction",
                                        abs(row["accuracy_hint"] - row["predicted_with_hint"]), 0.10,
                                        "|accuracy - prediction from hint accuracy| [3.2 fn 15]"))
    inv = metrics["inverse_search"]
    forward, reverse = inv["forward_test"]["all_to_first"], inv["reverse_test"]["all_to_first"]
    floor = max(forward, inv["chance"]["all_to_first"])  # "far above": ten times F_test, or chance if higher
    p_value = inv["p_value_reverse_above_forward"]
    rows += [
        targets.at_most("forward_test_first_name_at_most_2pct", forward, 0.02,
                        "controls: reverse_test rows, same pretrained model"),
        targets.holds("reverse_test_above_forward_test", reverse > forward, reverse - forward, "> 0",
                      "R_test minus F_test, first name"),
        targets.holds("reverse_test_far_above_forward_test", reverse >= 10 * floor and p_value < 1e-3,
                      reverse / floor, ">= 10 and p < 0.001",
                      f"R_test / max(F_test, chance); binomial p = {p_value:.2g}"),
    ]
    return rows
