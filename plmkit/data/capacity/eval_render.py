"""Counting the bits a model stores about bioS people [P3.3 Def. 4.3], without double credit.

For each person the measurement renders one bioS entry from the training distribution (fresh templates,
random sentence order, as in online bioS(N) [P3.3 §2.2]) and sums the model's token losses:

* p1: the full name at the start of the entry, after the ``<eos>`` that precedes every entry;
* p2: every token of the five stored values (birth date with its comma, birth city, university,
  major, employer) plus the **first gendered word** of the entry (He/She/his/her/him: the gender bit).
  Company-city tokens are skipped: the employer determines them [P3.3 §4 fn 12].

Why the employer sentence always comes *before* the company-city sentence here: many employers share a
headquarters city but most cities host few employers, so once the city has been read the employer is
nearly determined. A model that knew only the city-to-employer table, and nothing about the person, would
then earn employer bits for knowledge it does not hold. With the employer first, its loss is paid
before the city can help. The other sentences stay in random order (one random permutation with the
two swapped when needed, so every employer-first order is equally likely).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np
import torch

from plmkit.data.bios.people import Person
from plmkit.data.bios.pools import ATTRIBUTES, PoolSet, information_bits
from plmkit.data.bios.render import PRONOUN_FORMS, Augmentation, BioEntry, BioRenderer, subject_modes
from plmkit.data.bios.vocab import entry_token_spans, name_token_span, template_words
from plmkit.data.capacity.bits import (Bits, LogitsFn, bios_learned_bits, bios_max_bits, counted_parameters,
                                       masked_sums, token_losses)
from plmkit.tokenizer import WordTokenizer

STORED_ATTRIBUTES = ("birth_date", "birth_city", "university", "major", "company")  # company_city excluded
COMPANY, COMPANY_CITY = ATTRIBUTES.index("company"), ATTRIBUTES.index("company_city")
FULL_MEASUREMENT_LIMIT = 20_000  # measure everyone up to this many people, else a seeded sample this large


def gendered_words(pronouns: Sequence[str]) -> set[str]:
    """Every word form of the given pronouns, lower case and capitalised (he, He, his, His, him, ...)."""
    words = set()
    for pronoun in pronouns:
        forms = PRONOUN_FORMS[pronoun]
        for key in ("subject", "poss", "obj"):
            words.update({forms[key], forms[key].capitalize()})
    return words


# --------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------
def company_before_city(orders: np.ndarray, company: int = COMPANY, city: int = COMPANY_CITY) -> np.ndarray:
    """Swap the employer and the company city (in place) in every order (row) that states the city first.

    Applied to uniformly random orders, this gives every employer-first order the same probability.
    Returns ``orders``.
    """
    at_company = np.argmax(orders == company, axis=1)
    at_city = np.argmax(orders == city, axis=1)
    swap = at_city < at_company
    rows = np.nonzero(swap)[0]
    orders[rows, at_company[swap]] = city
    orders[rows, at_city[swap]] = company
    return orders


def employer_first_orders(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 6) uniformly random sentence orders in which the employer comes before the company city."""
    return company_before_city(np.argsort(rng.random((n, 6)), axis=1))


def render_eval_entries(people: Sequence[Person], templates: Union[str, BioRenderer] = "full",
                        seed: Union[int, np.random.Generator] = 0) -> list[BioEntry]:
    """One fresh bioS entry per person (new templates, random order, name in the first sentence and
    pronouns after), with the employer sentence before the company-city sentence."""
    renderer = templates if isinstance(templates, BioRenderer) else BioRenderer(templates)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    template_ids = rng.integers(0, renderer.counts, size=(len(people), 6)).tolist()
    orders = employer_first_orders(rng, len(people)).tolist()
    modes = subject_modes(Augmentation("multi", 1, permute=True))
    return [renderer.render_entry(p, template_ids[i], orders[i], modes) for i, p in enumerate(people)]


# --------------------------------------------------------------------------------------------------
# Token rows and masks
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BioSRows:
    """Entries as padded rows ``<eos> entry <pad>...`` and masks over the loss columns.

    Column t of a loss array (as :func:`~plmkit.data.capacity.bits.token_losses` returns it) is entry
    token t; the masks are (n, S) over those columns.
    """

    tokens: np.ndarray  # (n, S + 1) int64
    name_mask: np.ndarray  # (n, S) bool: the full name's tokens
    value_mask: np.ndarray  # (n, S) bool: the five stored values and the first gendered word
    city_mask: np.ndarray  # (n, S) bool: the company city (never counted; kept for inspection)


