"""Depo generator, size law, independent cycle walk, train/test separation, copy side task."""
import json

import numpy as np
import pytest

from plmkit.data.packing import pack_windows
from plmkit.data.playground import common, copy, depo
from plmkit.data.playground.vocab import ANS, BOS, PAD, QUERY, split_names

MICRO = depo.PRESETS["depo-micro"]


def instances(cfg, count, seed, **kw):
    rng = np.random.default_rng(seed)
    return [depo.sample_instance(cfg, rng, **kw) for _ in range(count)]


def as_bytes(insts):
    return json.dumps([i.to_json() for i in insts]).encode()


# --- size law -------------------------------------------------------------------------------------
@pytest.mark.parametrize("N, mean, p_top", [(8, 5.1, 0.123), (32, 13.8, 0.017), (375, 109.5, 0.0009)])
def test_size_law_reference_values(N, mean, p_top):
    sizes, p = common.size_law(N)
    assert sizes[0] == 3 and sizes[-1] == N and p.sum() == pytest.approx(1.0)
    assert (sizes * p).sum() == pytest.approx(mean, abs=0.05)
    assert p[-1] == pytest.approx(p_top, abs=0.0005)


def test_size_law_histogram_chi_square():
    N, draws = 8, 20000
    rng = np.random.default_rng(0)
    counts = np.bincount([common.draw_size(rng, N) for _ in range(draws)], minlength=N + 1)[3:]
    expected = common.size_law(N)[1] * draws
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 20.5  # 5 degrees of freedom, p ~ 0.001


def test_depo_sizes_follow_the_law():
    cfg = depo.DepoConfig(N=12, K=3, V=20, name_len=(1, 1))
    ns = np.array([i.info["n"] for i in instances(cfg, 3000, 1)])
    sizes, p = common.size_law(12)
    observed = np.array([(ns == s).mean() for s in sizes])
    assert np.abs(observed - p).max() < 0.03 and ns.min() >= 3 and ns.max() <= 12


# --- format ---------------------------------------------------------------------------------------
def test_worked_example_is_walked_correctly():
    """<bos> 9 5 7 3 5 7 3 9 <query_2> 3 <ans> 5 <query_1> 9 <ans> 5, cycle 7 -> 3 -> 9 -> 5 -> 7."""
    cfg = depo.DepoConfig(N=4, K=2, V=10, name_len=(1, 1))
    sym = lambda s: cfg.layout.first_symbol + s - 1  # noqa: E731
    q1, q2 = cfg.query_ids
    tokens = [BOS, *map(sym, [9, 5, 7, 3, 5, 7, 3, 9]), q2, sym(3), ANS, sym(5), q1, sym(9), ANS, sym(5)]
    assert cfg.layout.render(tokens) == "<bos> 9 5 7 3 5 7 3 9 <query_2> 3 <ans> 5 <query_1> 9 <ans> 5"
    assert depo.walk(cfg, tokens) == [(sym(5),), (sym(5),)]
    assert depo.check(cfg, tokens, [[sym(5)], [sym(5)]]) == [True, True]
    assert depo.check(cfg, tokens, [[sym(9)], [sym(5)]]) == [False, True]
    # k >= n wraps around the cycle: 6 hops from 3 on a 4-cycle = 2 hops
    big = depo.DepoConfig(N=4, K=6, V=10, name_len=(1, 1))
    sym6 = lambda s: big.layout.first_symbol + s - 1  # noqa: E731
    tokens6 = [BOS, *map(sym6, [9, 5, 7, 3, 5, 7, 3, 9]), big.query_ids[5], sym6(3), ANS]
    assert depo.walk(big, tokens6) == [(sym6(5),)]


@pytest.mark.parametrize("name", list(depo.PRESETS))
def test_instances_have_the_paper_structure(name):
    cfg = depo.PRESETS[name]
    first, names = cfg.layout.first_symbol, cfg.names
    for inst in instances(cfg, 6, 2):
        n, tokens = inst.info["n"], inst.tokens
        assert tokens[0] == BOS and 3 <= n <= cfg.N and PAD not in tokens
        marks = [i for i, t in enumerate(tokens) if t in cfg.query_ids]
        edge_names = split_names(tokens[1:marks[0]], names, first)
        assert len(edge_names) == 2 * n
        sources = edge_names[0::2]
        assert len(set(sources)) == n and set(sources) == set(edge_names[1::2])  # n distinct names, each once
        assert all(names.min_len <= len(x) <= names.max_len for x in sources)
        assert len(inst.answers) == len(marks) == min(10, n)
        queries = [tuple(tokens[m + 1:a.marker]) for m, a in zip(marks, inst.answers)]
        assert len(set(queries)) == len(queries)  # distinct query nodes
        assert all(1 <= a.group <= cfg.K and tokens[a.marker] == ANS for a in inst.answers)


