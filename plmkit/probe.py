"""Probes: what do the hidden states know?

Three tools, used across the labs:

* :func:`probe_layers`: a linear probe (multinomial logistic regression) on frozen hidden states,
  layer by layer, next to the same probe on a random-initialised copy of the model. The control
  matters: a wide enough random network can make some labels linearly readable on its own.
* :class:`LowRankProbe` / :func:`train_lowrank_probe`: Parts 2.1 and 3.1's probe. The backbone
  stays frozen; a rank-r update of the embedding layer is trained together with a linear head
  read at chosen positions. Rank 0 is a plain linear probe; V-, P- and Q-probing differ only in
  the inputs, positions and targets they are given.
* :func:`train_linear_head`: a linear head on features computed once (Part 3.1's P-probes).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LayerSpec = Union[str, int, Sequence[int]]


# ----------------------------------------------------------------------------------------------
# Hidden states
# ----------------------------------------------------------------------------------------------
@torch.no_grad()
def hidden_states(model, inputs: torch.Tensor, layers: Optional[Sequence[int]] = None,
                  batch_size: int = 64) -> dict[int, torch.Tensor]:
    """Hidden states (N, T, d) on the CPU for each requested layer.

    Layer 0 is the embedding output, layer l the output of block l (before the final norm).
    """
    model.eval()
    device = next(model.parameters()).device
    n_layers = model.config.n_layer
    layers = list(range(n_layers + 1)) if layers is None else list(layers)
    for layer in layers:
        if not 0 <= layer <= n_layers:
            raise ValueError(f"layer {layer} does not exist; valid layers are 0 (embeddings) to {n_layers}")
    out: dict[int, list[torch.Tensor]] = {layer: [] for layer in layers}
    for start in range(0, len(inputs), batch_size):
        hidden = model(inputs[start : start + batch_size].to(device), return_hidden=True).hidden
        for layer in layers:
            out[layer].append(hidden[layer].float().cpu())
    return {layer: torch.cat(chunks) for layer, chunks in out.items()}


def _resolve_layers(model, layers: LayerSpec) -> list[int]:
    n = model.config.n_layer
    if layers == "all":
        return list(range(n + 1))
    if layers == "last":
        return [n]
    if isinstance(layers, int):
        return [layers]
    if isinstance(layers, str):
        raise ValueError(f"layers={layers!r} is not valid; use 'all', 'last', an int or a list of ints")
    return list(layers)


# ----------------------------------------------------------------------------------------------
# Linear probe
# ----------------------------------------------------------------------------------------------
@dataclass
class ProbeResult:
    accuracy: float
    balanced_accuracy: float
    majority: float  # accuracy of always predicting the most common training class
    weight: torch.Tensor = field(repr=False)
    bias: torch.Tensor = field(repr=False)


def balanced_accuracy(pred: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean per-class recall: fair when one class dominates (e.g. span-boundary flags)."""
    recalls = [(pred[labels == c] == c).float().mean().item() for c in labels.unique()]
    return float(np.mean(recalls)) if recalls else float("nan")


