"""Shipped checkpoints: models trained once by the kit's own commands, loaded by the labs.

Some runs are too long for a lab's ``cpu`` budget (an hour or more on a laptop), so the kit trains them
once with ``python -m plmkit reproduce <part>`` and ships the weights. One format for every part::

    data/checkpoints/<group>/<name>.pt      {"format", "model_config", "dtype", "model": state dict}
    data/checkpoints/<group>/<name>.json    the sidecar: how it was made, its training and data settings,
                                            its training history, what it measured
    data/checkpoints/<group>/manifest.json  the command that made the group, and a sha256 per file

``name`` may contain slashes (``cfg3f-d4/mini/rope``). :func:`load` checks the weights against the
manifest's checksum before building the model, so a truncated or edited file is an error, not a silently
different lab. :func:`save` writes weights (optionally rounded to fp16, half the size) and sidecar, then
records both in the manifest.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Optional

import torch

from ..model import GPT, GPTConfig
from ..paths import data_root
from ..profiles import pick_device
from ..results import write_json_atomic

FORMAT = "plmkit-shipped-v1"


def root() -> Path:
    return data_root() / "checkpoints"


def names(group: str, folder: Optional[Path] = None) -> list[str]:
    base = (folder or root()) / group
    return sorted(str(p.relative_to(base).with_suffix("")) for p in base.rglob("*.pt")) if base.is_dir() else []


def paths(group: str, name: str, folder: Optional[Path] = None) -> tuple[Path, Path]:
    """The weights and sidecar files of one shipped checkpoint."""
    base = (folder or root()) / group / name
    return base.with_name(base.name + ".pt"), base.with_name(base.name + ".json")


def fp16_roundtrip(model: GPT) -> GPT:
    """The model with its weights rounded to fp16 and back: exactly what a checkpoint saved with ``half=True``
    holds, so evaluating it measures what ships."""
    copy = GPT(model.config)
    copy.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in model.state_dict().items()})
    return copy.eval()


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_manifest(group: str, folder: Optional[Path] = None) -> dict:
    path = (folder or root()) / group / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {"files": {}}


def save(model: GPT, group: str, name: str, sidecar: dict, *, made_by: str, half: bool = False,
         folder: Optional[Path] = None) -> Path:
    """Write ``<name>.pt`` and ``<name>.json`` under ``<folder or data/checkpoints>/<group>`` and record
    their checksums (and ``made_by``, the command that trained them) in the group's manifest."""
    weights, card = paths(group, name, folder)
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.half() if half and v.is_floating_point() else v for k, v in model.state_dict().items()}
    torch.save({"format": FORMAT, "model_config": model.config.to_dict(), "dtype": "float16" if half else "float32",
                "model": state}, weights)
    card.write_text(json.dumps(sidecar, indent=2, default=_json_default) + "\n")
    manifest = read_manifest(group, folder)
    manifest["made_by"] = made_by
    for path in (weights, card):
        key = str(path.relative_to((folder or root()) / group))
        manifest["files"][key] = {"sha256": sha256(path), "bytes": path.stat().st_size}
    write_json_atomic((folder or root()) / group / "manifest.json", manifest)
    return weights


def verify(group: str, name: str, folder: Optional[Path] = None) -> None:
    """Raise ValueError unless both files of a shipped checkpoint match the manifest's checksums."""
    manifest = read_manifest(group, folder)
    for path in paths(group, name, folder):
        key = str(path.relative_to((folder or root()) / group))
        expected = manifest["files"].get(key, {}).get("sha256")
        if expected is None:
            raise ValueError(f"{path} is not listed in {group}/manifest.json; it is not a shipped checkpoint")
        if sha256(path) != expected:
            raise ValueError(f"{path} does not match the checksum in {group}/manifest.json: the file was changed or "
                             "truncated. Restore it from the repository (git checkout -- data/checkpoints).")


def load(group: str, name: str, device: Optional[str] = None, folder: Optional[Path] = None) -> tuple[GPT, dict]:
    """A shipped checkpoint as an fp32 model in eval mode, and its sidecar; checksums verified first."""
    weights, card = paths(group, name, folder)
    if not weights.exists():
        available = ", ".join(names(group, folder)) or "none"
        raise ValueError(f"no shipped checkpoint {name!r} in {group!r}; available: {available}")
    verify(group, name, folder)
    state = torch.load(weights, map_location="cpu", weights_only=False)
    if state.get("format") != FORMAT:
        raise ValueError(f"{weights} is not a plmkit shipped checkpoint (format {state.get('format')!r})")
    model = GPT(GPTConfig(**state["model_config"]))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state["model"].items()})
    return model.to(pick_device(device)).eval(), json.loads(card.read_text())


def _json_default(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
