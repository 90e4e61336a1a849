"""Part 1: does a GPT learn a deep, locally ambiguous context-free grammar, and how?

The steps, each a function the lab calls one by one (``reproduce`` runs them all headless):

1. train a rotary GPT on ``<bos>``-packed fresh sentences; loss against the exact entropy floor and
   the best n-gram model (:mod:`.training`);
2. generation accuracy from ``<bos>`` (cut0) and from a valid prefix (cutK), checked by the parser;
   diversity; KL to the true next-token distribution (:mod:`.generation`);
3. linear probes for the parse tree, boundary-to-boundary attention (:mod:`.analysis`);
4. position encodings at equal steps (:func:`compare_positions`);
5. robustness after noisy pretraining (:func:`robustness`).

The ``cpu`` profile trains cfg3f-d3 from scratch and analyses shipped cfg3f-d4 checkpoints
(``data/checkpoints/cfg``, made by ``python -m plmkit reproduce cfg-pretrain``, :mod:`.pretrain`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ...data import cfg
from ...model import GPT
from ...train import History
from .. import shipped, targets
from ..common import RunContext, percent
from .analysis import (
    CONTROL_NAMES,
    BoundaryStats,
    ProbeData,
    attention_maps,
    attention_summary,
    boundary_attention,
    boundary_statistics,
    bootstrap,
    describe_probes,
    excess_attention,
    level_name,
    local_features,
    probe_data,
    probe_levels,
    probe_parse_tree,
    probe_scores,
    probe_verdicts,
    random_init_copy,
    token_features,
)
from .generation import (
    complete,
    corrupted_prompts,
    cut_prompts,
    diversity,
    generation_accuracy,
    kl_to_truth,
    public,
    robustness,
)
from .plots import (
    draw_tree,
    plot_accuracy,
    plot_attention,
    plot_kl,
    plot_kl_by_position,
    plot_loss,
    plot_positions,
    plot_probes,
    plot_robustness,
    reference,
)
from .settings import (
    DISTINCT,
    EXCESS_LOSS,
    FROM_SCRATCH_CUT0,
    FROM_SCRATCH_KL,
    KL_AGREEMENT,
    POSITION_ORDER,
    ROBUSTNESS_SCALE,
    PROBE_MARGIN,
    SHIPPED_CUT0,
    SHIPPED_KL,
    CUT_K,
    MODEL_SIZES,
    POSITION_LABELS,
    SETTINGS,
    Settings,
    cut_k,
    grammar_depth,
    settings,
)
from .training import (
    describe_presets,
    entropy_floor,
    load_grammar,
    local_predictability,
    loss_references,
    make_model,
    make_stream,
    model_config,
    padded_inputs,
    parse_counts,
    spread_windows,
    train_model,
)

GROUP = "cfg"  # data/checkpoints/cfg
CLEAN, NOISY = "clean pretraining", "noisy pretraining (p=0.3)"  # the two models of the robustness test


def load_shipped(ctx: RunContext, arm: str = "rope") -> tuple[GPT, dict]:
    """A shipped checkpoint of the profile's analysed size (``rope`` or ``rope-noisy``) and its sidecar."""
    return shipped.load(GROUP, f"{settings(ctx).shipped}/{arm}", ctx.device)


def compare_positions(ctx: RunContext, g: cfg.Grammar, arms: Sequence[str], steps: int, batch: int, lr: float,
                      size: str = "small", n_eval: int = 100, kl_sentences: int = 30) -> dict:
    """Train one model per position encoding on identical data (same seed, steps, size, LR) [P1 abstract;
    P4.1 Fig. 7]; a short run ranks the arms by how fast they learn."""
    results = {}
    for pos in arms:
        model = make_model(g, size, pos, seed=ctx.seed)
        history = train_model(ctx, g, model, steps, lr, batch, f"pos-{pos}")
        kl = kl_to_truth(model, g, kl_sentences)
        acc = generation_accuracy(model, g, n_eval, 0)
        results[pos] = {"excess_loss": kl["excess_loss"], "excess_loss_se": kl["excess_loss_se"], "kl": kl["kl"],
                        "cut0": public(acc), "final_train_loss": float(np.mean(history.loss[-50:])),
                        "parameters": model.param_counts()["total"], "seconds": round(history.seconds, 1)}
    return results


