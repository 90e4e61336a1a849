"""Experiment code Parts 2.1 and 2.2 share: iGSM models, the training stream, generation with the
full-solution checker, accuracy by op, and the pretraining run behind the shipped checkpoints.

* :func:`make_model` builds the GPT with rotary positions the papers use ("GPT2" in [P2.1 §3]).
* :func:`make_stream` draws fresh problems for every batch from the training law, whole problems per
  window, so every batch mixes every op [P2.1 fn. 9, App. F.1].
* :func:`generate_solutions` decodes greedily (beam 1) from ``<bos> problem question <sol>``;
  :func:`check_generations` scores every step with :func:`plmkit.data.igsm.check_solution`: a solution
  counts only when every step is right, not just the final number [P2.1 §3, fn. 13].
* :func:`accuracy_by_op` gives the columns of [P2.1 Fig. 3] and the unnecessary parameters of Fig. 4.
* :func:`pretrain` is the training run (checkpoints, accuracy curve while training);
  :func:`export_checkpoint` and :func:`load_checkpoint` ship and load its result.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from ...data import igsm
from ...data.igsm import Problem, World
from ...data.packing import Example, OnlineStream, step_rng
from ...model import GPT, GPTConfig
from ...train import History, train
from .. import shipped
from ..shipped import fp16_roundtrip  # noqa: F401  (Parts 2.1 and 2.2 import it from here)
from ..common import RunContext

TRAIN_SEED = 0  # the training stream
EVAL_SEED = 50_000  # evaluation problems (test side of the split), one stream per op
CURVE_SEED = 70_000  # the small fixed set scored while training
LAYOUTS = igsm.LAYOUTS


# ----------------------------------------------------------------------------------------------
# Models and data
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSize:
    """GPT2-l-h in the paper's notation is ``n_layer=l, n_head=h, d_model=64 h`` [P2.1 §3]."""

    n_layer: int
    n_head: int
    d_model: int

    @property
    def label(self) -> str:
        return f"GPT-{self.n_layer}-{self.n_head} (d={self.d_model})"

    def non_embedding(self) -> int:
        """12 l d^2: attention (4 d^2) and MLP (8 d^2) weights per layer, biases and norms ignored."""
        return 12 * self.n_layer * self.d_model ** 2


def load_world(name: str = "nano", **overrides) -> World:
    return igsm.load_world(name, **overrides)


def make_model(world: World, size: ModelSize, context: int, seed: int = 0, tie_embeddings: bool = True) -> GPT:
    """A GPT with rotary position embedding over the world's word-level vocabulary [P2.1 §3]."""
    torch.manual_seed(seed)
    config = GPTConfig(vocab_size=world.vocab.vocab_size, context=context, n_layer=size.n_layer,
                       n_head=size.n_head, d_model=size.d_model, pos="rope", tie_embeddings=tie_embeddings)
    return GPT(config)


def make_stream(world: World, context: int, batch: int, seed: int = 0, layout: str = "pq", loss: str = "solution",
                one_per_row: bool = False, **data_options) -> OnlineStream:
    """Fresh training problems for every step, packed whole (never cut) into windows of ``context``.

    ``loss="solution"`` puts the loss on the solution and answer only, ``"all"`` on every token (the
    paper's choice). ``one_per_row=True`` puts one problem per window, padded: in a tiny world the same
    names recur in every problem, so problems packed side by side give the model earlier problems' values
    for the very names it must look up (the paper's large worlds rarely repeat a name in one window).
    ``data_options`` go to :func:`plmkit.data.igsm.training_sample_fn` (retry data, ``top_op_boost``, ...).
    """
    eos = world.vocab.eos
    fn = igsm.training_sample_fn(world, layout=layout, loss=loss, window=context - 1 if one_per_row else context,
                                 **data_options)
    if one_per_row:
        fn = _one_per_row(fn, context - 1, eos)
    return OnlineStream(fn, context=context, batch_size=batch, sep_id=eos, seed=TRAIN_SEED + seed, truncate=False)


def _one_per_row(sample_fn, length: int, eos: int):
    """Each example followed by its ``<eos>`` and padded (weight 0) to ``length``: exactly one per window."""

    def padded(rng, n):
        out = []
        for ex in sample_fn(rng, n):
            weights = np.ones(len(ex.tokens), np.float32) if ex.weights is None else ex.weights
            pad = length - len(ex.tokens) - 1
            out.append(Example(np.concatenate([ex.tokens, [eos], np.zeros(pad, np.int64)]),
                               np.concatenate([weights, [ex.end_weight], np.zeros(pad, np.float32)]), end_weight=0.0))
        return out

    return padded


