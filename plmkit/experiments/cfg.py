"""Part 1: does a GPT learn a deep, locally ambiguous context-free grammar, and how?

The steps, each a function the lab calls one by one (``reproduce`` runs them all headless):

1. train a rotary GPT on ``<bos>``-packed fresh sentences; loss against the exact entropy floor and
   the best n-gram model (:func:`train_model`, :func:`loss_references`);
2. generation accuracy from ``<bos>`` (cut0) and from a valid prefix (cutK), checked by the parser;
   diversity; KL to the true next-token distribution (:func:`generation_accuracy`,
   :func:`diversity`, :func:`kl_to_truth`);
3. linear probes for the parse tree, attention statistics (:mod:`plmkit.experiments.cfg_analysis`);
4. position encodings at equal steps (:func:`compare_positions`);
5. robustness after noisy pretraining (:func:`robustness`).

Grammar sizes follow spec part1_cfg.md 9: the cpu profile trains cfg3f-d3 from scratch and analyses
shipped cfg3f-d4 checkpoints (``data/checkpoints/cfg``, made by ``python -m plmkit reproduce cfg-pretrain``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from ..data import cfg
from ..data.packing import OnlineStream
from ..model import GPT, GPTConfig
from ..paths import data_root
from ..profiles import pick
from ..train import History, TrainConfig, load_model, train
from .common import RunContext

# Disjoint data streams: training windows use SeedSequence([seed, step]); every evaluation draws from
# its own single-word seed, so no evaluation sentence comes from the training generator.
TRAIN_SEED = 0
FLOOR_SEED, NGRAM_TRAIN_SEED, NGRAM_HELDOUT_SEED = 10_001, 10_002, 10_003
CUT0_SEED, CUTK_SEED, KL_SEED, DIVERSITY_SEED = 20_001, 20_002, 20_003, 20_004
PROBE_SEED, ATTENTION_SEED, ROBUST_SEED = 30_001, 30_002, 30_003

MODEL_SIZES = {  # spec 5.4; all use the kit block: pre-norm RMSNorm, SwiGLU MLP, untied embeddings
    "tiny": dict(n_layer=2, n_head=2, d_model=64),
    "mini": dict(n_layer=4, n_head=4, d_model=64),  # kit addition: the cpu from-scratch model (see SIZES)
    "small": dict(n_layer=4, n_head=4, d_model=128),
    "medium": dict(n_layer=6, n_head=4, d_model=256),
    "base": dict(n_layer=8, n_head=8, d_model=512),
}
CONTEXTS = {2: 32, 3: 64, 4: 128, 5: 256, 6: 512}  # context per sub-grammar depth (spec 2.5)
CUT_K = {2: 3, 3: 6, 4: 15, 5: 40, 6: 50}  # cutK prefix length per depth (spec 4.6)

# The from-scratch run of each profile.
# cpu: measured on cfg3f-d3 at equal tokens (3M), the 4-layer, 64-wide "mini" model reached 83.5% cut0 and KL 0.013
# while the 128-wide "small" one reached 72% and KL 0.030, at 2.2x the compute per token: at a few million tokens the
# narrower model is both faster and better. 1500 steps x 32 x 64 = 3.1M tokens, about 3-5 minutes on 2 cores.
# gpu (sized by arithmetic, not run here): cfg3f-d5, context 256, batch 96 -> 24.6k tokens/step; an 8L512D model
# processes on the order of 10^9 tokens/hour on an A100-class GPU (spec 9), so 6000 steps = 147M tokens take about
# 10-20 minutes there (several times longer on a T4), leaving time for evaluation within the hour.
SIZES = {
    "ci": dict(grammar="cfg3f-d3", model="tiny", batch=16, steps=25, lr=3e-3,
               cut0=8, cutk=8, kl=8, diversity=40, floor=40, ngram_sentences=2000, probe=(60, 30), attention=30,
               pos_arms=("rope", "nope"), pos_steps=10, pos_model="tiny", robust=8, shipped="cfg3f-d4/small"),
    "cpu": dict(grammar="cfg3f-d3", model="mini", batch=32, steps=1500, lr=3e-3,
                cut0=200, cutk=200, kl=50, diversity=1000, floor=200, ngram_sentences=250_000,
                probe=(500, 200), attention=200, pos_arms=("rope", "learned", "uniform", "nope"), pos_steps=400,
                pos_model="mini", robust=200, shipped="cfg3f-d4/small"),
    "gpu": dict(grammar="cfg3f-d5", model="base", batch=96, steps=6000, lr=1e-3,
                cut0=1000, cutk=1000, kl=200, diversity=10_000, floor=300, ngram_sentences=60_000,
                probe=(2000, 500), attention=300, pos_arms=("rope", "learned", "uniform", "nope"), pos_steps=1500,
                pos_model="medium", robust=500, shipped="cfg3f-d4/small"),
}


def settings(profile: Optional[str] = None) -> dict:
    return dict(pick(SIZES, profile))


def load_grammar(name: str) -> cfg.Grammar:
    return cfg.Grammar.load(name)


def grammar_depth(g: cfg.Grammar) -> int:
    """Rewriting steps below the grammar's root (the k of a ``-dk`` sub-grammar)."""
    return int(g.height[g.root])


