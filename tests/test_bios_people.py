"""People sampling: determinism, unique names, the employer fixes the company city, pronouns."""
from collections import Counter

import numpy as np
import pytest

from plmkit.data.bios import pools_for_profile, sample_groups, sample_people


@pytest.fixture(scope="module")
def cpu():
    return pools_for_profile("cpu")


def test_same_seed_same_people_and_other_seed_other_people(cpu):
    a = sample_people(500, cpu, seed=7)
    b = sample_people(500, cpu, seed=7)
    c = sample_people(500, cpu, seed=8)
    assert a == b
    assert [p.full_name for p in a] != [p.full_name for p in c]


def test_full_names_are_unique_even_when_the_name_space_is_exhausted():
    ci = pools_for_profile("ci")  # 10 x 10 x 20 = 2000 names
    people = sample_people(ci.name_space_size, ci, seed=1)
    assert len({p.full_name for p in people}) == 2000
    with pytest.raises(ValueError, match="unique names"):
        sample_people(ci.name_space_size + 1, ci, seed=1)


def test_company_city_is_the_employers_headquarters(cpu):
    for p in sample_people(2000, cpu, seed=2):
        assert p.company_city == cpu.headquarters_of(p.company)
        assert p.major_luckiness == cpu.luckiness_of(p.major)


def test_attributes_are_uniform(cpu):
    people = sample_people(12_000, cpu, seed=3)
    months = Counter(p.birth_month for p in people)
    assert set(months) == set(range(1, 13))
    assert max(months.values()) < 1.15 * 1000 and min(months.values()) > 0.85 * 1000
    days = Counter(p.birth_day for p in people)
    assert set(days) == set(range(1, 29))
    years = {p.birth_year for p in people}
    assert min(years) == 1950 and max(years) == 2049


def test_pronoun_is_independent_of_the_first_name(cpu):
    people = sample_people(20_000, cpu, seed=4)
    she = np.array([p.pronoun == "she" for p in people])
    assert abs(she.mean() - 0.5) < 0.02
    # The same first name carries both pronouns: no gendered name pool.
    by_name = Counter((p.first, p.pronoun) for p in people)
    both = sum(1 for name in cpu.first_names if by_name[(name, "he")] and by_name[(name, "she")])
    assert both >= 95


def test_they_option(cpu):
    people = sample_people(3000, cpu, seed=5, pronouns=("he", "she", "they"))
    assert {p.pronoun for p in people} == {"he", "she", "they"}
    with pytest.raises(ValueError):
        sample_people(3, cpu, pronouns=("he", "it"))


def test_excluded_names_are_never_drawn():
    ci = pools_for_profile("ci")
    taken = [p.full_name for p in sample_people(1500, ci, seed=6)]
    fresh = sample_people(500, ci, seed=9, exclude_names=taken)
    assert not set(taken) & {p.full_name for p in fresh}


def test_groups_are_disjoint(cpu):
    a, b = sample_groups([300, 200], cpu, seed=10)
    assert len(a) == 300 and len(b) == 200
    assert not {p.pid for p in a} & {p.pid for p in b}
    assert not {p.full_name for p in a} & {p.full_name for p in b}


def test_person_values_and_round_trip(cpu):
    p = sample_people(1, cpu, seed=11)[0]
    assert p.value("birth_date") == p.birth_date
    assert list(p.values()) == ["birth_date", "birth_city", "university", "major", "company", "company_city"]
    assert type(p).from_dict(p.to_dict()) == p
    with pytest.raises(ValueError):
        p.value("shoe_size")
