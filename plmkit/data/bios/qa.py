"""QA data, QA metrics, baselines and the people splits of Part 3.1 [3.1 §2.1, §6].

A QA entry is one line ``question Answer: value.``; at evaluation the prompt is the question plus
``Answer:`` and nothing else (never the biography). Part 3.2 reuses :class:`QAPair` with a mode token
(``<direct>`` or ``<hint>``) before ``Answer:`` and, in hint mode, the hint written before the answer:
``question <hint> Answer: H. A.``.

The metrics are model-agnostic: they take the words a model produced after ``Answer:`` (token strings;
turn ids into words with ``tokenizer.tokens(ids)``) and compare them with the canonical answer.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from plmkit.data.bios.people import Person, sample_groups
from plmkit.data.bios.pools import ATTRIBUTES, MONTHS, PoolSet, company_city_baseline
from plmkit.tokenizer import split_words

# The six extraction questions of Part 3.1 [3.1 §2]; {name} is the full name.
QA_QUESTIONS = {
    "birth_date": "What is the birth date of {name}?",
    "birth_city": "What is the birth city of {name}?",
    "university": "Which university did {name} study?",
    "major": "What major did {name} study?",
    "company": "Which company did {name} work for?",
    "company_city": "Where did {name} work?",
}
ANSWER_CUE = "Answer:"
STOP_WORDS = (".", "<eos>")  # generation of an answer ends at the first of these
MODE_TOKENS = {"direct": "<direct>", "hint": "<hint>"}


@dataclass(frozen=True, slots=True)
class QAPair:
    """One question with its canonical answer.

    ``task`` is the attribute for Part 3.1 QAs and the task name for Part 3.2. ``mode`` is None for
    plain QA, ``direct`` or ``hint`` for the Part 3.2 answer modes; ``hint`` holds the value(s) a hint
    states (``October`` or ``October; September``) and is written only in hint mode.
    """

    task: str
    person_ids: tuple
    question: str
    answer: str
    hint: str | None = None
    mode: str | None = None

    def __post_init__(self):
        if self.mode not in (None, "direct", "hint"):
            raise ValueError(f"mode must be None, 'direct' or 'hint', got {self.mode!r}")
        if self.mode == "hint" and not self.hint:
            raise ValueError(f"task {self.task}: hint mode needs a hint")

    @property
    def prompt(self) -> str:
        """The evaluation prompt: the question, the mode token if any, and ``Answer:``."""
        mode = f" {MODE_TOKENS[self.mode]}" if self.mode else ""
        return f"{self.question}{mode} {ANSWER_CUE}"

    @property
    def completion(self) -> str:
        """What the model must write after the prompt (loss-weighted in training)."""
        hint = f" {self.hint}." if self.mode == "hint" else ""
        return f"{hint} {self.answer}."

    @property
    def text(self) -> str:
        return self.prompt + self.completion

    @property
    def answer_words(self) -> list[str]:
        return split_words(self.answer)

    @property
    def hint_words(self) -> list[str] | None:
        return split_words(self.hint) if self.hint else None

    def with_mode(self, mode: str | None) -> "QAPair":
        return QAPair(self.task, self.person_ids, self.question, self.answer, self.hint, mode)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["person_ids"] = list(self.person_ids)
        return d


def person_qas(person: Person, attributes: Sequence[str] = ATTRIBUTES) -> list[QAPair]:
    """The six extraction QAs of one person (or the requested attributes), in attribute order."""
    return [QAPair(a, (person.pid,), QA_QUESTIONS[a].format(name=person.full_name), person.value(a))
            for a in attributes]


def qa_pairs(people: Iterable[Person], attributes: Sequence[str] = ATTRIBUTES) -> list[QAPair]:
    """All extraction QAs of the given people, person by person."""
    bad = [a for a in attributes if a not in QA_QUESTIONS]
    if bad:
        raise ValueError(f"unknown attributes {bad}; valid: {', '.join(ATTRIBUTES)}")
    return [qa for person in people for qa in person_qas(person, attributes)]


# --- metrics ----------------------------------------------------------------------------------------
def cut_at_stop(words: Sequence[str], stop: Sequence[str] = STOP_WORDS) -> list[str]:
    """The words before the first stop word (``.`` or ``<eos>``)."""
    out = []
    for w in words:
        if w in stop:
            break
        out.append(w)
    return out


def split_completion(words: Sequence[str], hint_mode: bool) -> tuple[list[str] | None, list[str]]:
    """Split generated words into (hint, answer): in hint mode the hint ends at the first ``.``."""
    words = list(words)
    if not hint_mode:
        return None, cut_at_stop(words)
    hint = cut_at_stop(words)
    rest = words[len(hint) + 1:] if len(hint) < len(words) and words[len(hint)] == "." else []
    return hint, cut_at_stop(rest)


def exact_match(predicted: Sequence[str], target: str | Sequence[str]) -> bool:
    """True iff the predicted words, cut at the first stop word, equal the whole canonical answer."""
    target_words = split_words(target) if isinstance(target, str) else list(target)
    return cut_at_stop(predicted) == target_words


@dataclass
class QAScores:
    """Accuracies per task and their mean (the mean over tasks, each task weighted equally)."""

    per_task: dict
    counts: dict
    hint_per_task: dict

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.per_task.values()))) if self.per_task else float("nan")

    def as_dict(self) -> dict:
        return {"per_task": self.per_task, "mean": self.mean, "counts": self.counts,
                "hint_per_task": self.hint_per_task}


def score_answers(qas: Sequence[QAPair], predictions: Sequence[Sequence[str]]) -> QAScores:
    """Exact-match accuracy of generated completions (the words after ``Answer:``), per task.

    For hint-mode examples the answer after the hint is scored, and ``hint_per_task`` holds the share
    of exactly right hints (Part 3.2 "hint acc").
    """
    if len(qas) != len(predictions):
        raise ValueError(f"{len(qas)} QAs but {len(predictions)} predictions")
    hits, hint_hits, counts, hint_counts = Counter(), Counter(), Counter(), Counter()
    for qa, words in zip(qas, predictions):
        hint, answer = split_completion(words, qa.mode == "hint")
        counts[qa.task] += 1
        hits[qa.task] += answer == qa.answer_words
        if qa.mode == "hint":
            hint_counts[qa.task] += 1
            hint_hits[qa.task] += hint == qa.hint_words
    return QAScores(per_task={t: hits[t] / counts[t] for t in counts}, counts=dict(counts),
                    hint_per_task={t: hint_hits[t] / hint_counts[t] for t in hint_counts})


def first_token_accuracy(qas: Sequence[QAPair], predicted_first: Sequence[str]) -> QAScores:
    """Teacher-forced first-token accuracy: ``predicted_first[i]`` is the model's argmax word right
    after the prompt of ``qas[i]`` (in hint mode, the first hint word)."""
    if len(qas) != len(predicted_first):
        raise ValueError(f"{len(qas)} QAs but {len(predicted_first)} predictions")
    hits, counts = Counter(), Counter()
    for qa, word in zip(qas, predicted_first):
        target = qa.hint_words[0] if qa.mode == "hint" else qa.answer_words[0]
        counts[qa.task] += 1
        hits[qa.task] += word == target
    return QAScores(per_task={t: hits[t] / counts[t] for t in counts}, counts=dict(counts), hint_per_task={})


def generation_budget(qas: Sequence[QAPair]) -> int:
    """Words to generate after ``Answer:``: the longest completion + 2 (kit choice: a small margin
    beyond the longest answer and its closing ``.``)."""
    return max(len(split_words(qa.completion)) for qa in qas) + 2


# --- baselines --------------------------------------------------------------------------------------
def majority_baselines(pools: PoolSet) -> dict[str, float]:
    """Exact-match accuracy of always giving the most common answer, per attribute, when attributes are
    uniform over the pools (company city: the headquarters share of the most common city)."""
    out = {a: 1.0 / pools.size(a) for a in ATTRIBUTES if a != "company_city"}
    out["company_city"] = company_city_baseline(pools)[1]
    return {a: out[a] for a in ATTRIBUTES}


def majority_mean(pools: PoolSet) -> float:
    """The six-attribute mean of :func:`majority_baselines` (2.65% for the full pools)."""
    return float(np.mean(list(majority_baselines(pools).values())))


def first_token_majority(pools: PoolSet) -> dict[str, float]:
    """First-token accuracy of always guessing the most common first word of each attribute's values
    (shows first-token inflation: "University ...", "San ...", "New York, NY")."""
    out = {"birth_date": 1.0 / len(MONTHS)}  # the first word of a date is its month
    for a in ATTRIBUTES[1:]:
        weights = Counter()
        if a == "company_city":
            for city in pools.company_cities:  # one per company: the employer is the uniform draw
                weights[split_words(city)[0]] += 1
        else:
            for value in pools.values(a):
                weights[split_words(value)[0]] += 1
        out[a] = max(weights.values()) / sum(weights.values())
    return out


def empirical_majority(values: Iterable[str]) -> tuple[str, float]:
    """The most common value and its share (e.g. answers of the P_test people)."""
    counts = Counter(values)
    if not counts:
        raise ValueError("no values")
    value, count = counts.most_common(1)[0]
    return value, count / sum(counts.values())


# --- splits -----------------------------------------------------------------------------------------
def ensure_disjoint(a: Iterable[int], b: Iterable[int], what: str = "splits") -> None:
    """Raise AssertionError if two id collections share an id (kept under ``python -O`` too)."""
    common = set(a) & set(b)
    if common:
        raise AssertionError(f"{what} overlap in {len(common)} ids, e.g. {sorted(common)[:5]}")


@dataclass(frozen=True)
class PersonSplit:
    """P_train (QAs trained) and P_test (QAs only evaluated); disjoint by construction and by check."""

    train: tuple
    test: tuple

    def __post_init__(self):
        ensure_disjoint(self.train, self.test, "P_train and P_test")

    def select(self, people: Iterable[Person], part: str) -> list[Person]:
        """The people of ``part`` ('train' or 'test'), in the split's order."""
        ids = {"train": self.train, "test": self.test}[part]
        table = {p.pid: p for p in people}
        return [table[i] for i in ids]


