"""Breadth and structure at small scale: Brevo and Lano with and without Canon [P4.1 §2.1, Fig. 7, 10].

* **Brevo1-mini** (breadth): a DAG of one-token names, a query vertex, and the answer "every vertex the
  query depends on, leaves first, in a topological order" [App. A.2]. The paper's N is 70-110 at context
  1024; here N = 16 at context 256, four arms (RoPE, RoPE + Canon-ABCD, NoPE, NoPE + Canon-ABCD) at equal
  steps and data. In the paper Canon lifts RoPE's breadth by about 30% and rescues NoPE from 0% to
  parity [Fig. 7, Result 3].
* **Lano** (structure): Part 1's grammar cfg3f, here its sub-grammar rooted four levels above the
  terminals (cfg3f-d4, sentences of at most 81 tokens; the full grammar's sentences reach 729 tokens,
  far past what a ten-minute budget can learn). NoPE against NoPE + Canon-ABCD: in the paper NoPE
  generates almost no valid sentence while NoPE + Canon reaches 88-93% on cfg3f [Fig. 7, 10].

Metrics. Brevo, at n = N on a fixed evaluation set:

* teacher-forced answer-token accuracy, the playground's metric (:mod:`plmkit.data.playground.metrics`)
  read order-aware: the answer's order is not unique, so a predicted token counts as right when it is a
  vertex that may come next after the reference prefix (not yet listed, all its parents listed). The
  exact-match reading (only the reference order's token counts) is kept beside it; it under-counts a
  model that has learned a different valid order;
* whole answers: greedy generation from ``<ans>`` to ``<eos>``, judged by the order validator
  (:func:`plmkit.data.playground.brevo.validate`: any valid order, no partial credit). The paper does
  not state its decoding; greedy is the kit's choice.
* chance: a uniformly random name of the instance, for both token readings.

Lano: the share of sentences sampled at temperature 1 from ``<bos>`` that the grammar's parser accepts
whole [App. A.5], with Part 1's sampler and parser (:mod:`plmkit.experiments.shared.cfg_sampling`,
:func:`plmkit.data.cfg.score_generations`).

The ``cpu`` profile runs neither (the paper's effect needs a GPU budget); ``ci`` runs both for seconds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ...data import cfg as cfg_data
from ...data.playground import brevo, metrics
from ...data.playground import common as playground
from ...data.playground.lano import lano_stream
from ...data.playground.vocab import EOS, QUERY
from .. import targets
from ..common import RunContext
from ..shared.cfg_sampling import complete
from . import arms
from .depo import per_seed_text, seeds_needed
from .plots import _color, reference
from ...plots import CONTROL_COLOR, PAPER_COLOR, _plt, add_citation, approximate_note
from .settings import NOPE, NOPE_CANON, ROPE, ROPE_CANON, Arm, ModelSizes, Optimiser

EVAL_SEED = 0  # the Brevo evaluation set, the same for every arm and seed
LANO_SAMPLE_SEED = 20_001  # the sampling stream of Lano's generations, the same for every arm and seed


@dataclass(frozen=True)
class BrevoTaskSettings:
    """Brevo1-mini: one-token names from a pool of N, the size law on 3..N, evaluation at n = N."""

    N: int
    sizes: ModelSizes
    optimiser: Optimiser
    arms: tuple[Arm, ...]
    seeds: int
    eval_every: int  # teacher-forced accuracy during training
    eval_instances: int  # at n = N; teacher-forced and greedy-generated at the end


@dataclass(frozen=True)
class LanoSettings:
    """Lano on a Part 1 grammar (a name :func:`plmkit.data.cfg.Grammar.load` accepts); loss on all tokens."""

    grammar: str
    sizes: ModelSizes
    optimiser: Optimiser
    arms: tuple[Arm, ...]
    seeds: int
    samples: int  # generations from <bos> per model, temperature 1


@dataclass(frozen=True)
class TaskSettings:
    brevo: BrevoTaskSettings
    lano: Optional[LanoSettings] = None


BREVO_ARMS = (ROPE, ROPE_CANON, NOPE, NOPE_CANON)
LANO_ARMS = (NOPE, NOPE_CANON)

# gpu budget, first guesses: calibrate on the first GPU run (measure tokens/s per arm and raise or cut the
# steps to fit), then freeze the counts for every arm.
#   Brevo: 64 windows x 256 tokens = 16,384 tokens per step (padding included) x 1,000 steps x 4 arms x 3 seeds
#          = 197M tokens.
#   Lano:  96 windows x 128 tokens = 12,288 tokens per step x 4,000 steps x 2 arms x 2 seeds = 197M tokens
#          (49M per run: the budget of Part 1's cpu-trained cfg3f-d4 checkpoints, which reach 76% valid
#          sentences with a 4L64D RoPE model).
# At an assumed (not yet measured) T4 rate, fp16 autocast, of about 400k tokens/s for the plain 4L256D model
# and 300k with Canon-ABCD (Canon's kernels cost extra steps' time [P4.1 fn 11]), each experiment is about
# 98M / 400k + 98M / 300k = 246 + 328 s = 9.6 minutes of training, plus seconds of evaluation (Brevo: 256
# instances teacher-forced every 250 steps and generated once; Lano: 500 samples of at most 82 tokens per
# model, parsed in about 0.3 s on one core).
# Optimiser: Brevo's recipe [P4.1 App. A.2] (wd 0.03, warm-up then cosine to 10%) with 5% warm-up and the top
# of the paper's learning-rate grid (kit choice for a short run); Lano's [App. A.5]: wd 0.1, no warm-up,
# linear decay to 0, the top of its grid. Batch 96 is the paper's Lano batch; context 128 is Part 1's context
# for depth-4 sub-grammars (three sentences per window on average).
_BREVO_GPU = Optimiser(steps=1000, batch=64, lr=2e-3, warmup=50, schedule="cosine", weight_decay=0.03)
_LANO_GPU = Optimiser(steps=4000, batch=96, lr=1e-3, warmup=0, schedule="linear", weight_decay=0.1, min_lr_ratio=0.0)

TASKS = {
    # Seconds: the code runs end to end; nothing is learned.
    "ci": TaskSettings(
        brevo=BrevoTaskSettings(N=8, sizes=ModelSizes(2, 2, 32, 64), optimiser=Optimiser(20, 8, 3e-3, 2, "cosine", 0.03),
                                arms=BREVO_ARMS, seeds=2, eval_every=10, eval_instances=8),
        lano=LanoSettings("cfg3f-d3", ModelSizes(2, 2, 32, 64), Optimiser(10, 8, 3e-3, 0, "linear", 0.1, 0.0),
                          arms=LANO_ARMS, seeds=1, samples=16),
    ),
    "cpu": None,
    "gpu": TaskSettings(
        brevo=BrevoTaskSettings(N=16, sizes=ModelSizes(4, 4, 256, 256), optimiser=_BREVO_GPU, arms=BREVO_ARMS,
                                seeds=3, eval_every=250, eval_instances=256),
        # 500 samples: binomial standard error at most 2.3 points [P4.1 App. A.5]
        lano=LanoSettings("cfg3f-d4", ModelSizes(4, 4, 256, 128), _LANO_GPU, arms=LANO_ARMS, seeds=2, samples=500),
    ),
}


def task_settings(ctx: RunContext) -> Optional[TaskSettings]:
    return ctx.pick(TASKS)


# --- Brevo ---------------------------------------------------------------------------------------------------
def brevo_task(s: BrevoTaskSettings) -> brevo.BrevoConfig:
    return brevo.BrevoConfig(N=s.N)


def brevo_eval_instances(s: BrevoTaskSettings) -> list:
    return brevo.eval_set(brevo_task(s), s.eval_instances, seed=EVAL_SEED)


def allowed_next(inst) -> list[set[int]]:
    """Per answer token of a one-token-name Brevo instance: the vertices that may come next after the
    reference prefix (ancestors of the query not yet listed whose parents are all listed)."""
    tokens = [int(t) for t in inst.tokens]
    q_at = tokens.index(QUERY)
    parents: dict[int, set[int]] = {}
    for u, v in zip(tokens[1:q_at:2], tokens[2:q_at:2]):
        parents.setdefault(v, set()).add(u)
    answer = inst.answers[0]
    order = tokens[answer.start:answer.stop]
    needed, done, allowed = set(order), set(), []
    for v in order:
        allowed.append({u for u in needed - done if parents.get(u, set()) <= done})
        done.add(v)
    return allowed


class BrevoEval:
    """The fixed evaluation set of one Brevo setting, packed once, with each answer token's valid choices."""

    def __init__(self, s: BrevoTaskSettings, instances: Optional[list] = None):
        self.cfg = brevo_task(s)
        if self.cfg.names.count() != self.cfg.N or self.cfg.name_len != (1, 1):
            raise ValueError("the order-aware token accuracy needs one-token names (Brevo1)")
        self.instances = instances if instances is not None else brevo_eval_instances(s)
        self.windows = metrics.pack_for_eval(self.instances, s.sizes.context)
        self.allowed = [allowed_next(inst) for inst in self.instances]
        self.where = np.argwhere(self.windows.answer_mask)  # (window, position) of every answer token
        self.choices = [self.allowed[self.windows.instance[w, t]][self.windows.offset[w, t]] for w, t in self.where]
        self.chance = float(np.mean([len(c) for c in self.choices]) / self.cfg.N)  # a random name of the instance

    def token_scores(self, predicted: np.ndarray) -> dict:
        """Order-aware and exact-match teacher-forced accuracy over the answer tokens."""
        hits = [int(predicted[w, t]) in c for (w, t), c in zip(self.where, self.choices)]
        exact = metrics.score(self.windows, predicted).token_accuracy
        return {"token": float(np.mean(hits)), "token_exact": float(exact)}

    def teacher_forced(self, model) -> dict:
        return self.token_scores(metrics.teacher_forced_predictions(model, self.windows))

    def generated(self, model) -> dict:
        """Greedy answers from ``<ans>`` to ``<eos>``, judged by the order validator (no partial credit)."""
        prompts = [brevo.prompt(inst) for inst in self.instances]
        outputs = model.generate_grouped(prompts, self.cfg.N + 1, temperature=0.0, stop_token=EOS)
        return brevo.score_generations(self.cfg, self.instances, outputs)


