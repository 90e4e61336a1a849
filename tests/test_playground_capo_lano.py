"""Capo exposures on bioS (every person once per pass, re-paraphrased) and the Lano adapter."""
import numpy as np
import pytest

from plmkit.data import cfg as cfg_pkg
from plmkit.data.playground import capo, lano

SMALL = capo.CapoConfig(people=40, exposures=3, pools="ci")


def names_in(tokens, tokenizer, people):
    text = tokenizer.decode(tokens)
    return [p.full_name for p in people if p.full_name in text]


def test_each_pass_shows_every_person_once_with_a_fresh_paraphrase():
    data = capo.CapoData(SMALL, seed=0)
    first, second = data.exposure(0), data.exposure(1)
    assert len(first) == len(second) == SMALL.people
    shown = [names_in(ex.tokens, data.tokenizer, data.people) for ex in first]
    assert all(len(s) >= 1 for s in shown)
    assert {s[0] for s in shown} == {p.full_name for p in data.people}
    assert [ex.tokens.tolist() for ex in first] != [ex.tokens.tolist() for ex in second]
    assert all((ex.weights == 1).all() for ex in first)
    assert data.bits() == pytest.approx(SMALL.people * capo.bios.information_bits(data.pools)["log2_S0"])


def test_stream_covers_the_exposures_deterministically():
    a = capo.capo_stream(SMALL, context=128, batch_size=4, seed=1)
    b = capo.capo_stream(SMALL, context=128, batch_size=4, seed=1)
    steps = a.steps()
    windows = sum(len(a.epoch_windows(e)[0]) for e in range(SMALL.exposures))
    assert steps == -(-windows // 4)
    assert a.batch(steps - 1).inputs.equal(b.batch(steps - 1).inputs)
    assert not a.batch(0).inputs.equal(capo.capo_stream(SMALL, 128, 4, seed=2).batch(0).inputs)
    assert a.batch(0).inputs[0, 0] == a.data.sep_id
    assert a.describe()["exposures"] == 3
    with pytest.raises(ValueError, match="valid: ci, cpu, gpu"):
        capo.CapoConfig(pools="huge")


def test_lano_stream_packs_grammar_sentences():
    stream = lano.lano_stream("cfg3f-d3", batch_size=2, seed=0, context=64)
    batch = stream.batch(0)
    g = cfg_pkg.Grammar.load("cfg3f-d3")
    assert batch.inputs.shape == (2, 64) and batch.inputs[0, 0] == g.bos_id
    row = batch.inputs[0].numpy()
    cuts = np.flatnonzero(row == g.bos_id)
    whole = row[cuts[0] + 1:cuts[1]]
    assert cfg_pkg.accepts(g, whole)
    assert lano.CONTEXT["cfg3k"] == 1536
