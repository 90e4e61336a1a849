"""The arithmetic of Part 4.1's Canon layer over a whole sequence, in the two forms a step can use.

Canon is a causal depthwise convolution of width 4 with a residual [P4.1 §4]:

    out_t = h_t + w3*h_t + w2*h_{t-1} + w1*h_{t-2} + w0*h_{t-3}     (positions before 0 are zeros)

It does almost no arithmetic, so its cost is the memory passes over (batch, time, channels): a training
step pays for reading and writing activations, not for multiplications. Two forms, equal to 1e-6:

* :class:`ChannelsLastConv` (float32 on CPU with oneDNN): the sequence padded by 3 zeros on the left, seen
  as a (batch, channels, 1, time) image in channels-last layout (no copy: that *is* the (batch, time,
  channels) memory), and handed to the depthwise convolution kernel, whose forward and backward are
  vectorised over channels. About 2.5x faster than the shift-and-sum below on one CPU core.
* :class:`ShiftSum` (every other device and dtype): 4 shifted multiply-adds in place, with the backward
  written out (the same shifts run the other way for the input, one product-sum per tap for the weights).

``weight`` has the layout of ``nn.Conv1d(dim, dim, 4, groups=dim).weight``: (dim, 1, 4), tap 3 multiplies h_t.
The tests compare both against ``F.conv1d`` with left padding, values and gradients.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

KERNEL = 4


def causal_conv(x: torch.Tensor, weight: torch.Tensor, residual: bool) -> torch.Tensor:
    """Canon over a whole sequence ``x`` (batch, time, dim); the fastest exact form for where ``x`` lives."""
    if x.device.type == "cpu" and x.dtype == weight.dtype == torch.float32 and torch.backends.mkldnn.is_available() \
            and not torch.is_autocast_enabled("cpu"):
        return ChannelsLastConv.apply(x, weight, residual)
    return ShiftSum.apply(x, weight, residual)


def _as_image(x: torch.Tensor) -> torch.Tensor:
    """(B, T, C) contiguous -> a (B, C, 1, T) view in channels-last layout: the same memory, no copy."""
    return x.unsqueeze(1).permute(0, 3, 1, 2)


def _from_image(y: torch.Tensor) -> torch.Tensor:
    """(B, C, 1, T) channels-last -> (B, T, C), again without a copy."""
    return y.permute(0, 2, 3, 1).squeeze(1)


class ChannelsLastConv(torch.autograd.Function):
    """The depthwise-convolution form; the residual is folded into tap 3 (w3 + 1)."""

    @staticmethod
    def forward(ctx, x, weight, residual: bool):
        dim = x.shape[-1]
        kernel = weight.detach().reshape(dim, 1, 1, KERNEL).clone()
        if residual:
            kernel[..., KERNEL - 1] += 1.0
        # zeros before position 0 (causal); cat writes each element once, F.pad fills then copies
        padded = torch.cat((x.new_zeros(x.shape[0], KERNEL - 1, dim), x), dim=1)
        ctx.save_for_backward(padded, kernel)
        return _from_image(F.conv2d(_as_image(padded), kernel, groups=dim))

    @staticmethod
    def backward(ctx, grad):
        padded, kernel = ctx.saved_tensors
        dim = padded.shape[-1]
        mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], False]  # cst-Canon skips the weights
        grad_padded, grad_kernel, _ = torch.ops.aten.convolution_backward(
            _as_image(grad.contiguous()), _as_image(padded), kernel, None, [1, 1], [0, 0], [1, 1], False, [0, 0],
            dim, mask)
        grad_x = _from_image(grad_padded)[:, KERNEL - 1:] if mask[0] else None
        grad_w = grad_kernel.reshape(dim, 1, KERNEL) if mask[1] else None  # d(w3 + 1)/dw3 = 1: no correction
        return grad_x, grad_w, None


class ShiftSum(torch.autograd.Function):
    """4 in-place shifted products. Taps are made contiguous first: multiplying by a strided (dim,) view
    of the (dim, 1, 4) weight costs about twice the time on a CPU."""

    @staticmethod
    def forward(ctx, x, weight, residual: bool):
        taps = weight[:, 0, :].t().contiguous()  # (4, dim): taps[3 - j] multiplies h_{t-j}
        T = x.shape[1]
        out = x * (taps[KERNEL - 1] + 1.0 if residual else taps[KERNEL - 1])
        for j in range(1, min(KERNEL, T)):
            out[:, j:].addcmul_(x[:, : T - j], taps[KERNEL - 1 - j])
        ctx.save_for_backward(x, weight)
        ctx.residual = residual
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        taps, T, dim = weight[:, 0, :].t().contiguous(), x.shape[1], x.shape[-1]
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:  # h_{t-j} reached out_t through tap 3 - j
            grad_x = grad * (taps[KERNEL - 1] + 1.0 if ctx.residual else taps[KERNEL - 1])
            for j in range(1, min(KERNEL, T)):
                grad_x[:, : T - j].addcmul_(grad[:, j:], taps[KERNEL - 1 - j])
        if ctx.needs_input_grad[1]:  # the product of two slices is contiguous, so its sum is one fast pass
            grad_w = torch.stack([(grad[:, j:] * x[:, : max(T - j, 0)]).reshape(-1, dim).sum(0)
                                  for j in range(KERNEL - 1, -1, -1)], dim=-1)
            grad_w = grad_w[:, None, :].to(weight.dtype)
        return grad_x, grad_w, None
