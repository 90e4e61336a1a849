"""iGSM: synthetic grade-school math for Physics of Language Models Part 2.1 and 2.2.

Part 2.1 (Ye, Xu, Li, Allen-Zhu, arXiv 2407.20311) builds GSM8K-like word problems from a random graph
of quantities over a small world of categories and items, with arithmetic mod 23 and a fixed
"Define ... as ...; so ..." solution format. Part 2.2 (arXiv 2408.16293) adds "retry" data: wrong
steps retracted with [BACK].

Typical use::

    import numpy as np
    from plmkit.data import igsm

    world = igsm.load_world("nano")                    # nano, mini, med, hard
    rng = np.random.default_rng(0)
    p = igsm.sample_problem(world, rng)                # training mix, train side of the split
    p = igsm.sample_problem(world, rng, op=4, split="test")   # a fixed-op test problem
    print(p.problem_text, p.question_text, p.solution_text, p.answer, p.op, p.ip)
    p.necessary, p.query, p.graph, p.preds_of(p.query), p.key    # graph facts (parameter ids)

    ids, weights = p.sequence("pq")                    # <bos> problem question <sol> solution <ans> v <eos>
    prompt = p.prompt("pq")                            # up to <sol>, for generation
    record = igsm.check_solution(p, generated_ids)     # text or ids; never raises
    record.correct, record.reason, record.first_error_name, record.unnecessary, record.retries

    labels = igsm.probe_labels(p, "pq")                # nece, dep, known, value, can_next, nece_next
    r = igsm.retry_solution(p, rng, rate=0.2, kind="retry")   # or "retry_weak", "retry_miss"
    ids, weights = p.sequence("pq", solution=r)

    from plmkit.data.packing import OnlineStream
    fn = igsm.training_sample_fn(world, layout="pq", window=256)
    stream = OnlineStream(fn, context=256, batch_size=16, sep_id=world.vocab.eos, truncate=False)

Reask problems: ``igsm.reask(p, rng)`` or ``igsm.sample_reask(world, rng, op=4)``. Text written
elsewhere is read back with ``igsm.parse_problem(world, problem_text, question_text)``.
"""
from plmkit.data.igsm.checker import REASONS, CheckResult, check_solution
from plmkit.data.igsm.graphs import GenerationError, Structure, draw_op, op_law
from plmkit.data.igsm.labels import (
    STEP_TASKS,
    TASKS,
    UNKNOWN_VALUE,
    ProbeItem,
    ProbeLabels,
    distance_to_query,
    majority_baseline,
    probe_input,
    probe_labels,
    probe_suffix,
    ready_params,
    sample_probe_items,
)
from plmkit.data.igsm.parse import ParseError, parse_problem
from plmkit.data.igsm.problem import KEY_BINS, LAYOUTS, SPLIT_KEYS, TRAIN_BINS, Expr, Problem, split_of, template
from plmkit.data.igsm.rand import Draws
from plmkit.data.igsm.retry import (
    RETRY_KINDS,
    WEAK_VARIANTS,
    RetrySolution,
    retry_solution,
    strip_retries,
    wrong_candidates,
)
from plmkit.data.igsm.sampler import reask, sample_problem, sample_reask, training_sample_fn
from plmkit.data.igsm.vocab import SPECIALS, Vocab, to_text
from plmkit.data.igsm.world import WORLD_NAMES, World, WorldConfig, load_world, preset

__all__ = [
    "REASONS", "CheckResult", "check_solution", "GenerationError", "Structure", "draw_op", "op_law",
    "STEP_TASKS", "TASKS", "UNKNOWN_VALUE", "ProbeItem", "ProbeLabels", "distance_to_query", "majority_baseline",
    "probe_input", "probe_labels", "probe_suffix", "ready_params", "sample_probe_items", "ParseError", "parse_problem",
    "KEY_BINS", "LAYOUTS", "SPLIT_KEYS", "TRAIN_BINS", "Expr", "Problem", "split_of", "template", "Draws",
    "RETRY_KINDS", "WEAK_VARIANTS", "RetrySolution", "retry_solution", "strip_retries", "wrong_candidates",
    "reask", "sample_problem", "sample_reask", "training_sample_fn", "SPECIALS", "Vocab", "to_text",
    "WORLD_NAMES", "World", "WorldConfig", "load_world", "preset",
]
