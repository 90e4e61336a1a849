"""V-probes of the model's mental process, and what the probes say at the model's own mistakes.

V-probing [P2.1 §4.1]: freeze the model, cut a problem's sequence at a position, append
``[START] A [END]`` (``[START] A [MID] B [END]`` for dep), and train a linear head on the last layer's
hidden state at ``[END]`` together with a rank-8 update of the input embeddings (the appended tokens
are new to the model). Tasks used here [P2.1 Fig. 7]:

* ``nece(A)``: is A needed for the question? Probed *before the solution starts* (end of the question):
  if the model knows, it has planned.
* ``can_next(A)``: can A be computed next? Probed at ``<sol>`` and at the end of every solution sentence.
* ``dep(A, B)``: does A depend on B? Probed at the end of the problem, before the question is read.

Every number stands beside the same probe on a randomly initialised model of the same shape and the
majority class [P2.1 §4.1]: a probe that beats a random network has found something the training put
there. Mistakes [P2.1 Fig. 8]: at the first step where the model wrote a parameter that could not be
computed yet, does the can_next probe already say "not ready"?
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ...data import igsm
from ...data.igsm import Problem, World
from ...probe import LowRankProbe, random_init_copy
from ..common import RunContext
from ..shared.igsm import Evaluation
from ..shared.igsm_probes import PROBE_SEED, TASKS, ProbeSet, predict, probe_set, score, train_vprobe
from .settings import IGSMSettings

@dataclass
class ProbeRun:
    """Reports per task (trained vs random-init) and the trained probes (the mistakes analysis reuses them)."""

    reports: dict
    probes: dict


def run_probes(ctx: RunContext, model, world: World, s: IGSMSettings, tasks: Sequence[str] = TASKS,
               layout: str = "pq", log=print) -> ProbeRun:
    """Each task's V-probe on ``model`` and on a random-initialised copy, trained on train-side problems,
    scored on test-side ones."""
    p = s.probes
    control_model = random_init_copy(model, seed=ctx.seed + 1)
    reports, probes = {}, {}
    for task in tasks:
        train_set = probe_set(world, task, p.train_problems, "train", p.items_per_problem, PROBE_SEED + ctx.seed,
                              layout, context=model.config.context)
        test_set = probe_set(world, task, p.test_problems, "test", p.items_per_problem, PROBE_SEED + ctx.seed,
                             layout, context=model.config.context)
        report = {"train_items": len(train_set), "test_items": len(test_set)}
        for arm, net in (("trained", model), ("random_init", control_model)):
            probe = train_vprobe(net, train_set, p, seed=ctx.seed)
            pred = predict(probe, test_set.inputs)
            report[arm] = breakdown(pred, test_set)
            if arm == "trained":
                probes[task] = probe
        report["majority"] = report["trained"]["all"]["majority"]
        reports[task] = report
        if log:
            log(f"{task:>9}: trained {report['trained']['all']['accuracy']:.1%}  random-init "
                f"{report['random_init']['all']['accuracy']:.1%}  majority {report['majority']:.1%}  "
                f"({len(test_set)} test items)")
    return ProbeRun(reports, probes)


def breakdown(pred: np.ndarray, data: ProbeSet) -> dict:
    """All items, and the slices the paper reports: before vs along the solution (can_next), and
    unnecessary A only (level-2 [P2.1 Fig. 7b])."""
    labels = np.asarray(data.labels)
    steps = np.asarray(data.steps)
    unnecessary = ~np.asarray(data.necessary, dtype=bool)
    out = {"all": score(pred, labels), "unnecessary_a": score(pred[unnecessary], labels[unnecessary])}
    if data.task == "can_next":
        out["before_solution"] = score(pred[steps == 0], labels[steps == 0])
        out["along_solution"] = score(pred[steps > 0], labels[steps > 0])
    return out


# ----------------------------------------------------------------------------------------------
# Mistakes [P2.1 Fig. 8]
# ----------------------------------------------------------------------------------------------
def prefix_before_step(problem: Problem, generated: Sequence[int], step: int, layout: str = "pq") -> list[int]:
    """The prompt and the model's own first ``step`` solution sentences (the state just before it wrote
    sentence ``step``)."""
    prefix = problem.prompt(layout).tolist()
    if step == 0:
        return prefix
    dot = problem.world.vocab.id_of(".")
    ends = [i for i, t in enumerate(generated) if t == dot]
    if len(ends) < step:
        raise ValueError(f"the generation has {len(ends)} sentences, fewer than {step}")
    return prefix + list(generated[: ends[step - 1] + 1])


def not_ready_mistakes(columns: dict[str, Evaluation], layout: str = "pq"):
    """(problem, probe input, column) at each wrong solution whose first error is a parameter that could
    not be computed yet (the checker's ``not_ready``, the error class of [P2.1 Fig. 8b])."""
    for name, ev in columns.items():
        for problem, generated, result in zip(ev.problems, ev.generations, ev.results):
            if result.correct or result.reason != "not_ready" or result.first_error_param is None:
                continue
            prefix = prefix_before_step(problem, generated, result.first_error_index, layout)
            yield problem, np.asarray(prefix + igsm.probe_suffix(problem, result.first_error_param)), name


def mistakes(probe_run: ProbeRun, columns: dict[str, Evaluation], layout: str = "pq",
             context: Optional[int] = None) -> dict:
    """How often the can_next probe already said "not ready" at the model's first wrong step, beside its
    accuracy on ordinary test items; and the nece probe on the unnecessary parameters the model wrote in
    correct reask solutions [P2.1 Fig. 8a]."""
    out = {}
    probe = probe_run.probes.get("can_next")
    if probe is not None:
        cases = [(x, name) for _, x, name in not_ready_mistakes(columns, layout) if context is None or len(x) <= context]
        pred = predict(probe, [x for x, _ in cases]) if cases else np.zeros(0, dtype=np.int64)
        by_column: dict[str, list] = {}
        for (_, name), p in zip(cases, pred):
            by_column.setdefault(name, []).append(int(p == 0))
        out["can_next_at_first_wrong_step"] = {
            "n": len(cases), "knew": float((pred == 0).mean()) if len(pred) else float("nan"),
            "by_column": {k: {"n": len(v), "knew": float(np.mean(v))} for k, v in by_column.items()},
            "overall_accuracy": probe_run.reports["can_next"]["trained"]["all"]["accuracy"],
            "overall_negatives": probe_run.reports["can_next"]["trained"]["all"]["negatives"],
        }
    nece = probe_run.probes.get("nece")
    if nece is not None and "reask" in columns:
        out["nece_on_written_unnecessary"] = nece_on_unnecessary(nece, columns["reask"], layout)
    return out


def nece_on_unnecessary(probe: LowRankProbe, reask: Evaluation, layout: str = "pq") -> dict:
    """On correct reask solutions: the nece probe, read before the solution, on the unnecessary
    parameters the model then wrote (right = "not necessary"), and on all parameters of those problems."""
    written, every, every_labels = [], [], []
    for problem, result in zip(reask.problems, reask.results):
        if not result.correct:
            continue
        labels = igsm.probe_labels(problem, layout)
        prefix = labels.tokens[: labels.nece_position + 1]
        ids = problem.world.vocab.ids(prefix)
        for name in result.unnecessary:
            written.append(np.asarray(ids + igsm.probe_suffix(problem, problem.param_id(name))))
        for p, label in zip(labels.params, labels.nece):
            every.append(np.asarray(ids + igsm.probe_suffix(problem, p)))
            every_labels.append(int(label))
    right_written = (predict(probe, written) == 0) if written else np.zeros(0, dtype=bool)
    all_pred = predict(probe, every) if every else np.zeros(0, dtype=np.int64)
    return {"n": len(written), "right_on_written": float(right_written.mean()) if len(written) else float("nan"),
            "all_parameters": score(all_pred, every_labels)["accuracy"] if every else float("nan")}
