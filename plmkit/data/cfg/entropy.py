"""Entropy floor per token and KL along true sentences, both from the exact DP [P1 TMLR; P4.1 Fig. 27].

H* = E[-ln P(x)] / E[n(x) + 1] nats per predicted token, the +1 being the final EOS (``<bos>``)
prediction. No model can have a lower mean cross-entropy on sentence-aligned sequences; a model's
excess loss over H* equals its mean KL(true || model) along those sentences.

Two ways to get H*:

* exactly (:func:`exact_entropy_floor`): for an unambiguous grammar every sentence has one derivation, so
  H(sentence) = H(derivation), which a DP over the rules gives (:func:`derivation_entropies`), and E[n] likewise
  (:func:`expected_lengths`). Whether a root is unambiguous is settled by enumerating all its derivations
  (:func:`ambiguity`), possible up to d3 roots. Of the nine d3 roots only cfg3i-d3 is ambiguous (2,496
  derivations for 2,464 sentences); every d2 root is unambiguous.
* by sampling (:func:`entropy_floor`), for any root: three estimators with standard errors (see
  :class:`EntropyFloor`). d4 roots are too large to enumerate; cfg3f-d4 is ambiguous (several parse
  trees for some 5-10% of sampled sentences), and there the sampled ``tree`` estimator is the one to report.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Optional, Sequence, Union

import numpy as np

from plmkit.data.cfg.dp import prefix_dp
from plmkit.data.cfg.grammar import Grammar, RootLike, resolve
from plmkit.data.cfg.sampler import RngLike, _expand, as_rng


def row_entropy(p_rows: np.ndarray) -> np.ndarray:
    """Entropy in nats of each row of a probability matrix (0 ln 0 = 0)."""
    p = np.asarray(p_rows, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return terms.sum(axis=-1)


def ratio_and_se(numerators: np.ndarray, denominators: np.ndarray) -> tuple[float, float]:
    """Sum(y)/Sum(m) over independent units and its delta-method standard error."""
    y = np.asarray(numerators, np.float64)
    m = np.asarray(denominators, np.float64)
    ratio = float(y.sum() / m.sum())
    units = len(y)
    if units < 2:
        return ratio, float("nan")
    residual = y - ratio * m
    se = np.sqrt(np.sum(residual ** 2) / (units * (units - 1))) / m.mean()
    return ratio, float(se)


# --- exact: derivation entropy and expected length, by dynamic programming ------------------------
def _bottom_up(grammar: Grammar, root_id: int) -> list[int]:
    """The NTs reachable from the root, children before parents (the levels are layered)."""
    reachable = grammar.reachable(root_id)
    return [a for lev in range(grammar.depth - 1, int(grammar.level[root_id]) - 1, -1)
            for a in grammar.level_ids(lev) if a in reachable]


def expected_lengths(g: Union[str, Grammar], root: RootLike = None) -> dict[int, Fraction]:
    """E[length of the string a symbol derives], exactly, for the root and every NT below it.

    A terminal has length 1; an NT, the mean over its (equally likely) rules of the sum of its children's
    expected lengths. Exact rationals: no sampling, no rounding.
    """
    grammar, root_id = resolve(g, root)
    length: dict[int, Fraction] = {}
    for a in _bottom_up(grammar, root_id):
        rules = grammar.rules[a]
        length[a] = sum((sum((length.get(c, Fraction(1)) for c in rule), Fraction(0)) for rule in rules),
                        Fraction(0)) / len(rules)
    return length


def derivation_entropies(g: Union[str, Grammar], root: RootLike = None) -> dict[int, float]:
    """Entropy in nats of the random derivation tree under each NT (the root and every NT below it).

    The tree under A is A's rule choice plus, independently, the trees of its children, so
    H(A) = H(rule choice) + sum over rules r of P(r) * sum of H(child) over r's children, with
    H(rule choice) = ln deg(A) for uniform rules and H(terminal) = 0.
    """
    grammar, root_id = resolve(g, root)
    entropy: dict[int, float] = {}
    for a in _bottom_up(grammar, root_id):
        rules = grammar.rules[a]
        entropy[a] = math.log(len(rules)) + math.fsum(entropy.get(c, 0.0) for rule in rules for c in rule) / len(rules)
    return entropy


def derivation_count(g: Union[str, Grammar], root: RootLike = None) -> int:
    """Number of distinct derivation trees of the root (an exact Python int)."""
    grammar, root_id = resolve(g, root)
    count: dict[int, int] = {}
    for a in _bottom_up(grammar, root_id):
        count[a] = sum(math.prod(count.get(c, 1) for c in rule) for rule in grammar.rules[a])
    return count[root_id]


def _enumerate(grammar: Grammar, root_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(code, log-probability) of every derivation of the root, one entry per derivation.

    A string is coded as its terminals read as digits in base T+1. Terminals are 1..T, never 0, so the
    code determines the string, its length included. Python ints where int64 could overflow.
    """
    base = grammar.num_terminals + 1
    longest = int(grammar.maxlen[root_id])
    dtype = np.int64 if base ** longest < 2 ** 62 else object
    power = np.array([base ** k for k in range(longest + 1)], dtype=dtype)
    table: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # symbol -> (codes, lengths, log-probs)

    def strings(symbol: int):
        if grammar.is_terminal(symbol):
            return np.array([symbol], dtype=dtype), np.array([1]), np.zeros(1)
        return table[symbol]

    for a in _bottom_up(grammar, root_id):
        rules, parts = grammar.rules[a], []
        for rule in rules:
            codes, lengths, logp = strings(rule[0])
            for child in rule[1:]:
                c2, l2, p2 = strings(child)
                codes = (codes[:, None] * power[l2][None, :] + c2[None, :]).ravel()
                lengths = (lengths[:, None] + l2[None, :]).ravel()
                logp = (logp[:, None] + p2[None, :]).ravel()
            parts.append((codes, lengths, logp - math.log(len(rules))))
        table[a] = tuple(np.concatenate(column) for column in zip(*parts))
    codes, _, logp = table[root_id]
    return codes, logp


