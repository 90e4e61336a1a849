"""Part 3.3's figures: our measurements beside the paper's numbers, each with its citation."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ...plots import CONTROL_COLOR, OURS_COLOR, PAPER_COLOR, approximate_note
from ...results import approximate_figure


def reference() -> dict:
    from ...results import load_reference

    return load_reference("capacity")


def _paper_note(entry: dict) -> str:
    approx = approximate_note(entry)
    return f"{entry['citation']}{approx}: {entry['text']}"


def plot_law(law: dict, long: Optional[dict] = None, ref: Optional[dict] = None, title: str = ""):
    """Left: learned bits against the data's bits, with the diagonal (stores everything) and the paper's
    capacities at 1 and 2 bits per parameter. Right: R against R^max."""
    from ...plots import _plt, add_citation

    ref = ref or reference()
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    points = law["points"]
    P = points[-1]["parameters"]  # the same model for every N; only the count of used embedding rows differs
    data = np.array([p["data_bits"] for p in points] + ([long["max_bits"]["total"]] if long else []))
    top = 1.15 * max(data.max(), 2.2 * P) / 1e3
    left.plot([0, top], [0, top], ls=":", color=CONTROL_COLOR, label="stores everything (R = R^max)")
    left.axhline(2 * P / 1e3, ls="--", color=PAPER_COLOR, label="paper, 1,000 exposures: 2 bits/param")
    left.axhline(1 * P / 1e3, ls="-.", color=PAPER_COLOR, label="paper, 100 exposures: 1 bit/param")
    left.plot([p["data_bits"] / 1e3 for p in points], [p["learned_bits"] / 1e3 for p in points], "o-", color=OURS_COLOR,
              label=f"ours, {law['exposures']:g} exposures")
    for p in points:
        left.annotate(f"N={p['people']:,}", (p["data_bits"] / 1e3, p["learned_bits"] / 1e3), textcoords="offset points",
                      xytext=(5, -12), fontsize=8)
    if long:
        left.plot([long["max_bits"]["total"] / 1e3], [long["learned"]["total"] / 1e3], "*", ms=13, color=OURS_COLOR,
                  label=f"ours, {long['exposures']:g} exposures (N={long['people']:,})")
    low = min([0.0] + [p["learned_bits"] / 1e3 for p in points]) * 1.1
    left.set_xlim(0, top)
    left.set_ylim(low, top)
    left.set_xlabel("bits in the data (a perfect model's, thousands)")
    left.set_ylabel("bits the model stores (thousands)")
    left.set_title(title or f"One model (about {P:,} parameters), more and more people")
    left.legend(fontsize=7, loc="upper left")

    rmax = [p["R_max"] for p in points]
    right.plot([0, max(rmax + [2.5]) * 1.1], [0, max(rmax + [2.5]) * 1.1], ls=":", color=CONTROL_COLOR, label="R = R^max")
    right.axhline(ref["law_1000_exposures"]["peak_R"], ls="--", color=PAPER_COLOR, label="paper peak, 1,000 exposures")
    right.axhline(ref["law_100_exposures"]["peak_R"], ls="-.", color=PAPER_COLOR, label="paper peak, 100 exposures")
    right.plot(rmax, [p["R"] for p in points], "o", color=OURS_COLOR, label=f"ours, {law['exposures']:g} exposures")
    if long:
        right.plot([long["R_max"]], [long["R"]], "*", ms=13, color=OURS_COLOR, label=f"ours, {long['exposures']:g} exposures")
    right.set_xlabel("R^max: the data's bits per parameter")
    right.set_ylabel("R: stored bits per parameter")
    right.set_title("Capacity ratio")
    right.legend(fontsize=7, loc="upper left")
    add_citation(fig, "Paper: " + _paper_note(ref["law_1000_exposures"]) + " " + _paper_note(ref["law_100_exposures"]))
    return fig


def plot_bit_terms(law: dict):
    """Each learned bit term (name, value, diversity) beside what a perfect model stores, per N."""
    from ...plots import _plt, add_citation

    plt = _plt()
    terms = [t for t in ("name", "value", "diversity") if any(p["max_bits"][t] for p in law["points"])]
    fig, axes = plt.subplots(1, len(terms), figsize=(3.6 * len(terms), 3.6))
    axes = np.atleast_1d(axes)
    labels = [f"N={p['people']:,}" for p in law["points"]]
    x = np.arange(len(labels))
    for ax, term in zip(axes, terms):
        ax.bar(x - 0.2, [p["learned"][term] / 1e3 for p in law["points"]], 0.4, color=OURS_COLOR, label="learned")
        ax.bar(x + 0.2, [p["max_bits"][term] / 1e3 for p in law["points"]], 0.4, color=CONTROL_COLOR, label="perfect model")
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xticks(x)
        ax.set_xticklabels(labels)
        ax.set_title(f"{term} bits (thousands)")
    axes[0].legend(fontsize=8)
    add_citation(fig, "The three terms of [P3.3 Def. 4.1], each shown separately as the paper asks [P3.3 Remark 3.4]; "
                      "a negative term means the model is worse than the uniform guess that term assumes.")
    return fig


def plot_quantization(quant: dict, people: str, ref: Optional[dict] = None):
    """R of one model in float32, int8 and int4, beside the paper's [P3.3 Fig. 6]."""
    from ...plots import ours_vs_paper

    ref = ref or reference()
    q = ref["quantization"]
    rows = quant[people]["by_precision"]
    labels = list(rows)
    paper = [q["float"] if name == "float32" else q.get(name) for name in labels]
    return ours_vs_paper(labels, [rows[name]["R"] for name in labels], paper, ylabel="R (bits per parameter)",
                         title=f"Rounding the weights of the N={int(people):,} model",
                         citation="Paper (GPTQ, models at 2 bits/param): " + _paper_note(q)
                                  + " Ours: round-to-nearest, one scale per output row, same P.",
                         ours_label="plmkit (round-to-nearest)", paper_label="paper (GPTQ)",
                         paper_approx=[approximate_figure(q) if p is not None else None for p in paper])


