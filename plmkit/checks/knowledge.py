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
# Lab 04: a Q-probe
# ----------------------------------------------------------------------------------------------
_EOS, _QUERY, _CUES = 1, 2, (3, 4)
_VALUES = (tuple(range(5, 9)), tuple(range(9, 13)))  # the value tokens of the two attributes
_FIRST, _LAST = tuple(range(13, 21)), tuple(range(21, 29))
_VOCAB, _D = 29, 32


class _MemoryModel(torch.nn.Module):
    """A frozen toy "language model" that knows two attributes of each of 64 people (8 x 8 names).

    It has the interface the Q-probe exercise uses (``config``, ``tok_emb``, ``norm_final``, ``lm_head``,
    ``forward(idx, return_hidden=True, input_embeddings=...)``) and stores each person's values under the
    embeddings of their two name tokens (a sharp lookup). At position 3 and later it writes the value of
    an attribute into the state when the token there points far enough along that attribute's cue direction,
    as a template word before a value does in a biography. Its states also carry a person-specific component
    unrelated to the values: enough for a head to memorise training people, useless on new ones. Every call
    records how far the embeddings it was given differ from its own at the tokens other than ``<q>``.
    """

    changed_tokens: list = []  # class-level, so a deep copy of the model records here too

    def __init__(self):
        super().__init__()
        from types import SimpleNamespace

        g = torch.Generator().manual_seed(0)
        self.config = SimpleNamespace(vocab_size=_VOCAB, d_model=_D, n_layer=1)
        self.tok_emb = torch.nn.Embedding(_VOCAB, _D)
        with torch.no_grad():
            self.tok_emb.weight.copy_(torch.linalg.qr(torch.randn(_D, _D, generator=g))[0][:_VOCAB])
        self.lm_head = torch.nn.Linear(_D, _VOCAB, bias=False)
        self.lm_head.weight = self.tok_emb.weight
        self.norm_final = torch.nn.LayerNorm(_D, elementwise_affine=False)
        first, last = torch.meshgrid(torch.tensor(_FIRST), torch.tensor(_LAST), indexing="ij")
        self.register_buffer("people", torch.stack([first.flatten(), last.flatten()], 1))
        self.register_buffer("keys_map", torch.randn(2, _D, _D, generator=g) / _D ** 0.5)
        self.register_buffer("noise_map", torch.randn(2, _D, _D, generator=g) / _D ** 0.5)
        self.register_buffer("values", torch.randint(0, 4, (2, 64), generator=g))

    def forward(self, idx, return_hidden: bool = False, input_embeddings=None):
        from types import SimpleNamespace

        own = self.tok_emb(idx)
        emb = own if input_embeddings is None else input_embeddings
        if input_embeddings is not None:
            other = (idx != _QUERY).unsqueeze(-1)
            _MemoryModel.changed_tokens.append(float(((emb - own).detach().abs() * other).max()))
        table = self.tok_emb.weight
        keys = table[self.people[:, 0]] @ self.keys_map[0] + table[self.people[:, 1]] @ self.keys_map[1]
        lookup = torch.softmax(8 * (emb[:, 1] @ self.keys_map[0] + emb[:, 2] @ self.keys_map[1]) @ keys.T, -1)
        state = emb.clone()
        for k, cue in enumerate(_CUES):
            value = lookup @ table[torch.tensor(_VALUES[k])][self.values[k]]  # (B, d): the stored value's token
            gate = torch.sigmoid(4 * (emb @ table[cue] - 1.5))  # open when the token points along the cue
            state = state + 3 * gate[..., None] * value[:, None]
        noise = torch.tanh(emb[:, 1] @ self.noise_map[0] + emb[:, 2] @ self.noise_map[1])
        state = torch.cat([emb[:, :3], (state + noise[:, None])[:, 3:]], 1)
        return SimpleNamespace(hidden=[emb, state], logits=self.lm_head(self.norm_final(state)))


def _q_probe_data():
    """``<eos> first last <q>`` of the 64 people and their first attribute, split 32 / 32 at random."""
    model = _MemoryModel().eval()
    people = model.people
    inputs = torch.stack([torch.full((64,), _EOS), people[:, 0], people[:, 1], torch.full((64,), _QUERY)], 1)
    order = torch.randperm(64, generator=torch.Generator().manual_seed(1))
    train, test = order[:32], order[32:]
    labels = model.values[0]
    return model, inputs[train], labels[train], inputs[test], labels[test]


