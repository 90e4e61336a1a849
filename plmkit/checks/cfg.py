"""Checkers of lab 01 (Part 1, context-free grammars)."""
from __future__ import annotations

from collections import Counter
from typing import Callable

import numpy as np
import torch

from .base import _assert_close, checker

SAMPLER_GRAMMAR = "cfg3f-d2"  # small enough to enumerate: exact sentence probabilities
SAMPLER_DRAWS = 4000
SAMPLER_MAX_TV = 0.12  # a correct sampler stays below ~0.08 at 4000 draws (tests/test_checks_cfg.py)


def _grammar(name: str):
    from ..data import cfg

    return cfg.Grammar.load(name)


def cfg_reachable(g) -> list[int]:
    return sorted(g.reachable(g.root))


def _as_tokens(out, what: str) -> list[int]:
    if isinstance(out, torch.Tensor):
        out = out.tolist()
    if isinstance(out, np.ndarray):
        out = out.tolist()
    assert isinstance(out, (list, tuple)), f"{what} should return a list of token ids, got {type(out).__name__}"
    assert all(isinstance(t, (int, np.integer)) for t in out), \
        f"{what} should return plain token ids (ints), got {out[:5]}... Expand non-terminals until only terminals remain"
    return [int(t) for t in out]


@checker("sampling from a grammar")
def cfg_sampler(fn: Callable) -> None:
    from ..data import cfg

    g = _grammar(SAMPLER_GRAMMAR)
    rules = {a: [tuple(r) for r in rs] for a, rs in g.rules.items()}
    rng = np.random.default_rng(0)
    draws = [tuple(_as_tokens(fn(rules, g.root, rng), "sample_sentence")) for _ in range(SAMPLER_DRAWS)]
    for x in draws[:300]:
        leftover = sorted({t for t in x if t in rules})
        assert not leftover, (f"sample_sentence returned non-terminal id(s) {leftover} in {list(x)}: expand every "
                              "non-terminal recursively until only terminals remain")
        assert cfg.accepts(g, x), (f"sample_sentence produced {list(x)}, which root {g.root} cannot derive: children must be "
                                   "expanded left to right, each non-terminal by one of its own rules")
    support = cfg.enumerate_sentences(g)
    counts = Counter(draws)
    assert len(counts) > 10, (f"only {len(counts)} different sentences in {SAMPLER_DRAWS} draws: pick a rule at random "
                              "for every non-terminal you expand (rng.integers(len(rules[A])))")
    used = set()  # (NT, rule) pairs in the (unique) parse trees of the distinct sentences drawn
    for x in counts:
        stack = [cfg.parse(g, list(x))]
        while stack:
            node = stack.pop()
            if node.children:
                used.add((node.symbol, tuple(c.symbol for c in node.children)))
                stack.extend(node.children)
    never = [(a, r) for a in cfg_reachable(g) for r in rules[a] if (a, r) not in used]
    assert not never, (f"rule {never[0][0]} -> {' '.join(map(str, never[0][1]))} was never chosen in {SAMPLER_DRAWS} "
                       f"sentences ({len(never)} rule(s) never used): rng.integers(k) already draws 0..k-1, so "
                       "rng.integers(k - 1) would skip the last rule")
    tv = 0.5 * sum(abs(counts.get(s, 0) / SAMPLER_DRAWS - float(p)) for s, (p, _) in support.items())
    assert tv < SAMPLER_MAX_TV, (f"your sentences are valid but their frequencies are off (total variation {tv:.2f} from the "
                                 "exact distribution): every rule of a non-terminal must have probability 1/len(rules[A]), "
                                 "chosen independently at every node")


