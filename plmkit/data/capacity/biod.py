"""bioD(N, K, C, D, L, T): the random-fact data of Part 3.3, and fresh-exposure training streams.

A piece of knowledge is a tuple (name, attribute, value) [P3.3 §2.1]. bioD draws it at random, so the
number of bits in the data is known exactly (:mod:`plmkit.data.capacity.bits`):

* **N** names, drawn uniformly *without replacement* from a name space of N0 = prod(name_pools) names;
  a name is one token per position, position j taking one of the first ``name_pools[j]`` name tokens;
* **K** attributes, written as the tokens ``ID1`` .. ``IDK``;
* every attribute a has a pool of **D** distinct chunks, each a string of **L** value tokens out of an
  alphabet of **T** (``v0`` .. ``v{T-1}``);
* the value of (name, attribute) is **C** chunks, each drawn uniformly from the attribute's pool.

Generation follows [P3.3 Def. 2.2] with one numpy Generator seeded once, in a fixed draw order: the N
names, then the K pools (attribute 1 first), then the N x K x C chunk indices. The same seed gives the
same data bit for bit.

Text: one line per person and exposure, ``name  IDa v..v  IDb v..v ...`` with the K (attribute, value)
pairs in a fresh random order every time the person is shown (the paper writes each person as one
paragraph in random sentence order, one fixed template [P3.3 §2.2]; the kit drops the template words,
which carry no knowledge). bioD-tiny's line is 2 + 8 x 2 = 18 tokens, 19 with the ``<eos>`` that
separates lines in a window.

Training streams: :class:`FreshExposures` plugs into ``plmkit.data.packing`` like ``FixedDataset``,
but every pass over the people renders every person again (new order; for bioS also new templates).
:func:`bios_online_dataset` is Part 3.3's online bioS(N): "every exposure a new writing" [P3.3 §2.2].
Lines of different lengths (bioS-compact) travel as :class:`RaggedLines` and are packed without a
per-token Python loop (:func:`pack_ragged_lines`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Iterator, Optional, Sequence, Union

import numpy as np

from plmkit.data.packing import Example, ExampleLike, FixedDataset, pack_windows, step_rng
from plmkit.tokenizer import WordTokenizer

SPECIAL_TOKENS = ("<pad>", "<eos>", "<tag>")  # <tag>: the domain tag of the junk-data experiments [P3.3 §10]
EOS_ID, TAG_ID = 1, 2
PAPER_NAME_POOLS = (400, 400, 1000)  # the bioS name space, N0 = 1.6e8 [P3.3 §2.1]
_EXACT_POOL_LIMIT = 2 ** 62  # below this many strings, pools are drawn with one exact without-replacement call


# --------------------------------------------------------------------------------------------------
# Configuration and presets
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BioDConfig:
    """The hyperparameters of bioD(N, K, C, D, L, T) plus the name space (see the module docstring)."""

    N: int
    K: int
    C: int
    D: int
    L: int
    T: int
    name_pools: tuple = PAPER_NAME_POOLS

    def __post_init__(self):
        object.__setattr__(self, "name_pools", tuple(int(p) for p in self.name_pools))
        for field_name in ("N", "K", "C", "D", "L", "T"):
            value = getattr(self, field_name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"bioD needs a positive integer {field_name}, got {value!r}")
        if self.T < 2:
            raise ValueError(f"bioD needs an alphabet of T >= 2 value tokens, got T={self.T}")
        if not self.name_pools or min(self.name_pools) < 1:
            raise ValueError(f"name_pools must be positive sizes, one per name token, got {self.name_pools}")
        if self.N > self.N0:
            raise ValueError(f"cannot draw N={self.N:,} distinct names from a name space of N0={self.N0:,} "
                             f"(name_pools={self.name_pools})")
        if self.D > self.strings_per_chunk:
            raise ValueError(f"cannot draw D={self.D:,} distinct chunks from T^L = {self.T}^{self.L} = "
                             f"{self.strings_per_chunk:,} strings")

    # --- sizes ------------------------------------------------------------------------------------
    @property
    def N0(self) -> int:
        """Size of the name space."""
        return math.prod(self.name_pools)

    @property
    def strings_per_chunk(self) -> int:
        """T^L, the number of possible chunks (an exact Python integer, however large)."""
        return self.T ** self.L

    @property
    def name_length(self) -> int:
        return len(self.name_pools)

    @property
    def value_length(self) -> int:
        """Tokens per value: C chunks of L tokens."""
        return self.C * self.L

    @property
    def line_length(self) -> int:
        """Tokens of one rendered person (without the separating ``<eos>``)."""
        return self.name_length + self.K * (1 + self.value_length)

    # --- token ids: specials, name tokens, attribute tokens, value tokens ---------------------------
    @property
    def name_token_count(self) -> int:
        return max(self.name_pools)

    @property
    def first_attribute_id(self) -> int:
        return len(SPECIAL_TOKENS) + self.name_token_count

    @property
    def first_value_id(self) -> int:
        return self.first_attribute_id + self.K

    @property
    def vocab_size(self) -> int:
        return self.first_value_id + self.T

    def describe(self) -> str:
        return (f"bioD(N={self.N:,}, K={self.K}, C={self.C}, D={self.D:,}, L={self.L}, T={self.T:,}), "
                f"names {'x'.join(map(str, self.name_pools))} (N0={self.N0:,}), "
                f"{self.line_length} tokens per person, vocabulary {self.vocab_size:,}")


# Named presets. bioD-tiny is the cpu profile's dataset: 8 attributes, one 1-token chunk from 64 of 256
# value tokens, 2-token names from a 256-token pool; bioD-ci is its ci-profile cut (K = 4, N = 100).
PRESETS: dict[str, BioDConfig] = {
    "bioD-ci": BioDConfig(N=100, K=4, C=1, D=64, L=1, T=256, name_pools=(256, 256)),
    "bioD-tiny": BioDConfig(N=1000, K=8, C=1, D=64, L=1, T=256, name_pools=(256, 256)),
    "bioD-medium": BioDConfig(N=20_000, K=8, C=2, D=512, L=2, T=4096, name_pools=PAPER_NAME_POOLS),
}


def preset(name: str, **overrides) -> BioDConfig:
    """A named preset, optionally with some fields replaced (e.g. ``preset("bioD-tiny", N=500)``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown bioD preset {name!r}; valid presets: {', '.join(PRESETS)}")
    valid = {"N", "K", "C", "D", "L", "T", "name_pools"}
    bad = sorted(set(overrides) - valid)
    if bad:
        raise ValueError(f"unknown bioD fields {bad}; valid fields: {', '.join(sorted(valid))}")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})


