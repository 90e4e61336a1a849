"""LoRA: low-rank updates of a frozen model (Parts 3.1 and 3.2 fine-tune this way).

A frozen weight W is used as ``W + alpha * A @ B`` with A (in, r) drawn Gaussian and B (r, out) zero,
so the update starts at exactly zero and the model begins as the pretrained one [3.2 App. B fn 21].

* :class:`LoRALinear` wraps an ``nn.Linear``. ``slices`` restricts the update to some output columns:
  the kit's attention has one fused ``qkv`` projection, and the papers adapt only the query and value
  matrices, i.e. the first and last third of its outputs.
* :class:`LoRAEmbedding` wraps the token embedding. It changes the input lookup only; with tied
  embeddings the output projection keeps the frozen matrix (kit choice; the papers give the embedding
  layer a large LoRA rank [3.1 App. D]).
* :func:`add_lora` returns a copy of a GPT with every weight frozen and the chosen modules wrapped.
  Its forward pass, loss and ``generate`` work unchanged, so :func:`plmkit.train.train` fine-tunes it
  like any model (only the LoRA factors have ``requires_grad``, so only they are optimised).
"""
from __future__ import annotations

import copy
import fnmatch
from dataclasses import asdict, dataclass
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


class LoRALinear(nn.Module):
    """``base(x) + alpha * (x @ A) @ B`` on the output columns ``slices`` (all columns when None)."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float = 4.0,
                 slices: Optional[Sequence[tuple[int, int]]] = None, generator: Optional[torch.Generator] = None):
        super().__init__()
        if rank < 1:
            raise ValueError(f"LoRA rank must be at least 1, got {rank}")
        self.base, self.rank, self.alpha = base, rank, alpha
        out = base.out_features
        self.slices = [tuple(s) for s in (slices or [(0, out)])]
        for start, end in self.slices:
            if not 0 <= start < end <= out:
                raise ValueError(f"slice ({start}, {end}) is outside the {out} output features")
        width = sum(end - start for start, end in self.slices)
        # Gaussian A scaled like a default init, zero B: the update is exactly 0 at the start.
        self.lora_a = nn.Parameter(torch.randn(base.in_features, rank, generator=generator) / base.in_features ** 0.5)
        self.lora_b = nn.Parameter(torch.zeros(rank, width))

    def delta(self, x: torch.Tensor) -> torch.Tensor:
        """The update on the adapted columns only, shape (..., sum of slice widths)."""
        return self.alpha * (x @ self.lora_a) @ self.lora_b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        delta = self.delta(x)
        pieces, cursor, used = [], 0, 0
        # Rebuild the full output from untouched and updated column ranges (no in-place writes,
        # so autograd never has to keep a copy of the base output).
        for start, end in sorted(self.slices):
            pieces.append(out[..., cursor:start])
            pieces.append(out[..., start:end] + delta[..., used:used + end - start])
            used += end - start
            cursor = end
        pieces.append(out[..., cursor:])
        return torch.cat(pieces, dim=-1)

    @property
    def weight(self) -> torch.Tensor:  # code that reads .weight sees the frozen base matrix
        return self.base.weight


class LoRAEmbedding(nn.Module):
    """``E[idx] + alpha * A[idx] @ B``: a rank-r update of the input embedding table."""

    def __init__(self, base: nn.Embedding, rank: int, alpha: float = 4.0, generator: Optional[torch.Generator] = None):
        super().__init__()
        if rank < 1:
            raise ValueError(f"LoRA rank must be at least 1, got {rank}")
        self.base, self.rank, self.alpha = base, rank, alpha
        self.lora_a = nn.Parameter(torch.randn(base.num_embeddings, rank, generator=generator))
        self.lora_b = nn.Parameter(torch.zeros(rank, base.embedding_dim))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.base(idx) + self.alpha * F.embedding(idx, self.lora_a) @ self.lora_b

    @property
    def weight(self) -> torch.Tensor:
        return self.base.weight


class NewOutputRows(nn.Module):
    """The output projection plus trainable rows for a few words: ``logits[..., ids] += x @ lora_rows^T``.

    Part 3.2's answers ("Yes", "No", small numbers) never were targets in pretraining, so their output
    rows are untrained and a LoRA that changes only the input lookup cannot make the model say them.
    Training just these rows (zero at the start) lets it, without giving the fine-tune a way to rewrite
    the output rows of the names and values it must retrieve (measured: a LoRA on the whole tied
    output matrix memorised the training people and extraction fell from ~50% to ~10%).
    """

    def __init__(self, base: nn.Linear, ids: Sequence[int]):
        super().__init__()
        self.base = base
        self.register_buffer("ids", torch.as_tensor(list(ids), dtype=torch.long), persistent=False)
        self.lora_rows = nn.Parameter(torch.zeros(len(ids), base.in_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x).index_add(-1, self.ids, x @ self.lora_rows.T)

    @property
    def weight(self) -> torch.Tensor:
        return self.base.weight


@dataclass
class LoRAConfig:
    """Which parts of a GPT get a low-rank update.

    ``attention``: the parts of each block's fused qkv projection to adapt (any of ``q``, ``k``, ``v``;
    the papers use q and v); ``rank`` their rank. ``embedding_rank``: rank of the token-embedding
    update (0 = none); Part 3.1 finds a large embedding rank matters and a large q/v rank does not.
    ``extra``: more linear layers by name pattern (``fnmatch``, e.g. ``blocks.*.mlp.up``), full width.
    ``output_rows``: token ids whose output rows are trained (:class:`NewOutputRows`), for answer words
    the pretraining never predicted; empty by default, so the output keeps the frozen matrix (kit choice).
    """

    rank: int = 8
    embedding_rank: int = 64
    alpha: float = 4.0
    embedding_alpha: Optional[float] = None  # None: same as alpha
    attention: tuple = ("q", "v")
    extra: tuple = ()
    output_rows: tuple = ()

    def to_dict(self) -> dict:
        return asdict(self)


def qkv_slices(d_model: int, parts: Sequence[str]) -> list[tuple[int, int]]:
    """Output columns of the fused projection that hold the named parts (q = 0..d, k = d..2d, v = 2d..3d)."""
    offsets = {"q": 0, "k": 1, "v": 2}
    bad = [p for p in parts if p not in offsets]
    if bad:
        raise ValueError(f"unknown attention parts {bad}; valid: q, k, v")
    return [(offsets[p] * d_model, (offsets[p] + 1) * d_model) for p in sorted(set(parts), key=offsets.get)]


def _replace(root: nn.Module, dotted: str, module: nn.Module) -> None:
    parent_name, _, child = dotted.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, module)


def add_lora(model: nn.Module, config: LoRAConfig | None = None, *, inplace: bool = False,
             seed: int = 0) -> nn.Module:
    """A copy of ``model`` (a plmkit GPT) with all weights frozen and LoRA factors on the chosen layers.

    The copy keeps the original's class and ``config``, so checkpoints, ``generate`` and the probes work
    as before. The original model is left untouched unless ``inplace``. The random factors come from
    ``seed`` alone (not the global RNG), so a fine-tune starts the same whatever ran before it.
    """
    config = config or LoRAConfig()
    generator = torch.Generator().manual_seed(seed)
    model = model if inplace else copy.deepcopy(model)
    for p in model.parameters():
        p.requires_grad_(False)
    targets: dict[str, tuple] = {}
    if config.attention:
        if config.rank < 1:
            raise ValueError("attention LoRA needs rank >= 1 (or pass attention=())")
        for name, module in model.named_modules():
            if name.endswith("attn.qkv") and isinstance(module, nn.Linear):
                if module.out_features != 3 * model.config.d_model:
                    raise ValueError(f"{name} is not a fused q/k/v projection (uniform attention has no queries)")
                targets[name] = ("linear", qkv_slices(model.config.d_model, config.attention))
        if not targets:
            raise ValueError("the model has no attention projections named '*.attn.qkv'")
    for pattern in config.extra:
        matched = [n for n, m in model.named_modules() if fnmatch.fnmatch(n, pattern) and isinstance(m, nn.Linear)]
        if not matched:
            raise ValueError(f"no linear layer matches {pattern!r}")
        targets.update({n: ("linear", None) for n in matched})
    for name, (_, slices) in targets.items():
        _replace(model, name, LoRALinear(model.get_submodule(name), config.rank, config.alpha, slices, generator))
    if config.embedding_rank:
        emb_alpha = config.alpha if config.embedding_alpha is None else config.embedding_alpha
        model.tok_emb = LoRAEmbedding(model.tok_emb, config.embedding_rank, emb_alpha, generator)
    if config.output_rows:
        model.lm_head = NewOutputRows(model.lm_head, config.output_rows)
    model.lora_config = config
    return model


def lora_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The trainable LoRA factors of a model made by :func:`add_lora`."""
    return [p for n, p in model.named_parameters() if "lora_" in n]


def count_trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
