"""What every playground task shares: the size law, the instance record, loss weights, train/test rules.

* **Size law** [P4.1 App. A.1, Remark A.2]: graph tasks draw the graph size n from {3..N} with
  P(n) proportional to 1/(sqrt(N) + n), a built-in easy-to-hard curriculum. Hard instances (n = N)
  are rare, which is why evaluation fixes n = N.
* **Instance**: the tokens of one instance (starting with ``<bos>``) plus where its answers are. The
  same record gives the training example (loss weights) and the evaluation targets.
* **Online data** [P4.1 §3, App. A.1]: fresh instances every step from a fixed seed, packed whole and
  left-aligned into windows (:class:`~plmkit.data.packing.OnlineStream` with ``truncate=False``).
* **Train/test separation**: evaluation sets come from their own random stream, and a training
  ``sample_fn`` can be given their fingerprints so that no evaluation instance is ever trained on.
"""
from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterable, Optional

import numpy as np

from ..packing import Example, OnlineStream
from .vocab import BOS

MIN_GRAPH_SIZE = 3
MAX_REDRAWS = 1000  # a training draw that hits the evaluation set this often in a row means no room is left
EVAL_STREAM = 0x45564131  # mixed into evaluation seeds so they never share a stream with training steps


# --- the size law --------------------------------------------------------------------------------
@lru_cache(maxsize=64)
def size_law(N: int) -> tuple[np.ndarray, np.ndarray]:
    """(sizes 3..N, their probabilities P(n) ~ 1/(sqrt(N) + n))."""
    if N < MIN_GRAPH_SIZE:
        raise ValueError(f"N must be at least {MIN_GRAPH_SIZE}, got {N}")
    sizes = np.arange(MIN_GRAPH_SIZE, N + 1)
    weights = 1.0 / (np.sqrt(N) + sizes)
    return sizes, weights / weights.sum()


@lru_cache(maxsize=64)
def _size_cdf(N: int) -> list[float]:
    cdf = np.cumsum(size_law(N)[1])
    cdf[-1] = 1.0  # no rounding gap above the last size
    return cdf.tolist()


def draw_size(rng: np.random.Generator, N: int) -> int:
    """One n from the size law (inverse CDF: one uniform draw, much cheaper than ``rng.choice(p=...)``)."""
    return MIN_GRAPH_SIZE + bisect.bisect_right(_size_cdf(N), rng.random())


# --- the instance record --------------------------------------------------------------------------
@dataclass
class Answer:
    """One answer inside an instance: ``tokens[start:stop]``, announced by the marker at ``marker``.

    ``group`` is what accuracy is broken down by: k (hops) for Depo, l (operations) for Mano, N for copy.
    The marker (``<ans>``, or ``<query>`` for copy) is never an answer token.
    """

    marker: int
    start: int
    stop: int
    group: int


@dataclass
class Instance:
    """One playground instance: its tokens (``tokens[0]`` is ``<bos>``), answers and task facts.

    ``loss_on_all`` (Mano, Lano) trains on every token; otherwise only the answers, optionally their
    markers, and ``also_weighted`` positions (Brevo's ``<eos>``) carry loss.
    """

    tokens: np.ndarray
    answers: list[Answer]
    info: dict = field(default_factory=dict)
    loss_on_all: bool = False
    also_weighted: tuple[int, ...] = ()
    marker_weight: float = 1.0  # the task's default weight on the answer markers

    def answer_tokens(self) -> list[np.ndarray]:
        return [self.tokens[a.start:a.stop] for a in self.answers]

    def loss_weights(self, marker_weight: Optional[float] = None) -> np.ndarray:
        """Weight of predicting each token (as a target); ``marker_weight`` overrides the task's default."""
        marker_weight = self.marker_weight if marker_weight is None else marker_weight
        if self.loss_on_all:
            weights = np.ones(len(self.tokens), np.float32)
            weights[0] = 0.0  # <bos> is the window separator, never predicted inside an instance
            return weights
        weights = np.zeros(len(self.tokens), np.float32)
        for a in self.answers:
            weights[a.start:a.stop] = 1.0
            weights[a.marker] = marker_weight
        weights[list(self.also_weighted)] = 1.0
        return weights

    def example(self, marker_weight: Optional[float] = None) -> Example:
        """The training example for :mod:`plmkit.data.packing`: the packer writes ``<bos>`` itself.

        The packer puts the separator (``<bos>``) before every instance, so the example is the instance
        without its first token. Predicting the next instance's ``<bos>`` counts only under ``loss_on_all``.
        """
        weights = self.loss_weights(marker_weight)
        return Example(self.tokens[1:], weights[1:], end_weight=1.0 if self.loss_on_all else 0.0)

    def to_json(self) -> dict:
        """The JSON form written by the command line."""
        return {"tokens": self.tokens.tolist(), "answer": [t.tolist() for t in self.answer_tokens()],
                "groups": [a.group for a in self.answers], **self.info}