def fit_linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                     n_classes: Optional[int] = None, l2: float = 1e-3, max_iter: int = 100) -> ProbeResult:
    """L2-regularised multinomial logistic regression on standardised features (full-batch L-BFGS)."""
    if len(train_x) == 0 or len(test_x) == 0:
        raise ValueError("the probe needs at least one training and one test example")
    if train_x.shape[0] != train_y.shape[0] or test_x.shape[0] != test_y.shape[0]:
        raise ValueError(f"features and labels disagree in length: {train_x.shape[0]} vs {train_y.shape[0]}, "
                         f"{test_x.shape[0]} vs {test_y.shape[0]}")
    n_classes = int(n_classes or (max(int(train_y.max()), int(test_y.max())) + 1))
    mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-6)
    x_train, x_test = (train_x - mean) / std, (test_x - mean) / std
    weight = torch.zeros(x_train.shape[1], n_classes, requires_grad=True)
    bias = torch.zeros(n_classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(x_train @ weight + bias, train_y) + l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        pred = (x_test @ weight + bias).argmax(-1)
    majority_class = torch.bincount(train_y, minlength=n_classes).argmax()
    return ProbeResult(
        accuracy=(pred == test_y).float().mean().item(),
        balanced_accuracy=balanced_accuracy(pred, test_y),
        majority=(test_y == majority_class).float().mean().item(),
        # Fold the standardisation into the weights so the probe applies to raw hidden states.
        weight=(weight / std[:, None]).detach(),
        bias=(bias - (mean / std) @ weight).detach(),
    )


def train_linear_head(x: torch.Tensor, y: torch.Tensor, n_classes: int, *, steps: int, batch_size: int, seed: int,
                      init: Optional[torch.Tensor] = None, lr: float = 1e-3, weight_decay: float = 0.3) -> nn.Linear:
    """A linear head on cached features, trained on random mini-batches: AdamW with weight decay 0.3 and a
    learning rate decaying linearly to 0, as the P-probes of [3.1 App. E]. ``init``: start the weights
    there (bias 0), e.g. from the model's own output embedding of the classes."""
    torch.manual_seed(seed)
    head = nn.Linear(x.shape[1], n_classes)
    if init is not None:
        with torch.no_grad():
            head.weight.copy_(init)
            head.bias.zero_()
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 - s / steps)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(x), (min(batch_size, len(x)),), generator=generator)
        loss = F.cross_entropy(head(x[idx]), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return head.eval()


def random_init_copy(model, seed: int = 0):
    """The same architecture, freshly initialised with ``seed``: the control for every probe."""
    torch.manual_seed(seed)
    control = type(model)(copy.deepcopy(model.config))
    return control.to(next(model.parameters()).device).eval()


def probe_layers(model, inputs: torch.Tensor, labels: torch.Tensor, layers: LayerSpec = "all",
                 control: bool = True, train_fraction: float = 0.7, control_seed: int = 0,
                 metric: str = "accuracy", l2: float = 1e-3) -> dict:
    """Probe every requested layer for a per-position label, with a random-init control.

    ``inputs`` (N, T) token ids; ``labels`` (N, T) class ids, -1 where a position is not probed.
    Sequences (not positions) are split into train and test, so no sentence is in both.
    Returns {"layers", "trained", "random_init", "majority", "metric"}; scores use ``metric``,
    "accuracy" or "balanced_accuracy" (for imbalanced labels).
    """
    if metric not in ("accuracy", "balanced_accuracy"):
        raise ValueError(f"unknown metric {metric!r}; valid choices: accuracy, balanced_accuracy")
    if inputs.shape != labels.shape:
        raise ValueError(f"inputs {tuple(inputs.shape)} and labels {tuple(labels.shape)} must have the same shape")
    n_train = int(round(len(inputs) * train_fraction))
    if not 0 < n_train < len(inputs):
        raise ValueError(f"train_fraction={train_fraction} leaves no train or no test sequences out of {len(inputs)}")
    layers = _resolve_layers(model, layers)
    labels = labels.long()
    n_classes = int(labels.max()) + 1
    train_mask, test_mask = labels[:n_train] >= 0, labels[n_train:] >= 0
    y_train, y_test = labels[:n_train][train_mask], labels[n_train:][test_mask]

    def scores(net) -> tuple[list[float], float]:
        feats = hidden_states(net, inputs, layers)
        results = [fit_linear_probe(feats[l][:n_train][train_mask], y_train, feats[l][n_train:][test_mask], y_test,
                                    n_classes, l2=l2) for l in layers]
        return [getattr(r, metric) for r in results], results[0].majority

    trained, majority = scores(model)
    report = {"layers": layers, "trained": trained, "majority": majority, "metric": metric}
    if control:
        report["random_init"], _ = scores(random_init_copy(model, control_seed))
    return report


# ----------------------------------------------------------------------------------------------
# Low-rank probe (Parts 2.1 and 3.1)
# ----------------------------------------------------------------------------------------------
class LowRankProbe(nn.Module):
    """A frozen GPT, a rank-r update of its token embeddings, and one linear head per task.

    Each head reads the final-normalised last hidden state at its own position per sequence.
    """

    def __init__(self, model, rank: int, n_classes: Mapping[str, int],
                 head_init: Optional[Mapping[str, torch.Tensor]] = None):
        super().__init__()
        self.model = model
        for p in self.model.parameters():
            p.requires_grad_(False)
        d, vocab = model.config.d_model, model.config.vocab_size
        self.rank = rank
        if rank > 0:
            # LoRA-style: A random, B zero, so the probe starts from the unmodified model.
            self.emb_a = nn.Parameter(torch.randn(vocab, rank) / rank ** 0.5)
            self.emb_b = nn.Parameter(torch.zeros(rank, d))
        self.heads = nn.ModuleDict({name: nn.Linear(d, k) for name, k in n_classes.items()})
        for name, weight in (head_init or {}).items():
            if weight.shape != self.heads[name].weight.shape:
                raise ValueError(f"head_init[{name!r}] has shape {tuple(weight.shape)}, expected {tuple(self.heads[name].weight.shape)}")
            with torch.no_grad():
                self.heads[name].weight.copy_(weight)
                self.heads[name].bias.zero_()

    def features(self, inputs: torch.Tensor) -> torch.Tensor:
        """Final-normalised last-layer hidden states (B, T, d) under the embedding update."""
        emb = self.model.tok_emb(inputs)
        if self.rank > 0:
            emb = emb + F.embedding(inputs, self.emb_a) @ self.emb_b
        hidden = self.model(inputs, return_hidden=True, input_embeddings=emb).hidden[-1]
        return self.model.norm_final(hidden)

    def forward(self, inputs: torch.Tensor, positions: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        feats = self.features(inputs)
        rows = torch.arange(len(inputs), device=inputs.device)
        return {name: self.heads[name](feats[rows, positions[name]]) for name in self.heads}


def train_lowrank_probe(model, inputs: torch.Tensor, positions: Mapping[str, torch.Tensor],
                        targets: Mapping[str, torch.Tensor], n_classes: Mapping[str, int], rank: int = 2,
                        steps: int = 300, lr: float = 1e-3, weight_decay: float = 0.3, batch_size: int = 128,
                        train_fraction: float = 0.5, head_init: Optional[Mapping[str, torch.Tensor]] = None,
                        seed: int = 0) -> dict:
    """Train a :class:`LowRankProbe` on the first ``train_fraction`` of the sequences; report
    per-head accuracy on both halves. ``positions[h]`` / ``targets[h]`` are (N,) tensors.

    The model itself is never modified (the probe wraps a deep copy).
    """
    missing = set(n_classes) - set(positions) | set(n_classes) - set(targets)
    if missing:
        raise ValueError(f"positions and targets are missing heads {sorted(missing)}")
    device = next(model.parameters()).device
    torch.manual_seed(seed)
    probe = LowRankProbe(copy.deepcopy(model).eval(), rank, n_classes, head_init).to(device)
    n_train = int(round(len(inputs) * train_fraction))
    if not 0 < n_train < len(inputs):
        raise ValueError(f"train_fraction={train_fraction} leaves no train or no test sequences out of {len(inputs)}")
    params = [p for p in probe.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, n_train, (min(batch_size, n_train),), generator=generator)
        logits = probe(inputs[idx].to(device), {h: positions[h][idx].to(device) for h in n_classes})
        loss = sum(F.cross_entropy(logits[h], targets[h][idx].to(device)) for h in n_classes) / len(n_classes)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def accuracy(rows: slice) -> dict[str, float]:
        probe.eval()
        correct = {h: 0 for h in n_classes}
        for start in range(rows.start, rows.stop, 256):
            sl = slice(start, min(start + 256, rows.stop))
            logits = probe(inputs[sl].to(device), {h: positions[h][sl].to(device) for h in n_classes})
            for h in n_classes:
                correct[h] += (logits[h].argmax(-1).cpu() == targets[h][sl]).sum().item()
        return {h: c / (rows.stop - rows.start) for h, c in correct.items()}

    return {"train": accuracy(slice(0, n_train)), "test": accuracy(slice(n_train, len(inputs))), "rank": rank}
