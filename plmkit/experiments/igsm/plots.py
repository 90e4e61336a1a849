"""Figures of Part 2.1: the two graphs of a problem, loss beside accuracy, and each result beside the
paper's number with its citation."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ...plots import CONTROL_COLOR, OURS_COLOR, PAPER_COLOR, _plt, add_citation, ours_vs_paper

PAPER = "Ye, Xu, Li, Allen-Zhu, Part 2.1, arXiv 2407.20311"


# ----------------------------------------------------------------------------------------------
# The two graphs of a problem [P2.1 §2.1, App. D]
# ----------------------------------------------------------------------------------------------
def _short(token: str) -> str:
    return token.replace("_", " ")


def draw_structure(problem, ax) -> None:
    """The structure graph: layers of items (top category first); each edge is an instance parameter,
    bold when the question needs it."""
    st = problem.structure
    pos = {}
    for layer, items in enumerate(st.layers):
        for i, item in enumerate(items):
            pos[(layer, i)] = ((i + 0.5) / len(items), -layer)
            ax.text(*pos[(layer, i)], _short(item), ha="center", va="center", fontsize=7,
                    bbox=dict(boxstyle="round", fc="#eef4fb", ec=OURS_COLOR))
        ax.text(-0.08, -layer, _short(st.categories[layer]), ha="right", va="center", fontsize=8, style="italic")
    for pid, (layer, a, b) in enumerate(st.edges):
        (x0, y0), (x1, y1) = pos[(layer, a)], pos[(layer + 1, b)]
        needed = pid in problem.necessary
        ax.plot([x0, x1], [y0, y1], color=PAPER_COLOR if needed else CONTROL_COLOR, lw=2.2 if needed else 0.8, zorder=0)
    ax.set_xlim(-0.45, 1.05)
    ax.set_ylim(-len(st.layers) + 0.5, 0.5)
    ax.axis("off")
    ax.set_title("structure graph: items by layer; edges = instance parameters\n(orange: needed for the question)",
                 fontsize=9)


def dependency_levels(problem) -> dict[int, int]:
    """Longest path from a parameter with no predecessors, for a left-to-right layout."""
    level: dict[int, int] = {}
    for p in problem.graph:  # problem.graph is a topological order
        preds = [q for q in problem.preds_of(p) if q in level]
        level[p] = 1 + max((level[q] for q in preds), default=-1)
    return level


def draw_dependency(problem, ax) -> None:
    """The dependency graph G_d, sources on top: an arrow q -> p when p's definition uses q. Orange:
    necessary (numbered in the solution's order); grey: unnecessary; the star marks the question."""
    level = dependency_levels(problem)
    rows: dict[int, list[int]] = {}
    for p in problem.graph:
        rows.setdefault(level[p], []).append(p)
    pos = {p: ((i + 0.5) / len(ps), -lv) for lv, ps in rows.items() for i, p in enumerate(ps)}
    step = {p: i + 1 for i, p in enumerate(problem.order)}
    for p in problem.graph:
        for q in problem.preds_of(p):
            if q in pos:
                bend = 0.4 if level[p] - level[q] > 1 else 0.0  # around the boxes in between
                ax.annotate("", xy=pos[p], xytext=pos[q],
                            arrowprops=dict(arrowstyle="->", color="#666666", lw=0.9, shrinkA=12, shrinkB=12,
                                            connectionstyle=f"arc3,rad={bend}"))
    for p, (x, y) in pos.items():
        needed = p in problem.necessary
        a, b = problem.structure.names[p]
        label = f"{_short(a)}'s\n{_short(b)}" + (" *" if p == problem.query else "")
        if needed:
            label = f"({step[p]}) " + label
        ax.text(x, y, label, ha="center", va="center", fontsize=7,
                bbox=dict(boxstyle="round", fc="#fde9d9" if needed else "#f0f0f0",
                          ec=PAPER_COLOR if needed else CONTROL_COLOR, ls="--" if problem.is_abstract(p) else "-"))
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-max(rows) - 0.5, 0.5)
    ax.axis("off")
    ax.set_title("dependency graph: arrow q -> p when p uses q (dashed box: abstract parameter)\n"
                 "orange: necessary, numbered in solution order; * the question", fontsize=9)