def split_people(people: Sequence[Person] | Sequence[int], seed: int | np.random.Generator = 0,
                 train_fraction: float = 0.5) -> PersonSplit:
    """Seeded permutation of the people; the first ``train_fraction`` are P_train, the rest P_test."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    ids = [p.pid if isinstance(p, Person) else int(p) for p in people]
    if len(set(ids)) != len(ids):
        raise ValueError("person ids must be unique")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    order = [ids[i] for i in rng.permutation(len(ids))]
    cut = int(round(train_fraction * len(ids)))
    return PersonSplit(train=tuple(order[:cut]), test=tuple(order[cut:]))


def check_no_test_leak(train_qas: Iterable[QAPair], test_people: Iterable[Person]) -> None:
    """Assert that no training QA concerns a P_test person, by id and by text (a test person's full name
    must not occur in any training QA line, question or answer): checking the text as well as the id lists
    catches a leak that the ids alone would hide."""
    test_people = list(test_people)
    test_ids = {p.pid for p in test_people}
    test_names = {p.full_name for p in test_people}
    for qa in train_qas:
        if test_ids.intersection(qa.person_ids) or _names_in(qa.text, test_names):
            raise AssertionError(f"training QA {qa.text!r} concerns a P_test person")


def _names_in(question: str, names: set[str]) -> list[str]:
    # Full names are three words; look them up by sliding a 3-word window (fast for large test sets).
    words = split_words(question)
    return [" ".join(words[i:i + 3]) for i in range(len(words) - 2) if " ".join(words[i:i + 3]) in names]


# --- celebrities and minority [3.1 §6, App. G] ----------------------------------------------------------
@dataclass(frozen=True)
class CelebrityDesign:
    """Minority people (few, unaugmented bios) and celebrities (rich bios), disjoint.

    QA fine-tuning uses ``qa_train`` (celebrities), evaluation ``qa_test`` (the minority);
    ``celebrity_test`` are held-out celebrities (kit addition: a multi5+permute data point).
    """

    minority: tuple
    celebrities: tuple
    minority_augmentation: str
    celebrity_augmentation: str
    qa_train: tuple
    qa_test: tuple
    celebrity_test: tuple

    def __post_init__(self):
        ensure_disjoint([p.pid for p in self.minority], [p.pid for p in self.celebrities], "minority and celebrities")
        names_min = {p.full_name for p in self.minority}
        if names_min & {p.full_name for p in self.celebrities}:
            raise AssertionError("minority and celebrities share full names")
        ensure_disjoint(self.qa_train, self.qa_test, "QA train and QA test")
        ensure_disjoint(self.qa_train, self.celebrity_test, "QA train and held-out celebrities")


def celebrity_design(n_minority: int, n_celebrities: int, pools: PoolSet, seed: int = 0, *,
                     celebrity_holdout: float = 1 / 3, minority_augmentation: str = "single+permute1",
                     celebrity_augmentation: str = "multi5+permute",
                     pronouns: Sequence[str] = ("he", "she")) -> CelebrityDesign:
    """Draw both groups as one population (unique names across groups), minority first, and split the
    celebrities into QA-train and held-out parts (``celebrity_holdout`` = 0 keeps all for training)."""
    rng = np.random.default_rng(seed)
    minority, celebrities = sample_groups([n_minority, n_celebrities], pools, rng, pronouns=pronouns)
    n_hold = int(round(celebrity_holdout * n_celebrities))
    order = [celebrities[i].pid for i in rng.permutation(n_celebrities)]
    return CelebrityDesign(
        minority=tuple(minority), celebrities=tuple(celebrities),
        minority_augmentation=minority_augmentation, celebrity_augmentation=celebrity_augmentation,
        qa_train=tuple(order[n_hold:]), qa_test=tuple(p.pid for p in minority), celebrity_test=tuple(order[:n_hold]),
    )


def group_exposure_report(exposures: Mapping[int, int], groups: Mapping[str, Iterable[int]]) -> dict[str, float]:
    """Average exposures per person for each named group, as one run actually delivered them."""
    return {name: float(np.mean([exposures.get(pid, 0) for pid in ids])) for name, ids in groups.items()}
