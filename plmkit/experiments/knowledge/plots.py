"""Part 3.1's figures: ours beside the paper's numbers, each with its citation."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ...data import bios
from ...data.bios import ATTRIBUTES
from ...train import History
from ..common import percent
from ..shared.bios import ATTRIBUTE_LABELS, BioWorld, baselines


def reference() -> dict:
    from ...results import load_reference

    return load_reference("knowledge")


def plot_augmentations(run_metrics: dict, world: BioWorld, ref: Optional[dict] = None):
    """Mean P_test QA accuracy per pretraining augmentation, ours beside [3.1 Fig. 3], with baselines."""
    from ...plots import ours_vs_paper
    from ...results import approximate_figure

    ref = ref or reference()
    paper = ref["qa_by_augmentation"]["values"]
    names = list(run_metrics)
    labels = [f"{n}\n(BIO {percent(m['bio_first_token']['train_people']):.0f}%)" for n, m in run_metrics.items()]
    fig = ours_vs_paper(labels, [percent(run_metrics[n]["qa_test_mean"]) for n in names],
                        [paper.get(n, {}).get("pretrain_finetune") for n in names],
                        ylabel="QA accuracy on P_test people (%)",
                        title="Pretrain on biographies, then QA fine-tune: held-out people",
                        citation=f"Paper: {ref['qa_by_augmentation']['citation']} Baselines: {ref['baselines']['citation']} "
                                 "BIO = first-token accuracy on the training biographies (memorisation).",
                        ours_label=f"plmkit ({world.profile} profile, N = {run_metrics[names[0]]['people']})",
                        paper_label="paper (N = 100K, GPT2-12-12)",
                        paper_approx=[approximate_figure(paper.get(n, {}), "pretrain_finetune") for n in names])
    ax = fig.axes[0]
    b = baselines(world)
    ax.axhline(percent(b["mean"]), ls=":", color="black", label=f"majority mean ({percent(b['mean']):.1f}%)")
    ax.axhline(percent(b["company_city"]), ls="--", color="#999999",
               label=f"company-city baseline ({percent(b['company_city']):.1f}%)")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=8)
    return fig


def plot_attribute_heatmap(run_metrics: dict, world: BioWorld, ref: Optional[dict] = None):
    """Per-attribute P_test QA accuracy (augmentation x attribute) with the per-attribute baselines."""
    from ...plots import add_citation, heatmap, reference_label

    ref = ref or reference()
    names = list(run_metrics)
    matrix = [[percent(run_metrics[n]["qa_test"][a]) for a in ATTRIBUTES] for n in names]
    base = bios.majority_baselines(world.pools)
    matrix.append([percent(base[a]) for a in ATTRIBUTES])
    fig = heatmap(matrix, [ATTRIBUTE_LABELS[a] for a in ATTRIBUTES], names + ["majority baseline"], fmt="{:.0f}",
                  vmin=0, vmax=100, title="QA accuracy (%) on P_test people, per attribute")
    paper_date = ref["single_birth_date"]["value"]
    add_citation(fig, f"Paper: {ref['single_birth_date']['citation']} Paper's single birth date: "
                      f"{reference_label(paper_date, ref['single_birth_date'], unit='%')}. "
                      f"Company city's baseline is the New-York share ({percent(base['company_city']):.1f}% here, 13.7% in the paper).")
    return fig


def plot_p_probes(results: dict, ref: Optional[dict] = None):
    """P-probe heat-maps (target attribute x position P1..P6), one per pretraining run, plus the paper's
    P1 values for multi5+permute."""
    from ...plots import _plt, add_citation, approximate_note, heatmap

    ref = ref or reference()
    plt = _plt()
    fig, axes = plt.subplots(1, len(results) + 1, figsize=(5.2 * len(results) + 4, 4.2),
                             gridspec_kw={"width_ratios": [1] * len(results) + [0.8]})
    for ax, (name, result) in zip(axes, results.items()):
        heatmap([[percent(v) for v in row] for row in result["matrix"]], result["positions"],
                [ATTRIBUTE_LABELS[a] for a in result["attributes"]], ax=ax, fmt="{:.0f}", vmin=0, vmax=100,
                title=f"{name}: P-probe, {result['task']} (%)", xlabel="position (text order)")
    paper = ref["p_probe"]["multi5_permute_p1_whole"]
    attrs = [a for a in ATTRIBUTES if a in paper]
    last = axes[-1]
    last.barh([ATTRIBUTE_LABELS[a] for a in attrs], [paper[a] for a in attrs], color="#ff7f0e")
    last.set_xlim(0, 100)
    last.invert_yaxis()
    last.set_title("paper: multi5+permute at P1\n(whole attribute, rank 2)" + approximate_note(paper), fontsize=9)
    last.set_xlabel("accuracy (%)")
    add_citation(fig, f"Paper: {ref['p_probe']['citation']}")
    fig.tight_layout()
    return fig


def plot_q_probes(results: dict, world: BioWorld, ref: Optional[dict] = None):
    """Q-probe accuracy per attribute for each run, beside the paper's [3.1 Fig. 7] values."""
    from ...plots import PAPER_COLOR, _plt, add_citation, approximate_note

    ref = ref or reference()
    plt = _plt()
    paper = ref["q_probe"]["first_token"]
    fig, ax = plt.subplots(figsize=(10, 4))
    x = np.arange(len(ATTRIBUTES))
    ours_colors, paper_colors = ["#1f77b4", "#0b3d6b", "#6baed6", "#08306b"], ["#ffbb78", PAPER_COLOR, "#fd8d3c", "#a63603"]
    bars = [(f"ours: {n}", [percent(r["test"][a]) for a in ATTRIBUTES], ours_colors[i % 4])
            for i, (n, r) in enumerate(results.items())]
    bars += [(f"paper{approximate_note(ref['q_probe'])}: {n}", [paper[n][a] for a in ATTRIBUTES], paper_colors[i % 4])
             for i, n in enumerate(results) if n in paper]
    width = 0.8 / len(bars)
    for i, (label, values, color) in enumerate(bars):
        ax.bar(x + (i - (len(bars) - 1) / 2) * width, values, width, label=label, color=color)
    base = bios.first_token_majority(world.pools)
    ax.scatter(x, [percent(base[a]) for a in ATTRIBUTES], marker="_", s=600, color="black", zorder=3,
               label="first-token majority baseline")
    ax.set_xticks(x)
    ax.set_xticklabels([ATTRIBUTE_LABELS[a] + (" (month)" if a == "birth_date" else "") for a in ATTRIBUTES])
    ax.set_ylabel("Q-probe accuracy, first token (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Q-probe: the attribute read from the name alone (P_test people)")
    ax.legend(fontsize=7, ncol=2)
    add_citation(fig, f"Paper: {ref['q_probe']['citation']}")
    return fig


