"""The lab 01 checkers (plmkit.checks.cfg): each accepts the reference solution and rejects at least three plausible
wrong implementations, with a message that names the mistake. (That every checker passes the lab's own solution and
fails on its stub is tested once for all labs in tests/test_checks.py.)"""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from plmkit import checks
from plmkit.checks import cfg as cfg_checks
from plmkit.data import cfg
from plmkit.experiments import cfg as part1

from test_checks import exercise_cells

torch.set_num_threads(1)
G2, G3 = cfg.Grammar.load("cfg3f-d2"), cfg.Grammar.load("cfg3f-d3")


def rejects(check, fn, fragment):
    with pytest.raises(AssertionError, match=fragment):
        check(fn)


def test_lab_01_has_at_least_five_graded_exercises_with_difficulty_importance_time_and_hints():
    cells = list(exercise_cells("01_cfg"))
    assert len(cells) >= 5
    from plmkit import labs

    source = "\n".join(c.source for c in labs.render("01_cfg", "solution").cells if c.cell_type == "markdown")
    blocks = source.split("### Exercise ")[1:]
    assert len(blocks) == len(cells)
    for block in blocks:
        header = block.split("<details>")[0]
        assert "**Difficulty:**" in header and "/ 3" in header and "**Importance:**" in header and "**Time:**" in header
        assert "<details><summary>Hint" in block


# --- exercise 1: sampling -----------------------------------------------------------------------
def sampler(rules, root, rng, mistake=""):
    options = rules[root]
    if mistake == "off by one":
        rule = options[rng.integers(max(len(options) - 1, 1))]
    elif mistake == "first rule":
        rule = options[0 if rng.random() < 0.7 else rng.integers(len(options))]
    else:
        rule = options[rng.integers(len(options))]
    if mistake == "one level":
        return list(rule)
    out = []
    for child in rule:
        out.extend(sampler(rules, child, rng, mistake) if child in rules else [child])
    return out


def test_sampler_checker_catches_invalid_sentences():
    rejects(checks.cfg_sampler, lambda rules, root, rng: sampler(rules, root, rng)[::-1] + [1], "cannot derive")


def test_sampler_checker_accepts_the_reference_and_its_tolerance_is_calibrated():
    from collections import Counter

    checks.cfg_sampler(sampler)
    support = cfg.enumerate_sentences(G2)
    rules = {a: list(r) for a, r in G2.rules.items()}
    rng = np.random.default_rng(11)
    counts = Counter(tuple(sampler(rules, G2.root, rng)) for _ in range(cfg_checks.SAMPLER_DRAWS))
    tv = 0.5 * sum(abs(counts.get(s, 0) / cfg_checks.SAMPLER_DRAWS - float(p)) for s, (p, _) in support.items())
    assert tv < 0.08 < cfg_checks.SAMPLER_MAX_TV


@pytest.mark.parametrize("mistake,fragment", [
    ("first rule", "frequencies are off"),
    ("one level", "non-terminal id"),
    ("off by one", "never chosen"),
])
def test_sampler_checker_names_the_mistake(mistake, fragment):
    rejects(checks.cfg_sampler, lambda rules, root, rng: sampler(rules, root, rng, mistake), fragment)


# --- exercise 2: membership -----------------------------------------------------------------------
def membership(rules, root, x, mistake=""):
    n = len(x)
    if n == 0:
        return mistake == "empty"
    table = {(i, i + 1): {t} for i, t in enumerate(x)}

    def fits(rule, i, j):
        if len(rule) == 1:
            return rule[0] in table.get((i, j), ())
        return any(rule[0] in table.get((i, m), ()) and fits(rule[1:], m, j) for m in range(i + 1, j))

    top = n if mistake != "short loop" else n - 1
    for length in range(2, top + 1):
        for i in range(n - length + 1):
            table[(i, i + length)] = {a for a, options in rules.items()
                                      if any(fits(r, i, i + length) for r in options if mistake != "binary" or len(r) == 2)}
    if mistake == "prefix":
        return any(root in table.get((0, j), ()) for j in range(1, n + 1))
    return root in table.get((0, n), ())


def test_membership_checker_accepts_the_reference():
    checks.cfg_membership(membership)


@pytest.mark.parametrize("mistake,fragment", [
    ("binary", "ternary rule"),
    ("prefix", "proper prefix"),
    ("short loop", "rejects every sentence"),
    ("empty", "empty"),
])
def test_membership_checker_names_the_mistake(mistake, fragment):
    rejects(checks.cfg_membership, lambda rules, root, x: membership(rules, root, x, mistake), fragment)


def test_membership_checker_catches_partial_parsers():
    rejects(checks.cfg_membership, lambda rules, root, x: 8 <= len(x) <= 27, "cannot derive")
    rejects(checks.cfg_membership, lambda rules, root, x: cfg.accepts(G3, x) and len(x) % 2 == 0, "rejects")


# --- exercise 3: the exact entropy floor -----------------------------------------------------------
def floor_dp(rules, root, mistake=""):
    """A student's version, written independently of the checker's."""
    memo = {}

    def stats(a):  # (entropy, expected length)
        if a not in rules:
            return 0.0, 1.0
        if a not in memo:
            k = len(rules[a])
            h = 0.0 if mistake == "no rule choice" else math.log(k)
            length = 0.0
            for rule in rules[a]:
                for child in rule:
                    hc, lc = stats(child)
                    h += hc if mistake == "summed rules" else hc / k
                    length += lc if mistake == "summed rules" else lc / k
            memo[a] = (h, length)
        return memo[a]

    h, n = stats(root)
    if mistake == "bits":
        h /= math.log(2)
    return h / (n if mistake == "no eos" else n + 1)


