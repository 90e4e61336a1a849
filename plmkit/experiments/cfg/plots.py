"""Part 1's figures: ours beside the paper's numbers, each with its citation.

Every function returns a matplotlib figure; the lab shows it, ``reproduce`` saves it with
``ctx.save_figure``.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ...data import cfg
from ...train import History
from .analysis import BoundaryStats, level_name
from .settings import POSITION_LABELS


def reference() -> dict:
    from ...results import load_reference

    return load_reference("cfg")


def plot_loss(history: History, refs: dict, title: str = "Training loss on fresh sentences"):
    from ...plots import add_citation, loss_curve

    baselines = {f"best n-gram (context {refs['best_ngram_context']})": refs["best_ngram"],
                 "chance ln(T+1)": refs["chance"]}
    fig = loss_curve(history, floor=refs["floor"], baselines=baselines, title=title)
    fig.axes[0].set_ylim(refs["floor"] - 0.05, refs["chance"] + 0.05)
    add_citation(fig, "Floor: exact entropy of the grammar by dynamic programming (Part 1's two-step DP, arXiv 2305.13673 TMLR "
                      "Alg. 1). Part 1 trains on 4.9B fresh tokens [P1 TMLR setup]; this run sees "
                      f"{history.tokens / 1e6:.1f}M.")
    return fig


def plot_accuracy(results: dict, ref: Optional[dict] = None, title: str = "Generation accuracy at temperature 1"):
    """``results``: label -> generation summary (``accuracy``, ``ci95``, ``cut``). cut0 bars get the
    paper's cut0 number beside them; cutK bars have none (Part 4.1 reports cut0 only)."""
    from ...plots import ours_vs_paper, reference_label
    from ...results import approximate_figure

    ref = ref or reference()
    entry = ref["accuracy_cfg3f"]["Llama(RoPE)"]
    paper_cut0 = entry["8L512D"]
    labels = list(results)
    ours = [100 * results[k]["accuracy"] for k in labels]
    err = np.array([[100 * (r["accuracy"] - r["ci95"][0]), 100 * (r["ci95"][1] - r["accuracy"])]
                    for r in results.values()]).T
    paper = [paper_cut0 if results[k]["cut"] == 0 else None for k in labels]
    gpt2 = ref["accuracy_cfg3f"]["GPT2(RoPE)"]
    fig = ours_vs_paper(labels, ours, paper, "fully valid sentences (%)",
                        f"Paper: Llama(RoPE) 8L512D on full cfg3f, {reference_label(paper_cut0, entry, '8L512D', unit='%')} "
                        f"from <bos> after 4.9B tokens {ref['accuracy_cfg3f']['citation'].split(':')[0]}; GPT2(RoPE) 8L512D "
                        f"{reference_label(gpt2['8L512D'], gpt2, '8L512D', unit='%')}. Ours: small models on sub-grammars, "
                        "error bars = Wilson 95% intervals.", title=title, ours_err=err,
                        paper_label="paper (full cfg3f, 8L512D)",
                        paper_approx=[approximate_figure(entry, "8L512D") if p is not None else None for p in paper])
    fig.axes[0].set_ylim(0, 105)
    return fig


def plot_kl(results: dict, ref: Optional[dict] = None, title: str = "KL(true || model) per position"):
    from ...plots import ours_vs_paper, reference_label
    from ...results import approximate_figure

    ref = ref or reference()
    entry = ref["kl_cfg3f"]["Llama(RoPE)"]
    paper = entry["8L512D"]
    labels = list(results)
    fig = ours_vs_paper(labels, [results[k]["kl"] for k in labels], [paper] * len(labels), "nats per position",
                        f"Paper: Llama(RoPE) 8L512D on full cfg3f, KL {reference_label(paper, entry, '8L512D')} "
                        f"{ref['kl_cfg3f']['citation'].split(':')[0]}. "
                        "Ours: mean over fresh sentences, error bars = 2 s.e.; excess loss measured on the same sentences: "
                        + ", ".join(f"{k} {results[k]['excess_loss']:.4f}" for k in labels),
                        title=title, ours_err=[2 * results[k]["kl_se"] for k in labels],
                        paper_label="paper (full cfg3f, 8L512D)",
                        paper_approx=[approximate_figure(entry, "8L512D")] * len(labels))
    fig.axes[0].set_yscale("log")
    return fig