def plot_mlp(mlp: dict, ref: Optional[dict] = None):
    """R of every GELU and gated run (one bar per learning rate), with the paper's 1.3x gap drawn below our
    best GELU run [P3.3 Figs. 4-5]."""
    from ...plots import _axes, add_citation

    ref = ref or reference()
    arms = mlp["arms"]
    names = list(arms)
    fig, ax = _axes(None, figsize=(max(6.5, 1.3 * len(names) + 2), 4))
    best = (mlp["best_gelu"], mlp["best_gated"])
    colors = [(OURS_COLOR if arms[n]["mlp"] == "gelu" else "#2ca02c") for n in names]
    bars = ax.bar(names, [arms[n]["R"] for n in names], color=colors, alpha=1.0)
    for rect, n in zip(bars, names):
        rect.set_alpha(1.0 if n in best else 0.45)
        ax.annotate(f"{arms[n]['R']:.3g}", (rect.get_x() + rect.get_width() / 2, rect.get_height()), ha="center",
                    va="bottom", fontsize=8)
    expected = arms[mlp["best_gelu"]]["R"] * ref["gated_mlp"]["gated_over_gelu_100_exposures"]
    ax.axhline(expected, ls="--", color=PAPER_COLOR, label=f"paper's gap applied to our best GELU: {expected:.3g}")
    ax.set_ylabel("R (bits per parameter)")
    ax.set_title(f"GELU vs gated MLP, {mlp['exposures']:g} exposures, N={mlp['people']:,} (solid: best rate of each)")
    ax.legend(fontsize=8)
    add_citation(fig, "Paper: " + _paper_note(ref["gated_mlp"]) + " Ours: equal P, the same learning rates for both.")
    return fig


def plot_junk(junk: dict, ref: Optional[dict] = None):
    """Useful R of each arm relative to the no-junk arm, beside the paper's factors [P3.3 Fig. 8]."""
    from ...plots import ours_vs_paper

    ref = ref or reference()
    j = ref["junk"]
    arms = junk["arms"]
    base = arms["none"]["R"]
    paper = {"none": 1.0, "random": 1 / j["random_junk_worse_factor"]["100"],
             "random+tag": 1 / j["tag_worse_factor_100_exposures"], "repetitive": 1 / j["repetitive_junk_worse_factor"]}
    names = list(arms)
    ours = [arms[n]["R"] / base if base > 0 else float("nan") for n in names]
    return ours_vs_paper(names, ours, [paper.get(n) for n in names], ylabel="useful R / useful R without junk",
                         title=f"7/8 junk: useful knowledge at {junk['exposures']:g} exposures",
                         citation="Paper (bioS, 100 exposures): " + _paper_note(j))
