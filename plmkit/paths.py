"""Where plmkit finds the small data files it ships (grammars, name pools, reference numbers).

In a git checkout (or an editable install) they live in the top-level ``data/`` folder.
A regular ``pip install`` copies that folder into the package as ``plmkit/_data``.
"""
from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_CANDIDATES = (_PACKAGE_DIR.parent / "data", _PACKAGE_DIR / "_data")


def data_root() -> Path:
    """The folder that holds plmkit's shipped data."""
    for candidate in _CANDIDATES:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "plmkit's data folder is missing; looked in " + ", ".join(str(c) for c in _CANDIDATES)
        + ". Reinstall plmkit (pip install -e .) from a full checkout."
    )


def data_path(*parts: str) -> Path:
    """Path of a shipped data file, e.g. ``data_path("grammars", "cfg3f.txt")``."""
    path = data_root().joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"plmkit data file not found: {path}")
    return path
