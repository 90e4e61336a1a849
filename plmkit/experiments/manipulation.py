"""Part 3.2: knowledge manipulation (lab 05, ``python -m plmkit reproduce manipulation``).

The question: a model that can *state* a person's birth month perfectly, can it also *use* it, e.g. say
whether the month is even, or whether one person was born later in the year than another? And can it
search backwards, from the attributes to the name?

One pretraining run serves every task (spec 4.7): two disjoint groups of people are trained together,

* F ("forward"), biographies in ``multi5+permute``: the name comes first, then the facts;
* R ("reversed"), in ``multi5+permute+reverse6``: "The person ..." and the name only at the end.

Then LoRA fine-tuning on F_train people, tested on F_test people:

* classification (month parity, month in numerics, major luckiness mod 5), comparison (month rank) and
  partial retrieval (birth year), once **without hints** and once **with hints** (p = 0.5, the hint
  writes the needed attribute first: a chain of thought) [3.2 Res. 3-5];
* inverse search (attributes -> first / full name), one LoRA per group; F_test stays at chance, R_test
  does not [3.2 Res. 7]. A completion probe on the pretrained model (no fine-tuning) shows why: the
  facts -> name link is stored for R people only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from ..data import bios
from ..data.bios import QAPair
from ..profiles import pick
from . import knowledge as K
from .common import RunContext

# Model and optimiser sizes: Part 3.1's, with a context that fits two reverse6 entries (about 54 tokens).
# cpu choices, from trials on saved pretrained models (see finetune_tasks and finetune_inverse): 300 F_train people,
# the extraction questions mixed in and task lr 3e-3 stopped the task LoRA memorising its people (with 75 F_train
# people and lr 1e-3 its hints were right far less often for F_test than for F_train); inverse search keeps Part
# 3.1's lr 1e-3 (2e-3 and 3e-3 did not help) with the paper's embedding rank 128 for it (R_test 45% vs 41% at 64).
# The task trials predate the evaluation prompts' leading <eos> (bios.encode_prompt), which raised every QA
# accuracy; measured since, in the lab 05 build (seed 0): all four with-hint accuracies within 8 points of their
# prediction, R_test 45%.
SIZE_OVERRIDES = {
    "ci": dict(context=64, ft_context=64, ft_batch=16, ft_steps=60, inverse_steps=60, inverse_lr=3e-3, lora_rank=4,
               lora_emb_rank=16, inverse_emb_rank=16),
    "cpu": dict(context=128, ft_context=96, ft_batch=16, ft_steps=800, ft_lr=3e-3, inverse_steps=1000, inverse_lr=1e-3,
                lora_rank=16, lora_emb_rank=64, inverse_emb_rank=128),
    "gpu": dict(context=512, ft_context=128, ft_batch=48, ft_steps=5000, inverse_steps=5000, inverse_lr=1e-3,
                lora_rank=16, lora_emb_rank=128, inverse_emb_rank=128),
}

EXPERIMENTS = {
    "ci": dict(n_forward=40, n_reverse=40, exposures=30, train_pairs=200, test_pairs=100, extraction_copies=2,
               tasks=("month_mod2", "month_mod12", "major_mod5", "month_rank", "birth_year")),
    "cpu": dict(n_forward=600, n_reverse=150, exposures=150, train_pairs=2000, test_pairs=1000, extraction_copies=2,
                tasks=("month_mod2", "month_mod12", "major_mod5", "month_rank", "birth_year")),
    "gpu": dict(n_forward=2000, n_reverse=1000, exposures=300, train_pairs=20000, test_pairs=2000, extraction_copies=2,
                tasks=("month_mod2", "month_mod6", "month_mod12", "major_mod5", "major_mod20", "major_mod100",
                       "month_rank", "month_sub", "birth_year", "birth_day")),
}
INVERSE_TASKS = ("all_to_first", "all_to_full")
HINT_PROBABILITY = 0.5  # "train with hint": half of the examples carry the hint [3.2 §4]
SEEDS = dict(design=10, examples=11, test=12)


def settings(profile: str | None = None) -> dict:
    s = K.settings(profile)
    s.update(pick(SIZE_OVERRIDES, profile))
    return s


def experiments(profile: str | None = None) -> dict:
    return dict(pick(EXPERIMENTS, profile))


# ----------------------------------------------------------------------------------------------
# Data: the F and R groups in one pretraining run
# ----------------------------------------------------------------------------------------------
@dataclass
class ManipulationData:
    design: bios.InverseSearchDesign
    bio: K.BioData  # both groups' biographies; its split is F's

    def forward(self, part: str) -> list:
        return self.design.forward_split.select(self.design.forward, part)

    def reverse(self, part: str) -> list:
        return self.design.reverse_split.select(self.design.reverse, part)


def make_data(world: K.BioWorld, n_forward: int, n_reverse: int, seed: int = 0) -> ManipulationData:
    """F in multi5+permute and R in multi5+permute+reverse6, drawn as one population (unique names)."""
    design = bios.inverse_search_design(n_forward, n_reverse, world.pools, seed=1000 * seed + SEEDS["design"])
    render_seed = 1000 * seed + K.SEEDS["render"]
    forward_entries = bios.render_bios(design.forward, design.forward_augmentation, world.templates, seed=render_seed)
    reverse_entries = bios.render_bios(design.reverse, design.reverse_augmentation, world.templates,
                                       seed=render_seed + 1)
    people = list(design.forward) + list(design.reverse)
    bio = K.BioData(people, forward_entries + reverse_entries, design.forward_split,
                    f"F {design.forward_augmentation} + R {design.reverse_augmentation}", [1] * len(people))
    return ManipulationData(design, bio)


def pretrain(ctx: RunContext, world: K.BioWorld, data: ManipulationData, exposures: int, live_plot: bool = False):
    return K.pretrain(ctx, world, data.bio, exposures, "pretrain_f_and_r", live_plot=live_plot,
                      sizes=settings(ctx.profile))


# ----------------------------------------------------------------------------------------------
# Classification, comparison and partial retrieval, without and with hints
# ----------------------------------------------------------------------------------------------
def task_examples(task: str, people: Sequence, *, n_pairs: int, seed: int, mode: Optional[str] = None,
                  hint_prob: float = 0.0) -> list[QAPair]:
    """Examples of one task: one per person, or ``n_pairs`` ordered pairs for comparison tasks."""
    spec = bios.get_task(task)
    has_modes = spec.hint is not None
    kwargs = dict(seed=seed, mode=mode if has_modes else None, hint_prob=hint_prob if has_modes else 0.0)
    if spec.arity == 2:
        n = min(n_pairs, bios.count_valid_pairs(task, people))
        return bios.pair_examples(task, people, n, **kwargs)
    return bios.person_examples(task, people, **kwargs)


def training_mix(tasks: Sequence[str], people: Sequence, n_pairs: int, hint_prob: float, seed: int,
                 extraction_copies: int = 0) -> list[QAPair]:
    """The multi-task training set: every task on F_train, each example with a hint with prob. ``hint_prob``.

    Single-person tasks are drawn several times (each draw picks the hint modes anew) so that each task
    has about as many examples as a comparison task; otherwise the many pairs would drown the few people.
    ``extraction_copies``: copies of the same people's six plain extraction questions to mix in (kit
    choice, see :func:`finetune_tasks`).
    """
    mix = list(bios.qa_pairs(people)) * extraction_copies
    for i, task in enumerate(tasks):
        if bios.get_task(task).arity == 2:
            mix += task_examples(task, people, n_pairs=n_pairs, seed=seed + i, hint_prob=hint_prob)
            continue
        for r in range(max(1, n_pairs // max(1, len(people)))):
            mix += task_examples(task, people, n_pairs=0, seed=seed + 97 * (r + 1) + i, hint_prob=hint_prob)
    return mix


def finetune_tasks(ctx: RunContext, world: K.BioWorld, model, data: ManipulationData, with_hints: bool,
                   tasks: Optional[Sequence[str]] = None):
    """One multi-task LoRA run on F_train ("train w/o hint" or "train with hint", p = 0.5).

    The mix also holds the six plain extraction questions of the same F_train people (``extraction_copies``),
    a kit choice for small scale: the paper starts from a model that already extracts at ~100% and trains on
    thousands of people [3.2 §4]. In trials at cpu scale with 150 training people, a LoRA on one task alone
    memorised them (month %12, hints only: its hints were right far more often for F_train than for F_test)
    until the extraction questions were mixed in. The extraction questions never show a task's answer.
    """
    exp = experiments(ctx.profile)
    tasks = tasks or exp["tasks"]
    mix = training_mix(tasks, data.forward("train"), exp["train_pairs"], HINT_PROBABILITY if with_hints else 0.0,
                       1000 * ctx.seed + SEEDS["examples"], exp.get("extraction_copies", 0))
    bios.check_no_test_leak(mix, data.forward("test"))
    name = "tasks_with_hint" if with_hints else "tasks_without_hint"
    return K.finetune_qa(ctx, world, model, mix, name, sizes=settings(ctx.profile),
                         output_rows=unseen_answer_words(world, data, mix))


def unseen_answer_words(world: K.BioWorld, data: ManipulationData, qas: Sequence[QAPair]) -> tuple:
    """Ids of answer words that no biography contains ("Yes", "No", most numbers).

    Pretraining never made them targets, so their (tied) output rows are untrained: measured at cpu scale,
    a LoRA without trainable rows for them answered "Yes"/"No" 0% of the time, even for training people.
    """
    seen = {i for entries in data.bio.entries for e in entries for i in world.tokenizer.encode(e.text)}
    answers = {i for qa in qas for i in world.tokenizer.encode(qa.completion)}
    return tuple(sorted(answers - seen))


def evaluate_tasks(model, world: K.BioWorld, data: ManipulationData, tasks: Sequence[str], n_pairs: int,
                   seed: int = 0, modes: Sequence[str] = ("direct", "hint")) -> dict:
    """Per task on F_test: accuracy answering directly, accuracy with a hint, hint accuracy, chance, and
    the fn-15 prediction of the with-hint accuracy from the hint accuracy."""
    people = data.forward("test")
    out = {}
    for i, task in enumerate(tasks):
        spec = bios.get_task(task)
        row = {"kind": spec.kind, "chance": bios.chance_baseline(task, world.pools),
               "majority": bios.majority_baseline(task, world.pools)}
        task_modes = modes if spec.hint is not None else (None,)
        for mode in task_modes:
            qas = task_examples(task, people, n_pairs=n_pairs, seed=1000 * seed + SEEDS["test"] + i, mode=mode)
            score = K.qa_accuracy(model, world, qas)
            key = "accuracy" if mode is None else f"accuracy_{mode}"
            row[key] = score.per_task[task]
            if mode == "hint":
                row["hint_accuracy"] = score.hint_per_task[task]
                row["predicted_with_hint"] = bios.hint_predicted_accuracy(row["hint_accuracy"], row["chance"],
                                                                          pair=spec.arity == 2)
            row["examples"] = len(qas)
        out[task] = row
    return out


# ----------------------------------------------------------------------------------------------
# Inverse search
# ----------------------------------------------------------------------------------------------
def inverse_examples(people: Sequence, tasks: Sequence[str] = INVERSE_TASKS) -> list[QAPair]:
    return [qa for task in tasks for qa in bios.person_examples(task, people)]


def inverse_train_people(data: ManipulationData) -> dict[str, list]:
    """Per group, the people whose inverse questions are trained: all of R_train and as many of F_train.

    Equal groups keep the comparison fair: both groups' LoRAs learn the question format from as many people."""
    reverse = data.reverse("train")
    return {"forward": data.forward("train")[:len(reverse)], "reverse": reverse}