def packing_description(one_per_row: bool) -> str:
    return ("<eos> problem <eos> <pad>...: one problem per window, fresh problems every step" if one_per_row else
            "<eos> problem1 <eos> problem2 ...: whole problems, padded; fresh problems every step")


# ----------------------------------------------------------------------------------------------
# Evaluation problems
# ----------------------------------------------------------------------------------------------
def eval_problems(world: World, op: Optional[int], n: int, seed: int = EVAL_SEED, *, reask: bool = False,
                  layout: str = "pq", window: Optional[int] = None) -> list[Problem]:
    """``n`` test-side problems at ``op`` (None: the training law), the same for the same seed.

    Problems whose error-free sequence does not fit ``window`` (default: the world's training window)
    are dropped before generation, never after [P2.2 fn. 25]. ``reask=True`` draws a problem at ``op``
    and asks a new question about it [P2.1 §2.4]; its own op is then whatever the new question needs.
    """
    window = window or world.config.train_window
    draws = igsm.Draws(step_rng(seed, 0 if op is None else op, int(reask)))
    out = []
    for _ in range(50 * n):
        if len(out) == n:
            break
        if reask:
            p = igsm.sample_reask(world, op=op or world.config.reask_from, split="test", draws=draws)
        else:
            p = igsm.sample_problem(world, op=op, split="test", draws=draws)
        if len(p.tokens(layout)) + 1 <= window:
            out.append(p)
    return out


# ----------------------------------------------------------------------------------------------
# Generation and checking
# ----------------------------------------------------------------------------------------------
def generate_solutions(model: GPT, problems: Sequence[Problem], layout: str = "pq", window: Optional[int] = None,
                       batch_size: int = 256) -> list[list[int]]:
    """Greedy (beam 1) continuations of each problem's prompt, up to ``<eos>`` or the window [P2.1 §3]."""
    if not problems:
        return []
    world = problems[0].world
    limit = min(window or model.config.context, model.config.context)
    prompts = [p.prompt(layout) for p in problems]
    return model.generate_grouped(prompts, lambda length: limit - length, temperature=0.0,
                                  stop_token=world.vocab.eos, batch_size=batch_size)


def check_generations(problems: Sequence[Problem], generations: Sequence[Sequence[int]]) -> list[igsm.CheckResult]:
    return [igsm.check_solution(p, g) for p, g in zip(problems, generations)]


def summarize(results: Sequence[igsm.CheckResult]) -> dict:
    """Full-solution and answer-only accuracy; unnecessary parameters and ops per *correct* solution
    [P2.1 Fig. 4]; how the wrong ones failed."""
    n = len(results)
    correct = [r for r in results if r.correct]
    return {
        "n": n,
        "accuracy": len(correct) / n if n else float("nan"),
        "answer_accuracy": sum(r.answer_correct for r in results) / n if n else float("nan"),
        "correct": len(correct),
        "unnecessary_params": float(np.mean([len(r.unnecessary) for r in correct])) if correct else float("nan"),
        "unnecessary_ops": float(np.mean([r.unnecessary_ops for r in correct])) if correct else float("nan"),
        # "Define W as [BACK]." sentences the model wrote itself: retries per correct solution [P2.2 Fig. 5]
        "retries": float(np.mean([r.retries for r in correct])) if correct else float("nan"),
        "reasons": dict(Counter(r.reason for r in results if not r.correct)),
    }


@dataclass
class Evaluation:
    """The problems of one column, what the model wrote and the checker's verdicts."""

    problems: list
    generations: list
    results: list
    summary: dict = field(default_factory=dict)


def evaluate(model: GPT, problems: Sequence[Problem], layout: str = "pq", window: Optional[int] = None) -> Evaluation:
    generations = generate_solutions(model, problems, layout, window)
    results = check_generations(problems, generations)
    return Evaluation(list(problems), generations, results, summarize(results))


def accuracy_by_op(model: GPT, world: World, ops: Sequence[int], n: int, seed: int = EVAL_SEED, layout: str = "pq",
                   reask: bool = False, keep: bool = False) -> dict:
    """``{op: summary}`` over ``n`` test problems per op (``keep=True``: ``{op: Evaluation}``)."""
    out = {}
    for op in ops:
        ev = evaluate(model, eval_problems(world, op, n, seed, reask=reask, layout=layout), layout)
        out[op] = ev if keep else ev.summary
    return out


def law_weighted(by_op: dict, op_max: int, key: str = "accuracy") -> float:
    """The in-distribution number (the paper's "op <= op_max" column): per-op values weighted by the
    training law of op [P2.1 fn. 9], which is what a test set drawn from that law measures."""
    law = igsm.op_law(op_max)
    return float(sum(w * by_op[op][key] for op, w in zip(range(1, op_max + 1), law)))