def describe_presets(names: Sequence[str] = ("cfg3f-d2", "cfg3f-d3", "cfg3f-d4", "cfg3f-d5", "cfg3f", "cfg3b-d3"),
                     n: int = 2000, seed: int = 0) -> list[dict]:
    """Root, depth and sentence lengths (exact range, sampled mean) of each (sub-)grammar."""
    rows = []
    for name in names:
        g = load_grammar(name)
        lengths = np.array([len(x) for x in cfg.sample(g, n, seed)])
        rows.append({"grammar": name, "root": g.root, "rewrites": grammar_depth(g), "min": int(g.minlen[g.root]),
                     "max": int(g.maxlen[g.root]), "mean": round(float(lengths.mean()), 1),
                     "context": CONTEXTS.get(grammar_depth(g))})
    return rows


def local_predictability(g: cfg.Grammar, windows: Sequence[int] = (1, 2, 4, 8), n: int = 6000,
                         seed: int = 0) -> dict[int, dict[int, float]]:
    """How well the last w tokens alone determine each token's NT ancestor, level by level.

    A lookup table from "the last w tokens" (0 marks positions before the sentence start) to the most
    frequent ancestor class is filled on half of n fresh sentences and scored on the other half. With
    3^w patterns and ~10^5 tokens per half, w <= 8 is estimated well. Values well below 1 mean the
    grammar is locally ambiguous: a model must combine information from far back, as a parser does.
    """
    sentences, labels = cfg.sample(g, n, seed, labels=True)
    tokens = np.concatenate(sentences)
    owner = np.repeat(np.arange(n), [len(x) for x in sentences])
    start = labels.offsets[owner]
    position = np.arange(len(tokens))
    fit = owner < n // 2
    out: dict[int, dict[int, float]] = {}
    for level in labels.levels[1:]:
        target = labels.cls[labels.levels.index(level)].astype(np.int64)
        classes = int(target.max()) + 1
        out[level] = {}
        for w in windows:
            key = np.zeros(len(tokens), np.int64)
            for back in range(w):  # base-(T+1) code of the window
                where = position - back
                key = key * (g.num_terminals + 1) + np.where(where >= start, tokens[np.maximum(where, 0)], 0)
            table = np.zeros(((g.num_terminals + 1) ** w, classes), np.int64)
            np.add.at(table, (key[fit], target[fit]), 1)
            guess = np.where(table.sum(1) > 0, table.argmax(1), np.bincount(target[fit]).argmax())
            out[level][w] = float((guess[key[~fit]] == target[~fit]).mean())
    return out


def parse_counts(g: cfg.Grammar, n: int, seed: int = 0) -> np.ndarray:
    """Number of parse trees of n fresh sentences (1 everywhere for an unambiguous grammar)."""
    return np.array([cfg.count_parses(g, x) for x in cfg.sample(g, n, seed)], dtype=object)


# ----------------------------------------------------------------------------------------------
# Model and data
# ----------------------------------------------------------------------------------------------
def model_config(g: cfg.Grammar, size: str = "small", pos: str = "rope", context: Optional[int] = None) -> GPTConfig:
    dims = MODEL_SIZES[size]
    context = context or CONTEXTS[grammar_depth(g)]
    windows = spread_windows(dims["n_head"], context) if pos == "uniform" else None
    return GPTConfig(vocab_size=g.vocab_size, context=context, pos=pos, mlp="swiglu", norm="rmsnorm",
                     uniform_windows=windows, **dims)


def spread_windows(n_head: int, context: int) -> tuple[int, ...]:
    """Uniform-attention windows spread geometrically from 1 to the context (spec 6, ``spread``).

    With 4 heads and context 64 the default 1, 3, 7, 15 would never look past 15 tokens, less than
    one d3 sentence; 1, 4, 16, 64 covers every scale the grammar has.
    """
    if n_head == 1:
        return (context,)
    return tuple(int(round(context ** (h / (n_head - 1)))) for h in range(n_head))


def make_model(g: cfg.Grammar, size: str = "small", pos: str = "rope", seed: int = 0,
               context: Optional[int] = None) -> GPT:
    torch.manual_seed(seed)
    return GPT(model_config(g, size, pos, context))


def make_stream(g: cfg.Grammar, context: int, batch: int, seed: int = TRAIN_SEED,
                corrupt: Optional[tuple] = None) -> OnlineStream:
    """Fresh sentences packed left-aligned as ``<bos> s1 <bos> s2 ...`` (spec 5.1)."""
    return OnlineStream(cfg.make_sample_fn(g, corrupt=corrupt), context=context, batch_size=batch,
                        sep_id=g.bos_id, seed=seed)