@dataclass
class Ambiguity:
    """Derivation trees against distinct sentences, counted exhaustively.

    The grammar (from this root) is unambiguous iff the two counts are equal: every sentence then has
    exactly one parse tree, and the sentence distribution is the derivation distribution.
    """

    derivations: int
    sentences: int

    @property
    def unambiguous(self) -> bool:
        return self.derivations == self.sentences

    @property
    def extra_derivations(self) -> int:
        """Derivations beyond one per sentence (0 iff unambiguous)."""
        return self.derivations - self.sentences


ENUMERATION_LIMIT = 5_000_000  # derivations; cfg3f-d3 has 1,066,464 (about 2 s), cfg3k-d3 3,219,164


def ambiguity(g: Union[str, Grammar], root: RootLike = None, limit: int = ENUMERATION_LIMIT) -> Ambiguity:
    """Count the root's derivations and its distinct sentences by enumerating every derivation.

    A proof, not a sample: only possible when the number of derivations (:func:`derivation_count`) is at most
    ``limit``. Deeper roots (every d4 and above) raise ValueError; test those on samples with ``count_parses``.
    """
    grammar, root_id = resolve(g, root)
    total = derivation_count(grammar, root_id)
    if total > limit:
        raise ValueError(f"{grammar.name} from root {root_id} has {total:,} derivations, more than limit={limit:,} "
                         "can enumerate; count the parses of sampled sentences with count_parses instead")
    codes, _ = _enumerate(grammar, root_id)
    ordered = np.sort(codes)
    return Ambiguity(derivations=total, sentences=int(1 + np.count_nonzero(ordered[1:] != ordered[:-1])))


@dataclass
class ExactFloor:
    """H* computed without sampling, in nats per predicted token (the +1 is the final EOS).

    ``sentence_entropy`` (nats per sentence) equals ``derivation_entropy`` iff the grammar is unambiguous; for an
    ambiguous one it is smaller (a sentence hides which of its trees produced it).
    """

    value: float
    derivation_entropy: float
    sentence_entropy: float
    mean_length: float
    mean_length_exact: str  # E[n] as an exact fraction
    derivations: int
    sentences: int
    unambiguous: bool
    method: str
    chance: float

    def to_dict(self) -> dict:
        return asdict(self)


def exact_entropy_floor(g: Union[str, Grammar], root: RootLike = None, limit: int = ENUMERATION_LIMIT) -> ExactFloor:
    """The exact entropy floor H* = H(sentence) / (E[n] + 1) of a (sub-)grammar small enough to enumerate.

    The numerator comes from the derivation DP (:func:`derivation_entropies`) once enumeration has shown the grammar
    unambiguous (then H(sentence) = H(derivation)); for an ambiguous grammar it is -sum P(x) ln P(x) over the
    enumerated sentences. E[n] comes from :func:`expected_lengths` either way. Roots with more than ``limit``
    derivations raise ValueError: use the sampled :func:`entropy_floor` there.
    """
    grammar, root_id = resolve(g, root)
    check = ambiguity(grammar, root_id, limit)
    h_tree = derivation_entropies(grammar, root_id)[root_id]
    mean = expected_lengths(grammar, root_id)[root_id]
    if check.unambiguous:
        h_sentence = h_tree
        method = (f"derivation-entropy DP; unambiguous (all {check.derivations:,} derivations enumerated, "
                  "every sentence has one)")
    else:
        codes, logp = _enumerate(grammar, root_id)
        order = np.argsort(codes, kind="stable")
        codes, prob = codes[order], np.exp(logp[order])
        first = np.flatnonzero(np.concatenate([[True], codes[1:] != codes[:-1]]))
        p = np.add.reduceat(prob, first)  # P(x): the summed probabilities of x's derivations
        h_sentence = float(-np.sum(p * np.log(p)))
        method = (f"enumeration; ambiguous ({check.derivations:,} derivations for {check.sentences:,} sentences), "
                  "so the derivation DP would overstate H*")
    return ExactFloor(h_sentence / float(mean + 1), h_tree, h_sentence, float(mean), str(mean), check.derivations,
                      check.sentences, check.unambiguous, method, float(np.log(grammar.num_terminals + 1)))


