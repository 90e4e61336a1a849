"""Lano: hierarchical language structure, Part 1's grammars in the playground [P4.1 §2.1, App. A.5].

Lano reuses the context-free grammars of Part 1 (cfg3f) and two that are one level deeper (cfg3j,
cfg3k); sampling and the membership check live in :mod:`plmkit.data.cfg`. This adapter only fixes the
playground's recipe: sentences separated by ``<bos>``, loss on all tokens, windows cut at the edge
(Part 1's packing), and evaluation by generating at temperature 1 and parsing every sample.
"""
from __future__ import annotations

from .. import cfg
from ..packing import OnlineStream

LANO_GRAMMARS = ("cfg3f", "cfg3j", "cfg3k")
CONTEXT = {"cfg3f": 512, "cfg3j": 1536, "cfg3k": 1536}  # [P4.1 App. A.5]


def lano_stream(grammar: str = "cfg3f", batch_size: int = 96, seed: int = 0, context=None, root=None) -> OnlineStream:
    """Fresh sentences of ``grammar`` (any name or preset :mod:`plmkit.data.cfg` accepts), packed Part 1's way."""
    g = cfg.Grammar.load(grammar)
    if context is None:
        context = CONTEXT.get(grammar, 512)
    return OnlineStream(cfg.make_sample_fn(g, root=root), context=context, batch_size=batch_size,
                        sep_id=g.bos_id, seed=seed, truncate=True)