def brevo_data(s: BrevoTaskSettings, seed: int, held_out: list):
    """The training stream of seed ``seed``, the same for every arm; it never contains an evaluation instance."""
    return arms.stream(brevo.sample_fn(brevo_task(s), exclude=playground.fingerprints(held_out)), s.sizes,
                       s.optimiser, seed)


def run_brevo_arm(ctx: RunContext, s: BrevoTaskSettings, arm: Arm, seed: int, evaluation: BrevoEval) -> dict:
    model = arms.build_model(arm, s.sizes, evaluation.cfg.layout.vocab_size, seed)
    data = brevo_data(s, seed, evaluation.instances)
    history = arms.train_arm(ctx, ("brevo", arm.name, f"seed{seed}"), model, data, s.optimiser,
                             eval_fn=lambda m, step: {"token": evaluation.teacher_forced(m)["token"]},
                             eval_every=s.eval_every)
    generated = evaluation.generated(model)
    return {**evaluation.teacher_forced(model), "answers": generated["accuracy"],
            "answers_by_depth": {int(d): v["accuracy"] for d, v in generated["by_depth"].items()},
            "eval_steps": [e["step"] for e in history.evals], "curve": [e["token"] for e in history.evals],
            "final_loss": history.final_loss, "seconds": round(history.seconds, 1),
            "parameters": model.param_counts()["total"]}


