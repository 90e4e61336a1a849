"""bioS-compact: the people of bioS with the template words left out (kit decision).

Part 3.3 measures knowledge in bits, and only the name and the values carry any [P3.3 §3, Def. 4.3]; the
template sentences of bioS spend most of an entry's tokens on words like "received mentorship and guidance
from". bioS-compact keeps the real bioS facts and pools (the very people :func:`plmkit.data.bios.sample_people`
draws, so ``make_world("bioS", N, seed)`` and ``make_world("bioS-compact", N, seed)`` hold the same people)
and writes each exposure as the full name followed by one ``<attribute> value`` pair per attribute::

    Anya Briar Forger <major> Communications <gender> she <birth_date> October 2 , 1996 <company> Meta
    Platforms <university> Massachusetts Institute of Technology <birth_city> Princeton , NJ
    <company_city> Menlo Park , CA

The seven pairs are the six bioS attributes and the gender (which bioS states with its pronouns), in a fresh
random order at every exposure, like online bioS writes every exposure anew [P3.3 §2.2]. Values are the
canonical bioS answers, tokenized as bioS tokenizes them. With the full pools a line averages 28.05 tokens,
29.05 with the ``<eos>`` that separates lines in a window, against 69.4 for a bioS text entry (full templates).

Bits [P3.3 Def. 4.3], unchanged from bioS: p1 sums the losses of the three name tokens after ``<eos>``;
p2 sums the losses of every value token of birth date, birth city, university, major and employer and of
the gender word; the company-city tokens are never counted (the employer determines them) [P3.3 §4 fn 12].
N0 and S0 are those of bioS (log2 S0 = 47.59 for the full pools and two pronouns).

The company city: many employers share a headquarters city but most cities host few employers, so a model
that read the city first could predict the employer from a city-to-employer table alone, without knowing
anything about the person. Training lines use every order; the *measurement* lines always put the employer
before the company city (one random order, the two swapped when needed; see ``eval_render``), so the
employer's loss is paid before the city can help.

Vocabulary (kit choice): ``<pad> <eos> <tag>`` (the ids of bioD), the seven attribute tokens, the bioS pool
words in bioS's order, then the pronouns: about 3,070 tokens for the full pools.

Junk people for Part 3.3's junk-data runs [P3.3 §10] come from the same pools: names uniform over the name
space (never a useful person's), values uniform over their pools (:meth:`BioSCompact.draw_junk`,
:class:`CompactJunkWindows`).
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
import torch

from plmkit.data.bios.people import Person, sample_people
from plmkit.data.bios.pools import ATTRIBUTES, DAYS_PER_MONTH, MONTHS, PoolSet, information_bits, pools_for_profile
from plmkit.data.bios.vocab import pool_words
from plmkit.data.capacity.biod import EOS_ID, SPECIAL_TOKENS, TAG_ID, FreshExposures, RaggedLines, pack_ragged_lines
from plmkit.data.capacity.bits import (LogitsFn, bios_learned_bits, bios_max_bits, counted_parameters, masked_sums,
                                       token_losses)
from plmkit.data.capacity.eval_render import FULL_MEASUREMENT_LIMIT, BioSMeasurement, BioSRows, company_before_city
from plmkit.data.packing import step_rng
from plmkit.tokenizer import WordTokenizer, split_words

PAIRS = ATTRIBUTES + ("gender",)  # the seven (attribute, value) pairs of a line, in this index order
CUE_TOKENS = tuple(f"<{a}>" for a in PAIRS)
STORED_PAIRS = ("birth_date", "birth_city", "university", "major", "company", "gender")  # company_city excluded
COMPANY, COMPANY_CITY = PAIRS.index("company"), PAIRS.index("company_city")
NAME_LENGTH = 3

# Columns of a person's index row: name parts, then what each pair's value is looked up by.
FIRST, MIDDLE, LAST, GENDER, DATE, CITY, UNIVERSITY, MAJOR, EMPLOYER = range(9)
_PAIR_COLUMN = {"birth_date": DATE, "birth_city": CITY, "university": UNIVERSITY, "major": MAJOR,
                "company": EMPLOYER, "company_city": EMPLOYER, "gender": GENDER}

# Token labels (what part of a line a token is), used for the measurement masks.
TAG_LABEL, NAME_LABEL = 0, 1


def cue_label(pair: int) -> int:
    """Label of the attribute token of pair ``pair`` (an index into PAIRS)."""
    return 2 + 2 * pair


def value_label(pair: int) -> int:
    """Label of the value tokens of pair ``pair``."""
    return 3 + 2 * pair


def build_compact_tokenizer(pools: PoolSet, pronouns: Sequence[str] = ("he", "she")) -> WordTokenizer:
    """The bioS-compact vocabulary: specials, attribute tokens, bioS pool words, pronouns (see the module docstring)."""
    words = list(CUE_TOKENS) + pool_words(pools)
    return WordTokenizer(words + [p for p in pronouns if p not in set(words)], specials=SPECIAL_TOKENS)


def _table(rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Token-id rows of different lengths as a right-padded matrix and the lengths."""
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    matrix = np.zeros((len(rows), int(lengths.max())), dtype=np.int64)
    for i, r in enumerate(rows):
        matrix[i, :len(r)] = r
    return matrix, lengths


