"""Brevo DAGs and the order validator (fuzzed); Mano expressions and the independent evaluator."""
import itertools
import math

import numpy as np
import pytest

from plmkit.data.playground import brevo, common, mano
from plmkit.data.playground.vocab import ANS, BOS, EOS, QUERY, split_names

B1 = brevo.PRESETS["brevo1"]
MINI = brevo.BrevoConfig(N=12)


# --- Brevo: the DAG ----------------------------------------------------------------------------------
def test_dag_degrees_leaves_and_query_position():
    rng = np.random.default_rng(0)
    for n in list(range(3, 40)) * 8:
        parents = brevo.random_dag(rng, n)
        leaves = sum(1 for p in parents if not p)
        assert 1 <= leaves <= math.ceil((n - 1) / 4) + 1
        assert all(not parents[v] for v in range(leaves))  # the leaves come first
        assert all(1 <= len(parents[v]) <= 4 and max(parents[v]) < v for v in range(leaves, n))
        out_degree = np.bincount([u for p in parents for u in p], minlength=n)
        assert out_degree.max() <= 4
        # the query range (last quarter) never holds a leaf, for every n >= 3
        assert n - math.ceil(n / 4) >= math.ceil((n - 1) / 4) + 1


@pytest.mark.parametrize("name", list(brevo.PRESETS))
def test_instances_have_the_paper_structure(name):
    cfg = brevo.PRESETS[name]
    rng = np.random.default_rng(1)
    for _ in range(10):
        inst = brevo.sample_instance(cfg, rng)
        tokens = inst.tokens.tolist()
        assert tokens[0] == BOS and tokens[-1] == EOS and tokens.count(QUERY) == tokens.count(ANS) == 1
        (a,) = inst.answers
        assert tokens[a.marker] == ANS and a.stop == len(tokens) - 1 and a.group == inst.info["n"]
        edge_names = split_names(tokens[1:tokens.index(QUERY)], cfg.names, cfg.layout.first_symbol)
        assert len(set(edge_names)) <= inst.info["n"] and len(edge_names) % 2 == 0
        query = tuple(tokens[tokens.index(QUERY) + 1:a.marker])
        answer = split_names(tokens[a.start:a.stop], cfg.names, cfg.layout.first_symbol)
        assert answer and query not in answer  # the kit follows the paper: q itself is not listed
        assert 1 <= inst.info["depth"] <= inst.info["max_depth"]
        assert brevo.validate(cfg, inst.tokens, inst.answer_tokens()[0]).correct


def test_n_equals_N_fits_the_paper_context():
    rng = np.random.default_rng(2)
    assert max(len(brevo.sample_instance(B1, rng, n=110).tokens) for _ in range(20)) <= 1024
    b2 = brevo.PRESETS["brevo2"]
    assert max(len(brevo.sample_instance(b2, rng, n=50).tokens) for _ in range(20)) <= 1536


def test_loss_weights_include_eos():
    inst = brevo.sample_instance(MINI, np.random.default_rng(3))
    a = inst.answers[0]
    w = inst.loss_weights()
    assert set(np.flatnonzero(w)) == {a.marker, *range(a.start, a.stop), len(inst.tokens) - 1}


# --- Brevo: the validator ----------------------------------------------------------------------------
def graph_of(inst, cfg):
    """Names of the answer vertices and the edges among them, read from the generator's answer."""
    names = split_names(inst.answer_tokens()[0], cfg.names, cfg.layout.first_symbol)
    edges = split_names(inst.tokens[1:inst.tokens.tolist().index(QUERY)], cfg.names, cfg.layout.first_symbol)
    pairs = [(u, v) for u, v in zip(edges[0::2], edges[1::2]) if u in names and v in names]
    return names, pairs


def flat(names):
    return [t for name in names for t in name]


def test_validator_matches_brute_force_on_random_orders():
    rng = np.random.default_rng(4)
    accepted = rejected = 0
    for cfg in (MINI, brevo.BrevoConfig(N=10, V=3, name_len=(2, 3))):
        for _ in range(40):
            inst = brevo.sample_instance(cfg, rng)
            names, pairs = graph_of(inst, cfg)
            for _ in range(10):
                order = [names[i] for i in rng.permutation(len(names))]
                position = {v: i for i, v in enumerate(order)}
                truth = all(position[u] < position[v] for u, v in pairs)
                verdict = brevo.validate(cfg, inst.tokens, flat(order))
                assert verdict.correct == truth, verdict.reason
                accepted += truth
                rejected += not truth
    assert accepted > 20 and rejected > 100


def test_validator_accepts_a_different_valid_order():
    rng = np.random.default_rng(5)
    found = 0
    for _ in range(200):
        inst = brevo.sample_instance(MINI, rng)
        names, pairs = graph_of(inst, MINI)
        if len(names) > 6:
            continue
        valid = [p for p in itertools.permutations(names)
                 if all(p.index(u) < p.index(v) for u, v in pairs)]
        for order in valid:  # every valid order, not only the generator's
            assert brevo.validate(MINI, inst.tokens, flat(order) + [EOS]).correct
        found += len(valid) > 1  # then at least one valid order differs from the generator's
    assert found > 10


