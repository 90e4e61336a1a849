"""Figures of Part 2.2: each of our measurements beside the paper's printed number, with the citation."""
from __future__ import annotations

import numpy as np

from ...plots import _plt, add_citation, ours_vs_paper
from .regret import LABELS

PAPER_OF_METHOD = {"greedy": "original_beam1", "beam": "original_beam4", "regret_oracle": "regret_vP_beam1",
                   "regret_probe": "regret_v1_beam1"}  # the matching row of [P2.2 Fig. 3b]
PAPER_OF_ARM = {"error_free": ("pretraining", "error_free"), "retry": ("pretraining", "retry_0.2"),
                "retry_masked": ("pretraining", "retry_0.2_masked"), "retry_weak": ("fake_mistakes", "retry_weak_0.1"),
                "retry_high": ("pretraining", "retry_0.5")}


def _pct(x) -> float:
    return float("nan") if x is None else 100.0 * float(x)


def detection_figure(report: dict, own: dict, reference: dict, note: str = ""):
    """[P2.2 §3.1] analogue: the detector on test items (trained vs random-init) and at the model's own steps."""
    d = reference["detection"]
    labels = ["trained model", "random-init model\n(same probe)", "own first wrong step:\nsays 'not ready'",
              "own right steps:\nsays 'ready'"]
    ours = [_pct(report["trained"]["accuracy"]), _pct(report["random_init"]["accuracy"]), _pct(own.get("detected")),
            _pct(own.get("ready_passed"))]
    paper = [d["can_next_at_as"], d["random_init_can_next"]["value"], d["first_wrong_step_detected"], None]
    fig = ours_vs_paper(labels, ours, paper, "accuracy (%)",
                        f"{d['citation']}. Paper random-init bar: {d['random_init_can_next']['citation']}. Ours: "
                        f"{report['test_items']} balanced test items (majority {100 * report['majority']:.0f}%), "
                        f"{own.get('mistakes', 0)} first wrong steps, {own.get('ready_steps', 0)} right steps. {note}",
                        title="Is a mistake visible before it is written? (state at 'Define A as')")
    fig.axes[0].set_ylim(0, 110)
    return fig


def regret_figure(report: dict, reference: dict, note: str = ""):
    """[P2.2 Fig. 3b] analogue: accuracy per op and method (left); the mean over ops beside the paper's
    hardest column (right)."""
    plt = _plt()
    methods = list(report["methods"])
    ops = report["ops"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [1.1, 1]})
    width = 0.8 / len(methods)
    for i, m in enumerate(methods):
        values = [_pct(report["methods"][m]["by_op"][str(op)]["accuracy"]) for op in ops]
        left.bar(np.arange(len(ops)) + (i - (len(methods) - 1) / 2) * width, values, width, label=LABELS[m])
    left.set_xticks(np.arange(len(ops)))
    left.set_xticklabels([f"op {op}" for op in ops])
    left.set_ylabel("full-solution accuracy (%)")
    left.set_title(f"{report['problems_per_op']} test problems per op, the same for every method")
    left.legend(fontsize=7)
    rows = reference["regret"]["rows"]
    ours = [_pct(report["methods"][m]["pooled"]) for m in methods]
    paper = [rows[PAPER_OF_METHOD[m]][0] if m in PAPER_OF_METHOD else None for m in methods]
    ours_vs_paper([LABELS[m].replace(", ", ",\n").replace(" + ", "\n+ ") for m in methods], ours, paper,
                  "accuracy (%)", "", title="Retry upon regret", ours_label="ours: mean over the ops",
                  paper_label="paper: med_pq op 23", ax=right)
    for tick in right.get_xticklabels():
        tick.set_fontsize(7)
    add_citation(fig, f"{reference['regret']['citation']}. Paper bars: greedy = original beam 1, beam search = original "
                      f"beam 4, perfect = vP beam 1, probe = v1 beam 1; the paper samples no plain baseline. {note}")
    fig.tight_layout()
    return fig


def _measured(rows: dict) -> list[str]:
    return [arm for arm, row in rows.items() if "missing" not in row]


