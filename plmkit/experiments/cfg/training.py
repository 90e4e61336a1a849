"""Part 1's grammars, models and training: what the model sees, and the loss levels to compare it with.

* the grammars: presets, how locally ambiguous they are, how many parses a sentence has;
* the models: the kit block at each size, with rotary, learned, uniform or no position information;
* the data: fresh sentences packed as ``<bos> s1 <bos> s2 ...`` for training, one sentence per row
  (``<bos> x <pad> ...``) for every measurement;
* the references: the exact entropy floor H* and the n-gram ladder.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch

from ...data import cfg
from ...data.packing import OnlineStream, pad_rows
from ...model import GPT, GPTConfig
from ...train import History, train
from ..common import RunContext
from .settings import CONTEXTS, MODEL_SIZES, context_for, grammar_depth

# Disjoint data streams: training windows use SeedSequence([seed, step]); every evaluation draws from its
# own single-word seed, so no evaluation sentence comes from the training generator.
TRAIN_SEED = 0
FLOOR_SEED, NGRAM_TRAIN_SEED, NGRAM_HELDOUT_SEED = 10_001, 10_002, 10_003


def load_grammar(name: str) -> cfg.Grammar:
    return cfg.Grammar.load(name)


def describe_presets(names: Sequence[str] = ("cfg3f-d2", "cfg3f-d3", "cfg3f-d4", "cfg3f-d5", "cfg3f", "cfg3b-d3"),
                     n: int = 2000, seed: int = 0) -> list[dict]:
    """Root, depth and sentence lengths (exact range, sampled mean) of each (sub-)grammar."""
    rows = []
    for name in names:
        g = load_grammar(name)
        lengths = np.array([len(x) for x in cfg.sample(g, n, seed)])
        rows.append({"grammar": name, "root": g.root, "rewrites": grammar_depth(g), "min": int(g.minlen[g.root]),
                     "max": int(g.maxlen[g.root]), "mean": round(float(lengths.mean()), 1),
                     "context": CONTEXTS.get(grammar_depth(g))})
    return rows


def local_predictability(g: cfg.Grammar, windows: Sequence[int] = (1, 2, 4, 8), n: int = 6000,
                         seed: int = 0) -> dict[int, dict[int, float]]:
    """How well the last w tokens alone determine each token's NT ancestor, level by level.

    A lookup table from "the last w tokens" (0 marks positions before the sentence start) to the most
    frequent ancestor class is filled on half of n fresh sentences and scored on the other half. With
    3^w patterns and ~10^5 tokens per half, w <= 8 is estimated well. Values well below 1 mean the
    grammar is locally ambiguous: a model must combine information from far back, as a parser does.
    """
    sentences, labels = cfg.sample(g, n, seed, labels=True)
    tokens = np.concatenate(sentences)
    owner = np.repeat(np.arange(n), [len(x) for x in sentences])
    start = labels.offsets[owner]
    position = np.arange(len(tokens))
    fit = owner < n // 2
    out: dict[int, dict[int, float]] = {}
    for level in labels.levels[1:]:
        target = labels.cls[labels.levels.index(level)].astype(np.int64)
        classes = int(target.max()) + 1
        out[level] = {}
        for w in windows:
            key = np.zeros(len(tokens), np.int64)
            for back in range(w):  # base-(T+1) code of the window
                where = position - back
                key = key * (g.num_terminals + 1) + np.where(where >= start, tokens[np.maximum(where, 0)], 0)
            table = np.zeros(((g.num_terminals + 1) ** w, classes), np.int64)
            np.add.at(table, (key[fit], target[fit]), 1)
            guess = np.where(table.sum(1) > 0, table.argmax(1), np.bincount(target[fit]).argmax())
            out[level][w] = float((guess[key[~fit]] == target[~fit]).mean())
    return out


def parse_counts(g: cfg.Grammar, n: int, seed: int = 0) -> np.ndarray:
    """Number of parse trees of n fresh sentences (1 everywhere for an unambiguous grammar)."""
    return np.array([cfg.count_parses(g, x) for x in cfg.sample(g, n, seed)], dtype=object)


# ----------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------
def model_config(g: cfg.Grammar, size: str = "small", pos: str = "rope", context: Optional[int] = None) -> GPTConfig:
    dims = MODEL_SIZES[size]
    context = context or context_for(g)
    windows = spread_windows(dims.n_head, context) if pos == "uniform" else None
    return GPTConfig(vocab_size=g.vocab_size, context=context, pos=pos, mlp="swiglu", norm="rmsnorm",
                     uniform_windows=windows, n_layer=dims.n_layer, n_head=dims.n_head, d_model=dims.d_model)


def spread_windows(n_head: int, context: int) -> tuple[int, ...]:
    """Uniform-attention windows spread geometrically from 1 to the context.

    Part 1's uniform attention gives head h the last 2^h - 1 tokens [P1]; with 4 heads and context 64
    that would never look past 15 tokens, less than one d3 sentence. 1, 4, 16, 64 covers every scale
    the grammar has.
    """
    if n_head == 1:
        return (context,)
    return tuple(int(round(context ** (h / (n_head - 1)))) for h in range(n_head))


def make_model(g: cfg.Grammar, size: str = "small", pos: str = "rope", seed: int = 0,
               context: Optional[int] = None) -> GPT:
    torch.manual_seed(seed)
    return GPT(model_config(g, size, pos, context))


# ----------------------------------------------------------------------------------------------
# Data: packed windows for training, one sentence per row for measuring
# ----------------------------------------------------------------------------------------------
def make_stream(g: cfg.Grammar, context: int, batch: int, seed: int = TRAIN_SEED,
                corrupt: Optional[tuple] = None) -> OnlineStream:
    """Fresh sentences packed left-aligned as ``<bos> s1 <bos> s2 ...``, never repeated [P1; P4.1 App. A.5]."""
    return OnlineStream(cfg.make_sample_fn(g, corrupt=corrupt), context=context, batch_size=batch,
                        sep_id=g.bos_id, seed=seed)


def with_bos(g: cfg.Grammar, prefix: np.ndarray) -> np.ndarray:
    return np.concatenate([[g.bos_id], np.asarray(prefix, np.int64)])


def padded_inputs(g: cfg.Grammar, sentences: Sequence[np.ndarray]) -> torch.Tensor:
    """``<bos> x <pad>...`` rows: every sentence starts at position 0, as the probes and KL need."""
    return pad_rows([with_bos(g, s) for s in sentences], pad_id=0)


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------
def train_model(ctx: RunContext, g: cfg.Grammar, model: GPT, steps: int, lr: float, batch: int, name: str,
                corrupt: Optional[tuple] = None, callbacks: Sequence = (), checkpoint_every: int = 250,
                data_seed: int = TRAIN_SEED) -> History:
    """Part 4.1's recipe on Part 1's task [P4.1 App. A.5]: AdamW (0.9, 0.98), eps 1e-6, weight decay 0.1, no
    warmup, linear decay to 0. Gradients are clipped at 1.0, which short runs at high learning rates need."""
    config = ctx.train_config(name, steps=steps, lr=lr, checkpoint_every=checkpoint_every, schedule="linear",
                              warmup_steps=0, weight_decay=0.1, betas=(0.9, 0.98), eps=1e-6, grad_clip=1.0)
    stream = make_stream(g, model.config.context, batch, data_seed + ctx.seed, corrupt)
    return train(model, stream, config, callbacks=callbacks)


# ----------------------------------------------------------------------------------------------
# Reference levels: the entropy floor and the n-gram ladder
# ----------------------------------------------------------------------------------------------
def entropy_floor(g: cfg.Grammar, floor_sentences: int) -> dict:
    """H* of the grammar: exact where every derivation can be enumerated (d3 roots and below), else sampled.

    Exact: the derivation-entropy DP over the expected length plus one, valid because enumeration has shown
    the root unambiguous (or, for an ambiguous small root, the entropy of the enumerated sentence
    distribution). Sampled (d4 and deeper, all ambiguous for cfg3f): the ``tree`` estimator of
    ``cfg.entropy_floor``, the lowest-variance of the three, with its standard error. The sampled estimators
    are computed in both cases, so that a reader can compare them with the exact value.
    """
    sampled = cfg.entropy_floor(g, n=floor_sentences, rng=FLOOR_SEED)
    out = {"sampled": sampled.to_dict(), "exact": None}
    if cfg.derivation_count(g) <= cfg.ENUMERATION_LIMIT:
        exact = cfg.exact_entropy_floor(g)
        out.update(exact=exact.to_dict(), value=exact.value, se=0.0, method=exact.method, unambiguous=exact.unambiguous)
    else:
        out.update(value=sampled.value, se=sampled.value_se, unambiguous=None,
                   method=f"sampled, {sampled.estimator} estimator over {sampled.sentences} sentences "
                          f"({sampled.ambiguous_fraction:.0%} of them with more than one parse)")
    return out


def loss_references(g: cfg.Grammar, floor_sentences: int, ngram_sentences: int, max_context: int = 11) -> dict:
    """H* (:func:`entropy_floor`: exact DP where possible, else Part 1's two-step DP on samples [P1 TMLR]),
    chance ln(T+1) and the add-0.1 n-gram ladder on held-out text: a model below the best n-gram uses
    structure no short window sees."""
    floor = entropy_floor(g, floor_sentences)
    train_stream = cfg.sample_stream(g, ngram_sentences, NGRAM_TRAIN_SEED)
    heldout = cfg.sample_stream(g, max(2000, ngram_sentences // 10), NGRAM_HELDOUT_SEED)
    ladder = cfg.ngram_ladder(train_stream, heldout, max_context=max_context, num_outcomes=g.num_terminals + 1)
    best = int(np.argmin(ladder))
    return {"floor": floor["value"], "floor_se": floor["se"], "floor_method": floor["method"], "floor_detail": floor,
            "chance": float(np.log(g.num_terminals + 1)),
            "mean_length": floor["exact"]["mean_length"] if floor["exact"] else floor["sampled"]["mean_length"],
            "ngram": ladder, "ngram_tokens": int(len(train_stream)), "best_ngram": ladder[best],
            "best_ngram_context": best}
