"""Sampling (acceptance, lengths, label invariants), determinism, corruption and the training sample_fn."""
import numpy as np
import pytest

from plmkit.data.cfg import (
    GRAMMAR_NAMES,
    Grammar,
    accepts,
    corrupt,
    corrupt_prefix,
    make_sample_fn,
    sample,
    sample_min_length,
    sample_stream,
)


@pytest.mark.parametrize("name", GRAMMAR_NAMES)
def test_sampled_sentences_are_accepted_and_in_range(name):
    g = Grammar.load(name + "-d3")
    sentences = sample(g, 1000, np.random.default_rng(0))
    lo, hi = g.length_range()
    assert len(sentences) == 1000
    assert all(s.dtype == np.int64 and lo <= len(s) <= hi for s in sentences)
    assert all(accepts(g, s) for s in sentences)
    flat = np.concatenate(sentences)
    assert flat.min() >= 1 and flat.max() <= g.num_terminals


@pytest.mark.parametrize("name", ["cfg3f", "cfg3k", "cfg3e2"])
def test_full_grammar_sentences_are_accepted(name):
    g = Grammar.load(name)
    sentences = sample(g, 20, np.random.default_rng(1))
    assert all(accepts(g, s) for s in sentences)


def check_label_invariants(g, sentences, labels):
    rules = {a: set(r) for a, r in g.rules.items()}
    for s, lab in zip(sentences, labels):
        n = len(s)
        assert lab.anc.shape == lab.cls.shape == lab.nid.shape == lab.end.shape == (len(lab.levels), n)
        # The root level is constant and ends only at the last token.
        assert np.all(lab.anc[0] == g.root) and np.all(lab.nid[0] == 0) and lab.end[0].sum() == 1
        for r, level in enumerate(lab.levels):
            anc, nid, end = lab.anc[r], lab.nid[r], lab.end[r]
            assert np.all(g.level[anc] == level)
            assert np.all(lab.cls[r] == anc - g.first_id(level))
            # nid counts nodes from 0; it steps by one right after every span end.
            assert nid[0] == 0 and np.array_equal(np.diff(nid), end[:-1].astype(int)) and end[-1] == 1
            if r + 1 < len(lab.levels):  # the end of a higher node is also the end of a lower one
                assert np.all(lab.end[r + 1][end == 1] == 1)
            nodes = lab.nodes(level)
            for symbol, first, last in nodes:
                assert g.minlen[symbol] <= last - first + 1 <= g.maxlen[symbol]
                # The level below, read one symbol per node, spells one rule of this node's symbol.
                if r + 1 < len(lab.levels):
                    below = lab.anc[r + 1, first:last + 1][lab.start[r + 1, first:last + 1] == 1]
                else:
                    below = s[first:last + 1]
                assert tuple(int(b) for b in below) in rules[symbol]


@pytest.mark.parametrize("name", ["cfg3f-d3", "cfg3b-d4", "cfg3e1-d3", "cfg3k-d3", "cfg3f"])
def test_label_invariants(name):
    g = Grammar.load(name)
    sentences, labels = sample(g, 60 if name != "cfg3f" else 5, np.random.default_rng(2), labels=True)
    assert len(labels) == len(sentences) and labels.levels == tuple(range(int(g.level[g.root]), g.depth))
    check_label_invariants(g, sentences, labels)


def test_same_seed_same_data_bit_for_bit():
    g = Grammar.load("cfg3f-d3")
    a, la = sample(g, 200, np.random.default_rng(7), labels=True)
    b, lb = sample(g, 200, 7, labels=True)  # an int seed is the same as default_rng(seed)
    c = sample(g, 200, np.random.default_rng(8))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert np.array_equal(la.anc, lb.anc) and np.array_equal(la.end, lb.end)
    assert not all(len(x) == len(y) and np.array_equal(x, y) for x, y in zip(a, c))
    with pytest.raises(ValueError):
        sample(g, 3, None)


def test_uniform_rule_choice_at_the_root():
    # cfg3f-d2 (root 10): three rules, first symbols 8, 9, 7 -> each about 1/3 of sentences.
    g = Grammar.load("cfg3f-d2")
    _, labels = sample(g, 30000, np.random.default_rng(3), labels=True)
    first_child = labels.anc[1, labels.offsets[:-1]]
    freq = np.bincount(first_child, minlength=10)[[7, 8, 9]] / 30000
    assert np.all(np.abs(freq - 1 / 3) < 4 * np.sqrt(2 / 9 / 30000))


