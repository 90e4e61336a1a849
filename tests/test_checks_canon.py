"""Lab 07's checkers accept the reference solutions and reject plausible mistakes with a message naming them."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from plmkit import checks
from plmkit.checks.base import ExerciseNotDone
from plmkit.experiments.canon.cost import gated_hidden


def run(check, fn):
    check(fn)


def rejects(check, fn, *fragments):
    with pytest.raises(AssertionError) as info:
        check(fn)
    message = str(info.value)
    assert all(f in message for f in fragments), message


# --- exercise 1: causal depthwise convolution ------------------------------------------------------
def conv_reference(x, w):
    T = x.shape[1]
    return sum(F.pad(x, (0, 0, j, 0))[:, :T] * w[:, 3 - j] for j in range(4))


def test_canon_conv_accepts_the_shift_and_sum_and_the_conv_form(capsys):
    run(checks.canon_conv, conv_reference)
    run(checks.canon_conv, lambda x, w: F.conv1d(F.pad(x.transpose(1, 2), (3, 0)), w[:, None, :],
                                                groups=x.shape[-1]).transpose(1, 2))
    assert "all checks passed" in capsys.readouterr().out


def test_canon_conv_names_reversed_taps():
    rejects(checks.canon_conv, lambda x, w: conv_reference(x, w.flip(-1)), "reversed")


def test_canon_conv_names_the_residual():
    rejects(checks.canon_conv, lambda x, w: conv_reference(x, w) + x, "residual")


def test_canon_conv_names_wrap_around():
    rejects(checks.canon_conv, lambda x, w: sum(torch.roll(x, j, dims=1) * w[:, 3 - j] for j in range(4)), "torch.roll")


def test_canon_conv_names_same_padding():
    def same(x, w):
        y = F.conv1d(F.pad(x.transpose(1, 2), (1, 2)), w[:, None, :], groups=x.shape[-1])
        return y.transpose(1, 2)
    rejects(checks.canon_conv, same, "leaks the future")


def test_canon_conv_rejects_a_stub_with_a_reminder():
    def stub(x, w):
        raise NotImplementedError
    with pytest.raises(ExerciseNotDone, match="not implemented yet"):
        checks.canon_conv(stub)


# --- exercise 2: causality by perturbation -----------------------------------------------------
def is_causal_reference(f, T, dim):
    x = torch.randn(2, T, dim, dtype=torch.float64)
    base = f(x)
    for t in range(T - 1):
        changed = x.clone()
        changed[:, t + 1:] = torch.randn(2, T - t - 1, dim, dtype=torch.float64)
        if not torch.equal(f(changed)[:, : t + 1], base[:, : t + 1]):
            return False
    return True


def test_is_causal_accepts_the_reference():
    run(checks.is_causal, is_causal_reference)


def test_is_causal_names_comparing_every_position():
    def compares_all(f, T, dim):
        x = torch.randn(1, T, dim, dtype=torch.float64)
        changed = x.clone()
        changed[:, T // 2:] += 1
        return torch.equal(f(x), f(changed))
    rejects(checks.is_causal, compares_all, "positions <= t")


def test_is_causal_names_perturbing_position_t_itself():
    def includes_t(f, T, dim):
        x = torch.randn(1, T, dim, dtype=torch.float64)
        for t in range(T):
            changed = x.clone()
            changed[:, t:] += 1
            if not torch.equal(f(changed)[:, : t + 1], f(x)[:, : t + 1]):
                return False
        return True
    rejects(checks.is_causal, includes_t, "identity", "after t")


def test_is_causal_names_perturbing_only_the_last_position():
    def last_only(f, T, dim):
        x = torch.randn(1, T, dim, dtype=torch.float64)
        changed = x.clone()
        changed[:, -1] += 1
        return torch.equal(f(changed)[:, :-1], f(x)[:, :-1])
    rejects(checks.is_causal, last_only, "position 0 reads position 1", "every t")


def test_is_causal_names_a_loose_tolerance():
    def loose(f, T, dim):
        x = torch.randn(1, T, dim, dtype=torch.float64)
        for t in range(T - 1):
            changed = x.clone()
            changed[:, t + 1:] += 1
            if not torch.allclose(f(changed)[:, : t + 1], f(x)[:, : t + 1], atol=0.05):
                return False
        return True
    rejects(checks.is_causal, loose, "1e-3", "tolerance")


# --- exercise 3: Depo by walking the cycle ------------------------------------------------------
def depo_reference(tokens, cfg, offset=0, backwards=False, one_hop=False):
    first_query = next(i for i, t in enumerate(tokens) if t in cfg.query_ids)
    edges = tokens[1:first_query]
    successor = {edges[i]: edges[i + 1] for i in range(0, len(edges), 2)}
    if backwards:
        successor = {v: u for u, v in successor.items()}
    answers = []
    for i, t in enumerate(tokens):
        if t in cfg.query_ids:
            k = 1 if one_hop else cfg.query_ids.index(t) + 1 + offset
            node = tokens[i + 1]
            for _ in range(k):
                node = successor[node]
            answers.append(node)
    return answers


def test_depo_answers_accepts_the_walk():
    run(checks.depo_answers, depo_reference)


@pytest.mark.parametrize("mistake, fragment", [
    ({"offset": -1}, "off by one"), ({"offset": 1}, "off by one"), ({"backwards": True}, "backwards"),
    ({"one_hop": True}, "one hop away"),
])
def test_depo_answers_names_the_mistake(mistake, fragment):
    rejects(checks.depo_answers, lambda tokens, cfg: depo_reference(tokens, cfg, **mistake), fragment)


# --- exercise 4: a valid Brevo answer ------------------------------------------------------------
def brevo_reference(edges, query, answer, direct_only=False, include_query=False, ignore_order=False,
                    ignore_duplicates=False):
    parents = {}
    for u, v in edges:
        parents.setdefault(v, set()).add(u)
    needed, stack = set(), list(parents.get(query, ()))
    while stack:
        u = stack.pop()
        if u not in needed:
            needed.add(u)
            if not direct_only:
                stack.extend(parents.get(u, ()))
    if include_query:
        needed.add(query)
    if not ignore_duplicates and len(set(answer)) != len(answer):
        return False
    if set(answer) != needed:
        return False
    if ignore_order:
        return True
    seen = set()
    for v in answer:
        if not parents.get(v, set()) & needed <= seen:
            return False
        seen.add(v)
    return True


def test_brevo_valid_accepts_the_reference():
    run(checks.brevo_valid, brevo_reference)


def test_brevo_valid_names_a_canonical_order():
    def canonical(edges, query, answer):
        return brevo_reference(edges, query, answer) and answer == sorted(answer)
    rejects(checks.brevo_valid, canonical, "any topological order")


@pytest.mark.parametrize("mistake, fragment", [
    ({"ignore_order": True}, "before one of its parents"), ({"direct_only": True}, "recursively"),
    ({"include_query": True}, "only its ancestors"), ({"ignore_duplicates": True}, "twice"),
])
def test_brevo_valid_names_the_mistake(mistake, fragment):
    rejects(checks.brevo_valid, lambda e, q, a: brevo_reference(e, q, a, **mistake), fragment)


# --- exercise 5: parameters of a placement -----------------------------------------------------------
def param_reference(n_layer, d_model, placement, mlp="swiglu", b_width=3, d_kind="right", kernel=4, bias=0,
                    per_layer=False):
    d_width = {"right": 2 * gated_hidden(d_model) if mlp == "swiglu" else 4 * d_model,
               "hidden": gated_hidden(d_model) if mlp == "swiglu" else 4 * d_model,
               "4d": 4 * d_model}[d_kind]
    widths = {"A": d_model, "B": b_width * d_model, "C": d_model, "D": d_width}
    total = sum((kernel + bias) * widths[p] for p in placement)
    return total if per_layer else n_layer * total


def test_canon_param_count_accepts_the_formula():
    run(checks.canon_param_count, param_reference)


@pytest.mark.parametrize("mistake, fragment", [
    ({"b_width": 1}, "width 3d"), ({"d_kind": "hidden"}, "2 x hidden"), ({"d_kind": "4d"}, "standard MLP"),
    ({"kernel": 1}, "4 taps"), ({"bias": 1}, "no bias"), ({"per_layer": True}, "every layer"),
])
def test_canon_param_count_names_the_mistake(mistake, fragment):
    rejects(checks.canon_param_count, lambda *args: param_reference(*args, **mistake), fragment)


def test_the_brevo_cases_cover_every_kind_of_mistake():
    from plmkit.checks.canon import _brevo_cases

    kinds = {case[-1] for case in _brevo_cases()}
    assert kinds == {"valid", "valid, another order", "valid, by index", "edge-breaking swap", "missing vertex", "the query listed",
                     "duplicate", "direct parents only"}
    assert all(np.isscalar(case[1]) for case in _brevo_cases())