def plot_kl_by_position(per_position: Sequence[np.ndarray], title: str = "Where the model still differs from the truth"):
    from ...plots import _axes

    fig, ax = _axes(None, figsize=(6, 3.5))
    width = max(len(r) for r in per_position)
    sums, counts = np.zeros(width), np.zeros(width)
    for r in per_position:
        sums[:len(r)] += r
        counts[:len(r)] += 1
    keep = counts >= 5
    ax.plot(np.arange(width)[keep], (sums / np.maximum(counts, 1))[keep], ".-")
    ax.set_yscale("log")
    ax.set_xlabel("position k (row k predicts token k+1; the last row predicts EOS)")
    ax.set_ylabel("mean KL (nats)")
    ax.set_title(title)
    return fig


def plot_positions(results: dict, ref: Optional[dict] = None, title: str = "Position encodings at equal steps"):
    from ...plots import OURS_COLOR, PAPER_COLOR, _plt, add_citation, reference_label
    from ...results import approximate_figure

    ref = ref or reference()
    plt = _plt()
    arms = list(results)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    x = np.arange(len(arms))
    labels = [POSITION_LABELS.get(a, a) for a in arms]
    excess = [results[a]["excess_loss"] for a in arms]
    axes[0].bar(x, excess, yerr=[2 * results[a]["excess_loss_se"] for a in arms], color=OURS_COLOR, capsize=3)
    axes[0].set_ylabel("excess loss over the floor (nats/token)")
    axes[0].set_title("loss (lower is better)")
    acc = [100 * results[a]["cut0"]["accuracy"] for a in arms]
    entries = {"rope": ref["accuracy_cfg3f"]["Llama(RoPE)"], "nope": ref["accuracy_cfg3f"]["Llama(NoPE)"]}
    axes[1].bar(x - 0.2, acc, 0.4, color=OURS_COLOR, label="plmkit (this run)")
    paper = [entries[a]["8L512D"] if a in entries else np.nan for a in arms]
    bars = axes[1].bar(x + 0.2, paper, 0.4, color=PAPER_COLOR, label="paper: Llama 8L512D, full cfg3f")
    for rect, arm in zip(bars, arms):
        if arm in entries:
            if approximate_figure(entries[arm], "8L512D"):
                rect.set_hatch("//")
            axes[1].annotate(reference_label(entries[arm]["8L512D"], entries[arm], "8L512D"),
                             (rect.get_x() + rect.get_width() / 2, rect.get_height()), ha="center", va="bottom", fontsize=7)
    for ax in axes:
        ax.set_xticks(x)
        ax.set_xticklabels(labels, rotation=10)
    axes[1].set_ylabel("cut0 accuracy (%)")
    axes[1].set_ylim(0, 105)
    axes[1].set_title("generation (higher is better)")
    axes[1].legend(fontsize=7)
    add_citation(fig, "Paper: RoPE 91.1%, NoPE 0.0% [P4.1 Fig. 7]. Part 1 (abstract v4): absolute embeddings are inferior to "
                      "rotary/relative; uniform attention is surprisingly effective (beats absolute, approaches RoPE [P4.1 §4]). "
                      "Part 1 gives no single number for learned/uniform here, so those bars are ours only.")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_robustness(result: dict, title: str = "Completing corrupted prefixes"):
    from ...plots import _plt, add_citation

    plt = _plt()
    models = list(result["models"])
    temps = list(next(iter(result["models"].values())))
    fig, axes = plt.subplots(1, len(temps), figsize=(5.5 * len(temps), 4), squeeze=False)
    for ax, t in zip(axes[0], temps):
        x = np.arange(len(models))
        for i, (key, label) in enumerate((("clean", "clean prefix (cutK)"), ("repair_valid", "corrupted prefix: repair-valid"))):
            vals = [100 * result["models"][m][t][key]["accuracy"] for m in models]
            ci = np.array([[100 * (result["models"][m][t][key]["accuracy"] - result["models"][m][t][key]["ci95"][0]),
                            100 * (result["models"][m][t][key]["ci95"][1] - result["models"][m][t][key]["accuracy"])]
                           for m in models]).T
            bars = ax.bar(x + (i - 0.5) * 0.4, vals, 0.4, yerr=ci, capsize=3, label=label)
            ax.bar_label(bars, fmt="%.0f", fontsize=7)
        ax.set_xticks(x)
        ax.set_xticklabels(models)
        ax.set_ylim(0, 105)
        ax.set_ylabel("valid (%)")
        ax.set_title(f"temperature {t}")
        ax.legend(fontsize=7)
    add_citation(fig, f"First K = {result['k']} tokens of fresh sentences, each flipped with probability {result['gamma']} "
                      f"(at least one; mean {result['mean_flips']:.1f} flips). Repair-valid: the original prefix + the "
                      "completion is a sentence. Part 1 (abstract v3/v4): noise in pretraining data markedly improves "
                      "robustness to corrupted prompts; Part 1's robustness figure has its numbers (not restated here).")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def draw_tree(g: cfg.Grammar, sentence: np.ndarray, labels, ax=None, title: str = ""):
    """The generating parse tree of one sentence: one row per level, one box per node over its span."""
    from ...plots import _axes

    n = len(sentence)
    fig, ax = _axes(ax, figsize=(max(6, 0.32 * n + 2), 0.75 * (len(labels.levels) + 1) + 1))
    rows = list(labels.levels)
    for r, level in enumerate(rows):
        y = len(rows) - r
        for symbol, first, last in labels.nodes(level):
            ax.add_patch(_box(first - 0.45, y - 0.35, last - first + 0.9, 0.7, int(g.class_index[symbol])))
            ax.text((first + last) / 2, y, str(int(symbol)), ha="center", va="center", fontsize=8)
    for t, token in enumerate(sentence):
        ax.text(t, 0, str(int(token)), ha="center", va="center", fontsize=9, fontweight="bold")
    ax.set_xlim(-0.8, n - 0.2)
    ax.set_ylim(-0.6, len(rows) + 0.6)
    ax.set_yticks(range(len(rows) + 1))
    ax.set_yticklabels(["tokens"] + [f"level {lv}" for lv in reversed(rows)])
    ax.set_xticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title or f"{g.name}: a sampled sentence of {n} tokens and the tree that generated it")
    return fig


