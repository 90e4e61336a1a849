"""What a Canon layer costs on this CPU, per placement and per implementation (run as a script).

    python benchmarks/bench_canon.py            # about a minute on one core
    python benchmarks/bench_canon.py --quick    # fewer repeats, about 20 seconds

1. Step time (forward, backward, AdamW) of a 4-layer width-64 Llama-style model at context 128, batch 32,
   for each Canon placement, against the same model without Canon. Target: at most 1.3x.
2. The same step with Canon-ABCD computed three ways, all equal to 1e-6:
   * ``kit``: plmkit's Canon (a shift-and-sum done in place, with its backward written out);
   * ``shift-sum``: the plain shift-and-sum, differentiated by autograd;
   * ``conv1d``: a depthwise ``F.conv1d`` with 3 zeros padded on the left (the paper's form).
3. The Canon operation alone, forward and backward, at the width of point D (352 channels).

Times are CPU seconds of this process (``time.process_time``), medians over repeats, so that other jobs on
a shared machine inflate them less than wall-clock time would. One thread: small models on a few cores are
slower with more (see bench_threads.py). The paper's fused kernels on an H100 add 12-21% (ABCD) and 6-7%
(AC) [P4.1 fn 11]; plain PyTorch pays for every memory pass of a small model, so expect more here.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from plmkit import model as model_module  # noqa: E402
from plmkit.model import CANON_KERNEL, GPT, GPTConfig  # noqa: E402

TARGET_RATIO = 1.3
PLACEMENTS = ("A", "B", "C", "D", "AC", "ABCD")
KIT_FORWARD = model_module.Canon.forward


def shift_sum_forward(self, x, past=None):
    """The plain shift-and-sum; autograd differentiates it."""
    B, T, dim = x.shape
    past = x.new_zeros(B, CANON_KERNEL - 1, dim) if past is None else past
    padded = torch.cat((past, x), dim=1)
    w = self.weight[:, 0, :]
    out = sum(padded[:, k: k + T] * w[:, k] for k in range(CANON_KERNEL))
    return (out + x if self.residual else out), padded[:, -(CANON_KERNEL - 1):]


def conv1d_forward(self, x, past=None):
    """The paper's form: a depthwise conv1d, padded on the left only."""
    padded = torch.cat((x.new_zeros(x.shape[0], CANON_KERNEL - 1, x.shape[2]) if past is None else past, x), dim=1)
    y = F.conv1d(padded.transpose(1, 2), self.weight, groups=x.shape[-1]).transpose(1, 2)
    return (x + y if self.residual else y.contiguous()), padded[:, -(CANON_KERNEL - 1):]


IMPLEMENTATIONS = {"kit": KIT_FORWARD, "shift-sum": shift_sum_forward, "conv1d": conv1d_forward}


def median_seconds(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return float(np.median(times))


def training_step(canon: str):
    """A closure running one training step of the 4L64D model with the given placement."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=64, context=128, n_layer=4, n_head=4, d_model=64, mlp="swiglu", norm="rmsnorm",
                          canon=canon))
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    tokens = torch.randint(0, 64, (32, 129), generator=torch.Generator().manual_seed(0))

    def step():
        model(tokens[:, :-1], tokens[:, 1:]).loss.backward()
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)

    return step


def bench_placements(repeats: int) -> None:
    base = median_seconds(training_step(""), repeats)
    print(f"\n1. training step, 4L64D, context 128, batch 32 (kit implementation); target <= {TARGET_RATIO}x")
    print(f"   {'none':>5}: {1000 * base:6.1f} ms")
    for placement in PLACEMENTS:
        seconds = median_seconds(training_step(placement), repeats)
        ratio = seconds / base
        verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
        print(f"   {placement:>5}: {1000 * seconds:6.1f} ms  {ratio:4.2f}x  {verdict}")


def bench_implementations(repeats: int) -> None:
    print("\n2. training step with Canon-ABCD, by implementation")
    base = median_seconds(training_step(""), repeats)
    try:
        for name, forward in IMPLEMENTATIONS.items():
            model_module.Canon.forward = forward
            seconds = median_seconds(training_step("ABCD"), repeats)
            print(f"   {name:>9}: {1000 * seconds:6.1f} ms  {seconds / base:4.2f}x the step without Canon")
    finally:
        model_module.Canon.forward = KIT_FORWARD


def bench_operation(repeats: int, channels: int = 352) -> None:
    print(f"\n3. the Canon operation alone, forward + backward, (32, 128, {channels})")
    layer = model_module.Canon(channels)
    x = torch.randn(32, 128, channels, requires_grad=True)
    grad = torch.randn(32, 128, channels)
    outputs = {}
    try:
        for name, forward in IMPLEMENTATIONS.items():
            model_module.Canon.forward = forward
            outputs[name] = layer(x)[0].detach()

            def run():
                out = layer(x)[0]
                out.backward(grad)
                x.grad = layer.weight.grad = None

            print(f"   {name:>9}: {1000 * median_seconds(run, repeats):6.2f} ms")
    finally:
        model_module.Canon.forward = KIT_FORWARD
    worst = max((outputs[n] - outputs["conv1d"]).abs().max().item() for n in outputs)
    print(f"   largest difference between the implementations: {worst:.1e}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    repeats = 3 if args.quick else 8
    print(f"torch {torch.__version__}, 1 thread, CPU seconds (medians of {repeats})")
    bench_placements(repeats)
    bench_implementations(repeats)
    bench_operation(repeats * 3)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
