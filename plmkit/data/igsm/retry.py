"""Retry data [P2.2 §4, §6]: solutions with mistakes that are at once retracted with ``[BACK]``.

Before every solution sentence j, with probability r, write ``Define W as [BACK].`` for a wrong
parameter W, again with probability r (r^2 for two, ...), never the same W twice at one place; then
write the correct sentence j. Expected insertions per step: r / (1 - r).

* ``retry``: W is uniform among the parameters of U that cannot be computed next and have not been
  defined yet [P2.2 §4, Fig. 4a]: a real mistake.
* ``retry_weak``: W is a parameter of a later step of the correct solution [P2.2 §6, eq. (6.1)]; no
  understanding of the problem is needed. ``weak_variant="later"`` (default) draws from the steps
  strictly after the next one; ``"remaining"`` also allows the correct next step itself.
* ``retry_miss``: W is uniform among the parameters named in the problem text, not defined yet.

``mask_wrong`` hides the wrong parameter's name from the loss ("Define", "as", "[BACK]" and "." keep
theirs) [P2.2 §4].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from plmkit.data.igsm.problem import Problem, _check_choice
from plmkit.data.igsm.rand import Draws

RETRY_KINDS = ("retry", "retry_weak", "retry_miss")
WEAK_VARIANTS = ("later", "remaining")


@dataclass
class RetrySolution:
    """Solution tokens with retries; ``wrong_positions`` index the wrong names' tokens."""

    tokens: list[str]
    wrong_positions: list[int]
    inserted: list[tuple[int, int]]  # (step j, wrong parameter W)
    mask_wrong: bool = False
    kind: str = "retry"

    @property
    def retries(self) -> int:
        return len(self.inserted)

    @property
    def mask(self) -> Optional[list[bool]]:
        """Per solution token: True where the loss is hidden (only with ``mask_wrong``)."""
        if not self.mask_wrong:
            return None
        hidden = set(self.wrong_positions)
        return [i in hidden for i in range(len(self.tokens))]


def wrong_candidates(problem: Problem, j: int, kind: str = "retry", weak_variant: str = "later") -> list[int]:
    """Parameters that may be retracted right before solution step j (0-based)."""
    known = set(problem.order[:j])
    if kind == "retry":
        return [p for p in problem.universe
                if p not in known and not all(q in known for q in problem.preds_of(p))]
    if kind == "retry_weak":
        start = j + 1 if weak_variant == "later" else j
        return list(problem.order[start:])
    named = named_params(problem)
    return [p for p in named if p not in known]


def named_params(problem: Problem) -> list[int]:
    """Parameters whose names appear in the problem sentences, in id order."""
    seen = set()
    for p in problem.sentence_order:
        seen.add(p)
        seen.update(problem.exprs[p].preds)
    return sorted(seen)


def retry_solution(problem: Problem, rng: Optional[np.random.Generator] = None, rate: float = 0.2,
                   kind: str = "retry", weak_variant: str = "later", mask_wrong: bool = False,
                   draws: Optional[Draws] = None) -> RetrySolution:
    """The problem's solution with retries inserted at ``rate``; the same rng state gives the same output."""
    _check_choice("kind", kind, RETRY_KINDS)
    _check_choice("weak_variant", weak_variant, WEAK_VARIANTS)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"rate must lie in [0, 1), got {rate}")
    draws = draws or Draws(rng if rng is not None else np.random.default_rng())
    tokens: list[str] = []
    wrong_positions: list[int] = []
    inserted: list[tuple[int, int]] = []
    for j, sentence in enumerate(problem.solution_sentences):
        if rate > 0 and draws.coin(rate):
            candidates = wrong_candidates(problem, j, kind, weak_variant)
            while candidates:
                w = candidates.pop(draws.below(len(candidates)))
                wrong_positions.extend(range(len(tokens) + 1, len(tokens) + 4))
                tokens += ["Define"] + problem.name_tokens(w) + ["as", "[BACK]", "."]
                inserted.append((j, w))
                if not draws.coin(rate):
                    break
        tokens += sentence
    return RetrySolution(tokens, wrong_positions, inserted, mask_wrong, kind)


def strip_retries(tokens: list[str]) -> list[str]:
    """Remove every ``Define <name> as [BACK] .`` sentence (what the checker skips)."""
    out: list[str] = []
    sentence: list[str] = []
    for t in tokens:
        sentence.append(t)
        if t == ".":
            if not (len(sentence) == 7 and sentence[0] == "Define" and sentence[4:6] == ["as", "[BACK]"]):
                out += sentence
            sentence = []
    return out + sentence
