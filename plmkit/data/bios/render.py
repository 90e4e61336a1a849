"""bioS rendering: templates, the augmentations of Part 3.1 and their combinations [3.1 App. A.1].

A bioS entry is six sentences, one per attribute, normally in the fixed order birth date, birth city,
university, major, company, company city. Only the first sentence names the person; the others use the
pronoun. The augmentations change how many entries a person gets and how they are written:

=========================  =======================================================================
``single``                 1 entry; each sentence's template drawn once per person
``single+permuteP``        P entries, the same six sentences, each entry an independent shuffle
``multiM``                 M entries, templates redrawn for every entry, fixed order
``multiM+permute``         as multiM, each entry shuffled
``+fullname``              every sentence names the person (no pronouns)
``coupleM``                M entries; three fixed pairs (date, city) (university, major)
                           (company, company city), the pairs shuffled
``+reverse1/2/6``          Part 3.2 controls: "The person" opens the entry and the full name comes
                           in sentence 2 (reverse1), 3 (reverse2) or a final 7th sentence (reverse6)
=========================  =======================================================================

Parts are joined with ``+`` or ``,`` in any order (``multi5,permute`` = ``permute+multi5``). After a
shuffle the full name moves to whichever sentence is now first. Part 3.3's formats map onto these:
``bioS^simple`` (one fixed entry, fixed templates, fixed random order) is ``single+permute1``, and the
online ``bioS(N)`` renders a fresh entry per exposure with :meth:`BioRenderer.render_online`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from plmkit.data.bios.people import Person
from plmkit.data.bios.pools import ATTRIBUTES, PRONOUN_CHOICES, PoolSet, read_pool_lines
from plmkit.tokenizer import split_words

TEMPLATE_SETS = ("full", "short")
# Template counts of the paper (Part 3.1 App. A.1); the kit's "full" set has exactly these.
PAPER_TEMPLATE_COUNTS = {"birth_date": 46, "birth_city": 49, "university": 49, "major": 52, "company": 47,
                         "company_city": 48}
SHORT_TEMPLATE_COUNT = 8
SUBJECT_MODES = ("name", "pronoun", "person")  # person = "the person" (reverse variants)
_MODE_INDEX = {mode: i for i, mode in enumerate(SUBJECT_MODES)}
REVERSE_CHOICES = (1, 2, 6)
NAME_SENTENCE = "The person 's name is {name}."  # the 7th sentence of reverse6 [3.2 §5, App. A.1.1]
COUPLE_PAIRS = ((0, 1), (2, 3), (4, 5))  # (birth date, birth city) (university, major) (company, company city)

# Pronoun forms, all lower case; a sentence's first letter is capitalised after filling.
PRONOUN_FORMS = {
    "he": {"subject": "he", "poss": "his", "obj": "him", "was": "was", "has": "has", "is": "is"},
    "she": {"subject": "she", "poss": "her", "obj": "her", "was": "was", "has": "has", "is": "is"},
    "they": {"subject": "they", "poss": "their", "obj": "them", "was": "were", "has": "have", "is": "are"},
}
TEMPLATE_PLACEHOLDERS = ("{S}", "{S's}", "{poss}", "{obj}", "{V}", "{was}", "{has}", "{is}")
_PLACEHOLDER_RE = re.compile(r"\{[^{}]*\}")


# --- filling placeholders --------------------------------------------------------------------------
def capitalize_first(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def fill_placeholders(text: str, pronoun: str, subject: str | None) -> str:
    """Replace the subject, pronoun and verb placeholders (not the value slots).

    ``subject`` None means the pronoun; otherwise it is a literal phrase (a full name, a first name,
    ``the person``). The result's first letter is capitalised, which turns a sentence-initial
    ``she``/``her``/``the person`` into ``She``/``Her``/``The person`` and leaves names alone.
    """
    forms = PRONOUN_FORMS[pronoun]
    subj = forms["subject"] if subject is None else subject
    subj_poss = forms["poss"] if subject is None else f"{subject} 's"
    # The verb placeholders agree with the subject: a name or "the person" is singular even for "they".
    verbs = forms if subject is None else PRONOUN_FORMS["he"]
    out = (text.replace("{S's}", subj_poss).replace("{S}", subj).replace("{poss}", forms["poss"])
           .replace("{obj}", forms["obj"]).replace("{was}", verbs["was"]).replace("{has}", verbs["has"])
           .replace("{is}", verbs["is"]))
    return capitalize_first(out)


def check_template(text: str, attribute: str = "?") -> None:
    """Enforce the kit's template rules (checked below); raise ValueError naming the broken rule."""
    where = f"template {text!r} ({attribute})"
    unknown = [p for p in _PLACEHOLDER_RE.findall(text) if p not in TEMPLATE_PLACEHOLDERS]
    if unknown:
        raise ValueError(f"{where}: unknown placeholders {unknown}; valid: {' '.join(TEMPLATE_PLACEHOLDERS)}")
    if text.count("{V}") != 1:
        raise ValueError(f"{where}: needs exactly one {{V}}")
    if text.count("{S}") + text.count("{S's}") != 1:
        raise ValueError(f"{where}: needs exactly one subject placeholder ({{S}} or {{S's}})")
    if not text.endswith(".") or text.count(".") != 1 or any(ch in text for ch in ";?:"):
        raise ValueError(f"{where}: must end with its only '.', and contain no ';', '?' or ':'")
    at = text.index("{V}")
    if at == 0 or text[at - 1] != " ":
        raise ValueError(f"{where}: {{V}} needs a word and a space before it (the P-probe position)")
    after = text[at + 3:at + 4]
    if after not in (" ", ",", "."):
        raise ValueError(f"{where}: {{V}} must be followed by a space, ',' or '.'")


