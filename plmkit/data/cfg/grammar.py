"""Layered context-free grammars of the cfg3 family: loading, validation and derived tables.

A grammar has levels 0..D. Level 0 holds the root, level D holds the terminals 1..T, and every rule
of a level-l non-terminal (NT) lists 2 or 3 symbols of level l+1 [P4.1 §2.1, App. A.5].

Symbol ids (kit choice: one small vocabulary shared by data, model and tools)::

    0            <pad>
    1..T         terminals
    T+1          <bos>   (also the end-of-sentence target)
    T+2          <mask>
    T+3          <sep>   (reserved)
    T+4 ...      NTs, lowest level (D-1) first; the root has the largest id

``Grammar.load`` accepts a shipped name (``"cfg3f"``), a preset rooted lower in the tree
(``"cfg3f-d3"``: the lowest-id NT of level D-3; ``"cfg3f@17"``: NT 17), or a path to a rule file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Union

import numpy as np

GRAMMAR_NAMES = ("cfg3b", "cfg3i", "cfg3h", "cfg3g", "cfg3f", "cfg3e1", "cfg3e2", "cfg3j", "cfg3k")
PRESET_HELP = "append '-dK' to root the grammar K levels above the terminals (e.g. cfg3f-d3) or '@ID' for an explicit root NT (e.g. cfg3f@17)"

_HEADER_RE = re.compile(
    r"#\s*(?P<name>[^:\s]+)\s*:\s*(?P<depth>\d+)\s+rewriting levels\s*;\s*symbols per level \(root first\)\s*"
    r"\[(?P<sizes>[\d,\s]+)\]\s*;\s*terminals 1\.\.(?P<terminals>\d+)"
)
_PRESET_RE = re.compile(r"^(?P<base>.+?)(?:-d(?P<k>\d+)|@(?P<root>\d+))$")

RootLike = Union[int, str, None]


def _unknown_grammar_message(text: str) -> str:
    return (f"unknown grammar {text!r}; valid names: {', '.join(GRAMMAR_NAMES)}; {PRESET_HELP}; "
            "or give the path of a rule file")


@dataclass(frozen=True, eq=False)
class Grammar:
    """A validated layered CFG with a default root (the preset's root, else the level-0 NT).

    ``rules[A]`` is a tuple of rules, each a tuple of child ids. Every rule of A has probability
    1/len(rules[A]). Derived per-symbol arrays (indexed by symbol id; specials hold -1):
    ``level``, ``height`` (= D - level), ``minlen``/``maxlen`` (shortest/longest derivable string),
    ``class_index`` (id minus the first id of its level; terminal t -> t-1).
    """

    name: str
    depth: int
    level_sizes: tuple[int, ...]
    rules: dict = field(repr=False)
    root: int = -1
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    # --- construction ----------------------------------------------------------------------
    @classmethod
    def load(cls, spec: Union[str, Path], root: RootLike = None) -> "Grammar":
        """Load a shipped grammar by name or preset, or a rule file by path.

        ``root`` overrides the preset's root: an NT id, or ``"dK"`` for the lowest-id NT K levels
        above the terminals. Unknown names raise ValueError listing the valid choices.
        """
        if isinstance(spec, Path) or (isinstance(spec, str) and (spec.endswith(".txt") or "/" in spec)):
            path = Path(spec)
            if not path.is_file():
                raise ValueError(f"grammar file not found: {path}; valid names: {', '.join(GRAMMAR_NAMES)}")
            grammar = cls.from_text(path.read_text(), source=str(path))
            return grammar.with_root(root) if root is not None else grammar
        if not isinstance(spec, str) or not spec:
            raise ValueError(_unknown_grammar_message(str(spec)))
        base, preset_root = spec, None
        if spec not in GRAMMAR_NAMES:
            match = _PRESET_RE.match(spec)
            if not match or match.group("base") not in GRAMMAR_NAMES:
                raise ValueError(_unknown_grammar_message(spec))
            base = match.group("base")
            preset_root = f"d{match.group('k')}" if match.group("k") is not None else int(match.group("root"))
        from plmkit.paths import data_path

        grammar = cls.from_text(data_path("grammars", base + ".txt").read_text(), source=base)
        if preset_root is not None:
            grammar = grammar.with_root(preset_root)
            object.__setattr__(grammar, "name", spec)
        if root is not None:
            grammar = grammar.with_root(root)
        return grammar

    @classmethod
    def from_text(cls, text: str, source: str = "<text>") -> "Grammar":
        """Parse and validate a rule file: a header line, then one ``A -> r1 | r2 | ...`` line per NT."""
        lines = text.splitlines()
        header = next((ln for ln in lines if ln.strip()), "")
        match = _HEADER_RE.match(header.strip())
        if not match:
            raise ValueError(f"{source}: the first line must be a header like '# cfg3f: 6 rewriting levels; "
                             f"symbols per level (root first) [1, 3, 3, 3, 3, 3, 3]; terminals 1..3', got {header!r}")
        depth = int(match.group("depth"))
        sizes = tuple(int(s) for s in match.group("sizes").replace(" ", "").split(",") if s)
        terminals = int(match.group("terminals"))
        if len(sizes) != depth + 1 or sizes[0] != 1 or sizes[-1] != terminals or min(sizes) < 1:
            raise ValueError(f"{source}: header is inconsistent: D={depth}, sizes={list(sizes)}, T={terminals} "
                             "(need D+1 sizes, one root, and s_D = T)")
        rules: dict[int, tuple[tuple[int, ...], ...]] = {}
        for number, raw in enumerate(lines, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            rules.update(_parse_rule_line(line, number, source, rules))
        grammar = cls(name=match.group("name") if source == "<text>" else Path(source).stem,
                      depth=depth, level_sizes=sizes, rules=rules)
        grammar._validate(source)
        object.__setattr__(grammar, "root", grammar.level_ids(0)[0])
        return grammar

    def with_root(self, root: RootLike) -> "Grammar":
        """The same rules with another default root: the sub-grammar G@A, whose sentences are the strings A derives."""
        new_root = self.resolve_root(root)
        base = re.sub(r"(-d\d+|@\d+)$", "", self.name)  # drop an earlier preset suffix
        return Grammar(name=f"{base}@{new_root}", depth=self.depth, level_sizes=self.level_sizes,
                       rules=self.rules, root=new_root)

    # --- ids ----------------------------------------------------------------------------------
    @property
    def num_terminals(self) -> int:
        return self.level_sizes[-1]

    T = num_terminals

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def bos_id(self) -> int:
        return self.num_terminals + 1

    @property
    def mask_id(self) -> int:
        return self.num_terminals + 2

    @property
    def sep_id(self) -> int:
        return self.num_terminals + 3

    @property
    def vocab_size(self) -> int:
        """Model vocabulary: <pad>, the terminals, <bos>, <mask>, <sep>."""
        return self.num_terminals + 4

    @property
    def num_symbols(self) -> int:
        """One more than the largest symbol id (size of the per-symbol arrays)."""
        return self.vocab_size + sum(self.level_sizes[:-1])

    def first_id(self, level: int) -> int:
        """Smallest id of a level: 1 for the terminals, else counted up from T+4, lowest NT level first."""
        if level == self.depth:
            return 1
        return self.vocab_size + sum(self.level_sizes[level + 1:self.depth])

    def level_ids(self, level: int) -> list[int]:
        if not 0 <= level <= self.depth:
            raise ValueError(f"level must lie in 0..{self.depth}, got {level}")
        start = self.first_id(level)
        return list(range(start, start + self.level_sizes[level]))

    def is_terminal(self, symbol: int) -> bool:
        return 1 <= symbol <= self.num_terminals

    def is_nonterminal(self, symbol: int) -> bool:
        return symbol in self.rules

    def resolve_root(self, root: RootLike = None) -> int:
        """An NT id from None (the default root), an id, ``"dK"``/``"-dK"`` or ``"@ID"``."""
        if root is None:
            return self.root
        if isinstance(root, str):
            text = root.strip().lstrip("-@")
            if text.startswith("d") and text[1:].isdigit():
                k = int(text[1:])
                if not 1 <= k <= self.depth:
                    raise ValueError(f"preset d{k} is out of range for {self.name}: use d1..d{self.depth}")
                return self.level_ids(self.depth - k)[0]
            if not text.isdigit():
                raise ValueError(f"cannot read root {root!r}: give an NT id, 'dK' or '@ID'")
            root = int(text)
        if isinstance(root, (bool, np.bool_)) or not isinstance(root, (int, np.integer)):
            raise ValueError(f"root must be an NT id, got {root!r}")
        root = int(root)
        if root not in self.rules:
            raise ValueError(f"root {root} is not a non-terminal of {self.name}; NT ids are "
                             f"{min(self.rules)}..{max(self.rules)}")
        return root

    # --- derived tables -------------------------------------------------------------------------
    @cached_property
    def level(self) -> np.ndarray:
        out = np.full(self.num_symbols, -1, np.int64)
        for lev in range(self.depth + 1):
            out[self.level_ids(lev)] = lev
        return out

    @cached_property
    def height(self) -> np.ndarray:
        return np.where(self.level >= 0, self.depth - self.level, -1)

    @cached_property
    def class_index(self) -> np.ndarray:
        out = np.full(self.num_symbols, -1, np.int64)
        for lev in range(self.depth + 1):
            ids = self.level_ids(lev)
            out[ids] = np.arange(len(ids))
        return out

    @cached_property
    def _length_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lo = np.full(self.num_symbols, -1, np.int64)
        hi = np.full(self.num_symbols, -1, np.int64)
        lo[1:self.num_terminals + 1] = 1
        hi[1:self.num_terminals + 1] = 1
        for lev in range(self.depth - 1, -1, -1):  # children first
            for nt in self.level_ids(lev):
                lo[nt] = min(sum(int(lo[c]) for c in rule) for rule in self.rules[nt])
                hi[nt] = max(sum(int(hi[c]) for c in rule) for rule in self.rules[nt])
        return lo, hi

    @property
    def minlen(self) -> np.ndarray:
        return self._length_bounds[0]

    @property
    def maxlen(self) -> np.ndarray:
        return self._length_bounds[1]

    @cached_property
    def rule_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Padded rules for vectorized sampling: children (S, R, 3) with -1 padding, lengths (S, R), degree (S,)."""
        max_deg = max(len(r) for r in self.rules.values())
        children = np.full((self.num_symbols, max_deg, 3), -1, np.int64)
        lengths = np.zeros((self.num_symbols, max_deg), np.int64)
        degree = np.zeros(self.num_symbols, np.int64)
        for nt, nt_rules in self.rules.items():
            degree[nt] = len(nt_rules)
            for r, rule in enumerate(nt_rules):
                children[nt, r, :len(rule)] = rule
                lengths[nt, r] = len(rule)
        return children, lengths, degree

    def reachable(self, root: RootLike = None) -> frozenset:
        """NTs that occur in some derivation from the root (cfg3e1 has unreachable ones)."""
        r = self.resolve_root(root)
        key = ("reachable", r)
        if key not in self._cache:
            seen, todo = {r}, [r]
            while todo:
                for rule in self.rules[todo.pop()]:
                    for child in rule:
                        if child in self.rules and child not in seen:
                            seen.add(child)
                            todo.append(child)
            self._cache[key] = frozenset(seen)
        return self._cache[key]

    def levels_below(self, root: RootLike = None) -> list[int]:
        """NT levels from the root's level down to D-1 (the probe levels plus the constant root level)."""
        return list(range(int(self.level[self.resolve_root(root)]), self.depth))

    def length_range(self, root: RootLike = None) -> tuple[int, int]:
        r = self.resolve_root(root)
        return int(self.minlen[r]), int(self.maxlen[r])

    def tokenizer(self):
        """A WordTokenizer whose ids equal the grammar's ids: terminals are the words "1".."T"."""
        from plmkit.tokenizer import WordTokenizer

        words = [str(t) for t in range(1, self.num_terminals + 1)] + ["<bos>", "<mask>", "<sep>"]
        tok = WordTokenizer(words, specials=("<pad>",))
        assert tok.vocab_size == self.vocab_size and tok.id_of("<bos>") == self.bos_id
        assert tok.id_of("<mask>") == self.mask_id and tok.id_of("<sep>") == self.sep_id
        assert all(tok.id_of(str(t)) == t for t in range(1, self.num_terminals + 1))
        return tok

    def describe(self, root: RootLike = None) -> str:
        r = self.resolve_root(root)
        lo, hi = self.length_range(r)
        return (f"{self.name}: D={self.depth}, T={self.num_terminals}, root {r} (level {self.level[r]}, "
                f"{self.depth - self.level[r]} rewriting steps), lengths {lo}..{hi}")

    def __repr__(self) -> str:
        return f"Grammar({self.name!r}, D={self.depth}, T={self.num_terminals}, root={self.root})"

    # --- validation -----------------------------------------------------------------------------
    def _validate(self, source: str) -> None:
        depth, T = self.depth, self.num_terminals
        expected = {nt: lev for lev in range(depth) for nt in self.level_ids(lev)}
        missing = sorted(set(expected) - set(self.rules))
        extra = sorted(set(self.rules) - set(expected))
        if missing:
            raise ValueError(f"{source}: no rule line for NT(s) {missing}")
        if extra:
            raise ValueError(f"{source}: rule line(s) for id(s) {extra} that the header gives no NT slot")
        used_terminals = set()
        for nt, nt_rules in self.rules.items():
            lev = expected[nt]
            child_ids = set(self.level_ids(lev + 1))
            for rule in nt_rules:
                if len(rule) not in (2, 3):
                    raise ValueError(f"{source}: rule {nt} -> {' '.join(map(str, rule))} has {len(rule)} symbols; "
                                     "every rule has 2 or 3")
                bad = [c for c in rule if c not in child_ids]
                if bad:
                    raise ValueError(f"{source}: rule {nt} -> {' '.join(map(str, rule))}: symbol(s) {bad} are not "
                                     f"at level {lev + 1} (ids {min(child_ids)}..{max(child_ids)})")
                if lev == depth - 1:
                    used_terminals.update(rule)
        unused = sorted(set(range(1, T + 1)) - used_terminals)
        if unused:
            raise ValueError(f"{source}: terminal(s) {unused} occur in no rule")


def _parse_rule_line(line: str, number: int, source: str, seen: dict) -> dict:
    if "->" not in line:
        raise ValueError(f"{source}:{number}: expected 'NT -> rule | rule ...', got {line!r}")
    head, body = line.split("->", 1)
    try:
        nt = int(head)
        rules = tuple(tuple(int(tok) for tok in part.split()) for part in body.split("|"))
    except ValueError:
        raise ValueError(f"{source}:{number}: ids must be integers: {line!r}") from None
    if nt in seen:
        raise ValueError(f"{source}:{number}: NT {nt} has a second rule line")
    if not rules or any(not rule for rule in rules):
        raise ValueError(f"{source}:{number}: empty rule in {line!r}")
    return {nt: rules}


@lru_cache(maxsize=64)
def _shipped(spec: str) -> Grammar:
    return Grammar.load(spec)


def load_grammar(spec: Union[str, Path, Grammar], root: RootLike = None) -> Grammar:
    """``Grammar.load`` that also passes a Grammar through (with an optional new root).

    Shipped names and presets are loaded once and reused, so tools called as ``accepts("cfg3f-d3", x)``
    in a loop do not re-read the rule file every time (grammars are immutable).
    """
    if isinstance(spec, Grammar):
        grammar = spec
    elif isinstance(spec, str) and (spec in GRAMMAR_NAMES or _PRESET_RE.match(spec)) and not spec.endswith(".txt"):
        grammar = _shipped(spec)
    else:
        grammar = Grammar.load(spec)
    return grammar.with_root(root) if root is not None else grammar


def resolve(g: Union[str, Grammar], root: RootLike = None) -> tuple[Grammar, int]:
    """(grammar, root id) for the tool functions' ``(g, ..., root=None)`` arguments."""
    grammar = load_grammar(g)
    return grammar, grammar.resolve_root(root)
