"""E4/E5: where is the knowledge? P-probes in the biography, Q-probes at the name [3.1 §5, Res. 4-5]."""
from __future__ import annotations

import copy
from typing import Mapping, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...data import bios
from ...data.bios import ATTRIBUTES, BioEntry, Person
from ...model import GPT
from ...probe import train_linear_head
from ...tokenizer import split_words
from ..common import RunContext
from ..shared.bios import SEEDS, BioData, BioWorld, entry_inputs
from .settings import settings

WHOLE_STEPS_FACTOR = 3  # whole-value heads have many more classes than first-token heads: train longer


def first_token_classes(world: BioWorld, attribute: str) -> list[str]:
    """The distinct first words of an attribute's possible values (months for the birth date)."""
    values = world.pools.values(attribute) if attribute != "birth_date" else bios.MONTHS
    return list(dict.fromkeys(split_words(v)[0] for v in values))


def value_classes(world: BioWorld, attribute: str) -> list[str]:
    """Whole-attribute classes: the distinct values (birth dates are too many: only their month)."""
    if attribute == "birth_date":
        return list(bios.MONTHS)
    return list(world.pools.values(attribute))


def n_classes(world: BioWorld, attribute: str, whole: bool) -> int:
    return len(value_classes(world, attribute) if whole else first_token_classes(world, attribute))


def probe_targets(world: BioWorld, people: Sequence[Person], whole: bool = False) -> dict[str, torch.Tensor]:
    """Class index of every person's attribute: its first word (or whole value), per attribute."""
    out = {}
    for attribute in ATTRIBUTES:
        classes = value_classes(world, attribute) if whole else first_token_classes(world, attribute)
        index = {c: i for i, c in enumerate(classes)}
        if attribute == "birth_date":
            labels = [p.birth_month - 1 for p in people]
        else:
            labels = [index[p.value(attribute) if whole else split_words(p.value(attribute))[0]] for p in people]
        out[attribute] = torch.tensor(labels, dtype=torch.long)
    return out


def unembedding_init(model: GPT, world: BioWorld, attribute: str) -> torch.Tensor:
    """Head weights = the tied output-embedding rows of the class tokens: the probe starts as the model's
    own next-token readout restricted to those tokens. With ~150 probe people a randomly initialised head
    learns next to nothing."""
    ids = [world.tokenizer.id_of(c) for c in first_token_classes(world, attribute)]
    return model.lm_head.weight.detach()[ids].clone()


@torch.no_grad()
def position_features(model: GPT, world: BioWorld, entries: Sequence[BioEntry], batch_size: int = 256) -> torch.Tensor:
    """Final-normalised last-layer states (n_entries, 6, d) at P1..P6: the token right before each
    attribute value, in text order."""
    model.eval()
    inputs, spans = entry_inputs(world, entries)
    out = []
    for start in range(0, len(inputs), batch_size):
        hidden = model(inputs[start:start + batch_size].to(model.device), return_hidden=True).hidden[-1]
        feats = model.norm_final(hidden).cpu()
        for row, entry_spans in enumerate(spans[start:start + batch_size]):
            out.append(torch.stack([feats[row, f - 1] for _, f, _ in entry_spans]))
    return torch.stack(out)


def p_probe(ctx: RunContext, model: GPT, world: BioWorld, data: BioData, whole: bool = False) -> dict:
    """P-probing [3.1 §5.1]: can the attribute be read at each of the six positions P1..P6?

    For each target attribute one head is trained on the states at all six positions of P_train people's
    biographies and tested, per position, on P_test people's. Returns ``matrix`` (6 attributes x 6
    positions) and the majority baselines. First-token heads start from the model's own unembedding
    (a rank-0 probe on cached features); whole-attribute heads start at random.
    """
    s = settings(ctx)
    train_entries, train_owner = data.entries_with_owners(data.group("train"))
    test_entries, test_owner = data.entries_with_owners(data.group("test"))
    x_train = position_features(model, world, train_entries)
    x_test = position_features(model, world, test_entries)
    y_train = probe_targets(world, train_owner, whole)
    y_test = probe_targets(world, test_owner, whole)
    matrix, majority = [], {}
    steps = s.probe_steps * (WHOLE_STEPS_FACTOR if whole else 1)
    for k, attribute in enumerate(ATTRIBUTES):
        classes = n_classes(world, attribute, whole)
        head = train_linear_head(x_train.reshape(-1, x_train.shape[-1]), y_train[attribute].repeat_interleave(6),
                                 classes, steps=steps, batch_size=s.probe_batch,
                                 seed=probe_seed(ctx) + k,
                                 init=None if whole else unembedding_init(model, world, attribute))
        with torch.no_grad():
            pred = head(x_test).argmax(-1)  # (n_test_entries, 6)
        matrix.append((pred == y_test[attribute][:, None]).float().mean(0).tolist())
        counts = torch.bincount(y_train[attribute], minlength=classes)
        majority[attribute] = float((y_test[attribute] == counts.argmax()).float().mean())
    return {"matrix": matrix, "attributes": list(ATTRIBUTES), "positions": [f"P{i}" for i in range(1, 7)],
            "majority": majority, "task": "whole attribute" if whole else "first token"}


