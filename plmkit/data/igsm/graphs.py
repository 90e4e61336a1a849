"""The structure graph, the parameter universe and the dependency graph of one iGSM problem.

* Structure graph G_s [P2.1 Alg. 1, App. D.1]: d layers of items; an edge a -> b between adjacent
  layers is an *instance parameter* "each a's b".
* Abstract parameters [P2.1 App. D.2, Def. D.1]: (a, K) = the total number of category-K things in item
  a; its value is a sum over a's children (level 1) or a sum of products (deeper levels).
* Dependency graph G_d [P2.1 Alg. 2-5]: the necessary core, a topological order built from the query
  backwards, exact op for the necessary part, then every other instance parameter.

The op of the necessary graph is steered to the requested value directly (Alg. 4), so problems are
only redrawn when an algorithm step fails, never to hit an op. Parameters are small integers:
instance parameters first (ids 0..ip-1), then abstract ones ordered by level, so an abstract
parameter's dependencies always have smaller ids.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from plmkit.data.igsm.rand import Draws
from plmkit.data.igsm.vocab import name_token
from plmkit.data.igsm.world import LAYERS_PER_CHAIN, World, WorldConfig

MAX_STRUCTURE_DRAWS = 1000  # [P2.1 Alg. 7]: redraw the structure graph up to 1,000 times
MAX_TOTAL_DRAWS = 20_000  # then give up: the requested op is out of reach in this world


class GenerationError(RuntimeError):
    """The generator found no problem for the requested settings (e.g. an op the world cannot reach)."""


# --- the structure graph and the parameter universe ----------------------------------------------------
@dataclass
class Structure:
    """Items per layer, instance edges, and every parameter of the universe U with its definition."""

    categories: list[str]  # category token of each layer, top to bottom
    layers: list[list[str]]  # item tokens per layer
    edges: list[tuple[int, int, int]]  # instance parameter id -> (layer, parent index, child index)
    chain: int = 0
    # filled by _derive():
    names: list[tuple[str, str]] = field(default_factory=list)  # param id -> (item token, item or category token)
    is_abstract: list[bool] = field(default_factory=list)
    level: list[int] = field(default_factory=list)  # 1 for instance parameters, k - i for abstract (a, K)
    struct_preds: list[tuple[int, ...]] = field(default_factory=list)  # abstract: its definition; instance: ()
    abstract_op: list[int] = field(default_factory=list)  # op of an abstract parameter [P2.1 fn. 22]; 0 for instance
    closure: list[int] = field(default_factory=list)  # bitmask: the parameter and everything it needs structurally
    inst_closure: list[int] = field(default_factory=list)  # bitmask: the instance parameters in closure
    index: dict[tuple[str, str], int] = field(default_factory=dict)  # name -> param id

    def __post_init__(self):
        self._derive()

    @property
    def depth(self) -> int:
        return len(self.layers)

    @property
    def ip(self) -> int:
        return len(self.edges)

    @property
    def size(self) -> int:
        return len(self.names)

    def _derive(self) -> None:
        d = self.depth
        children: list[list[list[tuple[int, int]]]] = [[[] for _ in layer] for layer in self.layers]
        for pid, (layer, a, b) in enumerate(self.edges):
            children[layer][a].append((b, pid))
        for layer in children:
            for kids in layer:
                kids.sort()
        # reach[l][a]: bitmask of the layers where item (l, a) has a descendant (its own layer included)
        reach = [[1 << l for _ in self.layers[l]] for l in range(d)]
        for l in range(d - 2, -1, -1):
            for a, kids in enumerate(children[l]):
                for b, _ in kids:
                    reach[l][a] |= reach[l + 1][b]
        names = [(self.layers[l][a], self.layers[l + 1][b]) for l, a, b in self.edges]
        n_inst = len(names)
        is_abs, level = [False] * n_inst, [1] * n_inst
        preds: list[tuple[int, ...]] = [()] * n_inst
        ops = [0] * n_inst
        closure = [1 << p for p in range(n_inst)]
        inst_closure = list(closure)
        abs_id: dict[tuple[int, int, int], int] = {}
        for lev in range(1, d):  # by level, so dependencies get smaller ids
            for l in range(0, d - lev):
                k = l + lev
                for a, kids in enumerate(children[l]):
                    if not reach[l][a] >> k & 1:
                        continue  # no descendant in layer k: the parameter does not exist (empty sum)
                    if lev == 1:
                        deps = tuple(pid for _, pid in kids)
                        op = max(1, len(deps) - 1)
                    else:
                        deps = tuple(x for b, pid in kids if reach[l + 1][b] >> k & 1
                                     for x in (pid, abs_id[(l + 1, b, k)]))  # (inst, abs) per child
                        op = len(deps) - 1  # c products and c - 1 sums
                    pid = len(names)
                    abs_id[(l, a, k)] = pid
                    names.append((self.layers[l][a], self.categories[k]))
                    is_abs.append(True)
                    level.append(lev)
                    preds.append(deps)
                    ops.append(op)
                    mask, inst_mask = 1 << pid, 0
                    for q in deps:
                        mask |= closure[q]
                        inst_mask |= inst_closure[q]
                    closure.append(mask)
                    inst_closure.append(inst_mask)
        self.names, self.is_abstract, self.level = names, is_abs, level
        self.struct_preds, self.abstract_op = preds, ops
        self.closure, self.inst_closure = closure, inst_closure
        self.index = {name: pid for pid, name in enumerate(names)}


# --- hyperparameters [P2.1 Alg. 7, fn. 9, Remark D.8] ---------------------------------------------------
@dataclass
class Hyper:
    s: int  # op of the necessary graph
    n: int  # op budget of the abstract core
    m: int  # op budget of the necessary skeleton
    d: int
    w0: int
    w1: int
    e: int  # instance parameters (edges)


def draw_op(draws: Draws, op_max: int, top_op_boost: float = 0.0) -> int:
    """op = min of two uniforms on 1..op_max: P(op = k) = (2 (op_max - k) + 1) / op_max^2 [P2.1 fn. 9]."""
    if top_op_boost > 0 and draws.coin(top_op_boost):
        return op_max
    return min(draws.between(1, op_max), draws.between(1, op_max))


def op_law(op_max: int) -> list[float]:
    """The training law of op as probabilities for op = 1..op_max."""
    return [(2 * (op_max - k) + 1) / op_max ** 2 for k in range(1, op_max + 1)]


def _soft_log_weights(choices: tuple[int, ...], rel: float) -> list[float]:
    """log of softmax(-(rel - c)^2) weights, centres spread evenly on [0.2, 0.8] (up to a constant)."""
    if len(choices) == 1:
        return [0.0]
    centres = [0.2 + 0.6 * i / (len(choices) - 1) for i in range(len(choices))]
    return [-(rel - c) ** 2 for c in centres]


def draw_hyper(draws: Draws, cfg: WorldConfig, s: int) -> Hyper:
    """n, m, d, w0 <= w1 and e for a necessary graph of op s [P2.1 Alg. 7, Remark D.8].

    d and two widths come from softmax(-(rel - c)^2) with rel = (s - 1) / (ip_max - 1). Kit rule: only
    (d, w0) with (d - 1) w0 <= ip_max are allowed; the draw is made from the joint law restricted to
    those pairs (what redrawing until one fits would give, without ever looping).
    """
    n = max(draws.between(1, s), draws.between(1, s))
    m = draws.between(n, s)
    rel = (s - 1) / max(1, cfg.ip_max - 1)
    dw, ww = _soft_log_weights(cfg.depths, rel), _soft_log_weights(cfg.widths, rel)
    combos, logs = [], []
    for i, d in enumerate(cfg.depths):
        for j, a in enumerate(cfg.widths):
            for k, b in enumerate(cfg.widths):
                if (d - 1) * min(a, b) <= cfg.ip_max:
                    combos.append((d, min(a, b), max(a, b)))
                    logs.append(dw[i] + ww[j] + ww[k])
    if not combos:
        raise GenerationError(f"no depth/width pair fits ip_max={cfg.ip_max}")
    top = max(logs)
    d, w0, w1 = combos[draws.weighted([math.exp(x - top) for x in logs])]
    lo = (d - 1) * w0
    e = min(draws.between(lo, cfg.ip_max), draws.between(lo, cfg.ip_max))
    e = min(e, (d - 1) * w1 * w1)
    return Hyper(s, n, m, d, w0, w1, e)


# --- Alg. 1: the structure graph ---------------------------------------------------------------------
def layer_sizes(draws: Draws, d: int, w0: int, w1: int, e: int) -> list[int]:
    """Grow layers from w0 items until the edge count e fits [P2.1 Alg. 1].

    Kit rule: a layer below the top grows only while e_min < e, so e_min <= e always holds
    (every growth raises e_min by at most one and the loop stops at e_min = e).
    """
    sizes = [w0] * d
    p = draws.uniform()
    while True:
        e_max = sum(sizes[i] * sizes[i + 1] for i in range(d - 1))
        e_min = sum(sizes[1:])
        growable = [i for i in range(d) if sizes[i] < w1 and (i == 0 or e_min < e)]
        if e_max < e:
            if not growable:
                raise GenerationError("edge count out of range")  # cannot happen after the clamp
        elif e_min == e or not growable or not draws.coin(p):
            return sizes
        sizes[draws.choice(growable)] += 1


def draw_structure(draws: Draws, world: World, hyper: Hyper) -> Structure:
    d, e = hyper.d, hyper.e
    sizes = layer_sizes(draws, d, hyper.w0, hyper.w1, e)
    chain_index = draws.below(len(world.chains))
    chain = world.chains[chain_index]
    first = draws.below(LAYERS_PER_CHAIN - d + 1)
    categories, layers = [], []
    for i in range(d):
        category = chain.categories[first + i]
        _, items = draws.choice(category.subcategories)
        categories.append(name_token(category.name))
        layers.append([name_token(x) for x in draws.sample(items, sizes[i])])
    present = set()
    for i in range(1, d):  # one random parent for every item below the top
        for b in range(sizes[i]):
            present.add((i - 1, draws.below(sizes[i - 1]), b))
    missing = [(i, a, b) for i in range(d - 1) for a in range(sizes[i]) for b in range(sizes[i + 1])
               if (i, a, b) not in present]
    present.update(draws.sample(missing, e - len(present)))
    return Structure(categories, layers, sorted(present), chain=chain_index)


# --- the dependency graph --------------------------------------------------------------------------------
@dataclass
class DependencyGraph:
    """G_d: instance predecessors (ordered later by the sentence), RNG use, and orders."""

    preds: dict[int, list[int]]  # instance param -> predecessors (RNG excluded)
    uses_rng: dict[int, bool]
    order: list[int]  # a topological order of every parameter of G_d
    necessary_order: list[int]  # Topo: the necessary parameters, query last
    query: int


def necessary_core(draws: Draws, st: Structure, n: int, m: int) -> int:
    """[P2.1 Alg. 2]: abstract parameters (with their needs) while the op stays <= n, then instance ones up to m.

    Levels are scanned from deep to shallow and candidates tried in random order; returns a bitmask.
    """
    cost_of = [1 if not st.is_abstract[p] else st.abstract_op[p] for p in range(st.size)]
    by_level: dict[int, list[int]] = {}
    for p in range(st.ip, st.size):
        by_level.setdefault(st.level[p], []).append(p)
    core, cost = 0, 0
    while True:
        added = False
        for lev in sorted(by_level, reverse=True):
            candidates = [p for p in by_level[lev] if not core >> p & 1]
            for p in draws.shuffle(candidates):
                new = st.closure[p] & ~core
                extra = sum(cost_of[q] for q in _bits(new))
                if cost + extra <= n:
                    core |= new
                    cost += extra
                    added = True
                    break
            if added:
                break
        if not added:
            break
    unused = [p for p in range(st.ip) if not core >> p & 1]
    for p in draws.sample(unused, min(m - cost, len(unused))):
        core |= 1 << p
    return core


def _bits(mask: int) -> list[int]:
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


def topological_order(draws: Draws, st: Structure, core: int) -> Optional[tuple[list[int], dict[int, int]]]:
    """[P2.1 Alg. 3]: build Topo from the query backwards; returns (Topo, new edge r -> x per instance x) or None.

    Next1 = remaining vertices with an edge into Topo; Next2 = remaining vertices with no edge to another
    remaining vertex. The weight exp((1[abstract] + 1[in Next1]) |g|) follows [P2.1 Remark D.4].
    """
    vertices = _bits(core)
    succ_count = {v: 0 for v in vertices}
    for v in vertices:
        for q in st.struct_preds[v]:
            succ_count[q] += 1
    remaining = set(vertices)
    out_to_rest = dict(succ_count)  # edges into remaining vertices
    into_topo = {v: False for v in vertices}
    p0, g = draws.uniform(), abs(draws.normal())
    sinks = [v for v in vertices if succ_count[v] == 0]
    topo_rev: list[int] = []
    new_edge: dict[int, int] = {}

    def place(x: int) -> None:
        remaining.discard(x)
        topo_rev.append(x)
        for q in st.struct_preds[x]:
            out_to_rest[q] -= 1
            into_topo[q] = True

    place(draws.choice(sinks))
    while remaining:
        x = topo_rev[-1]
        ready = [r for r in sorted(remaining) if into_topo[r] and out_to_rest[r] == 0]
        if not st.is_abstract[x] and (not ready or draws.coin(p0)):
            pool = [r for r in sorted(remaining) if out_to_rest[r] == 0] if not ready else sorted(remaining)
            weights = [math.exp((st.is_abstract[r] + into_topo[r]) * g) for r in pool]
            r = pool[draws.weighted(weights)]
            new_edge[x] = r
            into_topo[r] = True
            if r not in ready and out_to_rest[r] == 0:
                ready = [v for v in sorted(remaining) if into_topo[v] and out_to_rest[v] == 0]
        if not ready:
            return None  # stuck right after an abstract parameter: redraw
        place(draws.choice(ready))
    topo_rev.reverse()
    return topo_rev, new_edge


def exact_op(draws: Draws, st: Structure, topo: list[int], new_edge: dict[int, int], s: int,
             max_preds: int) -> Optional[tuple[dict[int, list[int]], dict[int, bool]]]:
    """[P2.1 Alg. 4]: give instance parameters ops summing (with the abstract ones) to exactly s, then predecessors."""
    cap_top = max(1, max_preds - 1)
    inst_pos = [(i, x) for i, x in enumerate(topo, 1) if not st.is_abstract[x]]
    op = {x: 1 for _, x in inst_pos}
    cap = {x: min(cap_top, max(1, i - 1)) for i, x in inst_pos}
    total = len(inst_pos) + sum(st.abstract_op[x] for x in topo if st.is_abstract[x])
    while total < s:
        open_ = [x for _, x in inst_pos if op[x] < cap[x]]
        if not open_:
            return None
        op[draws.choice(open_)] += 1
        total += 1
    if total != s:
        return None
    preds: dict[int, list[int]] = {}
    uses_rng: dict[int, bool] = {}
    for i, x in inst_pos:
        before = topo[: i - 1]
        pool_size = len(before) + 1  # RNG counts
        wanted = (1 + draws.coin()) if op[x] == 1 else op[x] + 1
        wanted = min(wanted, pool_size, max_preds)
        if wanted == pool_size:
            preds[x], uses_rng[x] = list(before), True
            continue
        chosen = [new_edge[x]] if x in new_edge else []
        rng = len(chosen) < wanted and draws.coin()
        rest = [v for v in before if v not in chosen]
        chosen += draws.sample(rest, wanted - len(chosen) - rng)
        preds[x], uses_rng[x] = chosen, rng
    return preds, uses_rng


def add_unnecessary(draws: Draws, st: Structure, preds: dict[int, list[int]], uses_rng: dict[int, bool],
                    order: list[int], max_preds: int) -> list[int]:
    """[P2.1 Alg. 5]: every other instance parameter joins G_d, half of them independent; returns G_d's order."""
    order = list(order)
    in_graph = 0
    for v in order:
        in_graph |= 1 << v
    independent: list[int] = []
    rest = [p for p in range(st.ip) if not in_graph >> p & 1]
    for x in draws.shuffle(rest):
        if draws.coin():
            pool = list(independent)
            independent.append(x)
        else:
            ready_abstract = [a for a in range(st.ip, st.size)
                              if not in_graph >> a & 1 and st.inst_closure[a] & ~in_graph == 0]
            pool = order + ready_abstract
        count = 1
        while count < min(max_preds, len(pool) + 1) and draws.coin():
            count += 1
        if count == len(pool) + 1:
            chosen, rng = list(pool), True
        else:
            rng = draws.coin()
            chosen = draws.sample(pool, count - rng)
        for q in chosen:
            if not in_graph >> q & 1:  # an abstract parameter enters with what it needs
                for a in _bits(st.closure[q] & ~in_graph):
                    order.append(a)
                    in_graph |= 1 << a
        preds[x], uses_rng[x] = chosen, rng
        order.append(x)
        in_graph |= 1 << x
    return order