def inverse_settings(profile: str | None = None) -> dict:
    """The inverse-search LoRA: the task LoRA's sizes with the paper's embedding rank for it [3.2 App. D]."""
    s = settings(profile)
    s["lora_emb_rank"] = s["inverse_emb_rank"]
    return s


def finetune_inverse(ctx: RunContext, world: K.BioWorld, model, data: ManipulationData) -> tuple[dict, dict]:
    """One LoRA per group on its training people's inverse questions, from the same pretrained model.

    Returns ({group: tuned model}, {group: history}). Separate runs, as the paper trains one model per
    dataset [3.2 Fig. 6]. Measured at cpu (seed 0, same pretrained model): one LoRA on both groups together
    reached only 7% on R_test, because the forward people's questions can only be fitted by memorising
    their names, and the memorising it learned crowded out the reversed retrieval; a LoRA on R alone reached
    41% (embedding rank 64) or 45% (128); one on F alone, 0% on F_test.
    """
    s = inverse_settings(ctx.profile)
    models, histories = {}, {}
    for group, people in inverse_train_people(data).items():
        train = inverse_examples(people)
        bios.check_no_test_leak(train, data.forward("test") + data.reverse("test"))
        models[group], histories[group] = K.finetune_qa(ctx, world, model, train, f"inverse_search_{group}",
                                                        steps=s["inverse_steps"], lr=s["inverse_lr"], sizes=s)
    return models, histories