# --------------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------------
def _digits(codes: np.ndarray, radices: Sequence[int]) -> np.ndarray:
    """Mixed-radix digits of integer codes, most significant first: (n,) -> (n, len(radices))."""
    out = np.empty((len(codes), len(radices)), dtype=np.int64)
    rest = np.asarray(codes, dtype=np.int64).copy()
    for j in range(len(radices) - 1, -1, -1):
        rest, out[:, j] = np.divmod(rest, radices[j])
    return out


def _draw_names(rng: np.random.Generator, config: BioDConfig) -> np.ndarray:
    """N distinct names as (N, name_length) per-position indices; uniform without replacement."""
    if config.N0 <= _EXACT_POOL_LIMIT:
        return _digits(rng.choice(config.N0, size=config.N, replace=False), config.name_pools)
    return _draw_distinct_rows(rng, config.N, list(config.name_pools))


def _draw_distinct_rows(rng: np.random.Generator, n: int, radices: list) -> np.ndarray:
    """n distinct rows of digits (row j uniform in radices[j]); duplicates are redrawn in row order.

    Used only when the space has more than 2^62 strings, where a duplicate is astronomically rare.
    """
    rows = np.stack([rng.integers(0, r, size=n) for r in radices], axis=1)
    while True:
        first = np.zeros(n, dtype=bool)
        first[np.unique(rows, axis=0, return_index=True)[1]] = True
        n_bad = int((~first).sum())
        if n_bad == 0:
            return rows
        rows[~first] = np.stack([rng.integers(0, r, size=n_bad) for r in radices], axis=1)


