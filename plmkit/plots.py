"""Figures shared by the labs and the command line.

Every figure that shows one of our measurements beside a paper's number carries the citation
in a footnote, so a reader can check where the reference value comes from.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np

OURS_COLOR, PAPER_COLOR, CONTROL_COLOR = "#1f77b4", "#ff7f0e", "#7f7f7f"


def _plt():
    import matplotlib

    if not _in_notebook():
        matplotlib.use("Agg", force=False)  # the command line and CI have no screen
    import matplotlib.pyplot as plt

    return plt


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython

        shell = get_ipython()
        return shell is not None and shell.__class__.__name__ in ("ZMQInteractiveShell", "Shell")
    except ImportError:
        return False


def _axes(ax, figsize=(6, 4)):
    if ax is not None:
        return ax.figure, ax
    plt = _plt()
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def reference_label(value, entry: Optional[Mapping] = None, key: Optional[str] = None, fmt: str = "{:g}",
                    unit: str = "") -> str:
    """A paper's number as a figure should show it: "91.1%" when printed in the paper, "≈ 48.9% (read off Fig. 3)"
    when it was read off a figure (``entry`` marks it, see :func:`plmkit.results.load_reference`)."""
    from .results import approximate_figure

    text = fmt.format(value) + unit
    figure = approximate_figure(entry, key) if entry is not None else None
    return f"≈ {text} (read off {figure})" if figure else text


def approximate_note(entry: Mapping, key: Optional[str] = None) -> str:
    """" (≈, read off Fig. N)" for a title or legend when the entry (or its ``key``) is approximate, else ""."""
    from .results import approximate_figure

    figure = approximate_figure(entry, key)
    return f" (≈, read off {figure})" if figure else ""


def add_citation(fig, text: str) -> None:
    """A small footnote under the figure naming the source of the paper's numbers, below the lowest tick
    label or axis label (two-line, rotated tick labels reach far under the axes)."""
    top = -0.02
    try:
        renderer = fig.canvas.get_renderer()
        lowest = min(ax.get_tightbbox(renderer).y0 for ax in fig.axes) / fig.bbox.height
        top = min(top, lowest - 0.02)
    except Exception:  # a backend without a renderer: keep the default place
        pass
    fig.text(0.01, top, text, fontsize=7, color="#555555", ha="left", va="top", wrap=True)


def loss_curve(histories, floor: Optional[float] = None, baselines: Optional[Mapping[str, float]] = None,
               title: str = "Training loss", ax=None, smooth: int = 20):
    """Loss per step for one History or a {label: History} dict, with reference lines.

    ``floor`` is the best achievable loss (the data's entropy), ``baselines`` other levels such
    as n-gram models or chance.
    """
    fig, ax = _axes(ax)
    if not isinstance(histories, Mapping):
        histories = {"model": histories}
    for label, history in histories.items():
        ax.plot(np.arange(1, history.steps + 1), history.smoothed_loss(smooth), label=label)
    for i, (label, value) in enumerate((baselines or {}).items()):
        ax.axhline(value, ls=":", color=f"C{i + 3}", label=f"{label} ({value:.3f})")
    if floor is not None:
        ax.axhline(floor, ls="--", color="black", label=f"entropy floor ({floor:.3f})")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats / token)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def probe_by_layer(report: Mapping, title: str = "Linear probe by layer", ax=None, label: str = "trained model"):
    """Probe score per layer: trained model vs random-init control vs majority class."""
    fig, ax = _axes(ax)
    layers = report["layers"]
    ax.plot(layers, report["trained"], "o-", color=OURS_COLOR, label=label)
    if "random_init" in report:
        ax.plot(layers, report["random_init"], "s--", color=CONTROL_COLOR, label="random-init control")
    ax.axhline(report["majority"], ls=":", color="black", label=f"majority class ({report['majority']:.2f})")
    ax.set_xticks(layers)
    ax.set_xticklabels(["emb" if l == 0 else str(l) for l in layers])
    ax.set_xlabel("layer (emb = token embeddings)")
    ax.set_ylabel(report.get("metric", "accuracy").replace("_", " "))
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def ours_vs_paper(labels: Sequence[str], ours: Sequence[float], paper: Sequence[Optional[float]],
                  ylabel: str, citation: str, title: str = "", ours_err: Optional[Sequence[float]] = None,
                  ours_label: str = "plmkit (this run)", paper_label: str = "paper", ax=None,
                  paper_approx: Optional[Sequence[Optional[str]]] = None):
    """Grouped bars: our measurement beside the paper's number for each setting.

    A ``None`` paper value (a setting the paper does not report) leaves its bar out. ``paper_approx`` gives, per
    bar, the figure a paper value was read off (None where it is printed): such bars are hatched and labelled
    "≈ v (read off Fig. N)"; build it with :func:`plmkit.results.approximate_figure`.
    """
    fig, ax = _axes(ax, figsize=(max(5, 1.2 * len(labels) + 2), 4))
    x = np.arange(len(labels))
    width = 0.38
    bars = ax.bar(x - width / 2, ours, width, yerr=ours_err, color=OURS_COLOR, label=ours_label, capsize=3)
    paper_vals = [np.nan if p is None else p for p in paper]
    approx = list(paper_approx) if paper_approx is not None else [None] * len(paper_vals)
    pbars = ax.bar(x + width / 2, paper_vals, width, color=PAPER_COLOR, label=paper_label)
    for rect in bars:
        h = rect.get_height()
        if np.isfinite(h):
            ax.annotate(f"{h:.3g}", (rect.get_x() + rect.get_width() / 2, h), ha="center", va="bottom", fontsize=7)
    for rect, figure in zip(pbars, approx):
        h = rect.get_height()
        if not np.isfinite(h):
            continue
        if figure:
            rect.set_hatch("//")
        text = f"≈ {h:.3g}\n(read off {figure})" if figure else f"{h:.3g}"
        ax.annotate(text, (rect.get_x() + rect.get_width() / 2, h), ha="center", va="bottom", fontsize=6 if figure else 7)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=15 if len(labels) > 4 else 0)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    handles, _ = ax.get_legend_handles_labels()
    if any(approx):
        from matplotlib.patches import Patch

        handles.append(Patch(facecolor=PAPER_COLOR, hatch="//", label="paper, ≈ read off a figure"))
    ax.legend(handles=handles, fontsize=8)
    add_citation(fig, citation)
    return fig


def heatmap(matrix, xlabels: Sequence[str], ylabels: Sequence[str], title: str = "", ax=None,
            cmap: str = "viridis", fmt: str = "{:.2f}", vmin=None, vmax=None, xlabel: str = "", ylabel: str = ""):
    """An annotated heatmap (probe accuracy over positions x attributes, attention statistics...)."""
    matrix = np.asarray(matrix, dtype=float)
    fig, ax = _axes(ax, figsize=(0.7 * len(xlabels) + 2.5, 0.5 * len(ylabels) + 2))
    image = ax.imshow(matrix, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(xlabels)))
    ax.set_xticklabels(xlabels, rotation=30, ha="right")
    ax.set_yticks(range(len(ylabels)))
    ax.set_yticklabels(ylabels)
    lo, hi = np.nanmin(matrix), np.nanmax(matrix)
    for (i, j), value in np.ndenumerate(matrix):
        if np.isfinite(value):
            dark = (value - lo) / (hi - lo + 1e-12) < 0.6
            ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=7, color="white" if dark else "black")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046)
    return fig


class LiveLoss:
    """A training callback that redraws the loss curve in place in a notebook.

    Outside a notebook it does nothing, so experiments can always pass it.
    """

    def __init__(self, floor: Optional[float] = None, title: str = "Training loss (live)", every: int = 1,
                 baselines: Optional[Mapping[str, float]] = None):
        self.floor, self.title, self.every, self.baselines = floor, title, max(1, every), baselines
        self.enabled = _in_notebook()
        self._handle = None
        self._calls = 0

    def __call__(self, step: int, history) -> None:
        if not self.enabled:
            return
        self._calls += 1
        if self._calls % self.every:
            return
        from IPython.display import display

        plt = _plt()
        fig = loss_curve(history, floor=self.floor, baselines=self.baselines, title=f"{self.title}: step {step}")
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)
        plt.close(fig)
