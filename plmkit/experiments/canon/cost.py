"""What Canon costs: parameters (a closed formula) and step time (measured on the device in use).

Parameters [P4.1 §4, fn 11]: a Canon point of width m has 4m weights (kernel 4, depthwise, no bias).
Per layer the widths are d at A, 3d at B (q, k and v together), d at C, and at D the MLP's
up-projection output: 2 x hidden for the gated MLP (the paper's 16d/3; plmkit rounds hidden = 8d/3 up
to a multiple of 8), 4d for a standard MLP. For 12 layers of width 768, ABCD adds 380,928 weights,
0.45% of GPT-2 small, the paper's "fewer than 0.45%".

Time: the paper's fused kernels add 12-21% on an H100 (ABCD) and 6-7% (AC) [P4.1 fn 11]. Plain PyTorch
on a CPU pays for every memory pass of a small model, so the overhead here is larger; it is measured and
reported, never asserted. Arms are therefore compared at equal steps, not equal seconds.
"""
from __future__ import annotations

import statistics
import time

import torch

from ...model import GPT, Canon, GPTConfig
from ...profiles import pick_device, set_threads
from ..common import RunContext
from .settings import CostSettings, settings

PAPER_SIZE = (12, 768)  # GPT-2 small: 12 layers of width 768 [P4.1 fn 11]


def gated_hidden(d_model: int) -> int:
    """plmkit's gated-MLP hidden width: 8d/3 rounded up to a multiple of 8."""
    return (8 * d_model // 3 + 7) // 8 * 8


def canon_widths(d_model: int, mlp: str = "swiglu") -> dict[str, int]:
    """Channels of each Canon point in one layer (multi-head attention, no grouped keys)."""
    return {"A": d_model, "B": 3 * d_model, "C": d_model,
            "D": 2 * gated_hidden(d_model) if mlp == "swiglu" else 4 * d_model}


def canon_parameter_formula(n_layer: int, d_model: int, placement: str, mlp: str = "swiglu") -> int:
    """Weights Canon adds: 4 taps x the width of each point x layers."""
    widths = canon_widths(d_model, mlp)
    unknown = set(placement) - set(widths)
    if unknown:
        raise ValueError(f"unknown Canon point(s) {sorted(unknown)}; valid: A, B, C, D")
    return 4 * n_layer * sum(widths[p] for p in placement)


def plain_parameters(n_layer: int, d_model: int, mlp: str = "swiglu") -> int:
    """Non-embedding weights of the model without Canon: attention 4d^2, MLP, two norms per layer, final norm."""
    mlp_weights = 3 * d_model * gated_hidden(d_model) if mlp == "swiglu" else 8 * d_model * d_model
    return n_layer * (4 * d_model * d_model + mlp_weights + 2 * d_model) + d_model


def counted_canon_parameters(config: GPTConfig) -> int:
    """The Canon weights of a model as built."""
    return sum(m.weight.numel() for m in GPT(config).modules() if isinstance(m, Canon))


def parameter_table(n_layer: int, d_model: int, placements=("A", "B", "C", "D", "AC", "ABCD"), n_head: int = 4,
                    mlp: str = "swiglu", count: bool = True) -> list[dict]:
    """Per placement: the formula, the count in a built model (``count``), the share of the plain model."""
    rows = []
    for placement in placements:
        formula = canon_parameter_formula(n_layer, d_model, placement, mlp)
        row = {"placement": placement, "formula": formula, "share": formula / plain_parameters(n_layer, d_model, mlp)}
        if count:
            row["counted"] = counted_canon_parameters(GPTConfig(vocab_size=32, context=16, n_layer=n_layer, n_head=n_head,
                                                                d_model=d_model, mlp=mlp, norm="rmsnorm", canon=placement))
        rows.append(row)
    return rows


def training_step_fn(config: GPTConfig, batch: int, device: torch.device):
    """A closure running one training step (forward, backward, AdamW) of ``config`` on fixed random tokens."""
    torch.manual_seed(0)
    model = GPT(config).to(device)
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    tokens = torch.randint(0, config.vocab_size, (batch, config.context + 1), device=device)

    def step():
        model(tokens[:, :-1], tokens[:, 1:]).loss.backward()
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)

    return step


def interleaved_times(steps: dict, rounds: int, device: torch.device, baseline: str, warmup: int = 2) -> tuple[dict, dict]:
    """Median seconds per call of each closure, and the median over rounds of its ratio to ``steps[baseline]``
    timed in the same round.

    Every round times every closure once, in a rotating order, so a slow phase of a shared machine lands on all
    variants alike; timing one variant's repeats after another's let such phases make Canon look cheaper than
    no Canon.
    """
    names = list(steps)
    for name in names:
        for _ in range(warmup):
            steps[name]()
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            steps[name]()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
    ratios = {name: statistics.median(t / b for t, b in zip(times[name], times[baseline])) for name in names}
    return {name: statistics.median(v) for name, v in times.items()}, ratios


def measure_overhead(ctx: RunContext, s: CostSettings = None) -> dict:
    """Step time per placement on this run's device, and its ratio to the step without Canon."""
    s = s or settings(ctx).cost
    device = pick_device(ctx.device)
    if device.type == "cpu":
        set_threads(ctx.threads)
    sizes = s.sizes
    steps = {}
    for placement in s.placements:
        config = GPTConfig(vocab_size=64, context=sizes.context, n_layer=sizes.n_layer, n_head=sizes.n_head,
                           d_model=sizes.d_model, mlp="swiglu", norm="rmsnorm", canon=placement)
        steps[placement or "none"] = training_step_fn(config, s.batch, device)
    seconds, ratio = interleaved_times(steps, s.repeats, device, baseline="none")
    return {"device": str(device), "threads": torch.get_num_threads() if device.type == "cpu" else None,
            "model": f"{sizes.n_layer}L{sizes.d_model}D, context {sizes.context}, batch {s.batch}",
            "seconds": seconds, "ratio": ratio, "timing": f"medians over {s.repeats} interleaved rounds"}
