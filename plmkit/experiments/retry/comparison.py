"""Pretraining on retry data against error-free data at equal tokens [P2.2 §4, §6, Figs. 4b, 5, 8].

Every arm is the same model trained with the same optimiser, steps, batch and window; only the data
differs (:data:`.settings.ARMS`). ``cpu`` reads the shipped checkpoints, each measured when it was made
on the same test problems per op (greedy, the full checker); ``ci`` and ``gpu`` train the arms here.
Per arm: full-solution accuracy per op in and out of distribution with its binomial standard error,
and the ``[BACK]`` retries the model writes per correct solution [P2.2 Fig. 5a]. A shipped arm that is
missing is reported as missing, never replaced.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import numpy as np

from ...data import igsm
from ...data.igsm import World
from ..common import RunContext
from ..shared.igsm import (EVAL_SEED, accuracy_by_op, eval_problems, generate_solutions, law_weighted, load_checkpoint,
                           make_model, pretrain)
from .settings import ARMS, RetrySettings


def binomial_se(accuracy: float, n: int) -> float:
    return math.sqrt(accuracy * (1 - accuracy) / n) if n else float("nan")


def arm_row(by_op: dict, world: World, **facts) -> dict:
    """One arm's numbers from ``{op: summary}`` (keys str or int)."""
    cfg = world.config
    ops = (*cfg.in_distribution_ops, *cfg.ood_ops)
    table = {}
    for op in ops:
        summary = by_op.get(str(op), by_op.get(op))
        if summary is None:
            continue
        retries = summary.get("retries")
        table[str(op)] = {"accuracy": summary["accuracy"], "n": summary["n"], "correct": summary["correct"],
                          "se": binomial_se(summary["accuracy"], summary["n"]),
                          "retries": None if retries is None or retries != retries else float(retries),
                          "reasons": summary.get("reasons", {})}
    counted = [(v["correct"], v["retries"]) for v in table.values() if v["correct"] and v["retries"] is not None]
    total = sum(c for c, _ in counted)
    in_dist = {op: table[str(op)] for op in cfg.in_distribution_ops if str(op) in table}
    return {**facts, "by_op": table,
            "in_distribution": law_weighted(in_dist, cfg.op_max) if len(in_dist) == cfg.op_max else None,
            "retries_per_correct": sum(c * r for c, r in counted) / total if total else None,
            "correct_solutions": total}


def _shipped_facts(sidecar: dict, source: str) -> dict:
    train, data = sidecar.get("train", {}), sidecar.get("data", {})
    windows = train.get("steps", 0) * data.get("batch", 0)
    one_per_row = "one problem per window" in data.get("packing", "")
    return {"source": source, "made_by": sidecar.get("made_by"), "tokens": train.get("tokens"),
            "steps": train.get("steps"), "minutes": round(train.get("seconds", 0) / 60, 1),
            "problems_seen": windows if one_per_row else None,
            "problems_per_op": sidecar.get("eval", {}).get("problems_per_column")}


def shipped_arms(ctx: RunContext, world: World, s: RetrySettings, folder: Optional[Path] = None,
                 log=print) -> tuple[dict, dict]:
    """(rows, models) of the shipped arms; a missing checkpoint gives ``{"missing": why}``. ``folder``
    replaces ``data/checkpoints`` for the retry arms (e.g. a finished trainer's ``export`` folder)."""
    rows, models = {}, {}
    for arm in s.arms:
        if arm == "error_free" and s.error_free is not None:
            group, name, where = *s.error_free, None
        else:
            group, name, where = s.shipped_group, arm, folder
        model, sidecar = load_checkpoint(group, name, device=ctx.device, folder=where)
        label = ARMS[arm].label
        if model is None:
            rows[arm] = {"label": label, "missing": sidecar["missing"]}
            if log:
                log(f"{label}: not measured ({sidecar['missing']})")
            continue
        models[arm] = model
        rows[arm] = arm_row(sidecar["eval"]["by_op"], world, label=label,
                         **_shipped_facts(sidecar, f"shipped {group}/{name}"))
    return rows, models