def _q_probe_head_init(model) -> torch.Tensor:
    return model.lm_head.weight.detach()[list(_VALUES[0])].clone()


def q_probe_held_out_accuracy(fn: Callable, shuffle: bool = False) -> float:
    """The accuracy on held-out people of ``fn`` trained on the toy model's training people."""
    model, train_x, train_y, test_x, test_y = _q_probe_data()
    if shuffle:
        train_y = train_y[torch.randperm(len(train_y), generator=torch.Generator().manual_seed(0))]
    predict = fn(model, train_x, train_y, 4, query_id=_QUERY, steps=150, lr=1e-3, query_lr=1e-2,
                 head_init=_q_probe_head_init(model), batch_size=32, seed=0)
    with torch.no_grad():
        return (predict(test_x) == test_y).float().mean().item()


@checker("Q-probe")
def q_probe(fn: Callable) -> None:
    model, train_x, train_y, test_x, test_y = _q_probe_data()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _MemoryModel.changed_tokens.clear()
    predict = fn(model, train_x, train_y, 4, query_id=_QUERY, steps=150, lr=1e-3, query_lr=1e-2,
                 head_init=_q_probe_head_init(model), batch_size=32, seed=0)
    assert callable(predict), "train_q_probe should return a function predict(inputs) -> class ids"
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), f"the model's weight {k} changed: a probe must keep the model frozen"
    changed = max(_MemoryModel.changed_tokens, default=0.0)
    assert changed < 1e-6, (
        f"your probe changes the embeddings of tokens other than <q> (by up to {changed:.2g}): the name tokens "
        "must keep the model's own embeddings. An update of every embedding row lets the probe memorise the "
        "training people through their name tokens instead of reading what the model stored; add the learned "
        "vector only where inputs == query_id")
    with torch.no_grad():
        pred = predict(test_x)
    assert isinstance(pred, torch.Tensor) and pred.shape == (len(test_x),), \
        f"predict(inputs) should return a tensor of shape (n,), got {getattr(pred, 'shape', type(pred))}"
    accuracy = (pred == test_y).float().mean().item()
    print(f"  your Q-probe: {accuracy:.0%} on held-out people of a toy model that stored every person's value "
          "(chance 25%)")
    assert accuracy > 0.7, (
        f"your Q-probe reaches {accuracy:.0%} on held-out people (chance 25%), although the toy model stored the "
        "value of every person: a head alone memorises the training people. Check that the <q> vector is trained "
        "at query_lr (10x the head's lr: at lr it does not move far enough in time), that it is added to the "
        "embedding of <q> before the model runs, and that you read the last position after norm_final")
    chance = q_probe_held_out_accuracy(fn, shuffle=True)
    assert chance < 0.5, f"trained on shuffled labels your probe still reaches {chance:.0%}: it must learn from its data"


# ----------------------------------------------------------------------------------------------
# Lab 04: the P-probe diagonal
# ----------------------------------------------------------------------------------------------
def _gaps(matrix: np.ndarray, rule: str = "right") -> list[float]:
    m = matrix.T if rule == "transposed" else matrix
    out = []
    for k in range(6):
        row = list(m[k])
        others = row if rule == "with_diagonal" else row[:k] + row[k + 1:]
        centre = float(np.mean(others)) if rule == "mean" else float(np.median(others))
        out.append(float(row[k]) if rule == "no_difference" else float(row[k] - centre))
    return out


_GAP_MISTAKES = {
    "transposed": "reads the matrix transposed: row k holds attribute k's accuracy at P1..P6, so its own position is "
                  "column k and the other five are the rest of that row (not of column k)",
    "mean": "uses the mean of the five other positions: use their median (one or two positions just after an "
            "attribute may still read it, and they should not move the baseline)",
    "with_diagonal": "includes the diagonal in the median: the baseline is the median of the five other positions",
    "no_difference": "returns the on-diagonal accuracies themselves: subtract the median of the other five",
}