def problem_graphs(problem):
    plt = _plt()
    height = max(len(problem.structure.layers), 1 + max(dependency_levels(problem).values()))
    fig, axes = plt.subplots(1, 2, figsize=(14, 1.3 * height + 1.6), gridspec_kw={"width_ratios": [1, 1.5]})
    draw_structure(problem, axes[0])
    draw_dependency(problem, axes[1])
    fig.suptitle(f"op = {problem.op}, ip = {problem.ip}, question: {problem.question_text}", fontsize=10, y=1.04)
    add_citation(fig, f"Structure and dependency graphs as defined in [P2.1 §2.1, App. D] ({PAPER}).")
    return fig


# ----------------------------------------------------------------------------------------------
# Loss is not progress [P2.1 §3]
# ----------------------------------------------------------------------------------------------
def loss_and_accuracy(history, title: str = "", smooth: int = 20):
    """The training loss beside full-solution accuracy per op over the same steps: most of the loss is
    irreducible (random letters, names, sentence order), so it flattens long before accuracy moves."""
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    left.plot(np.arange(1, history.steps + 1), history.smoothed_loss(smooth), color=OURS_COLOR)
    left.set_xlabel("step")
    left.set_ylabel("training loss (nats / token)")
    left.set_title("loss")
    evals = history.evals
    if evals:
        steps = [e["step"] for e in evals]
        for i, key in enumerate(k for k in evals[0] if k != "step"):
            right.plot(steps, [100 * e[key] for e in evals], "o-", color=f"C{i}", label=key.replace("op", "op "))
        right.legend(fontsize=8)
    right.set_xlim(left.get_xlim())
    right.set_ylim(-3, 103)
    right.set_xlabel("step")
    right.set_ylabel("full-solution accuracy (%)")
    right.set_title("accuracy by op (greedy, every step checked)")
    fig.suptitle(title, fontsize=10)
    add_citation(fig, "Track generation accuracy with the full checker, not the loss [P2.1 §3, fn. 13]; "
                      "the loss mostly measures random letters and names.")
    return fig


# ----------------------------------------------------------------------------------------------
# Results beside the paper
# ----------------------------------------------------------------------------------------------
def accuracy_figure(table: dict, reference: dict, world: str, note: str = ""):
    """[P2.1 Fig. 3] analogue: our columns beside med_pq's, matched by role (training law, top training op,
    OOD ops in order, reask)."""
    med = reference["accuracy"]["med_pq"]
    med_ood = list(med["ood"].items())
    labels, ours, paper = [f"op <= {table['op_max']}\n(med: <= 15)", f"op = {table['op_max']}\n(med: 15)"], \
        [100 * table["in_distribution"], 100 * table["top_op"]], [med["in_distribution"], med["top_op"]]
    for i, op in enumerate(table["ood_ops"]):
        med_op, med_value = med_ood[i] if i < len(med_ood) else (None, None)
        labels.append(f"op {op} OOD\n(med: {med_op})")
        ours.append(100 * table["ood"][str(op)])
        paper.append(med_value)
    labels.append(f"reask\n(from op {table['reask_from']})")
    ours.append(100 * table["reask"]["accuracy"])
    paper.append(med["reask"])
    return ours_vs_paper(labels, ours, paper, "full-solution accuracy (%)",
                         f"{reference['accuracy']['citation']} Paper: GPT2-12-12 on med_pq after ~39 B tokens. Ours: "
                         f"iGSM-{world}. {note}", title="Accuracy by op, in and out of distribution",
                         paper_label="paper (med_pq, beam 1)")


def unnecessary_figure(table: dict, reference: dict, note: str = ""):
    """[P2.1 Fig. 4] analogue: unnecessary parameters per correct solution, ordinary vs reask problems."""
    u = table["unnecessary"]
    paper_reask = reference["unnecessary_params"]["reask"]["med_pq"]["20"]
    return ours_vs_paper(["ordinary problems", "reask problems"], [u["normal"], u["reask"]],
                         [reference["unnecessary_params"]["normal"], paper_reask],
                         "unnecessary parameters per correct solution",
                         f"{reference['unnecessary_params']['citation']} Paper reask bar: med_pq op 20. "
                         f"Ours: {u['normal_correct']} and {u['reask_correct']} correct solutions. {note}",
                         title="Shortest solutions: computing only what the question needs",
                         paper_label="paper (med_pq)")


