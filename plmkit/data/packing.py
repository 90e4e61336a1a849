"""Packing variable-length examples into fixed training windows.

Every experiment in the series trains on windows of ``context + 1`` tokens built like

    <sep> example_1 <sep> example_2 <sep> ...

(``<sep>`` is ``<bos>`` for grammars, ``<eos>`` for biographies). Inputs are the first ``context``
tokens and targets the same window shifted by one. Each target carries a loss weight, so an
experiment can train on answer tokens only.

Two sources, one interface (``source.batch(step) -> Batch``):

* :class:`OnlineStream`: fresh examples every step (Part 1, Part 4.1: "infinite" data);
* :class:`FixedDataset`: N items seen E times, reshuffled every epoch (Parts 3.x: exposures).

A batch is a pure function of ``(seed, step)``, so the same seed gives the same batches bit for bit,
and a run resumed at step k sees exactly the batches it would have seen.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch


@dataclass
class Example:
    """One training example: token ids and the loss weight of predicting each of them.

    ``end_weight`` is the weight of predicting the separator that follows the example (the
    "end of sentence" prediction); the window's first separator is never a target.
    """

    tokens: np.ndarray
    weights: Optional[np.ndarray] = None
    end_weight: float = 1.0

    def __post_init__(self):
        self.tokens = np.asarray(self.tokens, dtype=np.int64)
        if self.tokens.ndim != 1:
            raise ValueError(f"Example.tokens must be 1-D, got shape {self.tokens.shape}")
        if self.weights is not None:
            self.weights = np.asarray(self.weights, dtype=np.float32)
            if self.weights.shape != self.tokens.shape:
                raise ValueError(f"weights shape {self.weights.shape} differs from tokens shape {self.tokens.shape}")


ExampleLike = Union[Example, np.ndarray, Sequence[int], tuple]


def as_example(item: ExampleLike) -> Example:
    """Accept an Example, a plain token array, or a (tokens, weights) pair."""
    if isinstance(item, Example):
        return item
    if isinstance(item, tuple) and len(item) == 2 and not np.isscalar(item[0]):
        return Example(item[0], item[1])
    return Example(np.asarray(item))


@dataclass
class Batch:
    inputs: torch.Tensor  # (B, C) int64
    targets: torch.Tensor  # (B, C) int64
    weights: torch.Tensor  # (B, C) float32

    def to(self, device) -> "Batch":
        return Batch(self.inputs.to(device), self.targets.to(device), self.weights.to(device))

    def rows(self, index) -> "Batch":
        return Batch(self.inputs[index], self.targets[index], self.weights[index])

    @property
    def num_tokens(self) -> int:
        return int(self.inputs.numel())


def pack_windows(examples: Sequence[ExampleLike], context: int, sep_id: int, *, truncate: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """Pack examples, in order, into windows of ``context + 1`` tokens.

    ``truncate=True`` (grammars): fill each window completely; the example that does not fit is
    cut and its remainder dropped, and the next window starts with a fresh example.
    ``truncate=False`` (whole instances): an example never straddles two windows; the tail of a
    window is padded with 0 (weight 0). An example longer than a window is an error.

    Returns (tokens (W, C+1), weights (W, C+1) for each position as a target, examples used):
    the examples that reached an emitted window. With ``truncate`` a final, unfilled window is
    dropped; without it the last window is padded and kept.
    """
    width = context + 1
    windows_tok, windows_w = [], []
    cur_tok: list[np.ndarray] = []
    cur_w: list[np.ndarray] = []
    filled = 0
    used = 0  # examples appended so far
    used_emitted = 0  # of those, examples that reached an emitted window

    def start_window():
        nonlocal cur_tok, cur_w, filled
        cur_tok, cur_w, filled = [np.array([sep_id])], [np.zeros(1, np.float32)], 1

    def close_window():
        nonlocal used_emitted
        used_emitted = used
        tok = np.concatenate(cur_tok)[:width]
        w = np.concatenate(cur_w)[:width]
        pad = width - len(tok)
        if pad:
            tok = np.concatenate([tok, np.zeros(pad, np.int64)])
            w = np.concatenate([w, np.zeros(pad, np.float32)])
        windows_tok.append(tok)
        windows_w.append(w)

    start_window()
    for item in examples:
        ex = as_example(item)
        piece = np.concatenate([ex.tokens, [sep_id]])
        weights = np.ones(len(ex.tokens), np.float32) if ex.weights is None else ex.weights
        piece_w = np.concatenate([weights, [ex.end_weight]]).astype(np.float32)
        if not truncate:
            if len(piece) + 1 > width:
                raise ValueError(f"an example of {len(ex.tokens)} tokens does not fit a window of context {context}")
            if filled + len(piece) > width:
                close_window()
                start_window()
        used += 1
        cur_tok.append(piece)
        cur_w.append(piece_w)
        filled += len(piece)
        if truncate and filled >= width:
            close_window()
            start_window()
    if not truncate and filled > 1:
        close_window()
    if not windows_tok:
        return np.zeros((0, width), np.int64), np.zeros((0, width), np.float32), 0
    return np.stack(windows_tok), np.stack(windows_w), used_emitted


def windows_to_batch(tokens: np.ndarray, weights: np.ndarray) -> Batch:
    tok = torch.from_numpy(np.ascontiguousarray(tokens, dtype=np.int64))
    w = torch.from_numpy(np.ascontiguousarray(weights[:, 1:], dtype=np.float32))
    return Batch(tok[:, :-1].contiguous(), tok[:, 1:].contiguous(), w)


def step_rng(seed: int, *index: int) -> np.random.Generator:
    """An independent generator for (seed, index...): the same numbers on every machine."""
    return np.random.default_rng([int(seed), *map(int, index)])


SampleFn = Callable[[np.random.Generator, int], Sequence[ExampleLike]]


class OnlineStream:
    """Fresh examples for every batch: ``sample_fn(rng, n)`` returns n new examples.

    ``truncate=True`` is Part 1's packing (left-aligned, last sentence cut); ``False`` packs whole
    examples and pads (Part 4.1). ``examples_per_call`` examples are drawn at a time; changing it
    changes which examples land in which batch, so it is part of the stream's definition.
    """

    def __init__(self, sample_fn: SampleFn, context: int, batch_size: int, sep_id: int, seed: int = 0,
                 truncate: bool = True, examples_per_call: int = 64):
        self.sample_fn, self.context, self.batch_size = sample_fn, context, batch_size
        self.sep_id, self.seed, self.truncate = sep_id, seed, truncate
        self.examples_per_call = examples_per_call

    def batch(self, step: int) -> Batch:
        rng = step_rng(self.seed, step)
        tokens, weights = [], []
        have = 0
        while have < self.batch_size:
            examples = self.sample_fn(rng, self.examples_per_call)
            tok, w, _ = pack_windows(examples, self.context, self.sep_id, truncate=self.truncate)
            tokens.append(tok)
            weights.append(w)
            have += len(tok)
        return windows_to_batch(np.concatenate(tokens)[: self.batch_size], np.concatenate(weights)[: self.batch_size])

    def describe(self) -> dict:
        return {"kind": "online", "context": self.context, "batch_size": self.batch_size, "seed": self.seed,
                "truncate": self.truncate}


class FixedDataset:
    """N fixed examples, each seen once per epoch, reshuffled every epoch.

    Windows of all epochs form one long sequence; batch ``step`` takes windows
    ``step*B .. step*B+B-1`` of it. ``steps_for(epochs)`` says how many steps cover E exposures.
    """

    def __init__(self, examples: Sequence[ExampleLike], context: int, batch_size: int, sep_id: int,
                 seed: int = 0, shuffle: bool = True):
        if len(examples) == 0:
            raise ValueError("FixedDataset needs at least one example")
        self.examples = [as_example(e) for e in examples]
        self.context, self.batch_size, self.sep_id = context, batch_size, sep_id
        self.seed, self.shuffle = seed, shuffle
        self._epoch_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._epoch_starts = [0]  # window index at which each epoch starts

    def epoch_windows(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        if epoch not in self._epoch_cache:
            order = step_rng(self.seed, epoch).permutation(len(self.examples)) if self.shuffle else np.arange(len(self.examples))
            tok, w, _ = pack_windows([self.examples[i] for i in order], self.context, self.sep_id, truncate=False)
            if len(self._epoch_cache) > 2:  # keep memory flat over long runs
                self._epoch_cache.pop(min(self._epoch_cache))
            self._epoch_cache[epoch] = (tok, w)
        return self._epoch_cache[epoch]

    def _epoch_start(self, epoch: int) -> int:
        while len(self._epoch_starts) <= epoch:
            e = len(self._epoch_starts) - 1
            self._epoch_starts.append(self._epoch_starts[-1] + len(self.epoch_windows(e)[0]))
        return self._epoch_starts[epoch]

    def steps_for(self, epochs: float) -> int:
        """Optimizer steps that show every example ``epochs`` times (fractions allowed)."""
        whole = int(epochs)
        windows = self._epoch_start(whole)
        if epochs > whole:
            windows += int(round((epochs - whole) * len(self.epoch_windows(whole)[0])))
        return max(1, -(-windows // self.batch_size))

    def batch(self, step: int) -> Batch:
        first, last = step * self.batch_size, (step + 1) * self.batch_size
        tokens, weights = [], []
        epoch = 0
        while self._epoch_start(epoch + 1) <= first:
            epoch += 1
        while sum(len(t) for t in tokens) < self.batch_size:
            start = self._epoch_start(epoch)
            tok, w = self.epoch_windows(epoch)
            lo, hi = max(first - start, 0), min(last - start, len(tok))
            tokens.append(tok[lo:hi])
            weights.append(w[lo:hi])
            epoch += 1
        return windows_to_batch(np.concatenate(tokens), np.concatenate(weights))

    def describe(self) -> dict:
        return {"kind": "fixed", "examples": len(self.examples), "context": self.context,
                "batch_size": self.batch_size, "seed": self.seed, "shuffle": self.shuffle}


def pad_rows(rows: Sequence[Sequence[int]], pad_id: int = 0) -> torch.Tensor:
    """Token rows of different lengths as one (N, longest) tensor, each row starting at position 0.

    Probes, KL measurements and evaluations read every example from its own first token, so rows are
    left-aligned and padded on the right (a causal model never looks at the padding it precedes).
    """
    if not len(rows):
        raise ValueError("pad_rows needs at least one row")
    out = torch.full((len(rows), max(len(r) for r in rows)), pad_id, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, :len(row)] = torch.as_tensor(np.asarray(row, dtype=np.int64))
    return out