# --- sampled: three estimators of H*, each with its standard error ------------------------------------
@dataclass
class EntropyFloor:
    """Sampled estimates of H* (nats per predicted token), each with its standard error over sentences.

    * ``ratio``: sum of -ln P(x) over sum of (n+1).
    * ``rows``: sum of the DP rows' entropies over sum of (n+1). Its expectation equals ``ratio``'s, but it is *not*
      the lower-variance one: over 300 sentences its standard error was 1.3 to 2.5 times ``ratio``'s on cfg3f-d3,
      cfg3i-d3 and the d4 roots of cfg3f/g/h/i/b, and equal on cfg3k-d3. Long sentences carry more entropy and more
      rows at once, and dividing the summed -ln P(x) by the summed length cancels much of that spread.
    * ``tree``: (H(derivation) + mean of ln P(t | x)) / (E[n] + 1), where t is the tree that generated x,
      H(derivation) and E[n] are exact (DP) and ln P(t | x) = ln P(t) - ln P(x) <= 0. Unbiased, since
      E[-ln P(x)] = E[-ln P(t)] + E[ln P(t | x)]; the only noise left is the ambiguity term, 0 on every sentence with
      one parse. Its standard error was 2.4 to 17 times below ``ratio``'s on the ambiguous roots tried (cfg3i-d3 and
      the d4 roots of cfg3f/g/h/i); it is exactly 0 for an unambiguous grammar, where it equals
      :func:`exact_entropy_floor`. Needs the generating trees, so it is NaN
      when the caller passes ``sentences``.

    ``value`` is ``tree`` when available, else ``ratio``. ``gap`` and ``gap_se``: ratio minus rows over the same
    sentences, whose expectation is exactly 0 (a consistency check of the DP).
    """

    ratio: float
    ratio_se: float
    rows: float
    rows_se: float
    tree: float
    tree_se: float
    gap: float
    gap_se: float
    sentences: int
    predictions: int
    mean_length: float  # sample mean of n
    chance: float
    derivation_floor: float  # H(derivation) / (E[n] + 1): H* exactly when unambiguous, an upper bound otherwise
    ambiguous_fraction: float  # share of sampled sentences with P(t | x) < 1 (NaN without trees)

    @property
    def value(self) -> float:
        """The estimate to report: the lowest-variance estimator available."""
        return self.tree if np.isfinite(self.tree) else self.ratio

    @property
    def value_se(self) -> float:
        return self.tree_se if np.isfinite(self.tree) else self.ratio_se

    @property
    def estimator(self) -> str:
        return "tree" if np.isfinite(self.tree) else "ratio"

    def to_dict(self) -> dict:
        return {**asdict(self), "value": self.value, "value_se": self.value_se, "estimator": self.estimator}


def _tree_neg_log_probs(grammar: Grammar, tree) -> np.ndarray:
    """-ln P(t) of each sampled derivation: ln deg(A) summed over its NT nodes (rules are uniform)."""
    degree = grammar.rule_table[2]
    n = len(tree.node_offsets[0]) - 1
    out = np.zeros(n)
    for r in range(len(tree.levels) - 1):  # NT levels only
        out += np.add.reduceat(np.log(degree[tree.symbols[r]]), tree.node_offsets[r][:-1])
    return out


