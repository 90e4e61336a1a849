"""Generation scoring (whole sentences, no partial credit) and diversity statistics."""
import numpy as np
import pytest

from plmkit.data.cfg import (
    Grammar,
    collision_pairs,
    corrupt,
    diversity_stats,
    is_valid_generation,
    sample,
    score_generations,
    wilson_interval,
)


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(0, 10)
    assert lo == 0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson_interval(50, 100)
    assert (lo, hi) == (pytest.approx(0.4038, abs=1e-4), pytest.approx(0.5962, abs=1e-4))
    lo, hi = wilson_interval(10, 10)
    assert lo == pytest.approx(0.7225, abs=1e-4) and hi == 1
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(5, 3)


def test_validity_rules():
    g = Grammar.load("cfg3f-d3")
    x = sample(g, 1, 0)[0].tolist()
    bos = g.bos_id
    assert is_valid_generation(g, [bos], x + [bos])                  # cut0
    assert is_valid_generation(g, [bos] + x[:6], x[6:] + [bos, 3, 3])  # cutK; tokens after <bos> ignored
    assert is_valid_generation(g, x[:6], x[6:] + [bos])              # prompt without <bos>
    assert not is_valid_generation(g, [bos], x)                      # never stopped
    assert not is_valid_generation(g, [bos], x[:-1] + [g.mask_id, bos])  # special token
    assert not is_valid_generation(g, [bos], x[:-1] + [bos])         # parser rejects
    assert not is_valid_generation(g, [bos], [bos])                  # empty sentence
    assert not is_valid_generation(g, [bos], "junk")


def test_score_generations_reasons_and_accuracy():
    g = Grammar.load("cfg3f-d3")
    sentences = sample(g, 40, 1)
    bos = g.bos_id
    gens = [list(s) + [bos] for s in sentences[:30]] + [list(s) for s in sentences[30:35]] \
        + [[g.sep_id, bos]] * 5
    scores = score_generations(g, [bos], gens, workers=1)
    summary = scores.summary()
    assert summary["n"] == 40 and summary["valid"] == 30 and summary["n_no_stop"] == 5 and summary["n_special"] == 5
    assert scores.accuracy == 0.75 and scores.interval == wilson_interval(30, 40)
    assert scores.valid[:30].all() and not scores.valid[30:].any()


def test_corrupted_generations_fail_and_workers_agree():
    g = Grammar.load("cfg3f-d4")
    rng = np.random.default_rng(2)
    clean = sample(g, 200, rng)
    noisy, picked = corrupt(clean, 0.5, 0.1, rng, g, return_mask=True)
    bos = g.bos_id
    prompts = [[bos] + s[:5].tolist() for s in noisy]
    gens = [s[5:].tolist() + [bos] for s in noisy]
    serial = score_generations(g, prompts, gens, workers=1, first_errors=True)
    parallel = score_generations(g, prompts, gens, workers=2)
    assert serial.reasons == parallel.reasons
    assert serial.valid[~picked].all() and (~serial.valid[picked]).sum() > 50
    errors = [e for e, ok in zip(serial.first_errors, serial.valid) if not ok]
    assert all(e is not None and 1 <= e <= g.maxlen[g.root] + 1 for e in errors)
    with pytest.raises(ValueError):
        score_generations(g, prompts[:3], gens)


def test_collisions_and_diversity():
    a, b, c = [1, 2], [1, 2], [3]
    assert collision_pairs([a, b, c, [3], [3]]) == (1 + 3, 10)
    stats = diversity_stats([a, b, c, [2, 2]], valid=[True, True, True, False], reference=[[1], [2], [3], [4]],
                            training=[[1, 2]])
    assert stats.samples == 4 and stats.valid == 3
    assert stats.distinct_fraction == pytest.approx(2 / 3) and stats.collision_rate == pytest.approx(1 / 6)
    assert stats.reference_collision_rate == 0 and stats.novelty == pytest.approx(1 / 3)
    assert stats.memorization_suspected in (True, False)
    assert "collision_rate" in stats.to_dict()


def test_memorization_is_flagged_on_repeated_samples():
    g = Grammar.load("cfg3f-d3")
    fresh = sample(g, 500, 3)
    repeated = [fresh[i % 20] for i in range(500)]
    assert diversity_stats(repeated, reference=fresh).memorization_suspected
    assert not diversity_stats(sample(g, 500, 4), reference=fresh).memorization_suspected
