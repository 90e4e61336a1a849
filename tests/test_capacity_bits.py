"""Bit counting of Part 3.3: entropy, losses -> bits, lower bound, capacity ratio, P."""
import math

import numpy as np
import pytest
import torch

from plmkit.data import bios
from plmkit.data.capacity import (EOS_ID, LOG2E, BioDConfig, biod_entropy, biod_learned_bits, biod_losses,
                                  biod_lower_bound, biod_max_bits, bios_learned_bits, bios_max_bits,
                                  capacity_ratio, counted_parameters, generate_biod, log2_binomial, masked_sums,
                                  measure_biod, measurement_lines, preset, token_losses)
from plmkit.model import GPT, GPTConfig

# A case small enough to do by hand: 2 of N0 = 4 names, 1 attribute, pools of D = 2 one-token chunks
# out of T = 4 tokens.
HAND = BioDConfig(N=2, K=1, C=1, D=2, L=1, T=4, name_pools=(4,))


def test_log2_binomial_matches_exact_integers():
    for n, k in [(4, 2), (10, 0), (10, 10), (52, 5), (65_536, 500), (10 ** 6, 1000)]:
        assert log2_binomial(n, k) == pytest.approx(math.log2(math.comb(n, k)), rel=1e-12, abs=1e-9)
    huge = 40_000 ** 50  # far beyond floats; k*log2(n) - log2(k!) dominates
    assert log2_binomial(huge, 3) == pytest.approx(3 * math.log2(huge) - math.log2(6), rel=1e-12)
    with pytest.raises(ValueError):
        log2_binomial(3, 4)


def test_entropy_and_max_bits_by_hand():
    e = biod_entropy(HAND)
    assert e.name == pytest.approx(math.log2(6))  # which 2 of 4 names: C(4, 2) = 6
    assert e.value == pytest.approx(2.0)  # 2 people x 1 attribute x 1 chunk x log2 2
    assert e.diversity == pytest.approx(math.log2(6))  # which 2 of 4 chunks form the pool
    m = biod_max_bits(HAND)
    assert (m.name, m.value, m.diversity) == pytest.approx((2.0, 2.0, 2.0))  # N log2(N0/N), NKC log2 D, KD log2(T/D)
    assert m.total <= e.total


def test_learned_bits_and_lower_bound_by_hand():
    # p1 = ln 2 (knows the 2 names), p2 = p3 = ln 2 / 2 (half a bit short on each value)
    b = biod_learned_bits(HAND, p1=math.log(2), p2=math.log(2) / 2, p3=math.log(2) / 2)
    assert (b.name, b.value, b.diversity) == pytest.approx((2 * (2 - 1), 2 * (1 - 0.5), 2 * (1 - 0.5)))
    lb = biod_lower_bound(HAND, p1=math.log(2), p2=math.log(2) / 2, p3=math.log(2) / 2)
    # N0 - N = 2 and T^L - D = 2 replace N0 and T^L: log2(2/2) = 0 and log2(2/(2*sqrt 2)) = -1/2
    assert (lb.name, lb.value, lb.diversity) == pytest.approx((0.0, 1.0, -1.0))
    assert capacity_ratio(b.total, 4) == pytest.approx(b.total / 4) and b.ratio(4) == pytest.approx(b.total / 4)
    with pytest.raises(ValueError):
        capacity_ratio(1.0, 0)


def test_each_term_is_zero_at_its_uniform_guess_and_negative_below_it():
    cfg = preset("bioD-tiny", N=700)
    names_uniform = math.log(cfg.N0)  # uniform over the whole name space
    values_uniform = cfg.C * math.log(cfg.D)  # uniform over the attribute's pool
    pools_uniform = math.log(cfg.T ** cfg.L / cfg.D)
    b = biod_learned_bits(cfg, names_uniform, values_uniform, pools_uniform)
    assert (b.name, b.value, b.diversity) == pytest.approx((0, 0, 0), abs=1e-9)
    worse = biod_learned_bits(cfg, names_uniform + 1, values_uniform + 1, pools_uniform + 1)
    assert worse.name < 0 and worse.value < 0 and worse.diversity < 0  # reported, never clamped


def test_oracle_stores_the_full_entropy_and_no_more():
    for cfg in (HAND, preset("bioD-tiny", N=1500), BioDConfig(N=10 ** 5, K=20, C=3, D=1000, L=4, T=5000)):
        oracle = biod_learned_bits(cfg, p1=math.log(cfg.N), p2=0.0, p3=0.0)
        assert oracle.total == pytest.approx(biod_max_bits(cfg).total, rel=1e-12)
        assert oracle.total <= biod_entropy(cfg).total
        assert biod_lower_bound(cfg, math.log(cfg.N), 0.0, 0.0).total <= oracle.total


