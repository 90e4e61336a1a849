"""Sample functions for training streams: fresh sentences, optionally corrupted.

:class:`plmkit.data.packing.OnlineStream` asks a ``sample_fn(rng, n)`` for n sentences at every step.
This module builds that function from the sampler and, for noisy pretraining, the corruption of
:mod:`plmkit.data.cfg.corrupt` (Part 1 injects syntactic or structural errors into the pretraining
data to make the model robust to corrupted prompts [P1 abstract]). It sits above both so that the
sampler and the corruption never import each other.
"""
from __future__ import annotations

from typing import Optional, Union

import numpy as np

from plmkit.data.cfg.corrupt import corrupt as corrupt_sentences
from plmkit.data.cfg.grammar import Grammar, RootLike, resolve
from plmkit.data.cfg.sampler import sample


def make_sample_fn(g: Union[str, Grammar], root: RootLike = None, corrupt: Optional[tuple] = None):
    """A ``sample_fn(rng, n)`` for :class:`plmkit.data.packing.OnlineStream`.

    ``corrupt=(p, gamma)`` or ``(p, gamma, kind)`` applies :func:`plmkit.data.cfg.corrupt.corrupt`
    to every batch of fresh sentences, drawing from the same generator right after the sentences.
    """
    grammar, root_id = resolve(g, root)
    if corrupt is not None:
        p, gamma, *rest = corrupt
        kind = rest[0] if rest else "flip"

    def sample_fn(rng: np.random.Generator, n: int) -> list[np.ndarray]:
        if corrupt is None:
            return sample(grammar, n, rng, root_id)
        if kind == "struct":
            sentences, labels = sample(grammar, n, rng, root_id, labels=True)
            return corrupt_sentences(sentences, p, gamma, rng, grammar, kind="struct", labels=labels, root=root_id)
        return corrupt_sentences(sample(grammar, n, rng, root_id), p, gamma, rng, grammar)

    return sample_fn