@checker("membership by dynamic programming")
def cfg_membership(fn: Callable) -> None:
    from ..data import cfg

    rng = np.random.default_rng(1)
    for name in ("cfg3f-d3", "cfg3b-d3"):
        g = _grammar(name)
        rules = {a: [tuple(r) for r in rs] for a, rs in g.rules.items()}
        cases = [list(s) for s in cfg.sample(g, 60, rng)]
        for s in cfg.sample(g, 60, rng):  # 1-3 flipped tokens: mostly, not always, outside the language
            bad, _ = cfg.corrupt_prefix(s, len(s), 0.1, rng, g)
            cases.append(bad.tolist())
        cases += [rng.integers(1, g.num_terminals + 1, size=int(k)).tolist() for k in rng.integers(1, 30, size=30)]
        got_empty = fn(rules, g.root, [])
        assert not got_empty, "the empty string is not a sentence: accepts_dp(rules, root, []) must be False"
        cases += [_sample_binary(rules, g.root, rng) for _ in range(20)]  # sentences that need no ternary rule
        cases += [list(cases[0][:-1]), list(cases[0]) + [1]]
        answers = []
        for x in cases:
            got = fn(rules, g.root, list(x))
            assert isinstance(got, (bool, np.bool_)), f"accepts_dp should return True or False, got {type(got).__name__}"
            answers.append((x, bool(got), cfg.accepts(g, x)))
        rejected = [x for x, got, expected in answers if expected and not got]
        if rejected and all(not _derives(rules, g.root, x, binary_only=True) for x in rejected):
            raise AssertionError(
                f"{name}: accepts_dp rejects {rejected[0]}, a sentence whose every derivation uses a ternary rule "
                "A -> B C E, and accepts the sentences that need none: a ternary rule needs two split points "
                "i < m1 < m2 < j")
        if rejected and not any(got for x, got, expected in answers if expected):
            raise AssertionError(f"{name}: accepts_dp rejects every sentence, e.g. {rejected[0]}: is the outermost span "
                                 "x[0:n] (length n, the whole string) ever filled?")
        for x, got, expected in answers:
            if got == expected:
                continue
            if expected:
                raise AssertionError(
                    f"{name}: accepts_dp rejects {x} (length {len(x)}), a sentence the grammar derives. Check that a span "
                    "x[i:j] ends at j exclusive and that every split point is tried")
            if any(cfg.accepts(g, x[:j]) for j in range(1, len(x))):
                raise AssertionError(
                    f"{name}: accepts_dp accepts {x}, although only a proper prefix of it is a sentence. The root must "
                    "derive the whole string x[0:n], not a piece of it")
            raise AssertionError(
                f"{name}: accepts_dp accepts {x} (length {len(x)}), which root {g.root} cannot derive. The root must "
                "derive the whole string x[0:n], and each child its own adjacent piece")


def _sample_binary(rules: dict, a: int, rng) -> list:
    """A sentence drawn with binary rules wherever an NT has one."""
    if a not in rules:
        return [a]
    options = [r for r in rules[a] if len(r) == 2] or list(rules[a])
    return [t for child in options[rng.integers(len(options))] for t in _sample_binary(rules, child, rng)]


def _derives(rules: dict, root: int, x: list, binary_only: bool = False) -> bool:
    """A plain CYK for the checker's diagnoses (optionally ignoring every ternary rule)."""
    n = len(x)
    table = {(i, i + 1): {t} for i, t in enumerate(x)}

    def fits(rule, i, j):
        if len(rule) == 1:
            return rule[0] in table.get((i, j), ())
        return any(rule[0] in table.get((i, m), ()) and fits(rule[1:], m, j) for m in range(i + 1, j))

    for length in range(2, n + 1):
        for i in range(n - length + 1):
            table[(i, i + length)] = {a for a, options in rules.items()
                                      if any(fits(r, i, i + length) for r in options if not (binary_only and len(r) == 3))}
    return n > 0 and root in table[(0, n)]


