"""What every experiment shares: the run context and small helpers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..profiles import get_profile
from ..results import RunDir


@dataclass
class RunContext:
    """Where and how an experiment runs.

    ``run_dir`` is None in notebooks (nothing written to disk, figures shown inline) and a
    :class:`~plmkit.results.RunDir` on the command line (metrics, figures and checkpoints saved).
    """

    profile: str = ""
    seed: int = 0
    device: Optional[str] = None
    threads: Optional[int] = None
    run_dir: Optional[RunDir] = None
    progress: bool = True

    def __post_init__(self):
        self.profile = get_profile(self.profile or None)

    def checkpoint_dir(self, name: str) -> Optional[str]:
        return self.run_dir.checkpoint_dir(name) if self.run_dir else None

    def save_figure(self, fig, name: str) -> None:
        if self.run_dir is not None:
            self.run_dir.save_figure(fig, name)
            import matplotlib.pyplot as plt

            plt.close(fig)