def test_no_loss_can_beat_the_data():
    """Losses are >= their floors (ln N for names by Gibbs' inequality, 0 for values), so bits <= R^max."""
    cfg = preset("bioD-tiny", N=500)
    rng = np.random.default_rng(0)
    top = biod_max_bits(cfg).total
    for _ in range(50):
        p1, p2, p3 = math.log(cfg.N) + rng.exponential(), rng.exponential(), rng.exponential()
        assert biod_learned_bits(cfg, p1, p2, p3).total <= top


def test_tiny_worked_numbers():
    cfg = preset("bioD-tiny", N=500)
    m = biod_max_bits(cfg)
    assert m.name / cfg.N == pytest.approx(math.log2(65_536 / 500))
    assert m.value / cfg.N == 48.0  # 8 attributes x log2 64
    assert m.diversity == 1024.0  # 8 x 64 x log2(256/64)


def test_bios_units_full_pools():
    pools = bios.pools_for_profile("gpu")
    log2_S0 = pools.information_bits(2)["log2_S0"]
    assert log2_S0 == pytest.approx(47.5916, abs=1e-4)
    per_person = bios_max_bits(100_000, pools.name_space_size, log2_S0)
    assert per_person.total / 100_000 == pytest.approx(58.24, abs=0.01)
    assert per_person.total == pytest.approx(5.82e6, rel=1e-3)
    uniform = bios_learned_bits(100_000, pools.name_space_size, log2_S0, p1=math.log(pools.name_space_size),
                                p2=log2_S0 / LOG2E)
    assert uniform.total == pytest.approx(0.0, abs=1e-6)


def test_losses_are_summed_per_name_and_value():
    cfg = BioDConfig(N=3, K=2, C=2, D=3, L=2, T=5, name_pools=(9, 9))
    data = generate_biod(cfg, 0)
    rows, positions = measurement_lines(data, seed=1)
    loss = np.random.default_rng(2).random((3, rows.shape[1] - 1))
    out = biod_losses(torch.tensor(loss), positions, cfg.name_length, cfg.L)
    for i in range(3):  # the reference: a plain loop over people
        assert out.name[i] == pytest.approx(loss[i, :2].sum())
        for a in range(2):
            assert out.value[i, a] == pytest.approx(loss[i, positions[i, a]].sum())
            assert out.value1[i, a] == pytest.approx(loss[i, positions[i, a, :2]].sum())
    assert out.p2 == pytest.approx(out.value.mean())
    mask = np.zeros_like(loss)
    mask[:, :2] = 1
    assert np.allclose(masked_sums(loss, mask), out.name)
    with pytest.raises(ValueError):
        biod_losses(loss, positions, cfg.name_length, 3)


def test_token_losses_match_the_model_loss():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=40, context=16, n_layer=1, n_head=2, d_model=16))
    tokens = torch.randint(0, 40, (5, 12))
    per_token = token_losses(model, tokens, batch_size=2)
    assert per_token.shape == (5, 11)
    with torch.no_grad():
        mean = model(tokens[:, :-1], targets=tokens[:, 1:]).loss
    assert per_token.mean() == pytest.approx(float(mean), rel=1e-5)
    uniform = token_losses(lambda x: torch.zeros(*x.shape, 40), tokens)
    assert np.allclose(uniform, math.log(40))


def knowing_logits(data, knows_people: bool):
    """A hand-written "model" for bioD lines with one-token values.

    Names: ``knows_people`` -> the true distribution over the N drawn names (p1 = ln N); else uniform over
    the whole name space (p1 = ln N0). Values: ``knows_people`` -> the person's value with probability 1;
    else uniform over the attribute's pool (p2 = ln D).
    """
    cfg = data.config
    V, big = cfg.vocab_size, 1e4
    first_counts = np.bincount(data.names[:, 0], minlength=cfg.name_pools[0])
    pair_counts = np.zeros(cfg.name_pools, dtype=np.float64)
    np.add.at(pair_counts, (data.names[:, 0], data.names[:, 1]), 1)
    person_of = np.full(cfg.N0, -1)
    person_of[data.names[:, 0] * cfg.name_pools[1] + data.names[:, 1]] = np.arange(cfg.N)
    values = data.value_ids[:, :, 0]
    pool_ids = data.pools[:, :, 0] + cfg.first_value_id

    def logits_fn(x):
        x = x.numpy()
        b, s = x.shape
        out = np.full((b, s, V), -big)
        name_ids = lambda counts: np.where(counts > 0, np.log(np.maximum(counts, 1e-300)), -big)  # noqa: E731
        if knows_people:
            out[:, 0, 3:3 + cfg.name_pools[0]] = name_ids(first_counts)
            out[:, 1, 3:3 + cfg.name_pools[1]] = name_ids(pair_counts[x[:, 1] - 3])
        else:
            out[:, 0, 3:3 + cfg.name_pools[0]] = 0.0
            out[:, 1, 3:3 + cfg.name_pools[1]] = 0.0
        person = person_of[(x[:, 1] - 3) * cfg.name_pools[1] + (x[:, 2] - 3)]
        for t in range(2, s):
            attr = x[:, t] - cfg.first_attribute_id
            is_attr = (attr >= 0) & (attr < cfg.K)
            out[~is_attr, t, cfg.first_attribute_id:cfg.first_value_id] = 0.0  # next: some attribute
            for row in np.nonzero(is_attr)[0]:  # test helper only; the measurement itself is vectorised
                if knows_people:
                    out[row, t, values[person[row], attr[row]]] = 0.0
                else:
                    out[row, t, pool_ids[attr[row]]] = 0.0
        return torch.tensor(out, dtype=torch.float32)

    return logits_fn