def _box(x, y, w, h, shade: int):
    from matplotlib.patches import FancyBboxPatch

    colors = ("#c6dbef", "#fdd0a2", "#c7e9c0", "#dadaeb")
    return FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02", fc=colors[shade % len(colors)], ec="#555555", lw=0.6)


def plot_probes(report: dict, g: cfg.Grammar, claim: str = ""):
    """Ancestor accuracy and boundary balanced accuracy per level: trained vs controls."""
    from ...plots import CONTROL_COLOR, OURS_COLOR, _plt, add_citation

    plt = _plt()
    levels = report["levels"]
    x = np.arange(len(levels))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    series = (("trained", "trained model (last layer)", OURS_COLOR), ("random_init", "random-init control", CONTROL_COLOR),
              ("local", "local baseline (last 8 tokens + position)", "#2ca02c"))
    for ax, key, title in ((axes[0], "ancestor", "NT ancestor (accuracy)"),
                           (axes[1], "boundary", "NT boundary (balanced accuracy)")):
        for i, (name, label, color) in enumerate(series):
            values = [report[name][lv][key] for lv in levels]
            bars = ax.bar(x + (i - 1) * 0.27, values, 0.27, label=label, color=color)
            ax.bar_label(bars, fmt="%.2f", fontsize=6)
        if key == "ancestor":
            ax.plot(x, [report["trained"][lv]["ancestor_majority"] for lv in levels], "k_", ms=30, mew=2,
                    label="majority class")
        ax.set_xticks(x)
        ax.set_xticklabels([level_name(g, lv) for lv in levels])
        ax.set_ylim(0, 1.08)
        ax.set_title(title)
        ax.legend(fontsize=7, loc="lower left")
    ax = axes[2]
    for i, (key, label, color) in enumerate((("ancestor_at_end", "at its boundary (end = 1)", OURS_COLOR),
                                              ("ancestor", "all positions", "#9ecae1"),
                                              ("ancestor_not_end", "elsewhere (end = 0)", CONTROL_COLOR))):
        values = [report["trained"][lv][key] for lv in levels]
        bars = ax.bar(x + (i - 1) * 0.27, values, 0.27, label=label, color=color)
        ax.bar_label(bars, fmt="%.2f", fontsize=6)
    ax.set_xticks(x)
    ax.set_xticklabels([level_name(g, lv) for lv in levels])
    ax.set_ylim(0, 1.08)
    ax.set_title("ancestor probe, where is the node information?")
    ax.legend(fontsize=7, loc="lower left")
    add_citation(fig, claim or "Part 1 (arXiv 2305.13673, abstract): the last layer linearly encodes each token's NT ancestor "
                                "and NT boundaries at every level, with node information on the subtree boundary. "
                                "Part 1's per-level values: its probing figures (not restated here).")
    fig.tight_layout()
    return fig


