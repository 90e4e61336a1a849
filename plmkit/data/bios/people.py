"""The people of a synthetic biography dataset: seeded, uniform, independent attributes [3.1 App. A.1].

Every attribute is drawn uniformly and independently from its pool, except the company city, which is the
employer's headquarters. Full names are unique: a (first, middle, last) draw whose full name is already
taken is rejected and redrawn. The pronoun is drawn uniformly from ``pronouns`` independently of the first
name (the kit's reading of Part 3.3's one gender bit [3.3 §2.2]).

Draws are vectorised (one numpy call per attribute for all people), so 100K people take well under a
second; the draw order is fixed and documented in :func:`sample_people`, so the same seed always gives the
same people.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Iterable, Sequence

import numpy as np

from plmkit.data.bios.pools import ATTRIBUTES, DAYS_PER_MONTH, MONTHS, PRONOUN_CHOICES, PoolSet, format_birth_date


@dataclass(frozen=True, slots=True)
class Person:
    """One person. ``pid`` is unique within a dataset; ``birth_month`` is 1..12 (January = 1)."""

    pid: int
    first: str
    middle: str
    last: str
    pronoun: str  # "he", "she" or "they"
    birth_year: int
    birth_month: int
    birth_day: int
    birth_city: str
    university: str
    major: str
    major_luckiness: int
    company: str
    company_city: str

    @property
    def full_name(self) -> str:
        return f"{self.first} {self.middle} {self.last}"

    @property
    def birth_date(self) -> str:
        return format_birth_date(self.birth_year, self.birth_month, self.birth_day)

    @property
    def month_name(self) -> str:
        return MONTHS[self.birth_month - 1]

    def value(self, attribute: str) -> str:
        """The canonical rendered value of one of the six attributes (the QA answer)."""
        if attribute == "birth_date":
            return self.birth_date
        if attribute not in ATTRIBUTES:
            raise ValueError(f"unknown attribute {attribute!r}; valid: {', '.join(ATTRIBUTES)}")
        return getattr(self, attribute)

    def values(self) -> dict[str, str]:
        """All six canonical values, in the fixed attribute order."""
        return {a: self.value(a) for a in ATTRIBUTES}

    def to_dict(self) -> dict:
        # The same dict as dataclasses.asdict (every field is a str or an int), without asdict's
        # per-field deep copies, which are noticeable when writing many people as JSON.
        return {name: getattr(self, name) for name in _PERSON_FIELDS}

    @classmethod
    def from_dict(cls, d: dict) -> "Person":
        return cls(**d)


_PERSON_FIELDS = tuple(f.name for f in fields(Person))


def _as_rng(seed: int | np.random.Generator) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _name_key(first: np.ndarray, middle: np.ndarray, last: np.ndarray, n_middle: int, n_last: int) -> np.ndarray:
    return (first.astype(np.int64) * n_middle + middle) * n_last + last


def _draw_unique_names(rng: np.random.Generator, n: int, pools: PoolSet, taken: set[int]) -> np.ndarray:
    """Index triples (n, 3) with pairwise distinct full names, none in ``taken`` (rejection sampling)."""
    sizes = (len(pools.first_names), len(pools.middle_names), len(pools.last_names))
    idx = np.stack([rng.integers(0, s, size=n) for s in sizes], axis=1)
    taken_arr = np.fromiter(taken, dtype=np.int64, count=len(taken))
    while True:
        keys = _name_key(idx[:, 0], idx[:, 1], idx[:, 2], sizes[1], sizes[2])
        first_seen = np.zeros(n, dtype=bool)
        first_seen[np.unique(keys, return_index=True)[1]] = True
        bad = ~first_seen | np.isin(keys, taken_arr)
        n_bad = int(bad.sum())
        if n_bad == 0:
            return idx
        # Redraw only the rejected rows, in row order, so the result depends on the seed alone.
        idx[bad] = np.stack([rng.integers(0, s, size=n_bad) for s in sizes], axis=1)


def sample_people(n: int, pools: PoolSet, seed: int | np.random.Generator = 0, *,
                  pronouns: Sequence[str] = ("he", "she"), first_id: int = 0,
                  exclude_names: Iterable[str] = ()) -> list[Person]:
    """Draw ``n`` people with unique full names.

    Draw order (fixed, so a seed reproduces the people bit for bit): name indices (first, middle, last;
    rejected rows redrawn), then pronoun, birth year, month, day, birth city, university, major, company.
    Ids run from ``first_id``. ``exclude_names`` are full names that must not be drawn (another group's).
    """
    pronouns = tuple(pronouns)
    bad = [p for p in pronouns if p not in PRONOUN_CHOICES]
    if not pronouns or bad or len(set(pronouns)) != len(pronouns):
        raise ValueError(f"pronouns must be distinct values from {PRONOUN_CHOICES}, got {pronouns}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    exclude = set(exclude_names)
    if n + len(exclude) > pools.name_space_size:
        raise ValueError(f"cannot draw {n} unique names: the name space of pools '{pools.profile}' has only "
                         f"{pools.name_space_size:,} full names ({len(exclude)} excluded)")
    rng = _as_rng(seed)
    first_ix = {name: i for i, name in enumerate(pools.first_names)}
    middle_ix = {name: i for i, name in enumerate(pools.middle_names)}
    last_ix = {name: i for i, name in enumerate(pools.last_names)}
    taken = set()
    for full in exclude:
        f, m, l = full.split(" ")
        if f in first_ix and m in middle_ix and l in last_ix:
            taken.add(int(_name_key(np.array([first_ix[f]]), np.array([middle_ix[m]]), np.array([last_ix[l]]),
                                    len(pools.middle_names), len(pools.last_names))[0]))
    names = _draw_unique_names(rng, n, pools, taken)
    pronoun_ix = rng.integers(0, len(pronouns), size=n)
    year = rng.integers(0, len(pools.years), size=n)
    month = rng.integers(1, 13, size=n)
    day = rng.integers(1, DAYS_PER_MONTH + 1, size=n)
    city = rng.integers(0, len(pools.cities), size=n)
    university = rng.integers(0, len(pools.universities), size=n)
    major = rng.integers(0, len(pools.majors), size=n)
    company = rng.integers(0, len(pools.companies), size=n)
    return [
        Person(
            pid=first_id + i,
            first=pools.first_names[names[i, 0]],
            middle=pools.middle_names[names[i, 1]],
            last=pools.last_names[names[i, 2]],
            pronoun=pronouns[pronoun_ix[i]],
            birth_year=pools.years[year[i]],
            birth_month=int(month[i]),
            birth_day=int(day[i]),
            birth_city=pools.cities[city[i]],
            university=pools.universities[university[i]],
            major=pools.majors[major[i]],
            major_luckiness=pools.luckiness[major[i]],
            company=pools.companies[company[i]],
            company_city=pools.company_cities[company[i]],  # determined by the employer, never drawn
        )
        for i in range(n)
    ]


def sample_groups(sizes: Sequence[int], pools: PoolSet, seed: int | np.random.Generator = 0, *,
                  pronouns: Sequence[str] = ("he", "she")) -> list[list[Person]]:
    """Disjoint groups of people (e.g. minority and celebrities, or the forward and reversed groups of
    Part 3.2): drawn as one population, so full names and ids are unique across groups, then cut in order."""
    people = sample_people(sum(sizes), pools, seed, pronouns=pronouns)
    groups, start = [], 0
    for size in sizes:
        groups.append(people[start:start + size])
        start += size
    return groups


def people_by_id(people: Iterable[Person]) -> dict[int, Person]:
    """Index people by id; duplicate ids are an error."""
    table: dict[int, Person] = {}
    for person in people:
        if person.pid in table:
            raise ValueError(f"duplicate person id {person.pid}")
        table[person.pid] = person
    return table