# --- template sets -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TemplateSet:
    """Sentence templates per attribute (``templates[attribute]`` is a tuple of template strings)."""

    name: str
    templates: dict

    def count(self, attribute: str) -> int:
        return len(self.templates[attribute])

    def counts(self) -> dict[str, int]:
        return {a: len(self.templates[a]) for a in ATTRIBUTES}


@lru_cache(maxsize=None)
def load_templates(name: str = "full") -> TemplateSet:
    """Load ``data/bios/templates/<name>/<attribute>.txt`` and check every template."""
    if name not in TEMPLATE_SETS:
        raise ValueError(f"unknown template set {name!r}; valid: {', '.join(TEMPLATE_SETS)}")
    templates = {}
    for attribute in ATTRIBUTES:
        lines = tuple(read_pool_lines("templates", name, f"{attribute}.txt"))
        if len(set(lines)) != len(lines):
            raise ValueError(f"template set {name!r}, {attribute}: duplicate templates")
        for line in lines:
            check_template(line, attribute)
        templates[attribute] = lines
    return TemplateSet(name, templates)


def as_template_set(templates: str | TemplateSet) -> TemplateSet:
    return load_templates(templates) if isinstance(templates, str) else templates


def value_collisions(template_set: TemplateSet, pools: PoolSet) -> list[tuple[str, str, str]]:
    """(attribute, template, value) triples where a template's own words contain a whole value of the same
    attribute (a template must never state an accidental answer). Empty = fine."""
    found = []
    for attribute in ATTRIBUTES:
        values = [tuple(split_words(v)) for v in pools.values(attribute)] if attribute != "birth_date" else []
        for template in template_set.templates[attribute]:
            words = split_words(_PLACEHOLDER_RE.sub(" ", template))
            for value in values:
                k = len(value)
                if any(tuple(words[i:i + k]) == value for i in range(len(words) - k + 1)):
                    found.append((attribute, template, " ".join(value)))
    return found


# --- augmentation strings ----------------------------------------------------------------------------
AUGMENTATION_HELP = (
    "single | multiM (e.g. multi5) | coupleM (e.g. couple2) as the base (default single); modifiers "
    "permute (shuffle every entry; with single it means permute1), permuteP (single only: P shuffled copies, "
    "e.g. permute5), fullname (name in every sentence), reverse1 | reverse2 | reverse6 (Part 3.2 controls); "
    "join parts with '+' or ','"
)


@dataclass(frozen=True)
class Augmentation:
    """A parsed augmentation string (see the module docstring)."""

    base: str = "single"  # single | multi | couple
    copies: int = 1  # entries per person: M for multi/couple, P for single+permuteP
    permute: bool = False
    fullname: bool = False
    reverse: int = 0  # 0 (none), 1, 2 or 6

    @property
    def name(self) -> str:
        """The canonical spelling, e.g. ``multi5+permute+fullname`` or ``single+permute1``."""
        if self.base == "single":
            parts = ["single"] + ([f"permute{self.copies}"] if self.permute else [])
        else:
            parts = [f"{self.base}{self.copies}"] + (["permute"] if self.permute else [])
        if self.fullname:
            parts.append("fullname")
        if self.reverse:
            parts.append(f"reverse{self.reverse}")
        return "+".join(parts)

    @property
    def templates_per_entry(self) -> bool:
        """True when templates are redrawn for every entry (multi, couple); single draws them once."""
        return self.base != "single"


