"""The exact next-token DP (rows sum to 1, chain rule, brute force), the entropy floor and the smoothed KL."""
from fractions import Fraction
from functools import lru_cache

import numpy as np
import pytest

import plmkit.data.cfg.dp as dp_module
from plmkit.data.cfg import (
    Grammar,
    ambiguity,
    count_parses,
    derivation_count,
    derivation_entropies,
    enumerate_sentences,
    entropy_floor,
    exact_entropy_floor,
    expected_lengths,
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
    assert exact_entropy_floor(g).value == pytest.approx(exact, rel=1e-12)


# --- the exact floor: derivation-entropy DP, checked by enumeration ----------------------------------
TOY = """# toy: 2 rewriting levels; symbols per level (root first) [1, 2, 2]; terminals 1..2
8 -> 6 7 | 7 6 7
6 -> 1 2 | 2 1 1
7 -> 1 1 | 2 2 | 1 2
"""
# Ambiguous by construction: 5 and 6 both derive 11 and 111, so 1111 has 2 trees, 11111 has 4 and 111111 has 2.
TOY_AMBIGUOUS = """# toyamb: 2 rewriting levels; symbols per level (root first) [1, 2, 1]; terminals 1..1
7 -> 5 6 | 6 5
5 -> 1 1 | 1 1 1
6 -> 1 1 | 1 1 1
"""


def test_derivation_dp_matches_a_hand_computation():
    g = Grammar.from_text(TOY)
    h, length = derivation_entropies(g), expected_lengths(g)
    assert h[6] == pytest.approx(np.log(2)) and h[7] == pytest.approx(np.log(3))
    assert h[8] == pytest.approx(2 * np.log(2) + 1.5 * np.log(3))
    assert (length[6], length[7], length[8]) == (Fraction(5, 2), Fraction(2), Fraction(11, 2))
    assert derivation_count(g) == 2 * 3 + 3 * 2 * 3 == ambiguity(g).sentences
    exact = exact_entropy_floor(g)
    assert exact.unambiguous and exact.value == pytest.approx(h[8] / 6.5) and exact.mean_length_exact == "11/2"


@pytest.mark.parametrize("text_or_name", [TOY, TOY_AMBIGUOUS, "cfg3f-d2", "cfg3b-d3", "cfg3i-d3", "cfg3e2-d2"])
def test_exact_floor_equals_brute_force_enumeration(text_or_name):
    g = Grammar.from_text(text_or_name) if text_or_name.startswith("#") else Grammar.load(text_or_name)
    support = enumerate_sentences(g)  # exact Fractions, parse counts included
    entropy = -sum(float(p) * np.log(float(p)) for p, _ in support.values())
    mean_length = sum(p * len(s) for s, (p, _) in support.items())
    exact = exact_entropy_floor(g)
    assert exact.value == pytest.approx(entropy / float(mean_length + 1), rel=1e-12)
    assert exact.mean_length_exact == str(mean_length) and exact.sentences == len(support)
    assert exact.derivations == sum(c for _, c in support.values())
    assert exact.unambiguous == all(c == 1 for _, c in support.values())
    if not exact.unambiguous:  # the derivation entropy then overstates the sentence entropy
        assert exact.derivation_entropy > exact.sentence_entropy


def test_toy_ambiguous_floor_by_hand():
    exact = exact_entropy_floor(Grammar.from_text(TOY_AMBIGUOUS))
    # lengths 4, 5, 6 with probabilities 1/4, 1/2, 1/4 (5 has two trees); E[n] = 5
    assert not exact.unambiguous and (exact.derivations, exact.sentences) == (8, 3)
    assert exact.value == pytest.approx(1.5 * np.log(2) / 6)
    assert exact.derivation_entropy == pytest.approx(3 * np.log(2))


def test_which_small_roots_are_unambiguous():
    # Proved by enumerating every derivation; cfg3f-d3 is the grammar the lab trains on.
    f3 = ambiguity("cfg3f-d3")
    assert f3.derivations == f3.sentences == 1_066_464 and f3.unambiguous
    assert not ambiguity("cfg3i-d3").unambiguous and ambiguity("cfg3i-d3").extra_derivations == 32
    for name in ("cfg3b-d3", "cfg3h-d3", "cfg3e2-d3", "cfg3j-d3", "cfg3f-d2", "cfg3k-d2"):
        assert ambiguity(name).unambiguous, name
    with pytest.raises(ValueError, match="count_parses"):
        ambiguity("cfg3f-d4")


def test_cfg3f_d4_is_ambiguous_on_samples():
    # too many derivations to enumerate; a sampled sentence with two parse trees settles it
    g = Grammar.load("cfg3f-d4")
    assert any(count_parses(g, x) > 1 for x in sample(g, 60, 3))


def test_exact_floor_of_cfg3f_d3_and_the_sampled_estimators_around_it():
    g = Grammar.load("cfg3f-d3")
    exact = exact_entropy_floor(g)
    assert exact.unambiguous and exact.value == pytest.approx(0.6540990, abs=1e-6)
    assert exact.value == pytest.approx(derivation_entropies(g)[g.root] / float(expected_lengths(g)[g.root] + 1))
    floor = entropy_floor(g, n=300, rng=21)
    for key in ("ratio", "rows"):
        assert abs(getattr(floor, key) - exact.value) < 4 * getattr(floor, f"{key}_se")
    # unambiguous: ln P(tree | x) = 0 on every sentence, so the tree estimator is exact with zero error
    assert floor.tree == pytest.approx(exact.value, abs=1e-9) and floor.tree_se < 1e-9
    assert floor.value == floor.tree and floor.estimator == "tree" and floor.ambiguous_fraction == 0


def test_tree_estimator_is_unbiased_and_has_the_lowest_variance_on_an_ambiguous_root():
    g = Grammar.load("cfg3i-d3")  # 32 extra derivations: ambiguous, and still enumerable
    exact = exact_entropy_floor(g).value
    floor = entropy_floor(g, n=300, rng=22)
    assert abs(floor.tree - exact) < 4 * floor.tree_se
    assert floor.tree_se < floor.ratio_se < floor.rows_se  # the order measured on every grammar tried
    assert floor.tree <= floor.derivation_floor


def test_sampled_floor_without_trees_reports_the_ratio_estimator():
    g = Grammar.load("cfg3f-d3")
    floor = entropy_floor(g, sentences=sample(g, 50, 4))
    assert np.isnan(floor.tree) and floor.value == floor.ratio and floor.estimator == "ratio"
    assert entropy_floor(g, n=50, rng=4).ratio == pytest.approx(floor.ratio)  # the same sentences as sample()


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
