"""Mistakes are easy to detect [P2.2 §3.1, Result 0].

A model pretrained on error-free data has just written "Define <A> as". Does its hidden state at "as"
know whether A can be computed next (can_next)? A probe answers from that state: the same rank-8
update of the input embeddings and linear head as the V-probes of Part 2.1 [P2.1 §4.1], but read at the
model's own "as" instead of an appended ``[START] A [END]`` (the position drawn in [P2.2 Fig. 3a]).

* Training pairs: train-side problems, a random step j of the true solution, one A that is ready and one
  that is not, both from the problem's whole universe of parameters U (balanced labels, majority 50%).
* Scored on test-side problems, beside the same probe on a random-initialised model (same budget).
* At the model's own first wrong step (a parameter that was not ready): how often does the probe say
  "not ready"? [P2.2 §3.1] finds ~60% there, against ~99% on ordinary items.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ...data import igsm
from ...data.igsm import Problem, World
from ...data.packing import step_rng
from ...probe import LowRankProbe, random_init_copy
from ..common import RunContext
from ..shared.igsm_probes import ProbeSet, ProbeSettings, predict, score, train_vprobe
from .decoding import HEAD_LENGTH, head_parameter, written_parameters

DETECTOR_SEED = 95_000  # detector problems, train and test side from their own streams


def head_tokens(problem: Problem, p: int) -> list[str]:
    return ["Define", *problem.name_tokens(p), "as"]


def detector_input(problem: Problem, step: int, p: int, layout: str = "pq") -> np.ndarray:
    """The prompt, the first ``step`` sentences of the true solution, then "Define <p> as"."""
    words = problem.prompt_tokens(layout) + [t for s in problem.solution_sentences[:step] for t in s]
    return np.asarray(problem.world.vocab.ids(words + head_tokens(problem, p)), dtype=np.int64)


def detector_set(world: World, n_problems: int, split: str, pairs: int, seed: int, layout: str = "pq",
                 context: int = 0) -> ProbeSet:
    """``pairs`` (ready, not ready) items from each of ``n_problems`` problems of one side of the split,
    ops uniform over the training ops; label 1 = A can be computed next."""
    ops = world.config.in_distribution_ops
    context = context or world.config.train_window
    rng = step_rng(seed, int(split == "test"))
    draws = igsm.Draws(rng)
    out = ProbeSet("can_next")
    for _ in range(n_problems):
        problem = igsm.sample_problem(world, op=ops[draws.below(len(ops))], split=split, draws=draws)
        for _ in range(pairs):
            step = draws.below(len(problem.order))
            ready = igsm.ready_params(problem, problem.order[:step])
            ready_set = set(ready)
            not_ready = [p for p in problem.universe if p not in ready_set]
            for label, pool in ((1, ready), (0, not_ready)):
                if not pool:
                    continue
                p = pool[draws.below(len(pool))]
                ids = detector_input(problem, step, p, layout)
                if len(ids) > context:
                    continue
                out.inputs.append(ids)
                out.labels.append(label)
                out.steps.append(step)
                out.necessary.append(p in problem.necessary)
                out.ops.append(problem.op)
    return out


def predict_ready(probe: LowRankProbe, inputs: Sequence[np.ndarray]) -> np.ndarray:
    """1 where the probe says the parameter of the trailing "Define <A> as" can be computed next."""
    return predict(probe, inputs)


class ProbeDetector:
    """A trained can_next probe as a detector for :func:`.decoding.decode`: reads the state at the "as"
    just written; True means "ready"."""

    def __init__(self, probe: LowRankProbe):
        self.probe = probe
        self.calls = 0

    def __call__(self, problem: Problem, prompt_ids: Sequence[int], solution_ids: Sequence[int]) -> bool:
        self.calls += 1
        return bool(predict_ready(self.probe, [np.asarray([*prompt_ids, *solution_ids], dtype=np.int64)])[0])


@dataclass
class DetectionRun:
    report: dict
    probe: LowRankProbe  # the detector on the trained model


def train_detector(ctx: RunContext, model, world: World, s: ProbeSettings, layout: str = "pq", log=print) -> DetectionRun:
    """The can_next detector on ``model`` and the same probe on a random-initialised copy [P2.2 §3.1]."""
    context = model.config.context
    train_set = detector_set(world, s.train_problems, "train", s.items_per_problem, DETECTOR_SEED + ctx.seed,
                             layout, context)
    test_set = detector_set(world, s.test_problems, "test", s.items_per_problem, DETECTOR_SEED + ctx.seed,
                            layout, context)
    report = {"train_items": len(train_set), "test_items": len(test_set), "rank": s.rank, "steps": s.steps}
    probes = {}
    for arm, net in (("trained", model), ("random_init", random_init_copy(model, seed=ctx.seed + 1))):
        probes[arm] = train_vprobe(net, train_set, s, seed=ctx.seed)
        report[arm] = score(predict(probes[arm], test_set.inputs), test_set.labels)
    report["majority"] = report["trained"]["majority"]
    report["gap"] = report["trained"]["accuracy"] - report["random_init"]["accuracy"]
    if log:
        log(f"can_next detector at 'as': trained {report['trained']['accuracy']:.1%}  random-init "
            f"{report['random_init']['accuracy']:.1%}  majority {report['majority']:.1%}  ({len(test_set)} test items)")
    return DetectionRun(report, probes["trained"])


# ----------------------------------------------------------------------------------------------
# The model's own steps
# ----------------------------------------------------------------------------------------------
def own_steps(problem: Problem, generated: Sequence[int], result, layout: str = "pq"):
    """(probe input, ready, is the first wrong step) for every step head the model wrote up to and
    including its first wrong sentence; heads naming no parameter of the problem are skipped."""
    vocab = problem.world.vocab
    words = vocab.tokens(generated)
    prompt = problem.prompt(layout).tolist()
    ends = [i for i, w in enumerate(words) if w == "."]
    last = result.first_error_index if not result.correct and result.first_error_index is not None else len(ends)
    start = 0
    for index, end in enumerate(ends[: last + 1]):
        head = words[start:start + HEAD_LENGTH]
        p = head_parameter(problem, head)
        if p is not None:
            known = written_parameters(problem, words[:start])
            ready = p not in known and all(q in known for q in problem.preds_of(p))
            yield np.asarray(prompt + list(generated[:start + HEAD_LENGTH]), dtype=np.int64), ready, index == last
        start = end + 1


def on_own_steps(probe: LowRankProbe, evaluations: dict, layout: str = "pq", context: int = 0) -> dict:
    """The detector on the model's own greedy solutions: at each first wrong step whose parameter was not
    ready (does it say "not ready"?) and at the ready steps before it (does it let them pass?)."""
    mistakes, fine = [], []
    for ev in evaluations.values():
        for problem, generated, result in zip(ev.problems, ev.generations, ev.results):
            for x, ready, first_wrong in own_steps(problem, generated, result, layout):
                if context and len(x) > context:
                    continue
                if not ready and first_wrong and not result.correct:
                    mistakes.append(x)
                elif ready and not (first_wrong and not result.correct):
                    fine.append(x)
    out = {"mistakes": len(mistakes), "ready_steps": len(fine)}
    says_ready = predict_ready(probe, mistakes) if mistakes else np.zeros(0, dtype=np.int64)
    out["detected"] = float((says_ready == 0).mean()) if mistakes else float("nan")
    passed = predict_ready(probe, fine) if fine else np.zeros(0, dtype=np.int64)
    out["ready_passed"] = float((passed == 1).mean()) if fine else float("nan")
    return out
