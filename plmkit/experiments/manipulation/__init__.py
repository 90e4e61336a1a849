"""Part 3.2: knowledge manipulation (lab 05, ``python -m plmkit reproduce manipulation``).

The question: a model that can *state* a person's birth month perfectly, can it also *use* it, e.g. say
whether the month is even, or whether one person was born later in the year than another? And can it
search backwards, from the attributes to the name?

* :mod:`.groups`: one pretraining run on two groups, F (name first) and R (name last);
* :mod:`.tasks`: classification (month parity, month in numerics, major luckiness mod 5), comparison (month
  rank) and partial retrieval (birth year), LoRA-fine-tuned on F_train once **without hints** and once
  **with hints** (the hint writes the needed attribute first: a chain of thought) [3.2 Res. 3-5]; the
  positive control is plain retrieval of the same facts by the same LoRA;
* :mod:`.inverse`: inverse search (attributes -> first / full name), one LoRA per group; F_test stays at
  chance, R_test does not [3.2 Res. 7].
"""
from __future__ import annotations

import dataclasses

from .. import targets
from ...data import bios
from ..common import RunContext, history_summary
from ..shared.bios import bio_accuracy, entry_html, generate_answers, make_model, make_world, qa_accuracy  # noqa: F401
from .groups import ManipulationData, make_data, pretrain  # noqa: F401
from .inverse import (INVERSE_TASKS, binomial_tail, completion_probe, evaluate_inverse,  # noqa: F401
                      finetune_inverse, inverse_train_people, name_completion_accuracy)
from .plots import plot_inverse, plot_tasks, reference  # noqa: F401
from .settings import SETTINGS, ManipulationSettings, settings  # noqa: F401
from .tasks import (RETRIEVAL_ATTRIBUTES, evaluate_retrieval, evaluate_tasks, finetune_tasks,  # noqa: F401
                    hint_scores, task_examples, training_mix)


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
    results, retrieval = {}, {}
    for with_hints in (False, True):
        tuned, ft_history = finetune_tasks(ctx, world, model, data, with_hints)
        key = "with_hint" if with_hints else "without_hint"
        results[key] = evaluate_tasks(ctx, tuned, world, data)
        retrieval[key] = evaluate_retrieval(tuned, world, data)
        metrics[f"finetune_{key}"] = history_summary(ft_history)
    metrics["tasks"], metrics["retrieval"] = results, retrieval
    ctx.save_figure(plot_tasks(results["without_hint"], results["with_hint"], ref, retrieval),
                    "classification_comparison")
    inverse_models, inv_histories = finetune_inverse(ctx, world, model, data)
    metrics["inverse_search"] = evaluate_inverse(inverse_models, world, data)
    metrics["inverse_search"]["completion_probe"] = completion_probe(model, world, data)
    metrics["finetune_inverse"] = {g: history_summary(h) for g, h in inv_histories.items()}
    ctx.save_figure(plot_inverse(metrics["inverse_search"], ref), "inverse_search")
    metrics["targets"] = targets.as_dicts(check_targets(metrics, ctx.profile))
    return metrics


CONTROL_OF = {"month_mod2": "birth_month", "month_mod12": "birth_month", "month_rank": "birth_month",
              "major_mod5": "major"}  # the plain-retrieval fact each task reads
GAP = 0.10  # "within 10 points": room for the run-to-run spread of a few hundred test people


def check_targets(metrics: dict, profile: str) -> list[targets.Target]:
    """The kit's Part 3.2 targets on this run's numbers (every profile); reported, never enforced.

    Each "cannot" row has its control beside it, from the same model and the same fine-tuning run: the LoRA
    trained without hints retrieves the month and the major a task needs when asked plainly (positive
    control rows ``*_retrieved_directly``) while the task that *uses* them stays near chance; F_test's
    inverse search at chance beside R_test far above it [3.2 Res. 3-4, Res. 7]. A key missing from
    ``metrics`` gives "not measured" rows.
    """
    return [_with_reason(row, metrics) for row in _target_rows(metrics, profile)]


def _with_reason(row: targets.Target, metrics: dict) -> targets.Target:
    """A missed row gets the likely reason in its note, from this run's own numbers where there is one."""
    if row.met is not False:
        return row
    name, reason = row.name, ""
    task = name.split("_with_hint")[0].split("_hint_")[0]
    hinted = metrics.get("tasks", {}).get("with_hint", {}).get(task, {})
    if name.endswith("_with_hint_within_10_points_of_prediction"):
        after = hinted.get("accuracy_after_right_hint", float("nan"))
        if after != after:  # not measured (NaN)
            reason = "the with-hint accuracy is off its prediction (accuracy after a right hint not measured)"
        elif after < 0.9:
            reason = (f"measured cause: after a right hint the answer is right {after:.0%} of the time, the "
                      "prediction assumes 100%: the LoRA has not learned the hint -> answer lookup for every value")
        else:
            reason = (f"measured: after a right hint the answer is right {after:.0%} of the time, so the wrong hints "
                      "are not answered at chance level")
    elif name.endswith("_retrieved_directly_at_least_3x_chance"):
        reason = "so the 'cannot' rows that name this control have no working control in this run"
    elif name == "month_mod12_direct_at_least_3x_chance":
        reason = ("likely cause: the mapping of 12 month words to 12 numbers is not learned directly by one multi-task "
                  "LoRA on a few hundred people (the paper: one LoRA per task on 2.5K-50K people); compare the "
                  "month_mod12 with-hint rows")
    elif name.endswith("_hint_prediction_at_least_10_points_above_chance"):
        reason = "both hints must be right, and each is right only as often as this scale's extraction allows"
    elif name.endswith("_without_hint_within_10_points_of_chance"):
        reason = "the task is answered directly above chance in this run"
    elif name.endswith("_within_10_points_of_no_hint_run"):
        reason = "hints in training changed the direct answers in this run"
    elif name == "forward_bios_memorised_at_least_95pct":
        reason = "the facts were not memorised, so no extraction failure here means anything"
    if reason:
        return targets.Target(row.name, row.measured, row.threshold, row.met, f"{row.note}; missed, {reason}")
    return row