def plot_mixed_training(history: History, final_test: float, ref: Optional[dict] = None):
    """The four learning curves of mixed training [3.1 Fig. 1] and the final P_test accuracy vs the paper's."""
    from ...plots import PAPER_COLOR, _plt, add_citation

    ref = ref or reference()
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    steps = [e["step"] for e in history.evals]
    tokens_per_step = history.tokens / max(1, history.steps)
    styles = {"qa_train": ("QA, P_train (in-dist.)", "C0", "-"), "qa_test": ("QA, P_test (out-of-dist.)", "C3", "-"),
              "bio_train": ("BIO, P_train", "C0", ":"), "bio_test": ("BIO, P_test", "C3", ":")}
    for key, (label, color, ls) in styles.items():
        ax.plot(np.array(steps) * tokens_per_step, [percent(e[key]) for e in history.evals], ls, color=color,
                label=label)
    paper = ref["mixed_training"]["bioS_single"]
    ax.axhline(paper, color=PAPER_COLOR, ls="--", label=f"paper final QA P_test ({paper}%)")
    ax.set_xlabel("training tokens")
    ax.set_ylabel("first-token accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title(f"Mixed training on single: final exact-match QA on P_test = {percent(final_test):.0f}%")
    ax.legend(fontsize=7)
    add_citation(fig, f"Paper: {ref['mixed_training']['citation']}")
    return fig


def plot_celebrities(metrics: dict, ref: Optional[dict] = None):
    """Minority accuracy alone vs with celebrities, beside [3.1 Res. 6]."""
    from ...plots import ours_vs_paper

    ref = ref or reference()
    paper = ref["celebrities"]["bioS"]
    labels = ["minority\nalone", "minority with\ncelebrities", "held-out\ncelebrities"]
    ours = [percent(metrics["minority_alone"]), percent(metrics["minority_with_celebrities"]),
            percent(metrics["celebrities_held_out"])]
    multi = ref["qa_by_augmentation"]["values"]["multi5+permute"]["pretrain_finetune"]
    fig = ours_vs_paper(labels, ours, [paper["minority_alone"], paper["minority_with_celebrities"], multi],
                        ylabel="QA accuracy (%)", title="Celebrities make the minority's knowledge extractable",
                        citation=f"Paper: {ref['celebrities']['citation']} Held-out celebrities: the paper's "
                                 "multi5+permute value [3.1 Fig. 3].")
    fig.axes[0].set_ylim(0, 105)
    return fig