def _draw_pool(rng: np.random.Generator, config: BioDConfig) -> np.ndarray:
    """One attribute's pool: D distinct chunks of L value-token indices, (D, L), uniform from T^L."""
    if config.strings_per_chunk <= _EXACT_POOL_LIMIT:
        codes = rng.choice(config.strings_per_chunk, size=config.D, replace=False)
        return _digits(codes, [config.T] * config.L)
    return _draw_distinct_rows(rng, config.D, [config.T] * config.L)


@dataclass
class BioD:
    """One drawn bioD dataset. Arrays hold indices into the name / value alphabets, not vocabulary ids.

    ``names`` (N, name_length), ``pools`` (K, D, L), ``chunks`` (N, K, C): person n's value of attribute
    a is ``pools[a, chunks[n, a]]`` flattened, C x L tokens.
    """

    config: BioDConfig
    seed: int
    names: np.ndarray
    pools: np.ndarray
    chunks: np.ndarray

    # --- vocabulary ids -------------------------------------------------------------------------------
    @property
    def name_ids(self) -> np.ndarray:
        """(N, name_length) vocabulary ids of every name."""
        return self.names + len(SPECIAL_TOKENS)

    @property
    def attribute_ids(self) -> np.ndarray:
        """(K,) vocabulary ids of ``ID1`` .. ``IDK``."""
        return np.arange(self.config.K, dtype=np.int64) + self.config.first_attribute_id

    @property
    def value_ids(self) -> np.ndarray:
        """(N, K, C*L) vocabulary ids of every value."""
        cfg = self.config
        tokens = self.pools[np.arange(cfg.K)[None, :, None], self.chunks]  # (N, K, C, L)
        return tokens.reshape(cfg.N, cfg.K, cfg.value_length) + cfg.first_value_id

    def tokenizer(self) -> WordTokenizer:
        """The vocabulary: specials, name tokens ``n0..``, ``ID1..IDK``, value tokens ``v0..v{T-1}``."""
        cfg = self.config
        words = ([f"n{i}" for i in range(cfg.name_token_count)] + [f"ID{a + 1}" for a in range(cfg.K)]
                 + [f"v{t}" for t in range(cfg.T)])
        return WordTokenizer(words, specials=SPECIAL_TOKENS)

    def used_token_ids(self) -> np.ndarray:
        """Ids that occur in the training text (``<eos>``, the drawn names, ``ID*``, the drawn values);
        Part 3.3 counts only their embedding rows as parameters [P3.3 App. A]."""
        used = np.concatenate([[EOS_ID], self.name_ids.ravel(), self.attribute_ids, self.value_ids.ravel()])
        return np.unique(used)

    # --- rendering --------------------------------------------------------------------------------------
    def draw_orders(self, rng: np.random.Generator, n: Optional[int] = None) -> np.ndarray:
        """(n, K) random attribute orders: row i lists the attributes in text order."""
        return np.argsort(rng.random((self.config.N if n is None else n, self.config.K)), axis=1)

    def render(self, orders: np.ndarray, people: Optional[np.ndarray] = None) -> np.ndarray:
        """Token ids (len(people), line_length) of the given people, attribute pairs in ``orders``."""
        cfg = self.config
        people = np.arange(cfg.N) if people is None else np.asarray(people, dtype=np.int64)
        attr = np.broadcast_to(self.attribute_ids[None, :, None], (len(people), cfg.K, 1))
        pairs = np.concatenate([attr, self.value_ids[people]], axis=2)  # (n, K, 1 + C*L) in attribute order
        in_text_order = np.take_along_axis(pairs, orders[:, :, None], axis=1)
        return np.concatenate([self.name_ids[people], in_text_order.reshape(len(people), -1)], axis=1)

    def value_positions(self, orders: np.ndarray) -> np.ndarray:
        """(n, K, C*L) positions, within a rendered line, of each attribute's value tokens."""
        cfg = self.config
        slot = np.argsort(orders, axis=1)  # slot[i, a]: where attribute a sits in person i's line
        first = cfg.name_length + slot * (1 + cfg.value_length) + 1
        return first[:, :, None] + np.arange(cfg.value_length)

    def lines(self, rng: np.random.Generator, tag: bool = False) -> np.ndarray:
        """(N, line_length) token ids of every person, attribute order fresh from ``rng``. ``tag`` starts
        every line with ``<tag>``, the domain tag that lets a model tell useful data from junk [P3.3 §10]."""
        lines = self.render(self.draw_orders(rng))
        if tag:
            lines = np.concatenate([np.full((len(lines), 1), TAG_ID, dtype=np.int64), lines], axis=1)
        return lines

    def examples(self, rng: np.random.Generator, tag: bool = False) -> list[Example]:
        """:meth:`lines` as packing examples; every token is trained on (loss weight 1)."""
        lines = self.lines(rng, tag)
        weights = np.ones(lines.shape[1], dtype=np.float32)
        return [Example(row, weights) for row in lines]

    def sample_examples(self, rng: np.random.Generator, n: int) -> list[Example]:
        """n people drawn with replacement, freshly rendered: a ``sample_fn`` for ``OnlineStream``."""
        people = rng.integers(0, self.config.N, size=n)
        return [Example(row) for row in self.render(self.draw_orders(rng, n), people)]

    def records(self) -> Iterator[dict]:
        """One JSON-ready dict per person: id, name and each attribute's value as token-id lists."""
        names, values = self.name_ids.tolist(), self.value_ids.tolist()
        keys = [f"ID{a + 1}" for a in range(self.config.K)]
        for i in range(self.config.N):
            yield {"id": i, "name": names[i], "attributes": dict(zip(keys, values[i]))}


