"""Part 1, inside the model: linear probes for the parse tree and boundary-to-boundary attention.

Both analyses run on *sentence-aligned* inputs ``<bos> x_1 .. x_n <pad> ...`` of fresh sentences, so
token t (0-based) sits at position t+1 and every label comes from the tree that generated it. Labels per
NT level l below the root:

* ``cls[l][t]``: the class of token t's level-l ancestor (the probe target "ancestor");
* ``end[l][t]``: 1 iff token t is the last token of that ancestor's span (the "boundary").

Part 1 finds both linearly encoded in the last layer, the node information sitting on the subtree
boundary, and attention from boundaries to boundaries that resembles dynamic programming [P1 abstract].
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from ...data import cfg
from ...probe import balanced_accuracy, fit_linear_probe, hidden_states, random_init_copy
from .training import padded_inputs

# Evaluation streams of their own (disjoint from training and from the generation measurements).
PROBE_SEED, ATTENTION_SEED = 30_001, 30_002
# The local baseline sees the last 8 tokens and the position: on cfg3f-d4 a lookup table on the last 8
# tokens still gets the highest ancestors wrong more often than right (training.local_predictability).
LOCAL_WINDOW = 8


@dataclass
class ProbeData:
    """Fresh sentences with their labels, flattened to one row per token."""

    sentences: list
    labels: cfg.TreeLabels
    inputs: torch.Tensor  # (N, width) sentence-aligned
    levels: tuple  # probed NT levels (root level excluded)
    sentence_of_token: np.ndarray  # (tokens,)
    position_of_token: np.ndarray  # (tokens,) position in the input (t + 1)

    def cls(self, level: int) -> np.ndarray:
        return self.labels.cls[self.labels.levels.index(level)].astype(np.int64)

    def end(self, level: int) -> np.ndarray:
        return self.labels.end[self.labels.levels.index(level)].astype(np.int64)

    def tokens(self) -> np.ndarray:
        return np.concatenate(self.sentences)


def probe_data(g: cfg.Grammar, n: int, seed: int = PROBE_SEED) -> ProbeData:
    sentences, labels = cfg.sample(g, n, seed, labels=True)
    lengths = np.array([len(s) for s in sentences])
    owner = np.repeat(np.arange(n), lengths)
    position = np.concatenate([np.arange(1, k + 1) for k in lengths])
    return ProbeData(sentences, labels, padded_inputs(g, sentences), tuple(labels.levels[1:]), owner, position)


def probe_levels(g: cfg.Grammar) -> list[int]:
    """NT levels below the root (the root's level is constant and never a target)."""
    return list(range(int(g.level[g.root]) + 1, g.depth))


def token_features(model, data: ProbeData, layer: Optional[int] = None) -> torch.Tensor:
    """(tokens, d) hidden states of one layer (default: the last block's output, before the final norm)."""
    layer = model.config.n_layer if layer is None else layer
    hidden = hidden_states(model, data.inputs, [layer])[layer]
    return hidden[torch.from_numpy(data.sentence_of_token), torch.from_numpy(data.position_of_token)]


def local_features(g: cfg.Grammar, data: ProbeData, window: int = LOCAL_WINDOW) -> torch.Tensor:
    """One-hot codes of the last ``window`` tokens (``<bos>``/none before the start) plus the position.

    What a probe can read from purely local information; the trained model must beat it.
    """
    inputs = data.inputs.numpy()
    rows, pos = data.sentence_of_token, data.position_of_token
    vocab = g.vocab_size
    parts = []
    for back in range(window):
        where = pos - back
        tok = np.where(where >= 0, inputs[rows, np.maximum(where, 0)], 0)
        parts.append(np.eye(vocab, dtype=np.float32)[tok])
    width = inputs.shape[1]
    parts.append(np.eye(width, dtype=np.float32)[pos])
    return torch.from_numpy(np.concatenate(parts, axis=1))


def _split(data: ProbeData, n_train: int) -> tuple[np.ndarray, np.ndarray]:
    train = data.sentence_of_token < n_train
    return train, ~train


def probe_scores(features: torch.Tensor, data: ProbeData, n_train: int, g: cfg.Grammar) -> dict:
    """Ancestor (accuracy) and boundary (balanced accuracy) probes at every level, one feature set.

    The ancestor probe is trained on all training positions and scored on all test positions, on the
    test boundaries only (end = 1), and on the other test positions (end = 0): Part 1 finds the node
    information concentrated on the subtree boundary.
    """
    train, test = _split(data, n_train)
    out = {}
    for level in data.levels:
        cls, end = torch.from_numpy(data.cls(level)), torch.from_numpy(data.end(level))
        n_classes = int(g.level_sizes[level])
        anc = fit_linear_probe(features[train], cls[train], features[test], cls[test], n_classes)
        pred = (features[test] @ anc.weight + anc.bias).argmax(-1)
        right = (pred == cls[test]).float()
        at_end = end[test] == 1
        boundary = balanced_boundary_probe(features[train], end[train], features[test], end[test])
        out[level] = {
            "ancestor": anc.accuracy, "ancestor_majority": anc.majority,
            "ancestor_at_end": right[at_end].mean().item(), "ancestor_not_end": right[~at_end].mean().item(),
            "boundary": boundary, "boundary_rate": end[test].float().mean().item(),
        }
    return out


def balanced_boundary_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
                            test_y: torch.Tensor) -> float:
    """Balanced test accuracy of a logistic-regression boundary probe whose threshold is chosen on the
    training set to maximise balanced accuracy.

    At high levels only a few percent of tokens end a span; an unweighted probe then says "no" almost
    always and its balanced accuracy sits near 0.5 whatever the features hold. Moving the threshold
    (still a linear rule) fixes that without looking at the test set.
    """
    probe = fit_linear_probe(train_x, train_y, test_x, test_y, 2)
    margin = lambda x: (x @ probe.weight + probe.bias) @ torch.tensor([-1.0, 1.0])  # noqa: E731
    train_margin = margin(train_x)
    candidates = torch.quantile(train_margin, torch.linspace(0.01, 0.99, 99))
    scores = [balanced_accuracy((train_margin > c).long(), train_y) for c in candidates]
    threshold = candidates[int(np.argmax(scores))]
    return balanced_accuracy((margin(test_x) > threshold).long(), test_y)


