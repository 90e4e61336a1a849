"""bioP: a rule-based stand-in for the paper's LLM-written bioR biographies [3.1 App. A.2].

No language model is run. bioP keeps the two properties of bioR that the papers' claims rest on:
irregular phrasing and order, and irrelevant details that cost capacity. One entry is built as follows
(every choice from the seeded generator):

1. a random order of the six facts;
2. walking that order, a fact is merged with the next one into one two-fact sentence with probability
   0.4 when the pair has clause templates (``data/bios/paraphrase/pairs.txt``);
3. 1-3 distractor sentences (job title, hobby, current residence, family) at random positions, with
   content redrawn for every entry;
4. the first sentence names the person in full; later subjects are the pronoun (0.5), the first name
   (0.2), the last name (0.15) or "the person"/"this person" (0.15); ``fullname`` names the person
   in full everywhere;
5. surface forms: the birth date in one of four formats, each city as ``City, ST`` or
   ``City, State Name``; the QA answers stay canonical, so a model must map the two.

Plots must label it "bioP (rule-based stand-in for bioR)".
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from plmkit.data.bios.people import Person
from plmkit.data.bios.pools import ATTRIBUTES, MONTHS, PoolSet, read_pool_lines
from plmkit.data.bios.render import PRONOUN_FORMS, BioEntry, TemplateSet, as_template_set, fill_placeholders
from plmkit.tokenizer import split_words

MERGE_PROB = 0.4
REFERENCES = ("pronoun", "first", "last", "person")
REFERENCE_PROBS = (0.5, 0.2, 0.15, 0.15)
DISTRACTOR_KINDS = ("job", "hobby", "residence", "family")
MAX_DISTRACTORS = 3
DATE_FORMATS = ("{month} {day}, {year}", "{day} {month} {year}", "{nth} {month} {year}", "the {nth} of {month}, {year}")
LABEL = "bioP (rule-based stand-in for bioR)"
_FIELD_RE = re.compile(r"\{(\w+)\}")


def ordinal(day: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st, 22nd, ..."""
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def date_surface(person: Person, fmt: int) -> str:
    return DATE_FORMATS[fmt].format(month=MONTHS[person.birth_month - 1], day=person.birth_day,
                                    nth=ordinal(person.birth_day), year=person.birth_year)


def with_article(phrase: str) -> str:
    return ("an " if phrase[0].lower() in "aeiou" else "a ") + phrase


@dataclass(frozen=True)
class ParaphraseBank:
    """The shipped clause templates, distractor frames and banks."""

    pairs: dict  # (attribute, attribute) -> tuple of templates
    frames: dict  # kind -> tuple of templates with {V}
    family: tuple
    job_titles: tuple
    hobbies: tuple
    state_names: dict  # "MD" -> "Maryland"


@lru_cache(maxsize=1)
def load_paraphrase_bank() -> ParaphraseBank:
    pairs: dict = {}
    for line in read_pool_lines("paraphrase", "pairs.txt"):
        key, template = (part.strip() for part in line.split("|", 1))
        first, second = key.split("+")
        if {first, second} - set(ATTRIBUTES) or set(_FIELD_RE.findall(template)) & set(ATTRIBUTES) != {first, second}:
            raise ValueError(f"pairs.txt: bad line {line!r}")
        pairs.setdefault((first, second), []).append(template)
    frames: dict = {}
    for line in read_pool_lines("paraphrase", "distractor_frames.txt"):
        kind, template = (part.strip() for part in line.split("|", 1))
        frames.setdefault(kind, []).append(template)
    states = dict(line.split("; ", 1) for line in read_pool_lines("states.txt"))
    return ParaphraseBank(
        pairs={k: tuple(v) for k, v in pairs.items()}, frames={k: tuple(v) for k, v in frames.items()},
        family=tuple(read_pool_lines("distractors", "family.txt")),
        job_titles=tuple(read_pool_lines("distractors", "job_titles.txt")),
        hobbies=tuple(read_pool_lines("distractors", "hobbies.txt")), state_names=states,
    )


def _fill_fields(text: str, fields: dict[str, str]) -> tuple[str, dict[str, tuple[int, int]]]:
    """Replace ``{field}`` slots by their text; return the sentence and each field's character span."""
    out, spans, pos, last = [], {}, 0, 0
    for m in _FIELD_RE.finditer(text):
        literal = text[last:m.start()]
        out.append(literal)
        pos += len(literal)
        value = fields[m.group(1)]
        spans[m.group(1)] = (pos, pos + len(value))
        out.append(value)
        pos += len(value)
        last = m.end()
    out.append(text[last:])
    return "".join(out), spans


