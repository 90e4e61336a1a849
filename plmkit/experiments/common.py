"""What every experiment shares: the run context, per-profile settings and small helpers.

The run context is the one carrier of "how big and where": its ``profile`` picks each part's settings
(:meth:`RunContext.pick`), and :meth:`RunContext.train_config` turns a run's optimiser choices into a
:class:`~plmkit.train.TrainConfig` with the context's seed, device, threads, checkpoints and progress bar.
Experiment functions take the context, never a profile string, so a notebook and the command line that
built the same context run exactly the same thing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, TypeVar

from ..profiles import PROFILES, describe, get_profile, set_threads
from ..results import RunDir
from ..train import History, TrainConfig

T = TypeVar("T")


@dataclass
class RunContext:
    """Where and how an experiment runs.

    ``profile`` defaults to ``$PLMKIT_PROFILE`` (else gpu with CUDA, cpu without). ``run_dir`` is None in
    notebooks (nothing written to disk, figures shown inline) and a :class:`~plmkit.results.RunDir` on the
    command line (metrics, figures and checkpoints saved; a killed run resumes from them).
    """

    profile: str = ""
    seed: int = 0
    device: Optional[str] = None
    threads: Optional[int] = None
    run_dir: Optional[RunDir] = None
    progress: bool = True

    def __post_init__(self):
        self.profile = get_profile(self.profile or None)

    def pick(self, table: Mapping[str, T]) -> T:
        """The entry of a per-profile table (``{"ci": ..., "cpu": ..., "gpu": ...}``) for this run."""
        missing = [p for p in PROFILES if p not in table]
        if missing:
            raise KeyError(f"profile table lacks entries for {missing}")
        return table[self.profile]

    def checkpoint_dir(self, name: str) -> Optional[str]:
        return self.run_dir.checkpoint_dir(name) if self.run_dir else None

    def train_config(self, name: str, *, steps: int, lr: float, checkpoint_every: int = 500, desc: Optional[str] = None,
                     **optimiser) -> TrainConfig:
        """The TrainConfig of one training run called ``name`` in this context.

        ``optimiser`` holds the run's own choices (schedule, warmup_steps, weight_decay, ...). Checkpoints are
        written only when the run has a folder, under ``checkpoints/<name>``, so a resumed command-line run
        finds them again.
        """
        return TrainConfig(steps=steps, lr=lr, seed=self.seed, device=self.device, threads=self.threads,
                           checkpoint_dir=self.checkpoint_dir(name),
                           checkpoint_every=checkpoint_every if self.run_dir else 0,
                           progress=self.progress, desc=desc or name, **optimiser)

    def save_figure(self, fig, name: str) -> None:
        if self.run_dir is not None:
            self.run_dir.save_figure(fig, name)
            import matplotlib.pyplot as plt

            plt.close(fig)


def start_lab(seed: int = 0, threads: Optional[int] = None) -> RunContext:
    """What every lab runs after its imports: returns the lab's run context.

    Hides library ``UserWarning``s a student cannot act on, sets torch's CPU threads on purpose
    (:func:`plmkit.profiles.set_threads`) and prints the one-line summary of profile, device and threads,
    so a graded notebook shows what it ran on. The profile comes from ``$PLMKIT_PROFILE``.
    """
    import warnings

    warnings.filterwarnings("ignore", category=UserWarning)
    set_threads(threads)
    print(describe())
    return RunContext(seed=seed, threads=threads)


def history_summary(history: History) -> dict:
    """The few numbers of a training run that metrics files keep."""
    return {"steps": history.steps, "tokens": history.tokens, "final_loss": history.final_loss,
            "seconds": round(history.seconds, 1)}


def percent(x: float) -> float:
    return 100.0 * float(x)


def arms_from_environment(variable: str, valid: Iterable[str], default: tuple) -> tuple:
    """The arms a checkpoint trainer runs: those named (comma-separated) by ``$variable``, else ``default``.
    An unknown name is an error that lists the valid ones."""
    import os

    chosen = os.environ.get(variable)
    if not chosen:
        return default
    valid = tuple(valid)
    arms = tuple(a.strip() for a in chosen.split(",") if a.strip())
    unknown = [a for a in arms if a not in valid]
    if unknown:
        raise ValueError(f"unknown arms {unknown} in {variable}; valid: {', '.join(valid)}")
    return arms
