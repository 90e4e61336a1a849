"""The full-solution checker: accepts every generated solution, rejects broken ones, never raises [P2.1 §3]."""
import numpy as np
import pytest

from plmkit.data import igsm
from plmkit.data.igsm.rand import Draws
from plmkit.data.igsm.vocab import LETTERS, NUMBERS

# A hand-made nano problem (compact style). Values: ME's Lab = 3, Daypack = 2 + 3 = 5, Satchel = 5 + 3 = 8,
# Lab's Backpack = 5 + 8 = 13, ME's Backpack = 3 * 13 = 39 = 16 (mod 23).
PROBLEM = ("Maple Elementary's Chemistry Lab = 3. Chemistry Lab's Canvas Daypack = 2 + Maple Elementary's Chemistry Lab. "
           "Chemistry Lab's Leather Satchel = sum Chemistry Lab's Canvas Daypack, Maple Elementary's Chemistry Lab.")
QUESTION = "? Maple Elementary's Backpack"
S1 = "Define Maple Elementary's Chemistry Lab as a; so a = 3."
S2 = "Define Chemistry Lab's Canvas Daypack as b; so b = 2 + a = 2 + 3 = 5."
S3 = "Define Chemistry Lab's Leather Satchel as c; so c = b + a = 5 + 3 = 8."
S4 = "Define Chemistry Lab's Backpack as d; so d = b + c = 5 + 8 = 13."
S5 = "Define Maple Elementary's Backpack as e; so e = a * d = 3 * 13 = 16."
GOOD = " ".join([S1, S2, S3, S4, S5]) + " <ans> 16"


@pytest.fixture(scope="module")
def nano():
    return igsm.load_world("nano")


@pytest.fixture(scope="module")
def hand(nano):
    return igsm.parse_problem(nano, PROBLEM, QUESTION)


def check(problem, text):
    return igsm.check_solution(problem, text)


def test_hand_problem_facts(hand):
    assert hand.answer == 16 and hand.op == 5 and hand.ip == 3
    assert [hand.name(p) for p in hand.order] == ["Maple Elementary's Chemistry Lab", "Chemistry Lab's Canvas Daypack",
                                                  "Chemistry Lab's Leather Satchel", "Chemistry Lab's Backpack",
                                                  "Maple Elementary's Backpack"]


def test_correct_solution_and_equivalent_forms(hand):
    r = check(hand, GOOD)
    assert r.correct and r.reason is None and r.answer_correct and r.retries == 0 and r.unnecessary == []
    # another valid order, other letters, swapped operands, an intermediate letter
    alt = " ".join([S1, S2, S3.replace("b + a = 5 + 3", "a + b = 3 + 5"),
                    "Define Chemistry Lab's Backpack as Z; so Z = c + b = 8 + 5 = 13.",
                    "Define Maple Elementary's Backpack as q; so q = a * Z = 3 * 13 = 16."]) + " <ans> 16"
    assert check(hand, alt).correct
    unnecessary = " ".join([S1, "Define Maple Elementary's Classroom as x; so x = a = 3.", S2, S3, S4, S5]) + " <ans> 16"
    r = check(hand, unnecessary)
    assert r.correct and r.unnecessary == ["Maple Elementary's Classroom"] and r.unnecessary_ops == 1
    retried = "Define Maple Elementary's Backpack as [BACK]. " + GOOD
    r = check(hand, retried)
    assert r.correct and r.retries == 1
    assert check(hand, "<bos> junk <sol> " + GOOD + " <eos> more junk").correct


@pytest.mark.parametrize("text, reason, index", [
    (" ".join([S2, S1, S3, S4, S5]) + " <ans> 16", "not_ready", 0),
    (GOOD.replace("so a = 3", "so a = 4"), "wrong_value", 0),
    (GOOD.replace("2 + 3 = 5", "2 + 3 = 6"), "arithmetic", 1),
    (GOOD.replace("2 + 3 = 5", "2 + 4 = 6"), "arithmetic", 1),
    (GOOD.replace("so c = b + a = 5 + 3 = 8", "so c = b + b = 5 + 5 = 10"), "wrong_deps", 2),
    (GOOD.replace("so d = b + c", "so d = b + z"), "undefined_letter", 3),
    (GOOD.replace("as d; so d", "as a; so a"), "redefined", 3),
    (GOOD.replace(S4, S4 + " " + S4.replace(" d", " D")), "redefined", 4),
    (GOOD.replace("Chemistry Lab's Backpack", "Chemistry Lab's Pencil"), "unknown_param", 3),
    (GOOD.replace("Define Chemistry Lab's Backpack", "Define Lab's Backpack"), "malformed", 3),
    (GOOD.replace("<ans> 16", "<ans> 15"), "wrong_answer", None),
    (" ".join([S1, S2, S3, S4]) + " <ans> 13", "wrong_query", None),
    (GOOD.replace(" <ans> 16", ""), "truncated", None),
    (GOOD[:-30], "truncated", None),
    ("", "no_solution", None),
    ("<ans> 16", "no_solution", None),
])
def test_reasons(hand, text, reason, index):
    r = check(hand, text)
    assert not r.correct and r.reason == reason and r.first_error_index == index
    assert r.internal_error is None


