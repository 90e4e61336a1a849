"""The arms of a comparison: built from the same initial weights, trained on the same stream.

The paper's rule for a fair architecture comparison [P4.1 §3.1]: same data in the same order, same
step count, same learning-rate policy; arms differ only in the architecture switch. Here seed s also
fixes the initial weights: every weight an arm shares with the plain model of its size starts
identical, so a Canon arm is "the plain model plus Canon kernels", nothing else.

The model is Llama-style, as in the paper's comparisons [P4.1 App. C]: RMSNorm, gated SiLU MLP,
untied embeddings, rotary positions unless the arm says NoPE, softmax attention unless it says GLA.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Callable, Optional

import torch

from ...data.playground import common as playground
from ...model import GPT, GPTConfig
from ...train import History, train
from ..common import RunContext
from .settings import Arm, ModelSizes, Optimiser

CANON_SEED_OFFSET = 7919  # Canon kernels draw from their own stream, so shared weights stay identical


def model_config(arm: Arm, sizes: ModelSizes, vocab_size: int) -> GPTConfig:
    return GPTConfig(vocab_size=vocab_size, context=sizes.context, n_layer=arm.n_layer or sizes.n_layer,
                     n_head=arm.n_head or sizes.n_head, d_model=arm.d_model or sizes.d_model, pos=arm.pos,
                     mlp="swiglu", norm="rmsnorm", canon=arm.canon, canon_residual=arm.residual,
                     canon_trainable=arm.trainable, attention=arm.attention)


def build_model(arm: Arm, sizes: ModelSizes, vocab_size: int, seed: int) -> GPT:
    """The arm's model at seed ``seed``: the plain model's weights, plus Canon kernels if the arm has them.

    The plain model (no Canon) is drawn first from ``seed``; a Canon model is drawn from its own stream and
    then given every weight it shares with the plain one, so only its Canon kernels are new. They keep the
    default conv init, U(-0.5, 0.5) [P4.1 App. C.2].
    """
    config = model_config(arm, sizes, vocab_size)
    torch.manual_seed(seed)
    plain = GPT(dataclasses.replace(config, canon=""))
    if not config.canon:
        return plain
    torch.manual_seed(seed + CANON_SEED_OFFSET)
    model = GPT(config)
    result = model.load_state_dict(plain.state_dict(), strict=False)
    assert not result.unexpected_keys and all(".canon_" in k for k in result.missing_keys), result
    return model


def slug(text: str) -> str:
    """A file-system-safe name for checkpoints: ``1L + cst-Canon`` -> ``1L-cst-Canon``."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


def stream(sample_fn, sizes: ModelSizes, optimiser: Optimiser, seed: int, per_call: Optional[int] = None):
    """The training data of seed ``seed``: whole instances, left-aligned, the same for every arm."""
    return playground.online_stream(sample_fn, context=sizes.context, batch_size=optimiser.batch, seed=seed,
                                    examples_per_call=per_call or 64)


def train_arm(ctx: RunContext, key: tuple[str, ...], model: GPT, data, optimiser: Optimiser,
              eval_fn: Optional[Callable] = None, eval_every: int = 0, checkpoint_every: Optional[int] = None) -> History:
    """Train one arm with the experiment's shared optimiser policy.

    ``key`` (experiment, arm, seed) names the run's checkpoints, so a resumed command-line run finds them;
    by default one halfway through.
    """
    every = checkpoint_every or max(optimiser.steps // 2, 1)
    config = ctx.train_config("/".join(slug(part) for part in key), steps=optimiser.steps, lr=optimiser.lr,
                              warmup_steps=optimiser.warmup, schedule=optimiser.schedule,
                              min_lr_ratio=optimiser.min_lr_ratio, weight_decay=optimiser.weight_decay,
                              eval_every=eval_every, desc=" ".join(key), checkpoint_every=every)
    return train(model, data, config, eval_fn=eval_fn)


def seeds(ctx: RunContext, count: int) -> list[int]:
    """Seeds ``ctx.seed .. ctx.seed + count - 1``; seed s fixes data and initial weights of every arm."""
    return [ctx.seed + i for i in range(count)]