@checker("boundary probe")
def boundary_probe(fn: Callable) -> None:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    n_train, n_test, d = 3000, 1500, 16
    direction = torch.randn(d, generator=gen)
    x = torch.randn(n_train + n_test, d, generator=gen) * torch.linspace(0.5, 4.0, d)
    score = (x / torch.linspace(0.5, 4.0, d)) @ direction + 0.3 * torch.randn(n_train + n_test, generator=gen)
    y = (score > torch.quantile(score, 0.9)).long()  # 10% boundaries, as at a high level of the tree
    train_x, train_y, test_x, test_y = x[:n_train], y[:n_train], x[n_train:], y[n_train:]
    got = fn(train_x, train_y, test_x, test_y)
    assert isinstance(got, (float, np.floating)) or (isinstance(got, torch.Tensor) and got.numel() == 1), \
        f"return the balanced accuracy as one float, got {type(got).__name__}"
    got = float(got)
    assert 0.0 <= got <= 1.0, f"a balanced accuracy lies in [0, 1], got {got}"
    shuffled = train_y[torch.randperm(n_train, generator=gen)]
    chance = float(fn(train_x, shuffled, test_x, test_y))
    plain = ("With 90% non-boundaries, plain accuracy rewards always answering 'no': report the mean of the recall of "
             "each class (balanced accuracy), where that trivial rule scores 0.5")
    assert chance < 0.62, f"trained on shuffled labels your probe still scores {chance:.2f}. {plain}"
    blank = float(fn(train_x, train_y, torch.zeros_like(test_x), test_y))  # one prediction for every test row
    if abs(blank - 0.5) > 0.02:
        rate = float(test_y.float().mean())
        assert min(abs(blank - rate), abs(blank - (1 - rate))) > 0.02, \
            f"on test rows that all look alike your probe scores {blank:.2f}, the share of one class. {plain}"
        raise AssertionError(f"on test rows that all look alike (one prediction for all of them) your probe scores "
                             f"{blank:.2f}, not 0.5: it is scored on the training rows, not on test_x/test_y")
    assert got > 0.25, (f"your probe scores {got:.2f}, far below the 0.5 of any trivial rule: its predictions are "
                        "inverted (it answers 1 where the label is 0). Class 1 is column 1 of the logits")
    assert got > 0.85, (f"your probe scores {got:.2f} where the boundary is linearly readable (a good probe gets > 0.9): "
                        "standardise the features with the training mean and std, weight the rare class in the loss "
                        "(weight= in F.cross_entropy), and train long enough")
    unrelated = test_y[torch.randperm(n_test, generator=gen)]  # test labels that no feature can predict
    leak = float(fn(train_x, train_y, test_x, unrelated))
    assert leak < 0.62, (f"on test labels that are pure noise your probe still scores {leak:.2f}: it is scored on the "
                         "training rows (or fitted on the test rows). Fit on train_x/train_y, score on test_x/test_y only")


def _reference_excess(A: torch.Tensor) -> torch.Tensor:
    T = A.shape[0]
    out = torch.zeros_like(A)
    for delta in range(T):
        idx = torch.arange(delta, T)
        diagonal = A[idx, idx - delta]
        out[idx, idx - delta] = diagonal - diagonal.mean()
    return out


@checker("excess attention")
def excess_attention(fn: Callable) -> None:
    gen = torch.Generator().manual_seed(0)
    for T in (5, 9):
        scores = torch.randn(T, T, generator=gen).masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
        A = scores.softmax(-1)
        got = fn(A.clone())
        assert isinstance(got, torch.Tensor) and got.shape == A.shape, \
            f"excess_attention should return a tensor of shape {tuple(A.shape)}, got {getattr(got, 'shape', type(got))}"
        upper = got.triu(1)
        assert torch.all(upper == 0), "keys after the query (j > i) carry no attention: leave those entries at 0"
        expected = _reference_excess(A)
        if not torch.allclose(got, expected, atol=1e-5):
            wrong_mean = A.diagonal(-1).sum() / T
            if torch.isclose(got[1, 0], A[1, 0] - wrong_mean, atol=1e-6):
                raise AssertionError("the mean at distance d runs over the T - d queries that have a key at that distance, "
                                     "not over all T rows")
            row_means = A.sum(-1, keepdim=True) / torch.arange(1, T + 1)[:, None]
            if torch.allclose(got.tril(), (A - row_means).tril(), atol=1e-5):
                raise AssertionError("you subtracted each query's mean over its keys (a row); the baseline is the mean "
                                     "over all queries at the same distance i - j (a diagonal)")
            if torch.allclose(got.tril(), (A - A.diagonal(0).mean()).tril(), atol=1e-5):
                raise AssertionError("every entry lost the same mean: compute one mean per distance d = i - j")
            _assert_close(got, expected, "excess_attention(A)")
    # attention that depends only on the distance carries no excess at all
    T = 7
    distance_only = torch.zeros(T, T)
    for d, value in enumerate((0.5, 0.3, 0.2)):
        idx = torch.arange(d, T)
        distance_only[idx, idx - d] = value
    got = fn(distance_only)
    assert torch.allclose(got, torch.zeros(T, T), atol=1e-6), \
        "attention that depends only on the distance i - j should have zero excess everywhere"