def generate_biod(config: BioDConfig, seed: int = 0) -> BioD:
    """Draw a bioD dataset [P3.3 Def. 2.2]: names, then pools (attribute 1 first), then chunks."""
    rng = np.random.default_rng(seed)
    names = _draw_names(rng, config)
    pools = np.stack([_draw_pool(rng, config) for _ in range(config.K)])
    chunks = rng.integers(0, config.D, size=(config.N, config.K, config.C))
    return BioD(config, int(seed), names, pools, chunks)


# --------------------------------------------------------------------------------------------------
# Training streams: every pass a fresh rendering
# --------------------------------------------------------------------------------------------------
RenderPass = Callable[[np.random.Generator], Union[Sequence[ExampleLike], np.ndarray, "RaggedLines"]]


def pack_equal_lines(lines: np.ndarray, context: int, sep_id: int) -> tuple[np.ndarray, np.ndarray]:
    """``pack_windows(..., truncate=False)`` for lines of equal length, every token weight 1, without a
    Python loop: each window is ``<sep>`` then as many ``line <sep>`` pieces as fit, then padding.
    Returns the same (tokens, weights) arrays as ``pack_windows``."""
    n, length = lines.shape
    width, piece = context + 1, length + 1
    per_window = (width - 1) // piece
    if per_window < 1:
        raise ValueError(f"an example of {length} tokens does not fit a window of context {context}")
    n_windows = -(-n // per_window)
    pieces = np.zeros((n_windows * per_window, piece), dtype=np.int64)
    pieces[:n, :length], pieces[:n, length] = lines, sep_id
    tokens = np.zeros((n_windows, width), dtype=np.int64)
    tokens[:, 0] = sep_id
    tokens[:, 1:1 + per_window * piece] = pieces.reshape(n_windows, per_window * piece)
    weights = np.zeros((n_windows, width), dtype=np.float32)
    filled = np.zeros(n_windows * per_window, dtype=np.float32)
    filled[:n] = 1.0
    weights[:, 1:1 + per_window * piece] = np.repeat(filled, piece).reshape(n_windows, per_window * piece)
    return tokens, weights


@dataclass(frozen=True)
class RaggedLines:
    """Token lines of different lengths, stored flat: line i is ``tokens[starts[i]:starts[i] + lengths[i]]``.

    ``labels`` (optional, same shape as ``tokens``) tags every token with a small integer (what part of
    the line it belongs to); it follows the tokens through :meth:`take` and :meth:`padded`.
    """

    tokens: np.ndarray  # (total,) int64
    lengths: np.ndarray  # (n,) int64
    labels: Optional[np.ndarray] = None  # (total,) int8

    def __post_init__(self):
        if int(self.lengths.sum()) != len(self.tokens):
            raise ValueError(f"line lengths sum to {int(self.lengths.sum())}, but there are {len(self.tokens)} tokens")
        if self.labels is not None and self.labels.shape != self.tokens.shape:
            raise ValueError(f"labels shape {self.labels.shape} differs from tokens shape {self.tokens.shape}")

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)

    def line(self, i: int) -> np.ndarray:
        start = int(self.starts[i])
        return self.tokens[start:start + int(self.lengths[i])]

    def take(self, index: np.ndarray) -> "RaggedLines":
        """The lines ``index`` (an int array), in that order."""
        index = np.asarray(index, dtype=np.int64)
        lengths = self.lengths[index]
        out_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        source = np.repeat(self.starts[index] - out_starts, lengths) + np.arange(int(lengths.sum()))
        labels = None if self.labels is None else self.labels[source]
        return RaggedLines(self.tokens[source], lengths, labels)

    def padded(self, pad: int = 0) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """(n, longest) tokens padded on the right with ``pad`` (labels padded with -1)."""
        n, width = len(self), int(self.lengths.max(initial=0))
        inside = np.arange(width)[None, :] < self.lengths[:, None]
        tokens = np.full((n, width), pad, dtype=np.int64)
        tokens[inside] = self.tokens
        labels = None
        if self.labels is not None:
            labels = np.full((n, width), -1, dtype=np.int8)
            labels[inside] = self.labels
        return tokens, labels


