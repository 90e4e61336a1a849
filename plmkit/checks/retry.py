"""Checkers of lab 03 (Part 2.2, learning from mistakes with retry data).

Each checker runs the student's function on generated iGSM problems (or numbers) against the kit's own
answer. Retry insertion is random, so that checker tests the rules every output must obey and the rate
law, not one exact output. When an answer is wrong, the usual mistakes of the exercise are tried so the
message can name the one made.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .base import checker

RETRY_TOKENS = 7  # Define, the three-token name "A 's B", as, [BACK], .


def _problems(world: str, ops, n: int, seed: int):
    from ..data import igsm

    rng = np.random.default_rng(seed)
    return [igsm.sample_problem(world, rng, op=int(ops[i % len(ops)])) for i in range(n)]


def _sentences(tokens: list) -> list[list]:
    """Sentences ending with '.', and a last unfinished one if any."""
    out, current = [], []
    for t in tokens:
        current.append(t)
        if t == ".":
            out.append(current)
            current = []
    return out + ([current] if current else [])


def _is_retry(sentence: list) -> bool:
    return (len(sentence) == RETRY_TOKENS and sentence[0] == "Define" and sentence[2] == "'s"
            and sentence[4:] == ["as", "[BACK]", "."])


def _token_list(value, what: str) -> list:
    if not isinstance(value, (list, tuple)) or not all(isinstance(t, str) for t in value):
        raise AssertionError(f"{what} should return a list of token strings, got {type(value).__name__}")
    return list(value)


# ----------------------------------------------------------------------------------------------
# Exercise 1: insert retry steps into a solution
# ----------------------------------------------------------------------------------------------
def _places(problem, tokens: list) -> list[list[tuple]]:
    """For each solution step j (and one place after the last step), the retry names written before it."""
    places: list[list[tuple]] = [[]]
    for sentence in _sentences(tokens):
        if "[BACK]" in sentence:
            if not _is_retry(sentence):
                raise AssertionError(f"a retry sentence reads exactly 'Define <name> as [BACK] .' (7 tokens, the name "
                                     f"being 'A 's B'); got {' '.join(sentence)!r}")
            places[-1].append((sentence[1], sentence[3]))
        else:
            places.append([])
    return places


def _expected_insertions(candidates: int, rate: float) -> tuple[float, float]:
    """Mean and variance of the number of retries at one place: P(K >= k) = r^k for k <= candidates."""
    mean = sum(rate ** k for k in range(1, candidates + 1))
    second = sum((2 * k - 1) * rate ** k for k in range(1, candidates + 1))
    return mean, second - mean ** 2


@checker("insert retry steps")
def retry_insertion(fn: Callable) -> None:
    from ..data import igsm

    problems = _problems("nano", (2, 3, 4, 5), 80, seed=61) + _problems("mini", (3, 5, 8), 40, seed=62)
    # Several problems: on one small problem, two unseeded draws agree by chance often enough (no retry inserted
    # at any of its few places) to let a function that ignores the rng pass.
    first = problems[0]
    for problem in problems[:12]:
        a = _token_list(fn(problem, np.random.default_rng(5), 0.5), "insert_retries")
        b = _token_list(fn(problem, np.random.default_rng(5), 0.5), "insert_retries")
        assert a == b, ("the same rng state must give the same output: draw every random choice from the rng you "
                        "are given")
    plain = _token_list(fn(first, np.random.default_rng(5), 0.0), "insert_retries")
    assert plain == first.solution_tokens, "at rate 0 the solution must come back unchanged"
    outputs = []
    for i, problem in enumerate(problems):
        tokens = _token_list(fn(problem, np.random.default_rng(100 + i), 0.5), "insert_retries")
        places = _places(problem, tokens)
        if igsm.strip_retries(tokens) != problem.solution_tokens:
            raise AssertionError("remove every 'Define W as [BACK] .' from your output and the error-free solution must "
                                 "come back exactly: keep every solution sentence, in order, unchanged; insert retries "
                                 f"only between sentences. Problem: {problem.solution_text}\nyours: {' '.join(tokens)}")
        outputs.append((problem, tokens, places))
    if any(places[-1] for _, _, places in outputs):
        raise AssertionError("a retry goes right before a solution step (the mistake is made where the next step "
                             "should be written); yours also puts retries after the last step")
    count, mean, var = 0, 0.0, 0.0
    for problem, tokens, places in outputs:
        for j, names in enumerate(places[:-1]):
            known = problem.order[:j]
            ready = set(igsm.ready_params(problem, known))
            if len(set(names)) != len(names):
                raise AssertionError(f"never the same W twice at one place [P2.2 §4]: step {j} of\n{' '.join(tokens)}")
            for name in names:
                if name not in problem.structure.index:
                    raise AssertionError(f"{name[0]}'s {name[1]} is not a parameter of this problem: draw W from "
                                         "problem.universe")
                w = problem.structure.index[name]
                if w in known:
                    raise AssertionError(f"{problem.name(w)} was already computed before step {j}: W must not have "
                                         "appeared in the solution yet")
                if w in ready:
                    raise AssertionError(f"{problem.name(w)} could be computed at step {j}: a retry's W must be a real "
                                         "mistake, a parameter that cannot be computed next (igsm.ready_params)")
            candidates = len([p for p in problem.universe if p not in known and p not in ready])
            m, v = _expected_insertions(candidates, 0.5)
            count += len(names)
            mean += m
            var += v
    if abs(count - mean) > 5 * math.sqrt(var) + 1:
        once = "; it looks like at most one per place: after inserting one, insert another with probability r again, " \
               "so two come with probability r^2 (about r / (1 - r) per place in all)" if count < mean else ""
        raise AssertionError(f"at rate 0.5 your function inserted {count} retries where about {mean:.0f} were expected "
                             f"(+- {2 * math.sqrt(var):.0f}){once}")


# ----------------------------------------------------------------------------------------------
# Exercise 2: the [BACK]-aware reading rule (strip retries, count them)
# ----------------------------------------------------------------------------------------------
def reference_strip(tokens: list) -> tuple[list, int]:
    kept, retries = [], 0
    for sentence in _sentences(tokens):
        if _is_retry(sentence):
            retries += 1
        else:
            kept += sentence
    return kept, retries


def _strip_variants(tokens: list) -> dict[str, tuple]:
    sentences = _sentences(tokens)
    any_back = [s for s in sentences if "[BACK]" not in s]
    only_token = [t for t in tokens if t != "[BACK]"]
    drop_next, drop_prev = [], []
    skip_next = False
    for s in sentences:
        if _is_retry(s):
            skip_next = True
            continue
        if skip_next:
            skip_next = False
            continue
        drop_next.append(s)
    for i, s in enumerate(sentences):
        if _is_retry(s) or (i + 1 < len(sentences) and _is_retry(sentences[i + 1])):
            continue
        drop_prev.append(s)
    flat = lambda parts: [t for s in parts for t in s]  # noqa: E731
    count = sum(1 for s in sentences if _is_retry(s))
    return {
        "a sentence that merely contains [BACK] is no retry: only the exact 'Define <name> as [BACK] .' is skipped; "
        "anything else must reach the checker, which calls it malformed":
            (flat(any_back), sum("[BACK]" in s for s in sentences)),
        "remove the whole retry sentence 'Define <name> as [BACK] .', not just the [BACK] token":
            (only_token, tokens.count("[BACK]")),
        "[BACK] retracts the sentence it ends ('Define W as'), not the sentence that follows it":
            (flat(drop_next), count),
        "[BACK] retracts its own sentence ('Define W as'), not the step before it: the steps before a retry were right":
            (flat(drop_prev), count),
    }


def _strip_cases():
    from ..data import igsm

    rng = np.random.default_rng(71)
    cases = []
    for kind in ("retry", "retry_weak"):
        for p in _problems("nano", (2, 3, 4), 20, seed=72) + _problems("mini", (4, 6), 10, seed=73):
            cases.append(igsm.retry_solution(p, rng, rate=0.5, kind=kind).tokens)
    p = _problems("nano", (3,), 1, seed=74)[0]
    first, rest = p.solution_sentences[0], [t for s in p.solution_sentences[1:] for t in s]
    name = p.name_tokens(p.order[-1])
    cases += [
        first + ["Define", *name, "as", "[BACK]", "[BACK]", "."] + rest,
        first + ["[BACK]", "."] + rest,
        first[:-1] + ["[BACK]", "."] + rest,
        first + rest + ["Define", *name, "as", "[BACK]"],
    ]
    return cases


@checker("[BACK]-aware reading")
def back_aware_strip(fn: Callable) -> None:
    for tokens in _strip_cases():
        got = fn(list(tokens))
        if not (isinstance(got, tuple) and len(got) == 2):
            raise AssertionError("strip_retries should return a pair (kept tokens, number of retries)")
        kept, retries = _token_list(got[0], "strip_retries"), got[1]
        assert isinstance(retries, (int, np.integer)), \
            f"the number of retries should be an int, got {type(retries).__name__}"
        expected = reference_strip(tokens)
        if (kept, int(retries)) == expected:
            continue
        for message, variant in _strip_variants(tokens).items():
            if (kept, int(retries)) == (list(variant[0]), variant[1]):
                raise AssertionError(f"strip_retries: {message}.")
        if kept == expected[0]:
            raise AssertionError(f"the kept tokens are right but the count is {retries}, expected {expected[1]}: count one "
                                 "retry per skipped sentence")
        raise AssertionError(f"strip_retries({' '.join(tokens)!r}) should keep\n{' '.join(expected[0])!r}\n"
                             f"(and count {expected[1]}), you kept\n{' '.join(kept)!r}")


# ----------------------------------------------------------------------------------------------
# Exercise 3: the label mask
# ----------------------------------------------------------------------------------------------
def reference_mask(tokens: list) -> list[bool]:
    mask = []
    for sentence in _sentences(tokens):
        hide = _is_retry(sentence)
        mask += [hide and 1 <= i <= 3 for i in range(len(sentence))]
    return mask


def _mask_variants(tokens: list) -> dict[str, list]:
    whole, name_back, first_only, next_name = [], [], [], []
    sentences = _sentences(tokens)
    for k, s in enumerate(sentences):
        r = _is_retry(s)
        after = k > 0 and _is_retry(sentences[k - 1]) and not r
        whole += [r] * len(s)
        name_back += [r and (1 <= i <= 3 or s[i] == "[BACK]") for i in range(len(s))]
        first_only += [r and i == 1 for i in range(len(s))]
        next_name += [(r or after) and 1 <= i <= 3 for i in range(len(s))]
    return {
        "hide only the wrong parameter's name: 'Define', 'as', '[BACK]' and '.' keep their loss, so the model still "
        "learns to write the retry sentence and, above all, [BACK] [P2.2 §4]": whole,
        "[BACK] keeps its loss: it is the very token the model must learn to write after a mistake": name_back,
        "the name is three tokens, 'A', \"'s\", 'B': hide all three": first_only,
        "the correct step after a retry keeps its loss everywhere: only the wrong name is hidden": next_name,
    }


@checker("label mask")
def retry_label_mask(fn: Callable) -> None:
    from ..data import igsm

    rng = np.random.default_rng(81)
    cases = []
    for p in _problems("nano", (2, 3, 4), 20, seed=82) + _problems("mini", (5,), 8, seed=83):
        r = igsm.retry_solution(p, rng, rate=0.5, mask_wrong=True)
        cases.append((r.tokens, r.mask))
    cases += [(t, reference_mask(t)) for t in _strip_cases()[-4:]]
    for tokens, expected in cases:
        got = fn(list(tokens))
        if not isinstance(got, (list, tuple, np.ndarray)) or len(got) != len(tokens):
            raise AssertionError(f"label_mask should return one bool per token ({len(tokens)}), got "
                                 f"{len(got) if hasattr(got, '__len__') else type(got).__name__}")
        got = [bool(x) for x in got]
        if got == list(expected):
            continue
        if not any(got) and any(expected):
            raise AssertionError("nothing is hidden: True marks the tokens whose loss is zeroed, the wrong parameter's "
                                 "name in each retry sentence")
        for message, variant in _mask_variants(tokens).items():
            if got == variant:
                raise AssertionError(f"label_mask: {message}.")
        wrong = next(i for i, (g, e) in enumerate(zip(got, expected)) if g != e)
        raise AssertionError(f"token {wrong} ({tokens[wrong]!r}) should be {'hidden' if expected[wrong] else 'kept'} in\n"
                             f"{' '.join(tokens)}")


# ----------------------------------------------------------------------------------------------
# Exercise 4: a paired gain and its standard error
# ----------------------------------------------------------------------------------------------
def reference_paired_gain(base, new) -> tuple[float, float]:
    d = np.asarray(new, dtype=float) - np.asarray(base, dtype=float)
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d)))


def _gain_variants(base, new) -> dict[str, tuple]:
    b, n = np.asarray(base, dtype=float), np.asarray(new, dtype=float)
    d, k = n - b, len(b)
    gain = float(d.mean())
    unpaired = math.sqrt(b.mean() * (1 - b.mean()) / k + n.mean() * (1 - n.mean()) / k)
    return {
        "the two methods solved the *same* problems: the error of the gain comes from the per-problem differences "
        "(paired), std(new - base) / sqrt(n), not from two independent accuracies": (gain, unpaired),
        "the gain's error is that of the differences, not of one method's accuracy":
            (gain, math.sqrt(n.mean() * (1 - n.mean()) / k)),
        "use the sample standard deviation of the differences (ddof=1)": (gain, float(d.std() / math.sqrt(k))),
        "the standard error divides by sqrt(n), not by n": (gain, float(d.std(ddof=1) / k)),
        "report fractions (0.05 = 5 points), not percentages": (100 * gain, 100 * float(d.std(ddof=1) / math.sqrt(k))),
        "the gain is new minus base": (-gain, float(d.std(ddof=1) / math.sqrt(k))),
    }


@checker("paired gain")
def paired_gain_se(fn: Callable) -> None:
    rng = np.random.default_rng(91)
    for n, p_base, p_gain, p_loss in ((10, 0.3, 0.2, 0.0), (60, 0.4, 0.15, 0.05), (300, 0.1, 0.08, 0.0),
                                      (500, 0.6, 0.05, 0.07)):
        base = rng.random(n) < p_base
        u = rng.random(n)
        new = np.where(base, u >= p_loss, u < p_gain)
        got = fn(base.copy(), new.copy())
        try:
            gain, se = (float(x) for x in got)
        except (TypeError, ValueError):
            raise AssertionError(f"paired_gain should return two numbers (gain, standard error), got {got!r}") from None
        want = reference_paired_gain(base, new)
        if math.isclose(gain, want[0], abs_tol=1e-9) and math.isclose(se, want[1], rel_tol=1e-6, abs_tol=1e-12):
            continue
        for message, variant in _gain_variants(base, new).items():
            if math.isclose(gain, variant[0], abs_tol=1e-9) and math.isclose(se, variant[1], rel_tol=1e-6):
                raise AssertionError(f"paired_gain: {message}.")
        raise AssertionError(f"paired_gain on {n} problems: expected gain {want[0]:.4f} with standard error {want[1]:.4f}, "
                             f"got {gain:.4f} and {se:.4f}")


# ----------------------------------------------------------------------------------------------
# Exercise 5: problems seen at equal tokens
# ----------------------------------------------------------------------------------------------
def reference_problems(token_budget: float, problem_tokens: float, steps: float, rate: float) -> float:
    return token_budget / (problem_tokens + steps * RETRY_TOKENS * rate / (1 - rate))


def _problem_variants(budget, tokens, steps, rate) -> dict[str, float]:
    per_place = rate / (1 - rate)
    return {
        "at equal tokens the retry data's extra sentences take room: the retry arm sees fewer problems, not the same "
        "number": budget / tokens,
        "retries come in runs: after one, another with probability r, so r + r^2 + ... = r / (1 - r) per place, "
        "not r": budget / (tokens + steps * RETRY_TOKENS * rate),
        "a retry sentence is 7 tokens: 'Define', the three-token name, 'as', '[BACK]', '.'":
            budget / (tokens + steps * 6 * per_place),
        "the name 'A 's B' is three tokens, so a retry sentence is 7 tokens, not 5":
            budget / (tokens + steps * 5 * per_place),
        "retries are drawn before every solution step, not once per problem": budget / (tokens + RETRY_TOKENS * per_place),
    }


@checker("problems at equal tokens")
def equal_token_problems(fn: Callable) -> None:
    for budget, tokens, steps, rate in ((29_568_000, 56.2, 1.7, 0.2), (1e9, 300.0, 12.0, 0.1), (5e6, 80.0, 3.0, 0.5),
                                        (1e6, 56.2, 1.7, 0.0)):
        got = fn(budget, tokens, steps, rate)
        assert isinstance(got, (int, float, np.floating, np.integer)), \
            f"problems_at_equal_tokens should return a number, got {type(got).__name__}"
        want = reference_problems(budget, tokens, steps, rate)
        if math.isclose(float(got), want, rel_tol=1e-6):
            continue
        if rate:
            for message, variant in _problem_variants(budget, tokens, steps, rate).items():
                if math.isclose(float(got), variant, rel_tol=1e-6):
                    raise AssertionError(f"problems_at_equal_tokens: {message}.")
        raise AssertionError(f"problems_at_equal_tokens({budget:g}, {tokens}, {steps}, {rate}) should be {want:,.1f}, "
                             f"got {float(got):,.1f}")
