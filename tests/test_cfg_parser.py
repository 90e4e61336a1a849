"""The parser against independent ground truths; cfg3b trees; malformed input."""
import numpy as np
import pytest

from plmkit.data.cfg import (
    Grammar,
    accepts,
    count_parses,
    enumerate_sentences,
    parse,
    sample,
    sentence_log_prob,
    tree_labels,
)
from plmkit.data.cfg.parser import Chart


def flipped_copies(g, sentences, rng, max_flips=3):
    """Valid sentences with 0..max_flips random substitutions (mixed valid and invalid strings)."""
    out = []
    for s in sentences:
        s = s.copy()
        for _ in range(rng.integers(0, max_flips + 1)):
            i = rng.integers(len(s))
            s[i] = (s[i] - 1 + rng.integers(1, g.num_terminals)) % g.num_terminals + 1
        out.append(s)
    return out


@pytest.mark.parametrize("name", ["cfg3f-d3", "cfg3i-d3", "cfg3e2-d3", "cfg3k-d3", "cfg3f-d4"])
def test_parser_agrees_with_inside_probability(name):
    g = Grammar.load(name)
    rng = np.random.default_rng(0)
    mixed = flipped_copies(g, sample(g, 150, rng), rng)
    verdicts = [accepts(g, x) for x in mixed]
    inside = [np.isfinite(sentence_log_prob(g, x)) for x in mixed]
    assert verdicts == inside
    assert 0 < sum(verdicts) < len(verdicts)  # both outcomes occur, so the comparison means something


def test_parser_agrees_with_enumeration_on_d2():
    g = Grammar.load("cfg3f-d2")
    support = enumerate_sentences(g)
    lo, hi = g.length_range()
    rng = np.random.default_rng(1)
    for _ in range(600):
        x = tuple(rng.integers(1, 4, size=rng.integers(lo, hi + 1)).tolist())
        assert accepts(g, x) == (x in support)
    for x, (_, derivations) in support.items():
        assert accepts(g, x) and count_parses(g, x) == derivations


def test_pruning_never_changes_the_verdict():
    g = Grammar.load("cfg3f")
    rng = np.random.default_rng(2)
    mixed = flipped_copies(g, sample(g, 40, rng), rng, max_flips=2)
    for x in mixed:
        assert Chart(g, g.root, x, None, prune=True).accepted == Chart(g, g.root, x, None, prune=False).accepted