def test_validator_rejects_edge_breaking_swaps_and_bad_lists():
    rng = np.random.default_rng(6)
    checked = 0
    for _ in range(100):
        inst = brevo.sample_instance(MINI, rng)
        names, pairs = graph_of(inst, MINI)
        for u, v in pairs:  # put a child before its parent
            order = list(names)
            i, j = order.index(u), order.index(v)
            order[i], order[j] = order[j], order[i]
            assert not brevo.validate(MINI, inst.tokens, flat(order)).correct
            checked += 1
        good = flat(names)
        query = inst.tokens[inst.tokens.tolist().index(QUERY) + 1]
        assert brevo.validate(MINI, inst.tokens, good + [EOS, 9999]).correct  # after <eos> is ignored
        for bad, reason in [(good[:-1], "missing"), (good + good[-1:], "twice"), (good + [query], "not an ancestor"),
                            (good + [ANS], "not a list"), ([], "missing")]:
            verdict = brevo.validate(MINI, inst.tokens, bad)
            assert not verdict.correct and reason in verdict.reason
    assert checked > 50


def test_score_generations_by_depth():
    test = brevo.eval_set(MINI, 30, seed=1)
    outputs = [list(i.answer_tokens()[0]) + [EOS] for i in test]
    outputs[0] = outputs[0][1:]  # drop an ancestor: wrong
    result = brevo.score_generations(MINI, test, outputs)
    assert result["count"] == 30 and result["accuracy"] == pytest.approx(29 / 30)
    assert sum(d["count"] for d in result["by_depth"].values()) == 30
    assert result["by_depth"][test[0].info["depth"]]["accuracy"] < 1


def test_validator_needs_a_brevo_instance():
    with pytest.raises(ValueError, match="not a Brevo instance"):
        brevo.validate(MINI, [BOS, 30, 31], [30])


# --- Brevo: determinism and the test split ---------------------------------------------------------
def test_brevo_determinism_and_eval_split():
    def run(seed):
        rng = np.random.default_rng(seed)
        return [brevo.sample_instance(B1, rng).tokens.tolist() for _ in range(10)]
    assert run(0) == run(0) and run(0) != run(1)
    test = brevo.eval_set(MINI, 10, seed=0)
    assert all(i.info["n"] == MINI.N for i in test)
    assert brevo.prompt(test[0])[-1] == ANS
    banned = common.fingerprints(test)
    drawn = brevo.sample_fn(MINI, exclude=banned)(np.random.default_rng(0), 200)
    assert not any(common.fingerprint(np.r_[BOS, e.tokens]) in banned for e in drawn)


# --- Mano --------------------------------------------------------------------------------------------
def test_mano_hand_example():
    """<bos> <len_3> + * a b - c d <ans> r, r = ((a*b) + (c-d)) mod 23."""
    cfg = mano.ManoConfig(L=3)
    plus, minus, times = cfg.operator_ids
    v = cfg.operand_id
    tokens = [BOS, cfg.length_id(3), plus, times, v(7), v(5), minus, v(2), v(9), ANS]
    assert cfg.layout.render(tokens) == "<bos> <len_3> + * 7 5 - 2 9 <ans>"
    assert mano.evaluate(cfg, tokens) == (7 * 5 + (2 - 9)) % 23 == 5
    assert mano.check(cfg, tokens, [v(5)]) and not mano.check(cfg, tokens, [v(6)])
    assert not mano.check(cfg, tokens, [v(5), v(5)])
    for broken in ([BOS, cfg.length_id(1), plus, v(1), ANS], [BOS, cfg.length_id(1), v(1), v(2), ANS]):
        with pytest.raises(ValueError, match="not a Mano instance"):
            mano.evaluate(cfg, broken)


def test_mano_generator_agrees_with_the_evaluator():
    cfg = mano.PRESETS["mano"]
    rng = np.random.default_rng(7)
    lengths = []
    for _ in range(400):
        inst = mano.sample_instance(cfg, rng)
        ops = inst.info["ops"]
        lengths.append(ops)
        assert len(inst.tokens) == 2 * ops + 5 and inst.tokens[1] == cfg.length_id(ops)
        (answer,) = inst.answer_tokens()
        assert mano.check(cfg, inst.tokens, answer)
        wrong = cfg.operand_id((int(answer[0]) - cfg.layout.first_symbol + 1) % cfg.modulus)
        assert not mano.check(cfg, inst.tokens, [wrong])
    assert min(lengths) == 1 and max(lengths) == cfg.L


def test_mano_loss_on_all_tokens_and_eval_length():
    cfg = mano.PRESETS["mano-mini"]
    inst = mano.sample_instance(cfg, np.random.default_rng(8))
    ex = inst.example()
    assert (ex.weights == 1).all() and ex.end_weight == 1
    test = mano.eval_set(cfg, 20, seed=0)
    assert {i.info["ops"] for i in test} == {cfg.L}
    assert [i.tokens.tolist() for i in test] == [i.tokens.tolist() for i in mano.eval_set(cfg, 20, seed=0)]
    values = [mano.evaluate(cfg, i.tokens) for i in mano.eval_set(cfg, 600, seed=1)]
    assert len(set(values)) == cfg.modulus  # every residue occurs
    with pytest.raises(ValueError, match="L must be"):
        mano.ManoConfig(L=0)
