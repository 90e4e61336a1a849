"""Shared machinery of the exercise checkers."""
from __future__ import annotations

import functools
from typing import Callable

import torch


class ExerciseNotDone(AssertionError):
    """The exercise still contains its stub."""


def checker(name: str):
    """Wrap a check: turn a leftover stub into a clear failure, print the success line."""

    def wrap(check: Callable):
        @functools.wraps(check)
        def run(*args, **kwargs):
            try:
                check(*args, **kwargs)
            except NotImplementedError:
                raise ExerciseNotDone(
                    f"{name}: not implemented yet. Replace the `raise NotImplementedError` line with your code, "
                    "run the cell again, and the checker will tell you how you did."
                ) from None
            print(f"\u2714 {name}: all checks passed.")

        run.exercise = name
        return run

    return wrap


def _assert_close(got: torch.Tensor, expected: torch.Tensor, what: str, atol: float = 1e-5) -> None:
    assert isinstance(got, torch.Tensor), f"{what}: expected a torch.Tensor, got {type(got).__name__}"
    assert got.shape == expected.shape, f"{what}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}"
    if not torch.allclose(got.float(), expected.float(), atol=atol):
        worst = (got.float() - expected.float()).abs().max().item()
        raise AssertionError(f"{what}: values differ from the reference (largest difference {worst:.3g})")
