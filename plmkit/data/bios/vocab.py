"""The closed word-level vocabulary of the biography data and the token-id helpers.

Kit choice: a closed word-level tokenizer instead of the papers' GPT-2 one. Like GPT-2 it keeps every
month and every year a single token, which the papers rely on [3.2 Res. 3 fn 14; 3.3 §7.1 fn 18].

Ids are assigned in a fixed, documented order, so the same data config always gives the same ids:

1. the special tokens :data:`SPECIAL_TOKENS` (``<pad>`` = 0, ``<eos>``, ``<q>``, ``<hint>``,
   ``<direct>``, ``<tag>``) and any extra specials;
2. pool words in file order: first, middle and last names; the months January..December; the days
   1..28; the birth years in increasing order; then the words of the cities, universities, majors,
   companies and headquarters cities (each word at its first occurrence);
3. every other word the generators can emit, sorted by Python string order: template words in every
   pronoun and subject form, QA and Part 3.2 question words, task answers (numbers, Yes, No),
   punctuation, and (when asked for) the bioP paraphraser's words.

Only words the chosen config can produce are included (the ``ci`` vocabulary stays small). The helpers
at the bottom turn entries and QAs into ``(token ids int64, loss weights float32)`` pairs, the unit the
packing code concatenates with ``<eos>`` separators.
"""
from __future__ import annotations

import re
from typing import Iterable, Sequence

import numpy as np

from plmkit.data.bios.manipulation import DEFAULT_TASKS, answer_support, get_task, manipulation_words
from plmkit.data.bios.paraphrase import paraphrase_words
from plmkit.data.bios.people import Person
from plmkit.data.bios.pools import ATTRIBUTES, DAYS_PER_MONTH, MONTHS, PoolSet, pools_for_profile
from plmkit.data.bios.qa import ANSWER_CUE, QA_QUESTIONS, QAPair
from plmkit.data.bios.render import NAME_SENTENCE, SUBJECT_MODES, BioEntry, TemplateSet, as_template_set, fill_placeholders
from plmkit.tokenizer import WordTokenizer, split_words

SPECIAL_TOKENS = ("<pad>", "<eos>", "<q>", "<hint>", "<direct>", "<tag>")
_SLOT_RE = re.compile(r"\{\w+\}")


def pool_words(pools: PoolSet) -> list[str]:
    """Group 2 of the id order: pool words in file order, each once."""
    words = list(pools.first_names) + list(pools.middle_names) + list(pools.last_names) + list(MONTHS)
    words += [str(d) for d in range(1, DAYS_PER_MONTH + 1)] + [str(y) for y in pools.years]
    for values in (pools.cities, pools.universities, pools.majors, pools.companies, pools.company_cities):
        for value in values:
            words.extend(split_words(value))
    return list(dict.fromkeys(words))


def template_words(templates: str | TemplateSet, pronouns: Sequence[str]) -> set[str]:
    """Words of every template in every pronoun and subject form (values and names left out)."""
    template_set = as_template_set(templates)
    subjects = {"name": "\x00", "pronoun": None, "person": "the person"}
    words: set[str] = set()
    for attribute in ATTRIBUTES:
        for template in template_set.templates[attribute]:
            for pronoun in pronouns:
                for mode in SUBJECT_MODES:
                    filled = fill_placeholders(template, pronoun, subjects[mode]).replace("\x00", " ")
                    words.update(split_words(filled.replace("{V}", " ")))
    words.update(split_words(_SLOT_RE.sub(" ", NAME_SENTENCE)))
    return words


def format_words(pools: PoolSet, templates: str | TemplateSet, pronouns: Sequence[str],
                 manipulation: bool, paraphrase: bool) -> set[str]:
    """Group 3 of the id order (before sorting): all non-pool words of the config."""
    words = template_words(templates, pronouns)
    for question in QA_QUESTIONS.values():
        words.update(split_words(_SLOT_RE.sub(" ", question)))
    words.update(split_words(ANSWER_CUE))
    words.update({".", ","})
    if manipulation:
        words.update(manipulation_words())
        for name in DEFAULT_TASKS:
            task = get_task(name)
            if task.kind in ("classification", "comparison"):
                words.update(answer_support(name, pools))
    if paraphrase:
        words.update(paraphrase_words(pools, templates, pronouns))
    return words


