"""E2: mixed training, biographies and P_train's QAs from the first step [3.1 §2.1, Res. 1, App. C]."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from ...data import bios
from ...data.packing import Batch, FixedDataset, step_rng
from ...model import GPT
from ...plots import LiveLoss
from ...train import History, train
from ..common import RunContext
from ..shared.bios import (SEEDS, BioData, BioWorld, bio_accuracy, load_shipped, make_bio_data, make_model,
                           passes_for, pretrain_config, pretrain_dataset, qa_first_token_accuracy)
from .extraction import KnowledgeRun, evaluate_run
from .settings import MixedSettings, settings, shipped_group

CURVE_PEOPLE = 100  # people per group whose accuracies make the learning curves


class MixedSource:
    """Windows that are entirely biography text or entirely QA text [3.1 §2.1, App. C].

    Each row of a batch is a QA window with probability ``qa_ratio`` (the paper's QA_r = 0.8), drawn
    from the step's seed, so a batch is still a pure function of the step (resumable runs).
    """

    def __init__(self, bio: FixedDataset, qa: FixedDataset, qa_ratio: float, seed: int):
        if bio.context != qa.context or bio.batch_size != qa.batch_size:
            raise ValueError("biography and QA sources need the same context and batch size")
        if not 0.0 <= qa_ratio <= 1.0:
            raise ValueError(f"qa_ratio must be in [0, 1], got {qa_ratio}")
        self.bio, self.qa, self.qa_ratio, self.seed = bio, qa, qa_ratio, seed

    def qa_rows(self, step: int) -> np.ndarray:
        return step_rng(self.seed, step).random(self.bio.batch_size) < self.qa_ratio

    def batch(self, step: int) -> Batch:
        use_qa = torch.from_numpy(self.qa_rows(step))
        bio, qa = self.bio.batch(step), self.qa.batch(step)
        pick_rows = lambda a, b: torch.where(use_qa[:, None], b, a)  # noqa: E731
        return Batch(pick_rows(bio.inputs, qa.inputs), pick_rows(bio.targets, qa.targets),
                     pick_rows(bio.weights, qa.weights))

    def describe(self) -> dict:
        return {"kind": "mixed", "qa_ratio": self.qa_ratio, "seed": self.seed, "bio": self.bio.describe(),
                "qa": self.qa.describe()}


def mixed_source(ctx: RunContext, world: BioWorld, data: BioData, qa_ratio: float) -> MixedSource:
    """Everyone's biographies and P_train's QAs (the answers carry the loss), in windows of one kind each."""
    sizes = settings(ctx).sizes
    seed = 1000 * ctx.seed + SEEDS["pretrain"]
    bio_ds = pretrain_dataset(world, data, sizes, ctx.seed)
    qa_ds = FixedDataset(bios.encode_qas(bios.qa_pairs(data.group("train")), world.tokenizer), context=sizes.context,
                         batch_size=sizes.batch, sep_id=world.eos, seed=seed + 1)
    return MixedSource(bio_ds, qa_ds, qa_ratio, seed + 2)


def mixed_train(ctx: RunContext, world: BioWorld, data: BioData, bio_exposures: int, qa_ratio: float, name: str,
                eval_every: int = 0, eval_people: int = CURVE_PEOPLE, live_plot: bool = False,
                shipped: bool = False) -> tuple[GPT, History]:
    """Train from scratch on biographies of everyone plus P_train QAs.

    ``bio_exposures``: biography exposures per person; the run is 1/(1 - qa_ratio) times longer than
    BIO pretraining alone. With ``eval_every`` the four learning curves of [3.1 Fig. 1] are recorded
    in ``history.evals``: BIO and QA first-token accuracy on P_train and P_test people. ``shipped``: load
    the kit's shipped checkpoint of exactly this run when there is one.
    """
    source = mixed_source(ctx, world, data, qa_ratio)
    steps = int(math.ceil(source.bio.steps_for(passes_for(data, bio_exposures)) / (1 - qa_ratio)))
    model = make_model(world, settings(ctx).sizes, ctx.seed)
    config = pretrain_config(ctx, settings(ctx).sizes, name, steps, f"mixed {name}", eval_every=eval_every)
    eval_fn = learning_curve_eval(world, data, eval_people) if eval_every else None
    callbacks = [LiveLoss(title="mixed training", every=10)] if live_plot else []
    group = shipped_group(ctx, name) if shipped else None
    history = (load_shipped(group, name, model, source, config) if group else None) \
        or train(model, source, config, eval_fn=eval_fn, callbacks=callbacks)
    return model, history


def learning_curve_eval(world: BioWorld, data: BioData, n_people: int) -> Callable:
    """eval_fn for :func:`plmkit.train.train`: BIO and QA first-token accuracy, in- and out-of-distribution."""
    train_people, test_people = data.group("train")[:n_people], data.group("test")[:n_people]
    entries = {part: data.entries_with_owners(group)[0] for part, group in
               (("train", train_people), ("test", test_people))}
    qas = {"train": bios.qa_pairs(train_people), "test": bios.qa_pairs(test_people)}

    def evaluate(model, step):
        out = {}
        for part in ("train", "test"):
            out[f"bio_{part}"] = bio_accuracy(model, world, entries[part])["first_token_mean"]
            out[f"qa_{part}"] = qa_first_token_accuracy(model, world, qas[part]).mean
        return out

    return evaluate


def run_mixed(ctx: RunContext, world: BioWorld, mixed: MixedSettings, live_plot: bool = False,
              shipped: bool = False) -> tuple[dict, History]:
    """E2: mixed training on ``single``; returns the metrics and the history with its learning curves."""
    data = make_bio_data(world, mixed.n_people, "single", ctx.seed)
    model, history = mixed_train(ctx, world, data, mixed.bio_exposures, mixed.qa_ratio, "mixed_single",
                                 eval_every=mixed.eval_every, live_plot=live_plot, shipped=shipped)
    run = KnowledgeRun("mixed single", data, model, history)
    metrics = evaluate_run(run, world)
    metrics["qa_ratio"] = mixed.qa_ratio
    metrics["bio_exposures"] = mixed.bio_exposures
    metrics["curves"] = history.evals
    return metrics, history
