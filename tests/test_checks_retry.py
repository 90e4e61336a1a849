"""Lab 03's checkers: each passes a reference solution and names plausible mistakes."""
import math

import numpy as np
import pytest

from plmkit import labs
from plmkit.checks import retry as C
from plmkit.data import igsm

LAB = "03_retry"


def test_lab_has_five_exercises_each_with_hints_difficulty_and_time():
    text = labs._source_path(LAB).read_text()
    for number in range(1, 6):
        block = text.split(f"### Exercise {number}:")[1].split("# %%\ndef ")[0]
        assert "**Difficulty:**" in block and "**Importance:**" in block and "**Time:**" in block
        assert "<details>" in block, f"exercise {number} has no collapsed hint"
    checker_lines = [line for line in text.splitlines() if labs.CHECKER_RE.match(line)]
    assert len(checker_lines) == 5


CHECKERS = ("retry_insertion", "back_aware_strip", "retry_label_mask", "paired_gain_se", "equal_token_problems")


def test_lab_calls_each_checker_once():
    text = labs._source_path(LAB).read_text()
    for name in CHECKERS:
        assert text.count(f"\nchecks.{name}(") == 1, name


# ---- exercise 1: insert retries ------------------------------------------------------------------------------
def inserter(allow_ready=False, allow_known=False, with_replacement=False, once=False, after=False, name=None):
    def insert_retries(problem, rng, rate):
        out = []
        for j, sentence in enumerate(problem.solution_sentences):
            known = problem.order[:j]
            ready = set(igsm.ready_params(problem, known))
            candidates = [p for p in problem.universe
                          if (allow_known or p not in known) and (allow_ready or p not in ready)]
            inserted = []
            if rate > 0 and rng.random() < rate:
                while candidates:
                    pick = int(rng.integers(len(candidates)))
                    w = candidates[pick] if with_replacement else candidates.pop(pick)
                    words = name(problem, w) if name else problem.name_tokens(w)
                    inserted += ["Define", *words, "as", "[BACK]", "."]
                    if once or rng.random() >= rate:
                        break
            out += sentence + inserted if after else inserted + sentence
        return out

    return insert_retries


def test_insertion_checker_accepts_the_reference():
    C.retry_insertion(inserter())


@pytest.mark.parametrize("wrong,message", [
    (inserter(allow_ready=True), "could be computed"),
    (inserter(allow_known=True), "already computed"),
    (inserter(with_replacement=True), "never the same W twice"),
    (inserter(once=True), "at most one per place"),
    (inserter(after=True), "after the last step"),
    (inserter(name=lambda p, w: [p.name(w)]), "exactly 'Define <name> as \\[BACK\\] .'"),
])
def test_insertion_checker_names_the_mistake(wrong, message):
    with pytest.raises(AssertionError, match=message):
        C.retry_insertion(wrong)


def test_insertion_checker_wants_determinism():
    def unseeded(problem, rng, rate):
        return inserter()(problem, np.random.default_rng(), rate)

    with pytest.raises(AssertionError, match="same rng state"):
        C.retry_insertion(unseeded)


# ---- exercise 2: the [BACK]-aware reading rule ----------------------------------------------------------------
def sentences(tokens):
    out, current = [], []
    for t in tokens:
        current.append(t)
        if t == ".":
            out.append(current)
            current = []
    return out, current


def is_retry(s):
    return len(s) == 7 and s[0] == "Define" and s[2] == "'s" and s[4:] == ["as", "[BACK]", "."]


def strip_reference(tokens):
    done, tail = sentences(tokens)
    kept = [t for s in done if not is_retry(s) for t in s]
    return kept + tail, sum(is_retry(s) for s in done)


def strip_any_back(tokens):
    done, tail = sentences(tokens)
    return [t for s in done if "[BACK]" not in s for t in s] + tail, sum("[BACK]" in s for s in done)


def strip_token_only(tokens):
    return [t for t in tokens if t != "[BACK]"], tokens.count("[BACK]")


def strip_next_too(tokens):
    done, tail = sentences(tokens)
    kept, skip = [], False
    for s in done:
        if is_retry(s):
            skip = True
        elif skip:
            skip = False
        else:
            kept += s
    return kept + tail, sum(is_retry(s) for s in done)


def strip_previous_too(tokens):
    done, tail = sentences(tokens)
    kept = [t for i, s in enumerate(done) if not is_retry(s) and not (i + 1 < len(done) and is_retry(done[i + 1]))
            for t in s]
    return kept + tail, sum(is_retry(s) for s in done)


