"""Lab 04's checkers: each passes the lab's own solution, fails its stub, and names plausible mistakes."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from plmkit import labs
from plmkit.checks import knowledge as checks  # the lab calls them as checks.<name>
from plmkit.data import bios
from test_checks import exercise_cells, run_cell

LAB = "04_knowledge"


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
    cells = list(exercise_cells(LAB))
    assert len(cells) >= 5
    text = labs._source_path(LAB).read_text()
    blocks = text.split("### Exercise ")[1:]
    assert len(blocks) == len(cells)
    for block in blocks:
        block = block.split("# %%\n")[0]
        assert "**Difficulty:**" in block and "**Importance:**" in block and "**Time:**" in block, block[:80]
        assert "<details><summary>Hint" in block, block[:80]


def test_the_lab_solutions_pass_their_checkers():
    checks.permute_augmentation(solution("permute_entries"))
    checks.qa_split(solution("make_qa_split"))
    checks.diagonal_gap(solution("diagonal_gaps"))
    checks.curve_rise(solution("rise_steps"))


# ---- exercise 1: the permute augmentation --------------------------------------------------------
def shuffled(pairs, copies, rng, name_first_always=False, same_order=False, global_rng=False):
    entries, order = [], rng.permutation(len(pairs))
    for _ in range(copies):
        if not same_order:
            order = np.random.permutation(len(pairs)) if global_rng else rng.permutation(len(pairs))
        entries.append(" ".join(pairs[i][0] if (k == 0 or name_first_always and i == 0) else pairs[i][1]
                                for k, i in enumerate(order)))
    return entries


def test_permute_checker_catches_a_fixed_name_sentence():
    wrong = lambda pairs, copies, rng: [" ".join([pairs[i][0] if i == 0 else pairs[i][1]  # noqa: E731
                                                  for i in rng.permutation(len(pairs))]) for _ in range(copies)]
    with pytest.raises(AssertionError, match="name"):
        checks.permute_augmentation(wrong)


def test_permute_checker_catches_one_order_for_all_copies():
    with pytest.raises(AssertionError, match="same order"):
        checks.permute_augmentation(lambda pairs, copies, rng: shuffled(pairs, copies, rng, same_order=True))


def test_permute_checker_catches_the_global_rng():
    with pytest.raises(AssertionError, match="same rng seed"):
        checks.permute_augmentation(lambda pairs, copies, rng: shuffled(pairs, copies, rng, global_rng=True))


def test_permute_checker_catches_the_name_everywhere():
    wrong = lambda pairs, copies, rng: [" ".join(pairs[i][0] for i in rng.permutation(len(pairs)))  # noqa: E731
                                        for _ in range(copies)]
    with pytest.raises(AssertionError, match="pronoun"):
        checks.permute_augmentation(wrong)


# ---- exercise 2: the QA split ---------------------------------------------------------------------
def test_qa_split_checker_catches_a_split_of_qa_lines():
    def split_lines(people, seed):
        qas = bios.qa_pairs(people)
        order = np.random.default_rng(seed).permutation(len(qas))
        return [qas[i] for i in order[:len(qas) // 2]], [qas[i] for i in order[len(qas) // 2:]]

    with pytest.raises(AssertionError, match="both sides"):
        checks.qa_split(split_lines)


def test_qa_split_checker_catches_the_first_half_by_order():
    half = lambda people, seed: (bios.qa_pairs(people[:20]), bios.qa_pairs(people[20:]))  # noqa: E731
    with pytest.raises(AssertionError, match="different seed"):
        checks.qa_split(half)


def test_qa_split_checker_catches_an_unequal_split():
    def thirds(people, seed):
        order = np.random.default_rng(seed).permutation(len(people))
        return bios.qa_pairs([people[i] for i in order[:10]]), bios.qa_pairs([people[i] for i in order[10:]])

    with pytest.raises(AssertionError, match="half of the 40 people"):
        checks.qa_split(thirds)


def test_qa_split_checker_catches_one_question_per_person():
    def first_question(people, seed):
        order = np.random.default_rng(seed).permutation(len(people))
        pick = lambda idx: [bios.qa_pairs([people[i]])[0] for i in idx]  # noqa: E731
        return pick(order[:20]), pick(order[20:])

    with pytest.raises(AssertionError, match="all six"):
        checks.qa_split(first_question)


# ---- the P-probe diagonal -------------------------------------------------------------------------------
def gaps_variant(rule):
    from plmkit.checks.knowledge import _gaps

    return lambda matrix: _gaps(np.asarray(matrix), rule)


@pytest.mark.parametrize("rule,words", [
    ("transposed", ("transposed",)),
    ("mean", ("median",)),
    ("with_diagonal", ("includes the diagonal",)),
    ("no_difference", ("subtract",)),
])
def test_diagonal_gap_names_the_mistake(rule, words):
    rejects(checks.diagonal_gap, gaps_variant(rule), *words)


def test_diagonal_gap_rejects_points_and_accepts_the_kits_version():
    from plmkit.checks.knowledge import _gaps
    from plmkit.experiments import knowledge

    rejects(checks.diagonal_gap, lambda m: [100 * g for g in _gaps(np.asarray(m))], "points")
    checks.diagonal_gap(lambda m: knowledge.diagonal_gaps(m))  # a dict in attribute order is fine too


# ---- the Q-probe ---------------------------------------------------------------------------------------------
def q_probe(model, inputs, labels, n_classes, query_id, steps=300, lr=1e-3, query_lr=1e-2, head_init=None,
            batch_size=50, seed=0, mode="query", position=-1, update_model=False, rank=16):
    """A Q-probe as the lab asks for it, or (by its flags) a plausible mistake. ``mode``: "query" (the <q> vector
    at query_lr), "slow" (the <q> vector at the head's lr), "full" (a rank-``rank`` update of every embedding, as
    the lab's earlier reference did), "none" (no embedding update at all)."""
    torch.manual_seed(seed)
    for p in model.parameters():
        p.requires_grad_(update_model)
    d, vocab = model.config.d_model, model.config.vocab_size
    query = torch.nn.Parameter(torch.zeros(d))
    emb_a = torch.nn.Parameter(torch.randn(vocab, rank) / rank ** 0.5)
    emb_b = torch.nn.Parameter(torch.zeros(rank, d))
    head = torch.nn.Linear(d, n_classes)
    if head_init is not None:
        with torch.no_grad():
            head.weight.copy_(head_init)
            head.bias.zero_()

    def logits(x):
        emb = model.tok_emb(x)
        if mode in ("query", "slow"):
            emb = emb + (x == query_id).unsqueeze(-1) * query
        if mode == "full":
            emb = emb + F.embedding(x, emb_a) @ emb_b
        hidden = model(x, return_hidden=True, input_embeddings=emb).hidden[-1]
        return head(model.norm_final(hidden[:, position]))

    groups = [{"params": list(head.parameters())}]
    groups += {"query": [{"params": [query], "lr": query_lr}], "slow": [{"params": [query]}],
               "full": [{"params": [emb_a, emb_b]}], "none": []}[mode]
    if update_model:
        groups.append({"params": list(model.parameters())})
    optimizer = torch.optim.AdamW(groups, lr=lr, weight_decay=0.3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(inputs), (min(batch_size, len(inputs)),), generator=generator)
        loss = F.cross_entropy(logits(inputs[idx]), labels[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return lambda x: logits(x).argmax(-1)


def variant(**flags):
    return lambda *a, **k: q_probe(*a, **{**k, **flags})


def test_q_probe_checker_accepts_the_lab_solution_and_this_one():
    checks.q_probe(solution("train_q_probe"))
    checks.q_probe(q_probe)


@pytest.mark.parametrize("flags", [dict(mode="full"), dict(mode="full", rank=4), dict(mode="full", seed=5)])
def test_q_probe_checker_catches_an_update_of_every_embedding(flags):
    """The earlier reference solution: a rank-r update of all embeddings. The checker names it, and its toy
    task alone already fails it (held-out people, whose names the update rewrote)."""
    rejects(checks.q_probe, variant(**flags), "tokens other than <q>", "name tokens")
    assert checks.q_probe_held_out_accuracy(variant(**flags)) < 0.7


@pytest.mark.parametrize("flags,words", [
    (dict(mode="slow"), ("reaches", "query_lr")),
    (dict(mode="none"), ("reaches", "added to the embedding of <q>")),
    (dict(position=0), ("reaches", "last position")),
    (dict(steps=0), ("reaches",)),
    (dict(update_model=True), ("frozen",)),
])
def test_q_probe_checker_names_the_mistake(flags, words):
    rejects(checks.q_probe, variant(**flags), *words)


def test_the_lab_q_probe_is_the_kits_q_probe():
    """The lab's reference, on one attribute, gives exactly what the kit's six-attribute probe gives for it."""
    from plmkit.experiments import knowledge
    from plmkit.model import GPT, GPTConfig

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=30, context=8, n_layer=1, n_head=2, d_model=16, tie_embeddings=True)).eval()
    g = torch.Generator().manual_seed(0)
    inputs = torch.cat([torch.ones(80, 1, dtype=torch.long), torch.randint(3, 30, (80, 3), generator=g),
                        torch.full((80, 1), 2)], 1)
    targets = {"a": inputs[:, 2] % 3, "b": inputs[:, 1] % 4}
    kit = knowledge.train_query_probes(model, inputs, targets, {"a": 3, "b": 4}, 2, 40, steps=60, batch_size=16,
                                       lr=1e-3, query_lr=1e-2, seed=7)
    torch.manual_seed(123)  # the head's random init must not matter: it is overwritten below
    init = torch.randn(3, 16)
    kit_a = knowledge.train_query_probes(model, inputs, {"a": targets["a"]}, {"a": 3}, 2, 40, steps=60,
                                         batch_size=16, lr=1e-3, query_lr=1e-2, head_init={"a": init}, seed=7)
    import copy

    predict = solution("train_q_probe")(copy.deepcopy(model), inputs[:40], targets["a"][:40], 3, 2, steps=60,
                                        head_init=init, batch_size=16, seed=7)
    with torch.no_grad():
        mine = (predict(inputs[40:]) == targets["a"][40:]).float().mean().item()
    assert mine == pytest.approx(kit_a["test"]["a"], abs=1 / 40)
    assert set(kit["test"]) == {"a", "b"}
    for p in model.parameters():
        assert p.requires_grad  # the kit probe works on a copy


# ---- the order of the learning curves ---------------------------------------------------------------------------
def rise_variant(rule):
    from plmkit.checks.knowledge import _rise

    return lambda curves, fraction=0.9: _rise(curves, fraction, rule)


@pytest.mark.parametrize("rule,words", [
    ("absolute", ("normalisation", "own final value")),
    ("maximum", ("final value",)),
    ("early", ("one evaluation early",)),
    ("index", ("'step'",)),
])
def test_curve_rise_names_the_mistake(rule, words):
    rejects(checks.curve_rise, rise_variant(rule), *words)


def test_curve_rise_rejects_a_fixed_fraction_and_accepts_the_kits_version():
    from plmkit.checks.knowledge import _rise
    from plmkit.experiments import knowledge

    rejects(checks.curve_rise, lambda curves, fraction=0.9: _rise(curves, 0.9), "fraction")
    checks.curve_rise(knowledge.rise_steps)
