"""The exact next-token DP (rows sum to 1, chain rule, brute force), the entropy floor and the smoothed KL."""
from fractions import Fraction
from functools import lru_cache

import numpy as np
import pytest

import plmkit.data.cfg.dp as dp_module
from plmkit.data.cfg import (
    Grammar,
    enumerate_sentences,
    entropy_floor,
    first_error,
    kl_along_sentence,
    model_rows,
    next_symbol_table,
    next_token_dist,
    prefix_dp,
    sample,
    sentence_kl,
    sentence_log_prob,
)


def fraction_rows(g, x):
    """The inside/prefix DP done literally in exact rational arithmetic, position by position (a slow reference)."""
    root, n, T = g.root, len(x), g.num_terminals

    @lru_cache(maxsize=None)
    def inside(symbols, i, j):
        if len(symbols) > 1:
            return sum((inside(symbols[:1], i, m) * inside(symbols[1:], m, j) for m in range(i + 1, j)), Fraction(0))
        a = symbols[0]
        if g.is_terminal(a):
            return Fraction(int(j == i + 1 and x[i] == a))
        return sum((Fraction(1, len(g.rules[a])) * inside(tuple(r), i, j) for r in g.rules[a]), Fraction(0))

    alpha = {(0, root): Fraction(1)}
    for k in range(n + 1):
        for level in range(int(g.level[root]), g.depth):
            for a in g.level_ids(level):
                weight = alpha.get((k, a), 0)
                if not weight:
                    continue
                for r in g.rules[a]:
                    p = weight / len(g.rules[a])
                    alpha[(k, r[0])] = alpha.get((k, r[0]), 0) + p
                    for k2 in range(k + 1, n + 1):
                        for c, prefix in ((1, r[:1]), (2, r[:2])):
                            if c < len(r) and inside(tuple(prefix), k, k2):
                                alpha[(k2, r[c])] = alpha.get((k2, r[c]), 0) + p * inside(tuple(prefix), k, k2)
    rows = []
    for k in range(n + 1):
        pi = Fraction(1) if k == 0 else alpha.get((k - 1, int(x[k - 1])), 0)
        rows.append([inside((root,), 0, k) / pi] + [alpha.get((k, t), 0) / pi for t in range(1, T + 1)])
    return rows, inside((root,), 0, n)


@pytest.mark.parametrize("name, n", [("cfg3f-d2", 4), ("cfg3f-d3", 3), ("cfg3e1-d3", 2), ("cfg3b-d3", 2), ("cfg3k-d3", 2)])
def test_dp_matches_exact_fractions(name, n):
    g = Grammar.load(name)
    for x in sample(g, n, np.random.default_rng(0)):
        exact, sentence_prob = fraction_rows(g, x)
        result = prefix_dp(g, x)
        assert np.max(np.abs(result.probs - np.array(exact, dtype=float))) < 1e-12
        assert abs(result.sentence_log_prob - np.log(float(sentence_prob))) < 1e-10


def test_dp_matches_brute_force_enumeration_on_d2():
    g = Grammar.load("cfg3f-d2")
    support = enumerate_sentences(g)
    total = sum(p for p, _ in support.values())
    assert total == 1  # the enumeration is the whole distribution
    for x, (prob, _) in support.items():
        result = prefix_dp(g, x)
        for k in range(len(x) + 1):
            expected = [float(v) for v in next_symbol_table(support, x[:k], g.num_terminals)]
            assert np.allclose(result.probs[k], expected, atol=1e-12, rtol=0)
        assert abs(result.sentence_log_prob - np.log(float(prob))) < 1e-12


def test_dp_matches_monte_carlo_on_d3():
    g = Grammar.load("cfg3f-d3")
    samples = sample(g, 100_000, np.random.default_rng(1))
    prefix = tuple(samples[0][:3].tolist())
    nexts = np.array([s[3] for s in samples if tuple(s[:3].tolist()) == prefix])
    assert len(nexts) > 1000
    row = next_token_dist(g, samples[0])[3]
    assert row[0] == 0  # no d3 sentence is 3 tokens long
    for t in range(1, 4):
        freq = np.mean(nexts == t)
        se = np.sqrt(max(row[t] * (1 - row[t]), 1e-12) / len(nexts))
        assert abs(freq - row[t]) <= 4 * se + 1e-12


@pytest.mark.parametrize("name, count", [("cfg3f-d4", 8), ("cfg3e2-d4", 4), ("cfg3f", 1), ("cfg3k-d5", 1)])
def test_rows_sum_to_one_and_chain_rule(name, count):
    g = Grammar.load(name)
    for x in sample(g, count, np.random.default_rng(2)):
        result = prefix_dp(g, x)
        probs = result.probs
        assert probs.shape == (len(x) + 1, g.num_terminals + 1)
        assert np.all(np.abs(probs.sum(axis=1) - 1) < 1e-9) and np.all(probs >= 0)
        chain = result.log_next[np.arange(len(x)), x].sum() + result.log_next[len(x), 0]
        assert abs(chain - result.sentence_log_prob) < 1e-8 * max(1.0, abs(result.sentence_log_prob))
        assert abs(sentence_log_prob(g, x) - result.sentence_log_prob) < 1e-9 * max(1.0, abs(result.sentence_log_prob))
        lo = g.length_range()[0]
        assert np.all(probs[:lo, 0] == 0)  # EOS is impossible before minlen(root)