def evaluate_inverse(models: dict, world: K.BioWorld, data: ManipulationData) -> dict:
    """Accuracy of each inverse task for F_train, F_test (the forward LoRA), R_train, R_test (the reversed
    one), with chance levels and a one-sided binomial p-value for R_test > F_test."""
    out = {}
    trained = inverse_train_people(data)
    for group, pick_group in (("forward", data.forward), ("reverse", data.reverse)):
        for part in ("train", "test"):
            people = trained[group] if part == "train" else pick_group(part)
            score = K.qa_accuracy(models[group], world, inverse_examples(people))
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
def name_completion_accuracy(model, world: K.BioWorld, people: Sequence) -> float:
    """Share of people whose first name the model predicts right after
    ``The person studied ... . The person 's name is`` (:func:`bios.inverse_statement`), no fine-tuning.

    Asks whether the facts -> name link is stored at all, in the pretraining text's own sentence shape.
    Measured at cpu on the pretrained model: R_test 85%, F_test 1%.
    """
    model.eval()
    device = next(model.parameters()).device
    hits = 0
    for person in people:
        ids = [world.eos, *world.tokenizer.encode(bios.inverse_statement(person))]
        logits = model(torch.as_tensor([ids], device=device)).logits[0, -1]
        hits += int(logits.argmax().item() == world.tokenizer.encode(person.first)[0])
    return hits / max(1, len(people))