def pack_ragged_lines(lines: RaggedLines, context: int, sep_id: int) -> tuple[np.ndarray, np.ndarray]:
    """``pack_windows(..., truncate=False)`` for :class:`RaggedLines`, every token weight 1: each window is
    ``<sep>`` then as many whole ``line <sep>`` pieces as fit, in order, then padding. Same arrays as
    ``pack_windows``; only the window assignment walks the lines in Python (integers, no arrays)."""
    width = context + 1
    pieces = lines.lengths + 1
    n = len(lines)
    if n == 0:
        return np.zeros((0, width), np.int64), np.zeros((0, width), np.float32)
    if int(pieces.max()) + 1 > width:
        raise ValueError(f"an example of {int(lines.lengths.max())} tokens does not fit a window of context {context}")
    window, offset = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    w, filled = 0, 1
    for i, piece in enumerate(pieces.tolist()):
        if filled + piece > width:
            w, filled = w + 1, 1
        window[i], offset[i] = w, filled
        filled += piece
    total = int(pieces.sum())
    line_of = np.repeat(np.arange(n), pieces)
    within = np.arange(total) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    is_token = within < lines.lengths[line_of]
    values = np.full(total, sep_id, dtype=np.int64)
    values[is_token] = lines.tokens
    tokens = np.zeros((w + 1, width), dtype=np.int64)
    tokens[:, 0] = sep_id
    weights = np.zeros((w + 1, width), dtype=np.float32)
    rows, cols = window[line_of], offset[line_of] + within
    tokens[rows, cols] = values
    weights[rows, cols] = 1.0
    return tokens, weights


