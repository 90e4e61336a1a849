"""The iGSM world: categorization chains, their items, and the size presets nano, mini, med, hard.

A *chain* is an ordered list of four category layers, e.g. School -> Classroom -> Backpack ->
Stationery; each category holds sub-categories of items [P2.1 §2.1, App. D.1.1]. A problem picks one
chain, d consecutive categories in it, and for every layer one sub-category from which it samples
its items, so all items of a layer are siblings [P2.1 Remark 2.1].

The item lists are plmkit's own (``data/igsm/<chain>.txt``). Display names may contain spaces
("Maple Elementary"); in the token stream every name is a single token with underscores
("Maple_Elementary"), see :mod:`plmkit.data.igsm.vocab`.

Presets (one generator, four sizes): ``nano`` is a one-chain CPU world with a compact sentence style,
``mini`` a GPU-lab world, ``med`` and ``hard`` use the papers' sizes [P2.1 §2.4].
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional

from plmkit.paths import data_path

CHAIN_FILES = ("school", "district", "zoo", "ecosystem")
LAYERS_PER_CHAIN = 4
STYLES = ("compact", "paper")
WORLD_NAMES = ("nano", "mini", "med", "hard")


@dataclass(frozen=True)
class WorldConfig:
    """Every size knob of a world. Use :func:`preset` and ``dataclasses.replace`` to change one."""

    name: str
    chains: tuple[str, ...]
    subcategories: int  # sub-categories kept per category
    items: Optional[int]  # items kept per sub-category (None: all)
    depths: tuple[int, ...]  # choices of d, the number of layers of a structure graph
    widths: tuple[int, ...]  # choices of items per layer (w0 <= w1 drawn from these)
    ip_max: int  # most instance parameters (problem sentences)
    max_preds: int = 4  # most predecessors of one instance parameter (RNG counted)
    op_max: int = 3  # largest op in the training mix
    ood_ops: tuple[int, ...] = ()  # never trained on [P2.1 §2.4]
    reask_from: int = 4  # reask evaluation uses problems from this op on
    style: str = "paper"  # problem sentence style: "paper" [P2.1 §2.1] or "compact"
    train_window: int = 512  # word tokens
    eval_window: int = 1024
    modulus: int = 23  # all arithmetic is mod 23 [P2.1 §2.2]; a smaller one is an easier world

    def __post_init__(self):
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(STYLES)}, got {self.style!r}")
        unknown = [c for c in self.chains if c not in CHAIN_FILES]
        if unknown or not self.chains:
            raise ValueError(f"chains must be taken from {', '.join(CHAIN_FILES)}, got {self.chains}")
        if not all(2 <= d <= LAYERS_PER_CHAIN for d in self.depths):
            raise ValueError(f"depths must lie in 2..{LAYERS_PER_CHAIN}, got {self.depths}")
        if not self.widths or min(self.widths) < 1:
            raise ValueError(f"widths must be positive, got {self.widths}")
        if self.items is not None and self.items < max(self.widths):
            raise ValueError(f"need at least {max(self.widths)} items per sub-category, got {self.items}")
        if not 2 <= self.modulus <= 23:
            raise ValueError(f"modulus must lie in 2..23 (numbers are the tokens 0..22), got {self.modulus}")
        if self.op_max < 1 or self.ip_max < 1 or not 1 <= self.max_preds <= 4:
            raise ValueError("op_max and ip_max must be >= 1 and max_preds in 1..4")

    @property
    def in_distribution_ops(self) -> tuple[int, ...]:
        return tuple(range(1, self.op_max + 1))


_PRESETS = {
    "nano": WorldConfig("nano", ("school",), 1, 6, (2, 3), (2, 3), ip_max=4, op_max=3, ood_ops=(4, 5),
                        reask_from=4, style="compact", train_window=256, eval_window=256),
    "mini": WorldConfig("mini", CHAIN_FILES, 2, 10, (2, 3, 4), (2, 3, 4), ip_max=12, op_max=8, ood_ops=(10, 11, 12),
                        reask_from=10, style="paper", train_window=512, eval_window=1024),
    "med": WorldConfig("med", CHAIN_FILES, 5, None, (2, 3, 4), (2, 3, 4), ip_max=20, op_max=15,
                       ood_ops=(20, 21, 22, 23), reask_from=20, style="paper", train_window=512, eval_window=1024),
    "hard": WorldConfig("hard", CHAIN_FILES, 5, None, (2, 3, 4), (2, 3, 4), ip_max=28, op_max=21,
                        ood_ops=(28, 29, 30, 31, 32), reask_from=28, style="paper", train_window=768, eval_window=1536),
}


def preset(name: str, **overrides) -> WorldConfig:
    """The config of a named world, with optional changes, e.g. ``preset("nano", style="paper")``."""
    if name not in _PRESETS:
        raise ValueError(f"unknown iGSM world {name!r}; choose one of {', '.join(WORLD_NAMES)}")
    return dataclasses.replace(_PRESETS[name], **overrides) if overrides else _PRESETS[name]


@dataclass
class Category:
    name: str
    subcategories: list[tuple[str, list[str]]]  # (label, items)


@dataclass
class Chain:
    name: str
    categories: list[Category]


def read_chain(file_stem: str) -> Chain:
    """Parse ``data/igsm/<file_stem>.txt``: ``category:`` and ``sub:`` headers, one item per line."""
    path = data_path("igsm", f"{file_stem}.txt")
    categories: list[Category] = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("category:"):
            categories.append(Category(line.split(":", 1)[1].strip(), []))
        elif line.startswith("sub:"):
            if not categories:
                raise ValueError(f"{path}:{number}: 'sub:' before any 'category:'")
            categories[-1].subcategories.append((line.split(":", 1)[1].strip(), []))
        else:
            if not categories or not categories[-1].subcategories:
                raise ValueError(f"{path}:{number}: item before any 'sub:' header")
            categories[-1].subcategories[-1][1].append(line)
    if len(categories) != LAYERS_PER_CHAIN:
        raise ValueError(f"{path}: expected {LAYERS_PER_CHAIN} categories, found {len(categories)}")
    return Chain(file_stem, categories)


@dataclass
class World:
    """Chains cut to the config's size, plus lookups from a name to its place in the world."""

    config: WorldConfig
    chains: list[Chain]
    category_of: dict[str, tuple[int, int]] = field(default_factory=dict)  # item -> (chain, layer)
    category_index: dict[str, tuple[int, int]] = field(default_factory=dict)  # category -> (chain, layer)

    def __post_init__(self):
        for c, chain in enumerate(self.chains):
            for layer, category in enumerate(chain.categories):
                self.category_index[category.name] = (c, layer)
                for _, items in category.subcategories:
                    for item in items:
                        self.category_of[item] = (c, layer)
        _check_names(self)
        self._vocab = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def vocab(self):
        """The word-level vocabulary of this world (built once)."""
        if self._vocab is None:
            from plmkit.data.igsm.vocab import Vocab

            self._vocab = Vocab(self)
        return self._vocab

    def categories(self) -> list[str]:
        return [cat.name for chain in self.chains for cat in chain.categories]

    def items(self) -> list[str]:
        return [item for chain in self.chains for cat in chain.categories
                for _, items in cat.subcategories for item in items]

    def __repr__(self) -> str:
        c = self.config
        return (f"World({c.name!r}: {len(self.chains)} chains x {LAYERS_PER_CHAIN} layers, {len(self.items())} items, "
                f"ip_max={c.ip_max}, op_max={c.op_max}, style={c.style!r})")


