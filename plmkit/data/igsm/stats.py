"""Descriptive numbers of a world's problems, per op: what the labs print beside the papers' ones.

* :func:`op_table`: problems per op with mean ip, sequence length, the share of abstract parameters in
  the necessary set and in G_d, and structure draws per accepted problem. plmkit's necessary core
  tries every abstract candidate per level [P2.1 App. D.2, Alg. 2]; the official code tries one, which
  packs fewer abstract parameters, so this share is the number to compare.
* :func:`template_overlap`: per op, distinct solution templates and the share of test problems whose
  *solution* template also occurs in training [P2.1 fn. 11]. At op 1-2 there are only a few templates
  in every world, so the share is high there; the default skeleton key still keeps train and test apart.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from plmkit.data.igsm.problem import template
from plmkit.data.igsm.rand import Draws
from plmkit.data.igsm.sampler import sample_problem
from plmkit.data.igsm.world import World, load_world


def op_table(world="nano", n_per_op: int = 200, ops: Optional[Sequence[int]] = None, seed: int = 0,
             layout: str = "pq") -> list[dict]:
    world = world if isinstance(world, World) else load_world(world)
    ops = ops or list(world.config.in_distribution_ops) + list(world.config.ood_ops)
    draws = Draws(np.random.default_rng(seed))
    rows = []
    for op in ops:
        ps = [sample_problem(world, op=op, split="any", draws=draws) for _ in range(n_per_op)]
        rows.append({
            "op": op,
            "ip": float(np.mean([p.ip for p in ps])),
            "tokens": float(np.mean([len(p.tokens(layout)) for p in ps])),
            "solution_sentences": float(np.mean([len(p.order) for p in ps])),
            "abstract_share_necessary": float(np.mean([np.mean([p.is_abstract(x) for x in p.order]) for p in ps])),
            "abstract_share_graph": float(np.mean([np.mean([p.is_abstract(x) for x in p.graph]) for p in ps])),
            "draws_per_problem": float(np.mean([p.tries for p in ps])),
        })
    return rows


def template_overlap(world="nano", n_per_op: int = 300, ops: Optional[Sequence[int]] = None,
                     seed: int = 0) -> list[dict]:
    world = world if isinstance(world, World) else load_world(world)
    ops = ops or list(world.config.in_distribution_ops)
    vocab = world.vocab
    draws = Draws(np.random.default_rng(seed))

    def solution_template(p):
        return template(p.solution_tokens, vocab.item_set, vocab.category_set)

    rows = []
    for op in ops:
        train = {solution_template(sample_problem(world, op=op, split="train", draws=draws)) for _ in range(n_per_op)}
        test = [solution_template(sample_problem(world, op=op, split="test", draws=draws)) for _ in range(n_per_op)]
        rows.append({"op": op, "train_templates": len(train), "test_templates": len(set(test)),
                     "test_share_seen_in_train": float(np.mean([t in train for t in test]))})
    return rows