@checker("P-probe diagonal")
def diagonal_gap(fn: Callable) -> None:
    rng = np.random.default_rng(3)
    cases = [rng.uniform(0.0, 0.6, (6, 6)) + np.diag(rng.uniform(0.3, 0.4, 6)) for _ in range(3)]
    cases.append(np.full((6, 6), 0.5))  # a flat map: no diagonal at all
    answers = []
    for matrix in cases:
        got = fn([list(map(float, row)) for row in matrix])
        try:
            got = [float(v) for v in (got.values() if isinstance(got, dict) else got)]
        except (TypeError, ValueError):
            raise AssertionError(f"diagonal_gaps should return six numbers (one per attribute), got {got!r}") from None
        assert len(got) == 6, f"diagonal_gaps should return six numbers (one per attribute), got {len(got)}"
        answers.append(got)
    if all(np.allclose(a, _gaps(m), atol=1e-6) for a, m in zip(answers, cases)):
        return
    for rule, message in _GAP_MISTAKES.items():
        if all(np.allclose(a, _gaps(m, rule), atol=1e-6) for a, m in zip(answers, cases)):
            raise AssertionError(f"your diagonal_gaps {message}")
    if np.allclose(answers[0], [100 * g for g in _gaps(cases[0])], atol=1e-4):
        raise AssertionError("your gaps are in points: return fractions, in the units of the matrix")
    raise AssertionError(f"for the first test matrix the gaps should be {np.round(_gaps(cases[0]), 3).tolist()}, "
                         f"yours are {np.round(answers[0], 3).tolist()}")


# ----------------------------------------------------------------------------------------------
# Lab 04: which learning curve rises first
# ----------------------------------------------------------------------------------------------
def _rise(curves: list, fraction: float, rule: str = "right") -> dict:
    out = {}
    for name in [k for k in curves[-1] if k != "step"]:
        ref = max(e[name] for e in curves) if rule == "maximum" else curves[-1][name]
        threshold = fraction if rule == "absolute" else fraction * ref
        i = next((i for i, e in enumerate(curves) if e[name] >= threshold), None)
        if i is None:
            out[name] = None
        elif rule == "index":
            out[name] = i
        elif rule == "early":
            out[name] = curves[max(i - 1, 0)]["step"]
        else:
            out[name] = curves[i]["step"]
    return out


_RISE_MISTAKES = {
    "absolute": "compares each curve with the fraction itself (0.9): a forgotten normalisation. The threshold is a "
                "fraction of the curve's own final value (a curve that ends at 40% has risen at 36%)",
    "maximum": "measures against each curve's maximum: use its final value (a curve may peak and settle lower)",
    "early": "is one evaluation early: return the step of the first evaluation at or above the threshold, not the "
             "one before it",
    "index": "returns the position in the list: return the evaluation's own 'step'",
}
_CURVES_HIGH = [dict(step=s, qa_train=a, bio_train=b, bio_test=c, qa_test=d) for s, a, b, c, d in
                ((100, .30, .20, .10, .10), (200, .87, .60, .30, .15), (300, .95, .89, .60, .30),
                 (400, .99, .97, .88, .50), (500, .96, .98, .96, .94))]
_CURVES_LOW = [dict(step=s, qa_train=a, bio_train=b, bio_test=c, qa_test=d) for s, a, b, c, d in
               ((250, .34, .26, .22, .17), (500, .96, .92, .65, .29), (750, .99, .96, .85, .33),
                (1000, 1.0, .99, .98, .38), (1250, 1.0, 1.0, 1.0, .44), (1500, 1.0, 1.0, 1.0, .42))]


@checker("learning-curve order")
def curve_rise(fn: Callable) -> None:
    for curves in (_CURVES_HIGH, _CURVES_LOW):
        got = fn([dict(e) for e in curves], fraction=0.9)
        assert isinstance(got, dict) and set(got) == {"qa_train", "bio_train", "bio_test", "qa_test"}, \
            "rise_steps should return a dict with one step per curve (qa_train, bio_train, bio_test, qa_test), " \
            f"got {got!r}"
        got = {k: None if v is None else int(v) for k, v in got.items()}
        if got == _rise(curves, 0.9):
            continue
        for rule, message in _RISE_MISTAKES.items():
            if got == _rise(curves, 0.9, rule):
                raise AssertionError(f"your rise_steps {message}")
        raise AssertionError(f"for curves ending at {curves[-1]} the steps should be {_rise(curves, 0.9)}, "
                             f"yours are {got}")
    half = fn([dict(e) for e in _CURVES_HIGH], fraction=0.5)
    assert {k: int(v) for k, v in half.items()} == _rise(_CURVES_HIGH, 0.5), \
        "use the `fraction` argument, not a fixed 0.9"
