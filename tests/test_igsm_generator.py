"""iGSM generator: world, vocabulary, graph invariants, op law, split, determinism, round trip [P2.1 §2]."""
import json
import math

import numpy as np
import pytest

from plmkit.data import igsm
from plmkit.data.igsm.graphs import draw_hyper, draw_structure, layer_sizes
from plmkit.data.igsm.problem import assemble
from plmkit.data.igsm.rand import Draws
from plmkit.data.igsm.vocab import LETTERS
from plmkit.data.packing import OnlineStream


@pytest.fixture(scope="module")
def nano():
    return igsm.load_world("nano")


@pytest.fixture(scope="module")
def med():
    return igsm.load_world("med")


def problems(world, n, seed=0, **kw):
    draws = Draws(np.random.default_rng(seed))
    return [igsm.sample_problem(world, draws=draws, **kw) for _ in range(n)]


# --- world and vocabulary ---------------------------------------------------------------------------
def test_presets_and_sizes(nano, med):
    assert [len(nano.chains), len(med.chains)] == [1, 4]
    assert len(nano.items()) == 4 * 6 and len(med.items()) == 16 * 100
    assert 130 <= nano.vocab.vocab_size <= 160 and 1600 <= med.vocab.vocab_size <= 1800
    assert len(igsm.load_world("mini").items()) == 16 * 20
    assert igsm.preset("hard").ip_max == 28 and igsm.preset("med").op_max == 15
    with pytest.raises(ValueError, match="nano, mini, med, hard"):
        igsm.load_world("huge")


def test_vocab_ids_are_fixed_and_names_are_one_token(nano, med):
    v = nano.vocab
    assert v.tokenizer.id_to_token[:9] == list(igsm.SPECIALS) and v.pad == 0
    assert igsm.load_world("nano").vocab.id_to_token == v.id_to_token  # same world, same ids
    for name in med.items():
        assert len(med.vocab.encode(name)) == 1
    text = "Define Maple Elementary's Chemistry Lab as x; so x = 17. <ans> 17"
    assert v.decode(v.encode(text)) == text
    assert v.split("Maple Elementary's Backpack")[0] == "Maple_Elementary"


# --- structure graph -------------------------------------------------------------------------------------
def test_layer_sizes_keep_edge_bounds():
    draws = Draws(np.random.default_rng(1))
    for _ in range(3000):
        d, w0 = draws.between(2, 4), draws.between(2, 4)
        w1 = draws.between(w0, 4)
        e = draws.between((d - 1) * w0, (d - 1) * w1 * w1)
        sizes = layer_sizes(draws, d, w0, w1, e)
        e_min = sum(sizes[1:])
        e_max = sum(sizes[i] * sizes[i + 1] for i in range(d - 1))
        assert e_min <= e <= e_max and all(w0 <= s <= w1 for s in sizes)


def test_structure_graph_items_are_siblings(med):
    draws = Draws(np.random.default_rng(2))
    for _ in range(200):
        hyper = draw_hyper(draws, med.config, draws.between(1, 15))
        st = draw_structure(draws, med, hyper)
        assert st.ip == hyper.e <= med.config.ip_max and len(st.layers) == hyper.d
        chain = med.chains[st.chain]
        for l, layer in enumerate(st.layers):
            assert len(set(layer)) == len(layer)
            subs = [set(x.replace(" ", "_") for x in items) for cat in chain.categories
                    if cat.name == st.categories[l] for _, items in cat.subcategories]
            assert any(set(layer) <= sub for sub in subs)  # one sub-category per layer
        for l in range(1, hyper.d):  # every item below the top has a parent
            assert {b for (k, _, b) in st.edges if k == l - 1} == set(range(len(st.layers[l])))