class Paraphraser:
    """Writes bioP entries for people drawn from ``pools`` (single-fact sentences reuse a bioS template set)."""

    def __init__(self, pools: PoolSet, templates: str | TemplateSet = "full"):
        self.pools = pools
        self.template_set = as_template_set(templates)
        self.bank = load_paraphrase_bank()
        missing = {c.split(", ")[1] for c in pools.cities + pools.company_cities} - set(self.bank.state_names)
        if missing:
            raise ValueError(f"states.txt lacks the state codes {sorted(missing)}")

    def city_surface(self, city: str, use_state_name: bool) -> str:
        if not use_state_name:
            return city
        name, code = city.rsplit(", ", 1)
        return f"{name}, {self.bank.state_names[code]}"

    # -- pieces of one entry ------------------------------------------------------------------------
    def _fact_units(self, rng: np.random.Generator) -> list[tuple[str, ...]]:
        """Facts in a random order, some merged into pairs: a list of attribute tuples of length 1 or 2."""
        order = [ATTRIBUTES[i] for i in rng.permutation(len(ATTRIBUTES))]
        units, i = [], 0
        while i < len(order):
            pair = tuple(order[i:i + 2])
            if len(pair) == 2 and pair in self.bank.pairs and rng.random() < MERGE_PROB:
                units.append(pair)
                i += 2
            else:
                units.append((order[i],))
                i += 1
        return units

    def _distractor(self, rng: np.random.Generator, person: Person) -> str:
        """A distractor sentence template with its content filled in (subject placeholders remain)."""
        kind = DISTRACTOR_KINDS[rng.integers(len(DISTRACTOR_KINDS))]
        if kind == "family":
            return self.bank.family[rng.integers(len(self.bank.family))]
        frames = self.bank.frames[kind]
        frame = frames[rng.integers(len(frames))]
        if kind == "job":
            content = with_article(self.bank.job_titles[rng.integers(len(self.bank.job_titles))])
        elif kind == "hobby":
            content = self.bank.hobbies[rng.integers(len(self.bank.hobbies))]
        else:  # a residence that is never the birth city or the work city
            choices = [c for c in self.pools.cities if c not in (person.birth_city, person.company_city)]
            content = self.city_surface(choices[rng.integers(len(choices))], bool(rng.random() < 0.5))
        return frame.replace("{V}", content)

    def _subject(self, rng: np.random.Generator, person: Person, first: bool, fullname: bool) -> str | None:
        if first or fullname:
            return person.full_name
        ref = REFERENCES[rng.choice(len(REFERENCES), p=REFERENCE_PROBS)]
        if ref == "first":
            return person.first
        if ref == "last":
            return person.last
        if ref == "person":
            return "the person" if rng.random() < 0.5 else "this person"
        return None

    # -- entries --------------------------------------------------------------------------------------
    def render_entry(self, person: Person, rng: np.random.Generator, fullname: bool = False) -> BioEntry:
        """One bioP entry; spans cover the surface forms of the six facts."""
        units = self._fact_units(rng)
        n_distractors = int(rng.integers(1, MAX_DISTRACTORS + 1))
        sentences: list = list(units)
        for _ in range(n_distractors):
            sentences.insert(int(rng.integers(0, len(sentences) + 1)), self._distractor(rng, person))
        fields = {
            "birth_date": date_surface(person, int(rng.integers(len(DATE_FORMATS)))),
            "birth_city": self.city_surface(person.birth_city, bool(rng.random() < 0.5)),
            "university": person.university, "major": person.major, "company": person.company,
            "company_city": self.city_surface(person.company_city, bool(rng.random() < 0.5)),
        }
        texts, spans, pos, name_span = [], [], 0, None
        for k, unit in enumerate(sentences):
            if isinstance(unit, str):  # distractor
                template = unit
            elif len(unit) == 2:
                options = self.bank.pairs[unit]
                template = options[rng.integers(len(options))]
            else:
                options = self.template_set.templates[unit[0]]
                template = options[rng.integers(len(options))].replace("{V}", "{" + unit[0] + "}")
            subject = self._subject(rng, person, k == 0, fullname)
            marked = fill_placeholders(template, person.pronoun, "\x00" if subject == person.full_name else subject)
            sentence, field_spans = _fill_fields(marked.replace("\x00", "{_name}"), {**fields, "_name": person.full_name})
            if name_span is None and "_name" in field_spans:
                start, end = field_spans["_name"]
                name_span = (pos + start, pos + end)
            spans.extend((a, pos + s, pos + e) for a, (s, e) in sorted(field_spans.items(), key=lambda kv: kv[1])
                         if a != "_name")
            texts.append(sentence)
            pos += len(sentence) + 1
        return BioEntry(person.pid, " ".join(texts), tuple(spans), name_span)

    def render(self, people: Sequence[Person], copies: int = 1, fullname: bool = False,
               seed: int | np.random.Generator = 0) -> list[list[BioEntry]]:
        """``copies`` independent entries per person (single = 1, multiM = M, Part 3.3's bioR(N) = 40)."""
        if copies < 1:
            raise ValueError(f"copies must be >= 1, got {copies}")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        return [[self.render_entry(p, rng, fullname) for _ in range(copies)] for p in people]


def paraphrase_words(pools: PoolSet, templates: str | TemplateSet = "full",
                     pronouns: Sequence[str] = ("he", "she")) -> set[str]:
    """Every fixed word bioP can emit besides the pool values (for the vocabulary)."""
    bank = load_paraphrase_bank()
    template_set = as_template_set(templates)
    sentences = [t for ts in bank.pairs.values() for t in ts] + list(bank.family)
    sentences += [t for ts in bank.frames.values() for t in ts]
    sentences += [t for a in ATTRIBUTES for t in template_set.templates[a]]
    words: set[str] = set()
    for template in sentences:
        for pronoun in pronouns:
            for subject in (None, "\x00", "the person", "this person"):
                filled = fill_placeholders(template, pronoun, subject).replace("\x00", " ")
                words.update(split_words(_FIELD_RE.sub(" ", filled)))
    for title in bank.job_titles:
        words.update(split_words(with_article(title)))
    for hobby in bank.hobbies:
        words.update(split_words(hobby))
    for name in bank.state_names.values():
        words.update(split_words(name))
    words.update(ordinal(d) for d in range(1, 29))
    words.update(split_words(DATE_FORMATS[3].format(month="", day="", nth="", year="")))
    words.update(PRONOUN_FORMS[p]["subject"] for p in pronouns)
    return words