def probe_parse_tree(model, g: cfg.Grammar, n_train: int, n_test: int, seed: int = PROBE_SEED,
                     control_seed: int = 0) -> dict:
    """Last-layer probes of the trained model, its random-init twin and the local baseline."""
    data = probe_data(g, n_train + n_test, seed)
    results = {
        "trained": probe_scores(token_features(model, data), data, n_train, g),
        "random_init": probe_scores(token_features(random_init_copy(model, control_seed), data), data, n_train, g),
        "local": probe_scores(local_features(g, data), data, n_train, g),
    }
    return {"levels": list(data.levels), "n_train": n_train, "n_test": n_test, **results}


def level_name(g: cfg.Grammar, level: int) -> str:
    """'level 3 (h=3)': the NT level in the full grammar, and its height above the terminals."""
    return f"level {level} (h={g.depth - level})"


def level_entry(table: dict, level):
    """``table[level]`` for int keys, or their string form once the report went through JSON."""
    return table[level] if level in table else table[str(level)]


CONTROL_NAMES = {"random_init": "random-init twin", "local": "local baseline"}


def probe_verdicts(report: dict, margin: float) -> list[dict]:
    """Per probed level and target, the trained score against the better of its two controls.

    ``verdict`` is ``"clear"`` (trained at least ``margin`` above both controls), ``"small"`` (above both, by less
    than ``margin``) or ``"none"`` (a control matches or beats the trained model). For the ancestor probe also
    whether the node information sits on the subtree boundary (at end = 1 >= all positions > end = 0).
    """
    out = []
    for level in report["levels"]:
        trained = level_entry(report["trained"], level)
        for key in ("ancestor", "boundary"):
            controls = {name: level_entry(report[name], level)[key] for name in CONTROL_NAMES}
            best = max(controls, key=controls.get)
            gap = trained[key] - controls[best]
            row = {"level": int(level), "target": key, "trained": trained[key], "controls": controls,
                   "better_control": best, "margin": gap,
                   "verdict": "clear" if gap >= margin else ("small" if gap > 0 else "none")}
            if key == "ancestor":
                row.update(majority=trained["ancestor_majority"], at_end=trained["ancestor_at_end"],
                           not_end=trained["ancestor_not_end"],
                           on_boundary=trained["ancestor_at_end"] >= trained["ancestor"] > trained["ancestor_not_end"])
            out.append(row)
    return out