def test_entropy_floor_checker_accepts_the_reference_which_matches_plmkit():
    cfg_checks.cfg_entropy_floor(floor_dp)
    for name in cfg_checks.FLOOR_GRAMMARS:
        g = cfg.Grammar.load(name)
        assert floor_dp(g.rules, g.root) == pytest.approx(cfg.exact_entropy_floor(g).value, rel=1e-12)
    toy = cfg.Grammar.from_text("# toy: 2 rewriting levels; symbols per level (root first) [1, 2, 2]; terminals 1..2\n"
                                + "\n".join(f"{a} -> " + " | ".join(" ".join(map(str, r)) for r in rs)
                                            for a, rs in sorted(cfg_checks.TOY_RULES.items(), reverse=True)))
    exact = cfg.exact_entropy_floor(toy)
    assert exact.unambiguous and exact.value == pytest.approx((2 * math.log(2) + 1.5 * math.log(3)) / 6.5, rel=1e-12)


@pytest.mark.parametrize("mistake,fragment", [
    ("no eos", "E\\[n\\] \\+ 1"),
    ("no rule choice", "own rule choice"),
    ("bits", "nats"),
    ("summed rules", "average"),
])
def test_entropy_floor_checker_names_the_mistake(mistake, fragment):
    rejects(cfg_checks.cfg_entropy_floor, lambda rules, root: floor_dp(rules, root, mistake), fragment)


def test_entropy_floor_checker_explains_an_unrecognised_error():
    rejects(cfg_checks.cfg_entropy_floor, lambda rules, root: floor_dp(rules, root) * 1.01, "length 1")


# --- exercise 4: the boundary probe -------------------------------------------------------------------
def boundary_probe(train_x, train_y, test_x, test_y, mistake="", steps=300):
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    if mistake == "raw features":
        mean, std = torch.zeros_like(mean), torch.ones_like(std)
    z_train, z_test = (train_x - mean) / std, (test_x - mean) / std
    if mistake == "scored on train":
        z_test, test_y = z_train, train_y
    weight = torch.zeros(train_x.shape[1], 2, requires_grad=True)
    bias = torch.zeros(2, requires_grad=True)
    counts = torch.bincount(train_y, minlength=2).float()
    optimizer = torch.optim.Adam([weight, bias], lr=1e-4 if mistake == "raw features" else 0.1)
    for _ in range(30 if mistake == "raw features" else steps):
        loss = F.cross_entropy(z_train @ weight + bias, train_y, weight=counts.sum() / (2 * counts.clamp_min(1)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        pred = (z_test @ weight + bias).argmax(-1)
    if mistake == "inverted":
        pred = 1 - pred
    if mistake == "plain accuracy":
        return float((pred == test_y).float().mean())
    return float(np.mean([(pred[test_y == c] == c).float().mean().item() for c in (0, 1) if (test_y == c).any()]))


def test_boundary_probe_checker_accepts_the_reference():
    checks.boundary_probe(boundary_probe)


@pytest.mark.parametrize("mistake,fragment", [
    ("plain accuracy", "balanced accuracy"),
    ("scored on train", "training rows"),
    ("raw features", "standardise"),
    ("inverted", "inverted"),
])
def test_boundary_probe_checker_names_the_mistake(mistake, fragment):
    rejects(checks.boundary_probe, lambda *args: boundary_probe(*args, mistake=mistake), fragment)


def test_boundary_probe_checker_catches_always_no():
    rejects(checks.boundary_probe, lambda a, b, c, test_y: float((test_y == 0).float().mean()), "balanced")


# --- exercise 5: excess attention ------------------------------------------------------------------------
def excess(A, mistake=""):
    T = A.shape[0]
    out = torch.zeros_like(A)
    if mistake == "row mean":
        rows = A.sum(-1, keepdim=True) / torch.arange(1, T + 1)[:, None]
        return (A - rows).tril()
    if mistake == "global mean":
        return (A - A.diagonal(0).mean()).tril()
    for d in range(T):
        rows = torch.arange(d, T)
        values = A[rows, rows - d]
        mean = values.sum() / T if mistake == "all rows" else values.mean()
        out[rows, rows - d] = values - mean
    return out if mistake != "upper" else A - A.mean()


def test_excess_attention_checker_accepts_the_reference():
    checks.excess_attention(excess)


@pytest.mark.parametrize("mistake,fragment", [
    ("all rows", "T - d queries"),
    ("upper", "j > i"),
    ("row mean", "each query's mean"),
    ("global mean", "one mean per distance"),
])
def test_excess_attention_checker_names_the_mistake(mistake, fragment):
    rejects(checks.excess_attention, lambda A: excess(A, mistake), fragment)


def test_excess_attention_reference_matches_the_experiment_on_one_sentence():
    # with <bos> excluded, token rows/cols 1..5 match the single-matrix reference of the exercise
    one = torch.rand(1, 1, 6, 6).tril()
    E1, _ = part1.excess_attention(one.numpy(), [5])
    reference = cfg_checks._reference_excess(one[0, 0, 1:, 1:])
    assert np.allclose(E1[0, 0, 1:, 1:], reference.numpy(), atol=1e-6)


def test_every_lab_01_checker_is_exercised_here():
    names = {line.strip().split("(")[0].split(".")[1] for param in exercise_cells("01_cfg")
             for line in param.values[1].splitlines() if line.strip().startswith("checks.")}
    assert names == {"cfg_sampler", "cfg_membership", "cfg_entropy_floor", "boundary_probe", "excess_attention"}