def test_pruning_shrinks_the_chart_and_rejects_early():
    g = Grammar.load("cfg3f")
    x = sample(g, 1, np.random.default_rng(8))[0]
    pruned, full = Chart(g, g.root, x, None, prune=True), Chart(g, g.root, x, None, prune=False)
    size = lambda chart: sum(len(chart.items(a)[0]) for a in chart.rows if g.level[a] > 0)  # noqa: E731
    assert pruned.accepted and full.accepted and size(pruned) < size(full) / 2
    y = x.copy()
    y[len(y) // 2] = y[len(y) // 2] % 3 + 1
    if not accepts(g, y):  # a rejected string stops before the upper levels are even built
        assert len(Chart(g, g.root, y, None).rows) < len(full.rows)


def test_counts_match_a_reference_counter():
    # A plain top-down counter over all splits, independent of the bit-set chart.
    from functools import lru_cache

    g = Grammar.load("cfg3f-d3")
    for x in sample(g, 25, np.random.default_rng(3)):
        @lru_cache(maxsize=None)
        def count(symbols, i, j):
            if len(symbols) == 1:
                a = symbols[0]
                if g.is_terminal(a):
                    return int(j == i + 1 and x[i] == a)
                if not g.minlen[a] <= j - i <= g.maxlen[a]:
                    return 0
                return sum(count(tuple(r), i, j) for r in g.rules[a])
            return sum(count(symbols[:1], i, m) * count(symbols[1:], m, j) for m in range(i + 1, j))

        assert count_parses(g, x) == count((g.root,), 0, len(x)) >= 1


def test_ambiguous_sentences_exist_in_cfg3f():
    g = Grammar.load("cfg3f-d4")
    counts = [count_parses(g, x) for x in sample(g, 40, np.random.default_rng(4))]
    assert min(counts) >= 1 and max(counts) > 1


@pytest.mark.parametrize("name, n", [("cfg3b-d3", 300), ("cfg3b-d4", 100), ("cfg3b", 15)])
def test_cfg3b_is_unambiguous_and_parses_to_the_generating_tree(name, n):
    g = Grammar.load(name)
    sentences, labels = sample(g, n, np.random.default_rng(5), labels=True)
    for x, lab in zip(sentences, labels):
        assert count_parses(g, x) == 1
        tree = parse(g, x)
        assert tree.symbol == g.root and (tree.start, tree.end) == (0, len(x))
        parsed = tree_labels(g, tree)
        assert sorted(parsed) == list(lab.levels)
        for r, level in enumerate(lab.levels):
            assert np.array_equal(parsed[level]["anc"], lab.anc[r])
            assert np.array_equal(parsed[level]["nid"], lab.nid[r])
            assert np.array_equal(parsed[level]["end"], lab.end[r])


def test_parse_tree_is_a_valid_derivation():
    g = Grammar.load("cfg3f-d4")
    for x in sample(g, 20, np.random.default_rng(6)):
        tree = parse(g, x)
        stack, leaves = [tree], []
        while stack:
            node = stack.pop()
            if not node.children:
                leaves.append((node.start, node.symbol))
                continue
            assert tuple(c.symbol for c in node.children) in g.rules[node.symbol]
            assert node.children[0].start == node.start and node.children[-1].end == node.end
            assert all(a.end == b.start for a, b in zip(node.children, node.children[1:]))
            stack.extend(node.children)
        assert [t for _, t in sorted(leaves)] == x.tolist()


def test_rejected_strings_give_no_tree_and_zero_parses():
    g = Grammar.load("cfg3f-d3")
    x = np.array([1] * 12)
    assert not accepts(g, x) and count_parses(g, x) == 0 and parse(g, x) is None


@pytest.mark.parametrize("bad", [
    [], [4, 1, 2, 3, 1, 2, 3, 1, 2], [0] * 10, [5] * 10, [1, 2, 3, -1, 2, 3, 1, 2, 3], [1.0] * 10,
    "1 2 3 1 2 3 1 2 3", [[1, 2], [3, 1]], None, 7, [1] * 10 ** 6, [2 ** 70] * 10, [True] * 10, [1, 2, "x"] * 4,
    np.array([1, 2, 3] * 5, dtype=np.uint64) + np.uint64(2 ** 63),
])
def test_malformed_input_is_rejected_without_crashing(bad):
    g = Grammar.load("cfg3f-d3")
    assert accepts(g, bad) is False
    assert count_parses(g, bad) == 0 and parse(g, bad) is None


def test_wrong_lengths_are_rejected_early():
    g = Grammar.load("cfg3f-d3")
    x = sample(g, 1, 0)[0]
    lo, hi = g.length_range()
    assert not accepts(g, x[: lo - 1]) and not accepts(g, np.tile(x, hi // len(x) + 1))


def test_wildcards_accept_any_terminal_at_marked_positions():
    g = Grammar.load("cfg3f-d3")
    rng = np.random.default_rng(7)
    for x in sample(g, 30, rng):
        y = x.copy()
        i = int(rng.integers(len(x)))
        y[i] = 0  # even an invalid id is fine at a wildcard position
        assert not accepts(g, y) and accepts(g, y, wildcard={i})
    # With every position a wildcard, any length in the root's range that some tree derives is accepted.
    assert accepts(g, [1] * 8, wildcard=range(8)) == (count_parses(g, [1] * 8, wildcard=range(8)) > 0)
    with pytest.raises(ValueError):
        accepts(g, x, wildcard={len(x)})


def test_roots_can_be_passed_per_call():
    g = Grammar.load("cfg3f")
    x = sample(g, 1, 0, root=13)[0]
    assert accepts(g, x, root=13) and accepts(g, x, root="d3") and not accepts(g, x)
