"""Scoring generated sentences: validity [P4.1 App. A.5] and diversity [P1 abstract]. Model-agnostic.

A generation is the list of token ids a model emitted after its prompt. It is **valid** iff it stopped
with ``<bos>``, emitted no special token before that, and prompt + completion is accepted by the parser
for the (sub-)grammar's root. There is no partial credit. Tokens after the first ``<bos>`` are ignored
(batched sampling keeps running finished rows).
"""
from __future__ import annotations

import math
import multiprocessing
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence, Union

import numpy as np

from plmkit.data.cfg.grammar import Grammar, RootLike, resolve
from plmkit.data.cfg.parser import accepts, as_token_array

VALID, NO_STOP, SPECIAL, REJECTED = "valid", "no_stop", "special", "rejected"
REASONS = (VALID, NO_STOP, SPECIAL, REJECTED)


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default); (0, 1) when trials = 0."""
    if trials <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes}/{trials}")
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def free_cores() -> int:
    """Cores not busy right now: the cores we may use minus the 1-minute load average (at least 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):
        busy = 0.0
    return max(1, int(round(cores - busy)))


# --- validity --------------------------------------------------------------------------------------
def split_completion(generated, bos_id: int) -> tuple[np.ndarray, bool]:
    """(tokens before the first ``<bos>``, whether a ``<bos>`` was emitted)."""
    tokens = as_token_array(generated)
    if tokens is None:
        return np.zeros(0, np.int64), False
    stops = np.flatnonzero(tokens == bos_id)
    if not len(stops):
        return tokens, False
    return tokens[:stops[0]], True


def _prompt_tokens(prompt, bos_id: int) -> np.ndarray:
    tokens = as_token_array(prompt if prompt is not None else [])
    if tokens is None:
        raise ValueError("a prompt must be a 1-D sequence of token ids")
    return tokens[1:] if len(tokens) and tokens[0] == bos_id else tokens


def judge_generation(g: Grammar, root: int, prompt: np.ndarray, generated) -> str:
    """One of ``valid``, ``no_stop`` (never emitted <bos>), ``special`` (another special or unknown id
    before it), ``rejected`` (the parser refuses prompt + completion)."""
    completion, stopped = split_completion(generated, g.bos_id)
    if not stopped:
        return NO_STOP
    if completion.size and (completion.min() < 1 or completion.max() > g.num_terminals):
        return SPECIAL
    return VALID if accepts(g, np.concatenate([prompt, completion]), root) else REJECTED


def is_valid_generation(g: Union[str, Grammar], prompt, generated, root: RootLike = None) -> bool:
    """Spec 4.6 validity of one generation; ``prompt`` may start with ``<bos>`` (it is dropped)."""
    grammar, root_id = resolve(g, root)
    return judge_generation(grammar, root_id, _prompt_tokens(prompt, grammar.bos_id), generated) == VALID


@dataclass
class GenerationScores:
    """Per-generation verdicts plus the accuracy with its Wilson 95% interval."""

    reasons: list[str]
    first_errors: Optional[list] = None  # token count of the first error per invalid generation (optional)

    @property
    def valid(self) -> np.ndarray:
        return np.array([r == VALID for r in self.reasons], bool)

    @property
    def count(self) -> int:
        return len(self.reasons)

    @property
    def num_valid(self) -> int:
        return int(self.valid.sum())

    @property
    def accuracy(self) -> float:
        return self.num_valid / self.count if self.count else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.num_valid, self.count)

    def summary(self) -> dict:
        lo, hi = self.interval
        counts = Counter(self.reasons)
        return {"n": self.count, "valid": self.num_valid, "accuracy": self.accuracy, "ci95": [lo, hi],
                **{f"n_{reason}": counts.get(reason, 0) for reason in REASONS}}


def _judge_chunk(args) -> list[str]:
    grammar, root_id, pairs = args
    return [judge_generation(grammar, root_id, prompt, gen) for prompt, gen in pairs]


def score_generations(g: Union[str, Grammar], prompts, generations: Sequence, root: RootLike = None,
                      workers: Optional[int] = None, first_errors: bool = False) -> GenerationScores:
    """Judge many generations. ``prompts``: one prompt for all (e.g. ``[<bos>]`` for cut0) or one per
    generation. ``workers``: processes (default: the free cores); small batches run in-process.
    ``first_errors``: also locate the first error of every invalid generation (slower; a diagnostic
    beside the all-or-nothing validity).
    """
    grammar, root_id = resolve(g, root)
    prompt_list = _expand_prompts(prompts, len(generations), grammar.bos_id)
    pairs = list(zip(prompt_list, (_as_generation(gen) for gen in generations)))
    workers = free_cores() if workers is None else max(1, int(workers))
    if workers > 1 and len(pairs) >= 64:
        size = math.ceil(len(pairs) / (4 * workers))
        chunks = [(grammar, root_id, pairs[i:i + size]) for i in range(0, len(pairs), size)]
        # "spawn": forking a process that already runs threads (torch, BLAS) can deadlock.
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            reasons = [r for part in pool.map(_judge_chunk, chunks) for r in part]
    else:
        reasons = _judge_chunk((grammar, root_id, pairs))
    scores = GenerationScores(reasons)
    if first_errors:
        from plmkit.data.cfg.dp import first_error

        scores.first_errors = [None if reason == VALID else
                               first_error(grammar, _full_attempt(grammar, prompt, gen), root_id)
                               for reason, (prompt, gen) in zip(reasons, pairs)]
    return scores


