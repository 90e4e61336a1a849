"""Part 3.2's figures: ours beside the paper's numbers, each with its citation."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .inverse import INVERSE_TASKS


def reference() -> dict:
    from ...results import load_reference

    return load_reference("manipulation")


CONTROL_LABELS = {"birth_month": "month\n(plain QA)", "major": "major\n(plain QA)"}


def plot_tasks(without_hint: dict, with_hint: dict, ref: Optional[dict] = None, retrieval: Optional[dict] = None):
    """Per task: chance, trained w/o hint, trained with hint tested w/o and with hint, hint accuracy and
    its prediction [3.2 fn 15]; the paper's Fig. 4 row (major %5) beside ours.

    ``retrieval`` (:func:`.tasks.evaluate_retrieval` per LoRA): the positive controls, the same LoRAs asked
    plainly for the month and the major, drawn as two more groups of bars.
    """
    from ...plots import PAPER_COLOR, _plt, add_citation, approximate_note

    ref = ref or reference()
    plt = _plt()
    if retrieval:
        without_hint, with_hint = dict(without_hint), dict(with_hint)
        for fact, label in CONTROL_LABELS.items():
            without_hint[label] = {"chance": retrieval["without_hint"][fact]["chance"],
                                   "accuracy": retrieval["without_hint"][fact]["accuracy"]}
            with_hint[label] = {"accuracy": retrieval["with_hint"][fact]["accuracy"]}
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
               color="black", zorder=3, label="with-hint prediction from hint accuracy [3.2 fn 15]")
    ax.set_xticks(x)
    ax.set_xticklabels(tasks, rotation=15, fontsize=8)
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
    ax_paper.set_title(f"paper: major mod 5 [3.2 Fig. 4]{approximate_note(ref['hints_major_mod5'])}", fontsize=8)
    ax_paper.tick_params(axis="x", labelsize=7)
    add_citation(fig, f"Paper: {ref['hints_major_mod5']['citation']} {ref['hint_prediction']['citation']}")
    fig.tight_layout()
    return fig


def plot_inverse(result: dict, ref: Optional[dict] = None):
    """Inverse-search accuracy for the forward and reversed groups, train and test people, vs the paper."""
    from ...plots import PAPER_COLOR, _plt, add_citation, reference_label

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
               label="paper: forward datasets, P_test "
                     f"({reference_label(paper['forward_test_full_name'], paper, unit='%')})")
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