# ----------------------------------------------------------------------------------------------
# The runs, as the lab and ``reproduce`` hold them
# ----------------------------------------------------------------------------------------------
@dataclass
class ScratchRun:
    """Steps 1-2 on the profile's own grammar: the trained model and what was measured on it."""

    grammar: cfg.Grammar
    model: GPT
    history: History
    refs: dict  # loss_references
    cut0: dict
    cutk: dict
    kl: dict
    diversity: dict


@dataclass
class CheckpointRun:
    """Steps 2-3 on a shipped checkpoint."""

    name: str
    sidecar: dict
    grammar: cfg.Grammar
    cut0: dict
    cutk: dict
    kl: dict
    probes: dict
    attention: BoundaryStats
    attention_control: BoundaryStats  # the random-init twin
    attention_ci: dict


def from_scratch(ctx: RunContext, callbacks: Sequence = ()) -> ScratchRun:
    """Steps 1-2 on the profile's grammar: references, training, accuracy, KL, diversity."""
    s = settings(ctx)
    g = load_grammar(s.grammar)
    refs = loss_references(g, s.floor, s.ngram_sentences)
    model = make_model(g, s.model, "rope", seed=ctx.seed)
    history = train_model(ctx, g, model, s.steps, s.lr, s.batch, f"{s.grammar}-rope", callbacks=callbacks)
    cut0 = generation_accuracy(model, g, max(s.cut0, s.diversity), 0)
    cutk = generation_accuracy(model, g, s.cutk, cut_k(g))
    kl = kl_to_truth(model, g, s.kl)
    div = diversity(model, g, s.diversity, refs["floor"], cut0=cut0)
    return ScratchRun(g, model, history, refs, cut0, cutk, kl, div)


def analyse_checkpoint(ctx: RunContext, arm: str = "rope") -> tuple[GPT, CheckpointRun]:
    """Steps 2-3 on a shipped checkpoint: accuracy, KL, probes, attention against its random-init twin."""
    s = settings(ctx)
    model, sidecar = load_shipped(ctx, arm)
    g = load_grammar(sidecar["grammar"])
    probe_train, probe_test = s.probe
    stats = boundary_attention(model, g, s.attention)
    control = boundary_attention(random_init_copy(model, 0), g, s.attention)
    run = CheckpointRun(f"{s.shipped}/{arm}", sidecar, g,
                        cut0=generation_accuracy(model, g, s.cut0, 0), cutk=generation_accuracy(model, g, s.cutk, cut_k(g)),
                        kl=kl_to_truth(model, g, s.kl), probes=probe_parse_tree(model, g, probe_train, probe_test),
                        attention=stats, attention_control=control, attention_ci=bootstrap(stats))
    return model, run


def lab_metrics(ctx: RunContext, scratch: ScratchRun, checkpoint: CheckpointRun, positions: dict, robust: dict) -> dict:
    """The numbers of a whole run, ready for JSON: what ``reproduce`` writes and :func:`check_targets` reads."""
    history, k, k4 = scratch.history, cut_k(scratch.grammar), cut_k(checkpoint.grammar)
    return {
        "part": "cfg", "profile": ctx.profile,
        "from_scratch": {
            "grammar": scratch.grammar.name, "parameters": scratch.model.param_counts(), "references": scratch.refs,
            "train": {"steps": history.steps, "tokens": history.tokens, "seconds": round(history.seconds, 1),
                      "tokens_per_second": round(history.tokens_per_second),
                      "final_loss_last_50": float(np.mean(history.loss[-50:]))},
            "cut0": public(scratch.cut0), f"cut{k}": public(scratch.cutk), "kl": public(scratch.kl),
            "diversity": scratch.diversity,
        },
        "shipped": {
            "name": checkpoint.name, "sidecar_eval": checkpoint.sidecar["eval"],
            "train_tokens": checkpoint.sidecar["train"]["tokens"],
            "cut0": public(checkpoint.cut0), f"cut{k4}": public(checkpoint.cutk), "kl": public(checkpoint.kl),
            "probes": checkpoint.probes, "depth": checkpoint.grammar.depth,
            "attention": attention_summary(checkpoint.attention, checkpoint.attention_ci),
            "attention_control": attention_summary(checkpoint.attention_control, bootstrap(checkpoint.attention_control)),
        },
        "positions": positions,
        "robustness": robust,
    }


