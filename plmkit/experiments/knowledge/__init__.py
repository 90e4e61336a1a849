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
from .probes import first_token_classes, p_probe, probe_targets, q_probe, unembedding_init  # noqa: F401
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

    A row appears for each measurement the metrics hold. ``single`` failing [3.1 Res. 2] counts beside its
    controls: the same model memorised its biographies, and ``multi5+permute`` extracts. Mixed training at
    60% is a ``gpu`` target only (a 2-layer model on 200 people does not get there).
    """
    rows = []
    aug = metrics.get("augmentations", {})
    if "single" in aug:
        rows.append(targets.at_most("single_at_most_20pct", aug["single"]["qa_test_mean"], 0.20,
                                    "controls: bio_memorised_single, multi5_permute_at_least_70pct"))
    if "multi5+permute" in aug:
        rows.append(targets.at_least("multi5_permute_at_least_70pct", aug["multi5+permute"]["qa_test_mean"], 0.70))
    for name, m in aug.items():
        rows.append(targets.at_least(f"bio_memorised_{name}", m["bio_first_token"]["train_people"], 0.95))
    if "celebrities" in metrics:
        rows.append(targets.at_least("celebrity_gain_at_least_30_points", metrics["celebrities"]["gain_points"], 30))
    if "mixed" in metrics and profile == "gpu":
        rows.append(targets.at_least("mixed_at_least_60pct", metrics["mixed"]["qa_test_mean"], 0.60))
    return rows


def export_checkpoints(run_dir, folder: Optional[Path] = None) -> list[str]:
    """Ship the pretraining runs the lab may load (``settings(ctx).shipped_runs``) from a finished
    ``python -m plmkit reproduce knowledge`` run, as data/checkpoints/knowledge-<profile>."""
    profile = json.loads((Path(run_dir) / "manifest.json").read_text())["profile"]
    ctx = RunContext(profile=profile)
    return export_shipped(run_dir, f"knowledge-{profile}", settings(ctx).shipped_runs,
                          made_by=f"python -m plmkit reproduce knowledge --profile {profile}", folder=folder)