# --- dependency graph and solution invariants [P2.1 Prop. D.3] ---------------------------------------
@pytest.mark.parametrize("world_name", ["nano", "mini", "med"])
def test_graph_and_solution_invariants(world_name):
    world = igsm.load_world(world_name)
    ops = list(world.config.in_distribution_ops) + list(world.config.ood_ops)
    draws = Draws(np.random.default_rng(3))
    for i in range(150):
        op = ops[i % len(ops)]
        p = igsm.sample_problem(world, op=op, split="any", draws=draws)
        pos = {x: k for k, x in enumerate(p.graph)}
        assert len(pos) == len(p.graph)
        assert set(range(p.ip)) <= set(p.graph)  # every instance parameter is in G_d
        for x in p.graph:  # G_d is a DAG: a topological order exists
            assert all(pos[q] < pos[x] for q in p.preds_of(x))
            if x < p.ip:
                assert 1 <= p.exprs[x].in_degree <= world.config.max_preds
            else:
                assert p.preds_of(x)  # no empty sums
        needed = {q for q in p.universe if p.ancestors(p.query) >> q & 1} | {p.query}
        assert set(p.order) == needed and p.order[-1] == p.query  # exactly the query's ancestors
        seen = set()
        for x in p.order:
            assert set(p.preds_of(x)) <= seen
            seen.add(x)
        assert p.op == op and p.solution_tokens.count(";") == op and p.ip <= world.config.ip_max
        defined = [t for s in p.solution_sentences for k, t in enumerate(s) if k + 1 < len(s) and s[k + 1] == "="
                   and t in LETTERS and (k == 0 or s[k - 1] in (";", "so"))]
        assert len(defined) == op == len(set(defined))  # one fresh letter per clause
        assert len(p.sentences) == p.ip and p.answer == p.values[p.query]


def test_sentences_and_question_formats(nano, med):
    p = problems(med, 1, seed=4, op=6)[0]
    assert all(s[:4] == ["The", "number", "of", "each"] and s[-1] == "." for s in p.sentences)
    assert p.question[:2] == ["How", "many"] and p.question[-1] == "?"
    q = problems(nano, 1, seed=4)[0]
    assert all(s[1] == "'s" and s[3] == "=" for s in q.sentences) and q.question[0] == "?"
    assert all(s[0] == "Define" for s in q.solution_sentences)


# --- the op law [P2.1 fn. 9] and the split [P2.1 §2.4] ----------------------------------------------------
def chi_square(counts, probs):
    total = sum(counts)
    return sum((c - total * p) ** 2 / (total * p) for c, p in zip(counts, probs))


def test_op_histogram_follows_min_of_two_law(nano):
    ps = problems(nano, 3000, seed=5)
    counts = [sum(p.op == k for p in ps) for k in (1, 2, 3)]
    assert counts[2] > 0  # the top training op is present
    assert chi_square(counts, igsm.op_law(3)) < 13.8  # chi-square, 2 dof, p = 0.001
    draws = Draws(np.random.default_rng(6))
    law = [igsm.draw_op(draws, 15) for _ in range(40000)]
    counts = [law.count(k) for k in range(1, 16)]
    assert counts[-1] > 0 and chi_square(counts, igsm.op_law(15)) < 36.1  # 14 dof, p = 0.001
    assert abs(igsm.op_law(15)[0] - 0.129) < 1e-3 and abs(igsm.op_law(21)[-1] - 0.0023) < 1e-4


def test_train_and_test_keys_never_overlap(nano):
    train = problems(nano, 400, seed=7, split="train")
    test = problems(nano, 400, seed=8, split="test")
    assert all(p.key < 17 for p in train) and all(p.key >= 17 for p in test)
    templates = lambda ps: {"\n".join(sorted(igsm.template(s, nano.vocab.item_set, nano.vocab.category_set)
                                             for s in p.sentences)) + igsm.template(p.solution_tokens,
                                             nano.vocab.item_set, nano.vocab.category_set) for p in ps}
    assert not templates(train) & templates(test)
    assert {p.op for p in test} == {1, 2, 3}  # the skeleton key splits every op
    paper = problems(nano, 50, seed=9, split="test", split_key="solution", op=3)
    assert all(p.keys["solution"] >= 17 for p in paper)


def test_template_ignores_letters_numbers_and_names(med):
    p = problems(med, 1, seed=10, op=7)[0]
    again = assemble(med, p.structure, p.exprs, p.graph, p.query, p.order, p.sentence_order,
                     list(reversed(LETTERS[: p.op])))
    assert again.solution_tokens != p.solution_tokens and again.keys == p.keys
    t = igsm.template(p.solution_tokens, med.vocab.item_set, med.vocab.category_set)
    assert "Inst" in t and not any(ch.isdigit() and ch != "0" for ch in t)


