"""Part 3.1: knowledge storage and extraction (lab 04, ``python -m plmkit reproduce knowledge``).

The question: a model memorised every biography word for word. Can it answer questions about the people?

* E1 (:mod:`.extraction`): pretrain on biographies, then LoRA-fine-tune on the QAs of half of the people
  (P_train) and ask about the other half (P_test). One fixed biography per person (``single``) fails; five
  reworded, shuffled ones (``multi5+permute``) work [3.1 Res. 2-3].
* E2 (:mod:`.mixed`): mixed training (biographies and P_train QAs from the start) works even on ``single``
  [3.1 Res. 1].
* E3 (:mod:`.celebrities`): adding richly written "celebrities" makes the knowledge of poorly written
  "minority" people extractable [3.1 Res. 6].
* E4/E5 (:mod:`.probes`): P-probes (at the positions before each attribute in a biography) and Q-probes
  (from the name alone) show where the knowledge sits [3.1 Res. 4-5].

Every step is a small function the lab calls; :func:`reproduce` runs them all headless.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Optional

import numpy as np

from ...data.bios import ATTRIBUTES
from .. import targets
from ..common import RunContext
from ..shared.bios import (ATTRIBUTE_LABELS, BioData, BioWorld, baselines, bio_accuracy, entry_html,  # noqa: F401
                           export_shipped, finetune_qa, generate_answers, make_bio_data, make_model, make_world,
                           passes_for, pretrain, qa_accuracy, qa_first_token_accuracy)
from .celebrities import make_celebrity_data, run_celebrities  # noqa: F401
from .extraction import KnowledgeRun, evaluate_run, run_augmentation  # noqa: F401
from .mixed import MixedSource, mixed_train, run_mixed  # noqa: F401
from .plots import (plot_attribute_heatmap, plot_augmentations, plot_celebrities, plot_mixed_training,  # noqa: F401
                    plot_p_probes, plot_q_probes, reference)
from .probes import (QueryProbe, first_token_classes, p_probe, probe_seed, probe_targets, q_probe,  # noqa: F401
                     train_query_probes, unembedding_init)
from .settings import SETTINGS, KnowledgeSettings, settings, shipped_group  # noqa: F401


def reproduce(ctx: RunContext) -> dict:
    """All of Part 3.1 for the profile: E1 per augmentation, probes, celebrities, mixed training."""
    s = settings(ctx)
    world = make_world(ctx)
    ref = reference()
    metrics: dict = {"part": "knowledge", "profile": ctx.profile, "settings": dataclasses.asdict(s),
                     "baselines": baselines(world), "vocab_size": world.tokenizer.vocab_size}
    runs = {a: run_augmentation(ctx, world, a, s.n_people, s.exposures) for a in s.augmentations}
    metrics["augmentations"] = {a: r.metrics for a, r in runs.items()}
    metrics["parameters"] = next(iter(runs.values())).model.param_counts()
    ctx.save_figure(plot_augmentations(metrics["augmentations"], world, ref), "qa_by_augmentation")
    ctx.save_figure(plot_attribute_heatmap(metrics["augmentations"], world, ref), "qa_per_attribute")

    p_probes, q_probes = {}, {}
    for name in s.probe_runs:
        p_probes[name] = p_probe(ctx, runs[name].model, world, runs[name].data)
        q_probes[name] = q_probe(ctx, runs[name].model, world, runs[name].data)
    metrics["p_probe"], metrics["q_probe"] = p_probes, q_probes
    ctx.save_figure(plot_p_probes(p_probes, ref), "p_probe")
    ctx.save_figure(plot_q_probes(q_probes, world, ref), "q_probe")
    if s.whole_attribute_probes:
        whole_p = {n: p_probe(ctx, runs[n].model, world, runs[n].data, whole=True) for n in s.probe_runs}
        metrics["p_probe_whole"] = whole_p
        metrics["q_probe_whole"] = {n: q_probe(ctx, runs[n].model, world, runs[n].data, whole=True)
                                    for n in s.probe_runs}
        ctx.save_figure(plot_p_probes(whole_p, ref), "p_probe_whole")
    del runs  # free the E1 models before the next runs

    if s.celebrities:
        metrics["celebrities"] = run_celebrities(ctx, world, s.celebrities)
        ctx.save_figure(plot_celebrities(metrics["celebrities"], ref), "celebrities")
    if s.mixed:
        metrics["mixed"], history = run_mixed(ctx, world, s.mixed)
        ctx.save_figure(plot_mixed_training(history, metrics["mixed"]["qa_test_mean"], ref), "mixed_training")
    metrics["targets"] = targets.as_dicts(check_targets(metrics, ctx.profile))
    return metrics


def check_targets(metrics: dict, profile: str) -> list[targets.Target]:
    """The kit's Part 3.1 targets on this run's numbers; reported, never enforced.

    A row appears for each measurement the metrics hold (the lab passes what it computed; ``reproduce``
    passes everything). ``single`` failing [3.1 Res. 2] counts beside its controls: the same model memorised
    its biographies, and ``multi5+permute`` extracts. Mixed training at 60% is a ``gpu`` target only (a
    2-layer model on 200 people does not get there); at every profile it must at least double ``single``.
    """
    rows = []
    aug = metrics.get("augmentations", {})
    single, multi = aug.get("single"), aug.get("multi5+permute")
    if single:
        rows.append(targets.at_most("single_at_most_20pct", single["qa_test_mean"], 0.20,
                                    "controls: bio_memorised_single, multi5_permute_at_least_70pct"))
        if "qa_test" in single:
            rows.append(_birth_date_best(single["qa_test"]))
    if multi:
        rows.append(targets.at_least("multi5_permute_at_least_70pct", multi["qa_test_mean"], 0.70))
    if single and multi:
        rows.append(targets.at_least("multi5_permute_minus_single_at_least_30_points",
                                     100 * (multi["qa_test_mean"] - single["qa_test_mean"]), 30))
    for name, m in aug.items():
        rows.append(targets.at_least(f"bio_memorised_{name}", m["bio_first_token"]["train_people"], 0.95))
    rows += _p_probe_rows(metrics.get("p_probe", {}))
    rows += _q_probe_rows(metrics.get("q_probe", {}), aug)
    if "celebrities" in metrics:
        rows.append(targets.at_least("celebrity_gain_at_least_30_points", metrics["celebrities"]["gain_points"], 30))
    if "mixed" in metrics:
        mixed = metrics["mixed"]
        if single:
            rows.append(_mixed_doubles_single(mixed["qa_test_mean"], single["qa_test_mean"]))
        if mixed.get("curves"):
            rows.append(_curves_in_paper_order(mixed["curves"]))
        if profile == "gpu":
            rows.append(targets.at_least("mixed_at_least_60pct", mixed["qa_test_mean"], 0.60))
    return rows


def _label(attribute: str) -> str:
    return ATTRIBUTE_LABELS[attribute]


def _birth_date_best(per_attribute: dict) -> targets.Target:
    """[3.1 §4.1]: on ``single`` the birth date, which always follows the name, is the attribute that partly works."""
    others = {a: v for a, v in per_attribute.items() if a != "birth_date"}
    runner_up = max(others, key=others.get)
    return targets.holds("single_birth_date_best_attribute", per_attribute["birth_date"] > others[runner_up],
                         per_attribute["birth_date"], "best of the six",
                         f"runner-up: {_label(runner_up)} {others[runner_up]:.3f}")


def diagonal_gaps(matrix) -> dict:
    """Per attribute (row): its accuracy at its own position (the diagonal; ``single`` writes the attributes
    in the fixed order P1..P6) minus the median of its accuracies at the other five positions."""
    out = {}
    for k, attribute in enumerate(ATTRIBUTES):
        row = list(matrix[k])
        out[attribute] = float(row[k] - np.median(row[:k] + row[k + 1:]))
    return out


def _p_probe_rows(p_probes: dict) -> list[targets.Target]:
    """[3.1 Res. 4, Fig. 5] at small scale: a diagonal for ``single``, a flat map for ``multi5+permute``."""
    rows = []
    single, multi = p_probes.get("single"), p_probes.get("multi5+permute")
    if single:
        gaps = diagonal_gaps(single["matrix"])
        weakest = min(gaps, key=gaps.get)
        rows.append(targets.at_least("p_probe_single_diagonal_at_least_50_points", 100 * gaps[weakest], 50,
                                     f"smallest of the six on-diagonal minus off-diagonal-median gaps: {_label(weakest)}"))
    if multi:
        spread = {a: max(row) - min(row) for a, row in zip(ATTRIBUTES, multi["matrix"])}
        widest = max(spread, key=spread.get)
        rows.append(targets.at_most("p_probe_multi5_permute_flat_within_15_points", 100 * spread[widest], 15,
                                    f"largest spread over P1-P6: {_label(widest)}"))
    if single and multi:
        non_date = [k for k, a in enumerate(ATTRIBUTES) if a != "birth_date"]
        above = sum(multi["matrix"][k][0] > single["matrix"][k][0] for k in non_date)
        rows.append(targets.at_least("p_probe_p1_multi5_permute_above_single_for_4_of_5", above, 4,
                                     "non-date attributes readable at P1 better after multi5+permute"))
    return rows


def _q_probe_rows(q_probes: dict, aug: dict) -> list[targets.Target]:
    """[3.1 Res. 5, Fig. 7] at small scale: every attribute readable from the name after ``multi5+permute``,
    and the Q-probe ranking the runs as QA does."""
    rows = []
    multi = q_probes.get("multi5+permute")
    if multi:
        weakest = min(multi["test"], key=multi["test"].get)
        rows.append(targets.at_least("q_probe_multi5_permute_all_six_at_least_40pct", multi["test"][weakest], 0.40,
                                     f"weakest of the six: {_label(weakest)}"))
    if multi and "single" in q_probes and "single" in aug and "multi5+permute" in aug:
        q_a, q_b = q_probes["single"]["mean"], multi["mean"]
        qa_a, qa_b = aug["single"]["qa_test_mean"], aug["multi5+permute"]["qa_test_mean"]
        rows.append(targets.holds("q_probe_ranks_runs_like_qa", (q_a < q_b) == (qa_a < qa_b) and q_a < q_b,
                                  q_b - q_a, "single < multi5+permute, as in QA",
                                  f"Q-probe means {q_a:.3f} / {q_b:.3f}; QA {qa_a:.3f} / {qa_b:.3f}"))
    return rows


def _mixed_doubles_single(mixed: float, single: float) -> targets.Target:
    if single <= 0:
        return targets.holds("mixed_at_least_2x_single", mixed > 0, None, ">= 2x single", "single scored 0")
    return targets.at_least("mixed_at_least_2x_single", mixed / single, 2.0, "ratio of P_test QA accuracies")


def rise_steps(curves: list, fraction: float = 0.9) -> dict:
    """The first evaluation step at which each learning curve reaches ``fraction`` of its own final value."""
    names = [k for k in curves[-1] if k != "step"]
    return {name: next(e["step"] for e in curves if e[name] >= fraction * curves[-1][name]) for name in names}


def _curves_in_paper_order(curves: list) -> targets.Target:
    """[3.1 Fig. 1]: in mixed training QA on P_train rises first and QA on P_test last."""
    rise = rise_steps(curves)
    bio = (rise["bio_train"], rise["bio_test"])
    ordered = rise["qa_train"] <= min(bio) and rise["qa_test"] >= max(bio)
    return targets.holds("mixed_curves_in_paper_order", ordered, None, "QA in-dist first, QA out-of-dist last",
                         "step reaching 90% of the final value: " + ", ".join(f"{k} {v}" for k, v in rise.items()))


def export_checkpoints(run_dir, folder: Optional[Path] = None) -> list[str]:
    """Ship the pretraining runs the lab may load (``settings(ctx).shipped_runs``) from a finished
    ``python -m plmkit reproduce knowledge`` run, as data/checkpoints/knowledge-<profile>."""
    profile = json.loads((Path(run_dir) / "manifest.json").read_text())["profile"]
    ctx = RunContext(profile=profile)
    return export_shipped(run_dir, f"knowledge-{profile}", settings(ctx).shipped_runs,
                          made_by=f"python -m plmkit reproduce knowledge --profile {profile}", folder=folder)
