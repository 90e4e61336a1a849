"""Generation accuracy by op, in and out of distribution and on reask, and unnecessary parameters.

[P2.1 Fig. 3] scores a solution only when every step is right (the full checker), per op column:
the training law ("op <= op_max"), the hardest training op, ops never trained on (OOD), and reask
problems (a new question about the same sentences). [P2.1 Fig. 4] counts, per *correct* solution, the
parameters the model computed without needing them: ~0 on ordinary problems ("level-1" reasoning,
computing only what the question needs), more on reask, whose necessary set the training data never
looked like.
"""
from __future__ import annotations

from typing import Optional

from ...data.igsm import World
from ..common import RunContext
from ..shared.igsm import EVAL_SEED, Evaluation, accuracy_by_op, law_weighted, per_correct_solution
from .settings import IGSMSettings


def evaluate_columns(ctx: RunContext, model, world: World, s: IGSMSettings, layout: str = "pq",
                     n: Optional[int] = None) -> dict[str, Evaluation]:
    """One :class:`Evaluation` per column: ``op1`` .. ``op<max>``, the OOD ops and ``reask``."""
    cfg = world.config
    n = n or s.eval_problems
    ops = (*cfg.in_distribution_ops, *cfg.ood_ops)
    columns = {f"op{op}": ev for op, ev in accuracy_by_op(model, world, ops, n, EVAL_SEED + ctx.seed, layout,
                                                          keep=True).items()}
    reask = accuracy_by_op(model, world, (cfg.reask_from,), n, EVAL_SEED + ctx.seed, layout, reask=True, keep=True)
    columns["reask"] = reask[cfg.reask_from]
    return columns


def accuracy_table(world: World, columns: dict[str, Evaluation]) -> dict:
    """The numbers of Figs. 3 and 4 from evaluated columns."""
    cfg = world.config
    by_op = {op: columns[f"op{op}"].summary for op in (*cfg.in_distribution_ops, *cfg.ood_ops)}
    return {
        "by_op": {str(op): v for op, v in by_op.items()},
        "in_distribution": law_weighted(by_op, cfg.op_max),
        "top_op": by_op[cfg.op_max]["accuracy"],
        "ood": {str(op): by_op[op]["accuracy"] for op in cfg.ood_ops},
        "reask": columns["reask"].summary,
        "unnecessary": unnecessary_table(world, columns),
        "op_max": cfg.op_max, "ood_ops": list(cfg.ood_ops), "reask_from": cfg.reask_from,
    }


def unnecessary_table(world: World, columns: dict[str, Evaluation]) -> dict:
    """Unnecessary parameters per correct solution on ordinary problems (law-weighted over the training
    ops, and per op) and on reask problems [P2.1 Fig. 4]."""
    cfg = world.config
    return {
        "normal": per_correct_in_distribution(world, columns),
        "by_op": {str(op): columns[f"op{op}"].summary["unnecessary_params"] for op in (*cfg.in_distribution_ops,
                                                                                       *cfg.ood_ops)},
        "reask": columns["reask"].summary["unnecessary_params"],
        "reask_ops": columns["reask"].summary["unnecessary_ops"],
        "normal_correct": sum(columns[f"op{op}"].summary["correct"] for op in cfg.in_distribution_ops),
        "reask_correct": columns["reask"].summary["correct"],
    }


def per_correct_in_distribution(world: World, columns: dict[str, Evaluation]) -> float:
    """Unnecessary parameters per correct solution of a test set drawn from the training law."""
    ops = world.config.in_distribution_ops
    return per_correct_solution({op: columns[f"op{op}"].summary for op in ops}, world.config.op_max)


def failure_reasons(columns: dict[str, Evaluation]) -> dict[str, dict]:
    """How the wrong solutions of each column failed (the checker's first failure)."""
    return {name: ev.summary["reasons"] for name, ev in columns.items()}


def example_failure(ev: Evaluation, layout: str = "pq") -> Optional[dict]:
    """The first wrong solution of a column, as text, with the checker's verdict (for reading)."""
    for problem, generated, result in zip(ev.problems, ev.generations, ev.results):
        if not result.correct:
            vocab = problem.world.vocab
            text = vocab.decode([t for t in generated if t != 0])
            return {"problem": problem.problem_text, "question": problem.question_text, "generated": text,
                    "truth": problem.solution_text, "reason": result.reason, "detail": result.detail,
                    "first_error": result.first_error_name}
    return None
