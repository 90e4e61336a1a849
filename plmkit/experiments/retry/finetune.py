"""Retry data only at fine-tuning time [P2.2 §5, Result 7, Fig. 7].

Start from the error-free model, freeze it, and fine-tune a LoRA (attention q/v and the input embedding,
[P2.2 App. D.3]) on r = 0.2 retry data. The paper's LoRAs never clearly beat the error-free model (and
small unmasked ranks hurt), while the same data in pretraining gains 4-5 points on average: learning to
correct mistakes needs large weight changes.

Two kit decisions. (1) The LoRA also trains the output row of ``[BACK]``
(:class:`plmkit.lora.NewOutputRows`): with tied embeddings that row is otherwise the untrained input row
of a token the error-free model never saw, and the fine-tune could not learn to write it at all.
(2) A control: the same LoRA, same steps and seed, on error-free data. A small, briefly trained model
gains from any further training, so the effect of the retry data itself is the difference between the
two fine-tunes; the paper, whose model had converged, compares with the error-free model alone.

At ``cpu`` the fine-tunes are a tiny fraction of the paper's 200,000 steps: they show the mechanics and
which way the numbers move, not the paper's result.
"""
from __future__ import annotations

from typing import Optional

from ...data.igsm import World
from ...lora import LoRAConfig, add_lora, count_trainable
from ...train import train
from ..common import RunContext
from ..shared.igsm import EVAL_SEED, eval_problems, evaluate, make_stream
from .comparison import arm_row
from .regret import paired_gain
from .settings import RetrySettings

FINETUNE_SEED = 7  # the fine-tuning stream: fresh problems, not those the error-free model trained on
VARIANTS = ("lora_retry", "lora_error_free")  # fine-tuned on r = rate retry data / on error-free data


def lora_finetune(ctx: RunContext, model, world: World, s: RetrySettings, rate: float, log=print):
    """(LoRA model, history) after ``s.finetune.steps`` steps on retry data at ``rate`` (0: error-free)."""
    f, p = s.finetune, s.pretrain
    back = world.vocab.id_of("[BACK]")
    config = LoRAConfig(rank=f.rank, embedding_rank=f.embedding_rank, attention=("q", "v"), output_rows=(back,))
    tuned = add_lora(model, config, seed=ctx.seed)
    data = {"retry": rate, "retry_kind": "retry"} if rate else {}
    stream = make_stream(world, p.window or p.context, f.batch, ctx.seed + FINETUNE_SEED, p.layout, p.loss,
                         p.one_per_row, **data)
    name = f"retry-lora-{world.name}-r{rate:g}"
    train_config = ctx.train_config(name, steps=f.steps, lr=f.lr, warmup_steps=min(f.warmup, f.steps),
                                    schedule="cosine", min_lr_ratio=0.0, weight_decay=f.weight_decay,
                                    checkpoint_every=0)
    history = train(tuned, stream, train_config)
    tuned.eval()
    if log:
        log(f"LoRA on {'retry r=%g' % rate if rate else 'error-free'} data (q/v rank {f.rank}, embedding rank "
            f"{f.embedding_rank}, [BACK] output row): {count_trainable(tuned):,} trainable parameters, "
            f"{history.steps} steps, {history.tokens:,} tokens in {history.seconds:.0f} s")
    return tuned, history


def compare_finetune(ctx: RunContext, models: dict, world: World, s: RetrySettings, history,
                     baseline: Optional[dict] = None) -> dict:
    """``models`` (``error_free`` and the :data:`VARIANTS`) on the same test problems at every training op
    and the first OOD op, with paired gains. ``baseline``: ``{op: Evaluation}`` of the error-free model
    already decoded greedily (reused when it holds the same problems)."""
    cfg = world.config
    ops = (*cfg.in_distribution_ops, cfg.ood_ops[0])
    n, layout = s.finetune.eval_problems, s.pretrain.layout
    out = {"steps": history.steps, "tokens": history.tokens, "seconds": round(history.seconds, 1),
           "rank": s.finetune.rank, "embedding_rank": s.finetune.embedding_rank, "rate": s.finetune.rate}
    columns: dict = {name: {} for name in models}
    for op in ops:
        problems = eval_problems(world, op, n, EVAL_SEED + ctx.seed, layout=layout)
        known = (baseline or {}).get(op)
        same = known is not None and [p.tokens(layout) for p in known.problems] == [p.tokens(layout) for p in problems]
        for name, net in models.items():
            columns[name][op] = known if name == "error_free" and same else evaluate(net, problems, layout)
    for name in columns:
        out[name] = arm_row({op: ev.summary for op, ev in columns[name].items()}, world, problems_per_op=n)
    out["gains"] = {}
    for new, base in (("lora_retry", "error_free"), ("lora_retry", "lora_error_free"), ("lora_error_free", "error_free")):
        if new in columns and base in columns:
            a = [r.correct for op in ops for r in columns[base][op].results]
            b = [r.correct for op in ops for r in columns[new][op].results]
            gain, se = paired_gain(a, b)
            out["gains"][f"{new}-{base}"] = {"gain": gain, "se": se}
    return out
