"""One compact GPT for every lab, configured by a dataclass.

Read it top to bottom: the config, the building blocks (norms, rotary embedding, Canon layer,
attention, MLP), one transformer block, then the GPT itself with generation.

Variants the papers compare, all switches of :class:`GPTConfig`:

* ``pos``: ``rope`` (rotary, optionally on a fraction of each head's dims), ``learned``
  (GPT-2 absolute embeddings), ``nope`` (no position information at all) and ``uniform``
  (Part 1's baseline: head h averages the last 2^h - 1 tokens, no content attention).
* ``mlp``: ``gelu`` (4d hidden) or ``swiglu`` (gated, 8d/3 hidden, as in Llama).
* ``norm``: ``layernorm`` or ``rmsnorm``; ``tie_embeddings`` shares input and output embeddings.
* ``canon``: any subset of ``"ABCD"``, Part 4.1's causal depthwise convolutions (kernel 4).
* ``attention``: ``softmax`` (the default) or ``gla``, gated linear attention, the linear-time mixer
  Part 4.1 also gives Canon layers (:class:`GatedLinearAttention`, arithmetic in :mod:`plmkit.gla`).
* ``causal=False`` turns the model into a bidirectional encoder (Part 1's BERT-style contrast).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import canon_ops, gla

ATTENTION_CHOICES = ("softmax", "gla")
POSITION_CHOICES = ("rope", "learned", "nope", "uniform")
MLP_CHOICES = ("gelu", "swiglu")
NORM_CHOICES = ("layernorm", "rmsnorm")
CANON_POINTS = "ABCD"
CANON_KERNEL = canon_ops.KERNEL
GLA_POSITIONS = ("nope", "learned")  # GLA orders tokens by its fading memory; rotary/uniform act inside softmax attention
GLA_GATE_RANK = 16  # the forget gate's low-rank projection d -> 16 -> key dim
GLA_GATE_NORMALIZER = 16.0  # log g = logsigmoid(.) / 16: gates start near 0.96, a memory of some 20 tokens


@dataclass
class GPTConfig:
    vocab_size: int
    context: int = 256  # the longest sequence the model accepts
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 128
    pos: str = "rope"
    rope_fraction: float = 1.0  # share of each head's dims that rotary rotates (Part 4.1 uses 1/4 with Canon)
    rope_base: float = 10000.0
    uniform_windows: Optional[tuple[int, ...]] = None  # per head; default 2^h - 1 for h = 1..n_head
    mlp: str = "gelu"
    norm: str = "layernorm"
    tie_embeddings: bool = False
    canon: str = ""
    canon_residual: bool = True
    canon_trainable: bool = True  # False = "cst-Canon": frozen at its random init
    causal: bool = True
    dropout: float = 0.0
    init_std: float = 0.02
    attention: str = "softmax"  # "gla": gated linear attention instead of softmax attention [P4.1 §6]

    def __post_init__(self):
        _check_choice("attention", self.attention, ATTENTION_CHOICES)
        _check_choice("pos", self.pos, POSITION_CHOICES)
        _check_choice("mlp", self.mlp, MLP_CHOICES)
        _check_choice("norm", self.norm, NORM_CHOICES)
        bad = [c for c in self.canon if c not in CANON_POINTS]
        if bad or len(set(self.canon)) != len(self.canon):
            raise ValueError(
                f"canon={self.canon!r} is not valid: use any subset of the letters {CANON_POINTS!r} "
                "(A: before attention, B: on q/k/v, C: before the MLP, D: inside the MLP), e.g. 'AC' or 'ABCD', or '' for none"
            )
        self.canon = "".join(sorted(self.canon))
        for name in ("vocab_size", "context", "n_layer", "n_head", "d_model"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model={self.d_model} must be divisible by n_head={self.n_head}")
        if not 0.0 <= self.rope_fraction <= 1.0:
            raise ValueError(f"rope_fraction must lie in [0, 1], got {self.rope_fraction}")
        if self.uniform_windows is not None:
            self.uniform_windows = tuple(int(w) for w in self.uniform_windows)
            if len(self.uniform_windows) != self.n_head or min(self.uniform_windows) < 1:
                raise ValueError(f"uniform_windows needs {self.n_head} positive window sizes, got {self.uniform_windows}")
        if self.attention == "gla":
            if self.pos not in GLA_POSITIONS:
                raise ValueError(f"attention='gla' takes pos in {', '.join(GLA_POSITIONS)} (rotary and uniform act "
                                 f"inside softmax attention); got pos={self.pos!r}")
            if not self.causal:
                raise ValueError("attention='gla' is a causal recurrence; causal=False needs attention='softmax'")
            if self.d_model % (2 * self.n_head):
                raise ValueError(f"attention='gla' halves the key width, so d_model={self.d_model} must be divisible "
                                 f"by 2 * n_head = {2 * self.n_head}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    def to_dict(self) -> dict:
        out = asdict(self)
        if out["attention"] == "softmax":  # configs saved before the switch existed stay equal to new ones
            del out["attention"]
        return out


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name}={value!r}; valid choices: {', '.join(choices)}")


# ----------------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------------
class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


def make_norm(config: GPTConfig) -> nn.Module:
    if config.norm == "rmsnorm":
        return RMSNorm(config.d_model)
    return nn.LayerNorm(config.d_model, bias=False)


class Rotary(nn.Module):
    """Rotary position embedding on the first ``rot_dim`` dims of each head.

    Dims (2i, 2i+1) form a plane that is rotated by the angle ``position * base^(-2i/rot_dim)``,
    so the dot product of a rotated query and key depends only on their distance. Each plane is
    treated as one complex number, and rotating it is a multiplication by e^{i angle}: one fused
    kernel instead of several element-wise ones (about 2x faster on CPU).
    """

    def __init__(self, head_dim: int, fraction: float, base: float, context: int):
        super().__init__()
        self.rot_dim = 2 * int(head_dim * fraction / 2)
        freqs = base ** (-torch.arange(0, self.rot_dim, 2, dtype=torch.float64) / max(self.rot_dim, 1))
        angles = torch.outer(torch.arange(context, dtype=torch.float64), freqs)  # (context, rot_dim/2)
        self.register_buffer("phase", torch.polar(torch.ones_like(angles), angles).to(torch.complex64), persistent=False)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """x: (B, T, heads, head_dim) at positions offset..offset+T-1."""
        if self.rot_dim == 0:
            return x
        T = x.shape[1]
        rot = x[..., : self.rot_dim].float()
        planes = torch.view_as_complex(rot.reshape(*rot.shape[:-1], -1, 2))  # (B, T, heads, rot_dim/2)
        rotated = torch.view_as_real(planes * self.phase[offset : offset + T, None, :]).flatten(-2).to(x.dtype)
        if self.rot_dim == x.shape[-1]:
            return rotated
        return torch.cat((rotated, x[..., self.rot_dim :]), dim=-1)


class Canon(nn.Module):
    """Part 4.1's Canon layer: a causal depthwise convolution over the last 4 positions.

    out_t = h_t + w0*h_t + w1*h_{t-1} + w2*h_{t-2} + w3*h_{t-3}   (residual, no bias, no activation)

    Positions before the start of the sequence count as zeros. Weights keep PyTorch's default
    conv init, U(-0.5, 0.5) (std ~0.29): the paper stresses that re-initialising them to 0.02 breaks Canon.
    """

    def __init__(self, dim: int, residual: bool = True, trainable: bool = True):
        super().__init__()
        self.residual = residual
        # Same layout as nn.Conv1d(dim, dim, 4, groups=dim): weight[:, 0, 3] multiplies h_t.
        self.weight = nn.Parameter(torch.empty(dim, 1, CANON_KERNEL), requires_grad=trainable)
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Conv1d's own default

    def forward(self, x: torch.Tensor, past: Optional[torch.Tensor] = None):
        """x: (B, T, dim). ``past``: the previous 3 inputs (B, 3, dim) when generating with a cache.

        Returns (output, the last 3 inputs) so generation can carry them to the next step.
        """
        B, T, dim = x.shape
        if past is None:  # a whole sequence (training, evaluation): see canon_ops
            last = F.pad(x[:, -(CANON_KERNEL - 1) :], (0, 0, max(0, CANON_KERNEL - 1 - T), 0))
            return canon_ops.causal_conv(x, self.weight, self.residual), last
        padded = torch.cat((past, x), dim=1)  # (B, T+3, dim)
        w = self.weight[:, 0, :]  # (dim, 4); tap 3 is the current token
        # A sum of 4 shifted products: the left-padded depthwise conv written out.
        out = sum(padded[:, k : k + T] * w[:, k] for k in range(CANON_KERNEL))
        if self.residual:
            out = out + x
        return out, padded[:, -(CANON_KERNEL - 1) :]


class LayerCache:
    """What one block remembers between generation steps: keys, values and Canon inputs."""

    def __init__(self):
        self.k: Optional[torch.Tensor] = None  # (B, H, t, head_dim)
        self.v: Optional[torch.Tensor] = None
        self.canon: dict[str, torch.Tensor] = {}
        self.state: Optional[torch.Tensor] = None  # gated linear attention's memory (B, H, key, value head dims)

    def append(self, k, v):
        self.k = k if self.k is None else torch.cat((self.k, k), dim=2)
        self.v = v if self.v is None else torch.cat((self.v, v), dim=2)
        return self.k, self.v


class KVCache:
    """A cache for the whole model; ``length`` is the number of positions already processed."""

    def __init__(self, n_layer: int):
        self.layers = [LayerCache() for _ in range(n_layer)]
        self.length = 0


def _maybe_canon(layer: Optional[Canon], x, cache: Optional[LayerCache], key: str):
    if layer is None:
        return x
    out, last = layer(x, None if cache is None else cache.canon.get(key))
    if cache is not None:
        cache.canon[key] = last
    return out


class Attention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.n_head, self.head_dim = config.n_head, config.head_dim
        d = config.d_model
        self.uses_content = config.pos != "uniform"  # uniform attention has no queries or keys
        self.qkv = nn.Linear(d, 3 * d if self.uses_content else d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)
        self.canon_b = Canon(self.qkv.out_features, config.canon_residual, config.canon_trainable) if "B" in config.canon else None
        self.rotary = Rotary(self.head_dim, config.rope_fraction, config.rope_base, config.context) if config.pos == "rope" else None
        if config.pos == "uniform":
            windows = config.uniform_windows or tuple(2 ** h - 1 for h in range(1, config.n_head + 1))
            self.register_buffer("windows", torch.tensor(windows).view(-1, 1, 1), persistent=False)

    def forward(self, x, cache: Optional[LayerCache] = None, offset: int = 0, need_weights: bool = False):
        B, T, _ = x.shape
        H, d = self.n_head, self.config.d_model
        qkv = _maybe_canon(self.canon_b, self.qkv(x), cache, "B")
        if self.uses_content:
            # split (not slicing): its backward concatenates instead of zero-filling a full-size buffer
            qk, v = qkv.split((2 * d, d), dim=-1)
            qk = qk.reshape(B, T, 2 * H, self.head_dim)  # queries and keys, rotated together
            if self.rotary is not None:
                qk = self.rotary(qk, offset)
            q, k = qk.transpose(1, 2).split(H, dim=1)  # (B, H, T, head_dim) each
            v = v.reshape(B, T, H, self.head_dim).transpose(1, 2)
        else:
            v = qkv.reshape(B, T, H, self.head_dim).transpose(1, 2)
            q = k = v.new_zeros(B, H, T, 1)  # all logits 0: softmax inside the window is uniform
        if cache is not None:
            k, v = cache.append(k, v)
        mask = self._mask(T, k.shape[2], offset, x.device)
        dropout = self.config.dropout if self.training else 0.0
        if need_weights:
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = scores.softmax(dim=-1)
            y = weights @ v
        else:
            weights = None
            plain_causal = mask is not None and self.uses_content and cache is None
            y = F.scaled_dot_product_attention(
                q, k, v,
                attn_mask=None if plain_causal else mask,
                is_causal=plain_causal,
                dropout_p=dropout,
            )
        y = y.transpose(1, 2).reshape(B, T, self.config.d_model)
        return self.proj(y), weights

    def _mask(self, T: int, S: int, offset: int, device):
        """Boolean (.., T, S) mask, True where query i may look at key j; None = no mask at all."""
        if not self.config.causal and self.uses_content:
            return None
        query_pos = torch.arange(offset, offset + T, device=device).view(-1, 1)
        key_pos = torch.arange(S, device=device).view(1, -1)
        allowed = key_pos <= query_pos if self.config.causal else torch.ones(T, S, dtype=torch.bool, device=device)
        if not self.uses_content:  # uniform: head h sees only its window of recent tokens
            distance = query_pos - key_pos
            allowed = allowed & (distance.abs() < self.windows)
        return allowed


class GatedLinearAttention(nn.Module):
    """Gated linear attention (GLA), in plain torch: a fading matrix memory per head instead of softmax.

    Per head, S_t = diag(g_t) S_{t-1} + k_t^T v_t and o_t = q_t S_t, with a forget gate g_t in (0, 1) per
    key dim computed from the token itself (:mod:`plmkit.gla` has the three equal ways to evaluate it).
    The layout follows the GLA that Part 4.1 compares [P4.1 App. C]: keys and queries half as wide as the
    values (expand_k 0.5), a low-rank gate projection d -> 16 -> key dim with log g = logsigmoid(.) / 16,
    each head's output RMS-normed and multiplied by a SiLU output gate, then projected: 4d^2 weights, as
    softmax attention. It has no short convolution of its own, so "GLA + Canon-ABCD" puts the residual
    Canon-B on its q/k/v (where GLA's optional conv would sit) and A, C, D around it as in the GPT.

    Training and evaluation use the chunked form; with a cache the prompt runs chunked and every new
    token is one step of the recurrence, carrying the memory S (and Canon's last inputs) in the cache.
    ``need_weights`` returns the (B, H, T, T) scores of the unrolled sum (no softmax: rows do not sum to 1).
    Position information, if any, comes from outside (``pos`` 'nope' or 'learned').
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        d, H = config.d_model, config.n_head
        self.n_head, self.key_width = H, d // 2
        self.head_k, self.head_v = self.key_width // H, d // H
        self.qkv = nn.Linear(d, 2 * self.key_width + d, bias=False)
        self.gate_down = nn.Linear(d, GLA_GATE_RANK, bias=False)
        self.gate_up = nn.Linear(GLA_GATE_RANK, self.key_width, bias=True)
        nn.init.zeros_(self.gate_up.bias)  # the model's init redraws weights, never biases
        self.out_gate = nn.Linear(d, d, bias=False)
        self.out_norm = RMSNorm(self.head_v)
        self.proj = nn.Linear(d, d, bias=False)
        self.canon_b = Canon(self.qkv.out_features, config.canon_residual, config.canon_trainable) if "B" in config.canon else None

    def forward(self, x, cache: Optional[LayerCache] = None, offset: int = 0, need_weights: bool = False):
        B, T, d = x.shape
        qkv = _maybe_canon(self.canon_b, self.qkv(x), cache, "B")
        # The recurrence runs in at least float32, also under autocast: the running sums of log gates
        # and the memory both add up many small terms.
        dtype = torch.promote_types(qkv.dtype, torch.float32)
        log_g = F.logsigmoid(self.gate_up(self.gate_down(x)).to(dtype)) / GLA_GATE_NORMALIZER

        def heads(t, width):
            return t.reshape(B, T, self.n_head, width).transpose(1, 2).to(dtype)

        q, k, v = qkv.split((self.key_width, self.key_width, d), dim=-1)
        q, k, v = heads(q, self.head_k) * self.head_k ** -0.5, heads(k, self.head_k), heads(v, self.head_v)
        log_g = heads(log_g, self.head_k)
        weights = None
        with torch.autocast(x.device.type, enabled=False):
            if need_weights:
                if cache is not None:
                    raise ValueError("attention scores of attention='gla' are available without a cache only")
                y, weights = gla.quadratic(q, k, v, log_g)
            elif cache is None:
                y, _ = gla.chunked(q, k, v, log_g)
            elif T == 1:
                y, cache.state = gla.recurrent(q, k, v, log_g, cache.state)
            else:
                y, cache.state = gla.chunked(q, k, v, log_g, cache.state)
        y = self.out_norm(y.to(x.dtype)).transpose(1, 2).reshape(B, T, d)
        return self.proj(y * F.silu(self.out_gate(x))), weights


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        d = config.d_model
        self.gated = config.mlp == "swiglu"
        # Gated MLPs use 8d/3 hidden units so both variants have ~8d^2 parameters.
        hidden = _round_up(8 * d // 3, 8) if self.gated else 4 * d
        self.up = nn.Linear(d, 2 * hidden if self.gated else hidden, bias=False)
        self.down = nn.Linear(hidden, d, bias=False)
        self.canon_d = Canon(self.up.out_features, config.canon_residual, config.canon_trainable) if "D" in config.canon else None

    def forward(self, x, cache: Optional[LayerCache] = None):
        h = _maybe_canon(self.canon_d, self.up(x), cache, "D")
        if self.gated:
            gate, up = h.chunk(2, dim=-1)
            return self.down(F.silu(gate) * up)
        return self.down(F.gelu(h))


def _round_up(x: int, multiple: int) -> int:
    return (x + multiple - 1) // multiple * multiple


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.norm_attn = make_norm(config)
        self.attn = GatedLinearAttention(config) if config.attention == "gla" else Attention(config)
        self.norm_mlp = make_norm(config)
        self.mlp = MLP(config)
        canon = lambda point: Canon(config.d_model, config.canon_residual, config.canon_trainable) if point in config.canon else None  # noqa: E731
        self.canon_a, self.canon_c = canon("A"), canon("C")
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x, cache: Optional[LayerCache] = None, offset: int = 0, need_weights: bool = False):
        h = _maybe_canon(self.canon_a, self.norm_attn(x), cache, "A")
        attn_out, weights = self.attn(h, cache, offset, need_weights)
        x = x + self.dropout(attn_out)
        h = _maybe_canon(self.canon_c, self.norm_mlp(x), cache, "C")
        x = x + self.dropout(self.mlp(h, cache))
        return x, weights


# ----------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------
@dataclass
class GPTOutput:
    logits: torch.Tensor  # (B, T, vocab)
    loss: Optional[torch.Tensor] = None
    hidden: list[torch.Tensor] = field(default_factory=list)  # embeddings, then every block's output
    attentions: list[torch.Tensor] = field(default_factory=list)  # per layer (B, H, T, S)


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        self.pos_emb = nn.Embedding(config.context, config.d_model) if config.pos == "learned" else None
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.norm_final = make_norm(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.tok_emb.weight
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith(("attn.proj.weight", "mlp.down.weight")):
                # GPT-2's scaled init: keeps the residual stream's variance flat with depth.
                nn.init.normal_(p, mean=0.0, std=config.init_std / math.sqrt(2 * config.n_layer))

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=self.config.init_std)
        elif isinstance(module, Canon):
            module.reset_parameters()  # never the 0.02 init (see Canon)

    # --- forward ---------------------------------------------------------------------------------
    def forward(
        self,
        idx: torch.Tensor,
        targets: Optional[torch.Tensor] = None,
        loss_weights: Optional[torch.Tensor] = None,
        *,
        return_hidden: bool = False,
        return_attention: bool = False,
        cache: Optional[KVCache] = None,
        input_embeddings: Optional[torch.Tensor] = None,
    ) -> GPTOutput:
        """idx: (B, T) token ids. With ``targets`` the loss is the (weighted) mean cross-entropy.

        ``loss_weights`` (B, T) weight each target; 0 drops a position (e.g. train on answers only).
        ``input_embeddings`` (B, T, d) replace the token embeddings (the low-rank probes edit them).
        """
        self._check_input(idx, cache)
        offset = cache.length if cache is not None else 0
        x = self.tok_emb(idx) if input_embeddings is None else input_embeddings
        if self.pos_emb is not None:
            x = x + self.pos_emb(torch.arange(offset, offset + idx.shape[1], device=idx.device))
        x = self.drop(x)
        hidden = [x] if return_hidden else []
        attentions = []
        for i, block in enumerate(self.blocks):
            x, weights = block(x, None if cache is None else cache.layers[i], offset, return_attention)
            if return_hidden:
                hidden.append(x)
            if return_attention:
                attentions.append(weights)
        if cache is not None:
            cache.length += idx.shape[1]
        logits = self.lm_head(self.norm_final(x))
        loss = None if targets is None else weighted_cross_entropy(logits, targets, loss_weights)
        return GPTOutput(logits, loss, hidden, attentions)

    def _check_input(self, idx: torch.Tensor, cache: Optional[KVCache]):
        if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.dtype not in (torch.int64, torch.int32):
            got = f"{type(idx).__name__} of shape {tuple(idx.shape)} and dtype {idx.dtype}" if isinstance(idx, torch.Tensor) else type(idx).__name__
            raise ValueError(f"idx must be an integer tensor of shape (batch, time); got {got}")
        total = idx.shape[1] + (cache.length if cache is not None else 0)
        if total > self.config.context:
            raise ValueError(f"sequence of length {total} is longer than the model's context ({self.config.context})")
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.config.vocab_size):
            raise ValueError(
                f"token ids must lie in [0, {self.config.vocab_size - 1}] (vocab_size={self.config.vocab_size}); "
                f"got min {int(idx.min())}, max {int(idx.max())}"
            )

    # --- generation ------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        prompt: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: Optional[int] = None,
        stop_token: Optional[int] = None,
        generator: Optional[torch.Generator] = None,
        use_cache: bool = True,
        pad_token: int = 0,
    ) -> torch.Tensor:
        """Sample continuations of equally long prompts (B, T); returns (B, T + new).

        ``temperature=0`` is greedy decoding. Rows that emitted ``stop_token`` are padded with
        ``pad_token`` afterwards; generation ends early once every row has stopped. With the KV
        cache each new token costs one position of compute instead of a full re-run.
        """
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        if prompt.dim() != 2 or prompt.shape[1] == 0:
            raise ValueError(f"prompt must have shape (batch, time) with time >= 1, got {tuple(prompt.shape)}")
        if prompt.shape[1] + max_new_tokens > self.config.context:
            raise ValueError(
                f"prompt length {prompt.shape[1]} + max_new_tokens {max_new_tokens} exceeds the context ({self.config.context})"
            )
        was_training = self.training
        self.eval()
        out = prompt
        cache = KVCache(self.config.n_layer) if use_cache else None
        step_input = prompt
        finished = torch.zeros(prompt.shape[0], dtype=torch.bool, device=prompt.device)
        for _ in range(max_new_tokens):
            logits = self(step_input if use_cache else out, cache=cache).logits[:, -1, :]
            nxt = sample_next(logits, temperature, top_k, generator)
            nxt = torch.where(finished, torch.full_like(nxt, pad_token), nxt)
            out = torch.cat((out, nxt[:, None]), dim=1)
            step_input = nxt[:, None]
            if stop_token is not None:
                finished |= nxt == stop_token
                if bool(finished.all()):
                    break
        self.train(was_training)
        return out

    @torch.no_grad()
    def generate_grouped(
        self,
        prompts: Sequence[Sequence[int]],
        max_new_tokens: int | Callable[[int], int],
        temperature: float = 1.0,
        stop_token: Optional[int] = None,
        generator: Optional[torch.Generator] = None,
        batch_size: int = 256,
    ) -> list[list[int]]:
        """:meth:`generate` for prompts of different lengths; returns the new tokens of each prompt.

        The KV cache needs equally long prompts in a batch, so prompts are grouped by length (shortest
        group first, which fixes the order in which a sampling ``generator`` is consumed) and each group
        runs in batches. ``max_new_tokens`` may depend on the prompt length; it is always capped by the
        context. Rows keep the padding that follows ``stop_token`` (callers cut at the stop).
        """
        by_length: dict[int, list[int]] = {}
        for i, p in enumerate(prompts):
            by_length.setdefault(len(p), []).append(i)
        out: list = [None] * len(prompts)
        for length, rows in sorted(by_length.items()):
            budget = max_new_tokens(length) if callable(max_new_tokens) else max_new_tokens
            budget = min(budget, self.config.context - length)
            for start in range(0, len(rows), batch_size):
                chunk = rows[start:start + batch_size]
                prompt = torch.as_tensor(np.stack([np.asarray(prompts[i], dtype=np.int64) for i in chunk]),
                                         device=self.device)
                generated = self.generate(prompt, budget, temperature=temperature, stop_token=stop_token,
                                          generator=generator)[:, length:]
                for i, ids in zip(chunk, generated.tolist()):
                    out[i] = ids
        return out

    @property
    def device(self) -> torch.device:
        return self.tok_emb.weight.device

    # --- parameter counts ----------------------------------------------------------------------------
    def param_counts(self, used_token_ids=None) -> dict[str, int]:
        """total, embedding (input + untied output + positions) and non_embedding parameter counts.

        With ``used_token_ids`` (an iterable of ids the data actually uses) also ``used``: the total
        minus the embedding rows of tokens that never occur (Part 3.3 counts only those rows).
        """
        params = {id(p): p for p in self.parameters()}
        total = sum(p.numel() for p in params.values())
        emb_tensors = {id(self.tok_emb.weight): self.tok_emb.weight, id(self.lm_head.weight): self.lm_head.weight}
        if self.pos_emb is not None:
            emb_tensors[id(self.pos_emb.weight)] = self.pos_emb.weight
        embedding = sum(t.numel() for t in emb_tensors.values())
        counts = {"total": total, "embedding": embedding, "non_embedding": total - embedding}
        if used_token_ids is not None:
            used = {int(t) for t in used_token_ids}
            unused_rows = self.config.vocab_size - len(used)
            row_tables = 1 if self.config.tie_embeddings else 2
            counts["used"] = total - unused_rows * row_tables * self.config.d_model
        return counts


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: Optional[int] = None,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Draw one token per row from (B, vocab) logits."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def weighted_cross_entropy(logits, targets, weights=None):
    """Mean cross-entropy over positions, each weighted (weights 0 drop a position)."""
    per_token = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), reduction="none")
    if weights is None:
        return per_token.mean()
    weights = weights.flatten().to(per_token.dtype)
    return (per_token * weights).sum() / weights.sum().clamp_min(1e-8)