@pytest.mark.parametrize("name", list(depo.PRESETS))
def test_walk_accepts_every_generated_answer_and_rejects_mutations(name):
    cfg = depo.PRESETS[name]
    rng = np.random.default_rng(3)
    for inst in instances(cfg, 5, 4):
        answers = [a.tolist() for a in inst.answer_tokens()]
        assert depo.check(cfg, inst.tokens, answers) == [True] * len(answers)
        assert depo.query_hops(cfg, inst.tokens) == [a.group for a in inst.answers]
        j = int(rng.integers(len(answers)))
        wrong_name = [list(a) for a in answers]
        first_query = next(i for i, t in enumerate(inst.tokens) if t in cfg.query_ids)
        node_names = split_names(inst.tokens[1:first_query], cfg.names, cfg.layout.first_symbol)
        others = [list(x) for x in node_names if list(x) != answers[j]]
        wrong_name[j] = others[int(rng.integers(len(others)))]
        verdict = depo.check(cfg, inst.tokens, wrong_name)
        assert verdict[j] is False and sum(verdict) == len(answers) - 1
        truncated = [list(a) for a in answers]
        truncated[j] = truncated[j][:-1] or [PAD]
        assert depo.check(cfg, inst.tokens, truncated)[j] is False


def test_depo2_edges_are_ten_to_fourteen_tokens():
    cfg = depo.PRESETS["depo2"]
    inst = instances(cfg, 1, 5, n=cfg.N)[0]
    first_query = next(i for i, t in enumerate(inst.tokens) if t in cfg.query_ids)
    names = split_names(inst.tokens[1:first_query], cfg.names, cfg.layout.first_symbol)
    widths = [len(a) + len(b) for a, b in zip(names[0::2], names[1::2])]
    assert min(widths) >= 10 and max(widths) <= 14
    assert 1550 <= len(inst.tokens) <= 1750  # about 1,640 at n = N


def test_malformed_instance_is_a_clear_error():
    with pytest.raises(ValueError, match="not a Depo instance"):
        depo.walk(MICRO, [BOS, MICRO.layout.first_symbol, MICRO.query_ids[0]])
    with pytest.raises(ValueError, match="queries"):
        inst = instances(MICRO, 1, 0)[0]
        depo.check(MICRO, inst.tokens, [])


@pytest.mark.parametrize("kwargs, match", [
    (dict(N=2), "N must be"), (dict(K=0), "K must be"), (dict(N=30, V=20, name_len=(1, 1)), "distinct names"),
    (dict(name_len=(3, 2)), "name lengths"),
])
def test_bad_sizes(kwargs, match):
    with pytest.raises(ValueError, match=match):
        depo.DepoConfig(**kwargs)


# --- determinism, loss weights, packing ------------------------------------------------------------------
def test_same_seed_same_bytes():
    for cfg in (MICRO, depo.PRESETS["depo2"]):
        assert as_bytes(instances(cfg, 20, 7)) == as_bytes(instances(cfg, 20, 7))
        assert as_bytes(instances(cfg, 20, 7)) != as_bytes(instances(cfg, 20, 8))
    stream = lambda: common.online_stream(depo.sample_fn(MICRO), 128, 8, seed=3)  # noqa: E731
    a, b = stream().batch(5), stream().batch(5)
    assert a.inputs.equal(b.inputs) and a.weights.equal(b.weights)
    assert not a.inputs.equal(stream().batch(6).inputs)