def run_brevo(ctx: RunContext, s: BrevoTaskSettings) -> dict:
    """Every arm at every seed; per arm, one value per seed of each metric (fractions)."""
    evaluation = BrevoEval(s)
    result = {"N": s.N, "context": s.sizes.context, "steps": s.optimiser.steps, "decoding": "greedy",
              "eval_instances": len(evaluation.instances), "chance": evaluation.chance,
              "chance_exact": 1.0 / s.N, "seeds": arms.seeds(ctx, s.seeds), "eval_steps": [], "arms": {}}
    for arm in s.arms:
        runs = [run_brevo_arm(ctx, s, arm, seed, evaluation) for seed in result["seeds"]]
        result["eval_steps"] = runs[0]["eval_steps"]
        result["arms"][arm.name] = {key: [r[key] for r in runs] for key in
                                    ("token", "token_exact", "answers", "answers_by_depth", "curve", "final_loss",
                                     "seconds")}
        result["arms"][arm.name]["parameters"] = runs[0]["parameters"]
    return result


# --- Lano ----------------------------------------------------------------------------------------------------
def lano_data(s: LanoSettings, seed: int):
    """Fresh sentences, ``<bos>``-separated, cut at the window edge (Part 1's packing), the same for every arm."""
    return lano_stream(s.grammar, batch_size=s.optimiser.batch, seed=seed, context=s.sizes.context)