def describe_probes(report: dict, depth: int, margin: float) -> str:
    """The probe results in words, one sentence per level and target, written from the numbers themselves."""
    lines = []
    for v in probe_verdicts(report, margin):
        name = f"level {v['level']} (h={depth - v['level']})"
        what = "NT ancestor (accuracy)" if v["target"] == "ancestor" else "NT boundary (balanced accuracy)"
        control = CONTROL_NAMES[v["better_control"]]
        others = ", ".join(f"{CONTROL_NAMES[k]} {x:.3f}" for k, x in v["controls"].items())
        head = f"{name}, {what}: trained {v['trained']:.3f} ({others})"
        if v["verdict"] == "clear":
            tail = f"clearly above both controls, by {v['margin']:+.3f} over the {control}."
        elif v["verdict"] == "small":
            tail = (f"above both controls but only by {v['margin']:+.3f} over the {control}, less than the {margin:g} "
                    "margin: not a clear result.")
        else:
            tail = (f"the {control} matches or beats the trained model ({v['margin']:+.3f}): this run does not show "
                    "this level linearly encoded beyond what the control reads.")
        lines.append(f"{head}: {tail}")
        if v["target"] == "ancestor":
            where = (f"at boundaries {v['at_end']:.3f}, elsewhere {v['not_end']:.3f}: "
                     + ("the node information is best read at the subtree boundary."
                        if v["on_boundary"] else "not the boundary pattern (at boundaries >= all > elsewhere)."))
            lines.append(f"    {where}")
    verdicts = probe_verdicts(report, margin)
    unclear = sorted({v["level"] for v in verdicts if v["verdict"] != "clear"})
    clear = sorted({v["level"] for v in verdicts} - set(unclear))
    summary = (f"Levels where both probes clearly beat both controls: {', '.join(map(str, clear)) or 'none'}. "
               f"Levels where at least one probe does not: {', '.join(map(str, unclear)) or 'none'}.")
    return "\n".join(lines + [summary])