def entropy_floor(g: Union[str, Grammar], n: int = 200, rng: RngLike = 0, root: RootLike = None,
                  sentences: Optional[Sequence[np.ndarray]] = None) -> EntropyFloor:
    """Estimate H* from n fresh sentences (or the given ones) with the exact DP of ``prefix_dp``.

    Sampling here draws the same sentences as ``sample(g, n, rng, root)`` and keeps their trees for the ``tree``
    estimator. For a grammar small enough to enumerate, :func:`exact_entropy_floor` needs no sampling at all.
    """
    grammar, root_id = resolve(g, root)
    tree_nlp = None
    if sentences is None:
        if n < 1:
            raise ValueError("entropy_floor needs at least one sentence")
        tree = _expand(grammar, root_id, int(n), as_rng(rng))
        sentences = np.split(tree.symbols[-1], tree.node_offsets[-1][1:-1])
        tree_nlp = _tree_neg_log_probs(grammar, tree)
    if len(sentences) == 0:
        raise ValueError("entropy_floor needs at least one sentence")
    neg_log_p, row_sums, predictions = [], [], []
    for x in sentences:
        result = prefix_dp(grammar, x, root_id)
        if not np.isfinite(result.sentence_log_prob):
            raise ValueError("entropy_floor got a string that is not a sentence of this (sub-)grammar")
        neg_log_p.append(-result.sentence_log_prob)
        row_sums.append(row_entropy(result.probs).sum())
        predictions.append(len(x) + 1)
    neg_log_p, row_sums, predictions = map(np.asarray, (neg_log_p, row_sums, predictions))
    ratio, ratio_se = ratio_and_se(neg_log_p, predictions)
    rows, rows_se = ratio_and_se(row_sums, predictions)
    gap, gap_se = ratio_and_se(neg_log_p - row_sums, predictions)
    h_tree = derivation_entropies(grammar, root_id)[root_id]
    denominator = float(expected_lengths(grammar, root_id)[root_id] + 1)
    tree_est = tree_se = ambiguous = float("nan")
    if tree_nlp is not None:
        log_posterior = neg_log_p - tree_nlp  # ln P(t | x) = ln P(t) - ln P(x) <= 0
        log_posterior[log_posterior > -1e-9] = 0.0  # one parse tree: exactly 0 (the DP and the tree sum differ by rounding)
        tree_est = (h_tree + float(log_posterior.mean())) / denominator
        tree_se = (float(log_posterior.std(ddof=1) / np.sqrt(len(log_posterior))) / denominator
                   if len(log_posterior) > 1 else float("nan"))
        ambiguous = float(np.mean(log_posterior < 0))
    return EntropyFloor(ratio, ratio_se, rows, rows_se, tree_est, tree_se, gap, gap_se, len(sentences),
                        int(predictions.sum()), float(predictions.mean() - 1), float(np.log(grammar.num_terminals + 1)),
                        h_tree / denominator, ambiguous)


# --- KL along a sentence ---------------------------------------------------------------------------------
def model_rows(probs: np.ndarray, g: Union[str, Grammar]) -> np.ndarray:
    """Model softmax over the full vocabulary (n+1, vocab) -> (n+1, T+1) rows over (EOS, 1..T).

    Keeps the T+1 legal outcomes (``<bos>`` as EOS, then the terminals) and renormalizes.
    """
    grammar = resolve(g)[0]
    p = np.asarray(probs, np.float64)
    if p.ndim != 2 or p.shape[1] < grammar.vocab_size:
        raise ValueError(f"expected model probabilities of shape (n+1, {grammar.vocab_size}), got {p.shape}")
    legal = p[:, [grammar.bos_id, *range(1, grammar.num_terminals + 1)]]
    return legal / legal.sum(axis=1, keepdims=True)


def _smoothed_log(rows: np.ndarray, eps: float) -> np.ndarray:
    smoothed = rows + eps
    return np.log(smoothed / smoothed.sum(axis=1, keepdims=True))


def kl_along_sentence(p_rows: np.ndarray, q_rows: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Per-row KL(p || q) in nats: weights are the raw p, the logs use eps-smoothed p and q.

    ``p_rows``: the DP rows (n+1, T+1); ``q_rows``: the model's rows over the same outcomes (see
    :func:`model_rows`). The sentence KL is the mean of the returned vector.
    """
    p = np.asarray(p_rows, np.float64)
    q = np.asarray(q_rows, np.float64)
    if p.shape != q.shape or p.ndim != 2:
        raise ValueError(f"p_rows and q_rows must be matching 2-D arrays, got {p.shape} and {q.shape}")
    if np.isnan(p).any() or np.isnan(q).any():
        raise ValueError("p_rows or q_rows holds NaN (was the DP run on a non-sentence?)")
    return np.sum(p * (_smoothed_log(p, eps) - _smoothed_log(q, eps)), axis=1)


def sentence_kl(p_rows: np.ndarray, q_rows: np.ndarray, eps: float = 1e-5) -> float:
    """Mean KL over the n+1 rows of one sentence."""
    return float(kl_along_sentence(p_rows, q_rows, eps).mean())


def mean_and_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error over independent units (e.g. per-sentence KLs)."""
    v = np.asarray(values, np.float64)
    if len(v) == 0:
        raise ValueError("mean_and_se needs at least one value")
    se = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")
    return float(v.mean()), se