def train_model(ctx: RunContext, g: cfg.Grammar, model: GPT, steps: int, lr: float, batch: int, name: str,
                corrupt: Optional[tuple] = None, callbacks: Sequence = (), checkpoint_every: int = 250,
                data_seed: int = TRAIN_SEED) -> History:
    """Part 4.1's recipe at small scale: AdamW (0.9, 0.98), wd 0.1, no warmup, linear decay to 0."""
    config = TrainConfig(steps=steps, lr=lr, schedule="linear", warmup_steps=0, weight_decay=0.1,
                         betas=(0.9, 0.98), eps=1e-6, grad_clip=1.0, seed=ctx.seed, device=ctx.device,
                         threads=ctx.threads, checkpoint_dir=ctx.checkpoint_dir(name),
                         checkpoint_every=checkpoint_every if ctx.run_dir else 0, progress=ctx.progress, desc=name)
    stream = make_stream(g, model.config.context, batch, data_seed + ctx.seed, corrupt)
    return train(model, stream, config, callbacks=callbacks)


# ----------------------------------------------------------------------------------------------
# Reference levels: the entropy floor and the n-gram ladder
# ----------------------------------------------------------------------------------------------
def loss_references(g: cfg.Grammar, floor_sentences: int, ngram_sentences: int, max_context: int = 11) -> dict:
    """H* (exact DP, spec 4.4), chance ln(T+1) and the add-0.1 n-gram ladder on held-out text."""
    floor = cfg.entropy_floor(g, n=floor_sentences, rng=FLOOR_SEED)
    train_stream = cfg.sample_stream(g, ngram_sentences, NGRAM_TRAIN_SEED)
    heldout = cfg.sample_stream(g, max(2000, ngram_sentences // 10), NGRAM_HELDOUT_SEED)
    ladder = cfg.ngram_ladder(train_stream, heldout, max_context=max_context, num_outcomes=g.num_terminals + 1)
    best = int(np.argmin(ladder))
    return {"floor": floor.value, "floor_se": floor.rows_se, "chance": floor.chance, "mean_length": floor.mean_length,
            "ngram": ladder, "ngram_tokens": int(len(train_stream)), "best_ngram": ladder[best],
            "best_ngram_context": best}


# ----------------------------------------------------------------------------------------------
# Generation (spec 4.6)
# ----------------------------------------------------------------------------------------------
def _device(model) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def complete(model: GPT, g: cfg.Grammar, prompts: Sequence[np.ndarray], temperature: float = 1.0, seed: int = 0,
             batch_size: int = 256) -> list[np.ndarray]:
    """Sample a continuation of each ``<bos> prefix`` prompt until the next ``<bos>``.

    Prompts of equal length are batched (the KV cache needs equal lengths). Returns the generated
    tokens per prompt, including the stopping ``<bos>`` when one was emitted.
    """
    device = _device(model)
    generator = torch.Generator(device=device).manual_seed(seed)
    out: list[Optional[np.ndarray]] = [None] * len(prompts)
    by_length: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_length.setdefault(len(p), []).append(i)
    for length, rows in sorted(by_length.items()):
        budget = min(int(g.maxlen[g.root]) - (length - 1) + 1, model.config.context - length)
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            prompt = torch.as_tensor(np.stack([prompts[i] for i in chunk]), dtype=torch.long, device=device)
            generated = model.generate(prompt, budget, temperature=temperature, stop_token=g.bos_id,
                                       generator=generator)[:, length:].cpu().numpy()
            for i, row in zip(chunk, generated):
                stops = np.flatnonzero(row == g.bos_id)
                out[i] = row[: stops[0] + 1] if len(stops) else row
    return out


def with_bos(g: cfg.Grammar, prefix: np.ndarray) -> np.ndarray:
    return np.concatenate([[g.bos_id], np.asarray(prefix, np.int64)])


def cut_prompts(g: cfg.Grammar, n: int, k: int, seed: int) -> list[np.ndarray]:
    """``<bos>`` alone (k = 0), else ``<bos> x_1..x_k`` of fresh sentences longer than k (spec 4.6)."""
    if k == 0:
        return [np.array([g.bos_id])] * n
    sentences = cfg.sample_min_length(g, n, seed, k + 1)
    return [with_bos(g, s[:k]) for s in sentences]


def generation_accuracy(model: GPT, g: cfg.Grammar, n: int, k: int = 0, temperature: float = 1.0,
                        seed: Optional[int] = None, workers: Optional[int] = None) -> dict:
    """Fraction of fully valid completions (no partial credit), with its Wilson 95% interval."""
    seed = (CUT0_SEED if k == 0 else CUTK_SEED) if seed is None else seed
    prompts = cut_prompts(g, n, k, seed)
    completions = complete(model, g, prompts, temperature, seed)
    scores = cfg.score_generations(g, prompts, completions, workers=workers)
    summary = scores.summary()
    summary.update(cut=k, temperature=temperature)
    summary["samples"] = [cfg.split_completion(c, g.bos_id)[0] for c in completions]
    summary["valid_flags"] = scores.valid
    return summary


def public(summary: dict) -> dict:
    """A result without its bulky arrays, ready for JSON."""
    return {k: v for k, v in summary.items() if k not in ("samples", "valid_flags", "per_position", "rows")}


# ----------------------------------------------------------------------------------------------
# KL to the truth and excess loss (spec 4.4, 4.5)
# ----------------------------------------------------------------------------------------------
def padded_inputs(g: cfg.Grammar, sentences: Sequence[np.ndarray]) -> torch.Tensor:
    """``<bos> x <pad>...`` rows: every sentence starts at position 0, as the probes and KL need."""
    width = max(len(s) for s in sentences) + 1
    inputs = torch.zeros(len(sentences), width, dtype=torch.long)
    for i, s in enumerate(sentences):
        inputs[i, 0] = g.bos_id
        inputs[i, 1:len(s) + 1] = torch.from_numpy(np.asarray(s, np.int64))
    return inputs


@torch.no_grad()
def model_probabilities(model: GPT, inputs: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    device = _device(model)
    model.eval()
    chunks = [model(inputs[i:i + batch_size].to(device)).logits.float().softmax(-1).cpu()
              for i in range(0, len(inputs), batch_size)]
    return torch.cat(chunks).double().numpy()


def kl_to_truth(model: GPT, g: cfg.Grammar, n: int, seed: int = KL_SEED) -> dict:
    """Mean KL(true || model) per position over n fresh sentences, and the excess loss on the same rows.

    The excess loss, (model NLL - true NLL) / (n + 1), is a one-sample estimate of the same KL: the
    two must agree within noise (spec 7.1), a built-in check of the whole pipeline.
    """
    sentences = cfg.sample(g, n, seed)
    probs = model_probabilities(model, padded_inputs(g, sentences))
    sentence_kls, excess, per_position = [], [], []
    for i, x in enumerate(sentences):
        dp = cfg.prefix_dp(g, x)
        q = cfg.model_rows(probs[i, :len(x) + 1], g)
        kl_rows = cfg.kl_along_sentence(dp.probs, q)
        sentence_kls.append(kl_rows.mean())
        per_position.append(kl_rows)
        outcomes = np.concatenate([x, [0]])  # column 0 = EOS, column t = terminal t
        model_nll = -np.log(q[np.arange(len(x) + 1), outcomes]).sum()
        excess.append((model_nll + dp.sentence_log_prob) / (len(x) + 1))
    kl, kl_se = cfg.mean_and_se(sentence_kls)
    ex, ex_se = cfg.mean_and_se(excess)
    return {"kl": kl, "kl_se": kl_se, "excess_loss": ex, "excess_loss_se": ex_se, "sentences": n,
            "per_position": per_position}


# ----------------------------------------------------------------------------------------------
# Diversity (spec 4.7)
# ----------------------------------------------------------------------------------------------
@torch.no_grad()
def self_entropy(model: GPT, g: cfg.Grammar, samples: Sequence[np.ndarray]) -> float:
    """Mean -ln q(sample) per predicted token (incl. the final EOS) of the model's own samples."""
    nll, count = 0.0, 0
    for start in range(0, len(samples), 256):
        chunk = samples[start:start + 256]
        probs = model_probabilities(model, padded_inputs(g, chunk))
        for row, x in zip(probs, chunk):
            targets = np.concatenate([np.asarray(x, np.int64), [g.bos_id]])
            nll -= np.log(row[np.arange(len(targets)), targets]).sum()
            count += len(targets)
    return nll / max(count, 1)


def diversity(model: GPT, g: cfg.Grammar, m: int, floor: Optional[float] = None, seed: int = DIVERSITY_SEED,
              cut0: Optional[dict] = None) -> dict:
    """Duplicates among m cut0 samples vs m fresh grammar samples; the model's own entropy vs H*."""
    run = cut0 if cut0 is not None and cut0["n"] >= m else generation_accuracy(model, g, m, 0, seed=seed)
    samples, valid = run["samples"][:m], run["valid_flags"][:m]
    reference = cfg.sample(g, m, seed + 1)
    stats = cfg.diversity_stats(samples, valid, reference).to_dict()
    finished = [s for s, ok in zip(samples, valid) if ok]
    stats["self_entropy"] = self_entropy(model, g, finished) if finished else float("nan")
    stats["floor"] = floor
    return stats


# ----------------------------------------------------------------------------------------------
# Robustness to corrupted prefixes (spec 7.6)
# ----------------------------------------------------------------------------------------------
ROBUST_GAMMA = 0.15  # the same flip rate as the noisy pretraining
ROBUST_TEMPERATURES = (1.0, 0.2)


def corrupted_prompts(g: cfg.Grammar, n: int, k: int, seed: int = ROBUST_SEED, gamma: float = ROBUST_GAMMA):
    """(clean prompts, corrupted prompts, flips): the first k tokens of fresh sentences, and the same
    prefixes with each token flipped with probability gamma (at least one flip)."""
    rng = np.random.default_rng(seed)
    sentences = cfg.sample_min_length(g, n, rng, k + 1)
    clean, noisy, flips = [], [], []
    for x in sentences:
        bad, f = cfg.corrupt_prefix(x, k, gamma, rng, g)
        clean.append(with_bos(g, x[:k]))
        noisy.append(with_bos(g, bad[:k]))
        flips.append(f)
    return clean, noisy, np.array(flips)


def robustness(models: dict, g: cfg.Grammar, n: int, temperatures: Sequence[float] = ROBUST_TEMPERATURES,
               seed: int = ROBUST_SEED, workers: Optional[int] = None) -> dict:
    """Per model and temperature: clean-prefix accuracy (cutK) and repair-valid after corrupted prefixes.

    Repair-valid: the model saw the corrupted prefix, and its completion continues the *original*
    prefix into a valid sentence, i.e. it completed the sentence the noise was applied to.
    """
    k = CUT_K[grammar_depth(g)]
    clean, noisy, flips = corrupted_prompts(g, n, k, seed)
    out = {"k": k, "gamma": ROBUST_GAMMA, "mean_flips": float(flips.mean()), "models": {}}
    for name, model in models.items():
        per_temperature = {}
        for t in temperatures:
            clean_run = complete(model, g, clean, t, seed + 1)
            noisy_run = complete(model, g, noisy, t, seed + 2)
            clean_scores = cfg.score_generations(g, clean, clean_run, workers=workers).summary()
            repair_scores = cfg.score_generations(g, clean, noisy_run, workers=workers).summary()
            per_temperature[str(t)] = {"clean": clean_scores, "repair_valid": repair_scores}
        out["models"][name] = per_temperature
    return out


# ----------------------------------------------------------------------------------------------
# Position encodings at equal steps (spec 7.4)
# ----------------------------------------------------------------------------------------------
POSITION_LABELS = {"rope": "rotary", "learned": "learned absolute", "uniform": "uniform attention", "nope": "no position"}


def compare_positions(ctx: RunContext, g: cfg.Grammar, arms: Sequence[str], steps: int, batch: int, lr: float,
                      size: str = "small", n_eval: int = 100, kl_sentences: int = 30) -> dict:
    """Train one model per position encoding on identical data (same seed, steps, size, LR)."""
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
# Shipped checkpoints
# ----------------------------------------------------------------------------------------------
SHIPPED_DIR = ("checkpoints", "cfg")


def shipped_path(name: str) -> Path:
    """Folder of a shipped checkpoint, e.g. ``cfg3f-d4/small/rope`` (holds model.pt and model.json)."""
    return data_root().joinpath(*SHIPPED_DIR, *name.split("/"))


def shipped_names() -> list[str]:
    root = data_root().joinpath(*SHIPPED_DIR)
    return sorted(str(p.parent.relative_to(root)) for p in root.rglob("model.pt"))


def load_shipped(name: str, device: Optional[str] = None) -> tuple[GPT, dict]:
    """A shipped checkpoint as an fp32 model, and its sidecar (how it was trained, its measured eval)."""
    folder = shipped_path(name)
    if not (folder / "model.pt").exists():
        raise ValueError(f"no shipped checkpoint {name!r}; available: {', '.join(shipped_names()) or 'none'}")
    model = load_model(folder / "model.pt", device)
    return model.float(), json.loads((folder / "model.json").read_text())


def export_checkpoint(model: GPT, folder: Path, sidecar: dict) -> None:
    """Weights as an fp16 state dict (half the size; reloaded as fp32) plus a JSON sidecar."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    torch.save({"format": "plmkit-weights-fp16-v1", "model_config": model.config.to_dict(), "model": state},
               folder / "model.pt")
    (folder / "model.json").write_text(json.dumps(sidecar, indent=2, default=_json_default) + "\n")


def fp16_roundtrip(model: GPT) -> GPT:
    """The model with its weights rounded to fp16 and back: what a shipped checkpoint holds."""
    copy = GPT(model.config)
    copy.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in model.state_dict().items()})
    return copy.eval()


def _json_default(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")



# ----------------------------------------------------------------------------------------------
# Figures: ours beside the paper's numbers
# ----------------------------------------------------------------------------------------------
def reference() -> dict:
    from ..results import load_reference

    return load_reference("cfg")


def plot_loss(history: History, refs: dict, title: str = "Training loss on fresh sentences"):
    from ..plots import add_citation, loss_curve

    baselines = {f"best n-gram (context {refs['best_ngram_context']})": refs["best_ngram"],
                 "chance ln(T+1)": refs["chance"]}
    fig = loss_curve(history, floor=refs["floor"], baselines=baselines, title=title)
    fig.axes[0].set_ylim(refs["floor"] - 0.05, refs["chance"] + 0.05)
    add_citation(fig, "Floor: exact entropy of the grammar by dynamic programming (Part 1's two-step DP, arXiv 2305.13673 TMLR "
                      "Alg. 1). Part 1 trains on 4.9B fresh tokens [P1 TMLR setup]; this run sees "
                      f"{history.tokens / 1e6:.1f}M.")
    return fig


def plot_accuracy(results: dict, ref: Optional[dict] = None, title: str = "Generation accuracy at temperature 1"):
    """``results``: label -> generation summary (``accuracy``, ``ci95``, ``cut``). cut0 bars get the
    paper's cut0 number beside them; cutK bars have none (Part 4.1 reports cut0 only)."""
    from ..plots import ours_vs_paper

    ref = ref or reference()
    paper_cut0 = ref["accuracy_cfg3f"]["Llama(RoPE)"]["8L512D"]
    labels = list(results)
    ours = [100 * results[k]["accuracy"] for k in labels]
    err = np.array([[100 * (r["accuracy"] - r["ci95"][0]), 100 * (r["ci95"][1] - r["accuracy"])]
                    for r in results.values()]).T
    paper = [paper_cut0 if results[k]["cut"] == 0 else None for k in labels]
    fig = ours_vs_paper(labels, ours, paper, "fully valid sentences (%)",
                        f"Paper: Llama(RoPE) 8L512D on full cfg3f, {paper_cut0}% from <bos> after 4.9B tokens "
                        f"{ref['accuracy_cfg3f']['citation'].split(':')[0]}; GPT2(RoPE) 8L512D "
                        f"{ref['accuracy_cfg3f']['GPT2(RoPE)']['8L512D']}%. Ours: small models on sub-grammars, "
                        "error bars = Wilson 95% intervals.", title=title, ours_err=err,
                        paper_label="paper (full cfg3f, 8L512D)")
    fig.axes[0].set_ylim(0, 105)
    return fig


def plot_kl(results: dict, ref: Optional[dict] = None, title: str = "KL(true || model) per position"):
    from ..plots import ours_vs_paper

    ref = ref or reference()
    paper = ref["kl_cfg3f"]["Llama(RoPE)"]["8L512D"]
    labels = list(results)
    fig = ours_vs_paper(labels, [results[k]["kl"] for k in labels], [paper] * len(labels), "nats per position",
                        f"Paper: Llama(RoPE) 8L512D on full cfg3f, KL {paper} {ref['kl_cfg3f']['citation'].split(':')[0]}. "
                        "Ours: mean over fresh sentences, error bars = 2 s.e.; excess loss measured on the same sentences: "
                        + ", ".join(f"{k} {results[k]['excess_loss']:.4f}" for k in labels),
                        title=title, ours_err=[2 * results[k]["kl_se"] for k in labels],
                        paper_label="paper (full cfg3f, 8L512D)")
    fig.axes[0].set_yscale("log")
    return fig


def plot_kl_by_position(per_position: Sequence[np.ndarray], title: str = "Where the model still differs from the truth"):
    from ..plots import _axes

    fig, ax = _axes(None, figsize=(6, 3.5))
    width = max(len(r) for r in per_position)
    sums, counts = np.zeros(width), np.zeros(width)
    for r in per_position:
        sums[:len(r)] += r
        counts[:len(r)] += 1
    keep = counts >= 5
    ax.plot(np.arange(width)[keep], (sums / np.maximum(counts, 1))[keep], ".-")
    ax.set_yscale("log")
    ax.set_xlabel("position k (row k predicts token k+1; the last row predicts EOS)")
    ax.set_ylabel("mean KL (nats)")
    ax.set_title(title)
    return fig


def plot_positions(results: dict, ref: Optional[dict] = None, title: str = "Position encodings at equal steps"):
    from ..plots import OURS_COLOR, PAPER_COLOR, _plt, add_citation

    ref = ref or reference()
    plt = _plt()
    arms = list(results)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    x = np.arange(len(arms))
    labels = [POSITION_LABELS.get(a, a) for a in arms]
    excess = [results[a]["excess_loss"] for a in arms]
    axes[0].bar(x, excess, yerr=[2 * results[a]["excess_loss_se"] for a in arms], color=OURS_COLOR, capsize=3)
    axes[0].set_ylabel("excess loss over the floor (nats/token)")
    axes[0].set_title("loss (lower is better)")
    acc = [100 * results[a]["cut0"]["accuracy"] for a in arms]
    paper_values = {"rope": ref["accuracy_cfg3f"]["Llama(RoPE)"]["8L512D"], "nope": ref["accuracy_cfg3f"]["Llama(NoPE)"]["8L512D"]}
    axes[1].bar(x - 0.2, acc, 0.4, color=OURS_COLOR, label="plmkit (this run)")
    paper = [paper_values.get(a, np.nan) for a in arms]
    axes[1].bar(x + 0.2, paper, 0.4, color=PAPER_COLOR, label="paper: Llama 8L512D, full cfg3f")
    for ax in axes:
        ax.set_xticks(x)
        ax.set_xticklabels(labels, rotation=10)
    axes[1].set_ylabel("cut0 accuracy (%)")
    axes[1].set_ylim(0, 105)
    axes[1].set_title("generation (higher is better)")
    axes[1].legend(fontsize=7)
    add_citation(fig, "Paper: RoPE 91.1%, NoPE 0.0% [P4.1 Fig. 7]. Part 1 (abstract v4): absolute embeddings are inferior to "
                      "rotary/relative; uniform attention is surprisingly effective (beats absolute, approaches RoPE [P4.1 4]). "
                      "Part 1 gives no single number for learned/uniform here, so those bars are ours only.")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_robustness(result: dict, title: str = "Completing corrupted prefixes"):
    from ..plots import _plt, add_citation

    plt = _plt()
    models = list(result["models"])
    temps = list(next(iter(result["models"].values())))
    fig, axes = plt.subplots(1, len(temps), figsize=(5.5 * len(temps), 4), squeeze=False)
    for ax, t in zip(axes[0], temps):
        x = np.arange(len(models))
        for i, (key, label) in enumerate((("clean", "clean prefix (cutK)"), ("repair_valid", "corrupted prefix: repair-valid"))):
            vals = [100 * result["models"][m][t][key]["accuracy"] for m in models]
            ci = np.array([[100 * (result["models"][m][t][key]["accuracy"] - result["models"][m][t][key]["ci95"][0]),
                            100 * (result["models"][m][t][key]["ci95"][1] - result["models"][m][t][key]["accuracy"])]
                           for m in models]).T
            bars = ax.bar(x + (i - 0.5) * 0.4, vals, 0.4, yerr=ci, capsize=3, label=label)
            ax.bar_label(bars, fmt="%.0f", fontsize=7)
        ax.set_xticks(x)
        ax.set_xticklabels(models)
        ax.set_ylim(0, 105)
        ax.set_ylabel("valid (%)")
        ax.set_title(f"temperature {t}")
        ax.legend(fontsize=7)
    add_citation(fig, f"First K = {result['k']} tokens of fresh sentences, each flipped with probability {result['gamma']} "
                      f"(at least one; mean {result['mean_flips']:.1f} flips). Repair-valid: the original prefix + the "
                      "completion is a sentence. Part 1 (abstract v3/v4): noise in pretraining data markedly improves "
                      "robustness to corrupted prompts; Part 1's robustness figure has its numbers (not restated here).")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def draw_tree(g: cfg.Grammar, sentence: np.ndarray, labels, ax=None, title: str = ""):
    """The generating parse tree of one sentence: one row per level, one box per node over its span."""
    from ..plots import _axes

    n = len(sentence)
    fig, ax = _axes(ax, figsize=(max(6, 0.32 * n + 2), 0.75 * (len(labels.levels) + 1) + 1))
    rows = list(labels.levels)
    for r, level in enumerate(rows):
        y = len(rows) - r
        for symbol, first, last in labels.nodes(level):
            ax.add_patch(_box(first - 0.45, y - 0.35, last - first + 0.9, 0.7, int(g.class_index[symbol])))
            ax.text((first + last) / 2, y, str(int(symbol)), ha="center", va="center", fontsize=8)
    for t, token in enumerate(sentence):
        ax.text(t, 0, str(int(token)), ha="center", va="center", fontsize=9, fontweight="bold")
    ax.set_xlim(-0.8, n - 0.2)
    ax.set_ylim(-0.6, len(rows) + 0.6)
    ax.set_yticks(range(len(rows) + 1))
    ax.set_yticklabels(["tokens"] + [f"level {lv}" for lv in reversed(rows)])
    ax.set_xticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title or f"{g.name}: a sampled sentence of {n} tokens and the tree that generated it")
    return fig


def _box(x, y, w, h, shade: int):
    from matplotlib.patches import FancyBboxPatch

    colors = ("#c6dbef", "#fdd0a2", "#c7e9c0", "#dadaeb")
    return FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02", fc=colors[shade % len(colors)], ec="#555555", lw=0.6)


# ----------------------------------------------------------------------------------------------
# The whole part, headless
# ----------------------------------------------------------------------------------------------
def from_scratch(ctx: RunContext, callbacks: Sequence = ()) -> dict:
    """Step 1-2 on the profile's grammar: references, training, accuracy, KL, diversity."""
    s = settings(ctx.profile)
    g = load_grammar(s["grammar"])
    refs = loss_references(g, s["floor"], s["ngram_sentences"])
    model = make_model(g, s["model"], "rope", seed=ctx.seed)
    history = train_model(ctx, g, model, s["steps"], s["lr"], s["batch"], f"{s['grammar']}-rope", callbacks=callbacks)
    k = CUT_K[grammar_depth(g)]
    cut0 = generation_accuracy(model, g, max(s["cut0"], s["diversity"]), 0)
    cutk = generation_accuracy(model, g, s["cutk"], k)
    kl = kl_to_truth(model, g, s["kl"])
    div = diversity(model, g, s["diversity"], refs["floor"], cut0=cut0)
    return {"grammar": g, "model": model, "history": history, "refs": refs, "cut0": cut0, "cutk": cutk, "kl": kl,
            "diversity": div}


def analyse_checkpoint(model: GPT, g: cfg.Grammar, s: dict) -> dict:
    """Steps 2-4 on a (shipped) checkpoint: accuracy, KL, probes, attention."""
    from . import cfg_analysis as ana

    k = CUT_K[grammar_depth(g)]
    probe_train, probe_test = s["probe"]
    stats = ana.boundary_attention(model, g, s["attention"])
    control = ana.boundary_attention(ana.random_init_copy(model, 0), g, s["attention"])
    return {"cut0": generation_accuracy(model, g, s["cut0"], 0), "cutk": generation_accuracy(model, g, s["cutk"], k),
            "kl": kl_to_truth(model, g, s["kl"]),
            "probes": ana.probe_parse_tree(model, g, probe_train, probe_test),
            "attention": stats, "attention_control": control, "attention_ci": ana.bootstrap(stats)}


def reproduce(ctx: RunContext) -> dict:
    """All six experiments; figures into ``ctx.run_dir``. Returns the metrics."""
    from . import cfg_analysis as ana

    s = settings(ctx.profile)
    ref = reference()
    run = from_scratch(ctx)
    g, refs = run["grammar"], run["refs"]
    k = CUT_K[grammar_depth(g)]
    ctx.save_figure(plot_loss(run["history"], refs, f"{g.name}: loss against the floor and the n-gram ladder"), "loss")

    shipped_name = f"{s['shipped']}/rope"
    shipped, sidecar = load_shipped(shipped_name, ctx.device)
    g4 = load_grammar(sidecar["grammar"])
    k4 = CUT_K[grammar_depth(g4)]
    ana_run = analyse_checkpoint(shipped, g4, s)
    ctx.save_figure(plot_accuracy({f"{g.name} cut0\n(from scratch)": run["cut0"], f"{g.name} cut{k}": run["cutk"],
                                   f"{g4.name} cut0\n(shipped)": ana_run["cut0"], f"{g4.name} cut{k4}": ana_run["cutk"]}, ref),
                    "accuracy")
    ctx.save_figure(plot_kl({f"{g.name} (from scratch)": run["kl"], f"{g4.name} (shipped)": ana_run["kl"]}, ref), "kl")
    ctx.save_figure(plot_kl_by_position(ana_run["kl"]["per_position"]), "kl_by_position")
    ctx.save_figure(ana.plot_probes(ana_run["probes"], g4), "probes")
    ctx.save_figure(ana.plot_attention(ana_run["attention"], ana_run["attention_control"], ana_run["attention_ci"], g4),
                    "attention")

    positions = compare_positions(ctx, g, s["pos_arms"], s["pos_steps"], s["batch"], s["lr"], s["pos_model"],
                                  n_eval=min(s["cut0"], 200))
    ctx.save_figure(plot_positions(positions, ref), "positions")

    noisy, _ = load_shipped(f"{s['shipped']}/rope-noisy", ctx.device)
    robust = robustness({"clean pretraining": shipped, "noisy pretraining (p=0.3)": noisy}, g4, s["robust"])
    ctx.save_figure(plot_robustness(robust), "robustness")

    return {
        "part": "cfg", "profile": ctx.profile,
        "from_scratch": {
            "grammar": g.name, "parameters": run["model"].param_counts(), "references": refs,
            "train": {"steps": run["history"].steps, "tokens": run["history"].tokens,
                      "seconds": round(run["history"].seconds, 1),
                      "tokens_per_second": round(run["history"].tokens_per_second),
                      "final_loss_last_50": float(np.mean(run["history"].loss[-50:]))},
            "cut0": public(run["cut0"]), f"cut{k}": public(run["cutk"]), "kl": public(run["kl"]),
            "diversity": run["diversity"],
        },
        "shipped": {
            "name": shipped_name, "sidecar_eval": sidecar["eval"], "train_tokens": sidecar["train"]["tokens"],
            "cut0": public(ana_run["cut0"]), f"cut{k4}": public(ana_run["cutk"]), "kl": public(ana_run["kl"]),
            "probes": ana_run["probes"],
            "attention": ana.attention_summary(ana_run["attention"], ana_run["attention_ci"]),
            "attention_control": ana.attention_summary(ana_run["attention_control"], ana.bootstrap(ana_run["attention_control"])),
        },
        "positions": positions,
        "robustness": robust,
    }