def test_first_error_names_the_parameter(hand):
    r = check(hand, " ".join([S1, S3, S2, S4, S5]) + " <ans> 16")
    assert r.reason == "not_ready" and r.first_error_name == "Chemistry Lab's Leather Satchel"
    assert r.first_error_param == hand.param_id("Chemistry Lab's Leather Satchel") and r.defined == [hand.name(hand.order[0])]
    assert r.to_dict()["first_error"] == {"index": 1, "name": "Chemistry Lab's Leather Satchel"}


def test_answer_only_correct_is_reported(hand):
    r = check(hand, " ".join([S2, S1, S3, S4, S5]) + " <ans> 16")
    assert not r.correct and r.answer_correct and r.answer == 16 and r.expected == 16


def generated(world_name, n, seed, **kw):
    world = igsm.load_world(world_name)
    draws = Draws(np.random.default_rng(seed))
    return [igsm.sample_problem(world, draws=draws, split="any", **kw) for _ in range(n)]


@pytest.mark.parametrize("world_name", ["nano", "mini", "med"])
def test_accepts_every_generated_solution(world_name):
    world = igsm.load_world(world_name)
    rng = np.random.default_rng(20)
    for p in generated(world_name, 150, 21):
        assert check(p, p.solution_text + f" <ans> {p.answer}").correct
        assert check(p, p.sequence("qp")[0]).correct  # token ids, with the prompt in front
        assert check(p, p.solution_tokens + ["<ans>", str(p.answer)]).correct
        for kind in igsm.RETRY_KINDS:
            r = igsm.retry_solution(p, rng, rate=0.3, kind=kind)
            verdict = check(p, r.tokens + ["<ans>", str(p.answer)])
            assert verdict.correct and verdict.retries == r.retries
        reasked = igsm.reask(p, rng, split="any")
        if reasked is not None:
            assert check(reasked, reasked.sequence("pq")[0]).correct
    for op in world.config.ood_ops:
        p = generated(world_name, 1, op, op=op)[0]
        assert check(p, p.sequence("pq")[0]).correct


def mutations(tokens, vocab_size, rng):
    """Random edits of a token-id list."""
    t = list(tokens)
    kind = rng.integers(9)
    n = len(t)
    if kind == 0 and n:
        return t[: rng.integers(n)]
    if kind == 1 and n:
        del t[rng.integers(n)]
    elif kind == 2 and n:
        i = rng.integers(n)
        t.insert(i, t[i])
    elif kind == 3 and n:
        t[rng.integers(n)] = int(rng.integers(vocab_size))
    elif kind == 4 and n > 1:
        i, j = rng.integers(n, size=2)
        t[i], t[j] = t[j], t[i]
    elif kind == 5:
        t = [int(x) for x in rng.integers(-5, vocab_size + 5, size=rng.integers(0, 80))]
    elif kind == 6:
        t = t + [int(rng.integers(vocab_size)) for _ in range(rng.integers(1, 20))]
    elif kind == 7 and n:
        t[rng.integers(n)] = 10 ** 30 if rng.random() < 0.5 else -1
    elif kind == 8:
        return []
    return t


def test_fuzz_never_raises(nano):
    rng = np.random.default_rng(22)
    problems = generated("nano", 25, 23) + generated("nano", 5, 24, op=5)
    vocab = nano.vocab
    letters = [vocab.id_of(x) for x in LETTERS]
    numbers = [vocab.id_of(x) for x in NUMBERS]
    count = 0
    for p in problems:
        base = list(p.sequence("pq")[0])
        for _ in range(340):
            t = mutations(base, vocab.vocab_size, rng)
            if rng.random() < 0.3:
                t = mutations(t, vocab.vocab_size, rng)
            r = check(p, t)
            assert r.internal_error is None and (r.correct or r.reason in igsm.REASONS)
            count += 1
        # structured junk: 60+ letters, numbers only, no <ans>, text with odd characters, odd objects
        for junk in ([vocab.sol] + letters[:60] + [vocab.ans], [vocab.sol] + numbers * 3, base[:-3],
                     "Define ;;; as [BACK]. so = = = . <ans>", "<sol> Define Pencil's Pen as x; so x = ' é ☃ .",
                     None, 3.5, [1.5, "x", None, {}], np.array([[1, 2], [3, 4]]), "", [], "[BACK] . . ."):
            r = check(p, junk)
            assert not r.correct and r.internal_error is None
            count += 1
    assert count >= 10_000


def test_single_token_breaking_mutations_are_rejected():
    rng = np.random.default_rng(25)
    tried = 0
    for p in generated("nano", 60, 26) + generated("med", 15, 27):
        vocab = p.world.vocab
        classes = [set(NUMBERS), set(LETTERS), vocab.item_set | vocab.category_set]
        tokens = p.solution_tokens + ["<ans>", str(p.answer)]
        for i, t in enumerate(tokens):
            for cls in classes:
                if t in cls:
                    other = sorted(cls - {t})[rng.integers(len(cls) - 1)]
                    broken = tokens[:i] + [other] + tokens[i + 1:]
                    if other in vocab.token_to_id:
                        assert not check(p, broken).correct, (p.solution_text, i, other)
                        tried += 1
    assert tried > 1000