def _as_generation(generated) -> np.ndarray:
    """Token ids as an int64 array; unreadable input becomes empty (judged ``no_stop``, never a crash)."""
    tokens = as_token_array(generated)
    return np.zeros(0, np.int64) if tokens is None else tokens


def _full_attempt(g: Grammar, prompt: np.ndarray, generated: np.ndarray) -> np.ndarray:
    completion, _ = split_completion(generated, g.bos_id)
    return np.concatenate([prompt, completion])


def _expand_prompts(prompts, count: int, bos_id: int) -> list[np.ndarray]:
    if prompts is None:
        return [np.zeros(0, np.int64)] * count
    single = as_token_array(prompts)
    if single is not None:  # one flat prompt shared by all generations
        shared = _prompt_tokens(single, bos_id)
        return [shared] * count
    prompt_list = [_prompt_tokens(p, bos_id) for p in prompts]
    if len(prompt_list) != count:
        raise ValueError(f"got {len(prompt_list)} prompts for {count} generations")
    return prompt_list


# --- diversity -------------------------------------------------------------------------------------------
def sentence_key(sentence) -> bytes:
    """A hashable key for a token sequence (int64 bytes)."""
    return np.asarray(sentence, np.int64).tobytes()


def collision_pairs(sentences: Iterable) -> tuple[int, int]:
    """(number of identical pairs, number of pairs C(M, 2)) among M sentences."""
    counts = Counter(sentence_key(s) for s in sentences)
    total = sum(counts.values())
    return sum(c * (c - 1) // 2 for c in counts.values()), total * (total - 1) // 2


@dataclass
class DiversityStats:
    """Spec 4.7 items 1-3. Rates come with Wilson 95% intervals over pairs (a rough binomial reading)."""

    samples: int
    valid: int
    distinct_fraction: float
    collision_rate: float
    collision_ci: tuple
    reference_collision_rate: Optional[float] = None
    reference_ci: Optional[tuple] = None
    novelty: Optional[float] = None
    extra: dict = field(default_factory=dict)

    @property
    def memorization_suspected(self) -> Optional[bool]:
        """True when the model's collision rate lies above the grammar's own interval."""
        if self.reference_ci is None:
            return None
        return self.collision_ci[0] > self.reference_ci[1]

    def to_dict(self) -> dict:
        return {"samples": self.samples, "valid": self.valid, "distinct_fraction": self.distinct_fraction,
                "collision_rate": self.collision_rate, "collision_ci": list(self.collision_ci),
                "reference_collision_rate": self.reference_collision_rate,
                "reference_ci": None if self.reference_ci is None else list(self.reference_ci),
                "novelty": self.novelty, "memorization_suspected": self.memorization_suspected}


def diversity_stats(samples: Sequence, valid: Optional[Sequence[bool]] = None, reference: Optional[Sequence] = None,
                    training: Optional[Iterable] = None) -> DiversityStats:
    """Distinct fraction (among valid samples), collision rate versus the grammar's own, novelty.

    ``samples``: the M generated sentences (completions without the final ``<bos>``). ``valid``: their
    verdicts (default: all valid). ``reference``: M fresh grammar samples for c_true. ``training``: the
    training sentences (or a set of :func:`sentence_key` values) for novelty; small grammars only.
    """
    keys = [sentence_key(s) for s in samples]
    flags = np.ones(len(keys), bool) if valid is None else np.asarray(valid, bool)
    if len(flags) != len(keys):
        raise ValueError("valid must have one flag per sample")
    valid_keys = [k for k, ok in zip(keys, flags) if ok]
    distinct = len(set(valid_keys)) / len(valid_keys) if valid_keys else float("nan")
    pairs, total = collision_pairs(samples)
    rate = pairs / total if total else float("nan")
    stats = DiversityStats(len(keys), len(valid_keys), distinct, rate, wilson_interval(pairs, total))
    if reference is not None:
        ref_pairs, ref_total = collision_pairs(reference)
        stats.reference_collision_rate = ref_pairs / ref_total if ref_total else float("nan")
        stats.reference_ci = wilson_interval(ref_pairs, ref_total)
    if training is not None and valid_keys:
        seen = training if isinstance(training, (set, frozenset)) else {sentence_key(s) for s in training}
        stats.novelty = sum(k not in seen for k in valid_keys) / len(valid_keys)
    return stats