def test_strip_checker_accepts_the_reference():
    C.back_aware_strip(strip_reference)


@pytest.mark.parametrize("wrong,message", [
    (strip_any_back, "merely contains \\[BACK\\]"),
    (strip_token_only, "not just the \\[BACK\\] token"),
    (strip_next_too, "not the sentence that follows"),
    (strip_previous_too, "not the step before it"),
    (lambda tokens: (strip_reference(tokens)[0], 0), "count one retry per skipped sentence"),
])
def test_strip_checker_names_the_mistake(wrong, message):
    with pytest.raises(AssertionError, match=message):
        C.back_aware_strip(wrong)


# ---- exercise 3: the label mask --------------------------------------------------------------------------------
def masker(span=(1, 2, 3), whole=False, back=False, next_name=False, nothing=False):
    def label_mask(tokens):
        done, tail = sentences(tokens)
        out, previous = [], False
        for s in done:
            r = is_retry(s)
            hide = r or (next_name and previous and not r)
            out += [not nothing and (whole and r or hide and i in span or back and r and s[i] == "[BACK]")
                    for i in range(len(s))]
            previous = r
        return out + [False] * len(tail)

    return label_mask


def test_mask_checker_accepts_the_reference():
    C.retry_label_mask(masker())


@pytest.mark.parametrize("wrong,message", [
    (masker(whole=True), "keep their loss"),
    (masker(back=True), "\\[BACK\\] keeps its loss"),
    (masker(span=(1,)), "three tokens"),
    (masker(next_name=True), "correct step after a retry"),
    (masker(nothing=True), "nothing is hidden"),
])
def test_mask_checker_names_the_mistake(wrong, message):
    with pytest.raises(AssertionError, match=message):
        C.retry_label_mask(wrong)


def test_mask_checker_wants_one_flag_per_token():
    with pytest.raises(AssertionError, match="one bool per token"):
        C.retry_label_mask(lambda tokens: [False])


# ---- exercise 4: paired gain -----------------------------------------------------------------------------------
def paired(base, new):
    d = np.asarray(new, float) - np.asarray(base, float)
    return d.mean(), d.std(ddof=1) / math.sqrt(len(d))


def unpaired(base, new):
    b, n = np.asarray(base, float), np.asarray(new, float)
    return n.mean() - b.mean(), math.sqrt(b.mean() * (1 - b.mean()) / len(b) + n.mean() * (1 - n.mean()) / len(n))


def test_gain_checker_accepts_the_reference():
    C.paired_gain_se(paired)


@pytest.mark.parametrize("wrong,message", [
    (unpaired, "same\\* problems"),
    (lambda b, n: (paired(b, n)[0], np.asarray(new_minus(b, n)).std() / math.sqrt(len(b))), "ddof=1"),
    (lambda b, n: (paired(b, n)[0], paired(b, n)[1] / math.sqrt(len(b))), "not by n"),
    (lambda b, n: tuple(100 * x for x in paired(b, n)), "fractions"),
    (lambda b, n: (-paired(b, n)[0], paired(b, n)[1]), "new minus base"),
])
def test_gain_checker_names_the_mistake(wrong, message):
    with pytest.raises(AssertionError, match=message):
        C.paired_gain_se(wrong)


def new_minus(base, new):
    return np.asarray(new, float) - np.asarray(base, float)


# ---- exercise 5: problems at equal tokens ----------------------------------------------------------------------
def problems(budget, tokens, steps, rate):
    return budget / (tokens + steps * 7 * rate / (1 - rate))


def test_equal_tokens_checker_accepts_the_reference():
    C.equal_token_problems(problems)


@pytest.mark.parametrize("wrong,message", [
    (lambda b, t, s, r: b / t, "fewer problems"),
    (lambda b, t, s, r: b / (t + s * 7 * r), "r / \\(1 - r\\)"),
    (lambda b, t, s, r: b / (t + s * 6 * r / (1 - r)), "7 tokens"),
    (lambda b, t, s, r: b / (t + s * 5 * r / (1 - r)), "not 5"),
    (lambda b, t, s, r: b / (t + 7 * r / (1 - r)), "before every solution step"),
])
def test_equal_tokens_checker_names_the_mistake(wrong, message):
    with pytest.raises(AssertionError, match=message):
        C.equal_token_problems(wrong)


def test_stub_fails_with_a_reminder():
    def stub(*args):
        raise NotImplementedError

    from plmkit.checks import ExerciseNotDone
    for name in CHECKERS:
        with pytest.raises(ExerciseNotDone):
            getattr(C, name)(stub)