def probe_figure(reports: dict, reference: dict, note: str = ""):
    """[P2.1 Fig. 7a] analogue: V-probe accuracy, trained vs random-init vs majority, beside the paper."""
    plt = _plt()
    tasks = list(reports)
    fig, ax = plt.subplots(figsize=(2.6 * len(tasks) + 2, 4))
    x = np.arange(len(tasks))
    series = [("trained (ours)", [100 * reports[t]["trained"]["all"]["accuracy"] for t in tasks], OURS_COLOR),
              ("random-init (ours)", [100 * reports[t]["random_init"]["all"]["accuracy"] for t in tasks], CONTROL_COLOR),
              ("majority (ours)", [100 * reports[t]["majority"] for t in tasks], "#cccccc"),
              ("paper, pretrained", [reference["probes"][t]["pretrained"][0] for t in tasks], PAPER_COLOR),
              ("paper, random-init", [reference["probes"][t]["random_init"][0] for t in tasks], "#fdd0a2")]
    width = 0.16
    for i, (label, values, color) in enumerate(series):
        bars = ax.bar(x + (i - 2) * width, values, width, label=label, color=color)
        for rect, v in zip(bars, values):
            ax.annotate(f"{v:.0f}", (rect.get_x() + rect.get_width() / 2, v), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x)
    ax.set_xticklabels([{"nece": "nece(A)\nbefore the solution", "can_next": "can_next(A)\nalong the solution",
                         "dep": "dep(A, B)\nafter the problem"}.get(t, t) for t in tasks])
    ax.set_ylabel("probe accuracy on test problems (%)")
    ax.set_ylim(0, 130)  # the band above 100 holds the legend, clear of the bars and their labels
    ax.set_yticks(range(0, 101, 20))
    ax.legend(fontsize=7, ncol=3, loc="upper center")
    ax.set_title("V-probes: what the model knows before and while it writes")
    add_citation(fig, f"{reference['probes']['citation']} Paper bars: the op <= 15 column. {note}")
    return fig


def mistakes_figure(mistakes: dict, reference: dict, note: str = ""):
    """[P2.1 Fig. 8b] analogue: the can_next probe at the model's first not-ready step vs on all items."""
    m = mistakes.get("can_next_at_first_wrong_step", {})
    paper = reference["mistakes"]
    labels = ["all test items", "first wrong (not ready) step:\nprobe says 'not ready'"]
    ours = [100 * m.get("overall_accuracy", float("nan")), 100 * m.get("knew", float("nan"))]
    paper_values = [float(np.mean(paper["overall_range"])), float(np.mean(paper["can_next_at_first_wrong_step"]["med_pq"]))]
    return ours_vs_paper(labels, ours, paper_values, "can_next probe (%)",
                         f"{paper['citation']} Paper bars: mean of the range, and the mean over med_pq op 20-23. "
                         f"Ours: {m.get('n', 0)} first wrong steps. {note}",
                         title="Mistakes are visible in the hidden state", paper_label="paper (med_pq)")


def depth_figure(result: dict, reference: dict, note: str = ""):
    """[P2.1 Fig. 9] analogue: equal-size arms on the hardest OOD column, beside GPT2-4-30 vs GPT2-20-9."""
    arms = sorted(result["arms"].values(), key=lambda a: a["size"]["n_layer"])
    models = reference["depth"]["models"]
    paper_pair = [models["GPT2-4-30"]["hard_pq_op32"], models["GPT2-20-9"]["hard_pq_op32"]]
    labels = [f"{a['size']['n_layer']} layers x {a['size']['d_model']}" for a in arms]
    paper = [paper_pair[0] if i == 0 else paper_pair[1] if i == len(arms) - 1 else None for i in range(len(arms))]
    return ours_vs_paper(labels, [100 * a["hardest_ood"] for a in arms], paper,
                         f"accuracy at op {result['hardest_op']} (%)",
                         f"{reference['depth']['citation']} Paper bars: GPT2-4-30 (shallow, wide) and GPT2-20-9 (deep, "
                         f"narrow) on hard_pq op 32. {note}", title="Depth beats width at equal size and tokens",
                         paper_label="paper (hard_pq op 32)")


def toy_vs_shipped(toy: dict, shipped: Optional[dict], world: str):
    """Accuracy per op of the live toy run beside the shipped checkpoint (what an hour buys)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ops = sorted(int(k) for k in toy)
    ax.plot(ops, [100 * toy[str(op)]["accuracy"] for op in ops], "o-", label="live toy run")
    if shipped:
        ax.plot(ops, [100 * shipped[str(op)]["accuracy"] for op in ops], "s-", label="shipped checkpoint")
    ax.set_xlabel("op (operations in the shortest solution)")
    ax.set_ylabel("full-solution accuracy (%)")
    ax.set_ylim(-3, 103)
    ax.set_title(f"iGSM-{world}: accuracy by op")
    ax.legend(fontsize=8)
    return fig