def test_loss_weights_cover_markers_and_answers_only():
    inst = instances(MICRO, 1, 9)[0]
    ex = inst.example()
    marked = {a.marker - 1 for a in inst.answers} | {p - 1 for a in inst.answers for p in range(a.start, a.stop)}
    assert set(np.flatnonzero(ex.weights)) == marked and ex.end_weight == 0
    assert ex.tokens[0] != BOS and len(ex.tokens) == len(inst.tokens) - 1
    no_marker = inst.example(marker_weight=0.0)
    assert set(np.flatnonzero(no_marker.weights)) == {p - 1 for a in inst.answers for p in range(a.start, a.stop)}


def test_packed_windows_hold_whole_instances():
    stream = common.online_stream(depo.sample_fn(MICRO), context=128, batch_size=16, seed=0)
    batch = stream.batch(0)
    for row in range(16):
        window = np.concatenate([batch.inputs[row].numpy(), batch.targets[row, -1:].numpy()])
        assert window[0] == BOS
        body = window[:len(window) - np.argmax(window[::-1] != PAD)]  # drop the padding
        pieces = np.split(body, np.flatnonzero(body == BOS))[1:]
        for piece in pieces[:-1] if body[-1] == BOS else pieces:
            if len(piece) > 1:
                assert all(depo.check(MICRO, piece, [list(t) for t in depo.walk(MICRO, piece)]))
        assert body[-1] == BOS  # the last instance is whole and closed by the separator


# --- evaluation sets and train/test separation -------------------------------------------------------
def test_eval_set_fixes_n_and_k():
    test = depo.eval_set(MICRO, 10, seed=0)
    assert all(i.info["n"] == MICRO.N and {a.group for a in i.answers} == {MICRO.K} for i in test)
    curve = depo.eval_set(MICRO, 30, seed=0, ks=MICRO.eval_ks())
    assert MICRO.eval_ks() == (1, 2, 4) and {a.group for i in curve for a in i.answers} == {1, 2, 4}
    assert depo.PRESETS["depo2"].eval_ks() == (1, 2, 4, 8, 16)
    with pytest.raises(ValueError, match="k must be"):
        depo.eval_set(MICRO, 1, ks=(5,))


def test_training_stream_never_contains_an_eval_instance():
    tiny = depo.DepoConfig(N=3, K=1, V=3, name_len=(1, 1), max_queries=1)  # a space small enough to collide
    test = depo.eval_set(tiny, 8, seed=0)
    banned = common.fingerprints(test)
    drawn = depo.sample_fn(tiny)(np.random.default_rng(0), 400)
    assert any(common.fingerprint(np.r_[BOS, e.tokens]) in banned for e in drawn)  # without exclusion: collisions
    clean = depo.sample_fn(tiny, exclude=banned)(np.random.default_rng(0), 400)
    assert not any(common.fingerprint(np.r_[BOS, e.tokens]) in banned for e in clean)
    assert as_bytes(depo.eval_set(tiny, 8, seed=0)) == as_bytes(test)


# --- copy ---------------------------------------------------------------------------------------------
def test_copy_format_check_and_weights():
    cfg = copy.PRESETS["copy-mini"]
    rng = np.random.default_rng(0)
    inst = copy.sample_instance(cfg, rng)
    N = cfg.N
    assert len(inst.tokens) == cfg.instance_length == 130 and inst.tokens[0] == BOS and inst.tokens[N + 1] == QUERY
    first, second = inst.tokens[1:N + 1], inst.tokens[N + 2:]
    assert sorted(first - cfg.layout.first_symbol + 1) == list(range(1, N + 1)) and (first == second).all()
    assert copy.check(inst.tokens, second) and copy.check(inst.tokens, inst.answer_tokens()[0])
    swapped = second.copy()
    swapped[[3, 7]] = swapped[[7, 3]]
    assert not copy.check(inst.tokens, swapped) and not copy.check(inst.tokens, second[:-1])
    ex = inst.example()
    assert set(np.flatnonzero(ex.weights)) == set(range(N + 1, 2 * N + 1)) and ex.end_weight == 0
    tok, w, used = pack_windows([ex, ex], context=130, sep_id=BOS, truncate=False)
    assert tok.shape == (2, 131) and used == 2 and w.sum() == 2 * N  # one instance per 130-token window
    evals = [[i.tokens.tolist() for i in copy.eval_set(cfg, 3, seed)] for seed in (1, 1, 2)]
    assert evals[0] == evals[1] != evals[2]
    with pytest.raises(ValueError, match="not a copy instance"):
        copy.check([BOS, 5, 6], [5, 6])
