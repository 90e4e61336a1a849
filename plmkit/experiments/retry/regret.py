"""Retry upon regret against plain decoding and beam search [P2.2 §3.2, Fig. 3b].

Every method decodes the *same* test problems. Retry upon regret samples (multinomial, beam 1), so its
plain baseline is the same sampling without a detector, from the same random draws per problem: until
the detector first fires the two write identical tokens, and a solution in which a perfect detector
never fires is the same solution in both. The gain is therefore paired: the mean over problems of
(solved with the detector) - (solved without), with that difference's standard error. Greedy decoding
and beam search are the paper's other rows.
"""
from __future__ import annotations

import math
import time
from typing import Optional, Sequence

import numpy as np

from ...data import igsm
from ...data.igsm import World
from ..common import RunContext
from ..shared.igsm import EVAL_SEED, Evaluation, eval_problems, generate_solutions, summarize
from .decoding import beam_search, decode, oracle_ready
from .detection import ProbeDetector
from .settings import RegretSettings

METHODS = ("greedy", "beam", "sample", "regret_oracle", "regret_probe")
LABELS = {"greedy": "greedy (beam 1)", "beam": "beam search", "sample": "sampling (multinomial, beam 1)",
          "regret_oracle": "sampling + retry upon regret, perfect detector",
          "regret_probe": "sampling + retry upon regret, probe detector"}
BASELINE = {"beam": "greedy", "regret_oracle": "sample", "regret_probe": "sample"}  # what each gain is over


def paired_gain(base: Sequence[bool], new: Sequence[bool]) -> tuple[float, float]:
    """Mean of new - base over the same problems, and its standard error (NaN below 2 problems)."""
    d = np.asarray(new, dtype=float) - np.asarray(base, dtype=float)
    if len(d) == 0:
        return float("nan"), float("nan")
    se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else float("nan")
    return float(d.mean()), se


def _seed(ctx_seed: int, op: int, index: int) -> int:
    """One seed per (op, problem): every sampled method draws the same random numbers on a problem."""
    return 1_000_003 * ctx_seed + 10_007 * op + index


def run_method(model, problems: list, method: str, s: RegretSettings, probe=None, seed: int = 0,
               op: int = 0, layout: str = "pq") -> tuple[Evaluation, list]:
    """Decode every problem with one method: (evaluation, rollbacks per problem)."""
    regrets = [0] * len(problems)
    if method == "greedy":
        generations = generate_solutions(model, problems, layout)
    elif method == "beam":
        generations = [beam_search(model, p, s.beam, layout=layout).tokens for p in problems]
    elif method in ("sample", "regret_oracle", "regret_probe"):
        if method == "regret_probe" and probe is None:
            raise ValueError("regret_probe needs a trained detector probe")
        detector = None if method == "sample" else oracle_ready if method == "regret_oracle" else ProbeDetector(probe)
        runs = [decode(model, p, detector, s.max_retries, s.temperature, seed=_seed(seed, op, i), layout=layout,
                       temperature=s.temperature) for i, p in enumerate(problems)]
        generations, regrets = [r.tokens for r in runs], [r.regrets for r in runs]
    else:
        raise ValueError(f"unknown decoding method {method!r}; valid: {', '.join(METHODS)}")
    results = [igsm.check_solution(p, g) for p, g in zip(problems, generations)]
    return Evaluation(list(problems), generations, results, summarize(results)), regrets


def run_regret(ctx: RunContext, model, world: World, s: RegretSettings, probe=None, layout: str = "pq",
               methods: Optional[Sequence[str]] = None, log=print) -> tuple[dict, dict]:
    """(report, ``{method: {op: Evaluation}}``): accuracy per op and method, rollbacks per solution,
    seconds, and each method's paired gain over its baseline (``BASELINE``)."""
    methods = list(methods or [m for m in METHODS if m != "regret_probe" or probe is not None])
    problems = {op: eval_problems(world, op, s.problems, EVAL_SEED + ctx.seed, layout=layout) for op in s.ops}
    report = {"ops": list(s.ops), "problems_per_op": s.problems, "max_retries": s.max_retries, "beam": s.beam,
              "temperature": s.temperature, "methods": {}}
    correct, columns = {}, {}
    for method in methods:
        start = time.time()
        row, flags, columns[method] = {}, [], {}
        for op, ps in problems.items():
            ev, regrets = run_method(model, ps, method, s, probe, seed=ctx.seed, op=op, layout=layout)
            row[str(op)] = {**ev.summary, "rollbacks": float(np.mean(regrets)) if regrets else float("nan")}
            flags.extend(r.correct for r in ev.results)
            columns[method][op] = ev
        correct[method] = flags
        seconds = time.time() - start
        report["methods"][method] = {"by_op": row, "pooled": float(np.mean(flags)) if flags else float("nan"),
                                     "seconds": round(seconds, 1),
                                     "seconds_per_problem": round(seconds / max(len(flags), 1), 4)}
        if log:
            log(f"{LABELS[method]:<48} " + "  ".join(f"op{op} {row[str(op)]['accuracy']:6.1%}" for op in s.ops)
                + f"   ({seconds:.0f} s)")
    for method, base in BASELINE.items():
        if method in correct and base in correct:
            gain, se = paired_gain(correct[base], correct[method])
            lost = sum(b and not m for b, m in zip(correct[base], correct[method]))
            report["methods"][method].update({"baseline": base, "gain": gain, "gain_se": se, "lost": lost})
    return report, columns