def lano_validity(model, g: cfg_data.Grammar, samples: int) -> dict:
    """Samples from ``<bos>`` at temperature 1 [P4.1 fn 32], each up to its next ``<bos>``; the share the
    grammar's parser accepts whole, with its Wilson 95% interval (Part 1's measure)."""
    prompts = [np.array([g.bos_id])] * samples
    completions = complete(model.eval(), g, prompts, temperature=1.0, seed=LANO_SAMPLE_SEED)
    return cfg_data.score_generations(g, prompts, completions, workers=1).summary()


def run_lano(ctx: RunContext, s: LanoSettings) -> dict:
    g = cfg_data.Grammar.load(s.grammar)
    result = {"grammar": s.grammar, "context": s.sizes.context, "steps": s.optimiser.steps, "samples": s.samples,
              "temperature": 1.0, "longest_sentence": int(g.maxlen[g.root]), "seeds": arms.seeds(ctx, s.seeds),
              "arms": {}}
    for arm in s.arms:
        runs = []
        for seed in result["seeds"]:
            model = arms.build_model(arm, s.sizes, g.vocab_size, seed)
            history = arms.train_arm(ctx, ("lano", arm.name, f"seed{seed}"), model, lano_data(s, seed), s.optimiser)
            summary = lano_validity(model, g, s.samples)
            runs.append({"valid": summary["accuracy"], "count": summary["valid"], "ci95": list(summary["ci95"]),
                         "no_stop": summary["n_no_stop"], "final_loss": history.final_loss,
                         "seconds": round(history.seconds, 1), "parameters": model.param_counts()["total"]})
        result["arms"][arm.name] = {key: [r[key] for r in runs] for key in
                                    ("valid", "count", "ci95", "no_stop", "final_loss", "seconds")}
        result["arms"][arm.name]["parameters"] = runs[0]["parameters"]
    return result


# --- both ----------------------------------------------------------------------------------------------------
def run_tasks(ctx: RunContext, s: Optional[TaskSettings] = None) -> dict:
    """Brevo (and Lano where the profile has it); results as plain dicts, fractions in [0, 1]."""
    s = s or task_settings(ctx)
    if s is None:
        raise ValueError(f"the {ctx.profile} profile runs no Brevo or Lano cell; profiles that do: "
                         + ", ".join(p for p, v in TASKS.items() if v is not None))
    result = {"brevo": run_brevo(ctx, s.brevo)}
    if s.lano is not None:
        result["lano"] = run_lano(ctx, s.lano)
    return result


def summary_lines(result: dict) -> list[str]:
    b = result["brevo"]
    lines = [f"Brevo1-mini N={b['N']}, context {b['context']}, {b['steps']} steps, seeds {b['seeds']}; at n = N "
             f"({b['eval_instances']} instances): teacher-forced answer tokens (order-aware; chance "
             f"{100 * b['chance']:.1f}%), whole answers by the validator ({b['decoding']})"]
    for name, arm in b["arms"].items():
        lines.append(f"  {name:<14} tokens {per_seed_text(arm['token'])}   whole answers {per_seed_text(arm['answers'])}   "
                     f"(exact-order tokens {per_seed_text(arm['token_exact'])}; loss "
                     + ", ".join(f"{x:.3f}" for x in arm["final_loss"]) + ")")
    if "lano" in result:
        lano = result["lano"]
        lines.append(f"Lano {lano['grammar']}, context {lano['context']}, {lano['steps']} steps, seeds {lano['seeds']}; "
                     f"share of {lano['samples']} samples (temperature 1) the grammar accepts")
        for name, arm in lano["arms"].items():
            cells = ", ".join(f"{100 * v:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]" for v, (lo, hi) in
                              zip(arm["valid"], arm["ci95"]))
            lines.append(f"  {name:<14} {cells}   (loss " + ", ".join(f"{x:.3f}" for x in arm["final_loss"]) + ")")
    return lines