def reproduce(ctx: RunContext) -> dict:
    """All five steps; figures into ``ctx.run_dir``. Returns the metrics with the targets table."""
    s = settings(ctx)
    ref = reference()
    run = from_scratch(ctx)
    g, k = run.grammar, cut_k(run.grammar)
    ctx.save_figure(plot_loss(run.history, run.refs, f"{g.name}: loss against the floor and the n-gram ladder"), "loss")

    model, ship = analyse_checkpoint(ctx, "rope")
    g4, k4 = ship.grammar, cut_k(ship.grammar)
    ctx.save_figure(plot_accuracy({f"{g.name} cut0\n(from scratch)": run.cut0, f"{g.name} cut{k}": run.cutk,
                                   f"{g4.name} cut0\n(shipped)": ship.cut0, f"{g4.name} cut{k4}": ship.cutk}, ref),
                    "accuracy")
    ctx.save_figure(plot_kl({f"{g.name} (from scratch)": run.kl, f"{g4.name} (shipped)": ship.kl}, ref), "kl")
    ctx.save_figure(plot_kl_by_position(ship.kl["per_position"]), "kl_by_position")
    ctx.save_figure(plot_probes(ship.probes, g4), "probes")
    ctx.save_figure(plot_attention(ship.attention, ship.attention_control, ship.attention_ci, g4), "attention")

    positions = compare_positions(ctx, g, s.pos_arms, s.pos_steps, s.batch, s.lr, s.pos_model, n_eval=min(s.cut0, 200))
    ctx.save_figure(plot_positions(positions, ref), "positions")

    noisy, _ = load_shipped(ctx, "rope-noisy")
    robust = robustness({CLEAN: model, NOISY: noisy}, g4, s.robust)
    ctx.save_figure(plot_robustness(robust), "robustness")

    metrics = lab_metrics(ctx, run, ship, positions, robust)
    metrics["targets"] = targets.as_dicts(check_targets(metrics, ctx.profile))
    return metrics


# ----------------------------------------------------------------------------------------------
# Targets: what Part 1 claims, at the scale of this run
# ----------------------------------------------------------------------------------------------
def check_targets(metrics: dict, profile: str) -> list[targets.Target]:
    """Every small-scale target of Part 1 that this profile can measure, one row each, and a not-measured row
    (with the reason) for those it cannot. The ``ci`` run only shows that the code runs."""
    rows = (_from_scratch_rows(metrics["from_scratch"], profile) + _shipped_rows(metrics["shipped"])
            + _position_rows(metrics["positions"]) + robustness_targets(metrics["robustness"]) + _unmeasured_rows())
    if profile == "ci":
        return [targets.Target("Part 1 targets", None, "cpu or gpu profile", None,
                               f"ci trains for seconds: {len(rows)} targets computed, none judged")]
    return rows


def _gap_in_standard_errors(kl: dict) -> float:
    return abs(kl["excess_loss"] - kl["kl"]) / kl["excess_loss_se"]


def _agreement_row(name: str, kl: dict) -> targets.Target:
    relative = abs(kl["excess_loss"] - kl["kl"]) / max(kl["kl"], 1e-12)
    return targets.at_most(name, _gap_in_standard_errors(kl), KL_AGREEMENT,
                           f"two estimates of one number: KL {kl['kl']:.4g}, excess loss {kl['excess_loss']:.4g} "
                           f"(relative gap {relative:.0%})")


def _floor_rows(refs: dict, g: str) -> list[targets.Target]:
    """The sampled entropy-floor estimators against the exact value, where the grammar allows an exact one."""
    detail = refs.get("floor_detail") or {}
    exact, sampled = detail.get("exact"), detail.get("sampled")
    if not exact or not sampled:
        return []
    rows = []
    for key in ("ratio", "rows"):
        z = abs(sampled[key] - exact["value"]) / sampled[f"{key}_se"]
        rows.append(targets.at_most(f"{g} entropy floor: sampled '{key}' estimator vs the exact value (s.e.)", z, 3.0,
                                    f"exact {exact['value']:.5f}; sampled {sampled[key]:.5f} +- {sampled[f'{key}_se']:.5f} "
                                    f"over {sampled['sentences']} sentences"))
    return rows