def test_blocked_and_direct_products_agree(monkeypatch):
    g = Grammar.load("cfg3f-d5")
    x = sample(g, 1, np.random.default_rng(3))[0]
    monkeypatch.setattr(dp_module, "_DIRECT_LIMIT", 10 ** 9)  # exact logaddexp everywhere
    direct = prefix_dp(g, x)
    monkeypatch.setattr(dp_module, "_DIRECT_LIMIT", 0)  # dense blocks through matrix products
    blocked = prefix_dp(g, x)
    assert np.allclose(direct.log_next, blocked.log_next, atol=1e-9, equal_nan=True)
    assert abs(direct.sentence_log_prob - blocked.sentence_log_prob) < 1e-9 * abs(direct.sentence_log_prob)


def test_prefix_rows_and_impossible_prefixes():
    g = Grammar.load("cfg3f-d3")
    x = sample(g, 1, np.random.default_rng(4))[0]
    full = prefix_dp(g, x)
    part = prefix_dp(g, x[:5])  # a prefix gives the same first rows
    assert np.allclose(part.probs, full.probs[:6], atol=1e-13)
    assert part.sentence_log_prob == -np.inf
    with pytest.raises(ValueError):
        next_token_dist(g, [1, 2, g.bos_id])


def test_first_error_position():
    g = Grammar.load("cfg3f-d2")
    support = enumerate_sentences(g)
    viable = {s[:k] for s in support for k in range(len(s) + 1)}
    rng = np.random.default_rng(5)
    for _ in range(300):
        x = tuple(rng.integers(1, 4, size=rng.integers(1, 12)).tolist())
        expected = next((k for k in range(1, len(x) + 1) if x[:k] not in viable), None)
        if expected is None and x not in support:
            expected = len(x) + 1
        assert first_error(g, x) == expected
    sentence = next(iter(support))
    assert first_error(g, list(sentence)) is None
    assert first_error(g, [sentence[0], g.bos_id, 1]) == 2


# --- entropy floor and KL ---------------------------------------------------------------------------
def test_entropy_estimators_agree():
    g = Grammar.load("cfg3f-d3")
    floor = entropy_floor(g, n=200, rng=6)
    assert floor.sentences == 200 and 0 < floor.rows < floor.chance
    assert abs(floor.gap) <= 4 * floor.gap_se and floor.gap_se > 0
    assert abs(floor.ratio - floor.rows) <= 4 * np.hypot(floor.ratio_se, floor.rows_se)


def test_entropy_floor_is_exact_on_d2():
    g = Grammar.load("cfg3f-d2")
    support = enumerate_sentences(g)
    entropy = -sum(float(p) * np.log(float(p)) for p, _ in support.values())
    mean_predictions = sum(float(p) * (len(s) + 1) for s, (p, _) in support.items())
    exact = entropy / mean_predictions
    floor = entropy_floor(g, n=800, rng=7)
    assert abs(floor.ratio - exact) < 4 * floor.ratio_se and abs(floor.rows - exact) < 4 * floor.rows_se


def test_kl_of_a_distribution_with_itself_is_zero():
    g = Grammar.load("cfg3f-d3")
    p = next_token_dist(g, sample(g, 1, 8)[0])
    assert np.allclose(kl_along_sentence(p, p), 0, atol=1e-15) and sentence_kl(p, p) == pytest.approx(0, abs=1e-15)
    q = np.full_like(p, 1 / p.shape[1])
    kl = kl_along_sentence(p, q)
    assert np.all(kl >= -1e-15) and kl.mean() > 0.1


def test_kl_follows_the_smoothed_formula():
    p = np.array([[0.0, 1.0, 0.0, 0.0], [0.5, 0.0, 0.5, 0.0]])
    q = np.array([[0.1, 0.7, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25]])
    eps = 1e-5
    ps, qs = (p + eps) / (p + eps).sum(1, keepdims=True), (q + eps) / (q + eps).sum(1, keepdims=True)
    expected = np.sum(p * (np.log(ps) - np.log(qs)), axis=1)
    assert np.allclose(kl_along_sentence(p, q), expected, rtol=1e-12)
    with pytest.raises(ValueError):
        kl_along_sentence(p, q[:1])


def test_model_rows_keep_the_legal_outcomes():
    g = Grammar.load("cfg3f-d3")  # ids: 0 pad, 1-3 terminals, 4 bos, 5 mask, 6 sep
    probs = np.array([[0.1, 0.2, 0.2, 0.1, 0.2, 0.1, 0.1]])
    rows = model_rows(probs, g)
    assert np.allclose(rows, [[0.2 / 0.7, 0.2 / 0.7, 0.2 / 0.7, 0.1 / 0.7]])