def measurement_rows(entries: Sequence[BioEntry], tokenizer: WordTokenizer,
                     pronouns: Sequence[str] = ("he", "she")) -> BioSRows:
    """Encode entries and mark the tokens whose losses make p1 and p2 (see the module docstring)."""
    encoded = [tokenizer.encode(e.text) for e in entries]
    n, width = len(entries), max((len(ids) for ids in encoded), default=0)
    if n == 0:
        raise ValueError("measurement_rows needs at least one entry")
    tokens = np.zeros((n, width + 1), dtype=np.int64)
    tokens[:, 0] = tokenizer.id_of("<eos>")
    name_mask, value_mask, city_mask = (np.zeros((n, width), dtype=bool) for _ in range(3))
    for i, (entry, ids) in enumerate(zip(entries, encoded)):
        tokens[i, 1:len(ids) + 1] = ids
        span = name_token_span(entry)
        if span is None or span[0] != 0:
            raise ValueError(f"entry of person {entry.person_id} does not start with the full name: {entry.text[:60]!r}")
        name_mask[i, span[0]:span[1]] = True
        for attribute, start, end in entry_token_spans(entry):
            (city_mask if attribute == "company_city" else value_mask)[i, start:end] = True
    gendered_ids = [tokenizer.token_to_id[w] for w in gendered_words(pronouns) if w in tokenizer.token_to_id]
    is_gendered = np.isin(tokens[:, 1:], gendered_ids) & ~name_mask & ~value_mask & ~city_mask
    if not is_gendered.any(axis=1).all():
        missing = int(np.nonzero(~is_gendered.any(axis=1))[0][0])
        raise ValueError(f"entry {missing} has no pronoun, so its gender bit cannot be measured: {entries[missing].text!r}")
    value_mask[np.arange(n), np.argmax(is_gendered, axis=1)] = True
    return BioSRows(tokens, name_mask, value_mask, city_mask)


def bios_losses(token_loss, rows: BioSRows) -> tuple[np.ndarray, np.ndarray]:
    """Per-person p1 (name) and p2 (summed value) losses in nats from per-token losses (n, S)."""
    return masked_sums(token_loss, rows.name_mask), masked_sums(token_loss, rows.value_mask)


# --------------------------------------------------------------------------------------------------
# Measuring a model
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BioSMeasurement:
    p1: float
    p2: float
    learned: Bits
    max_bits: Bits
    parameters: int
    people_measured: int

    @property
    def R(self) -> float:
        return self.learned.ratio(self.parameters)

    @property
    def R_max(self) -> float:
        return self.max_bits.ratio(self.parameters)

    def as_dict(self) -> dict:
        return {"p1": self.p1, "p2": self.p2, "learned": self.learned.as_dict(), "max_bits": self.max_bits.as_dict(),
                "parameters": self.parameters, "R": self.R, "R_max": self.R_max,
                "people_measured": self.people_measured}


def bios_used_token_ids(people: Sequence[Person], tokenizer: WordTokenizer, templates: str = "full",
                        pronouns: Sequence[str] = ("he", "she")) -> np.ndarray:
    """Ids that can occur in online bioS text about these people: ``<eos>``, their names and values, and
    every template word. Their embedding rows are the ones Part 3.3 counts [P3.3 App. A]."""
    words = {"<eos>"} | {w for w in template_words(templates, pronouns) if w in tokenizer.token_to_id}
    for person in people:
        words.update((person.first, person.middle, person.last))
        for attribute in ATTRIBUTES:
            words.update(tokenizer.tokens(tokenizer.encode(person.value(attribute))))
    return np.array(sorted(tokenizer.token_to_id[w] for w in words), dtype=np.int64)


def measure_bios(model: Union[torch.nn.Module, LogitsFn], people: Sequence[Person], pools: PoolSet,
                 tokenizer: WordTokenizer, *, templates: str = "full", pronouns: Sequence[str] = ("he", "she"),
                 parameters: Optional[int] = None, seed: int = 0, sample: Optional[int] = None,
                 batch_size: int = 128, device=None) -> BioSMeasurement:
    """Bits a model stores about bioS people [P3.3 Def. 4.3], N0 and S0 from the pools in use.

    Measures everyone up to 20K people, else a seeded sample of 20K (``sample`` overrides); the bits
    always refer to all ``len(people)`` people.
    """
    rng = np.random.default_rng(seed)
    limit = FULL_MEASUREMENT_LIMIT if sample is None else sample
    chosen = people
    if len(people) > limit:
        chosen = [people[i] for i in np.sort(rng.choice(len(people), limit, replace=False))]
    rows = measurement_rows(render_eval_entries(chosen, templates, rng), tokenizer, pronouns)
    p1, p2 = bios_losses(token_losses(model, rows.tokens, batch_size, device), rows)
    log2_S0 = information_bits(pools, len(pronouns))["log2_S0"]
    n, name_space = len(people), pools.name_space_size
    if parameters is None:
        if not isinstance(model, torch.nn.Module):
            raise ValueError("pass parameters=... when measuring a logits function instead of a model")
        parameters = counted_parameters(model, bios_used_token_ids(people, tokenizer, templates, pronouns))
    return BioSMeasurement(p1=float(p1.mean()), p2=float(p2.mean()),
                           learned=bios_learned_bits(n, name_space, log2_S0, float(p1.mean()), float(p2.mean())),
                           max_bits=bios_max_bits(n, name_space, log2_S0), parameters=int(parameters),
                           people_measured=len(chosen))
