"""Read a rendered problem back: problem text + question -> the same :class:`Problem` facts.

Used by ``plmkit igsm check`` (which only sees text) and by the round-trip test: parsing the text and
evaluating it must reproduce every value and the answer. The structure graph is rebuilt from the
instance parameters the sentences define; abstract parameters come from the world's categories, as
they do for a reader of the problem [P2.1 App. D.3].
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from plmkit.data.igsm.graphs import Structure
from plmkit.data.igsm.problem import Expr, Problem, assemble
from plmkit.data.igsm.rand import Draws
from plmkit.data.igsm.vocab import LETTERS, NUMBERS, SPECIALS, display_name
from plmkit.data.igsm.world import World, load_world

_NUMBERS = {n: int(n) for n in NUMBERS}


class ParseError(ValueError):
    pass


def _tokens(world: World, text: "str | Sequence[str]") -> list[str]:
    tokens = world.vocab.split(text) if isinstance(text, str) else list(text)
    unknown = [t for t in tokens if t not in world.vocab.token_to_id]
    if unknown:
        raise ParseError(f"unknown word {display_name(unknown[0])!r} (not in the {world.name} world's vocabulary)")
    return [t for t in tokens if t not in SPECIALS]


def _name(tokens: list[str], i: int, world: World) -> tuple[tuple[str, str], int]:
    """A parameter name ``A 's B`` at position i -> ((A, B), next position)."""
    vocab = world.vocab
    if (i + 2 < len(tokens) and tokens[i] in vocab.item_set and tokens[i + 1] == "'s"
            and (tokens[i + 2] in vocab.item_set or tokens[i + 2] in vocab.category_set)):
        return (tokens[i], tokens[i + 2]), i + 3
    raise ParseError(f"expected a parameter name at {' '.join(tokens[i:i + 3])!r}")


def _number(tokens: list[str], i: int) -> int:
    if i < len(tokens) and tokens[i] in _NUMBERS:
        return _NUMBERS[tokens[i]]
    raise ParseError(f"expected a number 0..22 at {' '.join(tokens[i:i + 2])!r}")


def _expect(tokens: list[str], i: int, words: Sequence[str]) -> int:
    if list(tokens[i:i + len(words)]) != list(words):
        raise ParseError(f"expected {' '.join(words)!r} at {' '.join(tokens[i:i + len(words)])!r}")
    return i + len(words)


def _paper_sentence(tokens: list[str], world: World):
    i = _expect(tokens, 0, ["The", "number", "of", "each"])
    lhs, i = _name(tokens, i, world)
    i = _expect(tokens, i, ["equals"])
    mode, const = None, 0
    if i < len(tokens) and tokens[i] in _NUMBERS:
        const = _number(tokens, i)
        if i + 1 == len(tokens):
            return lhs, [], "id", "const", const
        if tokens[i + 1:i + 3] == ["more", "than"]:
            mode, i = "plus", i + 3
        else:
            mode, i = "times", _expect(tokens, i + 1, ["times", "as", "much", "as"])
    comb = "id"
    if tokens[i:i + 1] == ["the"]:
        comb = "diff" if tokens[i + 1:i + 2] == ["difference"] else "sum"
        i = _expect(tokens, i + 1, [("difference" if comb == "diff" else "sum"), "of"])
    names = []
    while True:
        i = _expect(tokens, i, ["each"])
        name, i = _name(tokens, i, world)
        names.append(name)
        if i == len(tokens):
            break
        if tokens[i] not in (",", "and"):
            raise ParseError(f"unexpected {tokens[i]!r} in a problem sentence")
        last = tokens[i] == "and"
        i += 1
        if last:
            i = _expect(tokens, i, ["each"])
            name, i = _name(tokens, i, world)
            names.append(name)
            break
    if i != len(tokens):
        raise ParseError(f"trailing words {' '.join(tokens[i:])!r} in a problem sentence")
    if (comb == "id") != (len(names) == 1) or (comb == "diff" and len(names) != 2):
        raise ParseError("the number of quantities does not match 'sum' / 'difference'")
    return lhs, names, comb, mode, const


def _compact_sentence(tokens: list[str], world: World):
    lhs, i = _name(tokens, 0, world)
    i = _expect(tokens, i, ["="])
    mode, const, comb = None, 0, "id"
    if i < len(tokens) and tokens[i] in _NUMBERS:
        const = _number(tokens, i)
        if i + 1 == len(tokens):
            return lhs, [], "id", "const", const
        if tokens[i + 1] not in ("+", "*"):
            raise ParseError(f"expected + or * after the constant, got {tokens[i + 1]!r}")
        mode, i = ("plus" if tokens[i + 1] == "+" else "times"), i + 2
    if i < len(tokens) and tokens[i] in ("sum", "diff"):
        comb, i = tokens[i], i + 1
    names = []
    while True:
        name, i = _name(tokens, i, world)
        names.append(name)
        if i == len(tokens):
            break
        i = _expect(tokens, i, [","])
    if (comb == "id") != (len(names) == 1) or (comb == "diff" and len(names) != 2):
        raise ParseError("the number of quantities does not match 'sum' / 'diff'")
    return lhs, names, comb, mode, const


def _question(tokens: list[str], world: World) -> tuple[str, str]:
    if tokens[:1] == ["?"]:
        name, i = _name(tokens, 1, world)
        if i != len(tokens):
            raise ParseError("trailing words after the question")
        return name
    if tokens[:2] == ["How", "many"] and len(tokens) == 7 and tokens[3] == "does" and tokens[5:] == ["have", "?"]:
        name, _ = _name([tokens[4], "'s", tokens[2]], 0, world)
        return name
    raise ParseError(f"cannot read the question {' '.join(tokens)!r}")