def per_correct_solution(by_op: dict, op_max: int, key: str = "unnecessary_params") -> float:
    """A per-correct-solution mean (e.g. unnecessary parameters [P2.1 Fig. 4]) over a test set drawn from the
    training law: each op's mean weighted by the correct solutions it contributes (law x accuracy); NaN when
    no solution is correct."""
    total = weight = 0.0
    for op, share in zip(range(1, op_max + 1), igsm.op_law(op_max)):
        summary = by_op[op] if op in by_op else by_op[str(op)]
        if summary["correct"]:
            total += share * summary["accuracy"] * summary[key]
            weight += share * summary["accuracy"]
    return total / weight if weight else float("nan")


# ----------------------------------------------------------------------------------------------
# Pretraining
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PretrainSettings:
    """One pretraining run: world, model, optimiser [P2.1 App. F] and the accuracy curve while training."""

    world: str
    size: ModelSize
    context: int
    batch: int
    steps: int
    lr: float
    warmup: int
    weight_decay: float = 0.05
    min_lr_ratio: float = 0.01  # cosine decay to 1% of the peak [P2.1 App. F]
    layout: str = "pq"
    loss: str = "solution"
    window: int = 0  # training window (0: the model's context); evaluation may use the whole context
    one_per_row: bool = False  # one problem per window (see make_stream)
    checkpoint_every: int = 200
    eval_every: int = 0  # steps between points of the accuracy curve (0: none while training)
    curve_problems: int = 16  # problems per op for each point of the curve
    curve_ops: tuple[int, ...] = ()  # default: every training op and the first OOD op


# The recipe of the shipped iGSM checkpoints, per profile. Part 2.1's error-free model and Part 2.2's
# retry models train with exactly this, so their comparison is at equal training tokens [P2.2 §4].
CHECKPOINT_RECIPE = {
    "ci": PretrainSettings(world="nano", size=ModelSize(2, 2, 32), context=256, batch=8, steps=30, lr=3e-3, warmup=5,
                           window=112, one_per_row=True, checkpoint_every=10, eval_every=15, curve_problems=2),
    # 65-95 minutes on one CPU thread (2-3 steps/s): 11,000 steps of 24 problems, one per 112-token
    # window (every nano training problem fits), ~260 k problems. Loss on the solution only: the problem
    # text is random by construction and costs capacity a small model does not have (the paper trains on
    # every token [P2.1 App. F]). One problem per window: nano's 24 names recur in every problem.
    "cpu": PretrainSettings(world="nano", size=ModelSize(6, 4, 128), context=256, batch=24, steps=11000, lr=4e-3,
                            warmup=500, window=112, one_per_row=True, checkpoint_every=400, eval_every=1100,
                            curve_problems=24),
    # The mini world with paper-style sentences and loss on every token [P2.1 App. F].
    "gpu": PretrainSettings(world="mini", size=ModelSize(6, 6, 384), context=512, batch=128, steps=8000, lr=2e-3,
                            warmup=500, loss="all", checkpoint_every=500, eval_every=1000, curve_problems=64),
}


def measure_checkpoint(model: GPT, world: World, layout: str, problems_per_op: int) -> dict:
    """What a checkpoint's sidecar reports: full-solution accuracy per op (in distribution and OOD), on
    reask problems, unnecessary parameters and retries per correct solution [P2.1 Figs. 3, 4; P2.2 Fig. 5]."""
    cfg = world.config
    by_op = accuracy_by_op(model, world, (*cfg.in_distribution_ops, *cfg.ood_ops), problems_per_op, layout=layout)
    reask = accuracy_by_op(model, world, (cfg.reask_from,), problems_per_op, layout=layout, reask=True)
    return {
        "by_op": {str(op): v for op, v in by_op.items()},
        "in_distribution": law_weighted(by_op, cfg.op_max),
        "in_distribution_unnecessary_params": per_correct_solution(by_op, cfg.op_max),
        "reask": reask[cfg.reask_from],
        "problems_per_column": problems_per_op,
        "decoding": "greedy (beam 1)",
    }


def curve_ops(world: World, s: PretrainSettings) -> tuple[int, ...]:
    ood = world.config.ood_ops[:1]
    return s.curve_ops or (*world.config.in_distribution_ops, *ood)