class QueryProbe(nn.Module):
    """Q-probes over a frozen GPT, one parameter set per task: a learned vector added to the embedding of
    the query token ``<q>``, and a linear head on the final-normalised last-layer state at the last position.

    The name tokens keep the model's own embeddings, so a probe can only read what the model stored for
    that name. (The paper trains a rank-16 update of every embedding row [3.1 App. F]; with ~150 probe
    people that update reaches the name tokens too and lets the head memorise the training people, and
    whether the ``<q>`` part of it moves far enough in time depends on its random initialisation.)
    """

    def __init__(self, model: GPT, query_id: int, n_classes: Mapping[str, int],
                 head_init: Optional[Mapping[str, torch.Tensor]] = None):
        super().__init__()
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.names = list(n_classes)
        self.query_id = query_id
        d = model.config.d_model
        self.query = nn.Parameter(torch.zeros(len(self.names), d))
        self.heads = nn.ModuleDict({name: nn.Linear(d, k) for name, k in n_classes.items()})
        for name, weight in (head_init or {}).items():
            with torch.no_grad():
                self.heads[name].weight.copy_(weight)
                self.heads[name].bias.zero_()

    def features(self, inputs: torch.Tensor) -> torch.Tensor:
        """(tasks, batch, d): every task's own ``<q>`` vector, the rest of the input unchanged. The tasks
        run as one batch; their parameters never meet, so each trains exactly as it would alone."""
        n_tasks, (batch, length) = len(self.names), inputs.shape
        emb = self.model.tok_emb(inputs)
        at_query = (inputs == self.query_id).unsqueeze(-1).to(emb.dtype)
        emb = emb.unsqueeze(0) + at_query.unsqueeze(0) * self.query[:, None, None, :]
        hidden = self.model(inputs.repeat(n_tasks, 1), return_hidden=True,
                            input_embeddings=emb.reshape(n_tasks * batch, length, -1)).hidden[-1]
        return self.model.norm_final(hidden[:, -1]).reshape(n_tasks, batch, -1)

    def forward(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.features(inputs)
        return {name: self.heads[name](feats[i]) for i, name in enumerate(self.names)}


def train_query_probes(model: GPT, inputs: torch.Tensor, targets: Mapping[str, torch.Tensor],
                       n_classes: Mapping[str, int], query_id: int, n_train: int, *, steps: int, batch_size: int,
                       lr: float, query_lr: float, weight_decay: float = 0.3,
                       head_init: Optional[Mapping[str, torch.Tensor]] = None, seed: int = 0) -> dict:
    """Train :class:`QueryProbe` on the first ``n_train`` rows, report accuracy per task on both parts.

    AdamW with weight decay 0.3 [3.1 App. F]; the ``<q>`` vectors at ``query_lr``, the heads at ``lr``.
    Batches are drawn with replacement from a generator seeded with ``seed``. The model is not modified.
    """
    if not 0 < n_train < len(inputs):
        raise ValueError(f"n_train={n_train} leaves no training or no test rows out of {len(inputs)}")
    device = model.device
    torch.manual_seed(seed)
    probe = QueryProbe(copy.deepcopy(model), query_id, n_classes, head_init).to(device)
    optimizer = torch.optim.AdamW([{"params": [probe.query], "lr": query_lr},
                                   {"params": list(probe.heads.parameters())}], lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, n_train, (min(batch_size, n_train),), generator=generator)
        logits = probe(inputs[idx].to(device))
        # Summed, not averaged: each task's gradient is the one it would get alone.
        loss = sum(F.cross_entropy(logits[name], targets[name][idx].to(device)) for name in probe.names)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def accuracy(rows: slice) -> dict[str, float]:
        correct = {name: 0 for name in probe.names}
        for start in range(rows.start, rows.stop, 256):
            sl = slice(start, min(start + 256, rows.stop))
            logits = probe(inputs[sl].to(device))
            for name in probe.names:
                correct[name] += (logits[name].argmax(-1).cpu() == targets[name][sl]).sum().item()
        return {name: c / (rows.stop - rows.start) for name, c in correct.items()}

    return {"train": accuracy(slice(0, n_train)), "test": accuracy(slice(n_train, len(inputs)))}


def probe_seed(ctx: RunContext) -> int:
    """The seed of every probe of a run (heads' batches): a probe written in the lab reproduces the kit's."""
    return 1000 * ctx.seed + SEEDS["probe"]


def q_probe(ctx: RunContext, model: GPT, world: BioWorld, data: BioData, whole: bool = False) -> dict:
    """Q-probing [3.1 §5.2]: read each attribute from ``<eos> First Middle Last <q>`` alone.

    One parameter set per attribute (:class:`QueryProbe`): the embedding of the never-trained ``<q>`` and
    a linear head, trained on P_train people and tested on P_test people. First-token heads start from the
    model's own unembedding of the candidate first tokens.
    """
    s = settings(ctx)
    people = data.group("train") + data.group("test")
    inputs = torch.as_tensor(np.stack([bios.encode_name_query(p, world.tokenizer) for p in people]))
    classes = {a: n_classes(world, a, whole) for a in ATTRIBUTES}
    head_init = None if whole else {a: unembedding_init(model, world, a) for a in ATTRIBUTES}
    # AdamW, lr 1e-3, weight decay 0.3 [3.1 App. F]; the <q> vector learns at qprobe_query_lr
    result = train_query_probes(model, inputs, probe_targets(world, people, whole), classes,
                                world.tokenizer.id_of("<q>"), len(data.split.train),
                                steps=s.qprobe_steps * (WHOLE_STEPS_FACTOR if whole else 1),
                                batch_size=s.qprobe_batch, lr=1e-3, query_lr=s.qprobe_query_lr,
                                weight_decay=0.3, head_init=head_init, seed=probe_seed(ctx))
    return {"test": result["test"], "train": result["train"],
            "mean": float(np.mean(list(result["test"].values()))),
            "task": "whole attribute" if whole else "first token"}