def split_sentences(tokens: list[str]) -> list[list[str]]:
    sentences, current = [], []
    for t in tokens:
        current.append(t)
        if t == ".":
            sentences.append(current)
            current = []
    if current:
        raise ParseError("the problem text does not end with '.'")
    return sentences


def _layers(world: World, instance_names: list[tuple[str, str]]):
    place = {}
    for a, b in instance_names:
        for item in (a, b):
            chain, layer = world.category_of[display_name(item)]
            place[item] = (chain, layer)
    chains = {c for c, _ in place.values()}
    if len(chains) != 1:
        raise ParseError("the items of a problem must come from one categorization chain")
    chain = chains.pop()
    top = min(layer for _, layer in place.values())
    depth = max(layer for _, layer in place.values()) - top + 1
    layers: list[list[str]] = [[] for _ in range(depth)]
    for item in sorted(place, key=lambda t: (place[t][1], t)):
        layers[place[item][1] - top].append(item)
    categories = [world.vocab.categories[sum(len(c.categories) for c in world.chains[:chain]) + top + k]
                  for k in range(depth)]
    return chain, top, categories, layers


def parse_problem(world: "str | World", problem: "str | Sequence[str]", question: "str | Sequence[str]",
                  style: Optional[str] = None, split_key: str = "skeleton") -> Problem:
    """Rebuild a :class:`Problem` from its text (or tokens); raises :class:`ParseError` (a ValueError).

    The reference solution uses a fixed topological order and letters (seed 0), so it may differ from
    the generator's solution in order and letters; values, answer, op and the necessary set are the same.
    """
    world = world if isinstance(world, World) else load_world(world)
    sentences = split_sentences(_tokens(world, problem))
    if not sentences:
        raise ParseError("empty problem text")
    if style is None:
        style = "paper" if sentences[0][:1] == ["The"] else "compact"
    read = _paper_sentence if style == "paper" else _compact_sentence
    parsed = [read(s[:-1], world) for s in sentences]
    lhs_names = [p[0] for p in parsed]
    if len(set(lhs_names)) != len(lhs_names):
        raise ParseError("a quantity is defined by two sentences")
    chain, _, categories, layers = _layers(world, lhs_names)
    item_pos = {item: (l, i) for l, layer in enumerate(layers) for i, item in enumerate(layer)}
    edges = []
    for a, b in lhs_names:
        (la, ia), (lb, ib) = item_pos[a], item_pos[b]
        if lb != la + 1:
            raise ParseError(f"{display_name(a)}'s {display_name(b)}: the items are not in adjacent layers")
        edges.append((la, ia, ib))
    order_of_edge = sorted(range(len(edges)), key=lambda k: edges[k])
    st = Structure(categories, layers, [edges[k] for k in order_of_edge], chain=chain)
    exprs = {}
    for lhs, names, comb, mode, const in parsed:
        ids = []
        for name in names:
            if name not in st.index:
                raise ParseError(f"{display_name(name[0])}'s {display_name(name[1])} is not a quantity of this problem")
            ids.append(st.index[name])
        exprs[st.index[lhs]] = Expr(tuple(ids), comb, mode, const)
    query_name = _question(_tokens(world, question), world)
    if query_name not in st.index:
        raise ParseError(f"the question asks for {display_name(query_name[0])}'s {display_name(query_name[1])}, "
                         "which is not a quantity of this problem")
    query = st.index[query_name]
    used = set(exprs)
    for e in exprs.values():
        for q in e.preds:
            used |= {x for x in range(st.size) if st.closure[q] >> x & 1}
    used |= {x for x in range(st.size) if st.closure[query] >> x & 1}

    def preds_of(p):
        return exprs[p].preds if p < st.ip else st.struct_preds[p]

    graph = _kahn(sorted(used), preds_of)
    if graph is None:
        raise ParseError("the problem's quantities depend on each other in a cycle")
    needed = {query}
    for p in reversed(graph):
        if p in needed:
            needed.update(preds_of(p))
    order = [p for p in graph if p in needed]
    op = sum(exprs[p].op if p < st.ip else st.abstract_op[p] for p in order)
    letters = Draws(np.random.default_rng(0)).sample(LETTERS, min(op, len(LETTERS)))
    letters += [LETTERS[0]] * max(0, op - len(letters))  # op > 52 cannot be written; keep rendering total
    sentence_order = [st.index[name] for name in lhs_names]
    return assemble(world, st, exprs, graph, query, order, sentence_order, letters, style=style,
                    split_key=split_key, sentences=[list(s) for s in sentences])


def _kahn(nodes: list[int], preds_of) -> Optional[list[int]]:
    members = set(nodes)
    waiting = {p: len([q for q in preds_of(p) if q in members]) for p in nodes}
    users: dict[int, list[int]] = {p: [] for p in nodes}
    for p in nodes:
        for q in preds_of(p):
            if q not in members:
                return None
            users[q].append(p)
    ready = sorted(p for p in nodes if waiting[p] == 0)
    out = []
    while ready:
        p = ready.pop(0)
        out.append(p)
        for u in users[p]:
            waiting[u] -= 1
            if waiting[u] == 0:
                ready.append(u)
        ready.sort()
    return out if len(out) == len(nodes) else None