def live_arms(ctx: RunContext, world: World, s: RetrySettings, log=print) -> tuple[dict, dict]:
    """Train every arm here (same model, optimiser, steps, batch, window; only the data differs) and
    measure it on the same test problems per op."""
    p, cfg = s.pretrain, world.config
    rows, models = {}, {}
    for arm in s.arms:
        model = make_model(world, p.size, p.context, seed=ctx.seed)
        history = pretrain(ctx, world, model, p, f"retry-{world.name}-{arm}", log=None, **ARMS[arm].data_options())
        model.eval()
        by_op = accuracy_by_op(model, world, (*cfg.in_distribution_ops, *cfg.ood_ops), s.comparison_problems,
                               EVAL_SEED + ctx.seed, p.layout)
        models[arm] = model
        rows[arm] = arm_row(by_op, world, label=ARMS[arm].label, source="trained in this run", tokens=history.tokens,
                         steps=history.steps, minutes=round(history.seconds / 60, 1),
                         problems_seen=history.steps * p.batch if p.one_per_row else None,
                         problems_per_op=s.comparison_problems)
        if log:
            log(f"{ARMS[arm].label:<22} {history.tokens / 1e6:.2f}M tokens: " +
                "  ".join(f"op{op} {v['accuracy']:.0%}" for op, v in rows[arm]["by_op"].items()))
    return rows, models


def gains(rows: dict, world: World, base: str = "error_free") -> dict:
    """Each measured arm minus ``base`` per op, with the standard error of the difference (independent
    binomials: the arms are different models on the same problems)."""
    out = {}
    if base not in rows or "missing" in rows[base]:
        return out
    for arm, row in rows.items():
        if arm == base or "missing" in row:
            continue
        out[arm] = {}
        for op, v in row["by_op"].items():
            b = rows[base]["by_op"].get(op)
            if b is not None:
                out[arm][op] = {"gain": v["accuracy"] - b["accuracy"], "se": math.hypot(v["se"], b["se"])}
    return out


def spot_check(ctx: RunContext, models: dict, world: World, s: RetrySettings, layout: str = "pq") -> dict:
    """A few greedy solutions per retry arm at the hardest training op and the first OOD op: how many
    ``[BACK]``s it writes, and one solution that retracts a step, to read."""
    cfg = world.config
    out = {}
    for arm, model in models.items():
        if ARMS[arm].rate == 0:
            continue
        found, written, solutions = None, 0, 0
        for op in (cfg.op_max, cfg.ood_ops[0]):
            problems = eval_problems(world, op, s.spot_problems, EVAL_SEED + 1 + ctx.seed, layout=layout)
            for problem, generated in zip(problems, generate_solutions(model, problems, layout)):
                result = igsm.check_solution(problem, generated)
                written += result.retries
                solutions += 1
                if result.retries and found is None:
                    found = {"op": op, "generated": world.vocab.decode([t for t in generated if t != 0]),
                             "truth": problem.solution_text, "correct": result.correct, "reason": result.reason}
        out[arm] = {"solutions": solutions, "retries_written": written, "example": found}
    return out


def training_data(world: World, s: RetrySettings, n: int = 300, seed: int = 3) -> dict:
    """Per arm, what its training stream holds: tokens per problem (error-free part and retries),
    retries per problem, and the problems a token budget buys when problems are packed back to back
    (the paper) or one per window (the kit's nano runs)."""
    p = s.pretrain
    window = p.window or p.context
    out = {}
    for arm in s.arms:
        fn = igsm.training_sample_fn(world, layout=p.layout, loss=p.loss, window=window - 1 if p.one_per_row else window,
                                     **ARMS[arm].data_options())
        examples = fn(np.random.default_rng(seed), n)
        back = world.vocab.id_of("[BACK]")
        lengths = np.asarray([len(e.tokens) + 1 for e in examples], dtype=float)  # + the separator
        retries = np.asarray([int((e.tokens == back).sum()) for e in examples], dtype=float)
        tokens = p.steps * p.batch * window
        out[arm] = {"tokens_per_problem": float(lengths.mean()), "retries_per_problem": float(retries.mean()),
                    "packed_problems": tokens / float(lengths.mean()), "one_per_window_problems": p.steps * p.batch,
                    "token_budget": tokens}
    return out