class BioSCompact:
    """bioS-compact data about ``people`` (see the module docstring).

    Every person is a row of indices into the pools (``index``, columns FIRST .. EMPLOYER); lines are rendered
    from those rows with array operations, so a pass over 20K people takes milliseconds, not seconds.
    """

    def __init__(self, people: Sequence[Person], pools: PoolSet, pronouns: Sequence[str] = ("he", "she"),
                 seed: Optional[int] = None):
        self.people, self.pools, self.pronouns, self.seed = list(people), pools, tuple(pronouns), seed
        self.tokenizer = build_compact_tokenizer(pools, self.pronouns)
        tid = self.tokenizer.token_to_id
        self.name_ids = [np.array([tid[w] for w in names], dtype=np.int64)
                         for names in (pools.first_names, pools.middle_names, pools.last_names)]
        self.cue_ids = np.array([tid[c] for c in CUE_TOKENS], dtype=np.int64)

        def ids(value: str) -> list[int]:
            return [tid[w] for w in split_words(value)]

        months, days = [tid[m] for m in MONTHS], [tid[str(d)] for d in range(1, DAYS_PER_MONTH + 1)]
        years, comma = [tid[str(y)] for y in pools.years], tid[","]
        dates = np.array([[months[m], days[d], comma, years[y]] for y in range(len(years)) for m in range(12)
                          for d in range(DAYS_PER_MONTH)], dtype=np.int64)
        tables = {
            "birth_date": (dates, np.full(len(dates), 4, dtype=np.int64)),
            "birth_city": _table([ids(v) for v in pools.cities]),
            "university": _table([ids(v) for v in pools.universities]),
            "major": _table([ids(v) for v in pools.majors]),
            "company": _table([ids(v) for v in pools.companies]),
            "company_city": _table([ids(v) for v in pools.company_cities]),  # indexed by employer
            "gender": _table([[tid[p]] for p in self.pronouns]),
        }
        self.tables = [tables[p] for p in PAIRS]
        self.columns = [_PAIR_COLUMN[p] for p in PAIRS]
        self.pool_sizes = (len(pools.first_names), len(pools.middle_names), len(pools.last_names), len(self.pronouns),
                           len(dates), len(pools.cities), len(pools.universities), len(pools.majors),
                           len(pools.companies))
        self.width = max(NAME_LENGTH + 1, 1 + max(t[0].shape[1] for t in self.tables))  # widest segment
        self.index = self._index_people(self.people)
        self._name_codes = np.sort(self.name_codes(self.index))

    # --- people as index rows ---------------------------------------------------------------------------
    def _index_people(self, people: Sequence[Person]) -> np.ndarray:
        pools = self.pools
        lookups = [{v: i for i, v in enumerate(values)} for values in
                   (pools.first_names, pools.middle_names, pools.last_names, self.pronouns, pools.years, pools.cities,
                    pools.universities, pools.majors, pools.companies)]
        first, middle, last, pronoun, year, city, university, major, company = lookups
        rows = []
        for p in people:
            if pools.headquarters_of(p.company) != p.company_city:
                raise ValueError(f"person {p.pid}: company city {p.company_city!r} is not the headquarters "
                                 f"of {p.company!r}")
            date = (year[p.birth_year] * 12 + p.birth_month - 1) * DAYS_PER_MONTH + p.birth_day - 1
            rows.append((first[p.first], middle[p.middle], last[p.last], pronoun[p.pronoun], date, city[p.birth_city],
                         university[p.university], major[p.major], company[p.company]))
        return np.array(rows, dtype=np.int64).reshape(len(rows), 9)

    def name_codes(self, index: np.ndarray) -> np.ndarray:
        """One integer per full name (to tell names apart quickly)."""
        n_middle, n_last = self.pool_sizes[MIDDLE], self.pool_sizes[LAST]
        return (index[:, FIRST] * n_middle + index[:, MIDDLE]) * n_last + index[:, LAST]

    @property
    def n_people(self) -> int:
        return len(self.index)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    # --- rendering ----------------------------------------------------------------------------------------
    def draw_orders(self, rng: np.random.Generator, n: Optional[int] = None) -> np.ndarray:
        """(n, 7) uniformly random pair orders: row i lists the pair indices (into PAIRS) in text order."""
        return np.argsort(rng.random((self.n_people if n is None else n, len(PAIRS))), axis=1)

    def employer_first_orders(self, rng: np.random.Generator, n: Optional[int] = None) -> np.ndarray:
        """Random pair orders with the employer before the company city (the measurement's orders)."""
        return company_before_city(self.draw_orders(rng, n), COMPANY, COMPANY_CITY)

    def render(self, orders: np.ndarray, index: Optional[np.ndarray] = None, tag: bool = False,
               labels: bool = False) -> RaggedLines:
        """Lines of the people ``index`` (default: everyone, in order), pairs in ``orders``; ``tag`` starts every
        line with ``<tag>``; ``labels`` also returns what every token is (TAG_LABEL, NAME_LABEL, cue_label(k),
        value_label(k))."""
        index = self.index if index is None else np.asarray(index, dtype=np.int64)
        n, slots, width = len(index), 1 + len(PAIRS), self.width
        segments = np.zeros((n, slots, width), dtype=np.int64)
        lengths = np.empty((n, slots), dtype=np.int64)
        head = int(tag)
        if tag:
            segments[:, 0, 0] = TAG_ID
        for j in range(NAME_LENGTH):
            segments[:, 0, head + j] = self.name_ids[j][index[:, j]]
        lengths[:, 0] = head + NAME_LENGTH
        for k, ((matrix, value_lengths), column) in enumerate(zip(self.tables, self.columns)):
            rows = index[:, column]
            segments[:, k + 1, 0] = self.cue_ids[k]
            segments[:, k + 1, 1:1 + matrix.shape[1]] = matrix[rows]
            lengths[:, k + 1] = 1 + value_lengths[rows]
        slot_order = np.concatenate([np.zeros((n, 1), dtype=np.int64), np.asarray(orders) + 1], axis=1)
        segments = np.take_along_axis(segments, slot_order[:, :, None], axis=1)
        lengths = np.take_along_axis(lengths, slot_order, axis=1)
        inside = np.arange(width)[None, None, :] < lengths[:, :, None]
        token_labels = None
        if labels:
            template = np.empty((slots, width), dtype=np.int8)
            template[0] = NAME_LABEL
            template[0, :head] = TAG_LABEL
            for k in range(len(PAIRS)):
                template[k + 1] = value_label(k)
                template[k + 1, 0] = cue_label(k)
            token_labels = template[slot_order][inside]
        return RaggedLines(segments[inside], lengths.sum(axis=1), token_labels)

    def lines(self, rng: np.random.Generator, tag: bool = False) -> RaggedLines:
        """One exposure of every person, in person order, each with a fresh pair order."""
        return self.render(self.draw_orders(rng), tag=tag)

    def text(self, lines: RaggedLines, i: int) -> str:
        """Line i as words, e.g. for printing an example."""
        return " ".join(self.tokenizer.tokens(lines.line(i).tolist()))

    # --- sizes and bits -----------------------------------------------------------------------------------
    def line_lengths(self, tag: bool = False) -> np.ndarray:
        """Tokens of every person's line (the same in every order), without the separating ``<eos>``."""
        return self.render(np.tile(np.arange(len(PAIRS)), (self.n_people, 1)), tag=tag).lengths

    @property
    def log2_S0(self) -> float:
        """Value bits per person [P3.3 Def. 4.3, Remark 4.4] for these pools and pronouns."""
        return information_bits(self.pools, len(self.pronouns))["log2_S0"]

    def max_bits(self):
        """A perfect model's bits, N*log2(N0/N) + N*log2 S0 [P3.3 Def. 4.3]: exactly bioS's."""
        return bios_max_bits(self.n_people, self.pools.name_space_size, self.log2_S0)

    def used_token_ids(self, tag: bool = False) -> np.ndarray:
        """Ids that occur in the training lines: ``<eos>``, the attribute tokens, these people's names and values
        (``<tag>`` too with ``tag``). Part 3.3 counts only their embedding rows [P3.3 App. A]."""
        tokens = self.render(np.tile(np.arange(len(PAIRS)), (self.n_people, 1)), tag=tag).tokens
        return np.unique(np.concatenate([[EOS_ID], tokens]))

    def describe(self) -> str:
        per_exposure = float(self.line_lengths().mean()) + 1
        return (f"bioS-compact, N = {self.n_people:,} people, {per_exposure:.1f} tokens per exposure, "
                f"vocabulary {self.vocab_size:,}, {self.pools.describe()}")

    # --- junk people [P3.3 §10] -------------------------------------------------------------------------
    def draw_junk(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Index rows of n junk people: every column uniform over its pool, names never a useful person's (rows
        with a taken name are redrawn). Junk names may repeat among themselves, each time with new values.
        Draw order: the nine columns for all n rows (FIRST .. EMPLOYER), then the redraws."""
        def draw(m: int) -> np.ndarray:
            return np.stack([rng.integers(0, size, size=m) for size in self.pool_sizes], axis=1)

        useful = self._name_codes  # sorted
        rows = draw(n)
        while True:
            codes = self.name_codes(rows)
            at = np.minimum(np.searchsorted(useful, codes), len(useful) - 1)
            taken = useful[at] == codes if len(useful) else np.zeros(len(codes), dtype=bool)
            if not taken.any():
                return rows
            rows[taken] = draw(int(taken.sum()))


def generate_bios_compact(n_people: int, seed: int = 0, pools: Union[PoolSet, str] = "gpu",
                          pronouns: Sequence[str] = ("he", "she")) -> BioSCompact:
    """bioS-compact about ``sample_people(n_people, pools, seed)``: the same people as bioS with that seed."""
    pools = pools_for_profile(pools) if isinstance(pools, str) else pools
    return BioSCompact(sample_people(n_people, pools, seed, pronouns=pronouns), pools, pronouns, seed=seed)


# --------------------------------------------------------------------------------------------------
# Training streams
# --------------------------------------------------------------------------------------------------
def bios_compact_dataset(data: BioSCompact, context: int, batch_size: int, seed: int = 0,
                         tag: bool = False) -> FreshExposures:
    """Training stream: every pass shows every person once, in a fresh pair order (``tag``: lines start with
    ``<tag>``; measure with ``measure_bios_compact(..., tag=True)`` then)."""
    longest = int(data.line_lengths(tag).max())
    if longest + 2 > context + 1:
        raise ValueError(f"a bioS-compact line of {longest} tokens does not fit a context of {context}")
    return FreshExposures(lambda rng: data.lines(rng, tag), context, batch_size, EOS_ID, seed, people=data.n_people)


class CompactJunkWindows:
    """Junk windows for the junk-data runs [P3.3 §10], a pure function of (seed, step): ``random`` junk
    people drawn afresh every time, or ``repetitive`` draws from a fixed set of ``pool_people`` junk people.
    Same interface as the bioD ``JunkWindows``: ``windows(step, n)`` gives n packed windows."""

    def __init__(self, useful: BioSCompact, kind: str, context: int, seed: int, pool_people: int = 0):
        if kind not in ("random", "repetitive"):
            raise ValueError(f"unknown junk kind {kind!r}; valid: random, repetitive")
        if kind == "repetitive" and pool_people < 1:
            raise ValueError(f"repetitive junk needs pool_people >= 1, got {pool_people}")
        self.useful, self.kind, self.context, self.seed = useful, kind, context, seed
        shortest = NAME_LENGTH + sum(1 + int(lengths.min()) for _, lengths in useful.tables)
        self.max_per_window = context // (shortest + 1)  # an upper bound on the lines one window can hold
        self.pool = useful.draw_junk(np.random.default_rng([seed, 0]), pool_people) if kind == "repetitive" else None

    def windows(self, step: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        rng = step_rng(self.seed, step)
        lines = n * self.max_per_window + 1  # enough for n full windows
        if self.pool is None:
            index = self.useful.draw_junk(rng, lines)
        else:
            index = self.pool[rng.integers(0, len(self.pool), size=lines)]
        tokens, weights = pack_ragged_lines(self.useful.render(self.useful.draw_orders(rng, lines), index),
                                            self.context, EOS_ID)
        return tokens[:n], weights[:n]


# --------------------------------------------------------------------------------------------------
# Measuring a model [P3.3 Def. 4.3]
# --------------------------------------------------------------------------------------------------
def measurement_rows(data: BioSCompact, seed: Union[int, np.random.Generator] = 0,
                     people: Optional[np.ndarray] = None, tag: bool = False,
                     orders: Optional[np.ndarray] = None) -> BioSRows:
    """Rows ``<eos> [<tag>] line <pad>...`` of the given people (default: everyone) with the employer before the
    company city (unless ``orders`` are given), and the masks of the tokens that make p1 and p2: the name; the
    values of birth date, birth city, university, major, employer and the gender word; the company city (never
    counted). Mask column t is line token t (the loss columns of ``token_losses``)."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    index = data.index if people is None else data.index[np.asarray(people, dtype=np.int64)]
    if orders is None:
        orders = data.employer_first_orders(rng, len(index))
    lines, labels = data.render(orders, index, tag=tag, labels=True).padded()
    tokens = np.concatenate([np.full((len(lines), 1), EOS_ID, dtype=np.int64), lines], axis=1)
    stored = [value_label(PAIRS.index(p)) for p in STORED_PAIRS]
    return BioSRows(tokens, labels == NAME_LABEL, np.isin(labels, stored), labels == value_label(COMPANY_CITY))