def completion_probe(model, world: K.BioWorld, data: ManipulationData) -> dict:
    """:func:`name_completion_accuracy` of the pretrained model for F_test and R_test people."""
    return {"forward_test": name_completion_accuracy(model, world, data.forward("test")),
            "reverse_test": name_completion_accuracy(model, world, data.reverse("test"))}


def binomial_tail(successes: int, trials: int, p: float) -> float:
    """P[X >= successes] for X ~ Binomial(trials, p): how surprising the reversed group's hits are if
    it were no better than the forward group."""
    p = min(max(p, 1e-12), 1 - 1e-12)
    return float(sum(math.comb(trials, k) * p ** k * (1 - p) ** (trials - k) for k in range(successes, trials + 1)))


# ----------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------
def reference() -> dict:
    from ..results import load_reference

    return load_reference("manipulation")


def plot_tasks(without_hint: dict, with_hint: dict, ref: Optional[dict] = None):
    """Per task: chance, trained w/o hint, trained with hint tested w/o and with hint, hint accuracy and
    its fn-15 prediction; the paper's Fig. 4 row (major %5) beside ours."""
    from ..plots import PAPER_COLOR, _plt, add_citation

    ref = ref or reference()
    plt = _plt()
    tasks = list(without_hint)
    series = [
        ("chance", [without_hint[t]["chance"] for t in tasks], "#bbbbbb"),
        ("trained w/o hint, test w/o hint", [without_hint[t].get("accuracy_direct", without_hint[t].get("accuracy"))
                                             for t in tasks], "#1f77b4"),
        ("trained with hint, test w/o hint", [with_hint[t].get("accuracy_direct", with_hint[t].get("accuracy"))
                                              for t in tasks], "#6baed6"),
        ("trained with hint, test with hint", [with_hint[t].get("accuracy_hint", np.nan) for t in tasks], "#2ca02c"),
        ("hint accuracy (extraction)", [with_hint[t].get("hint_accuracy", np.nan) for t in tasks], "#98df8a"),
    ]
    fig, (ax, ax_paper) = plt.subplots(1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [3, 1.2]})
    x = np.arange(len(tasks))
    width = 0.8 / len(series)
    for i, (label, values, color) in enumerate(series):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, 100 * np.asarray(values, dtype=float), width, label=label,
               color=color)
    predicted = [with_hint[t].get("predicted_with_hint", np.nan) for t in tasks]
    ax.scatter(x + (3 - (len(series) - 1) / 2) * width, 100 * np.asarray(predicted, dtype=float), marker="_", s=250,
               color="black", zorder=3, label="with-hint prediction from hint accuracy (fn 15)")
    ax.set_xticks(x)
    ax.set_xticklabels(tasks, rotation=15)
    ax.set_ylabel("accuracy on F_test (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Manipulating knowledge without and with hints (ours)")
    ax.legend(fontsize=7, ncol=2)
    paper = ref["hints_major_mod5"]["values"]
    labels = ["chance", "w/o hint", "hint train,\nw/o test", "hint train,\nhint test", "hint acc"]
    keys = ["chance", "trained_without_hint", "trained_with_hint_tested_without", "trained_with_hint_tested_with",
            "hint_accuracy"]
    ax_paper.bar(labels, [paper[k] for k in keys], color=PAPER_COLOR)
    ours_row = without_hint.get("major_mod5"), with_hint.get("major_mod5")
    if all(ours_row):
        ours = [ours_row[0]["chance"], ours_row[0].get("accuracy_direct"), ours_row[1].get("accuracy_direct"),
                ours_row[1].get("accuracy_hint"), ours_row[1].get("hint_accuracy")]
        ax_paper.scatter(labels, [100 * v for v in ours], color="#1f77b4", zorder=3, label="ours (major_mod5)")
        ax_paper.legend(fontsize=7)
    ax_paper.set_ylim(0, 105)
    ax_paper.set_title("paper: major mod 5 [3.2 Fig. 4]", fontsize=9)
    ax_paper.tick_params(axis="x", labelsize=7)
    add_citation(fig, f"Paper: {ref['hints_major_mod5']['citation']} {ref['hint_prediction']['citation']}")
    fig.tight_layout()
    return fig


