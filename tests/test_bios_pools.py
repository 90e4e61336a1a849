"""Pools of the synthetic biographies: sizes, rules, New York baseline, information content."""
import dataclasses
import math

import pytest

from plmkit.data.bios import pools as P
from plmkit.tokenizer import split_words


@pytest.fixture(scope="module")
def full():
    return P.load_full_pools()


def test_full_pools_have_the_paper_sizes(full):
    assert (len(full.first_names), len(full.middle_names), len(full.last_names)) == (400, 400, 1000)
    assert full.name_space_size == 160_000_000
    assert (len(full.cities), len(full.universities), len(full.majors), len(full.companies)) == (200, 300, 100, 263)
    assert full.years == tuple(range(1900, 2100))
    assert full.birth_date_count == 67_200


@pytest.mark.parametrize("profile", P.PROFILES)
def test_profile_pools_match_spec_table(profile):
    pools = P.pools_for_profile(profile)
    want = P.PROFILE_POOL_SIZES[profile]
    got = dict(first=len(pools.first_names), middle=len(pools.middle_names), last=len(pools.last_names),
               cities=len(pools.cities), universities=len(pools.universities), majors=len(pools.majors),
               companies=len(pools.companies), years=(pools.years[0], pools.years[-1]))
    assert got == want


def test_small_profiles_are_prefixes_of_the_full_files(full):
    cpu = P.pools_for_profile("cpu")
    assert cpu.first_names == full.first_names[:100]
    assert cpu.companies == full.companies[:40] and cpu.company_cities == full.company_cities[:40]
    assert cpu.luckiness == full.luckiness[:30]


def test_unknown_profile_names_the_valid_ones():
    with pytest.raises(ValueError) as err:
        P.pools_for_profile("laptop")
    assert all(name in str(err.value) for name in ("ci", "cpu", "gpu"))


def test_new_york_baseline_is_36_of_263(full):
    assert sum(c == "New York, NY" for c in full.company_cities) == 36
    city, share = P.company_city_baseline(full)
    assert city == "New York, NY" and share == pytest.approx(36 / 263)
    # Every prefix of 20+ companies keeps roughly the 13.7% New York share [3.1 App. A.1].
    for k in range(20, 264):
        ny = sum(c == "New York, NY" for c in full.company_cities[:k])
        assert 0.10 <= ny / k <= 0.18, k


def test_pool_rules_hold(full):
    P.validate_pools(full)  # raises on a violation
    for value in full.cities + full.universities + full.majors + full.companies + full.company_cities:
        assert not set(value) & set(".;?:"), value
    assert len(set(full.cities)) == 200 and len(set(full.universities)) == 300


def test_validate_pools_catches_overlapping_names(full):
    broken = dataclasses.replace(full, middle_names=(full.first_names[0],) + full.middle_names[1:])
    with pytest.raises(ValueError, match="overlap"):
        P.validate_pools(broken)


def test_validate_pools_catches_forbidden_characters(full):
    broken = dataclasses.replace(full, cities=("St. Louis, MO",) + full.cities[1:])
    with pytest.raises(ValueError):
        P.validate_pools(broken)


def test_name_words_are_single_tokens_and_disjoint(full):
    names = full.first_names + full.middle_names + full.last_names
    assert len(set(names)) == 1800
    assert all(split_words(n) == [n] for n in names)


def test_universities_share_prefixes_on_purpose(full):
    assert sum(u.startswith("University of California, ") for u in full.universities) >= 5
    assert sum(u.split()[0] == "University" for u in full.universities) > 50


def test_luckiness_is_a_permutation_with_the_paper_examples(full):
    assert sorted(full.luckiness) == list(range(100))
    assert full.luckiness_of("Computer Science") == 0
    assert full.luckiness_of("Communications") == 28
    assert full.luckiness_of("Music") == 99


def test_information_bits_full_pools(full):
    bits = P.information_bits(full)
    assert round(bits["log2_S0"], 4) == 47.5916
    assert bits["log2_S0"] == pytest.approx(math.log2(2 * 67_200 * 200 * 300 * 100 * 263))
    assert bits["name"] == pytest.approx(math.log2(1.6e8))
    assert bits["company_city"] == 0.0 and bits["birth_date"] == pytest.approx(16.036, abs=1e-3)
    assert P.information_bits(full, n_pronouns=3)["gender"] == pytest.approx(math.log2(3))


def test_information_bits_are_recomputed_for_subsets():
    ci = P.pools_for_profile("ci")
    bits = ci.information_bits()
    assert bits["name"] == pytest.approx(math.log2(10 * 10 * 20))
    assert bits["log2_S0"] == pytest.approx(math.log2(2 * (20 * 12 * 28) * 10 * 10 * 8 * 8))
    assert bits["log2_S0"] < 47


def test_subset_pools_rejects_sizes_beyond_the_files(full):
    sizes = dict(P.PROFILE_POOL_SIZES["ci"], majors=101)
    with pytest.raises(ValueError, match="majors"):
        P.subset_pools(full, **sizes)


def test_birth_date_format():
    assert P.format_birth_date(1996, 10, 2) == "October 2, 1996"