def plot_attention(trained: BoundaryStats, control: BoundaryStats, intervals: dict, g: cfg.Grammar):
    """Heatmaps of B - N (best head per layer) for the trained model and its random-init twin,
    plus the adjacency contrast on the diagonal l = l' with bootstrap intervals."""
    from ...plots import CONTROL_COLOR, OURS_COLOR, _plt, add_citation, heatmap

    plt = _plt()
    L = trained.contrast.shape[0]
    names = [f"h={g.depth - lv}" for lv in trained.levels]
    best_t, best_c = trained.best_head("contrast"), control.best_head("contrast")
    top = float(np.nanmax(np.abs(np.concatenate([best_t, best_c])))) or 1.0
    fig, axes = plt.subplots(3, L, figsize=(3.4 * L, 9.5))
    axes = np.atleast_2d(axes).reshape(3, L)
    for layer in range(L):
        for row, (best, who) in enumerate(((best_t, "trained"), (best_c, "random init"))):
            heatmap(best[layer], names, names, ax=axes[row, layer], cmap="RdBu_r", vmin=-top, vmax=top, fmt="{:.3f}",
                    title=f"{who}, layer {layer + 1}", xlabel="key ends level l'", ylabel="query ends level l")
        ax = axes[2, layer]
        diag = np.diagonal(trained.best_head("adjacent")[layer])
        ci = np.diagonal(intervals["adjacent"][:, layer], axis1=1, axis2=2)
        ctrl = np.diagonal(control.best_head("adjacent")[layer])
        x = np.arange(len(names))
        err = np.abs(ci - diag[None])
        ax.bar(x - 0.2, diag, 0.4, yerr=err, color=OURS_COLOR, capsize=3, label="trained (95% CI)")
        ax.bar(x + 0.2, ctrl, 0.4, color=CONTROL_COLOR, label="random init")
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(x)
        ax.set_xticklabels(names)
        ax.set_title(f"layer {layer + 1}: nearest l-end minus earlier l-ends", fontsize=8)
        ax.legend(fontsize=6)
    add_citation(fig, "Rows 1-2: excess attention (distance effect removed) from tokens that end a level-l NT to earlier tokens "
                      "that end a level-l' NT, minus to tokens that end no NT (best head per layer). Row 3: to the nearest "
                      "l-end (the adjacent span) versus earlier l-ends. Part 1 (arXiv 2305.13673, abstract; its attention "
                      "figures): boundary-to-boundary attention resembling dynamic programming.")
    fig.tight_layout()
    return fig
