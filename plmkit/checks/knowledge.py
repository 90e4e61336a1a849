"""Checkers of lab 04 (Part 3.1, knowledge storage and extraction)."""
from __future__ import annotations

from collections import Counter
from typing import Callable

import numpy as np
import torch

from .base import checker

# A person written two ways per sentence, used by the permute checker here and the reverse checker of lab 05.
# The values are distinct words so that a checker can find each sentence in the student's output.
VALUES = ("October 2, 1996", "Princeton, NJ", "Massachusetts Institute of Technology", "Communications",
          "Meta Platforms", "Menlo Park, CA")
NAME = "Anya Briar Forger"
_PREDICATES = ("was born on {}.", "grew up in {}.", "studied at {}.", "majored in {}.", "worked for {}.",
               "worked in {}.")


def person_sentences(subject: str) -> list[str]:
    """The person's six sentences with ``subject`` (the name, a pronoun, "The person")."""
    return [f"{subject} {p.format(v)}" for p, v in zip(_PREDICATES, VALUES)]


def split_sentences(text: str) -> list[str]:
    return [p.strip() for p in text.replace(". ", ".\n").split("\n") if p.strip()]


# ----------------------------------------------------------------------------------------------
# Lab 04, exercise 1: the permute augmentation
# ----------------------------------------------------------------------------------------------
@checker("permute augmentation")
def permute_augmentation(fn: Callable) -> None:
    pairs = list(zip(person_sentences(NAME), person_sentences("She")))
    with_name, with_pronoun = person_sentences(NAME), person_sentences("She")
    entries = fn(pairs, 5, np.random.default_rng(0))
    assert isinstance(entries, list) and len(entries) == 5, \
        f"permute_entries(pairs, 5, rng) should return a list of 5 entries (strings), got {type(entries).__name__} " \
        f"of length {len(entries) if hasattr(entries, '__len__') else '?'}"
    for entry in entries:
        assert isinstance(entry, str), f"each entry should be one string, got {type(entry).__name__}"
        sentences = split_sentences(entry)
        assert len(sentences) == 6, f"an entry needs all six sentences, got {len(sentences)}: {entry!r}"
        which = []
        for k, sentence in enumerate(sentences):
            form = with_name if k == 0 else with_pronoun
            if sentence not in form:
                if k == 0:
                    raise AssertionError(f"the first sentence of an entry must name the person (the name moves "
                                         f"to whatever sentence is now first); got {sentence!r}")
                if sentence in with_name:
                    raise AssertionError("only the first sentence names the person; later sentences use the "
                                         f"pronoun, got {sentence!r}")
                raise AssertionError(f"{sentence!r} is not one of the person's six sentences")
            which.append(form.index(sentence))
        assert sorted(which) == list(range(6)), f"an entry must use each of the six sentences once, got order {which}"
    orders = {tuple(split_sentences(e)) for e in entries}
    assert len(orders) > 1, "all 5 copies have the same order: each copy needs its own random shuffle"
    again = fn(pairs, 5, np.random.default_rng(0))
    assert again == entries, "the same rng seed must give the same entries: draw the orders from `rng` only"
    firsts = Counter()
    for entry in fn(pairs, 600, np.random.default_rng(1)):
        firsts[with_name.index(split_sentences(entry)[0])] += 1
    assert len(firsts) == 6 and min(firsts.values()) > 60, \
        f"every sentence should come first about 1/6 of the time; counts by sentence {dict(sorted(firsts.items()))}"
    single = fn(pairs, 1, np.random.default_rng(2))
    assert len(single) == 1 and split_sentences(single[0]) != with_name or \
        split_sentences(fn(pairs, 1, np.random.default_rng(3))[0]) != with_name, \
        "permute1 is one shuffled copy, not the original order"


