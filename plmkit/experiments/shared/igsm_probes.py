"""V-probes on iGSM models, shared by Parts 2.1 and 2.2: the probe data, training and scoring.

V-probing [P2.1 §4.1]: freeze the model, cut a problem's sequence at a position, append
``[START] A [END]`` (``[START] A [MID] B [END]`` for dep), and train a linear head on the last layer's
hidden state at ``[END]`` together with a rank-8 update of the input embeddings (the appended tokens
are new to the model). Part 2.1 reads the model's plan with them; Part 2.2 uses the can_next probe as
a mistake detector [P2.2 §3].
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ...data import igsm
from ...data.igsm import World
from ...data.packing import pad_rows, step_rng
from ...probe import LowRankProbe, fit_linear_probe


@dataclass(frozen=True)
class ProbeSettings:
    """V-probes [P2.1 §4.1, App. F.2]: a linear head on the last layer at ``[END]`` and a rank-``rank``
    update of the input embeddings, trained on train-side problems and scored on test-side ones."""

    train_problems: int
    test_problems: int
    items_per_problem: int  # at most 10 (position, A[, B]) choices per problem and task [P2.1 App. E]
    steps: int
    batch: int
    rank: int = 8
    lr: float = 2e-3  # linear decay to 0, weight decay 0.01 [P2.1 App. F.2]
    weight_decay: float = 0.01

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError(f"probe steps must be at least 1, got {self.steps}")


TASKS = ("nece", "can_next", "dep")
PROBE_SEED = 90_000  # probe problems: train side and test side drawn from their own streams


# ----------------------------------------------------------------------------------------------
# Probe data
# ----------------------------------------------------------------------------------------------
@dataclass
class ProbeSet:
    """Probe inputs (prefix + suffix, token ids) and their labels for one task."""

    task: str
    inputs: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    steps: list = field(default_factory=list)  # j for can_next (0 = before the solution), -1 otherwise
    necessary: list = field(default_factory=list)  # is A necessary (level-2 rows use the unnecessary ones)
    ops: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, mask: Sequence[bool]) -> "ProbeSet":
        keep = [i for i, m in enumerate(mask) if m]
        return ProbeSet(self.task, *[[getattr(self, f)[i] for i in keep]
                                     for f in ("inputs", "labels", "steps", "necessary", "ops")])


def probe_set(world: World, task: str, n_problems: int, split: str, items: int, seed: int,
              layout: str = "pq", ops: Optional[Sequence[int]] = None, context: Optional[int] = None) -> ProbeSet:
    """Up to ``items`` probe items from each of ``n_problems`` problems of the ``split`` side, ops drawn
    uniformly from ``ops`` (default: the training ops) [P2.1 App. E]."""
    if task not in TASKS:
        raise ValueError(f"unknown probe task {task!r}; valid: {', '.join(TASKS)}")
    ops = tuple(ops or world.config.in_distribution_ops)
    context = context or world.config.train_window
    rng = step_rng(seed, TASKS.index(task), int(split == "test"))
    draws = igsm.Draws(rng)
    out = ProbeSet(task)
    for _ in range(n_problems):
        op = ops[draws.below(len(ops))]
        problem = igsm.sample_problem(world, op=op, split=split, draws=draws)
        labels = igsm.probe_labels(problem, layout)
        for item in igsm.sample_probe_items(labels, task, rng, k=items):
            ids = igsm.probe_input(problem, item, layout)
            if len(ids) > context:
                continue
            out.inputs.append(ids)
            out.labels.append(item.label)
            out.steps.append(-1 if item.step is None else item.step)
            out.necessary.append(item.a in problem.necessary)
            out.ops.append(problem.op)
    return out


# ----------------------------------------------------------------------------------------------
# Training and using a V-probe
# ----------------------------------------------------------------------------------------------
def _batch(inputs: Sequence[np.ndarray], device) -> tuple[torch.Tensor, dict]:
    x = pad_rows(inputs).to(device)
    ends = torch.as_tensor([len(r) - 1 for r in inputs], device=device)  # the [END] token of each row
    return x, {"y": ends}


def train_vprobe(model, data: ProbeSet, s: ProbeSettings, seed: int = 0) -> LowRankProbe:
    """A rank-``s.rank`` V-probe on a frozen copy of ``model``: AdamW, linear decay to 0 [P2.1 App. F.2].

    Rank 0 is a plain linear probe: the features never change, so they are computed once and the head is
    fitted by logistic regression (far cheaper; the appended tokens then get no input adaptation)."""
    torch.manual_seed(seed)
    probe = LowRankProbe(copy.deepcopy(model).eval(), s.rank, {"y": 2}).to(model.device)
    if s.rank == 0:
        return _fit_head_on_features(probe, data)
    params = [p for p in probe.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=s.lr, weight_decay=s.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / s.steps)
    labels = torch.as_tensor(data.labels, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(s.steps):
        idx = torch.randint(0, len(data), (min(s.batch, len(data)),), generator=generator).tolist()
        x, positions = _batch([data.inputs[i] for i in idx], model.device)
        loss = F.cross_entropy(probe(x, positions)["y"], labels[idx].to(model.device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return probe.eval()


def _fit_head_on_features(probe: LowRankProbe, data: ProbeSet) -> LowRankProbe:
    """Rank 0: logistic regression (L-BFGS, standardised features) on the states at ``[END]``, computed once."""
    features = end_features(probe, data.inputs)
    labels = torch.as_tensor(data.labels, dtype=torch.long)
    fit = fit_linear_probe(features, labels, features[:1], labels[:1], n_classes=2)
    with torch.no_grad():
        probe.heads["y"].weight.copy_(fit.weight.T)
        probe.heads["y"].bias.copy_(fit.bias)
    return probe.eval()


@torch.no_grad()
def end_features(probe: LowRankProbe, inputs: Sequence[np.ndarray], batch: int = 128) -> torch.Tensor:
    """The final-normalised last-layer state at each input's ``[END]`` token, (N, d) on the CPU."""
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
    out = torch.zeros(len(inputs), probe.model.config.d_model)
    for start in range(0, len(order), batch):
        rows = order[start:start + batch]
        x, positions = _batch([inputs[i] for i in rows], probe.model.device)
        feats = probe.features(x)
        out[rows] = feats[torch.arange(len(rows), device=x.device), positions["y"]].float().cpu()
    return out


