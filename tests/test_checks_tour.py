"""Lab 00's checkers: each passes the lab's own solution, fails its stub, and names plausible mistakes."""
import math

import pytest
import torch
import torch.nn.functional as F

from plmkit import labs
from plmkit.checks import tour as checks  # the lab calls them as checks.<name>
from test_checks import exercise_cells, run_cell

LAB = "00_tour"


def solution(name: str):
    """The lab's reference solution of one exercise, as a function."""
    for param in exercise_cells(LAB):
        imports, source = param.values[0], param.values[1]
        if f"def {name}(" in source:
            namespace: dict = {}
            run_cell(source.split("\nchecks.")[0], imports, namespace)
            return namespace[name]
    raise KeyError(name)


def rejects(checker, fn, *words):
    with pytest.raises(AssertionError) as info:
        checker(fn)
    message = str(info.value).lower()
    assert all(w.lower() in message for w in words), message


def test_lab_has_five_exercises_each_with_hints_difficulty_importance_and_time():
    assert len(list(exercise_cells(LAB))) >= 5
    text = labs._source_path(LAB).read_text()
    blocks = text.split("### Exercise ")[1:]
    assert len(blocks) == len(list(exercise_cells(LAB)))
    for block in blocks:
        block = block.split("# %%\n")[0]
        assert "**Difficulty:**" in block and "**Importance:**" in block and "**Time:**" in block, block[:80]
        assert "<details><summary>Hint" in block, block[:80]


# ---- the causal mask -----------------------------------------------------------------------------------------
def test_causal_mask_accepts_the_solution():
    checks.causal_mask(solution("causal_mask"))


@pytest.mark.parametrize("wrong,words", [
    (lambda T: torch.ones(T, T, dtype=torch.bool).triu(), ("transposed",)),
    (lambda T: torch.ones(T, T, dtype=torch.bool).tril(-1), ("diagonal",)),
    (lambda T: torch.ones(T, T).tril(), ("bool",)),
    (lambda T: ~torch.ones(T, T, dtype=torch.bool).tril(), ("inverted",)),
])
def test_causal_mask_names_the_mistake(wrong, words):
    rejects(checks.causal_mask, wrong, *words)


# ---- rotary --------------------------------------------------------------------------------------------------
def rotate_variant(kind):
    def fn(x, base=10000.0):
        T, d = x.shape
        start = 1 if kind == "from_one" else 0
        exponent = torch.arange(0, d // 2) / d if kind == "half_freq" else torch.arange(0, d, 2) / d
        angles = torch.arange(start, T + start, dtype=torch.float32)[:, None] * base ** (-exponent.float())
        if kind == "halves":
            a, b = x[:, : d // 2], x[:, d // 2:]
        else:
            a, b = x[:, 0::2], x[:, 1::2]
        sign = -1.0 if kind == "backwards" else 1.0
        a2, b2 = a * angles.cos() - sign * b * angles.sin(), sign * a * angles.sin() + b * angles.cos()
        if kind == "no_cos":
            a2, b2 = a - b * angles.sin(), a * angles.sin() + b
        return torch.cat((a2, b2), -1) if kind == "halves" else torch.stack((a2, b2), -1).flatten(-2)
    return fn


def test_rotary_accepts_the_solution():
    checks.rotary(solution("rotate"))


@pytest.mark.parametrize("kind,words", [
    ("backwards", ("wrong way",)),
    ("halves", ("k + d/2", "interleaved")),
    ("half_freq", ("2k/d",)),
    ("from_one", ("positions at 1",)),
    ("no_cos", ("length",)),
])
def test_rotary_names_the_mistake(kind, words):
    rejects(checks.rotary, rotate_variant(kind), *words)


# ---- the linear probe ----------------------------------------------------------------------------------------
def probe_variant(kind):
    def fn(x, y, n_classes, steps=300):
        mean, std = x.mean(0), x.std(0) + 1e-6
        z = (x - mean) / std
        w = torch.zeros(x.shape[1], n_classes, requires_grad=True)
        b = torch.zeros(n_classes, requires_grad=True)
        optimizer = torch.optim.Adam([w, b], lr=0.1)
        for _ in range(0 if kind == "untrained" else steps):
            loss = F.cross_entropy(z @ w + b, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        w, b = w.detach(), b.detach()
        if kind == "no_fold":
            return w, b
        if kind == "weight_only":
            return w / std[:, None], b
        return w / std[:, None], b - (mean / std) @ w
    return fn


def test_linear_probe_accepts_the_solution():
    checks.linear_probe(solution("train_probe"))


@pytest.mark.parametrize("kind,words", [
    ("untrained", ("reaches",)),
    ("no_fold", ("fold the standardisation",)),
    ("weight_only", ("bias",)),
])
def test_linear_probe_names_the_mistake(kind, words):
    rejects(checks.linear_probe, probe_variant(kind), *words)


def test_linear_probe_rejects_a_probe_that_ignores_its_labels():
    def peeks(x, y, n_classes):
        return probe_variant("right")(x, (x @ torch.ones(x.shape[1], n_classes)).argmax(-1), n_classes)

    with pytest.raises(AssertionError):
        checks.linear_probe(peeks)


# ---- the entropy of one step ---------------------------------------------------------------------------------
def entropy_variant(kind):
    def fn(depth, first=False, p_end=0.25, max_depth=4):
        if first:
            h = math.log(2)
        elif depth == max_depth and kind != "no_forced_close":
            h = 0.0
        elif depth == 0 and kind != "no_end":
            h = -(p_end * math.log(p_end) + (1 - p_end) * math.log((1 - p_end) / 2))
        elif kind == "two_closers":
            h = math.log(4)
        elif depth == 0:
            h = math.log(2)
        else:
            h = 1.5 * math.log(2)
        if kind == "uniform":
            h = math.log(5)
        return h / math.log(2) if kind == "bits" else h
    return fn


def test_step_entropy_accepts_the_solution():
    checks.step_entropy(solution("step_entropy"))


@pytest.mark.parametrize("kind,words", [
    ("bits", ("nats",)),
    ("two_closers", ("innermost",)),
    ("no_forced_close", ("must close",)),
    ("no_end", ("may end",)),
    ("uniform", ("not uniform",)),
])
def test_step_entropy_names_the_mistake(kind, words):
    rejects(checks.step_entropy, entropy_variant(kind), *words)


# ---- where counting cannot tell --------------------------------------------------------------------------------
def test_to_close_labels_accepts_the_solution():
    checks.to_close_labels(solution("to_close_labels"))


@pytest.mark.parametrize("rule,words", [
    ("every_closer", ("counting",)),
    ("every_token", ("opening bracket",)),
    ("before", ("off by one",)),
    ("outermost", ("innermost",)),
])
def test_to_close_labels_names_the_mistake(rule, words):
    from plmkit.checks.tour import _to_close_labels

    rejects(checks.to_close_labels, lambda symbols: _to_close_labels(symbols, rule), *words)


def test_to_close_labels_agree_with_the_tour_probe_data():
    import numpy as np

    from plmkit.checks.tour import _to_close_labels
    from plmkit.experiments import tour

    world = tour.make_world()
    inputs, targets = tour.probe_data(world, 30, seed=3)
    tok = world.tokenizer()
    for row, labels in zip(inputs, targets["to_close"]):
        symbols = [tok.id_to_token[int(t)] for t in row[1:] if int(t) > 1]
        assert _to_close_labels(symbols) == labels[1:len(symbols) + 1].tolist()
    assert np.isfinite(world.entropy_floor())
