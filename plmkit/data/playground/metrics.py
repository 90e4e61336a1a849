"""Teacher-forced answer accuracy for packed evaluation windows [P4.1 App. A.1, A.4].

Evaluation packs whole instances into windows exactly as training does, runs the model once over each
window, and compares the argmax prediction with every **answer token**. The answer marker (``<ans>``,
or copy's ``<query>``) is a training target but never counted: predicting it is trivial and would
inflate accuracy. Later tokens of a multi-token answer are predicted with the correct earlier tokens
in the input, so token accuracy exceeds whole-answer accuracy; both are reported, broken down by each
answer's group (k hops for Depo, l operations for Mano).

    windows = pack_for_eval(instances, context)
    predicted = teacher_forced_predictions(model, windows)       # or any (W, C) array of token ids
    result = score(windows, predicted)                            # result.by_group[k].token_accuracy
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from ..packing import Batch, Example, pack_windows, windows_to_batch
from .common import Instance
from .vocab import BOS


@dataclass
class EvalWindows:
    """Packed evaluation windows; every (W, C) array is aligned with ``targets`` (position t predicts t+1).

    ``answer_id`` numbers the answers of the whole set (-1 off answers), ``group`` is the answer's group,
    ``offset`` a token's index inside its answer (0 = first token), ``instance`` the instance index.
    """

    tokens: np.ndarray
    answer_id: np.ndarray
    group: np.ndarray
    offset: np.ndarray
    instance: np.ndarray

    @property
    def inputs(self) -> np.ndarray:
        return self.tokens[:, :-1]

    @property
    def targets(self) -> np.ndarray:
        return self.tokens[:, 1:]

    @property
    def answer_mask(self) -> np.ndarray:
        return self.answer_id >= 0

    def batch(self) -> Batch:
        """A :class:`~plmkit.data.packing.Batch` whose weights are 1 exactly on the answer tokens."""
        return windows_to_batch(self.tokens, np.concatenate(
            [np.zeros((len(self.tokens), 1), np.float32), self.answer_mask.astype(np.float32)], axis=1))


def _label_arrays(inst: Instance, answer_base: int, index: int) -> dict[str, np.ndarray]:
    """Per-token labels of one instance, shifted by +1 so that 0 means "not an answer token"."""
    size = len(inst.tokens)
    labels = {name: np.zeros(size, np.float64) for name in ("answer_id", "group", "offset")}
    for j, a in enumerate(inst.answers):
        labels["answer_id"][a.start:a.stop] = answer_base + j + 1
        labels["group"][a.start:a.stop] = a.group + 1
        labels["offset"][a.start:a.stop] = np.arange(a.stop - a.start) + 1
    labels["instance"] = np.full(size, index + 1, np.float64)
    return labels


def pack_for_eval(instances: Sequence[Instance], context: int) -> EvalWindows:
    """Pack instances whole and left-aligned, as training does, and record where every answer token lands.

    The labels ride through :func:`~plmkit.data.packing.pack_windows` as if they were loss weights, so
    they land exactly where the packer puts the tokens.
    """
    per_instance, base = [], 0
    for i, inst in enumerate(instances):
        per_instance.append(_label_arrays(inst, base, i))
        base += len(inst.answers)
    if base >= 2 ** 24:  # labels travel as float32
        raise ValueError(f"too many answers for one evaluation set ({base}); split it")
    tokens, _, _ = pack_windows([Example(inst.tokens[1:]) for inst in instances], context, BOS, truncate=False)
    packed = {}
    for name in ("answer_id", "group", "offset", "instance"):
        examples = [Example(inst.tokens[1:], labels[name][1:], end_weight=0.0)
                    for inst, labels in zip(instances, per_instance)]
        _, values, _ = pack_windows(examples, context, BOS, truncate=False)
        packed[name] = values[:, 1:].astype(np.int64) - 1
    return EvalWindows(tokens, **packed)


@dataclass
class Accuracy:
    token_accuracy: float
    answer_accuracy: float
    tokens: int
    answers: int

    def to_dict(self) -> dict:
        return {"token_accuracy": self.token_accuracy, "answer_accuracy": self.answer_accuracy,
                "tokens": self.tokens, "answers": self.answers}


@dataclass
class AnswerScores(Accuracy):
    by_group: dict[int, Accuracy] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {**super().to_dict(), "by_group": {int(g): a.to_dict() for g, a in self.by_group.items()}}


def _accuracy(correct: np.ndarray, answer_id: np.ndarray) -> Accuracy:
    """Token accuracy over the given answer tokens; an answer counts when all its tokens are right."""
    if correct.size == 0:
        return Accuracy(float("nan"), float("nan"), 0, 0)
    ids, inverse = np.unique(answer_id, return_inverse=True)
    wrong = np.bincount(inverse, weights=~correct, minlength=len(ids))
    return Accuracy(float(correct.mean()), float((wrong == 0).mean()), int(correct.size), int(len(ids)))


def score(windows: EvalWindows, predicted, max_offset: Optional[int] = None) -> AnswerScores:
    """Accuracy of ``predicted`` (W, C) token ids against the answer tokens only, overall and per group.

    ``max_offset=t`` scores only the first t tokens of every answer (copy's "first t tokens copied").
    """
    predicted = np.asarray(predicted)
    if predicted.shape != windows.targets.shape:
        raise ValueError(f"predictions have shape {predicted.shape}; the windows' targets have {windows.targets.shape}")
    mask = windows.answer_mask
    if max_offset is not None:
        mask = mask & (windows.offset < max_offset)
    correct = (predicted == windows.targets)[mask]
    answer_id, group = windows.answer_id[mask], windows.group[mask]
    overall = _accuracy(correct, answer_id)
    by_group = {int(g): _accuracy(correct[group == g], answer_id[group == g]) for g in np.unique(group)}
    return AnswerScores(overall.token_accuracy, overall.answer_accuracy, overall.tokens, overall.answers, by_group)


def teacher_forced_predictions(model, windows: EvalWindows, batch_size: int = 64, device=None) -> np.ndarray:
    """Argmax next-token predictions of a model (``model(x).logits``) over every window position."""
    import torch

    device = device or next(model.parameters()).device
    out = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for lo in range(0, len(windows.tokens), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(windows.inputs[lo:lo + batch_size])).to(device)
            out.append(model(x).logits.argmax(-1).cpu().numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros(windows.targets.shape, np.int64)