class FreshExposures(FixedDataset):
    """Like ``FixedDataset`` (one exposure per person per pass, people shuffled every pass), but each
    pass renders every person again from ``render_pass(rng)``: a new attribute order for bioD, a new
    writing for online bioS. Pass e uses ``step_rng(seed, e)``, so batches are a pure function of
    (seed, step) and a resumed run sees the same data.

    ``render_pass`` returns examples, a 2-D array of equal-length token lines, or :class:`RaggedLines`
    (every token of a line trained on in both cases), which are packed without a per-token Python loop.
    ``steps_for(E)`` assumes every pass packs into as many windows as the first one; exact for bioD (all
    lines have the same length), within a window or two per pass for bioS text and bioS-compact, where
    counting exactly would render every pass twice.
    """

    def __init__(self, render_pass: RenderPass, context: int, batch_size: int, sep_id: int, seed: int = 0,
                 people: Optional[int] = None):
        # FixedDataset's fields, without its fixed example list.
        self.render_pass, self.people = render_pass, people
        self.context, self.batch_size, self.sep_id = context, batch_size, sep_id
        self.seed, self.shuffle = seed, True
        self._epoch_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._epoch_starts = [0]

    def epoch_windows(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        if epoch not in self._epoch_cache:
            rng = step_rng(self.seed, epoch)
            examples = self.render_pass(rng)
            if len(examples) == 0:
                raise ValueError("render_pass returned no examples")
            self.people = len(examples)
            order = rng.permutation(len(examples))
            if isinstance(examples, np.ndarray):  # equal-length lines, all trained on: the fast path
                tok, w = pack_equal_lines(examples[order], self.context, self.sep_id)
            elif isinstance(examples, RaggedLines):
                tok, w = pack_ragged_lines(examples.take(order), self.context, self.sep_id)
            else:
                tok, w, _ = pack_windows([examples[i] for i in order], self.context, self.sep_id, truncate=False)
            if len(self._epoch_cache) > 2:  # keep memory flat over long runs
                self._epoch_cache.pop(min(self._epoch_cache))
            self._epoch_cache[epoch] = (tok, w)
        return self._epoch_cache[epoch]

    def steps_for(self, epochs: float) -> int:
        windows = int(round(epochs * len(self.epoch_windows(0)[0])))
        return max(1, -(-windows // self.batch_size))

    def describe(self) -> dict:
        return {"kind": "fresh_exposures", "people": self.people, "context": self.context,
                "batch_size": self.batch_size, "seed": self.seed}


def biod_dataset(data: BioD, context: int, batch_size: int, seed: int = 0, tag: bool = False) -> FreshExposures:
    """bioD training stream: every pass shows every person once, attributes in a fresh order
    (``tag``: every line starts with ``<tag>``; measure with ``measure_biod(..., tag=True)`` then)."""
    length = data.config.line_length + int(tag)
    if length + 2 > context + 1:
        raise ValueError(f"a bioD line of {length} tokens does not fit a context of {context}")
    return FreshExposures(lambda rng: data.lines(rng, tag), context, batch_size, EOS_ID, seed, people=data.config.N)


def bios_online_dataset(people, tokenizer: WordTokenizer, context: int, batch_size: int, seed: int = 0,
                        templates="full") -> FreshExposures:
    """Part 3.3's online bioS(N) (= multi-infinity+permute): every exposure of a person is a fresh
    bioS entry with new templates and a new sentence order [P3.3 §2.2], rendered with
    ``plmkit.data.bios``. Entries are trained on every token."""
    from plmkit.data.bios.render import BioRenderer
    from plmkit.data.bios.vocab import encode_entries

    renderer = BioRenderer(templates)
    eos = tokenizer.id_of("<eos>")

    def render_pass(rng: np.random.Generator):
        return encode_entries(renderer.render_online(people, rng), tokenizer)

    return FreshExposures(render_pass, context, batch_size, eos, seed, people=len(people))