def build_tokenizer(pools: PoolSet | str = "ci", templates: str | TemplateSet | None = None,
                    pronouns: Sequence[str] = ("he", "she"), *, manipulation: bool = True, paraphrase: bool = False,
                    extra_specials: Sequence[str] = ()) -> WordTokenizer:
    """The vocabulary of one data config (see the module docstring for the id order).

    ``pools`` is a PoolSet or a profile name; ``templates`` defaults to ``short`` for ci/cpu pools and
    ``full`` for the full pools. ``manipulation`` adds the Part 3.2 task words (keep it on
    when a checkpoint will later be fine-tuned on them: a vocabulary cannot grow after pretraining).
    """
    if isinstance(pools, str):
        pools = pools_for_profile(pools)
    if templates is None:
        templates = default_template_set(pools)
    specials = list(SPECIAL_TOKENS) + [s for s in extra_specials if s not in SPECIAL_TOKENS]
    ordered = pool_words(pools)
    seen = set(ordered) | set(specials)
    extra = sorted(format_words(pools, templates, pronouns, manipulation, paraphrase) - seen)
    return WordTokenizer(ordered + extra, specials=specials)


def require_same_vocabulary(data: WordTokenizer, checkpoint: WordTokenizer, data_name: str = "dataset",
                            checkpoint_name: str = "checkpoint") -> None:
    """Raise ValueError naming both sides when two vocabularies differ: ids would silently
    mean different words."""
    if data == checkpoint:
        return
    a, b = data.id_to_token, checkpoint.id_to_token
    first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    raise ValueError(
        f"the vocabulary of {data_name} ({len(a)} tokens) differs from that of {checkpoint_name} ({len(b)} tokens); "
        f"first difference at id {first}: {a[first] if first < len(a) else None!r} vs "
        f"{b[first] if first < len(b) else None!r}. Rebuild the data with the checkpoint's config."
    )


def default_template_set(pools: PoolSet) -> str:
    """``full`` templates for the full (gpu) pools, ``short`` for the small profiles (kit choice)."""
    return "full" if pools.profile == "gpu" else "short"


# --- ids and loss weights ----------------------------------------------------------------------------------
def encode_entry(entry: BioEntry, tokenizer: WordTokenizer) -> tuple[np.ndarray, np.ndarray]:
    """A biography entry as (ids, weights); every token is trained on (weight 1)."""
    ids = np.asarray(tokenizer.encode(entry.text), dtype=np.int64)
    return ids, np.ones(len(ids), dtype=np.float32)


def encode_entries(entries: Iterable[BioEntry], tokenizer: WordTokenizer) -> list[tuple[np.ndarray, np.ndarray]]:
    """Encode many entries (e.g. ``[e for person in bios for e in person]``)."""
    return [encode_entry(e, tokenizer) for e in entries]


def encode_qa(qa: QAPair, tokenizer: WordTokenizer) -> tuple[np.ndarray, np.ndarray]:
    """A QA line as (ids, weights): weight 1 on the completion (hint, answer and their periods), 0 on the
    question, mode token and ``Answer:``."""
    prompt = tokenizer.encode(qa.prompt)
    completion = tokenizer.encode(qa.completion)
    ids = np.asarray(prompt + completion, dtype=np.int64)
    weights = np.zeros(len(ids), dtype=np.float32)
    weights[len(prompt):] = 1.0
    return ids, weights


def encode_qas(qas: Iterable[QAPair], tokenizer: WordTokenizer) -> list[tuple[np.ndarray, np.ndarray]]:
    return [encode_qa(qa, tokenizer) for qa in qas]


def encode_prompt(qa: QAPair, tokenizer: WordTokenizer) -> np.ndarray:
    """The evaluation prompt ids: ``<eos>``, question [+ mode token], ``Answer:``; never the biography.

    The leading ``<eos>`` is what precedes every QA line in training (packed windows start with it and
    separate lines with it). Without it the model meets a question where it never saw one: measured on
    a cpu-profile LoRA, first-token accuracy on its own *training* people fell from 100% to 31% for the
    university question.
    """
    return np.asarray(tokenizer.encode(["<eos>"]) + tokenizer.encode(qa.prompt), dtype=np.int64)


def encode_name_query(person: Person, tokenizer: WordTokenizer) -> np.ndarray:
    """The Q-probe input ``<eos> First Middle Last <q>`` [3.1 §5.2]: the name alone, no biography."""
    return np.asarray(tokenizer.encode(["<eos>", person.first, person.middle, person.last, "<q>"]), dtype=np.int64)


def entry_token_spans(entry: BioEntry) -> list[tuple[str, int, int]]:
    """``(attribute, first token, end token)`` of each value in the entry's token sequence, in text order.

    The token before the first value token is the P-probe position; the first value token is where
    BIO first-token accuracy is read [3.1 §3.1, §5.1].
    """
    out = []
    for attribute, start, end in entry.spans:
        first = len(split_words(entry.text[:start]))
        out.append((attribute, first, first + len(split_words(entry.text[start:end]))))
    return out


def name_token_span(entry: BioEntry) -> tuple[int, int] | None:
    """Token span of the entry's first full-name mention (for the name loss of Part 3.3)."""
    if entry.name_span is None:
        return None
    start, end = entry.name_span
    first = len(split_words(entry.text[:start]))
    return first, first + len(split_words(entry.text[start:end]))