def compact_losses(token_loss, rows: BioSRows) -> tuple[np.ndarray, np.ndarray]:
    """Per-person p1 (name) and p2 (summed value) losses in nats from per-token losses (n, S)."""
    return masked_sums(token_loss, rows.name_mask), masked_sums(token_loss, rows.value_mask)


def measure_bios_compact(model: Union[torch.nn.Module, LogitsFn], data: BioSCompact, *, tag: bool = False,
                         parameters: Optional[int] = None, seed: int = 0, sample: Optional[int] = None,
                         batch_size: int = 256, device=None) -> BioSMeasurement:
    """Bits a model stores about the bioS-compact people [P3.3 Def. 4.3], one batched pass.

    Measures everyone up to 20K people, else a seeded sample of 20K (``sample`` overrides); the bits always
    refer to all N people. ``tag``: the model was trained on ``<tag>``-prefixed lines.
    """
    rng = np.random.default_rng(seed)
    limit = FULL_MEASUREMENT_LIMIT if sample is None else sample
    chosen = None
    if data.n_people > limit:
        chosen = np.sort(rng.choice(data.n_people, limit, replace=False))
    rows = measurement_rows(data, rng, chosen, tag)
    p1, p2 = compact_losses(token_losses(model, rows.tokens, batch_size, device), rows)
    n, name_space = data.n_people, data.pools.name_space_size
    if parameters is None:
        if not isinstance(model, torch.nn.Module):
            raise ValueError("pass parameters=... when measuring a logits function instead of a model")
        parameters = counted_parameters(model, data.used_token_ids(tag))
    return BioSMeasurement(p1=float(p1.mean()), p2=float(p2.mean()),
                           learned=bios_learned_bits(n, name_space, data.log2_S0, float(p1.mean()), float(p2.mean())),
                           max_bits=data.max_bits(), parameters=int(parameters), people_measured=len(rows.tokens))
