"""Part 4.1's figures: our measurement beside the paper's number, each with its citation."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ...plots import CONTROL_COLOR, PAPER_COLOR, _plt, add_citation, approximate_note

ARM_COLORS = {"1L": "#7f7f7f", "1L + Canon": "#1f77b4", "1L + cst-Canon": "#17becf", "2L": "#2ca02c",
              "1L-16H-128D": "#9467bd", "RoPE": "#7f7f7f", "RoPE + Canon": "#1f77b4", "NoPE": "#d62728",
              "NoPE + Canon": "#ff7f0e", "RoPE + cst-Canon": "#17becf", "GLA": "#8c564b", "GLA + Canon-ABCD": "#e377c2"}
SIZES = ("8L512D", "12L512D", "8L768D", "12L768D")
# The paper's GLA cell on Depo (12L768D, Depo1 K = 4, N = 225; accuracy at k = K / k = K/2).
def reference() -> dict:
    from ...results import load_reference

    return load_reference("canon")


def _color(name: str, i: int) -> str:
    return ARM_COLORS.get(name, f"C{i}")


def plot_copy(result: dict, ref: Optional[dict] = None, title: str = "Copying a permutation: accuracy against steps"):
    """Ours (every seed thin, the mean bold) beside the paper's Fig. 5 at N = 500."""
    ref = ref or reference()
    plt = _plt()
    fig, (ax, ax_paper) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    steps = result["eval_steps"]
    for i, (name, arm) in enumerate(result["arms"].items()):
        curves = 100 * np.asarray(arm["curves"], dtype=float)
        for curve in curves:
            ax.plot(steps, curve, color=_color(name, i), alpha=0.35, lw=1)
        ax.plot(steps, curves.mean(0), color=_color(name, i), lw=2.2, label=f"{name} ({len(curves)} seeds)")
    ax.set_xlabel("training step")
    ax.set_ylabel("copy-token accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.set_title(f"ours: N = {result['N']}, 1 layer, 2 heads, width 16")
    ax.legend(fontsize=8)
    paper = ref["copy"]
    for i, (name, values) in enumerate(paper["arms"].items()):
        ax_paper.plot(paper["steps"], values, "o-", color=_color(name, i), label=name)
    ax_paper.set_ylim(-2, 102)
    ax_paper.set_xlabel("training step")
    ax_paper.set_title(f"paper: N = {paper['N']}{approximate_note(paper)}", fontsize=9)
    ax_paper.legend(fontsize=7)
    fig.suptitle(title)
    add_citation(fig, f"Paper: {paper['citation']} {paper['later']}")
    fig.tight_layout()
    return fig


def plot_depo(result: dict, ref: Optional[dict] = None):
    """Final accuracy per k (every seed a dot), k = 1 against steps, and the paper's Fig. 7 cells."""
    ref = ref or reference()
    plt = _plt()
    fig, (ax_k, ax_t, ax_paper) = plt.subplots(1, 3, figsize=(15, 4.2), gridspec_kw={"width_ratios": [3, 3, 2.4]})
    ks, names = result["ks"], list(result["arms"])
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        finals = 100 * np.asarray(result["arms"][name]["final"], dtype=float)  # (seeds, k)
        x = np.arange(len(ks)) + (i - (len(names) - 1) / 2) * width
        ax_k.bar(x, finals.mean(0), width, color=_color(name, i), label=name)
        for seed_values in finals:
            ax_k.scatter(x, seed_values, color="black", s=10, zorder=3)
        curves = 100 * np.asarray(result["arms"][name]["curves"], dtype=float)[:, :, 0]  # k = 1
        for j, curve in enumerate(curves):
            ax_t.plot(result["eval_steps"], curve, color=_color(name, i), label=name if j == 0 else None)
    for ax in (ax_k, ax_t):
        ax.axhline(100 * result["chance"], ls=":", color="black", label=f"chance 1/N = {100 * result['chance']:.1f}%")
        ax.set_ylim(0, 102)
        ax.legend(fontsize=7)
    ax_k.set_xticks(range(len(ks)))
    ax_k.set_xticklabels([f"k = {k}" for k in ks])
    ax_k.set_ylabel("answer-token accuracy at n = N (%)")
    ax_k.set_title(f"ours: {result['preset']} (N = {result['N']}), {result['steps']} steps; dots = seeds", fontsize=9)
    ax_t.set_xlabel("training step")
    ax_t.set_title("ours: accuracy at k = 1 during training (one line per seed)", fontsize=9)
    paper = ref["depo1_k8_N225"]
    arm_names = list(paper["arms"])
    for i, size in enumerate(SIZES):
        x = np.arange(len(arm_names)) + (i - 1.5) * 0.2
        ax_paper.bar(x, [paper["arms"][a][i][0] for a in arm_names], 0.2, label=size,
                     color=PAPER_COLOR, alpha=0.4 + 0.15 * i)
    ax_paper.set_xticks(range(len(arm_names)))
    ax_paper.set_xticklabels(arm_names, fontsize=7, rotation=15)
    ax_paper.set_ylim(0, 102)
    ax_paper.set_title(f"paper: Depo1, N = 225, k = K = 8{approximate_note(paper) or ' (Fig. 7)'}", fontsize=9)
    ax_paper.legend(fontsize=6, title="model size", title_fontsize=6)
    add_citation(fig, f"Paper: {paper['citation']} {ref['curriculum']['citation']}")
    fig.tight_layout()
    return fig


def plot_cost(parameter_rows: list[dict], overhead: dict, ref: Optional[dict] = None):
    """Parameter share per placement (closed formula) and the step-time overhead measured here vs the H100."""
    ref = ref or reference()
    plt = _plt()
    fig, (ax_p, ax_t) = plt.subplots(1, 2, figsize=(12, 4))
    labels = [r["placement"] for r in parameter_rows]
    ax_p.bar(labels, [100 * r["share"] for r in parameter_rows], color="#1f77b4", label="ours: formula, 12L768D")
    ax_p.axhline(ref["cost"]["parameter_share_gpt2_small"], ls="--", color=PAPER_COLOR,
                 label="paper: < 0.45% for GPT-2 small (ABCD)")
    ax_p.set_ylabel("Canon weights, % of the model (embeddings excluded)")
    ax_p.set_title("parameters added per placement", fontsize=10)
    ax_p.legend(fontsize=8)
    placements = [p for p in overhead["ratio"] if p != "none"]
    ours = [100 * (overhead["ratio"][p] - 1) for p in placements]
    x = np.arange(len(placements))
    ax_t.bar(x - 0.2, ours, 0.4, color="#1f77b4", label=f"ours: {overhead['device']}, {overhead['model']}")
    paper = ref["cost"]["overhead_percent"]
    ax_t.bar(x + 0.2, [np.mean([paper[p]["forward"], paper[p]["backward"]]) if p in paper else np.nan
                       for p in placements], 0.4, color=PAPER_COLOR, label="paper: H100, fused kernels (mean of fwd, bwd)")
    ax_t.axhline(30, ls=":", color=CONTROL_COLOR, label="+30%")
    ax_t.set_xticks(x)
    ax_t.set_xticklabels(placements)
    ax_t.set_ylabel("extra time per training step (%)")
    ax_t.set_title("step-time overhead per placement", fontsize=10)
    ax_t.legend(fontsize=7)
    add_citation(fig, f"Paper: {ref['cost']['citation']} {ref['parameters_12L768D']['citation']}")
    fig.tight_layout()
    return fig


def plot_placement(ours: dict, k: int, ref: Optional[dict] = None):
    """Accuracy at hop k per placement (ours, one seed) beside the paper's Fig. 29 cells (four sizes)."""
    ref = ref or reference()
    plt = _plt()
    paper = ref["placement_nope_depo1"]
    order = [p for p in ("none", "B", "AC", "ACD", "ABC", "ABCD") if p in ours or p in paper["values"]]
    extra = [p for p in ours if p not in order]
    fig, (ax, ax_paper) = plt.subplots(1, 2, figsize=(12, 4))
    names = [p for p in order if p in ours] + extra
    if names:
        ax.bar(names, [100 * ours[p] for p in names], color="#1f77b4")
    else:
        ax.text(0.5, 0.5, "not run in this profile:\nthe gpu profile runs the ablation", ha="center", va="center",
                transform=ax.transAxes, color=CONTROL_COLOR)
        ax.set_xticks([])
    ax.set_ylabel(f"accuracy at k = {k}, n = N (%)")
    ax.set_ylim(0, 102)
    ax.set_title("ours: RoPE on Depo, one seed", fontsize=10)
    ax.tick_params(axis="x", labelsize=8)
    for i, size in enumerate(SIZES):
        x = np.arange(len(order)) + (i - 1.5) * 0.2
        ax_paper.bar(x, [paper["values"].get(p, [np.nan] * 4)[i] for p in order], 0.2, color=PAPER_COLOR,
                     alpha=0.4 + 0.15 * i, label=size)
    ax_paper.set_xticks(range(len(order)))
    ax_paper.set_xticklabels(order)
    ax_paper.set_ylim(0, 102)
    ax_paper.set_title(f"paper: NoPE, Depo1 (K = 8), N = 375, k = 8{approximate_note(paper) or ' (Fig. 29)'}", fontsize=9)
    ax_paper.legend(fontsize=6, title="model size", title_fontsize=6)
    add_citation(fig, f"Paper: {paper['citation']} {ref['placement_rope_depo2']['citation']}")
    fig.tight_layout()
    return fig


def plot_mano(result: dict, ref: Optional[dict] = None):
    """Accuracy per expression length l for each arm (mean over seeds) beside the paper's Fig. 24 cells."""
    ref = ref or reference()
    plt = _plt()
    fig, (ax, ax_paper) = plt.subplots(1, 2, figsize=(12, 4))
    for i, (name, arm) in enumerate(result["arms"].items()):
        finals = 100 * np.asarray(arm["final"], dtype=float)
        ax.plot(result["lengths"], finals.mean(0), "o-", color=_color(name, i), label=name)
    ax.axhline(100 * result["chance"], ls=":", color="black", label=f"chance 1/23 = {100 * result['chance']:.1f}%")
    ax.set_xlabel("operations l in the expression")
    ax.set_ylabel("answer accuracy (%)")
    ax.set_ylim(0, 102)
    ax.set_title(f"ours: Mano L = {result['L']}, {len(result['seeds'])} seed(s)", fontsize=10)
    ax.legend(fontsize=8)
    paper = ref["mano_constant_canon"]
    arm_names = list(paper["values"])
    for i, size in enumerate(SIZES):
        x = np.arange(len(arm_names)) + (i - 1.5) * 0.2
        ax_paper.bar(x, [paper["values"][a][i] for a in arm_names], 0.2, color=PAPER_COLOR, alpha=0.4 + 0.15 * i,
                     label=size)
    ax_paper.set_xticks(range(len(arm_names)))
    ax_paper.set_xticklabels(arm_names, fontsize=8)
    ax_paper.set_ylim(0, 102)
    ax_paper.set_title(f"paper: Mano L = {paper['L']}{approximate_note(paper) or ' (Fig. 24)'}", fontsize=9)
    ax_paper.legend(fontsize=6, title="model size", title_fontsize=6)
    add_citation(fig, f"Paper: {paper['citation']} {paper['depo1_contrast']}")
    fig.tight_layout()
    return fig


def plot_init(weights: np.ndarray, ref: Optional[dict] = None):
    """Histogram of Canon kernel weights after the model's init: uniform on +-0.5, not N(0, 0.02)."""
    ref = ref or reference()
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist(weights, bins=40, color="#1f77b4", density=True, label=f"ours: std {np.std(weights):.4f}")
    ax.axhline(1.0, ls="--", color=PAPER_COLOR, label="U(-0.5, 0.5): density 1, std 0.2887")
    ax.set_xlabel("Canon kernel weight")
    ax.set_title("Canon weights keep the default conv init", fontsize=10)
    ax.legend(fontsize=8)
    add_citation(fig, f"Paper: {ref['init']['citation']}")
    fig.tight_layout()
    return fig


def plot_linear(result: dict, depo: Optional[dict] = None, ref: Optional[dict] = None):
    """Final accuracy per k of the GLA arms (and the Depo run's softmax arms at the same seeds, if given),
    beside the paper's GLA cell."""
    paper = (ref or reference())["gla_depo1_k4_N225"]
    plt = _plt()
    fig, (ax, ax_paper) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    arms = dict(result["arms"])
    if depo is not None and depo["seeds"][:len(result["seeds"])] == result["seeds"]:
        for name in ("RoPE", "RoPE + Canon"):
            if name in depo["arms"]:
                arms[name] = {"final": depo["arms"][name]["final"][:len(result["seeds"])]}
    ks = result["ks"]
    width = 0.8 / len(arms)
    for i, (name, arm) in enumerate(arms.items()):
        finals = 100 * np.asarray(arm["final"], dtype=float)  # (seeds, k)
        x = np.arange(len(ks)) + (i - (len(arms) - 1) / 2) * width
        ax.bar(x, finals.mean(0), width, color=_color(name, i), label=name)
        for seed_values in finals:
            ax.scatter(x, seed_values, color="black", s=10, zorder=3)
    ax.axhline(100 * result["chance"], ls=":", color="black", label=f"chance 1/N = {100 * result['chance']:.1f}%")
    ax.set_xticks(range(len(ks)))
    ax.set_xticklabels([f"k = {k}" for k in ks])
    ax.set_ylim(0, 102)
    ax.set_ylabel("answer-token accuracy at n = N (%)")
    ax.set_title(f"ours: {result['preset']} (N = {result['N']}), {result['steps']} steps, "
                 f"{len(result['seeds'])} seed(s); dots = seeds", fontsize=9)
    ax.legend(fontsize=7)
    names = list(paper["arms"])
    for j, label in enumerate(("k = K", "k = K/2")):
        ax_paper.bar(np.arange(len(names)) + (j - 0.5) * 0.35, [paper["arms"][a][j] for a in names], 0.35,
                     color=PAPER_COLOR, alpha=0.5 + 0.3 * j, label=label)
    ax_paper.set_xticks(range(len(names)))
    ax_paper.set_xticklabels(names, fontsize=8)
    ax_paper.set_ylim(0, 102)
    ax_paper.set_title("paper: 12L768D, Depo1 (K = 4), N = 225 (Fig. 12)", fontsize=9)
    ax_paper.legend(fontsize=7)
    fig.suptitle("Gated linear attention with and without Canon")
    add_citation(fig, f"Paper: {paper['citation']}")
    fig.tight_layout()
    return fig
