"""Part 3.2 tasks: labels, formats, hints, pairs, baselines, inverse search design."""
import itertools
from collections import Counter

import pytest

from plmkit.data.bios import (
    DEFAULT_TASKS, Person, answer_distribution, chance_baseline, get_task, hint_predicted_accuracy,
    inverse_search_design, majority_baseline, pair_examples, person_examples, pools_for_profile, sample_people,
    tasks_of_kind,
)

ANYA = Person(pid=0, first="Anya", middle="Briar", last="Forger", pronoun="she", birth_year=1996, birth_month=10,
              birth_day=2, birth_city="Princeton, NJ", university="Massachusetts Institute of Technology",
              major="Communications", major_luckiness=28, company="Meta Platforms", company_city="Menlo Park, CA")
SABRINA = Person(pid=1, first="Sabrina", middle="Eugeo", last="Zuberg", pronoun="she", birth_year=1990,
                 birth_month=9, birth_day=17, birth_city="Boston, MA", university="Yale University", major="Music",
                 major_luckiness=99, company="Apple", company_city="Cupertino, CA")


def one(task, people, mode=None):
    return get_task(task).example(people, mode)


@pytest.mark.parametrize("task,answer", [
    ("month_mod2", "Yes"), ("month_mod6", "4"), ("month_mod12", "10"), ("month_mod5", "0"),
    ("major_mod5", "3"), ("major_mod20", "8"), ("major_mod100", "28"), ("birth_day", "2"), ("birth_year", "1996"),
])
def test_single_person_labels(task, answer):
    mode = "direct" if get_task(task).hint else None
    assert one(task, [ANYA], mode).answer == answer


@pytest.mark.parametrize("task,answer", [
    ("month_rank", "Yes"), ("month_sub", "1"), ("major_rank", "No"), ("major_sub", "-71"),
    ("day_rank", "No"), ("day_sub", "-15"),
])
def test_pair_labels(task, answer):
    assert one(task, [ANYA, SABRINA], "direct").answer == answer


def test_formats_match_the_spec_examples():
    assert one("month_mod6", [ANYA], "direct").text == "What is Anya Briar Forger 's birth month mod 6? <direct> Answer: 4."
    assert one("major_mod20", [ANYA], "hint").text == (
        "What is the luckiness of Anya Briar Forger 's major modulo 20? <hint> Answer: Communications. 8.")
    assert one("month_rank", [ANYA, SABRINA], "hint").text == (
        "Was Anya Briar Forger born in a month in a year later than Sabrina Eugeo Zuberg? <hint> Answer: "
        "October; September. Yes.")
    assert one("major_sub", [ANYA, SABRINA], "hint").completion == " Communications; Music. -71."
    assert one("dual_birth_city_company", [ANYA]).text == (
        "Where was Anya Briar Forger born and which company did this this person work for? "
        "Answer: Princeton, NJ; Meta Platforms.")
    assert one("dual_company_city_company", [ANYA]).answer == "Menlo Park, CA; Meta Platforms"


def test_inverse_search_questions_and_answers():
    qa = one("all_to_full", [ANYA])
    assert qa.question == ("Give me the full name of the person who studied Communications at Massachusetts Institute "
                           "of Technology, was born on October 2, 1996 in Princeton, NJ, and worked for Meta Platforms "
                           "at Menlo Park, CA?")
    assert qa.answer == "Anya Briar Forger"
    assert one("bdate_to_first", [ANYA]).text == "Give me the first name of the person born on October 2, 1996? Answer: Anya."
    assert len(tasks_of_kind("inverse")) == 10


def test_modes_only_for_classification_and_comparison():
    with pytest.raises(ValueError):
        one("all_to_first", [ANYA], "hint")
    with pytest.raises(ValueError):
        one("month_mod2", [ANYA])  # needs a mode
    with pytest.raises(ValueError):
        person_examples("birth_year", [ANYA], hint_prob=0.5)


def test_unknown_task_lists_valid_ones():
    with pytest.raises(ValueError) as err:
        get_task("month_parity")
    assert "month_mod2" in str(err.value) and "all_to_full" in str(err.value)


