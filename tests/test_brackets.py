import math

import numpy as np
import pytest

from plmkit.data.brackets import BracketWorld


def test_samples_are_valid_and_labels_track_depth():
    world = BracketWorld()
    tok = world.tokenizer()
    sentences, labels = world.sample(np.random.default_rng(0), 200, labels=True)
    for sentence, (depth, inner) in zip(sentences, labels):
        assert world.is_valid(sentence)
        text = tok.tokens(sentence)
        running = np.cumsum([1 if t in "([" else -1 for t in text])
        assert depth.tolist() == running.tolist()
        assert depth.max() <= world.max_depth and depth[-1] == 0 and inner[-1] == 0


def test_invalid_strings_are_rejected():
    world = BracketWorld(max_depth=2)
    ids = world.tokenizer().encode
    assert not world.is_valid(ids("( ]"))
    assert not world.is_valid(ids("( ( ( ) ) )"))  # too deep
    assert not world.is_valid(ids("( ("))
    assert not world.is_valid([])
    assert world.is_valid(ids("( [ ] )"))


def exact_log_prob(world, sentence):
    """ln P(sentence, then end) under the generating process, step by step."""
    tok = world.tokenizer()
    logp, depth = 0.0, 0
    text = tok.tokens(sentence)
    for pos, t in enumerate(text):
        room = pos + depth + 2 <= world.max_len
        if depth == 0:
            logp += math.log(0.5) + (math.log(1 - world.p_end) if pos > 0 else 0.0)
        elif depth < world.max_depth and room:
            logp += math.log(0.25 if t in "([" else 0.5)
        depth += 1 if t in "([" else -1
    if len(text) + 2 <= world.max_len:
        logp += math.log(world.p_end)
    return logp


def test_entropy_floor_matches_the_mean_log_likelihood():
    world = BracketWorld()
    sentences = world.sample(np.random.default_rng(5), 3000)
    nll = -sum(exact_log_prob(world, s) for s in sentences) / sum(len(s) + 1 for s in sentences)
    assert world.entropy_floor(n=3000) == pytest.approx(nll, rel=0.03)


def test_bad_settings():
    with pytest.raises(ValueError, match="max_depth"):
        BracketWorld(max_depth=0)
