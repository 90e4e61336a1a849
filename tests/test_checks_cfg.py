"""The lab 01 checkers (plmkit.checks.cfg) catch the typical mistakes and pass a correct solution."""
import numpy as np
import pytest
import torch

from plmkit import checks
from plmkit.data import cfg
from plmkit.experiments import cfg as part1

torch.set_num_threads(1)
G2, G3 = cfg.Grammar.load("cfg3f-d2"), cfg.Grammar.load("cfg3f-d3")


def _plmkit_sampler(rules, root, rng):
    options = rules[root]
    rule = options[rng.integers(len(options))]
    return [t for child in rule for t in (_plmkit_sampler(rules, child, rng) if child in rules else [child])]


def test_sampler_checker_tolerance_is_calibrated():
    from collections import Counter

    support = cfg.enumerate_sentences(G2)
    rules = {a: list(r) for a, r in G2.rules.items()}
    rng = np.random.default_rng(11)
    counts = Counter(tuple(_plmkit_sampler(rules, G2.root, rng)) for _ in range(checks.cfg.SAMPLER_DRAWS))
    tv = 0.5 * sum(abs(counts.get(s, 0) / checks.cfg.SAMPLER_DRAWS - float(p)) for s, (p, _) in support.items())
    assert tv < 0.08 < checks.cfg.SAMPLER_MAX_TV


def test_sampler_checker_catches_biased_and_invalid_samplers():
    def first_rule(rules, root, rng):
        rule = rules[root][0 if rng.random() < 0.7 else rng.integers(len(rules[root]))]
        return [t for c in rule for t in (first_rule(rules, c, rng) if c in rules else [c])]

    with pytest.raises(AssertionError, match="frequencies"):
        checks.cfg_sampler(first_rule)
    with pytest.raises(AssertionError, match="cannot derive"):
        checks.cfg_sampler(lambda rules, root, rng: _plmkit_sampler(rules, root, rng)[::-1] + [1])


def test_membership_checker_catches_partial_parsers():
    def length_only(rules, root, x):
        return 8 <= len(x) <= 27

    with pytest.raises(AssertionError, match="cannot derive"):
        checks.cfg_membership(length_only)
    with pytest.raises(AssertionError, match="rejects"):
        checks.cfg_membership(lambda rules, root, x: cfg.accepts(G3, x) and len(x) % 2 == 0)


def test_boundary_probe_checker_catches_plain_accuracy():
    def plain_accuracy(train_x, train_y, test_x, test_y):
        return float((test_y == 0).float().mean())  # "always no" scores 90%

    with pytest.raises(AssertionError, match="balanced"):
        checks.boundary_probe(plain_accuracy)


def test_excess_attention_checker_catches_the_wrong_mean_and_upper_entries():
    def over_all_rows(A):
        T = A.shape[0]
        out = torch.zeros_like(A)
        for d in range(T):
            rows = torch.arange(d, T)
            out[rows, rows - d] = A[rows, rows - d] - A[rows, rows - d].sum() / T
        return out

    with pytest.raises(AssertionError, match="T - d queries"):
        checks.excess_attention(over_all_rows)
    with pytest.raises(AssertionError, match="j > i"):
        checks.excess_attention(lambda A: A - A.mean())




def test_excess_attention_reference_matches_the_experiment_on_one_sentence():
    # with <bos> excluded, token rows/cols 1..5 match the single-matrix reference of the exercise
    one = torch.rand(1, 1, 6, 6).tril()
    E1, _ = part1.excess_attention(one.numpy(), [5])
    reference = checks.cfg._reference_excess(one[0, 0, 1:, 1:])
    assert np.allclose(E1[0, 0, 1:, 1:], reference.numpy(), atol=1e-6)