def test_stream_and_min_length_helpers():
    g = Grammar.load("cfg3f-d3")
    stream = sample_stream(g, 10, 0)
    assert stream[0] == g.bos_id and stream[-1] == g.bos_id and np.sum(stream == g.bos_id) == 11
    long_ones = sample_min_length(g, 20, 1, min_length=20)
    assert len(long_ones) == 20 and all(len(s) >= 20 for s in long_ones)
    with pytest.raises(ValueError):
        sample_min_length(g, 1, 1, min_length=100)
    fn = make_sample_fn(g)
    assert all(accepts(g, s) for s in fn(np.random.default_rng(0), 16))


# --- corruption -------------------------------------------------------------------------------------
def test_flip_rates_and_untouched_inputs():
    g = Grammar.load("cfg3f-d3")
    clean = sample(g, 4000, np.random.default_rng(0))
    copies = [s.copy() for s in clean]
    noisy, picked = corrupt(clean, 0.3, 0.15, np.random.default_rng(1), g, return_mask=True)
    assert all(np.array_equal(a, b) for a, b in zip(clean, copies))  # inputs untouched
    changed = np.array([np.count_nonzero(a != b) for a, b in zip(clean, noisy)])
    lengths = np.array([len(s) for s in clean])
    assert np.all(changed[~picked] == 0)
    assert abs(picked.mean() - 0.3) < 4 * np.sqrt(0.21 / 4000)
    rate = changed[picked].sum() / lengths[picked].sum()
    assert abs(rate - 0.15) < 0.01
    flat = np.concatenate(noisy)
    assert flat.min() >= 1 and flat.max() <= 3


def test_flip_always_changes_the_token_uniformly():
    g = Grammar.load("cfg3e2-d2")  # T = 4: a flip picks one of the 3 other terminals
    x = [np.full(30000, 2)]
    y = corrupt(x, 1.0, 1.0, 5, g)[0]
    assert np.all(y != 2)
    freq = np.bincount(y, minlength=5)[[1, 3, 4]] / 30000
    assert np.all(np.abs(freq - 1 / 3) < 0.015)


def test_corruption_is_seeded_and_p0_is_identity():
    g = Grammar.load("cfg3f-d3")
    clean = sample(g, 50, 0)
    a = corrupt(clean, 0.5, 0.2, 3, g)
    b = corrupt(clean, 0.5, 0.2, 3, g)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert all(np.array_equal(x, y) for x, y in zip(clean, corrupt(clean, 0.0, 0.9, 3, g)))
    with pytest.raises(ValueError):
        corrupt(clean, 1.5, 0.1, 0, g)


def test_struct_corruption_regrows_one_subtree():
    g = Grammar.load("cfg3f-d3")
    clean, labels = sample(g, 200, np.random.default_rng(4), labels=True)
    noisy = corrupt(clean, 1.0, 0.0, 5, g, kind="struct", labels=labels)
    differ = sum(not (len(a) == len(b) and np.array_equal(a, b)) for a, b in zip(clean, noisy))
    assert differ > 100
    assert all(np.concatenate(noisy).min() >= 1 for _ in [0])
    fn = make_sample_fn(g, corrupt=(1.0, 0.0, "struct"))
    assert len(fn(np.random.default_rng(0), 8)) == 8


def test_noisy_sample_fn_corrupts_fresh_sentences_from_the_same_generator():
    g = Grammar.load("cfg3f-d3")
    noisy = make_sample_fn(g, corrupt=(0.3, 0.15))(np.random.default_rng(9), 64)
    rng = np.random.default_rng(9)
    by_hand = corrupt(sample(g, 64, rng), 0.3, 0.15, rng, g)
    assert all(np.array_equal(a, b) for a, b in zip(noisy, by_hand))
    clean = make_sample_fn(g)(np.random.default_rng(9), 64)
    assert any(not np.array_equal(a, b) for a, b in zip(noisy, clean))


def test_sampler_and_corruption_do_not_import_each_other():
    import ast
    from pathlib import Path

    import plmkit.data.cfg as package

    folder = Path(package.__file__).parent
    for module, other in (("sampler", "corrupt"), ("corrupt", "stream")):
        tree = ast.parse((folder / f"{module}.py").read_text())
        names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert f"plmkit.data.cfg.{other}" not in names


def test_prefix_corruption_forces_a_flip_inside_the_prefix():
    g = Grammar.load("cfg3f-d3")
    x = sample(g, 1, 0)[0]
    for seed in range(50):
        y, flips = corrupt_prefix(x, 6, 0.0, seed, g)  # gamma = 0 still flips one token
        diff = np.flatnonzero(x != y)
        assert flips == 1 and len(diff) == 1 and diff[0] < 6
        y, flips = corrupt_prefix(x, 6, 0.5, seed, g)
        diff = np.flatnonzero(x != y)
        assert flips == len(diff) >= 1 and diff.max() < 6
    with pytest.raises(ValueError):
        corrupt_prefix(x, 0, 0.1, 0, g)