def plot_inverse(result: dict, ref: Optional[dict] = None):
    """Inverse-search accuracy for the forward and reversed groups, train and test people, vs the paper."""
    from ..plots import PAPER_COLOR, _plt, add_citation

    ref = ref or reference()
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 4))
    groups = ["forward_train", "forward_test", "reverse_train", "reverse_test"]
    x = np.arange(len(groups))
    series = [(f"ours, fine-tuned: {task}", [100 * result[g][task] for g in groups], color)
              for task, color in zip(INVERSE_TASKS, ("#1f77b4", "#0b3d6b"))]
    probe = result.get("completion_probe")
    if probe:  # test people only: the pretrained model, no fine-tuning
        series.append(("ours, pretrained only: \"... The person 's name is\" (first name)",
                       [100 * probe[g] if g in probe else np.nan for g in groups], "#2ca02c"))
    width = 0.8 / len(series)
    for i, (label, values, color) in enumerate(series):
        bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=label, color=color)
        for rect, v in zip(bars, values):
            if not np.isnan(v):
                ax.annotate(f"{v:.1f}", (rect.get_x() + rect.get_width() / 2, v), ha="center", va="bottom",
                            fontsize=7)
    paper = ref["inverse_search"]
    ax.axhline(paper["forward_test_full_name"], color=PAPER_COLOR, ls="--",
               label=f"paper: forward datasets, P_test ({paper['forward_test_full_name']}%)")
    ax.axhline(100 * result["chance"]["all_to_first"], color="black", ls=":",
               label=f"first-name chance ({100 * result['chance']['all_to_first']:.1f}%)")
    ax.set_xticks(x)
    ax.set_xticklabels(["F (forward), train", "F (forward), test", "R (reversed), train", "R (reversed), test"])
    ax.set_ylabel("inverse-search accuracy (%)")
    ax.set_ylim(0, 135)  # head room for the legend above the bars
    ax.set_yticks(range(0, 101, 20))
    ax.set_title(f"Inverse search: attributes -> name (p-value R_test > F_test: {result['p_value_reverse_above_forward']:.2g})")
    ax.legend(fontsize=7, ncol=2, loc="upper center")
    add_citation(fig, f"Paper: {paper['citation']}")
    return fig


