"""Training throughput: plmkit's GPT against Hugging Face's GPT2LMHeadModel at the same shape.

    pip install -e ".[bench]"          # transformers: a benchmark-only extra
    python benchmarks/bench_train.py   # --threads N, --steps N, --quick

For each shape it times full training steps (forward, backward, AdamW) of both models on the
same random tokens and prints tokens/s, their ratio, and plmkit's achieved GFLOP/s against a
measured fp32 matmul peak. FLOPs per token: 6 x (non-embedding params + output layer) plus
attention, 12 x layers x context x width (the usual dense-transformer count).

Targets on 2 CPU cores: plmkit >= 1.5x the HF model's tokens/s; >= 55% of the matmul peak.

It also prints how far any implementation of the same model could beat HF's: both run the same GEMMs and
the same fused attention kernel, so a step can never take less than that kernel time. The column
"max ratio" is HF's step time over plmkit's kernel time (profiled): the ratio plmkit would reach if
everything else it does (norms, GELU, loss, optimizer, Python) cost nothing.
"""
from __future__ import annotations

import argparse
import time

import torch

from plmkit.model import GPT, GPTConfig
from plmkit.profiles import available_cores

SHAPES = [
    dict(n_layer=4, d_model=128, n_head=4, context=256, batch=32),
    dict(n_layer=6, d_model=256, n_head=4, context=256, batch=16),
]
VOCAB = 512


def matmul_peak_gflops(repeats: int = 5) -> float:
    """Best fp32 GEMM rate over a few square sizes: the ceiling a training step can approach."""
    best = 0.0
    for n in (512, 1024, 2048):
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = max(best, 2 * n ** 3 * repeats / (time.perf_counter() - start) / 1e9)
    return best


def flops_per_token(n_layer: int, d_model: int, context: int, matmul_params: int) -> float:
    return 6 * matmul_params + 12 * n_layer * context * d_model


def plmkit_model(shape, pos: str = "learned"):
    """GPT-2's architecture (learned positions, GELU MLP, LayerNorm) unless ``pos`` says otherwise."""
    config = GPTConfig(vocab_size=VOCAB, context=shape["context"], n_layer=shape["n_layer"], n_head=shape["n_head"],
                       d_model=shape["d_model"], pos=pos, mlp="gelu", norm="layernorm")
    model = GPT(config)
    counts = model.param_counts()
    matmul_params = counts["non_embedding"] + VOCAB * shape["d_model"]  # + the output layer
    return model, matmul_params, lambda x, y: model(x, y).loss


def hf_model(shape):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=VOCAB, n_positions=shape["context"], n_embd=shape["d_model"],
                        n_layer=shape["n_layer"], n_head=shape["n_head"], resid_pdrop=0.0, embd_pdrop=0.0,
                        attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(config)
    try:
        model.config._attn_implementation = "sdpa"  # the fastest attention HF offers on CPU
    except AttributeError:
        pass
    return model, None, lambda x, y: model(input_ids=x, labels=y).loss


def training_step(make, shape):
    """A function doing one full optimizer step (forward, backward, AdamW) on fixed random tokens."""
    torch.manual_seed(0)
    model, _, loss_fn = make(shape)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randint(0, VOCAB, (shape["batch"], shape["context"]))

    def step():
        loss_fn(x, x).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def time_training(make, shape, steps: int, warmup: int = 2) -> float:
    """Tokens per second over ``steps`` full optimizer steps."""
    step = training_step(make, shape)
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return shape["batch"] * shape["context"] * steps / (time.perf_counter() - start)


KERNELS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")


def kernel_seconds(make, shape, steps: int = 5) -> float:
    """Per-step time spent in matrix multiplies and fused attention (forward and backward), profiled."""
    from torch.profiler import ProfilerActivity, profile

    step = training_step(make, shape)
    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    kernel_us = sum(e.self_cpu_time_total for e in prof.key_averages()
                    if e.key in KERNELS or "scaled_dot_product" in e.key)
    return kernel_us / 1e6 / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=available_cores())
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="first shape only, 3 steps")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shapes = SHAPES[:1] if args.quick else SHAPES
    steps = 3 if args.quick else args.steps
    peak = matmul_peak_gflops()
    print(f"torch {torch.__version__}, {args.threads} threads, fp32 matmul peak {peak:.1f} GFLOP/s")
    print("rows: plmkit with GPT-2's own architecture (learned positions), then with rotary positions (the labs'")
    print("default, which GPT-2 lacks); the ratio is against the HF model at the same shape.")
    print(f"{'shape':<24}{'pos':>8}{'plmkit tok/s':>14}{'HF GPT2 tok/s':>15}{'ratio':>8}{'GFLOP/s':>10}{'% peak':>8}"
          f"{'max ratio':>11}")
    for shape in shapes:
        try:
            theirs = time_training(hf_model, shape, steps)
        except ImportError:
            theirs = float("nan")
        name = f"{shape['n_layer']}L d{shape['d_model']} T{shape['context']} B{shape['batch']}"
        for pos in ("learned", "rope"):
            _, matmul_params, _ = plmkit_model(shape, pos)
            ours = time_training(lambda s: plmkit_model(s, pos), shape, steps)
            gflops = ours * flops_per_token(shape["n_layer"], shape["d_model"], shape["context"], matmul_params) / 1e9
            tokens = shape["batch"] * shape["context"]
            bound = tokens / theirs / kernel_seconds(lambda s: plmkit_model(s, pos), shape) if theirs == theirs else float("nan")
            print(f"{name:<24}{pos:>8}{ours:>14,.0f}{theirs:>15,.0f}{ours / theirs:>8.2f}{gflops:>10.1f}"
                  f"{100 * gflops / peak:>7.0f}%{bound:>11.2f}")
    if theirs != theirs:
        print("(install transformers for the HF column: pip install -e '.[bench]')")


if __name__ == "__main__":
    main()