# --- determinism and the round trip ----------------------------------------------------------------------
def test_same_seed_same_bytes(med):
    dump = lambda seed: json.dumps([p.to_json() for p in problems(med, 30, seed=seed)]).encode()
    assert dump(11) == dump(11) and dump(11) != dump(12)


@pytest.mark.parametrize("world_name", ["nano", "med"])
def test_round_trip_parse_and_evaluate(world_name):
    world = igsm.load_world(world_name)
    for p in problems(world, 120, seed=13, split="any") + problems(world, 20, seed=14, op=world.config.ood_ops[-1]):
        q = igsm.parse_problem(world, p.problem_text, p.question_text)
        by_name = {q.name(x): q.values[x] for x in q.universe}
        assert all(by_name[p.name(x)] == p.values[x] for x in p.universe)  # every value of U
        assert q.answer == p.answer and q.op == p.op and q.ip == p.ip
        assert {q.name(x) for x in q.necessary} == {p.name(x) for x in p.necessary}
        assert q.problem_text == p.problem_text


def test_parse_rejects_bad_text(nano):
    p = problems(nano, 1, seed=15)[0]
    with pytest.raises(ValueError, match="unknown word"):
        igsm.parse_problem(nano, p.problem_text + " Bogus.", p.question_text)
    with pytest.raises(ValueError):
        igsm.parse_problem(nano, p.problem_text[:-1], p.question_text)
    with pytest.raises(ValueError):
        igsm.parse_problem(nano, p.problem_text, "? Pencil's Pen")


# --- reask and training sequences --------------------------------------------------------------------------
def test_reask_keeps_sentences_and_changes_question(nano):
    draws = Draws(np.random.default_rng(16))
    for _ in range(50):
        base = igsm.sample_problem(nano, op=4, split="any", draws=draws)
        r = igsm.reask(base, split="test", draws=draws)
        if r is None:
            continue
        assert r.reask and r.sentences == base.sentences and r.query != base.query and r.key >= 17
        assert r.order[-1] == r.query and set(r.order) <= set(r.graph)
        assert igsm.check_solution(r, r.solution_tokens + ["<ans>", str(r.answer)]).correct
    item = igsm.sample_reask(nano, np.random.default_rng(17), op=4)
    assert item.reask and item.split == "test"


def test_sequence_layouts_and_loss_weights(nano):
    p = problems(nano, 1, seed=18, op=3)[0]
    v = nano.vocab
    ids, w = p.sequence("pq")
    tokens = v.tokens(ids)
    sol = tokens.index("<sol>")
    assert tokens[0] == "<bos>" and tokens[-3:] == ["<ans>", str(p.answer), "<eos>"]
    assert tokens[1:sol] == p.problem_tokens + p.question
    assert w[:sol + 1].sum() == 0 and w[sol + 1:].min() == 1
    qp = v.tokens(p.sequence("qp")[0])
    assert qp[1:sol] == p.question + p.problem_tokens
    assert p.sequence("pq", loss="all")[1].min() == 1
    assert list(p.prompt("qp")) == v.ids(qp[: sol + 1])
    ex = p.example("pq")
    assert list(ex.tokens) == list(ids[:-1]) and ex.end_weight == 1.0
    with pytest.raises(ValueError, match="pq, qp"):
        p.sequence("pp")


def test_training_sample_fn_plugs_into_online_stream(nano):
    fn = igsm.training_sample_fn(nano, window=128)
    stream = OnlineStream(fn, context=128, batch_size=4, sep_id=nano.vocab.eos, seed=0, truncate=False,
                          examples_per_call=8)
    a, b = stream.batch(0), stream.batch(0)
    assert a.inputs.shape == (4, 128) and bool((a.inputs == b.inputs).all())
    assert float(a.weights.sum()) > 0 and int(a.inputs.max()) < nano.vocab.vocab_size
    examples = fn(np.random.default_rng(1), 20)
    assert len(examples) == 20 and all(len(e.tokens) + 2 <= 129 for e in examples)
    retry = igsm.training_sample_fn(nano, retry=0.4, retry_kind="retry_weak", mask_wrong=True)(np.random.default_rng(2), 30)
    back = nano.vocab.back
    assert any(back in e.tokens for e in retry)