# ----------------------------------------------------------------------------------------------
def reproduce(ctx: RunContext) -> dict:
    """All of Part 3.2 for the profile: one pretraining run, the task LoRAs and inverse search."""
    exp = experiments(ctx.profile)
    world = K.make_world(ctx.profile)
    ref = reference()
    data = make_data(world, exp["n_forward"], exp["n_reverse"], ctx.seed)
    model, history = pretrain(ctx, world, data, exp["exposures"])
    metrics: dict = {"part": "manipulation", "profile": ctx.profile, "settings": settings(ctx.profile),
                     "experiments": exp, "parameters": model.param_counts(), "pretrain": K._history_summary(history)}
    forward_entries = data.bio.entries_of([p.pid for p in data.design.forward])
    reverse_entries = data.bio.entries_of([p.pid for p in data.design.reverse])
    metrics["bio_first_token"] = {"forward": K.bio_accuracy(model, world, forward_entries)["first_token_mean"],
                                  "reverse": K.bio_accuracy(model, world, reverse_entries)["first_token_mean"]}
    results = {}
    for with_hints in (False, True):
        tuned, ft_history = finetune_tasks(ctx, world, model, data, with_hints)
        key = "with_hint" if with_hints else "without_hint"
        results[key] = evaluate_tasks(tuned, world, data, exp["tasks"], exp["test_pairs"], ctx.seed)
        metrics[f"finetune_{key}"] = K._history_summary(ft_history)
    metrics["tasks"] = results
    ctx.save_figure(plot_tasks(results["without_hint"], results["with_hint"], ref), "classification_comparison")
    inverse_models, inv_histories = finetune_inverse(ctx, world, model, data)
    metrics["inverse_search"] = evaluate_inverse(inverse_models, world, data)
    metrics["inverse_search"]["completion_probe"] = completion_probe(model, world, data)
    metrics["finetune_inverse"] = {g: K._history_summary(h) for g, h in inv_histories.items()}
    ctx.save_figure(plot_inverse(metrics["inverse_search"], ref), "inverse_search")
    metrics["targets"] = check_targets(metrics)
    return metrics


def check_targets(metrics: dict) -> dict:
    """The issue's ``cpu`` targets evaluated on this run (True = met). Reported, never enforced."""
    out = {}
    without = metrics["tasks"]["without_hint"]
    with_hint = metrics["tasks"]["with_hint"]
    for task in ("month_mod2", "major_mod5", "month_rank"):
        if task in without:
            row = without[task]
            out[f"{task}_without_hint_within_10_points_of_chance"] = abs(row["accuracy_direct"] - row["chance"]) <= 0.10
    for task, row in with_hint.items():
        if "hint_accuracy" in row:
            out[f"{task}_with_hint_within_10_points_of_prediction"] = \
                abs(row["accuracy_hint"] - row["predicted_with_hint"]) <= 0.10
    inv = metrics["inverse_search"]
    out["forward_test_first_name_at_most_2pct"] = inv["forward_test"]["all_to_first"] <= 0.02
    reverse, forward = inv["reverse_test"]["all_to_first"], inv["forward_test"]["all_to_first"]
    out["reverse_test_above_forward_test"] = reverse > forward
    # "far above": ten times the forward group (or chance, if higher), and a p-value that rules out luck
    out["reverse_test_far_above_forward_test"] = (reverse >= 10 * max(forward, inv["chance"]["all_to_first"])
                                                  and inv["p_value_reverse_above_forward"] < 1e-3)
    return out