def parse_augmentation(spec: str | Augmentation) -> Augmentation:
    """Parse ``multi5+permute``, ``multi5,permute``, ``single+permute5+fullname``, ``couple2``, ...

    Unknown or conflicting parts raise ValueError naming the valid options.
    """
    if isinstance(spec, Augmentation):
        return spec
    parts = [p.strip().lower() for p in re.split(r"[+,]", str(spec))]
    if not spec or any(not p for p in parts):
        raise ValueError(f"empty augmentation part in {spec!r}; valid parts: {AUGMENTATION_HELP}")
    if len(set(parts)) != len(parts):
        raise ValueError(f"repeated augmentation part in {spec!r}")
    base, copies, permute, permute_copies, fullname, reverse = None, 1, False, None, False, 0
    for part in parts:
        m = re.fullmatch(r"(single|multi|couple|permute|reverse)(\d*)|fullname", part)
        if not m:
            raise ValueError(f"unknown augmentation part {part!r} in {spec!r}; valid parts: {AUGMENTATION_HELP}")
        word, number = m.group(1), m.group(2)
        count = int(number) if number else None
        if count is not None and count < 1:
            raise ValueError(f"{part!r}: the count must be at least 1")
        if part == "fullname":
            fullname = True
        elif word in ("single", "multi", "couple"):
            if base is not None:
                raise ValueError(f"{spec!r} names two bases ({base} and {word}); use one of single, multiM, coupleM")
            if word == "single" and count is not None:
                raise ValueError(f"{part!r}: single takes no count (use multiM, or single+permuteP)")
            if word != "single" and count is None:
                raise ValueError(f"{part!r}: {word} needs a count, e.g. {word}5")
            base, copies = word, count or 1
        elif word == "permute":
            permute, permute_copies = True, count
        else:  # reverse
            if count not in REVERSE_CHOICES:
                raise ValueError(f"{part!r}: valid reverse variants are reverse1, reverse2, reverse6")
            reverse = count
    base = base or "single"
    if base == "single" and permute:
        copies = permute_copies or 1
    elif permute_copies is not None:
        raise ValueError(f"{spec!r}: permuteP applies only to single; with {base} write plain 'permute'")
    if base == "couple" and permute:
        raise ValueError(f"{spec!r}: coupleM already shuffles its three pairs; drop 'permute'")
    if fullname and reverse:
        raise ValueError(f"{spec!r}: fullname and reverse{reverse} contradict each other (reverse hides the name)")
    return Augmentation(base=base, copies=copies, permute=permute, fullname=fullname, reverse=reverse)


def subject_modes(augmentation: Augmentation) -> tuple[str, ...]:
    """How each of the six sentence positions refers to the person (name / pronoun / "the person")."""
    if augmentation.fullname:
        return ("name",) * 6
    if augmentation.reverse == 1:
        return ("person", "name") + ("pronoun",) * 4
    if augmentation.reverse == 2:
        return ("person", "pronoun", "name") + ("pronoun",) * 3
    if augmentation.reverse == 6:
        return ("person",) + ("pronoun",) * 5
    return ("name",) + ("pronoun",) * 5


# --- entries -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BioEntry:
    """One biography entry.

    ``spans`` lists ``(attribute, start, end)`` character spans of the six values in text order;
    ``name_span`` is the first mention of the full name (None if the entry never names the person).
    Spans start and end at token boundaries, so token positions follow from :func:`split_words`.
    """

    person_id: int
    text: str
    spans: tuple
    name_span: tuple | None

    @property
    def order(self) -> tuple[str, ...]:
        """The attributes in the order the text states them."""
        return tuple(s[0] for s in self.spans)

    def value_text(self, attribute: str) -> str:
        for a, start, end in self.spans:
            if a == attribute:
                return self.text[start:end]
        raise KeyError(attribute)


def _compile(template: str, pronoun: str, mode: str) -> tuple[str, str, str, bool]:
    """Split a template into (head, mid, tail, name_first) for fast rendering.

    name mode: ``head + name + mid + value + tail`` (or value first when name_first is False);
    other modes: ``head + value + tail`` (mid is empty and no name is inserted).
    """
    sentinel = "\x00"
    subject = {"name": sentinel, "pronoun": None, "person": "the person"}[mode]
    filled = fill_placeholders(template, pronoun, subject)
    if mode != "name":
        head, tail = filled.split("{V}")
        return head, "", tail, True
    v_at, n_at = filled.index("{V}"), filled.index(sentinel)
    if n_at < v_at:
        head, rest = filled.split(sentinel)
        mid, tail = rest.split("{V}")
        return head, mid, tail, True
    head, rest = filled.split("{V}")
    mid, tail = rest.split(sentinel)
    return head, mid, tail, False


