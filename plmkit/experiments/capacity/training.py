"""Build and train Part 3.3's models, counted in exposures.

One exposure shows every person once; a run of E exposures takes as many optimiser steps as the stream
needs for E passes at the run's batch size, so two runs on the same data at the same exposures and batch
take exactly the same steps. The schedule is the paper's: warmup, then cosine down to 0.1x [P3.3 App. A].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from ...model import GPT, GPTConfig
from ...train import History, train
from ..common import RunContext
from .settings import ModelShape, Recipe

TRAIN_SEED = 1  # the stream's seed; the data itself is drawn with the run's seed


def make_model(vocab_size: int, shape: ModelShape, mlp: str = "gelu", seed: int = 0) -> GPT:
    """GPT2-l-h-like [P3.3 §2.3]: rotary positions, tied embeddings (GPT-2 ties them), no dropout."""
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab_size, context=shape.context, n_layer=shape.n_layer, n_head=shape.n_head,
                         d_model=shape.d_model, pos="rope", mlp=mlp, tie_embeddings=True))


@dataclass
class TrainedModel:
    """A trained model with what it was trained on and how long."""

    name: str
    model: GPT
    history: History
    exposures: float
    lr: float
    steps: int


def train_on(ctx: RunContext, name: str, model: GPT, stream, exposures: float, recipe: Recipe, *,
             lr: Optional[float] = None, steps: Optional[int] = None, callbacks=()) -> TrainedModel:
    """Train ``model`` on ``stream`` for ``exposures`` passes (or exactly ``steps`` steps, for dry runs)."""
    lr = recipe.lr if lr is None else lr
    total = steps if steps is not None else stream.steps_for(exposures)
    config = ctx.train_config(name, steps=total, lr=lr, schedule="cosine",
                              warmup_steps=int(total * recipe.warmup_fraction), min_lr_ratio=recipe.min_lr_ratio,
                              weight_decay=recipe.weight_decay, checkpoint_every=max(500, total // 4),
                              desc=f"{name} ({exposures:g} exposures)")
    history = train(model, stream, config, callbacks=callbacks)
    return TrainedModel(name, model, history, exposures, lr, total)


def train_world(ctx: RunContext, name: str, world, shape: ModelShape, exposures: float, recipe: Recipe, *,
                mlp: str = "gelu", lr: Optional[float] = None, batch: Optional[int] = None,
                steps: Optional[int] = None, callbacks=()) -> TrainedModel:
    """A fresh model of ``shape`` trained on ``world``'s people for ``exposures`` exposures."""
    model = make_model(world.vocab_size, shape, mlp, seed=ctx.seed)
    stream = world.stream(shape.context, batch or recipe.batch, seed=TRAIN_SEED + ctx.seed)
    return train_on(ctx, name, model, stream, exposures, recipe, lr=lr, steps=steps, callbacks=callbacks)


def run_summary(run: TrainedModel) -> dict:
    """The few numbers of a run that metrics files keep."""
    h = run.history
    return {"steps": h.steps, "tokens": h.tokens, "seconds": round(h.seconds, 1), "final_loss": h.final_loss,
            "exposures": run.exposures, "lr": run.lr}