def _target_rows(metrics: dict, profile: str) -> list[targets.Target]:
    rows = []
    tasks = metrics.get("tasks", {})
    without, with_hint = tasks.get("without_hint", {}), tasks.get("with_hint", {})
    control = metrics.get("retrieval", {}).get("without_hint", {})

    def note_control(task: str) -> str:
        fact = CONTROL_OF.get(task)
        return f"control: {fact}_retrieved_directly (same LoRA)" if fact else ""

    # Positive controls: plain retrieval by the LoRA trained without hints (same model, same budget).
    for fact in ("birth_month", "major"):
        got = control.get(fact)
        rows.append(targets.at_least(f"{fact}_retrieved_directly_at_least_3x_chance",
                                     None if got is None else got["accuracy"] / got["chance"], 3.0,
                                     "accuracy / chance; positive control, trained without hints" +
                                     ("" if got is None else f" ({got['accuracy']:.1%} vs {got['chance']:.1%})")))
    bio = metrics.get("bio_first_token", {}).get("forward")
    rows.append(targets.at_least("forward_bios_memorised_at_least_95pct", bio, 0.95,
                                 "BIO first-token accuracy of F's training text: the facts were stored"))
    # Without hints: near chance (the paper needed 10K samples for 75% parity), except the rephrasing.
    for task in ("month_mod2", "major_mod5", "month_rank"):
        row = without.get(task)
        rows.append(targets.at_most(f"{task}_without_hint_within_10_points_of_chance",
                                    None if row is None else abs(row["accuracy_direct"] - row["chance"]), GAP,
                                    "|accuracy - chance|; " + note_control(task)))
    row = without.get("month_mod12")
    rows.append(targets.at_least("month_mod12_direct_at_least_3x_chance",
                                 None if row is None else row["accuracy_direct"] / row["chance"], 3.0,
                                 "accuracy / chance: the month in numerics only rephrases a stored fact [3.2 Fig. 11]"))
    # With hints: about what the hint accuracy predicts; hints in training do not help direct answers.
    for task, row in with_hint.items():
        if "hint_accuracy" not in row:
            continue
        margin = row["predicted_with_hint"] - row["chance"]
        note = "|accuracy - prediction from hint accuracy| [3.2 fn 15]"
        if margin < GAP:
            note += f"; prediction only {margin:.1%} above chance: this row cannot tell hints from guessing"
        rows.append(targets.at_most(f"{task}_with_hint_within_10_points_of_prediction",
                                    abs(row["accuracy_hint"] - row["predicted_with_hint"]), GAP, note))
        if bios.get_task(task).arity == 2:
            rows.append(targets.at_least(f"{task}_hint_prediction_at_least_10_points_above_chance", margin, GAP,
                                         "else the with-hint row of this pair task is no evidence (both hints "
                                         "must be right)"))
        if task in without:
            rows.append(targets.at_most(f"{task}_hint_trained_without_hint_within_10_points_of_no_hint_run",
                                        abs(row["accuracy_direct"] - without[task]["accuracy_direct"]), GAP,
                                        "|hint-trained asked directly - trained without hints| [3.2 Res. 4]"))
    if profile == "gpu":  # planned at gpu scale, not run by this profile's settings yet
        rows += [targets.holds("parity_without_hint_rises_with_p_train", None, note="needs per-task LoRAs over "
                               "|P_train| in {1K, 2.5K, 5K}; not run"),
                 targets.holds("dual_retrieval_company_city_first_below_company_first", None,
                               note="needs its own multi5+fullname pretraining run; not run")]
    inv = metrics.get("inverse_search")
    if inv is None:
        return rows + [targets.holds("inverse_search", None, note="not run")]
    forward, reverse = inv["forward_test"]["all_to_first"], inv["reverse_test"]["all_to_first"]
    floor = max(forward, inv["chance"]["all_to_first"])  # "far above": ten times F_test, or chance if higher
    p_value = inv["p_value_reverse_above_forward"]
    train = inv.get("forward_train", {})
    rows += [
        targets.at_least("forward_train_inverse_at_100pct", min(train.values()) if train else None, 1.0,
                         "F_train, first and full name: the fine-tuning data itself is learned"),
        targets.at_most("forward_test_first_name_at_most_2pct", forward, 0.02,
                        "controls: forward_train row, reverse_test rows, same pretrained model"),
        targets.at_most("forward_test_full_name_zero", inv["forward_test"].get("all_to_full"), 0.0),
        targets.holds("reverse_test_above_forward_test", reverse > forward, reverse - forward, "> 0",
                      f"R_test minus F_test, first name; one-sided binomial p = {p_value:.2g}"),
        targets.holds("reverse_test_far_above_forward_test", reverse >= 10 * floor and p_value < 1e-3,
                      reverse / floor, ">= 10 and p < 0.001",
                      f"R_test / max(F_test, chance); binomial p = {p_value:.2g}"),
    ]
    return rows
