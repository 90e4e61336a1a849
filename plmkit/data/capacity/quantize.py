"""Post-training quantisation of a model's weights to int8 or int4, for Part 3.3's Result 8.

The paper quantises trained models with GPTQ and finds that int8 keeps all stored knowledge while int4
loses more than half of it [P3.3 §8, Fig. 6]. plmkit uses plain **round-to-nearest (RTN)**, which needs
no calibration data and fits in a few lines: every weight matrix of a Linear layer and every embedding
table is replaced by its quantise-then-dequantise copy,

    scale = max|w| / (2^(b-1) - 1)        per output channel (row) or per tensor
    q     = clamp(round(w / scale), -(2^(b-1) - 1), 2^(b-1) - 1)
    w'    = q * scale

so each weight moves by at most half a step (scale / 2) and takes one of 2^b - 1 symmetric levels.
Norm weights and biases stay in floating point. RTN has no error compensation, so its int4 loss is
larger than GPTQ's [P3.3 §8]; the int8 result does not depend on the method. The parameter count P is
unchanged by quantisation, so R before and after compare directly.

The model is returned as a dequantised float copy (the original is untouched): it runs through the
same code as the float model, and the measured R shows what the b-bit weights still know.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn

BIT_CHOICES = (8, 4)
GRANULARITIES = ("channel", "tensor")


def _check(bits: int, granularity: str) -> None:
    if bits not in BIT_CHOICES:
        raise ValueError(f"bits={bits!r} is not supported; valid choices: {', '.join(map(str, BIT_CHOICES))}")
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity={granularity!r} is unknown; valid choices: {', '.join(GRANULARITIES)}")


def quantization_scale(weight: torch.Tensor, bits: int = 8, granularity: str = "channel") -> torch.Tensor:
    """Step size: one per row (shape (rows, 1)) for ``channel``, one number (shape ()) for ``tensor``."""
    _check(bits, granularity)
    levels = 2 ** (bits - 1) - 1
    w = weight.detach().float()
    peak = w.abs().amax(dim=1, keepdim=True) if granularity == "channel" and w.dim() > 1 else w.abs().amax()
    return peak / levels


def quantize_tensor(weight: torch.Tensor, bits: int = 8, granularity: str = "channel") -> tuple[torch.Tensor, torch.Tensor]:
    """Round-to-nearest symmetric quantisation; returns (dequantised weight in the input's dtype, scale)."""
    scale = quantization_scale(weight, bits, granularity)
    levels = 2 ** (bits - 1) - 1
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero row stays zero
    q = torch.clamp(torch.round(weight.detach().float() / safe), -levels, levels)
    return (q * scale).to(weight.dtype), scale


def quantized_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The layers whose weights are quantised: every Linear and every Embedding."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Embedding))]


@torch.no_grad()
def quantize_model(model: nn.Module, bits: int = 8, granularity: str = "channel") -> nn.Module:
    """A copy of ``model`` with every Linear and Embedding weight rounded to ``bits`` bits [P3.3 §8].

    ``granularity``: ``channel`` (one scale per output row, the default) or ``tensor`` (one per matrix).
    A weight shared by two layers (tied input/output embeddings) is quantised once and stays shared.
    """
    _check(bits, granularity)
    quantized = copy.deepcopy(model)  # deepcopy keeps tied weights tied
    done = set()
    for _, module in quantized_modules(quantized):
        weight = module.weight
        if id(weight) in done:
            continue
        weight.copy_(quantize_tensor(weight, bits, granularity)[0])
        done.add(id(weight))
    return quantized
