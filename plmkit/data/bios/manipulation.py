"""Part 3.2 knowledge-manipulation data: retrieval, classification, comparison, inverse search [3.2 §3-§5].

Every task turns one person (or an ordered pair of people) into a :class:`~plmkit.data.bios.qa.QAPair`.
Classification and comparison tasks have two answer modes: ``direct`` (``question <direct> Answer: A.``)
and ``hint`` (``question <hint> Answer: H. A.``, the hint H states the needed attribute values first,
i.e. a chain of thought). Retrieval and inverse-search tasks use the plain QA format
``question Answer: A.`` (a kit decision: one prompt convention for every task).

Task names:

* retrieval: ``birth_day``, ``birth_year`` and the six dual tasks ``dual_<first>_<second>``
* classification: ``month_mod2`` (even month, Yes/No), ``month_mod6``, ``month_mod12`` (month in
  numerics, 1-12), any ``month_modK``; ``major_mod5``, ``major_mod20``, ``major_mod100``, any ``major_modP``
  (luckiness of the major mod P)
* comparison (pairs): ``month_rank``, ``month_sub``, ``major_rank``, ``major_sub``, ``day_rank``, ``day_sub``
* inverse search: ``{bdate,birth,three,four,all}_to_{first,full}``

Baselines: :func:`chance_baseline` (the paper's "random guess"), :func:`majority_baseline`
(analytic, attributes uniform over the pools), ``qa.empirical_majority`` (on a concrete example set) and
:func:`hint_predicted_accuracy` (Part 3.2 fn 15).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

from plmkit.data.bios.people import Person, sample_groups
from plmkit.data.bios.pools import MONTHS, PoolSet
from plmkit.data.bios.qa import PersonSplit, QAPair, ensure_disjoint, majority_baselines, split_people
from plmkit.tokenizer import split_words

KINDS = ("retrieval", "classification", "comparison", "inverse")
YES, NO = "Yes", "No"


@dataclass(frozen=True)
class Task:
    """One manipulation task.

    ``question`` has ``{a}`` (and ``{b}`` for pairs) for full names, or attribute fields for inverse
    search; ``answer(p[, q])`` gives the canonical answer; ``hint(p[, q])`` the hint (None when the task
    has no hint mode). Classification and comparison tasks also carry ``key(p)``, the quantity they read
    (month, day or luckiness; rank ties are judged on it), and ``label(key values) -> answer``, so the
    answer distribution can be computed from the pools without people.
    """

    name: str
    kind: str
    arity: int
    question: str
    answer: Callable
    hint: Callable | None = None
    key: Callable | None = None
    label: Callable | None = None
    answer_space: tuple | None = None  # the uniform-guess answer space of classification tasks

    def ask(self, people: Sequence[Person]) -> str:
        if self.kind == "inverse":
            return self.question.format(**_inverse_fields(people[0]))
        names = {"a": people[0].full_name, "b": people[1].full_name if self.arity == 2 else None}
        return self.question.format(**names)

    def example(self, people: Sequence[Person], mode: str | None = None) -> QAPair:
        """The QA for one person (or an ordered pair) in the given answer mode."""
        if len(people) != self.arity:
            raise ValueError(f"task {self.name} takes {self.arity} people, got {len(people)}")
        if self.hint is None and mode is not None:
            raise ValueError(f"task {self.name} ({self.kind}) has no answer modes; use mode=None")
        if self.hint is not None and mode not in ("direct", "hint"):
            raise ValueError(f"task {self.name} needs mode 'direct' or 'hint', got {mode!r}")
        hint = self.hint(*people) if self.hint is not None else None
        return QAPair(self.name, tuple(p.pid for p in people), self.ask(people), self.answer(*people), hint, mode)


def _inverse_fields(p: Person) -> dict:
    """The values an inverse-search clue (``_INVERSE``) names."""
    return dict(date=p.birth_date, city=p.birth_city, univ=p.university, major=p.major, company=p.company,
                ccity=p.company_city)


def _yes_no(flag: bool) -> str:
    return YES if flag else NO


def _month_hint(*people: Person) -> str:
    return "; ".join(p.month_name for p in people)


def _major_hint(*people: Person) -> str:
    return "; ".join(p.major for p in people)


def _day_hint(*people: Person) -> str:
    return "; ".join(str(p.birth_day) for p in people)


_DUAL = {  # name: (question, first attribute, second attribute); questions as in [3.2 §3]
    "dual_birth_city_company": ("Where was {a} born and which company did this this person work for?",
                                "birth_city", "company"),
    "dual_company_birth_city": ("Which company did {a} work for and where was this person born?",
                                "company", "birth_city"),
    "dual_university_major": ("Which university and what major did {a} study?", "university", "major"),
    "dual_major_university": ("What major and which university did {a} study?", "major", "university"),
    "dual_company_city_company": ("Where and which company did {a} work for?", "company_city", "company"),
    "dual_company_company_city": ("Which company and where did {a} work for?", "company", "company_city"),
}
_INVERSE = {  # clue part of "Give me the [first/full] name of the person ...?"
    "bdate": "born on {date}",
    "birth": "born on {date} in {city}",
    "three": "who studied {major} at {univ} and worked for {company}",
    "four": "who studied {major} at {univ}, was born in {city}, and worked for {company}",
    "all": "who studied {major} at {univ}, was born on {date} in {city}, and worked for {company} at {ccity}",
}
DEFAULT_TASKS = (
    ("birth_day", "birth_year", *_DUAL)
    + ("month_mod2", "month_mod6", "month_mod12", "major_mod5", "major_mod20", "major_mod100")
    + ("month_rank", "month_sub", "major_rank", "major_sub", "day_rank", "day_sub")
    + tuple(f"{clue}_to_{target}" for clue in _INVERSE for target in ("first", "full"))
)


def _dual_task(name: str) -> Task:
    question, first, second = _DUAL[name]
    return Task(name, "retrieval", 1, question, lambda p: f"{p.value(first)}; {p.value(second)}")


def _month_of(p: Person) -> int:
    return p.birth_month


def _luck_of(p: Person) -> int:
    return p.major_luckiness


def _day_of(p: Person) -> int:
    return p.birth_day


def _classification_task(name: str, question: str, key: Callable, label: Callable, hint: Callable,
                         answer_space: tuple) -> Task:
    return Task(name, "classification", 1, question, lambda p: label(key(p)), hint, key, label, answer_space)


def _month_mod_task(k: int) -> Task:
    name = f"month_mod{k}"
    if k == 2:  # parity, asked as a Yes/No question [3.2 §4]
        return _classification_task(name, "Was {a} born in an even month?", _month_of,
                                    lambda v: _yes_no(v % 2 == 0), _month_hint, (YES, NO))
    if k == 12:  # "rephrase": the month in numerics, 1..12
        return _classification_task(name, "What is {a} 's birth month in numerics?", _month_of, str, _month_hint,
                                    tuple(str(m) for m in range(1, 13)))
    return _classification_task(name, f"What is {{a}} 's birth month mod {k}?", _month_of,
                                lambda v: str(v % k), _month_hint, tuple(str(r) for r in range(k)))


def _major_mod_task(p_mod: int) -> Task:
    return _classification_task(f"major_mod{p_mod}", f"What is the luckiness of {{a}} 's major modulo {p_mod}?",
                                _luck_of, lambda v: str(v % p_mod), _major_hint,
                                tuple(str(r) for r in range(p_mod)))


def _comparison_task(name: str) -> Task:
    quantity, op = name.split("_")
    key, hint = {"month": (_month_of, _month_hint), "major": (_luck_of, _major_hint), "day": (_day_of, _day_hint)}[quantity]
    questions = {
        ("month", "rank"): "Was {a} born in a month in a year later than {b}?",
        ("month", "sub"): "What is {a} 's birth month minus {b} 's birth month?",
        ("major", "rank"): "Did {a} major in a field luckier than {b}?",
        ("major", "sub"): "How luckier is {a} 's major compared with {b} 's major?",
        ("day", "rank"): "Was {a} born on a day of the month later than {b}?",
        ("day", "sub"): "What is {a} 's birth day minus {b} 's birth day?",
    }
    if op == "rank":  # "later"/"luckier" is false on a tie (ties are excluded from rank data by default)
        label, space = (lambda x, y: _yes_no(x > y)), (YES, NO)
    else:
        label, space = (lambda x, y: str(x - y)), None
    return Task(name, "comparison", 2, questions[quantity, op], lambda p, q: label(key(p), key(q)), hint, key, label,
                space)


def _inverse_task(name: str) -> Task:
    clue, target = name.split("_to_")
    question = f"Give me the {target} name of the person {_INVERSE[clue]}?"
    answer = (lambda p: p.first) if target == "first" else (lambda p: p.full_name)
    return Task(name, "inverse", 1, question, answer)


def inverse_statement(person: Person, clue: str = "all") -> str:
    """The clue of an inverse question as a statement in the reversed biographies' own words, ending where
    the name comes: ``The person studied ... at ... . The person 's name is``.

    A prompt, not a training example: it asks the *pretrained* model to continue a sentence shape it has
    seen, so it tests whether the facts -> name link was stored at all, with no fine-tuning in between.
    """
    if clue not in _INVERSE:
        raise ValueError(f"unknown clue {clue!r}; valid: {', '.join(_INVERSE)}")
    clause = _INVERSE[clue]
    clause = clause.removeprefix("who ") if clause.startswith("who ") else f"was {clause}"
    return f"The person {clause.format(**_inverse_fields(person))}. The person 's name is"


@lru_cache(maxsize=None)
def get_task(name: str) -> Task:
    """Look up a task by name; unknown names raise ValueError listing the valid ones."""
    if name == "birth_day":
        return Task(name, "retrieval", 1, "What is the birth day of {a}?", lambda p: str(p.birth_day))
    if name == "birth_year":
        return Task(name, "retrieval", 1, "What is the birth year of {a}?", lambda p: str(p.birth_year))
    if name in _DUAL:
        return _dual_task(name)
    m = re.fullmatch(r"(month|major)_mod(\d+)", name)
    if m and int(m.group(2)) >= 2:
        k = int(m.group(2))
        return _month_mod_task(k) if m.group(1) == "month" else _major_mod_task(k)
    if re.fullmatch(r"(month|major|day)_(rank|sub)", name):
        return _comparison_task(name)
    m = re.fullmatch(r"(\w+)_to_(first|full)", name)
    if m and m.group(1) in _INVERSE:
        return _inverse_task(name)
    raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(DEFAULT_TASKS)} "
                     "(and month_modK, major_modP for any K, P >= 2)")


def tasks_of_kind(kind: str) -> tuple[str, ...]:
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; valid: {', '.join(KINDS)}")
    return tuple(t for t in DEFAULT_TASKS if get_task(t).kind == kind)


# --- examples -----------------------------------------------------------------------------------------
def _modes(task: Task, n: int, rng: np.random.Generator, mode: str | None, hint_prob: float) -> list:
    if task.hint is None:
        if mode is not None or hint_prob:
            raise ValueError(f"task {task.name} ({task.kind}) has no hint mode; leave mode and hint_prob unset")
        return [None] * n
    if mode is not None:
        if mode not in ("direct", "hint"):
            raise ValueError(f"mode must be 'direct' or 'hint', got {mode!r}")
        return [mode] * n
    if not 0.0 <= hint_prob <= 1.0:
        raise ValueError(f"hint_prob must be in [0, 1], got {hint_prob}")
    return ["hint" if u < hint_prob else "direct" for u in rng.random(n)]


def person_examples(task_name: str, people: Sequence[Person], *, seed: int | np.random.Generator = 0,
                    mode: str | None = None, hint_prob: float = 0.0) -> list[QAPair]:
    """One example per person for a single-person task.

    For tasks with answer modes, ``mode`` forces ``direct`` or ``hint`` on every example (test time);
    otherwise each example is a hint example with probability ``hint_prob`` ("train with hint" = 0.5,
    "train without hint" = 0, i.e. all direct).
    """
    task = get_task(task_name)
    if task.arity != 1:
        raise ValueError(f"task {task_name} compares two people; use pair_examples")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    modes = _modes(task, len(people), rng, mode, hint_prob)
    return [task.example([p], m) for p, m in zip(people, modes)]


def count_valid_pairs(task_name: str, people: Sequence[Person], exclude_ties: bool = True) -> int:
    """Ordered pairs of distinct people available to a comparison task (ties removed for rank tasks)."""
    task = get_task(task_name)
    n = len(people)
    if not (exclude_ties and task.answer_space == (YES, NO)):
        return n * (n - 1)
    groups = Counter(task.key(p) for p in people)
    return n * (n - 1) - sum(c * (c - 1) for c in groups.values())


def pair_examples(task_name: str, people: Sequence[Person], n_pairs: int, *, seed: int | np.random.Generator = 0,
                  mode: str | None = None, hint_prob: float = 0.0, exclude_ties: bool = True) -> list[QAPair]:
    """``n_pairs`` distinct ordered pairs of distinct people, all from ``people`` (draw training pairs from
    P_train and test pairs from P_test). Rank tasks drop tied pairs unless ``exclude_ties`` is False."""
    task = get_task(task_name)
    if task.arity != 2:
        raise ValueError(f"task {task_name} is about one person; use person_examples")
    available = count_valid_pairs(task_name, people, exclude_ties)
    if n_pairs > available:
        raise ValueError(f"asked for {n_pairs} pairs but {len(people)} people give only {available} valid pairs")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    drop_ties = exclude_ties and task.answer_space == (YES, NO)
    keys = [task.key(p) for p in people]
    chosen: dict[tuple[int, int], None] = {}
    n = len(people)
    while len(chosen) < n_pairs:
        # Draw a batch of candidate pairs and keep new valid ones in draw order (seed-determined).
        size = max(64, 2 * (n_pairs - len(chosen)))
        first = rng.integers(0, n, size=size)
        second = rng.integers(0, n - 1, size=size)
        second = second + (second >= first)
        for i, j in zip(first.tolist(), second.tolist()):
            if drop_ties and keys[i] == keys[j]:
                continue
            chosen.setdefault((i, j))
            if len(chosen) == n_pairs:
                break
    modes = _modes(task, n_pairs, rng, mode, hint_prob)
    return [task.example([people[i], people[j]], m) for (i, j), m in zip(chosen, modes)]


# --- baselines ----------------------------------------------------------------------------------------------
def _quantity_values(quantity: str, pools: PoolSet) -> list[int]:
    return {"month": list(range(1, 13)), "day": list(range(1, 29)), "major": list(pools.luckiness)}[quantity]


def answer_distribution(task_name: str, pools: PoolSet) -> dict[str, float]:
    """Probability of each answer when attributes are uniform over the pools (pairs: independent people,
    ties excluded for rank tasks). Defined for partial retrieval, classification and comparison tasks."""
    task = get_task(task_name)
    if task.name == "birth_day":
        return {str(d): 1 / 28 for d in range(1, 29)}
    if task.name == "birth_year":
        return {str(y): 1 / len(pools.years) for y in pools.years}
    counts: Counter = Counter()
    if task.kind in ("classification", "comparison"):
        values = _quantity_values(task.name.split("_")[0], pools)
        if task.kind == "classification":
            counts.update(task.label(v) for v in values)
        else:
            rank = task.answer_space == (YES, NO)
            counts.update(task.label(x, y) for x in values for y in values if not (rank and x == y))
    else:
        raise ValueError(f"answer_distribution covers partial retrieval, classification and comparison tasks, "
                         f"not {task.kind} task {task_name}")
    total = sum(counts.values())
    return {answer: c / total for answer, c in counts.items()}


def majority_baseline(task_name: str, pools: PoolSet, n_candidates: int | None = None) -> float:
    """Accuracy of always giving the most likely answer, attributes uniform over the pools.

    Dual retrieval: the product of the two attributes' majorities (company city is tied to the company).
    Inverse search: first name 1/|first names|; full name 1/``n_candidates`` (a guess among the test
    people; required for ``*_to_full``).
    """
    task = get_task(task_name)
    if task.kind == "inverse":
        if task.name.endswith("_first"):
            return 1.0 / len(pools.first_names)
        if not n_candidates:
            raise ValueError(f"{task_name}: pass n_candidates (the number of people a guess is drawn from)")
        return 1.0 / n_candidates
    if task.name in _DUAL:
        _, first, second = _DUAL[task.name]
        if {first, second} == {"company", "company_city"}:
            return 1.0 / pools.size("company")
        base = majority_baselines(pools)
        return base[first] * base[second]
    return max(answer_distribution(task_name, pools).values())


def chance_baseline(task_name: str, pools: PoolSet, n_candidates: int | None = None) -> float:
    """The "random guess" of Part 3.2: uniform over the answer space for classification (1/2, 1/6, 1/12,
    1/p) and rank tasks (1/2); the most common answer for subtraction (month: 1/12, the tie share),
    retrieval and inverse search (see :func:`majority_baseline`)."""
    task = get_task(task_name)
    if task.answer_space is not None:
        return 1.0 / len(task.answer_space)
    return majority_baseline(task_name, pools, n_candidates)


def hint_predicted_accuracy(hint_accuracy: float, chance: float, pair: bool = False) -> float:
    """Accuracy expected with hints if a correct hint always gives the right answer and a wrong one a
    chance guess (Part 3.2 fn 15): ``h + (1-h) c``.

    ``pair=True`` takes ``h`` as the accuracy of *one* person's hint value and squares it (both values must be
    right, assumed independent): ``h^2 + (1-h^2) c``. An accuracy measured on the whole pair hint
    (``October; September`` exactly right) already counts "both right": pass it with ``pair=False``.
    """
    h = hint_accuracy ** 2 if pair else hint_accuracy
    return h + (1.0 - h) * chance


def answer_support(task_name: str, pools: PoolSet) -> set[str]:
    """Every answer a task can produce with these pools (used to build the vocabulary)."""
    task = get_task(task_name)
    if task.kind in ("classification", "comparison") or task.name in ("birth_day", "birth_year"):
        return set(answer_distribution(task_name, pools))
    raise ValueError(f"{task_name}: answers are pool values (names, attributes), not a closed set")


# --- Part 3.2 kit design: forward and reversed groups in one pretraining run -----------------------------
@dataclass(frozen=True)
class InverseSearchDesign:
    """Two disjoint groups pretrained together: F (forward text) and R (name after the attributes).

    F's inverse-search accuracy is a true inverse-search measurement (nothing in R's text links F's
    attributes to F's names); R shows that the fine-tuning recipe itself can learn attribute -> name.
    """

    forward: tuple
    reverse: tuple
    forward_augmentation: str
    reverse_augmentation: str
    forward_split: PersonSplit
    reverse_split: PersonSplit

    def __post_init__(self):
        ensure_disjoint([p.pid for p in self.forward], [p.pid for p in self.reverse], "forward and reversed groups")


def inverse_search_design(n_forward: int, n_reverse: int, pools: PoolSet, seed: int = 0, *,
                          forward_augmentation: str = "multi5+permute",
                          reverse_augmentation: str = "multi5+permute+reverse6",
                          pronouns: Sequence[str] = ("he", "she")) -> InverseSearchDesign:
    """Draw F and R as one population (unique names), each split 50/50 into train/test people."""
    rng = np.random.default_rng(seed)
    forward, reverse = sample_groups([n_forward, n_reverse], pools, rng, pronouns=pronouns)
    return InverseSearchDesign(tuple(forward), tuple(reverse), forward_augmentation, reverse_augmentation,
                               split_people(forward, rng), split_people(reverse, rng))


def manipulation_words() -> list[str]:
    """The fixed words of every default task's questions (names and values excluded), for the vocabulary."""
    words = {YES, NO, ";"}
    for name in DEFAULT_TASKS:
        question = re.sub(r"\{\w+\}", " ", get_task(name).question)
        words.update(split_words(question))
    words.update(MONTHS)
    return sorted(words)
