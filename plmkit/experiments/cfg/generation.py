"""Does the model speak the language? Generation accuracy, diversity, KL to the truth, robustness.

* accuracy: sample at temperature 1 from ``<bos>`` (cut0) or from the first K tokens of a fresh
  sentence (cutK) and count only completions the parser accepts whole, no partial credit
  [P1; P4.1 App. A.5];
* diversity: duplicates among the model's samples against the grammar's own [P1 abstract];
* KL(true || model) per position against the exact next-token distribution of the DP [P4.1 Fig. 27],
  with the excess loss on the same sentences as a second estimate of the same number;
* robustness: completing prefixes with flipped tokens [P1 abstract].
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch

from ...data import cfg
from ...model import GPT
from ..shared.cfg_sampling import complete  # shared with Part 4.1's Lano
from .settings import cut_k
from .training import padded_inputs, with_bos

# Evaluation streams, each its own seed (disjoint from training, which uses SeedSequence([seed, step])).
CUT0_SEED, CUTK_SEED, KL_SEED, DIVERSITY_SEED = 20_001, 20_002, 20_003, 20_004
ROBUST_SEED = 30_003


def cut_prompts(g: cfg.Grammar, n: int, k: int, seed: int) -> list[np.ndarray]:
    """``<bos>`` alone (k = 0), else ``<bos> x_1..x_k`` of fresh sentences longer than k."""
    if k == 0:
        return [np.array([g.bos_id])] * n
    sentences = cfg.sample_min_length(g, n, seed, k + 1)
    return [with_bos(g, s[:k]) for s in sentences]


def generation_accuracy(model: GPT, g: cfg.Grammar, n: int, k: int = 0, temperature: float = 1.0,
                        seed: Optional[int] = None, workers: Optional[int] = None) -> dict:
    """Fraction of fully valid completions (no partial credit), with its Wilson 95% interval.

    Temperature 1 by default: at temperature 0 there is one sentence per prompt, and accuracy would be
    stuck at 0% or 100% [P4.1 App. A.5].
    """
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
# KL to the truth and excess loss
# ----------------------------------------------------------------------------------------------
@torch.no_grad()
def model_probabilities(model: GPT, inputs: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    model.eval()
    chunks = [model(inputs[i:i + batch_size].to(model.device)).logits.float().softmax(-1).cpu()
              for i in range(0, len(inputs), batch_size)]
    return torch.cat(chunks).double().numpy()


def kl_to_truth(model: GPT, g: cfg.Grammar, n: int, seed: int = KL_SEED) -> dict:
    """Mean KL(true || model) per position over n fresh sentences, and the excess loss on the same rows.

    The excess loss, (model NLL - true NLL) / (n + 1), is a one-sample estimate of the same KL: the
    two must agree within noise, a built-in check of the whole pipeline.
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
# Diversity
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
    """Duplicates among m cut0 samples vs m fresh grammar samples; the model's own entropy vs H*.

    A memorising model repeats itself far more often than the grammar does; a model that plays safe
    has a self-entropy clearly below the floor.
    """
    run = cut0 if cut0 is not None and cut0["n"] >= m else generation_accuracy(model, g, m, 0, seed=seed)
    samples, valid = run["samples"][:m], run["valid_flags"][:m]
    reference = cfg.sample(g, m, seed + 1)
    stats = cfg.diversity_stats(samples, valid, reference).to_dict()
    finished = [s for s, ok in zip(samples, valid) if ok]
    stats["self_entropy"] = self_entropy(model, g, finished) if finished else float("nan")
    stats["floor"] = floor
    return stats


# ----------------------------------------------------------------------------------------------
# Robustness to corrupted prefixes
# ----------------------------------------------------------------------------------------------
ROBUST_GAMMA = 0.15  # the same flip rate as the noisy pretraining
# A noise-trained model may reproduce noise at temperature 1; at a low temperature it should return to
# grammatical continuations, so the gain is expected to show most there.
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
    k = cut_k(g)
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
