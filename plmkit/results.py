"""Run folders, manifests and the papers' reference numbers.

A reproduction writes into one folder::

    DIR/manifest.json      how the run was made: command, seed, versions, git commit, device, wall time
    DIR/metrics.json       every number the run measured
    DIR/figures/*.png      ours beside the paper's numbers
    DIR/checkpoints/...    training checkpoints (a killed run resumes from them)

Nothing a user made is overwritten silently: a non-empty folder is refused unless the caller asks
to resume the run in it or to overwrite it, and overwriting only ever removes a plmkit run folder.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from .paths import data_path

MODES = ("new", "resume", "overwrite")


def write_json_atomic(path: Path, data: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")
    os.replace(tmp, path)


def _json_default(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


class RunDir:
    """The output folder of one reproduction."""

    def __init__(self, path: str | Path, mode: str = "new"):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; valid choices: {', '.join(MODES)}")
        self.path = Path(path)
        self.mode = mode
        self._prepare()
        self.started = time.time()

    def _prepare(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise FileExistsError(f"{self.path} exists and is not a folder")
        non_empty = self.path.exists() and any(self.path.iterdir())
        if non_empty and self.mode == "new":
            raise FileExistsError(
                f"output folder {self.path} is not empty. Pass --resume to continue the run saved there, "
                "--overwrite to replace it, or choose another --out."
            )
        if non_empty and self.mode == "overwrite":
            if not (self.path / "manifest.json").exists():
                raise FileExistsError(
                    f"refusing to overwrite {self.path}: it has no manifest.json, so it is not a plmkit run folder "
                    "and may hold your own files. Choose another --out."
                )
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)

    def checkpoint_dir(self, name: str) -> str:
        return str(self.path / "checkpoints" / name)

    def figure_path(self, name: str) -> Path:
        path = self.path / "figures" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def save_figure(self, fig, name: str) -> Path:
        path = self.figure_path(name)
        fig.savefig(path, dpi=120, bbox_inches="tight")
        return path

    def save_metrics(self, metrics: dict) -> Path:
        path = self.path / "metrics.json"
        write_json_atomic(path, metrics)
        return path

    def write_manifest(self, **fields) -> Path:
        manifest = {**run_environment(), **fields, "wall_seconds": round(time.time() - self.started, 2),
                    "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        path = self.path / "manifest.json"
        write_json_atomic(path, manifest)
        return path


def git_commit() -> Optional[str]:
    try:
        root = Path(__file__).resolve().parent.parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _command_line() -> str:
    if not sys.argv:
        return ""
    program = "python -m plmkit" if sys.argv[0].endswith("__main__.py") else Path(sys.argv[0]).name
    return " ".join([program, *sys.argv[1:]])


def run_environment() -> dict:
    import numpy
    import torch

    from . import __version__

    return {
        "command": _command_line(),
        "versions": {"plmkit": __version__, "python": platform.python_version(), "torch": torch.__version__,
                     "numpy": numpy.__version__},
        "git_commit": git_commit(),
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
    }


# ----------------------------------------------------------------------------------------------
# The papers' reference numbers
# ----------------------------------------------------------------------------------------------
def load_reference(name: str) -> dict:
    """The papers' numbers for one part, from ``data/reference/<name>.json``.

    Every entry carries its citation; plots print it beside the number. Exact: a value printed in the paper's text or
    a table, or printed as a number in a figure's cells and checked as such (Part 4.1's cfg cells, Part 2.1's figures);
    its citation names where. Approximate: a value taken from a figure and known only to about a point (read from a
    plotted bar or curve, or figure values the text does not restate). The dict holding an approximate value has
    ``"approximate"`` (``true`` for all its values, or the list of its approximate keys) and ``"figure"`` (the figure it
    was read from, e.g. ``"Fig. 3"``); plots label it "≈ v (read off Fig. N)" (:func:`plmkit.plots.reference_label`).
    Raises ValueError for an unknown name or a malformed file.
    """
    folder = data_path("reference")
    available = sorted(p.stem for p in folder.glob("*.json"))
    if name not in available:
        raise ValueError(f"no reference numbers named {name!r}; available: {', '.join(available)}")
    ref = json.loads((folder / f"{name}.json").read_text())
    problems = list(_approximate_problems(ref, name))
    if problems:
        raise ValueError(f"data/reference/{name}.json: " + "; ".join(problems))
    return ref


def _approximate_problems(node, path: str):
    """Every "approximate" marker needs a "figure", and a list of keys must name keys that exist."""
    if isinstance(node, dict):
        marker = node.get("approximate")
        if marker:
            if not isinstance(node.get("figure"), str) or not node["figure"].startswith("Fig"):
                yield f"{path} is marked approximate but names no figure (\"figure\": \"Fig. N\")"
            if isinstance(marker, list):
                for key in marker:
                    if key not in node:
                        yield f"{path}: approximate key {key!r} is not one of its values"
            elif marker is not True:
                yield f"{path}: \"approximate\" must be true or a list of keys, got {marker!r}"
        if "fig" in node:
            yield f"{path}: \"fig\" is not a reference mark; use \"approximate\" with \"figure\""
        for key, value in node.items():
            yield from _approximate_problems(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _approximate_problems(value, f"{path}[{i}]")


def approximate_figure(entry: dict, key: Optional[str] = None) -> Optional[str]:
    """The figure a reference value was read off (``entry[key]``, or the whole entry), or None if it is printed."""
    if not isinstance(entry, dict):
        return None
    marker = entry.get("approximate")
    if marker is True or (isinstance(marker, list) and key in marker):
        return entry.get("figure")
    return None


def approximate_values(ref: dict) -> list[tuple[str, str]]:
    """(path, figure) of every approximate value or entry of a reference file, for notes and tests."""
    out = []

    def walk(node, path):
        if isinstance(node, dict):
            marker = node.get("approximate")
            if marker is True:
                out.append((path, node["figure"]))
            elif isinstance(marker, list):
                out.extend((f"{path}.{key}", node["figure"]) for key in marker)
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else key)

    walk(ref, "")
    return out