def _from_scratch_rows(m: dict, profile: str) -> list[targets.Target]:
    refs, kl, div, g = m["references"], m["kl"], m["diversity"], m["grammar"]
    rows = [
        targets.at_most(f"{g} from scratch: training loss, last 50 steps (nats/token)", m["train"]["final_loss_last_50"],
                        round(refs["best_ngram"], 4), f"bound: best n-gram (context {refs['best_ngram_context']})"),
        targets.at_most(f"{g} from scratch: excess loss over H* (nats/token)", kl["excess_loss"], EXCESS_LOSS,
                        f"H* = {refs['floor']:.4f} ({refs.get('floor_method', 'sampled')})"),
        targets.at_least(f"{g} from scratch: cut0 accuracy", m["cut0"]["accuracy"], FROM_SCRATCH_CUT0[profile],
                         f"{m['train']['tokens'] / 1e6:.1f}M tokens; near-perfect at 4.9B tokens [P1]"),
        _agreement_row(f"{g} from scratch: |excess loss - KL| / s.e.", kl),
        targets.at_most(f"{g} from scratch: model collision rate", div["collision_rate"],
                        float(f"{div['reference_ci'][1]:.3g}"), "bound: the grammar's own rate, upper 95% end"),
    ]
    if profile in FROM_SCRATCH_KL:
        rows.append(targets.at_most(f"{g} from scratch: KL(true || model)", kl["kl"], FROM_SCRATCH_KL[profile]))
    if profile in DISTINCT:
        rows.append(targets.at_least(f"{g} from scratch: distinct valid samples", div["distinct_fraction"],
                                     DISTINCT[profile]))
    return rows + _floor_rows(refs, g)


def _shipped_rows(m: dict) -> list[targets.Target]:
    probes, name = m["probes"], m["name"]
    depth = m.get("depth", 6)
    tokens = f"{m['train_tokens'] / 1e6:.1f}M training tokens; Part 1: 4.9B"
    rows = [
        targets.at_least(f"shipped {name}: cut0 accuracy", m["cut0"]["accuracy"], SHIPPED_CUT0, tokens),
        targets.at_most(f"shipped {name}: KL(true || model)", m["kl"]["kl"], SHIPPED_KL, tokens),
        _agreement_row(f"shipped {name}: |excess loss - KL| / s.e.", m["kl"]),
    ]
    for v in probe_verdicts(probes, PROBE_MARGIN):  # level by level, each against its better control
        level = f"level {v['level']} (h={depth - v['level']})"
        what = "NT ancestor" if v["target"] == "ancestor" else "NT boundary (balanced)"
        controls = ", ".join(f"{CONTROL_NAMES[k]} {x:.3f}" for k, x in v["controls"].items())
        rows.append(targets.at_least(f"probe {level}, {what}: trained minus the better control", v["margin"],
                                     PROBE_MARGIN, f"trained {v['trained']:.3f}; {controls} [P1 abstract]"))
        if v["target"] == "ancestor":
            rows.append(targets.holds(f"probe {level}, NT ancestor: at boundaries >= all positions > elsewhere",
                                      v["on_boundary"], v["at_end"] - v["not_end"], "true",
                                      f"at end {v['at_end']:.3f}, all {v['trained']:.3f}, elsewhere {v['not_end']:.3f}; "
                                      "node information on the subtree boundary [P1 v1 abstract]"))
    trained, control = m["attention"]["per_layer"], m["attention_control"]["per_layer"]
    best_low = _best(trained, "contrast_diag_ci", low=True)
    rows += [
        targets.holds("attention B - N (same level), best layer: 95% CI lower end", best_low > 0, best_low, "> 0",
                      "boundary-to-boundary attention [P1 abstract]"),
        targets.holds("attention, nearest minus earlier l-ends, best layer: 95% CI lower end",
                      _best(trained, "adjacent_diag_ci", low=True) > 0, _best(trained, "adjacent_diag_ci", low=True),
                      "> 0", "the adjacent span, as a DP parser combines"),
        targets.holds("attention B - N of the random-init twin, largest", _best(control, "contrast_diag") < best_low,
                      _best(control, "contrast_diag"), f"< {best_low:.3g} (trained, CI lower end)", "control"),
    ]
    return rows


