"""Experiments per part of the series. Notebooks and the command line both call these.

Each part module exposes ``reproduce(ctx: RunContext) -> dict`` (the headless run behind
``python -m plmkit reproduce <part>``), ``check_targets(metrics, profile)`` (its targets table) and the
smaller steps its notebook calls one by one. docs/adding_a_part.md describes the layout every part follows.
"""
from __future__ import annotations

import importlib

# part name -> (module, one-line description). Modules are imported only when a part runs.
PARTS: dict[str, tuple[str, str]] = {
    "tour": ("plmkit.experiments.tour", "the method in miniature: a tiny GPT on nested brackets, probed for the hidden depth"),
    "cfg": ("plmkit.experiments.cfg", "Part 1: a GPT learns a deep context-free grammar; accuracy, KL, probes, attention, robustness"),
    "cfg-pretrain": ("plmkit.experiments.cfg.pretrain", "Part 1: (re)train the shipped cfg3f-d4 checkpoints (about an hour per arm on CPU)"),
    "igsm": ("plmkit.experiments.igsm", "Part 2.1: grade-school math (iGSM): accuracy by op, shortest solutions, V-probes of the plan, mistakes, depth"),
    "igsm-pretrain": ("plmkit.experiments.igsm.pretrain", "Part 2.1: (re)train a shipped iGSM-nano checkpoint (nano, Part 2.2's baseline, about 80 minutes on CPU; PLMKIT_IGSM_CHECKPOINT=nano-xl, lab 02's, minutes on a GPU)"),
    "retry": ("plmkit.experiments.retry", "Part 2.2: learning from mistakes: detect them, retry upon regret, pretrain on retry data at equal tokens, LoRA on it"),
    "retry-pretrain": ("plmkit.experiments.retry.pretrain", "Part 2.2: (re)train the shipped retry and retry_weak nano checkpoints at lab 02's tokens (about an hour per arm on CPU)"),
    "knowledge": ("plmkit.experiments.knowledge", "Part 3.1: when memorised biographies become extractable knowledge; P- and Q-probes"),
    "manipulation": ("plmkit.experiments.manipulation", "Part 3.2: classify, compare and inverse-search stored knowledge, with and without hints"),
    "canon": ("plmkit.experiments.canon", "Part 4.1: Canon layers; one attention layer cannot copy without them, reasoning depth on Depo, placements, cost"),
    "canon-pretrain": ("plmkit.experiments.canon.pretrain", "Part 4.1: (re)train the shipped Depo checkpoints, RoPE and NoPE, each +- Canon, x 3 seeds (about 75 minutes on CPU)"),
    "capacity": ("plmkit.experiments.capacity", "Part 3.3: bits of knowledge per parameter; the base law, int8/int4, gated vs GELU MLP, junk data"),
    "capacity-pretrain": ("plmkit.experiments.capacity.pretrain", "Part 3.3: (re)train the shipped 1,000-exposure capacity checkpoint (about 15 minutes on one CPU core)"),
}

# Parts that (re)train the shipped checkpoints: an hour or more each on CPU, so `reproduce all` leaves them out.
CHECKPOINT_TRAINERS = ("cfg-pretrain", "igsm-pretrain", "retry-pretrain", "capacity-pretrain", "canon-pretrain")


def load_part(name: str):
    """The experiment module of a part; an unknown name lists the valid ones."""
    if name not in PARTS:
        raise ValueError(f"unknown part {name!r}; valid parts: {', '.join(PARTS)}")
    return importlib.import_module(PARTS[name][0])