def draw_dependency_graph(draws: Draws, world: World, s: int) -> tuple[Structure, DependencyGraph, int]:
    """Structure and dependency graph whose necessary part has op exactly s; also returns the draws used.

    [P2.1 Alg. 7]: a failed topological order redraws the structure (up to 1,000 times), then all
    hyperparameters; a failed exact op redraws the hyperparameters. Kit rule: s itself is never redrawn,
    so the op law of the training mix holds exactly.
    """
    cfg = world.config
    tries = 0
    while tries < MAX_TOTAL_DRAWS:
        hyper = draw_hyper(draws, cfg, s)
        for _ in range(MAX_STRUCTURE_DRAWS):
            tries += 1
            st = draw_structure(draws, world, hyper)
            core = necessary_core(draws, st, hyper.n, hyper.m)
            built = topological_order(draws, st, core)
            if built is None:
                if tries >= MAX_TOTAL_DRAWS:
                    break
                continue
            topo, new_edge = built
            exact = exact_op(draws, st, topo, new_edge, s, cfg.max_preds)
            if exact is None:
                break
            preds, uses_rng = exact
            order = add_unnecessary(draws, st, preds, uses_rng, topo, cfg.max_preds)
            return st, DependencyGraph(preds, uses_rng, order, topo, topo[-1]), tries
    raise GenerationError(f"no dependency graph with op = {s} in world {cfg.name!r} after {tries} draws")