def comparison_figure(rows: dict, reference: dict, op_max: int, note: str = ""):
    """[P2.2 Figs. 4b, 8] analogue: accuracy by op per pretraining arm (left, with one standard error);
    the first out-of-distribution op beside the paper's hardest column (right)."""
    plt = _plt()
    arms = _measured(rows)
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.2))
    first_ood = None
    for arm in arms:
        table = rows[arm]["by_op"]
        ops = sorted(int(op) for op in table)
        first_ood = next((op for op in ops if op > op_max), first_ood)
        left.errorbar(ops, [_pct(table[str(op)]["accuracy"]) for op in ops],
                      yerr=[_pct(table[str(op)]["se"]) for op in ops], marker="o", capsize=3, label=rows[arm]["label"])
    last = max((int(op) for a in arms for op in rows[a]["by_op"]), default=op_max + 1)
    left.axvspan(op_max + 0.5, last + 0.5, color="#eeeeee", zorder=0)
    left.text(op_max + 0.6, 95, "never trained on", fontsize=8, color="#555555")
    left.set_xlabel("op (operations in the shortest solution)")
    left.set_ylabel("full-solution accuracy (%)")
    left.set_title("Equal training tokens, different data")
    left.set_ylim(-3, 103)
    if arms:
        left.legend(fontsize=8)
    paper = [reference[PAPER_OF_ARM[a][0]]["rows"][PAPER_OF_ARM[a][1]][0] for a in arms]
    ours = [_pct(rows[a]["by_op"].get(str(first_ood), {}).get("accuracy")) for a in arms]
    ours_vs_paper([rows[a]["label"] for a in arms], ours, paper, "accuracy (%)", "",
                  title="Out of distribution", ours_label=f"ours: op {first_ood} (first OOD op)",
                  paper_label="paper: med_pq op 23", ax=right)
    missing = [rows[a]["label"] for a in rows if a not in arms]
    add_citation(fig, f"{reference['pretraining']['citation']}; retry_weak: {reference['fake_mistakes']['citation']}. "
                      + (f"Not measured (checkpoint missing): {', '.join(missing)}. " if missing else "") + note)
    fig.tight_layout()
    return fig


def retries_figure(rows: dict, reference: dict, note: str = ""):
    """[P2.2 Figs. 5a, 11] analogue: [BACK]s written per correct solution."""
    r = reference["retries_per_correct"]
    paper_of = {"error_free": 0.0, "retry": r["retry_0.2_max"], "retry_weak": float(np.mean(r["retry_weak_0.1_range"])),
                "retry_high": float(np.mean(r["retry_0.5_range"])), "retry_masked": None}
    arms = _measured(rows)
    ours = [rows[a]["retries_per_correct"] for a in arms]
    ours = [float("nan") if v is None else v for v in ours]
    return ours_vs_paper([rows[a]["label"] for a in arms], ours, [paper_of.get(a) for a in arms],
                         "retries per correct solution",
                         f"{r['citation']}. Paper bars: the upper bound for retry 0.2, the middle of the printed range "
                         f"for retry_weak 0.1 and retry 0.5. Ours: all ops with a correct solution. {note}",
                         title="Retry-trained models rarely retry")


def finetune_figure(finetune: dict, rows: dict, reference: dict, note: str = ""):
    """[P2.2 Fig. 7] analogue: the error-free model, its LoRA on retry data (and on error-free data, the
    control for more training), and retry pretraining."""
    f = reference["finetune"]
    labels = ["error-free\npretraining", "+ LoRA on\nretry data", "+ LoRA on error-\nfree (control)",
              "retry pre-\ntraining, r=0.2"]
    retry = rows.get("retry", {})
    ours = [_pct(finetune["error_free"]["in_distribution"]), _pct(finetune["lora_retry"]["in_distribution"]),
            _pct(finetune["lora_error_free"]["in_distribution"]),
            _pct(retry.get("in_distribution")) if "missing" not in retry else float("nan")]
    paper = [f["error_free"], f["lora"]["qv8_e16"][0], None, f["retry_pretrain_0.2"]]
    return ours_vs_paper(labels, ours, paper, "accuracy (%)",
                         f"{f['citation']}. Paper bars: row averages, LoRA q/v 8 / embedding 16 unmasked. Ours: "
                         f"accuracy in distribution (the training law of op); each LoRA (q/v rank {finetune['rank']}, "
                         f"embedding rank {finetune['embedding_rank']}) {finetune['steps']} steps "
                         f"({finetune['tokens'] / 1e6:.2f}M tokens) against the paper's {f['steps']:,}. {note}",
                         title="Retry data only at fine-tuning time")


__all__ = ["detection_figure", "regret_figure", "comparison_figure", "retries_figure", "finetune_figure"]