def build_instance(pieces: Iterable, **kwargs) -> Instance:
    """Concatenate token pieces (lists or tuples) into an :class:`Instance`'s array."""
    tokens = np.fromiter((t for piece in pieces for t in piece), dtype=np.int64)
    return Instance(tokens, **kwargs)


# --- train/test rules ---------------------------------------------------------------------------
def fingerprint(tokens) -> bytes:
    """A stable 128-bit digest of a token sequence (never Python's salted ``hash``)."""
    return hashlib.blake2b(np.asarray(tokens, dtype="<i8").tobytes(), digest_size=16).digest()


def fingerprints(instances: Iterable[Instance]) -> frozenset[bytes]:
    return frozenset(fingerprint(inst.tokens) for inst in instances)


def eval_rng(seed: int) -> np.random.Generator:
    """The random stream of evaluation sets: separate from every training step's ``step_rng(seed, step)``."""
    return np.random.default_rng([EVAL_STREAM, int(seed)])


Draw = Callable[[np.random.Generator], Instance]


def make_sample_fn(draw: Draw, exclude: Optional[frozenset] = None, marker_weight: Optional[float] = None):
    """A ``sample_fn(rng, n)`` for :class:`~plmkit.data.packing.OnlineStream`.

    ``marker_weight`` (default: the task's) is the loss weight on the answer markers. Instances whose
    fingerprint is in ``exclude`` (an evaluation set) are drawn again, so the training stream never
    contains them; the redraw uses the same rng, so the stream stays deterministic.
    """
    def sample_fn(rng: np.random.Generator, n: int) -> list[Example]:
        examples, rejected_in_a_row = [], 0
        while len(examples) < n:
            inst = draw(rng)
            if exclude and fingerprint(inst.tokens) in exclude:
                rejected_in_a_row += 1
                if rejected_in_a_row >= MAX_REDRAWS:
                    raise ValueError(f"{MAX_REDRAWS} training draws in a row were evaluation instances: "
                                     "the evaluation set covers nearly every instance of these sizes")
                continue
            rejected_in_a_row = 0
            examples.append(inst.example(marker_weight))
        return examples

    return sample_fn


def online_stream(sample_fn, context: int, batch_size: int, seed: int = 0,
                  examples_per_call: int = 64) -> OnlineStream:
    """Whole instances, left-aligned, ``<bos>``-separated and ``<pad>``-filled [P4.1 App. A.1]."""
    return OnlineStream(sample_fn, context=context, batch_size=batch_size, sep_id=BOS, seed=seed,
                        truncate=False, examples_per_call=examples_per_call)


def check_range(name: str, value: int, low: int, high: Optional[int] = None) -> None:
    """ValueError unless ``low <= value (<= high)``; the message states the valid range."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        valid = f">= {low}" if high is None else f"in {low}..{high}"
        raise ValueError(f"{name} must be {valid}, got {value}")
