"""Targets tables: what a run was expected to show, what it measured, met or missed.

Every part's ``check_targets(metrics, profile)`` returns a list of :class:`Target` rows; ``reproduce``
writes them into ``metrics.json`` and prints them, and every lab ends with the same table. A missed row
is reported with its reason, never hidden and never loosened. A "the model cannot do X" row counts only
beside a control row (same model, same budget) where a closely related task works: name the control in
``note``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Optional, Sequence


@dataclass(frozen=True)
class Target:
    name: str
    measured: Optional[float]  # None when the run did not measure it (then ``met`` is None too)
    threshold: str  # human-readable bound, e.g. ">= 0.70"
    met: Optional[bool]
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def at_least(name: str, measured: Optional[float], bound: float, note: str = "") -> Target:
    met = None if measured is None else bool(measured >= bound)
    return Target(name, _number(measured), f">= {bound:g}", met, note)


def at_most(name: str, measured: Optional[float], bound: float, note: str = "") -> Target:
    met = None if measured is None else bool(measured <= bound)
    return Target(name, _number(measured), f"<= {bound:g}", met, note)


def between(name: str, measured: Optional[float], low: float, high: float, note: str = "") -> Target:
    met = None if measured is None else bool(low <= measured <= high)
    return Target(name, _number(measured), f"in [{low:g}, {high:g}]", met, note)


def holds(name: str, condition: Optional[bool], measured: Optional[float] = None, threshold: str = "true",
          note: str = "") -> Target:
    """A yes/no target (e.g. an ordering), with the number it was decided on when there is one."""
    return Target(name, _number(measured), threshold, None if condition is None else bool(condition), note)


def _number(value) -> Optional[float]:
    return None if value is None else round(float(value), 6)


def as_dicts(targets: Iterable[Target]) -> list[dict]:
    return [t.to_dict() for t in targets]


def summary(targets: Sequence[Target]) -> str:
    met = sum(t.met is True for t in targets)
    missed = sum(t.met is False for t in targets)
    return f"{met} met, {missed} missed" + (f", {len(targets) - met - missed} not measured" if met + missed < len(targets) else "")


def format_table(targets: Sequence[Target]) -> str:
    """A plain-text table for terminals and notebooks."""
    rows = [("target", "measured", "threshold", "result", "note")]
    for t in targets:
        result = {True: "met", False: "MISSED", None: "not measured"}[t.met]
        measured = "-" if t.measured is None else f"{t.measured:.4g}"
        rows.append((t.name, measured, t.threshold, result, t.note))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r[:4], widths)) + ("  " + r[4] if r[4] else "") for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines + [summary(targets)])
