"""The exact properties of a Canon layer, measured on the kit's own model on every run [P4.1 §4, App. C.2].

* it is a causal depthwise convolution of kernel 4: the model's shift-and-sum equals a left-padded
  ``conv1d`` with ``groups = channels``, and no output at position t moves when tokens after t change,
  at every placement (B runs on q/k/v before the rotary embedding, so it is tested too);
* its kernels keep PyTorch's default conv init, U(-0.5, 0.5), std 1/sqrt(12) = 0.2887, after the model's
  global N(0, 0.02) init (which would otherwise make Canon nearly the identity);
* generation with the KV cache, which carries each Canon point's last 3 inputs, equals generation
  without it, token for token.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ...model import CANON_KERNEL, GPT, Canon, GPTConfig
from .cost import PAPER_SIZE, canon_parameter_formula, parameter_table

INIT_STD = 1.0 / math.sqrt(12.0)  # std of U(-0.5, 0.5) [P4.1 App. C.2]
CAUSALITY_VARIANTS = {  # label -> GPTConfig switches
    "A": {"canon": "A"}, "B": {"canon": "B"}, "C": {"canon": "C"}, "D": {"canon": "D"},
    "ABCD": {"canon": "ABCD"}, "NoPE ABCD": {"canon": "ABCD", "pos": "nope"},
    "no-res ABCD": {"canon": "ABCD", "canon_residual": False},
    "cst ABCD": {"canon": "ABCD", "canon_trainable": False},
}


def tiny_model(seed: int = 0, **switches) -> GPT:
    torch.manual_seed(seed)
    config = GPTConfig(vocab_size=32, context=24, n_layer=2, n_head=2, d_model=16, mlp="swiglu", norm="rmsnorm",
                       **switches)
    return GPT(config).eval()


def canon_layers(model: torch.nn.Module) -> list[Canon]:
    return [m for m in model.modules() if isinstance(m, Canon)]


def init_report(d_model: int = 256, n_layer: int = 2, seed: int = 0) -> dict:
    """Std and largest |w| of every Canon kernel of a freshly built ABCD model (global init included)."""
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=16, context=16, n_layer=n_layer, n_head=4, d_model=d_model, mlp="swiglu",
                          norm="rmsnorm", canon="ABCD"))
    stds = [layer.weight.std().item() for layer in canon_layers(model)]
    return {"stds": stds, "worst_gap": max(abs(s - INIT_STD) for s in stds),
            "max_abs": max(layer.weight.abs().max().item() for layer in canon_layers(model))}


def conv_reference(x: torch.Tensor, weight: torch.Tensor, residual: bool = True) -> torch.Tensor:
    """Canon as the paper writes it: a depthwise conv1d, 3 zeros padded on the left only."""
    y = F.conv1d(F.pad(x.transpose(1, 2), (CANON_KERNEL - 1, 0)), weight, groups=x.shape[-1]).transpose(1, 2)
    return x + y if residual else y


def conv_equivalence(seed: int = 0) -> float:
    """Largest difference between the model's Canon and the conv form: outputs and both gradients."""
    generator = torch.Generator().manual_seed(seed)
    worst = 0.0
    for residual in (True, False):
        layer = Canon(12, residual=residual).double()  # float64: the two forms round differently in float32
        x = torch.randn(3, 9, 12, generator=generator, dtype=torch.float64, requires_grad=True)
        grad = torch.randn(3, 9, 12, generator=generator, dtype=torch.float64)
        ours = layer(x)[0]
        ours_grads = torch.autograd.grad(ours, (x, layer.weight), grad)
        ref = conv_reference(x, layer.weight, residual)
        ref_grads = torch.autograd.grad(ref, (x, layer.weight), grad)
        worst = max(worst, (ours - ref).abs().max().item(),
                    *((a - b).abs().max().item() for a, b in zip(ours_grads, ref_grads)))
    return worst


@torch.no_grad()
def future_leak(model: GPT, length: int = 20, seed: int = 0) -> float:
    """Largest change of the logits at positions <= t when every token after t is replaced (0 = causal).

    One forward pass: row t of the batch is the sequence with its tokens after t redrawn.
    """
    generator = torch.Generator().manual_seed(seed)
    vocab = model.config.vocab_size
    x = torch.randint(0, vocab, (length,), generator=generator)
    changed = x.repeat(length - 1, 1)
    for t in range(length - 1):
        changed[t, t + 1:] = torch.randint(0, vocab, (length - t - 1,), generator=generator)
    base, logits = model(x[None]).logits[0], model(changed).logits
    return max((logits[t, : t + 1] - base[: t + 1]).abs().max().item() for t in range(length - 1))


@torch.no_grad()
def cached_generation_agreement(canon: str = "ABCD", new_tokens: int = 16, seed: int = 0) -> float:
    """Share of tokens on which greedy generation with and without the KV cache agree (1.0 = identical)."""
    model = tiny_model(seed, canon=canon)
    prompt = torch.randint(0, model.config.vocab_size, (3, 5), generator=torch.Generator().manual_seed(seed))
    cached = model.generate(prompt, new_tokens, temperature=0, use_cache=True)
    uncached = model.generate(prompt, new_tokens, temperature=0, use_cache=False)
    return (cached == uncached).float().mean().item()


def formula_mismatches() -> list[str]:
    """Placements and sizes at which the closed formula differs from the count in a built model."""
    mismatches = []
    for n_layer, d_model, mlp in ((1, 16, "swiglu"), (2, 48, "swiglu"), (3, 40, "gelu")):
        for row in parameter_table(n_layer, d_model, ("A", "B", "C", "D", "AC", "ABC", "ACD", "ABCD"), mlp=mlp):
            if row["formula"] != row["counted"]:
                mismatches.append(f"{n_layer}L{d_model}D {mlp} {row['placement']}: {row['formula']} vs {row['counted']}")
    return mismatches


def exact_checks(seed: int = 0) -> dict:
    """Every exact property above, as numbers for the targets table."""
    return {
        "init": init_report(seed=seed),
        "conv_equivalence": conv_equivalence(seed),
        "future_leak": {label: future_leak(tiny_model(seed, **switches)) for label, switches in CAUSALITY_VARIANTS.items()},
        "kv_cache_agreement": {canon: cached_generation_agreement(canon, seed=seed) for canon in ("B", "ABCD")},
        "parameters": {"formula_12L768D": canon_parameter_formula(*PAPER_SIZE, "ABCD"),
                       "mismatches_with_built_models": formula_mismatches()},
    }