@torch.no_grad()
def predict(probe: LowRankProbe, inputs: Sequence[np.ndarray], batch: int = 128) -> np.ndarray:
    """The probe's 0/1 answer for each input (rows grouped by length so little padding is computed)."""
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
    out = np.zeros(len(inputs), dtype=np.int64)
    device = probe.model.device
    for start in range(0, len(order), batch):
        rows = order[start:start + batch]
        x, positions = _batch([inputs[i] for i in rows], device)
        out[rows] = probe(x, positions)["y"].argmax(-1).cpu().numpy()
    return out


def score(pred: Sequence[int], labels: Sequence[int]) -> dict:
    """Accuracy, per-label accuracy (positives, negatives) and the majority-class baseline [P2.1 Fig. 12]."""
    pred, labels = np.asarray(pred), np.asarray(labels)
    if len(labels) == 0:
        return {"n": 0, "accuracy": float("nan"), "positives": float("nan"), "negatives": float("nan"),
                "majority": float("nan")}
    right = pred == labels
    return {"n": int(len(labels)), "accuracy": float(right.mean()),
            "positives": float(right[labels == 1].mean()) if (labels == 1).any() else float("nan"),
            "negatives": float(right[labels == 0].mean()) if (labels == 0).any() else float("nan"),
            "majority": igsm.majority_baseline(labels.tolist())}
