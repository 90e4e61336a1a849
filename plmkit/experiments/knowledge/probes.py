"""E4/E5: where is the knowledge? P-probes in the biography, Q-probes at the name [3.1 §5, Res. 4-5]."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ...data import bios
from ...data.bios import ATTRIBUTES, BioEntry, Person
from ...model import GPT
from ...probe import train_linear_head, train_lowrank_probe
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
                                 seed=1000 * ctx.seed + SEEDS["probe"] + k,
                                 init=None if whole else unembedding_init(model, world, attribute))
        with torch.no_grad():
            pred = head(x_test).argmax(-1)  # (n_test_entries, 6)
        matrix.append((pred == y_test[attribute][:, None]).float().mean(0).tolist())
        counts = torch.bincount(y_train[attribute], minlength=classes)
        majority[attribute] = float((y_test[attribute] == counts.argmax()).float().mean())
    return {"matrix": matrix, "attributes": list(ATTRIBUTES), "positions": [f"P{i}" for i in range(1, 7)],
            "majority": majority, "task": "whole attribute" if whole else "first token"}


def q_probe(ctx: RunContext, model: GPT, world: BioWorld, data: BioData, whole: bool = False) -> dict:
    """Q-probing [3.1 §5.2]: read each attribute from ``<eos> First Middle Last <q>`` alone.

    A rank-r update of the embeddings (it lets the never-trained ``<q>`` token become useful) and one
    linear head per attribute, trained on P_train people, tested on P_test people.
    """
    s = settings(ctx)
    people = data.group("train") + data.group("test")
    inputs = torch.as_tensor(np.stack([bios.encode_name_query(p, world.tokenizer) for p in people]))
    classes = {a: n_classes(world, a, whole) for a in ATTRIBUTES}
    head_init = None if whole else {a: unembedding_init(model, world, a) for a in ATTRIBUTES}
    positions = {a: torch.full((len(people),), inputs.shape[1] - 1) for a in ATTRIBUTES}
    # AdamW, lr 1e-3, weight decay 0.3 [3.1 App. F]
    result = train_lowrank_probe(model, inputs, positions, probe_targets(world, people, whole), classes,
                                 rank=s.qprobe_rank, steps=s.qprobe_steps * (WHOLE_STEPS_FACTOR if whole else 1),
                                 lr=1e-3, weight_decay=0.3, batch_size=s.qprobe_batch,
                                 train_fraction=len(data.split.train) / len(people), head_init=head_init,
                                 seed=1000 * ctx.seed + SEEDS["probe"])
    return {"test": result["test"], "train": result["train"], "rank": result["rank"],
            "mean": float(np.mean(list(result["test"].values()))),
            "task": "whole attribute" if whole else "first token"}