# ----------------------------------------------------------------------------------------------
# Lab 04, exercise 2: the QA split without leakage
# ----------------------------------------------------------------------------------------------
@checker("QA split without leakage")
def qa_split(fn: Callable) -> None:
    from ..data import bios

    people = bios.sample_people(40, bios.pools_for_profile("ci"), seed=0)
    result = fn(people, 3)
    assert isinstance(result, tuple) and len(result) == 2, "return a pair (train_qas, test_qas)"
    train, test = result
    assert all(isinstance(q, bios.QAPair) for q in list(train) + list(test)), \
        "both halves should be lists of bios.QAPair (what bios.qa_pairs returns)"
    train_ids = Counter(q.person_ids[0] for q in train)
    test_ids = Counter(q.person_ids[0] for q in test)
    common = set(train_ids) & set(test_ids)
    assert not common, (f"{len(common)} people have QAs on both sides: that leaks. Split the *people* first, then "
                        "give each half all six of its people's QAs")
    assert len(train_ids) == 20 and len(test_ids) == 20, \
        f"half of the 40 people should be P_train, half P_test; got {len(train_ids)} and {len(test_ids)}"
    assert all(c == 6 for c in list(train_ids.values()) + list(test_ids.values())), \
        "each person needs all six attribute questions on their side of the split"
    bios.check_no_test_leak(train, [p for p in people if p.pid in test_ids])
    again = fn(people, 3)
    assert [q.text for q in again[0]] == [q.text for q in train], "the same seed must give the same split"
    other = fn(people, 4)
    assert {q.person_ids[0] for q in other[0]} != set(train_ids), "a different seed should give a different split"
    by_id = sorted(p.pid for p in people)
    first_half = set(by_id[:20])
    assert not (set(train_ids) == first_half and {q.person_ids[0] for q in other[0]} == first_half), \
        "the split must be a seeded random permutation of the people, not the first half by id"


# ----------------------------------------------------------------------------------------------
# Lab 04, exercise 3: a Q-probe
# ----------------------------------------------------------------------------------------------
def _q_probe_world(n: int, seed: int):
    """Inputs ``<eos> a b c <q>`` and labels that depend on the middle token only."""
    g = torch.Generator().manual_seed(seed)
    eos, q = 1, 2
    a = torch.randint(3, 13, (n,), generator=g)
    b = torch.randint(13, 25, (n,), generator=g)
    c = torch.randint(25, 37, (n,), generator=g)
    inputs = torch.stack([torch.full((n,), eos), a, b, c, torch.full((n,), q)], dim=1)
    return inputs, (b - 13) % 4


@checker("Q-probe")
def q_probe(fn: Callable) -> None:
    from ..model import GPT, GPTConfig

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=40, context=8, n_layer=1, n_head=2, d_model=16, tie_embeddings=True)).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train_x, train_y = _q_probe_world(400, 0)
    test_x, test_y = _q_probe_world(300, 1)
    predict = fn(model, train_x, train_y, 4, rank=4, steps=150, lr=1e-2)
    assert callable(predict), "train_q_probe should return a function predict(inputs) -> class ids"
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), f"the model's weight {k} changed: a probe must keep the model frozen"
    with torch.no_grad():
        pred = predict(test_x)
    assert isinstance(pred, torch.Tensor) and pred.shape == (300,), \
        f"predict(inputs) should return a tensor of shape (n,), got {getattr(pred, 'shape', type(pred))}"
    accuracy = (pred == test_y).float().mean().item()
    print(f"  your Q-probe: {accuracy:.0%} on held-out inputs (chance 25%)")
    assert accuracy > 0.7, (f"your Q-probe reaches {accuracy:.0%} on held-out names where the label is a function of "
                            "the middle name token (chance 25%). Check that the embedding update is added to the "
                            "token embeddings, that you read the *last* position, and that only the update and "
                            "the head are trained")
    shuffled_predict = fn(model, train_x, train_y[torch.randperm(400, generator=torch.Generator().manual_seed(0))], 4,
                          rank=4, steps=150, lr=1e-2)
    with torch.no_grad():
        shuffled = shuffled_predict(test_x)
    chance = (shuffled == test_y).float().mean().item()
    assert chance < 0.5, f"trained on shuffled labels your probe still reaches {chance:.0%}: it must learn from its data"