# ----------------------------------------------------------------------------------------------
# The exact entropy floor of an unambiguous grammar, by dynamic programming
# ----------------------------------------------------------------------------------------------
# A hand-made unambiguous grammar: 6 -> 1 2 | 2 1 1, 7 -> 1 1 | 2 2 | 1 2, root 8 -> 6 7 | 7 6 7. By hand:
# H(6) = ln 2, H(7) = ln 3, H(8) = ln 2 + (2 ln 2 + 3 ln 3) / 2; E(6) = 5/2, E(7) = 2, E(8) = 11/2.
TOY_RULES = {6: [(1, 2), (2, 1, 1)], 7: [(1, 1), (2, 2), (1, 2)], 8: [(6, 7), (7, 6, 7)]}
TOY_ROOT = 8
FLOOR_GRAMMARS = ("cfg3f-d2", "cfg3b-d3", "cfg3f-d3")  # unambiguous (tested by exhaustive enumeration)


def floor_by_dp(rules: dict, root: int, mistake: str = "") -> float:
    """H(root) / (E[length] + 1) in nats, for uniform rules; ``mistake`` computes a typical wrong version."""
    import math

    entropy, length = {}, {}

    def visit(a):
        if a not in rules:
            return 0.0, 1.0
        if a not in entropy:
            options = rules[a]
            children = [[visit(c) for c in rule] for rule in options]
            weight = 1.0 if mistake == "summed rules" else 1.0 / len(options)
            choice = 0.0 if mistake == "no rule choice" else math.log(len(options))
            entropy[a] = choice + weight * sum(h for rule in children for h, _ in rule)
            length[a] = weight * sum(n for rule in children for _, n in rule)
        return entropy[a], length[a]

    h, n = visit(root)
    if mistake == "bits":
        h /= math.log(2)
    return h / (n if mistake == "no eos" else n + 1)


FLOOR_MISTAKES = {
    "no eos": "you divided by E[n]; every sentence also predicts its end (the next <bos>): divide by E[n] + 1",
    "no rule choice": "the entropy of a non-terminal starts with its own rule choice, ln(number of rules), before the "
                      "children's entropies are added",
    "bits": "the floor is in nats (natural log), like the training loss; you computed bits (log2)",
    "summed rules": "each rule has probability 1/len(rules[A]): average the children's entropies and lengths over the "
                    "rules, do not add them up",
}


@checker("exact entropy floor by dynamic programming")
def cfg_entropy_floor(fn: Callable) -> None:
    cases = [("the hand-made grammar 8 -> 6 7 | 7 6 7", TOY_RULES, TOY_ROOT)]
    for name in FLOOR_GRAMMARS:
        g = _grammar(name)
        cases.append((name, {a: [tuple(r) for r in rs] for a, rs in g.rules.items()}, g.root))
    for name, rules, root in cases:
        got = fn({a: list(r) for a, r in rules.items()}, root)
        assert isinstance(got, (float, int, np.floating)) or (isinstance(got, torch.Tensor) and got.numel() == 1), \
            f"entropy_floor_dp should return one number (nats per token), got {type(got).__name__}"
        got = float(got)
        expected = floor_by_dp(rules, root)
        if abs(got - expected) <= 1e-6 * max(1.0, abs(expected)):
            continue
        for mistake, message in FLOOR_MISTAKES.items():
            if abs(got - floor_by_dp(rules, root, mistake)) <= 1e-6 * max(1.0, abs(expected)):
                raise AssertionError(f"{name}: {got:.6f} instead of {expected:.6f}: {message}")
        raise AssertionError(f"{name}: {got:.6f} nats per token instead of {expected:.6f}. A terminal has entropy 0 and "
                             "length 1; an NT adds ln(number of rules) to the average over its rules of its children's "
                             "summed entropies; its length is the average of the children's summed lengths")