# --- the figure ----------------------------------------------------------------------------------------------
def plot_tasks(result: dict, ref: Optional[dict] = None):
    """Ours (bars = mean over seeds, dots = seeds) beside the paper's Brevo1 and Lano cells [P4.1 Fig. 7, 10]."""
    ref = ref or reference()
    plt = _plt()
    fig, ((ax_b, ax_bp), (ax_l, ax_lp)) = plt.subplots(2, 2, figsize=(13, 8.4), gridspec_kw={"width_ratios": [3, 2]})
    b = result["brevo"]
    names = list(b["arms"])
    x = np.arange(len(names))
    for j, (key, label, hatch) in enumerate((("token", "answer tokens, teacher-forced", None),
                                             ("answers", "whole answers, greedy + validator", "//"))):
        values = [100 * np.asarray(b["arms"][n][key], dtype=float) for n in names]
        xs = x + (j - 0.5) * 0.38
        ax_b.bar(xs, [v.mean() for v in values], 0.38, color=[_color(n, i) for i, n in enumerate(names)],
                 hatch=hatch, alpha=0.9 if j == 0 else 0.55, edgecolor="black", linewidth=0.4, label=label)
        for xi, v in zip(xs, values):
            ax_b.scatter(np.full(len(v), xi), v, color="black", s=10, zorder=3)
    ax_b.axhline(100 * b["chance"], ls=":", color="black", label=f"chance (a random name): {100 * b['chance']:.1f}%")
    ax_b.set_xticks(x)
    ax_b.set_xticklabels(names, fontsize=8)
    ax_b.set_ylim(0, 102)
    ax_b.set_ylabel("accuracy at n = N (%)")
    ax_b.set_title(f"ours: Brevo1-mini, N = {b['N']}, {b['steps']} steps, {len(b['seeds'])} seed(s); dots = seeds",
                   fontsize=9)
    ax_b.legend(fontsize=7)

    paper = ref["brevo1"]
    p_names = list(paper["arms"])
    for i, N in enumerate(paper["N"]):
        ax_bp.bar(np.arange(len(p_names)) + (i - 1) * 0.27, [paper["arms"][a][i] for a in p_names], 0.27,
                  color=PAPER_COLOR, alpha=0.45 + 0.2 * i, label=f"N = {N}")
    for i, a in enumerate(p_names):
        if not any(paper["arms"][a]):
            ax_bp.text(i, 1.5, "0 at every N", ha="center", fontsize=7)
    ax_bp.set_xticks(range(len(p_names)))
    ax_bp.set_xticklabels(p_names, fontsize=8)
    ax_bp.set_ylim(0, 102)
    ax_bp.set_ylabel("whole answers correct (%)")
    ax_bp.set_title(f"paper: Brevo1, {paper['size']}{approximate_note(paper)}", fontsize=9)
    ax_bp.legend(fontsize=7)

    if "lano" in result:
        lano = result["lano"]
        l_names = list(lano["arms"])
        for i, name in enumerate(l_names):
            arm = lano["arms"][name]
            values = 100 * np.asarray(arm["valid"], dtype=float)
            ax_l.bar(i, values.mean(), 0.6, color=_color(name, i), label=name)
            offsets = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else [0.0]
            for dx, v, (lo, hi) in zip(offsets, values, arm["ci95"]):
                ax_l.errorbar(i + dx, v, yerr=[[v - 100 * lo], [100 * hi - v]], fmt="o", color="black", ms=3,
                              capsize=2)
        ax_l.set_xticks(range(len(l_names)))
        ax_l.set_xticklabels(l_names, fontsize=8)
        ax_l.set_title(f"ours: Lano {lano['grammar']}, {lano['steps']} steps, {lano['samples']} samples per model "
                       "(dots = seeds, Wilson 95%)", fontsize=9)
    else:
        ax_l.text(0.5, 0.5, "not run in this profile:\nthe gpu profile runs Lano", ha="center", va="center",
                  transform=ax_l.transAxes, color=CONTROL_COLOR)
        ax_l.set_xticks([])
    ax_l.set_ylim(0, 102)
    ax_l.set_ylabel("valid sentences, temperature 1 (%)")

    lp = ref["lano"]
    big = lp["12L768D"]
    l_arms = list(big)
    for i, grammar in enumerate(lp["grammars"]):
        ax_lp.bar(np.arange(len(l_arms)) + (i - 1) * 0.27, [big[a][i] for a in l_arms], 0.27, color=PAPER_COLOR,
                  alpha=0.45 + 0.2 * i, label=grammar)
    small = lp["8L512D"]
    for a, values in small.items():
        ax_lp.scatter(l_arms.index(a) - 0.27, values[0], marker="x", color="black", zorder=3,
                      label="8L512D, cfg3f" if a == next(iter(small)) else None)
    ax_lp.set_xticks(range(len(l_arms)))
    ax_lp.set_xticklabels(l_arms, fontsize=8)
    ax_lp.set_ylim(0, 118)  # room for the legend above the bars
    ax_lp.set_yticks(range(0, 101, 20))
    ax_lp.set_title(f"paper: Lano, 12L768D{approximate_note(lp)}", fontsize=9)
    ax_lp.legend(fontsize=7, ncol=4, loc="upper center")
    fig.suptitle("Breadth (Brevo) and structure (Lano) with and without Canon")
    add_citation(fig, f"Paper: {paper['citation']} {lp['citation']}")
    fig.tight_layout()
    return fig