def accuracy_curve_fn(world: World, s: PretrainSettings, log: Optional[Callable[[str], None]] = print):
    """``eval_fn(model, step)`` for :func:`plmkit.train.train`: full-solution accuracy per op on a small fixed
    test set. Loss alone says little here: most of it is irreducible (random letters, names, sentence
    order), so the curve, not the loss, shows whether the model learned to reason."""
    ops = curve_ops(world, s)
    problems = {op: eval_problems(world, op, s.curve_problems, CURVE_SEED, layout=s.layout) for op in ops}

    def eval_fn(model: GPT, step: int) -> dict:
        metrics = {f"op{op}": evaluate(model, ps, s.layout).summary["accuracy"] for op, ps in problems.items()}
        if log is not None:
            log(f"step {step}: full-solution accuracy " + "  ".join(f"{k} {v:.0%}" for k, v in metrics.items()))
        return metrics

    return eval_fn


def pretrain(ctx: RunContext, world: World, model: GPT, s: PretrainSettings, name: str, *, callbacks=(),
             log: Optional[Callable[[str], None]] = print, stop_after: Optional[int] = None,
             **data_options) -> History:
    """Train ``model`` on fresh problems; with a run folder, checkpoints every ``s.checkpoint_every`` steps
    (a killed run resumes with ``--resume``). History.evals holds the accuracy curve. ``stop_after`` halts
    after that many steps as if the run had been killed (tests)."""
    stream = make_stream(world, s.window or s.context, s.batch, ctx.seed, s.layout, s.loss, s.one_per_row,
                         **data_options)
    config = ctx.train_config(name, steps=s.steps, lr=s.lr, warmup_steps=s.warmup, schedule="cosine",
                              min_lr_ratio=s.min_lr_ratio, weight_decay=s.weight_decay,
                              checkpoint_every=s.checkpoint_every, eval_every=s.eval_every)
    eval_fn = accuracy_curve_fn(world, s, log) if s.eval_every else None
    return train(model, stream, config, eval_fn=eval_fn, callbacks=callbacks, stop_after=stop_after)


def accuracy_curve(history: History) -> dict[str, list]:
    """``{"step": [...], "op1": [...], ...}`` from the evaluations recorded while training."""
    if not history.evals:
        return {"step": []}
    keys = [k for k in history.evals[0] if k != "step"]
    return {"step": [e["step"] for e in history.evals], **{k: [e[k] for e in history.evals] for k in keys}}


# ----------------------------------------------------------------------------------------------
# Shipped checkpoints
# ----------------------------------------------------------------------------------------------
def checkpoint_sidecar(world: World, model: GPT, s: PretrainSettings, history: History, evaluation: dict, seed: int,
                       **data_options) -> dict:
    """What every shipped iGSM checkpoint records beyond its name and label: world, model, settings, the data it
    saw (``data_options``: retry data, ...), training, history, accuracy curve, evaluation and environment."""
    from ...results import run_environment

    tail = history.loss[-100:]
    return {
        "world": world.name, "world_config": asdict(world.config),
        "size": asdict(s.size), "model_config": model.config.to_dict(), "parameters": model.param_counts(),
        "settings": {k: v for k, v in asdict(s).items() if k != "size"},
        "data": {"seed": seed, "layout": s.layout, "loss": s.loss, "window": s.window or s.context, "batch": s.batch,
                 "packing": packing_description(s.one_per_row), **data_options},
        "train": {"steps": history.steps, "tokens": history.tokens, "seconds": round(history.seconds, 1),
                  "final_loss_mean_last_100_steps": float(sum(tail) / max(len(tail), 1))},
        "history": {"loss": [round(x, 4) for x in history.loss], "evals": history.evals,
                    "tokens": history.tokens, "seconds": history.seconds, "lr": []},
        "curve": accuracy_curve(history),
        "weights": "fp16 state dict; 'eval' is measured on the fp16-rounded weights",
        "eval": evaluation,
        "environment": run_environment(),
    }


def export_checkpoint(model: GPT, group: str, name: str, sidecar: dict, folder: Path, made_by: str) -> Path:
    """fp16 weights and sidecar under ``folder/group`` with the group's manifest (see :mod:`..shipped`)."""
    return shipped.save(model, group, name, sidecar, made_by=made_by, half=True, folder=Path(folder))


def load_checkpoint(group: str, name: str, device=None, folder: Optional[Path] = None) -> tuple[Optional[GPT], dict]:
    """A shipped checkpoint and its sidecar, or ``(None, {"missing": why})`` when it is not there.

    A file that is present but fails its checksum is an error, never silently replaced."""
    if name not in shipped.names(group, folder):
        where = (folder or shipped.root()) / group
        return None, {"missing": f"no shipped checkpoint {name!r} in {where}"}
    return shipped.load(group, name, device=device, folder=folder)


def history_from_sidecar(sidecar: dict) -> History:
    return History.from_dict(sidecar["history"]) if "history" in sidecar else History()