def _check_names(world: World) -> None:
    from plmkit.data.igsm.vocab import TEMPLATE_WORDS, is_number_or_letter

    seen: dict[str, str] = {}
    for name in world.categories() + world.items():
        token = name.replace(" ", "_")
        if token in seen:
            raise ValueError(f"name {name!r} occurs twice in the iGSM world (names must be unique)")
        if any(ch in name for ch in ".,;?=+*-'_<>[]") or not name.strip():
            raise ValueError(f"name {name!r} contains a reserved character")
        if token in TEMPLATE_WORDS or is_number_or_letter(token):
            raise ValueError(f"name {name!r} collides with a template word, number or letter")
        seen[token] = name


@lru_cache(maxsize=None)
def _chain(file_stem: str) -> Chain:
    return read_chain(file_stem)


def build_world(config: WorldConfig) -> World:
    """Cut the shipped chains to ``config``'s size."""
    chains = []
    for stem in config.chains:
        full = _chain(stem)
        categories = []
        for cat in full.categories:
            subs = cat.subcategories[: config.subcategories]
            if len(subs) < config.subcategories:
                raise ValueError(f"category {cat.name} has only {len(subs)} sub-categories")
            subs = [(label, items[: config.items] if config.items else list(items)) for label, items in subs]
            categories.append(Category(cat.name, subs))
        chains.append(Chain(stem, categories))
    return World(config, chains)


@lru_cache(maxsize=16)
def _cached_world(config: WorldConfig) -> World:
    return build_world(config)


def load_world(world: "str | WorldConfig | World" = "nano", **overrides) -> World:
    """A world by preset name (``nano``, ``mini``, ``med``, ``hard``), config, or as is; cached."""
    if isinstance(world, World):
        if overrides:
            return _cached_world(dataclasses.replace(world.config, **overrides))
        return world
    config = world if isinstance(world, WorldConfig) else preset(world)
    if overrides:
        config = dataclasses.replace(config, **overrides)
    return _cached_world(config)