def _best(per_layer: dict, key: str, low: bool = False) -> float:
    """The largest value of a per-level statistic over layers and levels (of its CI's lower end if ``low``)."""
    values = [np.asarray(row[key], dtype=float)[0] if low else np.asarray(row[key], dtype=float)
              for row in per_layer.values()]
    return float(np.nanmax(np.concatenate(values)))


def _position_rows(positions: dict) -> list[targets.Target]:
    """Adjacent pairs of the expected order, by excess loss at equal steps [P1 abstract; P4.1 §4, Fig. 7]."""
    arms = [a for a in POSITION_ORDER if a in positions]
    rows = []
    for better, worse in zip(arms, arms[1:]):
        a, b = positions[better], positions[worse]
        gap = b["excess_loss"] - a["excess_loss"]
        se = float(np.hypot(a["excess_loss_se"], b["excess_loss_se"]))
        rows.append(targets.holds(f"position encodings, excess loss: {POSITION_LABELS[better]} < {POSITION_LABELS[worse]}",
                                  gap > 0, gap, "> 0", f"gap {gap:+.4f} +- {se:.4f} (one seed per arm"
                                  + ("; within 2 s.e.: not a finding)" if abs(gap) < 2 * se else ")")))
    return rows


def robustness_targets(robust: dict) -> list[targets.Target]:
    """Part 1's noisy-pretraining claim, beside its control (the same models on clean prefixes)."""
    models = robust["models"]
    if CLEAN not in models or NOISY not in models:
        return [targets.Target("noisy pretraining: repair-valid gain at T = 0.2", None, "> 0", None,
                               f"needs models named {CLEAN!r} and {NOISY!r}")]
    rows = []
    for t in sorted(models[NOISY], key=float):  # low temperature first: where the gain should show most
        noisy, clean = models[NOISY][t], models[CLEAN][t]
        a, b = noisy["repair_valid"], clean["repair_valid"]
        gain = a["accuracy"] - b["accuracy"]
        overlap = a["ci95"][0] <= b["ci95"][1] and b["ci95"][0] <= a["ci95"][1]
        rows.append(targets.holds(f"noisy pretraining: repair-valid gain over clean pretraining at T = {t} (points)",
                                  gain > 0, percent(gain), "> 0",
                                  f"noisy {_with_interval(a)} vs clean {_with_interval(b)}"
                                  + (" (intervals overlap)" if overlap else "") + f" [P1 abstract]; {ROBUSTNESS_SCALE}"))
        rows.append(targets.holds(f"control: the noisy model on clean prefixes beats its repair rate at T = {t}",
                                  noisy["clean"]["accuracy"] > a["accuracy"],
                                  percent(noisy["clean"]["accuracy"] - a["accuracy"]), "> 0 points",
                                  f"clean-prefix cutK: noisy model {_with_interval(noisy['clean'])}, clean model "
                                  f"{_with_interval(clean['clean'])}; the same completion task without the noise"))
    return rows


def _with_interval(summary: dict) -> str:
    low, high = summary["ci95"]
    return f"{percent(summary['accuracy']):.1f}% [{percent(low):.0f}-{percent(high):.0f}]"


def _unmeasured_rows() -> list[targets.Target]:
    """Part 1 targets this lab does not measure, said so rather than left out."""
    return [
        targets.Target("encoder-only: probe deficit versus GPT grows with level height", None, "grows with h", None,
                       "not measured: no encoder checkpoint ships; masked-LM training is a project [P1 abstract v4]"),
        targets.Target("depth ladder: cut0 falls from d3 to d4 to d5 at equal tokens, fixed model", None, "decreasing",
                       None, "not measured: the d3 and d4 models here differ in size and tokens [P4.1 Fig. 4]"),
    ]
