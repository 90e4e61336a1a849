"""The n-gram ladder against a plain dictionary implementation."""
from collections import Counter

import numpy as np
import pytest

import plmkit.data.cfg.ngram as ngram_module
from plmkit.data.cfg import Grammar, ngram_ladder, sample_stream, sentence_stream


def reference_ladder(train, heldout, max_context, alpha, vocab):
    out = []
    for k in range(max_context + 1):
        pairs, contexts = Counter(), Counter()
        for i in range(max_context, len(train)):
            ctx = tuple(train[i - k:i])
            pairs[ctx, train[i]] += 1
            contexts[ctx] += 1
        losses = [np.log((contexts[tuple(heldout[i - k:i])] + alpha * vocab)
                         / (pairs[tuple(heldout[i - k:i]), heldout[i]] + alpha))
                  for i in range(max_context, len(heldout))]
        out.append(float(np.mean(losses)))
    return out


def test_matches_reference_on_a_grammar_stream():
    g = Grammar.load("cfg3f-d3")
    train = sample_stream(g, 300, 0)
    heldout = sample_stream(g, 60, 1)
    ours = ngram_ladder(train, heldout, max_context=5)
    expected = reference_ladder(train.tolist(), heldout.tolist(), 5, 0.1, 4)
    assert np.allclose(ours, expected, rtol=1e-12)


def test_recoding_and_sorting_paths_give_the_same_ladder(monkeypatch):
    g = Grammar.load("cfg3e1-d3")  # V = 10 outcomes: codes grow fast
    train, heldout = sample_stream(g, 400, 2), sample_stream(g, 100, 3)
    plain = ngram_ladder(train, heldout, max_context=11)
    monkeypatch.setattr(ngram_module, "_RECODE_ABOVE", 1000)
    monkeypatch.setattr(ngram_module, "_DENSE_COUNT_LIMIT", 50)
    assert np.allclose(ngram_ladder(train, heldout, max_context=11), plain, rtol=1e-12)
    expected = reference_ladder(train.tolist(), heldout.tolist(), 11, 0.1, 10)
    assert np.allclose(plain, expected, rtol=1e-12)


def test_ladder_shape_and_iid_stream():
    rng = np.random.default_rng(4)
    p = np.array([0.5, 0.3, 0.2])
    train, heldout = rng.choice(3, 200_000, p=p), rng.choice(3, 50_000, p=p)
    ladder = ngram_ladder(train, heldout, max_context=2)
    entropy = -np.sum(p * np.log(p))
    assert len(ladder) == 3 and abs(ladder[0] - entropy) < 0.01
    assert ladder[1] >= ladder[0] - 0.005  # context cannot help on i.i.d. data


def test_longer_contexts_help_on_grammar_data():
    g = Grammar.load("cfg3f-d3")
    train, heldout = sample_stream(g, 20_000, 5), sample_stream(g, 2_000, 6)
    ladder = ngram_ladder(train, heldout, max_context=11, num_outcomes=g.num_terminals + 1)
    assert ladder[3] < ladder[0] and min(ladder) < ladder[1] and ladder[0] < np.log(4) + 1e-9


def test_stream_helper_and_errors():
    stream = sentence_stream([np.array([1, 2]), np.array([3])], bos_id=4)
    assert stream.tolist() == [4, 1, 2, 4, 3, 4]
    with pytest.raises(ValueError):
        ngram_ladder([1, 2], [1, 2, 3], max_context=3)
    with pytest.raises(ValueError):
        ngram_ladder([1, 2, 3, 4, 1], [1, 2, 3, 4, 1], max_context=1, num_outcomes=2)