def test_oracle_model_measures_exactly_r_max():
    data = generate_biod(preset("bioD-tiny", N=120), 0)
    m = measure_biod(knowing_logits(data, knows_people=True), data, parameters=1000, batch_size=64)
    assert m.losses.p1 == pytest.approx(math.log(120), rel=1e-6)
    assert m.losses.p2 == pytest.approx(0.0, abs=1e-6)
    assert m.learned.total == pytest.approx(m.max_bits.total, rel=1e-7)
    assert m.R == pytest.approx(m.R_max, rel=1e-7) and m.learned.total <= biod_entropy(data.config).total


def test_uniform_model_stores_zero_bits():
    # With T^L = D^2, a pool-uniform first chunk (loss ln D) is also the diversity term's zero point.
    cfg = BioDConfig(N=60, K=3, C=1, D=16, L=1, T=256, name_pools=(64, 64))
    data = generate_biod(cfg, 1)
    m = measure_biod(knowing_logits(data, knows_people=False), data, parameters=1000)
    assert m.losses.p1 == pytest.approx(math.log(cfg.N0), rel=1e-6)
    assert m.losses.p2 == pytest.approx(math.log(cfg.D), rel=1e-6)
    assert (m.learned.name, m.learned.value, m.learned.diversity) == pytest.approx((0, 0, 0), abs=1e-3)


def test_measure_a_real_model_and_count_its_parameters():
    data = generate_biod(preset("bioD-ci"), 0)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=data.config.vocab_size, context=32, n_layer=1, n_head=2, d_model=16,
                          tie_embeddings=True))
    m = measure_biod(model, data)
    used = len(data.used_token_ids())
    assert m.parameters == model.param_counts()["non_embedding"] + used * 16  # tied: counted once
    assert m.people_measured == 100 and m.R < 0  # an untrained model is worse than the uniform guess
    half = measure_biod(model, data, sample=50, parameters=m.parameters)
    assert half.people_measured == 50 and half.max_bits == m.max_bits  # bits still refer to all N
    assert set(m.as_dict()) >= {"p1", "p2", "p3", "R", "R_max", "learned", "lower_bound"}
    with pytest.raises(ValueError, match="parameters"):
        measure_biod(lambda x: torch.zeros(*x.shape, data.config.vocab_size), data)


def test_what_p_counts_for_gpt2_12_12():
    """GPT2-12-12 with the 3,275 GPT-2 tokens bioS uses counts as about 88M, not 124M [P3.3 App. A]."""
    with torch.device("meta"):
        model = GPT(GPTConfig(vocab_size=50_257, context=512, n_layer=12, n_head=12, d_model=768,
                              tie_embeddings=True))
    p = counted_parameters(model, range(3275))
    assert p == pytest.approx(12 * 12 * 768 ** 2 + 3275 * 768, rel=2e-3)
    assert 87e6 < p < 88.5e6
    untied = GPT(GPTConfig(vocab_size=30, context=8, n_layer=1, n_head=1, d_model=8))
    assert counted_parameters(untied, range(10)) == untied.param_counts()["total"] - 2 * 20 * 8
    assert EOS_ID == 1


def test_tagged_lines_are_measured_after_the_tag():
    data = generate_biod(preset("bioD-tiny", N=80), 2)
    oracle = knowing_logits(data, knows_people=True)

    def tagged_oracle(x):  # the same knowledge, reading lines that start with <tag> after <eos>
        inner = oracle(torch.cat([x[:, :1], x[:, 2:]], dim=1))
        return torch.cat([torch.zeros(x.shape[0], 1, inner.shape[2]), inner], dim=1)

    m = measure_biod(tagged_oracle, data, parameters=1000, tag=True)
    assert m.losses.p1 == pytest.approx(math.log(80), rel=1e-6) and m.losses.p2 == pytest.approx(0.0, abs=1e-6)
    rows, _ = measurement_lines(data, tag=True)
    assert (rows[:, 1] == 2).all() and rows.shape[1] == 2 + data.config.line_length
