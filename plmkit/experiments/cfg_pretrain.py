"""Train the shipped Part 1 checkpoints with the kit's own command line.

    python -m plmkit reproduce cfg-pretrain --profile cpu --out runs/cfg-pretrain
    PLMKIT_CFG_ARMS=rope python -m plmkit reproduce cfg-pretrain ...   # only some arms

Each arm trains a small GPT on fresh cfg3f-d4 sentences (resumable: rerun with ``--resume`` after a
kill), rounds the weights to fp16, evaluates *the rounded model* (what ships), and writes
``DIR/export/<grammar>/<size>/<arm>/{model.pt, model.json}``. The sidecar records the model and
training config, the data seed and corruption, steps, tokens, wall time, the measured evaluation and
the run environment. Copy the exported folders to ``data/checkpoints/cfg/`` to ship them.

The cpu profile is the setting of the shipped checkpoints: about an hour per arm on one or two CPU
cores (not a 10-minute lab budget). The gpu entry trains the same arms ten times longer.
"""
from __future__ import annotations

import os

from ..profiles import pick
from ..results import run_environment
from . import cfg as exp
from .common import RunContext

# arm -> (position encoding, corruption of the pretraining data: (p, gamma, kind) or None)
ARMS = {
    "rope": ("rope", None),
    "rope-noisy": ("rope", (0.3, 0.15, "flip")),  # spec 7.6: 30% of sentences, 15% of their tokens flipped
    "learned": ("learned", None),
    "uniform": ("uniform", None),
    "nope": ("nope", None),
}
SIZES = {
    "ci": dict(grammar="cfg3f-d3", model="tiny", batch=8, steps=12, lr=3e-3, arms=("rope", "rope-noisy"),
               cut0=16, cutk=16, kl=8, floor=20, ngram_sentences=2000),
    "cpu": dict(grammar="cfg3f-d4", model="small", batch=16, steps=11_000, lr=2e-3, arms=("rope", "rope-noisy"),
                cut0=500, cutk=500, kl=50, floor=200, ngram_sentences=120_000),
    "gpu": dict(grammar="cfg3f-d4", model="small", batch=96, steps=20_000, lr=2e-3,
                arms=("rope", "rope-noisy", "learned", "uniform", "nope"),
                cut0=1000, cutk=1000, kl=200, floor=300, ngram_sentences=120_000),
}


def settings(profile=None) -> dict:
    s = dict(pick(SIZES, profile))
    chosen = os.environ.get("PLMKIT_CFG_ARMS")
    if chosen:
        arms = tuple(a.strip() for a in chosen.split(",") if a.strip())
        unknown = [a for a in arms if a not in ARMS]
        if unknown:
            raise ValueError(f"unknown arms {unknown} in PLMKIT_CFG_ARMS; valid: {', '.join(ARMS)}")
        s["arms"] = arms
    return s


def evaluate(model, g, s: dict, references: dict) -> dict:
    """What every sidecar reports: accuracy (cut0, cutK at temperature 1), KL, excess loss."""
    k = exp.CUT_K[exp.grammar_depth(g)]
    cut0 = exp.public(exp.generation_accuracy(model, g, s["cut0"], 0))
    cutk = exp.public(exp.generation_accuracy(model, g, s["cutk"], k))
    kl = exp.public(exp.kl_to_truth(model, g, s["kl"]))
    return {"cut0": cut0, f"cut{k}": cutk, "kl": kl,
            "floor": references["floor"], "best_ngram": references["best_ngram"],
            "best_ngram_context": references["best_ngram_context"]}


def train_arm(ctx: RunContext, arm: str, s: dict, references: dict) -> dict:
    pos, corrupt = ARMS[arm]
    g = exp.load_grammar(s["grammar"])
    model = exp.make_model(g, s["model"], pos, seed=ctx.seed)
    history = exp.train_model(ctx, g, model, s["steps"], s["lr"], s["batch"], f"{s['grammar']}-{arm}",
                              corrupt=corrupt, checkpoint_every=200)
    shipped = exp.fp16_roundtrip(model.cpu())
    evaluation = evaluate(shipped, g, s, references)
    tail = history.loss[-100:]
    sidecar = {
        "name": f"{s['grammar']}/{s['model']}/{arm}",
        "label": (f"Trained by plmkit itself on CPU ({history.tokens / 1e6:.1f}M fresh tokens, about "
                  f"{history.tokens / 4.9e9:.2%} of Part 1's 4.9B-token budget). Its measured numbers are in 'eval'; "
                  "they are this small model's, not the paper's."),
        "how": f"python -m plmkit reproduce cfg-pretrain --profile {ctx.profile}"
               + ("" if arm in SIZES[ctx.profile]["arms"] else f" (with PLMKIT_CFG_ARMS={arm})"),
        "grammar": s["grammar"], "root": g.root, "size": s["model"], "arm": arm,
        "model_config": model.config.to_dict(), "parameters": model.param_counts(),
        "data": {"seed": exp.TRAIN_SEED + ctx.seed, "context": model.config.context, "batch": s["batch"],
                 "packing": "left-aligned <bos> s1 <bos> s2 ... (fresh sentences every step)",
                 "corrupt": None if corrupt is None else dict(zip(("p", "gamma", "kind"), corrupt))},
        "train": {"steps": history.steps, "tokens": history.tokens, "seconds": round(history.seconds, 1),
                  "lr": s["lr"], "schedule": "linear decay to 0, no warmup", "optimizer": "AdamW (0.9, 0.98), wd 0.1, clip 1.0",
                  "final_loss_mean_last_100_steps": float(sum(tail) / max(len(tail), 1))},
        "weights": "fp16 state dict; the evaluation below is of the fp16-rounded weights",
        "eval": evaluation,
        "environment": run_environment(),
    }
    if ctx.run_dir is not None:
        exp.export_checkpoint(shipped, ctx.run_dir.path / "export" / s["grammar"] / s["model"] / arm, sidecar)
    return sidecar


def reproduce(ctx: RunContext) -> dict:
    s = settings(ctx.profile)
    g = exp.load_grammar(s["grammar"])
    references = exp.loss_references(g, s["floor"], s["ngram_sentences"])
    arms = {arm: train_arm(ctx, arm, s, references) for arm in s["arms"]}
    return {"part": "cfg-pretrain", "profile": ctx.profile, "grammar": s["grammar"], "references": references,
            "arms": {arm: {k: v for k, v in side.items() if k != "environment"} for arm, side in arms.items()}}
