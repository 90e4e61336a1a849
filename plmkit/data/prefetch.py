"""Batches computed ahead by worker processes, so a GPU never waits for Python to generate data.

Every data source of the kit is a pure function of the step (``batch(step) -> Batch``), so workers can
compute steps ``s+1 .. s+ahead`` while the training loop runs step ``s``, and the batches are the same,
bit for bit, as the source's own: prefetching changes the speed of a run, never its result. That is why
a run may be resumed with a different number of workers.

On a CPU the cores are better spent on the model's arithmetic; on a GPU, a small model's step can be
shorter than drawing its problems (an iGSM-nano step of 96 problems takes ~10 ms of GPU time and ~20 ms of
one core's generator time), and there prefetching is what keeps the device busy.
"""
from __future__ import annotations

import multiprocessing
import os
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from typing import Optional

_SOURCE = None  # the worker's copy of the source (inherited through fork)


def _init_worker(source) -> None:
    global _SOURCE
    _SOURCE = source
    # The worker only runs numpy and Python: one thread each, so workers never oversubscribe the cores.
    import torch

    torch.set_num_threads(1)


def _batch_in_worker(step: int):
    return _SOURCE.batch(step)


def fork_available() -> bool:
    """Workers inherit the source by fork (samplers are closures, which cannot be pickled for 'spawn')."""
    return "fork" in multiprocessing.get_all_start_methods()


def auto_workers(device_type: str, cpu_count: Optional[int] = None) -> int:
    """How many workers a run on ``device_type`` gets by default: none on a CPU (the cores train the
    model), and on an accelerator every core but the one that drives it, at most four. Under torchrun the
    machine's cores are shared by its ranks (LOCAL_WORLD_SIZE)."""
    if device_type == "cpu" or not fork_available():
        return 0
    cores = cpu_count if cpu_count is not None else (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                                     else os.cpu_count() or 1)
    cores //= max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(0, min(4, cores - 1))


class Prefetcher:
    """Wraps a data source: ``batch(step)`` returns the source's batch for that step, computed ahead by
    ``workers`` processes. The source must build its batches on the CPU (every kit source does; the loop
    moves them): a forked worker cannot use CUDA. Steps are expected in increasing order (the training loop's); any other step is
    computed on the spot. Use as a context manager, or call :meth:`close`."""

    def __init__(self, source, workers: int, ahead: Optional[int] = None):
        if workers < 1:
            raise ValueError(f"a Prefetcher needs at least one worker, got {workers}")
        if not fork_available():
            raise RuntimeError("prefetching needs the 'fork' start method, which this platform lacks; use 0 workers")
        self.source, self.workers = source, workers
        self.ahead = ahead or 4 * workers
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                         initializer=_init_worker, initargs=(source,))
        self._pending: "OrderedDict[int, object]" = OrderedDict()
        self._next = None  # the next step to hand to the workers

    def batch(self, step: int):
        if step not in self._pending:
            self._drop_all()
            self._next = step
            self._fill()
        result = self._pending.pop(step)
        # Steps before this one will never be asked for again in a training run.
        for old in [s for s in self._pending if s < step]:
            self._pending.pop(old)
        self._fill()
        return result.result()

    def _fill(self) -> None:
        while len(self._pending) < self.ahead:
            self._pending[self._next] = self._pool.submit(_batch_in_worker, self._next)
            self._next += 1

    def _drop_all(self) -> None:
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()

    def describe(self) -> dict:
        # The same data as the source: a checkpoint written with prefetching resumes without it, and back.
        return self.source.describe() if hasattr(self.source, "describe") else {"kind": type(self.source).__name__}

    def __getattr__(self, name):  # anything else a caller asks the source (steps_for, ...)
        if name in ("source", "_pool", "_pending"):
            raise AttributeError(name)
        return getattr(self.source, name)

    def close(self) -> None:
        pool = self.__dict__.get("_pool")
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
