"""Probe labels nece, dep, known, value, can_next, nece_next [P2.1 §4, App. E]."""
import numpy as np
import pytest

from plmkit.data import igsm
from plmkit.data.igsm.rand import Draws

PROBLEM = ("Maple Elementary's Chemistry Lab = 3. Chemistry Lab's Canvas Daypack = 2 + Maple Elementary's Chemistry Lab. "
           "Chemistry Lab's Leather Satchel = sum Chemistry Lab's Canvas Daypack, Maple Elementary's Chemistry Lab. "
           "Cedar Elementary's Chemistry Lab = 5 * Chemistry Lab's Canvas Daypack.")
QUESTION = "? Chemistry Lab's Backpack"
ME, CD, LS, CLB, CE = ("Maple Elementary's Chemistry Lab", "Chemistry Lab's Canvas Daypack", "Chemistry Lab's Leather Satchel",
                       "Chemistry Lab's Backpack", "Cedar Elementary's Chemistry Lab")


@pytest.fixture(scope="module")
def nano():
    return igsm.load_world("nano")


@pytest.fixture(scope="module")
def hand(nano):
    return igsm.parse_problem(nano, PROBLEM, QUESTION)


def col(labels, problem, name):
    return labels.column(problem.param_id(name))


def test_hand_checked_labels(hand):
    lab = igsm.probe_labels(hand, "pq")
    # G_d: the four instance parameters and the query; Maple Elementary's Classroom etc. are only in U
    assert sorted(lab.names) == sorted([ME, CD, LS, CLB, CE])
    assert [hand.name(p) for p in hand.order] == [ME, CD, LS, CLB]
    c = {n: col(lab, hand, n) for n in (ME, CD, LS, CLB, CE)}
    assert lab.nece[[c[ME], c[CD], c[LS], c[CLB]]].all() and not lab.nece[c[CE]]
    assert lab.dep[c[CLB], c[ME]] and lab.dep[c[CLB], c[LS]] and lab.dep[c[LS], c[ME]] and lab.dep[c[CE], c[ME]]
    assert not lab.dep[c[ME], c[CD]] and not lab.dep[c[CE], c[LS]] and not lab.dep[c[CLB], c[CLB]]
    assert lab.dep.sum() == 1 + 2 + 3 + 2  # CD<-ME; LS<-CD,ME; CLB<-CD,LS,ME; CE<-CD,ME
    # step j = 0..4: known grows along the solution order
    assert [lab.known[j, c[CD]] for j in range(5)] == [False, False, True, True, True]
    assert lab.value[0, c[ME]] == igsm.UNKNOWN_VALUE and lab.value[1, c[ME]] == 3 and lab.value[3, c[LS]] == 8
    assert lab.value[4, c[CLB]] == 13 and lab.value[4, c[CE]] == igsm.UNKNOWN_VALUE
    ready = lambda j: sorted(n for n in c if lab.can_next[j, c[n]])
    assert ready(0) == [ME] and ready(1) == [CD] and ready(2) == sorted([LS, CE]) and ready(3) == sorted([CLB, CE])
    assert ready(4) == [CE]
    assert not lab.nece_next[2, c[CE]] and lab.nece_next[2, c[LS]] and not lab.nece_next[4].any()


def test_positions(hand):
    for layout in ("pq", "qp"):
        lab = igsm.probe_labels(hand, layout)
        t = lab.tokens
        assert t[lab.nece_position + 1] == "<sol>" and t[lab.dep_position] == "."
        assert lab.step_positions[0] == t.index("<sol>") and all(t[i] == "." for i in lab.step_positions[1:])
        assert len(lab.step_positions) == len(hand.order) + 1
    pq, qp = igsm.probe_labels(hand, "pq"), igsm.probe_labels(hand, "qp")
    assert pq.tokens[pq.nece_position] == "Backpack" and pq.dep_position < pq.nece_position  # pq: end of question
    assert qp.dep_position == qp.nece_position  # qp: both at the end of the problem


def test_no_probe_pair_is_a_non_edge_or_an_empty_sum():
    for world_name in ("nano", "med"):
        world = igsm.load_world(world_name)
        draws = Draws(np.random.default_rng(1))
        for _ in range(60):
            p = igsm.sample_problem(world, draws=draws, split="any")
            st = p.structure
            for q in igsm.probe_labels(p).params:
                if st.is_abstract[q]:
                    assert p.preds_of(q)  # something to sum
                else:
                    layer, a, b = st.edges[q]
                    assert st.names[q] == (st.layers[layer][a], st.layers[layer + 1][b])


def test_labels_agree_with_the_problem():
    world = igsm.load_world("mini")
    draws = Draws(np.random.default_rng(2))
    for _ in range(40):
        p = igsm.sample_problem(world, draws=draws, split="any")
        lab = igsm.probe_labels(p, "qp")
        J = len(p.order) + 1
        assert lab.known.shape == lab.can_next.shape == (J, len(p.graph))
        assert not (lab.known & lab.can_next).any()
        for j in range(J - 1):  # the next solution step is always computable and necessary
            assert lab.nece_next[j, lab.column(p.order[j])]
        assert lab.nece.sum() == len(p.order)
        anc_counts = lab.dep.sum(axis=1)
        assert all(anc_counts[i] == bin(p.ancestors(q)).count("1") - sum(
            1 for x in p.universe if p.ancestors(q) >> x & 1 and x not in p.graph) for i, q in enumerate(lab.params))


def test_sampling_items_and_suffixes(hand, nano):
    lab = igsm.probe_labels(hand)
    rng = np.random.default_rng(3)
    for task in igsm.TASKS:
        items = igsm.sample_probe_items(lab, task, rng, k=10)
        assert 1 <= len(items) <= 10
        keys = {(i.position, i.a, i.b) for i in items}
        assert len(keys) == len(items)  # without replacement
        for item in items:
            if task == "dep":
                assert item.b != item.a and item.label == int(lab.dep[lab.column(item.a), lab.column(item.b)])
            elif task != "nece":
                assert item.label == int(lab.table(task)[item.step, lab.column(item.a)])
    dep = igsm.sample_probe_items(lab, "dep", rng, k=3)[0]
    ids = igsm.probe_input(hand, dep)
    tail = nano.vocab.tokens(ids[-9:])
    assert tail[0] == "[START]" and tail[4] == "[MID]" and tail[-1] == "[END]"
    assert len(igsm.probe_suffix(hand, dep.a)) == 5
    only = [p for p in hand.graph if p not in hand.necessary]
    assert all(i.a in only for i in igsm.sample_probe_items(lab, "can_next", rng, k=10, only=only))
    assert igsm.majority_baseline([0, 0, 1]) == pytest.approx(2 / 3)


def test_distance_to_query(hand):
    dist = {hand.name(p): t for p, t in igsm.distance_to_query(hand).items()}
    assert dist == {CLB: 0, CD: 1, LS: 1, ME: 2}


def test_ready_params_cover_the_universe(hand):
    ready = {hand.name(p) for p in igsm.ready_params(hand, hand.order[:1])}
    assert CD in ready and "Maple Elementary's Classroom" in ready and LS not in ready
