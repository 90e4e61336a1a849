"""Retry, retry_weak and retry_miss data [P2.2 §4, §6]."""
import numpy as np
import pytest

from plmkit.data import igsm
from plmkit.data.igsm.rand import Draws


def problems(world_name, n, seed, **kw):
    world = igsm.load_world(world_name)
    draws = Draws(np.random.default_rng(seed))
    return [igsm.sample_problem(world, draws=draws, split="any", **kw) for _ in range(n)]


@pytest.fixture(scope="module")
def med_problems():
    return problems("med", 60, 0, op=10)


def test_retry_mistakes_are_never_computable(med_problems):
    rng = np.random.default_rng(1)
    total = 0
    for p in med_problems:
        r = igsm.retry_solution(p, rng, rate=0.5, kind="retry")
        for j, w in r.inserted:
            known = set(p.order[:j])
            assert w not in known and not all(q in known for q in p.preds_of(w))
        total += r.retries
        per_step = {}
        for j, w in r.inserted:
            assert w not in per_step.setdefault(j, set())  # never the same W twice at one place
            per_step[j].add(w)
    assert total > 0


def test_removing_retries_gives_the_error_free_solution(med_problems):
    rng = np.random.default_rng(2)
    for p in med_problems:
        for kind in igsm.RETRY_KINDS:
            r = igsm.retry_solution(p, rng, rate=0.4, kind=kind)
            assert igsm.strip_retries(r.tokens) == p.solution_tokens
            assert r.tokens.count("[BACK]") == r.retries


def test_retry_weak_variants(med_problems):
    rng = np.random.default_rng(3)
    took_next = 0
    for p in med_problems:
        later = igsm.retry_solution(p, rng, rate=0.5, kind="retry_weak")
        assert all(w in p.order[j + 1:] for j, w in later.inserted)  # strictly later steps (default)
        remaining = igsm.retry_solution(p, rng, rate=0.5, kind="retry_weak", weak_variant="remaining")
        assert all(w in p.order[j:] for j, w in remaining.inserted)
        took_next += sum(w == p.order[j] for j, w in remaining.inserted)
    assert took_next > 0  # "remaining" may retract the correct next step itself
    with pytest.raises(ValueError, match="later, remaining"):
        igsm.retry_solution(med_problems[0], rng, kind="retry_weak", weak_variant="sooner")


def test_retry_miss_draws_named_parameters(med_problems):
    rng = np.random.default_rng(4)
    for p in med_problems[:20]:
        named = set(igsm.retry.named_params(p))
        r = igsm.retry_solution(p, rng, rate=0.5, kind="retry_miss")
        assert all(w in named and w not in p.order[:j] for j, w in r.inserted)


def test_rate_law(med_problems):
    rng = np.random.default_rng(5)
    steps = inserted = 0
    for _ in range(3):
        for p in med_problems:
            r = igsm.retry_solution(p, rng, rate=0.2, kind="retry_weak", weak_variant="remaining")
            steps += len(p.order)
            inserted += r.retries
    # r / (1 - r) = 0.25 per step when candidates never run out; fewer near the end of a solution
    assert 0.12 < inserted / steps < 0.3
    assert igsm.retry_solution(med_problems[0], rng, rate=0.0).tokens == med_problems[0].solution_tokens


def test_label_mask_hides_only_the_wrong_names(med_problems):
    rng = np.random.default_rng(6)
    p = next(p for p in med_problems if igsm.retry_solution(p, np.random.default_rng(7), rate=0.5).retries)
    r = igsm.retry_solution(p, np.random.default_rng(7), rate=0.5, mask_wrong=True)
    assert r.retries and len(r.wrong_positions) == 3 * r.retries
    for i in r.wrong_positions:
        assert r.tokens[i - 1] in ("Define", "'s") or r.tokens[i] == "'s"
    ids, w = p.sequence("pq", solution=r)
    tokens = p.world.vocab.tokens(ids)
    sol = tokens.index("<sol>")
    hidden = {sol + 1 + i for i in r.wrong_positions}
    assert all(w[i] == 0 for i in hidden)
    assert all(w[i] == 1 for i in range(sol + 1, len(ids)) if i not in hidden)
    assert all(tokens[i] not in ("Define", "as", "[BACK]", ".") for i in hidden)
    unmasked = igsm.retry_solution(p, np.random.default_rng(7), rate=0.5)
    assert unmasked.mask is None and p.sequence("pq", solution=unmasked)[1][sol + 1:].min() == 1
    del rng


def test_retry_is_deterministic_and_checked(med_problems):
    p = med_problems[3]
    a = igsm.retry_solution(p, np.random.default_rng(8), rate=0.3)
    b = igsm.retry_solution(p, np.random.default_rng(8), rate=0.3)
    assert a.tokens == b.tokens
    r = igsm.check_solution(p, a.tokens + ["<ans>", str(p.answer)])
    assert r.correct and r.retries == a.retries
