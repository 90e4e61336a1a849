"""Train the shipped Part 1 checkpoints with the kit's own command line.

    python -m plmkit reproduce cfg-pretrain --profile cpu --out runs/cfg-pretrain
    PLMKIT_CFG_ARMS=rope python -m plmkit reproduce cfg-pretrain ...   # only some arms

Each arm trains a small GPT on fresh cfg3f-d4 sentences (resumable: rerun with ``--resume`` after a
kill), rounds the weights to fp16, evaluates *the rounded model* (what ships), and saves it with
:func:`plmkit.experiments.shipped.save` under ``<out>/export/cfg/<grammar>/<size>/<arm>.{pt,json}``
with the group's manifest. The sidecar records the model and training config, the data seed and
corruption, steps, tokens, wall time, the measured evaluation and the run environment. Nothing is
written under ``data/``: to ship the result, copy ``<out>/export/cfg`` over ``data/checkpoints/cfg``.

The cpu profile is the setting of the shipped checkpoints: about an hour per arm on one or two CPU
cores (not a 10-minute lab budget). The gpu entry trains the same arms longer, plus the other
position encodings.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ...model import GPT
from ...results import run_environment
from .. import shipped, targets
from ..shipped import fp16_roundtrip  # noqa: F401  (also this module's: tests and notebooks call it here)
from ..common import RunContext, arms_from_environment
from .generation import generation_accuracy, kl_to_truth, public
from .settings import ARMS, PRETRAIN, SHIPPED_CUT0, PretrainSettings, cut_k
from .training import TRAIN_SEED, load_grammar, loss_references, make_model, train_model

GROUP = "cfg"
ARMS_VARIABLE = "PLMKIT_CFG_ARMS"


def settings(ctx: RunContext) -> PretrainSettings:
    """The profile's settings; ``$PLMKIT_CFG_ARMS`` (comma-separated) trains only the arms it names."""
    s = ctx.pick(PRETRAIN)
    return dataclasses.replace(s, arms=arms_from_environment(ARMS_VARIABLE, ARMS, s.arms))


def evaluate(model: GPT, g, s: PretrainSettings, references: dict) -> dict:
    """What every sidecar reports: accuracy (cut0, cutK at temperature 1), KL, excess loss."""
    k = cut_k(g)
    cut0 = public(generation_accuracy(model, g, s.cut0, 0))
    cutk = public(generation_accuracy(model, g, s.cutk, k))
    kl = public(kl_to_truth(model, g, s.kl))
    return {"cut0": cut0, f"cut{k}": cutk, "kl": kl,
            "floor": references["floor"], "best_ngram": references["best_ngram"],
            "best_ngram_context": references["best_ngram_context"]}


def export(model: GPT, name: str, sidecar: dict, folder: Path, made_by: str) -> Path:
    """Save one checkpoint as fp16 weights plus its sidecar under ``folder/cfg``; returns the weights file."""
    return shipped.save(model, GROUP, name, sidecar, made_by=made_by, half=True, folder=Path(folder))


def train_arm(ctx: RunContext, arm: str, s: PretrainSettings, references: dict) -> dict:
    pos, corrupt = ARMS[arm]
    g = load_grammar(s.grammar)
    model = make_model(g, s.model, pos, seed=ctx.seed)
    history = train_model(ctx, g, model, s.steps, s.lr, s.batch, f"{s.grammar}-{arm}",
                          corrupt=corrupt, checkpoint_every=200)
    rounded = fp16_roundtrip(model.cpu())
    evaluation = evaluate(rounded, g, s, references)
    tail = history.loss[-100:]
    made_by = f"python -m plmkit reproduce cfg-pretrain --profile {ctx.profile}"
    sidecar = {
        "name": f"{s.grammar}/{s.model}/{arm}",
        "label": (f"Trained by plmkit itself on CPU ({history.tokens / 1e6:.1f}M fresh tokens, about "
                  f"{history.tokens / 4.9e9:.2%} of Part 1's 4.9B-token budget). Its measured numbers are in 'eval'; "
                  "they are this small model's, not the paper's."),
        "how": made_by + ("" if arm in PRETRAIN[ctx.profile].arms else f" (with {ARMS_VARIABLE}={arm})"),
        "grammar": s.grammar, "root": g.root, "size": s.model, "arm": arm,
        "model_config": model.config.to_dict(), "parameters": model.param_counts(),
        "data": {"seed": TRAIN_SEED + ctx.seed, "context": model.config.context, "batch": s.batch,
                 "packing": "left-aligned <bos> s1 <bos> s2 ... (fresh sentences every step)",
                 "corrupt": None if corrupt is None else dict(zip(("p", "gamma", "kind"), corrupt))},
        "train": {"steps": history.steps, "tokens": history.tokens, "seconds": round(history.seconds, 1),
                  "lr": s.lr, "schedule": "linear decay to 0, no warmup", "optimizer": "AdamW (0.9, 0.98), wd 0.1, clip 1.0",
                  "final_loss_mean_last_100_steps": float(sum(tail) / max(len(tail), 1))},
        "weights": "fp16 state dict; the evaluation below is of the fp16-rounded weights",
        "eval": evaluation,
        "environment": run_environment(),
    }
    if ctx.run_dir is not None:
        export(rounded, sidecar["name"], sidecar, ctx.run_dir.path / "export", made_by)
    return sidecar


def reproduce(ctx: RunContext) -> dict:
    s = settings(ctx)
    g = load_grammar(s.grammar)
    references = loss_references(g, s.floor, s.ngram_sentences)
    arms = {arm: train_arm(ctx, arm, s, references) for arm in s.arms}
    metrics = {"part": "cfg-pretrain", "profile": ctx.profile, "grammar": s.grammar, "references": references,
               "arms": {arm: {k: v for k, v in side.items() if k != "environment"} for arm, side in arms.items()}}
    metrics["targets"] = targets.as_dicts(check_targets(metrics, ctx.profile))
    return metrics


def check_targets(metrics: dict, profile: str) -> list[targets.Target]:
    """Per trained arm: its training loss below the best n-gram model, and its cut0 accuracy (the ``ci`` run
    only shows the code runs)."""
    rows = []
    best_ngram = metrics["references"]["best_ngram"]
    for arm, card in metrics["arms"].items():
        rows.append(targets.at_most(f"{arm}: training loss, last 100 steps (nats/token)",
                                    card["train"]["final_loss_mean_last_100_steps"], round(best_ngram, 4),
                                    "bound: the best n-gram model on held-out text"))
        rows.append(targets.at_least(f"{arm}: cut0 accuracy of the fp16 weights", card["eval"]["cut0"]["accuracy"],
                                     SHIPPED_CUT0, f"{card['train']['tokens'] / 1e6:.1f}M training tokens; Part 1: 4.9B"))
    if profile == "ci":
        return [targets.Target("cfg-pretrain targets", None, "cpu or gpu profile", None,
                               f"ci trains for seconds: {len(rows)} targets computed, none judged")]
    return rows
