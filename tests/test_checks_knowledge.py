"""Lab 04's checkers: each passes the lab's own solution, fails its stub, and names plausible mistakes."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from plmkit import checks
from test_checks import exercise_cells
from plmkit.data import bios

LAB = "04_knowledge"


def test_lab_has_three_exercises():
    assert len(list(exercise_cells(LAB))) == 3


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


# ---- exercise 3: the Q-probe ----------------------------------------------------------------------
def q_probe(model, inputs, labels, n_classes, rank=4, steps=150, lr=1e-2, head_init=None, seed=0,
            position=-1, update_model=False):
    """A correct low-rank Q-probe, or (by its flags) a common mistake."""
    torch.manual_seed(seed)
    for p in model.parameters():
        p.requires_grad_(update_model)
    vocab, d = model.config.vocab_size, model.config.d_model
    emb_a = torch.nn.Parameter(torch.randn(vocab, rank) / rank ** 0.5)
    emb_b = torch.nn.Parameter(torch.zeros(rank, d))
    head = torch.nn.Linear(d, n_classes)

    def logits(x):
        emb = model.tok_emb(x) + F.embedding(x, emb_a) @ emb_b
        hidden = model(x, return_hidden=True, input_embeddings=emb).hidden[-1]
        return head(model.norm_final(hidden[:, position]))

    params = [emb_a, emb_b, *head.parameters()] + (list(model.parameters()) if update_model else [])
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(inputs), (min(128, len(inputs)),), generator=generator)
        loss = F.cross_entropy(logits(inputs[idx]), labels[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return lambda x: logits(x).argmax(-1)


def test_q_probe_checker_passes_a_correct_probe():
    checks.q_probe(q_probe)


def test_q_probe_checker_catches_a_probe_that_trains_the_model():
    with pytest.raises(AssertionError, match="frozen"):
        checks.q_probe(lambda *a, **k: q_probe(*a, **k, update_model=True))


def test_q_probe_checker_catches_reading_the_first_position():
    with pytest.raises(AssertionError, match="reaches"):
        checks.q_probe(lambda *a, **k: q_probe(*a, **k, position=0))


def test_q_probe_checker_catches_a_probe_that_never_trains():
    with pytest.raises(AssertionError, match="reaches"):
        checks.q_probe(lambda *a, **k: q_probe(*a, **{**k, "steps": 0}))