# ----------------------------------------------------------------------------------------------
# Attention: boundary-to-boundary statistics
# ----------------------------------------------------------------------------------------------
@torch.no_grad()
def attention_maps(model, inputs: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    """(N, layers, heads, T, T) attention weights on sentence-aligned inputs."""
    model.eval()
    chunks = []
    for start in range(0, len(inputs), batch_size):
        out = model(inputs[start:start + batch_size].to(model.device), return_attention=True)
        chunks.append(torch.stack(out.attentions, dim=1).float().cpu())
    return torch.cat(chunks).numpy()


def excess_attention(A: np.ndarray, lengths: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Remove the pure distance effect: E[i, j] = A[i, j] - mean over i' of A[i', i' - (i - j)].

    ``A``: (N, heads, T, T) of one layer; the mean runs over token queries i' of every sentence and
    token keys j' >= 1 (``<bos>`` at position 0 is left out, as in all statistics here). Returns
    (E, baseline (heads, T) indexed by the distance i - j).
    """
    N, H, T, _ = A.shape
    qi = np.arange(T)[:, None]
    kj = np.arange(T)[None, :]
    distance = qi - kj
    lengths = np.asarray(lengths)
    valid = (kj >= 1) & (distance >= 0)
    valid = valid[None] & (qi[None] <= lengths[:, None, None])  # (N, T, T): real token queries only
    sums = np.zeros((H, T))
    counts = np.zeros(T)
    for d in range(T):
        mask = valid & (distance[None] == d)
        counts[d] = mask.sum()
        sums[:, d] = (A * mask[:, None]).sum(axis=(0, 2, 3))
    baseline = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    E = A - baseline[:, np.clip(distance, 0, T - 1)][None]
    return np.where(valid[:, None], E, 0.0), baseline


@dataclass
class BoundaryStats:
    """Per layer and head: B(l, l') - N(l) and the adjacency contrast, with per-sentence sums for bootstrap."""

    levels: list
    contrast: np.ndarray  # (layers, heads, Lq, Lk): B - N
    adjacent: np.ndarray  # (layers, heads, Lq, Lk): excess at the nearest l'-end minus at earlier l'-ends
    sums: dict  # name -> (N, layers, heads, Lq, Lk) per-sentence numerators and counts
    baseline: np.ndarray  # (layers, heads, T): mean attention by distance

    def best_head(self, stat: str = "contrast") -> np.ndarray:
        """(layers, Lq, Lk): the largest value over heads."""
        return getattr(self, stat).max(axis=1)


def _sentence_masks(labels: cfg.SentenceLabels, levels: Sequence[int], width: int):
    """Per level: end flags on positions (token t at t+1); 'no end at all' keys; nearest-end maps."""
    n = labels.end.shape[1]
    ends = np.zeros((len(levels), width))
    for r, level in enumerate(levels):
        ends[r, 1:n + 1] = labels.end[labels.row(level)]
    lowest = labels.end[labels.row(max(labels.levels))]
    plain = np.zeros(width)
    plain[1:n + 1] = 1 - lowest  # tokens that end no NT at all
    strictly_before = np.tril(np.ones((width, width)), -1)
    nearest = np.zeros((len(levels), width, width))
    for r in range(len(levels)):
        cols = np.flatnonzero(ends[r])
        for i in range(1, n + 1):
            earlier = cols[cols < i]
            if len(earlier):
                nearest[r, i, earlier[-1]] = 1
    return ends, plain, strictly_before, nearest


def boundary_attention(model, g: cfg.Grammar, n: int, seed: int = ATTENTION_SEED) -> BoundaryStats:
    """For boundary queries (end[l](i) = 1) and earlier keys j: excess attention to level-l' ends
    versus to tokens that end nothing (B - N), and to the nearest l'-end versus earlier l'-ends."""
    sentences, labels = cfg.sample(g, n, seed, labels=True)
    maps = attention_maps(model, padded_inputs(g, sentences))  # (N, L, H, T, T)
    return boundary_statistics(maps, labels, probe_levels(g))


def boundary_statistics(maps: np.ndarray, labels: cfg.TreeLabels, levels: Sequence[int]) -> BoundaryStats:
    """The statistics of :func:`boundary_attention` from attention maps (N, layers, heads, T, T) of
    sentence-aligned inputs and the sentences' labels."""
    N, L, H, T, _ = maps.shape
    lengths = [labels[s].end.shape[1] for s in range(N)]
    Lq = len(levels)
    names = ("b_sum", "b_cnt", "n_sum", "n_cnt", "near_sum", "near_cnt", "far_sum", "far_cnt")
    sums = {k: np.zeros((N, L, H, Lq, Lq)) for k in names}
    baselines = np.zeros((L, H, T))
    excess = []
    for layer in range(L):
        E, baselines[layer] = excess_attention(maps[:, layer], lengths)
        excess.append(E.astype(np.float32))
    for s in range(N):
        ends, plain, before, nearest = _sentence_masks(labels[s], levels, T)
        far = ends[:, None, :] * before[None] - nearest  # (Lk, T, T): earlier l'-ends, not the nearest
        key_counts = before @ ends.T  # (T, Lk): l'-ends before each query
        for layer in range(L):
            E = excess[layer][s] * before  # (H, T, T) keys strictly before the query
            key_sums = np.einsum("hij,kj->hik", E, ends)  # (H, T, Lk)
            plain_sums = E @ plain  # (H, T)
            near_sums = np.einsum("hij,kij->hik", E, nearest)
            far_sums = np.einsum("hij,kij->hik", E, far)
            for qi, q in enumerate(ends):  # query level l
                sums["b_sum"][s, layer, :, qi] = q @ key_sums
                sums["b_cnt"][s, layer, :, qi] = q @ key_counts
                sums["n_sum"][s, layer, :, qi] = (q @ plain_sums.T)[:, None]
                sums["n_cnt"][s, layer, :, qi] = q @ (before @ plain)
                sums["near_sum"][s, layer, :, qi] = q @ near_sums
                sums["near_cnt"][s, layer, :, qi] = q @ nearest.sum(-1).T
                sums["far_sum"][s, layer, :, qi] = q @ far_sums
                sums["far_cnt"][s, layer, :, qi] = q @ far.sum(-1).T
    contrast, adjacent = _statistics(sums, np.arange(N))
    return BoundaryStats(list(levels), contrast, adjacent, sums, baselines)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.where(den > 0, num / np.maximum(den, 1e-12), np.nan)


def _statistics(sums: dict, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    total = {k: v[rows].sum(0) for k, v in sums.items()}
    contrast = _ratio(total["b_sum"], total["b_cnt"]) - _ratio(total["n_sum"], total["n_cnt"])
    adjacent = _ratio(total["near_sum"], total["near_cnt"]) - _ratio(total["far_sum"], total["far_cnt"])
    return contrast, adjacent


def bootstrap(stats: BoundaryStats, resamples: int = 200, seed: int = 0) -> dict:
    """95% intervals over sentences for the best head of each layer (max over heads is taken inside
    every resample, so the interval includes the selection)."""
    rng = np.random.default_rng(seed)
    N = next(iter(stats.sums.values())).shape[0]
    draws = {"contrast": [], "adjacent": []}
    with warnings.catch_warnings():  # a level with no earlier ends in a resample gives NaN: it stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        for _ in range(resamples):
            contrast, adjacent = _statistics(stats.sums, rng.integers(0, N, N))
            draws["contrast"].append(np.nanmax(contrast, axis=1))
            draws["adjacent"].append(np.nanmax(adjacent, axis=1))
        return {k: np.nanpercentile(np.stack(v), [2.5, 97.5], axis=0) for k, v in draws.items()}


def attention_summary(stats: BoundaryStats, intervals: dict) -> dict:
    """The headline numbers: per layer, the diagonal (l = l') contrast and adjacency of the best head."""
    best_c, best_a = stats.best_head("contrast"), stats.best_head("adjacent")
    out = {}
    for layer in range(best_c.shape[0]):
        out[f"layer{layer + 1}"] = {
            "contrast_diag": np.diagonal(best_c[layer]).tolist(),
            "contrast_diag_ci": np.diagonal(intervals["contrast"][:, layer], axis1=1, axis2=2).tolist(),
            "adjacent_diag": np.diagonal(best_a[layer]).tolist(),
            "adjacent_diag_ci": np.diagonal(intervals["adjacent"][:, layer], axis1=1, axis2=2).tolist(),
        }
    return {"levels": stats.levels, "per_layer": out}