class BioRenderer:
    """Renders bioS entries from a template set; compiled templates are cached per pronoun and mode."""

    def __init__(self, templates: str | TemplateSet = "full"):
        self.template_set = as_template_set(templates)
        self.counts = np.array([self.template_set.count(a) for a in ATTRIBUTES], dtype=np.int64)
        # compiled[pronoun][attribute index][template index][mode index]
        self.compiled = {
            p: [[tuple(_compile(t, p, mode) for mode in SUBJECT_MODES) for t in self.template_set.templates[a]]
                for a in ATTRIBUTES]
            for p in PRONOUN_CHOICES
        }

    # -- one entry ----------------------------------------------------------------------------------
    def render_entry(self, person: Person, template_ids: Sequence[int], order: Sequence[int],
                     modes: Sequence[str], values: Sequence[str] | None = None,
                     name_sentence: bool = False) -> BioEntry:
        """Render one entry: ``template_ids`` per attribute (ATTRIBUTES order), ``order`` = attribute
        indices in text order, ``modes[k]`` = how sentence k names the person."""
        compiled = self.compiled[person.pronoun]
        values = values if values is not None else [person.value(a) for a in ATTRIBUTES]
        name = person.full_name
        name_len = len(name)
        sentences, spans = [], []
        pos, name_span = 0, None
        for k, a in enumerate(order):
            mode = modes[k]
            head, mid, tail, name_first = compiled[a][template_ids[a]][_MODE_INDEX[mode]]
            value = values[a]
            v_start = pos + len(head)
            if mode != "name":
                sentence = head + value + tail
            elif name_first:
                sentence = head + name + mid + value + tail
                if name_span is None:
                    name_span = (v_start, v_start + name_len)
                v_start += name_len + len(mid)
            else:
                sentence = head + value + mid + name + tail
                if name_span is None:
                    n_start = v_start + len(value) + len(mid)
                    name_span = (n_start, n_start + name_len)
            spans.append((ATTRIBUTES[a], v_start, v_start + len(value)))
            sentences.append(sentence)
            pos += len(sentence) + 1
        if name_sentence:
            sentence = NAME_SENTENCE.format(name=name)
            if name_span is None:
                start = pos + sentence.index(name)
                name_span = (start, start + len(name))
            sentences.append(sentence)
        return BioEntry(person.pid, " ".join(sentences), tuple(spans), name_span)

    # -- datasets -----------------------------------------------------------------------------------
    def render(self, people: Sequence[Person], augmentation: str | Augmentation = "single",
               seed: int | np.random.Generator = 0) -> list[list[BioEntry]]:
        """Entries for every person (outer list aligned with ``people``).

        Randomness is drawn in bulk in a fixed order: template ids (n, T, 6), then the orders, so the
        same seed gives the same text bit for bit.
        """
        aug = parse_augmentation(augmentation)
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        n, copies = len(people), aug.copies
        n_template_draws = copies if aug.templates_per_entry else 1
        template_ids = rng.integers(0, self.counts, size=(n, n_template_draws, 6)).tolist()
        orders = self._draw_orders(rng, aug, n)
        modes = subject_modes(aug)
        out = []
        for i, person in enumerate(people):
            values = [person.value(a) for a in ATTRIBUTES]
            entries = []
            for e in range(copies):
                tids = template_ids[i][e if aug.templates_per_entry else 0]
                order = orders[i][e] if orders is not None else range(6)
                entries.append(self.render_entry(person, tids, order, modes, values, aug.reverse == 6))
            out.append(entries)
        return out

    def render_online(self, people: Sequence[Person], seed: int | np.random.Generator) -> list[BioEntry]:
        """One fresh entry per person with new templates and a new order: an exposure of the online
        bioS(N) of Part 3.3 (= multi-infinity+permute). Pass a Generator to draw a new one each call."""
        return [entries[0] for entries in self.render(people, Augmentation("multi", 1, permute=True), seed)]

    @staticmethod
    def _draw_orders(rng: np.random.Generator, aug: Augmentation, n: int):
        if aug.base == "couple":
            pair_orders = np.argsort(rng.random((n, aug.copies, 3)), axis=-1)
            pairs = np.array(COUPLE_PAIRS)
            return pairs[pair_orders].reshape(n, aug.copies, 6).tolist()
        if aug.permute:
            return np.argsort(rng.random((n, aug.copies, 6)), axis=-1).tolist()
        return None


def render_bios(people: Sequence[Person], augmentation: str | Augmentation = "single",
                templates: str | TemplateSet = "full", seed: int | np.random.Generator = 0) -> list[list[BioEntry]]:
    """Convenience wrapper: ``BioRenderer(templates).render(people, augmentation, seed)``."""
    return _renderer(templates).render(people, augmentation, seed)


@lru_cache(maxsize=8)
def _cached_renderer(name: str) -> BioRenderer:
    return BioRenderer(name)


def _renderer(templates: str | TemplateSet) -> BioRenderer:
    return _cached_renderer(templates) if isinstance(templates, str) else BioRenderer(templates)
