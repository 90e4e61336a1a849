"""What a Canon layer costs on this CPU, per placement and per implementation (run as a script).

    python benchmarks/bench_canon.py            # about a minute on one core
    python benchmarks/bench_canon.py --quick    # fewer repeats, about 20 seconds

1. Step time (forward, backward, AdamW) of a 4-layer width-64 Llama-style model at context 128, batch 32,
   for each Canon placement, against the same model without Canon. Target: at most 1.3x.
2. The same step with Canon-ABCD computed five ways, all equal to 1e-5:
   * ``kit``: what the model uses (the channels-last convolution form for float32 on CPU, see
     :mod:`plmkit.canon_ops`); ``kit conv form`` and ``kit shift-sum`` force one of its two forms;
   * ``autograd shift-sum``: the plain shift-and-sum, differentiated by autograd;
   * ``conv1d``: a depthwise ``F.conv1d`` with 3 zeros padded on the left (the paper's form).
3. The Canon operation alone, forward and backward, at the width of each point.

Ratios come from interleaved rounds (:func:`plmkit.experiments.canon.cost.interleaved_times`, the lab's own
measurement): each round times every variant once, in a rotating order, and the ratio is the median over
rounds of a variant's time over the plain step's time in the same round (timing one variant after another let
a slow phase of a shared machine make Canon look cheaper than no Canon). One thread: small models on a few cores are
slower with more (see bench_threads.py). The paper's fused kernels on an H100 add 12-21% (ABCD) and 6-7%
(AC) [P4.1 fn 11]; plain PyTorch pays for every memory pass of a small model, so expect more here.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402

import torch  # noqa: E402

from plmkit import canon_ops  # noqa: E402
from plmkit.experiments.canon.cost import interleaved_times, training_step_fn  # noqa: E402
from plmkit.experiments.canon.mechanics import conv_reference  # noqa: E402
from plmkit.model import CANON_KERNEL, GPTConfig  # noqa: E402

TARGET_RATIO = 1.3
PLACEMENTS = ("A", "B", "C", "D", "AC", "ABCD")
KIT_FORM = canon_ops.causal_conv


def autograd_shift_sum(x, weight, residual):
    """The plain shift-and-sum; autograd differentiates it."""
    T = x.shape[1]
    padded = torch.cat((x.new_zeros(x.shape[0], CANON_KERNEL - 1, x.shape[2]), x), dim=1)
    w = weight[:, 0, :]
    out = sum(padded[:, k: k + T] * w[:, k] for k in range(CANON_KERNEL))
    return out + x if residual else out


IMPLEMENTATIONS = {
    "kit": KIT_FORM,  # the model's choice: the channels-last convolution form for float32 on CPU
    "kit conv form": canon_ops.ChannelsLastConv.apply,
    "kit shift-sum": canon_ops.ShiftSum.apply,
    "autograd shift-sum": autograd_shift_sum,
    "conv1d": conv_reference,  # the paper's form: a depthwise F.conv1d, 3 zeros padded on the left
}


CPU = torch.device("cpu")


def training_step(canon: str):
    """A closure running one training step of the 4L64D model with the given placement."""
    return training_step_fn(GPTConfig(vocab_size=64, context=128, n_layer=4, n_head=4, d_model=64, mlp="swiglu",
                                      norm="rmsnorm", canon=canon), batch=32, device=CPU)


def interleaved_ratios(steps: dict, rounds: int) -> tuple[dict, dict]:
    return interleaved_times(steps, rounds, CPU, baseline="")


def bench_placements(rounds: int) -> None:
    seconds, ratios = interleaved_ratios({p: training_step(p) for p in ("",) + PLACEMENTS}, rounds)
    print(f"\n1. training step, 4L64D, context 128, batch 32 (kit implementation); target <= {TARGET_RATIO}x")
    print(f"   {'none':>5}: {1000 * seconds['']:6.1f} ms")
    for placement in PLACEMENTS:
        verdict = "met" if ratios[placement] <= TARGET_RATIO else "MISSED"
        print(f"   {placement:>5}: {1000 * seconds[placement]:6.1f} ms  {ratios[placement]:4.2f}x  {verdict}")


class _Form:
    """A training step of Canon-ABCD with ``form`` in place of the kit's choice (restored after each step)."""

    def __init__(self, form):
        self.form, self.step = form, training_step("ABCD")

    def __call__(self):
        canon_ops.causal_conv = self.form
        try:
            self.step()
        finally:
            canon_ops.causal_conv = KIT_FORM


def bench_implementations(rounds: int) -> None:
    print("\n2. training step with Canon-ABCD, by implementation")
    steps = {"": training_step("")} | {name: _Form(form) for name, form in IMPLEMENTATIONS.items()}
    seconds, ratios = interleaved_ratios(steps, rounds)
    for name in IMPLEMENTATIONS:
        print(f"   {name:>18}: {1000 * seconds[name]:6.1f} ms  {ratios[name]:4.2f}x the step without Canon")


def bench_operation(repeats: int) -> None:
    print("\n3. the Canon operation alone, forward + backward, (32, 128, channels) at each point of a 64-wide layer")
    for point, channels in (("A/C", 64), ("B", 192), ("D", 352)):
        x = torch.randn(32, 128, channels, requires_grad=True)
        weight = (torch.rand(channels, 1, CANON_KERNEL) - 0.5).requires_grad_()
        grad = torch.randn(32, 128, channels)
        outputs, runs = {}, {}
        for name, form in IMPLEMENTATIONS.items():
            outputs[name] = form(x, weight, True).detach()

            def run(form=form):
                form(x, weight, True).backward(grad)
                x.grad = weight.grad = None

            runs[name] = run
        seconds, _ = interleaved_times(runs, repeats, CPU, baseline="conv1d")
        line = [f"{name} {1000 * seconds[name]:.2f}" for name in IMPLEMENTATIONS]
        worst = max((outputs[n] - outputs["conv1d"]).abs().max().item() for n in outputs)
        print(f"   {point:>3} ({channels:3d}): " + ", ".join(line) + f" ms; largest difference {worst:.1e}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rounds = 5 if args.quick else 15
    print(f"torch {torch.__version__}, 1 thread, wall seconds; ratios are medians over {rounds} interleaved rounds")
    bench_placements(rounds)
    bench_implementations(rounds)
    bench_operation(rounds * 2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
