"""Attribute pools of the synthetic biographies (bioS) and the smaller pools of the ``ci``/``cpu`` profiles.

The pool files live in ``data/bios/`` (plain UTF-8, one entry per line, ``#`` comment lines). Their line
order defines the entry ids and therefore the seeded draws, so the files are never re-sorted.

Sizes follow [3.1 App. A.1]: 400 first x 400 middle x 1000 last names, 200 birth cities,
300 universities, 100 majors, 263 companies (36 of them in New York, NY), birth years 1900-2099, 12 months,
days 1-28. The small profiles use the first k lines of each file (kit choice); the companies file interleaves
its New York lines so that every prefix keeps about the 13.7% New York share.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache

from plmkit.paths import data_path
from plmkit.tokenizer import split_words

# The six attributes in the fixed sentence order of a bioS entry [3.1 eq. 2.1, App. A.1].
ATTRIBUTES = ("birth_date", "birth_city", "university", "major", "company", "company_city")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
DAYS_PER_MONTH = 28  # every month has days 1..28, so any (month, day) pair is valid in any year
FORBIDDEN_CHARS = ".;?:"  # they delimit answers and fields

# Pool sizes per profile (kit choice). "years" is an inclusive range; all other numbers are file prefixes.
PROFILE_POOL_SIZES: dict[str, dict] = {
    "ci": dict(first=10, middle=10, last=20, cities=10, universities=10, majors=8, companies=8, years=(1990, 2009)),
    "cpu": dict(first=100, middle=100, last=200, cities=60, universities=60, majors=30, companies=40,
                years=(1950, 2049)),
    "gpu": dict(first=400, middle=400, last=1000, cities=200, universities=300, majors=100, companies=263,
                years=(1900, 2099)),
}
PROFILES = tuple(PROFILE_POOL_SIZES)
PRONOUN_CHOICES = ("he", "she", "they")


def read_pool_lines(*parts: str) -> list[str]:
    """Entries of a shipped pool file, in file order, without comment and blank lines."""
    text = data_path("bios", *parts).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _split_pair(line: str, what: str) -> tuple[str, str]:
    left, sep, right = line.partition("; ")
    if not sep or not left or not right:
        raise ValueError(f"{what}: expected 'name; value', got {line!r}")
    return left, right


def format_birth_date(year: int, month: int, day: int) -> str:
    """The canonical rendered birth date, e.g. ``October 2, 1996``."""
    return f"{MONTHS[month - 1]} {day}, {year}"


@dataclass(frozen=True)
class PoolSet:
    """All attribute pools of one profile. Tuples in file order; ``luckiness`` and ``company_cities``
    are aligned with ``majors`` and ``companies``."""

    profile: str
    first_names: tuple[str, ...]
    middle_names: tuple[str, ...]
    last_names: tuple[str, ...]
    years: tuple[int, ...]
    cities: tuple[str, ...]
    universities: tuple[str, ...]
    majors: tuple[str, ...]
    luckiness: tuple[int, ...]
    companies: tuple[str, ...]
    company_cities: tuple[str, ...]
    _luck_by_major: dict = field(init=False, repr=False, compare=False)
    _city_by_company: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_luck_by_major", dict(zip(self.majors, self.luckiness)))
        object.__setattr__(self, "_city_by_company", dict(zip(self.companies, self.company_cities)))

    # --- sizes ---------------------------------------------------------------------------------
    @property
    def name_space_size(self) -> int:
        """N0: the number of distinct full names."""
        return len(self.first_names) * len(self.middle_names) * len(self.last_names)

    @property
    def birth_date_count(self) -> int:
        return len(self.years) * len(MONTHS) * DAYS_PER_MONTH

    def size(self, attribute: str) -> int:
        """Number of possible values of an attribute (company city: distinct headquarters cities)."""
        sizes = {
            "birth_date": self.birth_date_count,
            "birth_city": len(self.cities),
            "university": len(self.universities),
            "major": len(self.majors),
            "company": len(self.companies),
            "company_city": len(set(self.company_cities)),
        }
        if attribute not in sizes:
            raise ValueError(f"unknown attribute {attribute!r}; valid: {', '.join(ATTRIBUTES)}")
        return sizes[attribute]

    def sizes(self) -> dict[str, int]:
        out = {"first": len(self.first_names), "middle": len(self.middle_names), "last": len(self.last_names),
               "years": len(self.years)}
        out.update({a: self.size(a) for a in ATTRIBUTES})
        return out

    # --- lookups -------------------------------------------------------------------------------
    def values(self, attribute: str) -> tuple[str, ...]:
        """All rendered values of an attribute (birth dates enumerated in year, month, day order)."""
        if attribute == "birth_date":
            return tuple(format_birth_date(y, m, d) for y in self.years for m in range(1, 13)
                         for d in range(1, DAYS_PER_MONTH + 1))
        table = {"birth_city": self.cities, "university": self.universities, "major": self.majors,
                 "company": self.companies, "company_city": tuple(dict.fromkeys(self.company_cities))}
        if attribute not in table:
            raise ValueError(f"unknown attribute {attribute!r}; valid: {', '.join(ATTRIBUTES)}")
        return table[attribute]

    def luckiness_of(self, major: str) -> int:
        return self._luck_by_major[major]

    def headquarters_of(self, company: str) -> str:
        return self._city_by_company[company]

    def information_bits(self, n_pronouns: int = 2) -> dict[str, float]:
        """Bits per attribute (log2 of the pool size) for these pools; see :func:`information_bits`."""
        return information_bits(self, n_pronouns)

    def describe(self) -> str:
        s = self.sizes()
        return (f"pools '{self.profile}': names {s['first']}x{s['middle']}x{s['last']} (N0={self.name_space_size:,}), "
                f"years {self.years[0]}-{self.years[-1]}, cities {s['birth_city']}, universities {s['university']}, "
                f"majors {s['major']}, companies {s['company']} ({s['company_city']} HQ cities)")


def information_bits(pools: PoolSet, n_pronouns: int = 2) -> dict[str, float]:
    """Information content per person, recomputed for the given pools [3.1 App. A.1; 3.3 §2.2].

    Keys: one per attribute (company city carries 0 bits: the employer determines it), ``gender``
    (log2 of the number of pronouns), ``name`` (log2 N0, the bits *available* in the name space),
    and ``log2_S0`` = the sum over birth date, birth city, university, major, company and gender, the
    per-person value bits of Part 3.3 Def. 4.3 (47.59 for the full pools and two pronouns).
    """
    if n_pronouns < 1:
        raise ValueError(f"n_pronouns must be >= 1, got {n_pronouns}")
    bits = {a: math.log2(pools.size(a)) for a in ATTRIBUTES if a != "company_city"}
    bits["company_city"] = 0.0
    bits["gender"] = math.log2(n_pronouns)
    bits["log2_S0"] = sum(bits[a] for a in ATTRIBUTES) + bits["gender"]
    bits["name"] = math.log2(pools.name_space_size)
    return bits


def company_city_baseline(pools: PoolSet) -> tuple[str, float]:
    """The most common headquarters city and its share of the companies (New York, NY: 36/263 at full size)."""
    counts: dict[str, int] = {}
    for city in pools.company_cities:
        counts[city] = counts.get(city, 0) + 1
    city = max(counts, key=counts.get)  # ties go to the city met first in file order
    return city, counts[city] / len(pools.company_cities)


@lru_cache(maxsize=1)
def load_full_pools() -> PoolSet:
    """The paper-size pools read from ``data/bios/`` (checked with :func:`validate_pools`)."""
    majors, luck = zip(*(_split_pair(line, "majors.txt") for line in read_pool_lines("majors.txt")))
    companies, hq = zip(*(_split_pair(line, "companies.txt") for line in read_pool_lines("companies.txt")))
    lo, hi = PROFILE_POOL_SIZES["gpu"]["years"]
    pools = PoolSet(
        profile="gpu",
        first_names=tuple(read_pool_lines("first_names.txt")),
        middle_names=tuple(read_pool_lines("middle_names.txt")),
        last_names=tuple(read_pool_lines("last_names.txt")),
        years=tuple(range(lo, hi + 1)),
        cities=tuple(read_pool_lines("cities.txt")),
        universities=tuple(read_pool_lines("universities.txt")),
        majors=tuple(majors),
        luckiness=tuple(int(x) for x in luck),
        companies=tuple(companies),
        company_cities=tuple(hq),
    )
    validate_pools(pools)
    return pools


def subset_pools(full: PoolSet, *, first: int, middle: int, last: int, cities: int, universities: int,
                 majors: int, companies: int, years: tuple[int, int], profile: str = "custom") -> PoolSet:
    """The first k entries of every pool (kit choice for the small profiles); years is an inclusive range."""
    requested = dict(first=(first, full.first_names), middle=(middle, full.middle_names),
                     last=(last, full.last_names), cities=(cities, full.cities),
                     universities=(universities, full.universities), majors=(majors, full.majors),
                     companies=(companies, full.companies))
    for name, (k, pool) in requested.items():
        if not 1 <= k <= len(pool):
            raise ValueError(f"{name}={k} is outside 1..{len(pool)} (the full pool size)")
    lo, hi = years
    if not (full.years[0] <= lo <= hi <= full.years[-1]):
        raise ValueError(f"years={years} must lie within {full.years[0]}..{full.years[-1]}")
    return PoolSet(
        profile=profile,
        first_names=full.first_names[:first],
        middle_names=full.middle_names[:middle],
        last_names=full.last_names[:last],
        years=tuple(range(lo, hi + 1)),
        cities=full.cities[:cities],
        universities=full.universities[:universities],
        majors=full.majors[:majors],
        luckiness=full.luckiness[:majors],
        companies=full.companies[:companies],
        company_cities=full.company_cities[:companies],
    )


@lru_cache(maxsize=None)
def pools_for_profile(profile: str) -> PoolSet:
    """The pool set of a profile: ``ci``, ``cpu`` (first-k subsets) or ``gpu`` (full paper-size pools)."""
    if profile not in PROFILE_POOL_SIZES:
        raise ValueError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    full = load_full_pools()
    if profile == "gpu":
        return full
    return subset_pools(full, profile=profile, **PROFILE_POOL_SIZES[profile])


def validate_pools(pools: PoolSet) -> None:
    """Check the global pool rules (single-word, distinct, disjoint names; distinct values free of
    ``FORBIDDEN_CHARS``; cities as ``City, ST``); raise ValueError naming the first violation."""
    name_pools = {"first": pools.first_names, "middle": pools.middle_names, "last": pools.last_names}
    for label, names in name_pools.items():
        bad = [n for n in names if not re.fullmatch(r"[A-Za-z]+", n)]
        if bad:
            raise ValueError(f"{label} names must be single words of letters, got {bad[:3]}")
        if len(set(names)) != len(names):
            raise ValueError(f"{label} names contain duplicates")
    labels = list(name_pools)
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            common = set(name_pools[a]) & set(name_pools[b])
            if common:
                raise ValueError(f"{a} and {b} name pools overlap: {sorted(common)[:5]}")
    value_pools = {"cities": pools.cities, "universities": pools.universities, "majors": pools.majors,
                   "companies": pools.companies, "company cities": pools.company_cities}
    for label, values in value_pools.items():
        for value in values:
            if any(ch in value for ch in FORBIDDEN_CHARS):
                raise ValueError(f"{label} value {value!r} contains one of {FORBIDDEN_CHARS!r}")
        if label != "company cities" and len(set(values)) != len(values):
            raise ValueError(f"{label} contain duplicates")
    for city in set(pools.cities) | set(pools.company_cities):
        if not re.fullmatch(r"[^,]+, [A-Z]{2}", city):
            raise ValueError(f"city {city!r} is not of the form 'City, ST'")
    if sorted(pools.luckiness) != sorted(set(pools.luckiness)):
        raise ValueError("luckiness scores must be distinct")
    # Name words must not double as any other word, so a name token never also means a value.
    other_words = {w for values in value_pools.values() for v in values for w in split_words(v)} | set(MONTHS)
    clash = other_words & {n for names in name_pools.values() for n in names}
    if clash:
        raise ValueError(f"name pool words also occur in other pools: {sorted(clash)[:5]}")