def test_every_default_task_builds():
    people = sample_people(4, pools_for_profile("ci"), seed=0)
    for name in DEFAULT_TASKS:
        task = get_task(name)
        mode = "hint" if task.hint else None
        qa = task.example(people[:task.arity], mode)
        assert qa.text.endswith(".") and "Answer:" in qa.prompt


def test_hint_probability_mixes_modes():
    people = sample_people(2000, pools_for_profile("cpu"), seed=1)
    mixed = Counter(qa.mode for qa in person_examples("month_mod2", people, seed=2, hint_prob=0.5))
    assert abs(mixed["hint"] - 1000) < 100 and mixed["hint"] + mixed["direct"] == 2000
    assert {qa.mode for qa in person_examples("month_mod2", people, seed=2)} == {"direct"}
    assert {qa.mode for qa in person_examples("month_mod2", people, mode="hint")} == {"hint"}


def test_pairs_are_distinct_within_group_and_without_ties():
    people = sample_people(40, pools_for_profile("cpu"), seed=3)
    ids = {p.pid for p in people}
    by_id = {p.pid: p for p in people}
    examples = pair_examples("month_rank", people, 300, seed=4, mode="direct")
    assert len({qa.person_ids for qa in examples}) == 300
    for qa in examples:
        a, b = qa.person_ids
        assert a != b and {a, b} <= ids
        assert by_id[a].birth_month != by_id[b].birth_month
    answers = Counter(qa.answer for qa in examples)
    assert 0.35 < answers["Yes"] / 300 < 0.65
    with_ties = pair_examples("month_rank", people, 1000, seed=4, mode="direct", exclude_ties=False)
    assert any(by_id[a].birth_month == by_id[b].birth_month for a, b in (qa.person_ids for qa in with_ties))
    assert pair_examples("month_rank", people, 300, seed=4, mode="direct") == examples


def test_too_many_pairs_is_an_error():
    people = sample_people(5, pools_for_profile("cpu"), seed=5)
    with pytest.raises(ValueError, match="valid pairs"):
        pair_examples("month_sub", people, 21, mode="direct")


def test_chance_baselines_match_the_spec():
    full = pools_for_profile("gpu")
    assert chance_baseline("month_mod2", full) == 0.5
    assert chance_baseline("month_mod6", full) == pytest.approx(1 / 6)
    assert chance_baseline("month_mod12", full) == pytest.approx(1 / 12)
    assert chance_baseline("major_mod20", full) == pytest.approx(1 / 20)
    assert chance_baseline("month_rank", full) == 0.5
    assert chance_baseline("month_sub", full) == pytest.approx(1 / 12)  # the share of difference 0
    assert chance_baseline("all_to_first", full) == pytest.approx(1 / 400)
    assert chance_baseline("all_to_full", full, n_candidates=5000) == pytest.approx(1 / 5000)


def test_majority_baseline_by_brute_force():
    cpu = pools_for_profile("cpu")
    for task in ("major_mod5", "major_mod20", "major_sub", "major_rank"):
        t = get_task(task)
        if t.arity == 1:
            counts = Counter(t.label(v) for v in cpu.luckiness)
            total = len(cpu.luckiness)
        else:
            pairs = [(x, y) for x, y in itertools.product(cpu.luckiness, repeat=2) if t.answer_space is None or x != y]
            counts = Counter(t.label(x, y) for x, y in pairs)
            total = len(pairs)
        assert majority_baseline(task, cpu) == pytest.approx(max(counts.values()) / total)
    assert sum(answer_distribution("month_sub", cpu).values()) == pytest.approx(1.0)


def test_fn15_predictions():
    assert hint_predicted_accuracy(0.91, 0.5) == pytest.approx(0.955)
    assert hint_predicted_accuracy(0.781, 0.083, pair=True) == pytest.approx(0.6423, abs=5e-5)


def test_inverse_search_design_groups():
    design = inverse_search_design(40, 30, pools_for_profile("cpu"), seed=6)
    f_ids, r_ids = {p.pid for p in design.forward}, {p.pid for p in design.reverse}
    assert not f_ids & r_ids and len(f_ids) == 40 and len(r_ids) == 30
    assert set(design.forward_split.train) | set(design.forward_split.test) == f_ids
    assert set(design.reverse_split.train) | set(design.reverse_split.test) == r_ids
    assert design.reverse_augmentation == "multi5+permute+reverse6"
