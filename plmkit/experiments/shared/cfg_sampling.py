"""Sampling sentences of a Part 1 grammar from a model: Part 1's generation accuracy and Part 4.1's Lano
task both judge what a model writes after ``<bos>`` (or a prefix) with the grammar's parser."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ...data import cfg
from ...model import GPT


@torch.no_grad()
def complete(model: GPT, g: cfg.Grammar, prompts: Sequence[np.ndarray], temperature: float = 1.0, seed: int = 0,
             batch_size: int = 256) -> list[np.ndarray]:
    """Sample a continuation of each ``<bos> prefix`` prompt until the next ``<bos>``.

    New tokens are capped at what the rest of the longest sentence could need (and at the context).
    Returns the generated tokens per prompt, including the stopping ``<bos>`` when one was emitted.
    """
    generator = torch.Generator(device=model.device).manual_seed(seed)
    longest = int(g.maxlen[g.root])
    rows = model.generate_grouped(prompts, lambda length: longest - (length - 1) + 1, temperature=temperature,
                                  stop_token=g.bos_id, generator=generator, batch_size=batch_size)
    out = []
    for row in rows:
        row = np.asarray(row, dtype=np.int64)
        stops = np.flatnonzero(row == g.bos_id)
        out.append(row[: stops[0] + 1] if len(stops) else row)
    return out