# --- targets (gpu) -------------------------------------------------------------------------------------------
NOPE_FLOOR = 0.05  # "near 0": the paper's NoPE scores 0% on Brevo1 [P4.1 Fig. 7]
LANO_GAP = 0.10  # the kit's reading of "NoPE + Canon far above NoPE" (88-93 against 0-39 points [P4.1 Fig. 7, 10])


def task_rows(result: dict) -> list[targets.Target]:
    """The paper's claims at this scale (gpu): Canon above plain RoPE, the NoPE rescue on Brevo and Lano.

    Brevo rows compare teacher-forced answer-token accuracy at n = N per seed; the NoPE row ("cannot") is
    on whole answers and names its control, NoPE + Canon, trained with the same steps, data and init.
    """
    b = result["brevo"]
    arm = b["arms"]
    rope, canon = arm["RoPE"]["token"], arm["RoPE + Canon"]["token"]
    nope, nope_canon = arm["NoPE"]["token"], arm["NoPE + Canon"]["token"]
    n, need = len(rope), seeds_needed(len(rope))
    at = f"Brevo N={b['N']}, n=N"
    canon_wins = sum(c > r for c, r in zip(canon, rope))
    rescue = sum(c > r for c, r in zip(nope_canon, nope))
    parity = sum(c >= r for c, r in zip(nope_canon, rope))
    nope_answers = arm["NoPE"]["answers"]
    rows = [
        targets.holds(f"{at}: RoPE + Canon above RoPE (answer tokens)", canon_wins >= need, canon_wins,
                      f">= {need} of {n} seeds", f"Canon {per_seed_text(canon)} vs RoPE {per_seed_text(rope)}; "
                      f"whole answers {per_seed_text(arm['RoPE + Canon']['answers'])} vs "
                      f"{per_seed_text(arm['RoPE']['answers'])} [P4.1 Fig. 7]"),
        targets.holds(f"{at}: NoPE + Canon above NoPE (answer tokens)", rescue == n, rescue, f"= {n} of {n} seeds",
                      f"NoPE + Canon {per_seed_text(nope_canon)} vs NoPE {per_seed_text(nope)}; chance "
                      f"{100 * b['chance']:.1f}% [P4.1 Fig. 7, Result 3]"),
        targets.at_most(f"{at}: NoPE whole answers near 0 (median)", float(np.median(nope_answers)), NOPE_FLOOR,
                        f"per seed {per_seed_text(nope_answers)}; control (same steps, data, init): NoPE + Canon "
                        f"{per_seed_text(arm['NoPE + Canon']['answers'])}"),
        targets.holds(f"{at}: NoPE + Canon at least plain RoPE (answer tokens)", parity >= need, parity,
                      f">= {need} of {n} seeds", f"NoPE + Canon {per_seed_text(nope_canon)} vs RoPE "
                      f"{per_seed_text(rope)} [P4.1 Result 3]"),
    ]
    if "lano" in result:
        lano = result["lano"]
        plain, with_canon = lano["arms"]["NoPE"], lano["arms"]["NoPE + Canon"]
        wins = sum(c > p for c, p in zip(with_canon["valid"], plain["valid"]))
        m = len(plain["valid"])
        pooled = (sum(with_canon["count"]) - sum(plain["count"])) / (lano["samples"] * m)
        at = f"Lano {lano['grammar']}"
        rows += [
            targets.holds(f"{at}: NoPE + Canon above NoPE in valid samples", wins == m, wins, f"= {m} of {m} seeds",
                          f"NoPE + Canon {per_seed_text(with_canon['valid'])} vs NoPE {per_seed_text(plain['valid'])}, "
                          f"{lano['samples']} samples each [P4.1 Fig. 7, 10]"),
            targets.at_least(f"{at}: NoPE + Canon minus NoPE, pooled over seeds (points)", 100 * pooled,
                             100 * LANO_GAP, "the paper: 88-93% against 0-39% on cfg3f; control: the NoPE arm, "
                             "same steps, data and init"),
        ]
    return rows
