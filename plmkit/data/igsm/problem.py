"""One iGSM problem: its sentences, question, the fixed-format solution, the answer and the template key.

Sentence styles [P2.1 §2.1, App. D.3]:

* paper: ``The number of each A's B equals 5 more than the sum of each C's D and each E's F.``
* compact (plmkit's small-world style, about half the tokens): ``A's B = 5 + sum C's D , E's F .``

The solution always has the paper's shape [P2.1 §2.2]: one sentence per necessary parameter,
``Define A's B as x; R = u + v = 3 + 4 = 7; so x = 12 + R = 12 + 7 = 19.`` Every clause is one binary
operation, so the number of ``;`` equals op; letters are distinct random picks from a-z, A-Z.

Template key and split [P2.1 fn. 11, §2.4, Remark D.7]: the solution with numbers -> 0, letters renamed
a, b, c in order of appearance, instance names -> Inst and abstract names -> Inter, hashed with
SHA-256 mod 23; keys < 17 are training problems, the rest test problems. The default key (``skeleton``)
also hashes the sorted problem-sentence templates, so that op 1 (a single solution template) still has
problems on both sides; ``split_key="solution"`` is the papers' key.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from plmkit.data.igsm.graphs import Structure
from plmkit.data.igsm.vocab import LETTERS, NUMBERS, to_text
from plmkit.data.igsm.world import World

KEY_BINS = 23
TRAIN_BINS = 17  # train on key < 17, test on key >= 17 [P2.1 §2.4]
SPLIT_KEYS = ("skeleton", "solution")
LAYOUTS = ("pq", "qp")
LOSSES = ("solution", "all")
SPLITS = ("train", "test", "any")
_LETTER_SET = frozenset(LETTERS)
_NUMBER_SET = frozenset(NUMBERS)


@dataclass(frozen=True)
class Expr:
    """How one instance parameter is defined by its problem sentence.

    ``preds`` in sentence order; ``comb`` is ``sum`` or ``diff`` (first minus second) for two or more
    predecessors, ``id`` for one; ``mode`` is ``const`` (RNG only), ``plus`` (c more than), ``times``
    (c times as much as) or ``None`` (no RNG).
    """

    preds: tuple[int, ...]
    comb: str = "id"
    mode: Optional[str] = None
    const: int = 0

    @property
    def in_degree(self) -> int:
        return len(self.preds) + (self.mode is not None)

    @property
    def op(self) -> int:
        return max(1, self.in_degree - 1)  # [P2.1 Def. D.1]

    def value(self, values: Sequence[int], modulus: int) -> int:
        if self.mode == "const":
            return self.const
        if self.comb == "diff":
            inner = (values[self.preds[0]] - values[self.preds[1]]) % modulus
        else:
            inner = sum(values[q] for q in self.preds) % modulus
        if self.mode == "plus":
            return (self.const + inner) % modulus
        if self.mode == "times":
            return (self.const * inner) % modulus
        return inner


def abstract_value(st: Structure, p: int, values: Sequence[int], modulus: int) -> int:
    deps = st.struct_preds[p]
    if st.level[p] == 1:
        return sum(values[q] for q in deps) % modulus
    return sum(values[deps[i]] * values[deps[i + 1]] for i in range(0, len(deps), 2)) % modulus


# --- solution steps ------------------------------------------------------------------------------------
# An operand is ("p", param), ("c", constant) or ("s", index of an earlier step of the same sentence).
def solution_steps(st: Structure, exprs: dict, p: int):
    """The binary operations that compute parameter p: ("const", c), ("copy", operand) or ("steps", [...]).

    Operands are folded left to right; the RNG constant is the left operand of the outer operation; an
    abstract parameter first forms inst x abs per child, then sums the products [P2.1 §2.2, App. D.3].
    """
    steps: list[tuple] = []
    if not st.is_abstract[p]:
        e = exprs[p]
        if e.mode == "const":
            return ("const", e.const)
        items = [("p", q) for q in e.preds]
        symbol = "-" if e.comb == "diff" else "+"
    elif st.level[p] == 1:
        items = [("p", q) for q in st.struct_preds[p]]
        symbol, e = "+", None
    else:
        deps = st.struct_preds[p]
        items = []
        for i in range(0, len(deps), 2):
            steps.append((("p", deps[i]), "*", ("p", deps[i + 1])))
            items.append(("s", len(steps) - 1))
        symbol, e = "+", None
    if len(items) == 1 and not steps and (e is None or e.mode is None):
        return ("copy", items[0])
    acc = items[0]
    for item in items[1:]:
        steps.append((acc, symbol, item))
        acc = ("s", len(steps) - 1)
    if e is not None and e.mode in ("plus", "times"):
        steps.append((("c", e.const), "+" if e.mode == "plus" else "*", acc))
    return ("steps", steps)


def apply(symbol: str, a: int, b: int, modulus: int) -> int:
    if symbol == "+":
        return (a + b) % modulus
    if symbol == "-":
        return (a - b) % modulus
    return (a * b) % modulus


def render_solution_sentence(st: Structure, exprs: dict, p: int, letter_of: dict, values: Sequence[int],
                             letters: list[str], modulus: int) -> list[str]:
    """``Define A 's B as x ; ... ; so x = ... .`` using ``letters`` (popped from the end) for new letters."""
    a, b = st.names[p]
    own = letters.pop()
    out = ["Define", a, "'s", b, "as", own, ";"]
    kind = solution_steps(st, exprs, p)
    if kind[0] == "const":
        out += ["so", own, "=", str(kind[1]), "."]
    elif kind[0] == "copy":
        q = kind[1][1]
        out += ["so", own, "=", letter_of[q], "=", str(values[q]), "."]
    else:
        steps = kind[1]
        step_letter: list[str] = []
        step_value: list[int] = []

        def sym_val(operand):
            tag, x = operand
            if tag == "p":
                return letter_of[x], values[x]
            if tag == "c":
                return str(x), x
            return step_letter[x], step_value[x]

        for i, (left, symbol, right) in enumerate(steps):
            (ls, lv), (rs, rv) = sym_val(left), sym_val(right)
            result = apply(symbol, lv, rv, modulus)
            last = i == len(steps) - 1
            name = own if last else letters.pop()
            step_letter.append(name)
            step_value.append(result)
            out += (["so"] if last else []) + [name, "=", ls, symbol, rs, "=", str(lv), symbol, str(rv), "=",
                                               str(result), "." if last else ";"]
    letter_of[p] = own
    return out


# --- problem sentences and question ---------------------------------------------------------------------
def _phrase(st: Structure, e: Expr, each: list[str]) -> list[str]:
    names = [each + [st.names[q][0], "'s", st.names[q][1]] for q in e.preds]
    if len(names) == 1:
        return names[0]
    out = ["the", "difference" if e.comb == "diff" else "sum", "of"] + names[0]
    for middle in names[1:-1]:
        out += [","] + middle
    return out + ["and"] + names[-1]


def render_problem_sentence(st: Structure, e: Expr, p: int, style: str) -> list[str]:
    a, b = st.names[p]
    if style == "compact":
        out = [a, "'s", b, "="]
        if e.mode == "const":
            return out + [str(e.const), "."]
        if e.mode == "plus":
            out += [str(e.const), "+"]
        elif e.mode == "times":
            out += [str(e.const), "*"]
        if len(e.preds) > 1:
            out.append("diff" if e.comb == "diff" else "sum")
        for i, q in enumerate(e.preds):
            out += ([","] if i else []) + [st.names[q][0], "'s", st.names[q][1]]
        return out + ["."]
    out = ["The", "number", "of", "each", a, "'s", b, "equals"]
    if e.mode == "const":
        return out + [str(e.const), "."]
    if e.mode == "plus":
        out += [str(e.const), "more", "than"]
    elif e.mode == "times":
        out += [str(e.const), "times", "as", "much", "as"]
    return out + _phrase(st, e, ["each"]) + ["."]


def render_question(st: Structure, query: int, style: str) -> list[str]:
    a, b = st.names[query]
    if style == "compact":
        return ["?", a, "'s", b]
    return ["How", "many", b, "does", a, "have", "?"]


# --- template key [P2.1 fn. 11] -------------------------------------------------------------------------
def template(tokens: Sequence[str], items: frozenset, categories: frozenset) -> str:
    """Numbers -> 0, letters -> a, b, c (first appearance), names -> Inst / Inter."""
    out: list[str] = []
    rename: dict[str, str] = {}
    i, n = 0, len(tokens)
    while i < n:
        t = tokens[i]
        if t in items and i + 2 < n and tokens[i + 1] == "'s":
            out.append("Inter" if tokens[i + 2] in categories else "Inst")
            i += 3
            continue
        if t in _NUMBER_SET:
            out.append("0")
        elif t in _LETTER_SET:
            if t not in rename:
                rename[t] = LETTERS[len(rename) % len(LETTERS)]
            out.append(rename[t])
        else:
            out.append(t)
        i += 1
    return " ".join(out)


def key_of(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest(), "big") % KEY_BINS


def split_of(key: int) -> str:
    return "train" if key < TRAIN_BINS else "test"


# --- the problem -------------------------------------------------------------------------------------------
@dataclass
class Problem:
    """A rendered iGSM problem with everything the checker, probes and retry data need.

    Parameters are integer ids of the universe U (``names[p]`` = (item token, item or category token)):
    instance parameters 0..ip-1, then abstract ones. ``preds[p]`` are direct predecessors (RNG left out):
    from the problem sentence for instance parameters, from the world for abstract ones.
    """

    world: World
    style: str
    structure: Structure
    exprs: dict  # instance param -> Expr
    graph: list[int]  # parameters of the dependency graph G_d, in a topological order
    query: int
    order: list[int]  # the solution's order of the necessary parameters (query last)
    sentence_order: list[int]  # instance parameters in problem-text order
    values: list[int]
    sentences: list[list[str]]
    question: list[str]
    solution_sentences: list[list[str]]
    keys: dict  # split key kind -> 0..22
    split_key: str = "skeleton"
    reask: bool = False
    tries: int = 1  # structure draws used by the generator
    _ancestors: Optional[list[int]] = field(default=None, repr=False)

    # --- basic facts ----------------------------------------------------------------------------------------
    @property
    def names(self) -> list[tuple[str, str]]:
        return self.structure.names

    @property
    def preds(self) -> list[tuple[int, ...]]:
        st = self.structure
        return [self.exprs[p].preds if p < st.ip else st.struct_preds[p] for p in range(st.size)]

    def preds_of(self, p: int) -> tuple[int, ...]:
        return self.exprs[p].preds if p < self.structure.ip else self.structure.struct_preds[p]

    def param_op(self, p: int) -> int:
        return self.exprs[p].op if p < self.structure.ip else self.structure.abstract_op[p]

    def is_abstract(self, p: int) -> bool:
        return self.structure.is_abstract[p]

    @property
    def universe(self) -> range:
        return range(self.structure.size)

    @property
    def necessary(self) -> frozenset:
        return frozenset(self.order)

    @property
    def op(self) -> int:
        return sum(self.param_op(p) for p in self.order)

    @property
    def ip(self) -> int:
        return self.structure.ip

    @property
    def answer(self) -> int:
        return self.values[self.query]

    @property
    def key(self) -> int:
        return self.keys[self.split_key]

    @property
    def split(self) -> str:
        return split_of(self.key)

    @property
    def modulus(self) -> int:
        return self.world.config.modulus

    def name_tokens(self, p: int) -> list[str]:
        a, b = self.structure.names[p]
        return [a, "'s", b]

    def name(self, p: int) -> str:
        return to_text(self.name_tokens(p))

    def param_id(self, name: "str | tuple[str, str]") -> int:
        """Id of a parameter from its display name ("Maple Elementary's Backpack") or token pair."""
        if isinstance(name, str):
            tokens = self.world.vocab.split(name)
            name = (tokens[0], tokens[2]) if len(tokens) == 3 and tokens[1] == "'s" else ("", "")
        if name not in self.structure.index:
            raise KeyError(f"{name!r} is not a parameter of this problem")
        return self.structure.index[name]

    def ancestors(self, p: int) -> int:
        """Bitmask of p's proper ancestors (its recursive predecessors)."""
        if self._ancestors is None:
            st = self.structure
            in_graph = set(self.graph)
            full = list(self.graph) + [a for a in range(st.ip, st.size) if a not in in_graph]
            anc = [0] * st.size
            for x in full:
                mask = 0
                for q in self.preds_of(x):
                    mask |= anc[q] | (1 << q)
                anc[x] = mask
            self._ancestors = anc
        return self._ancestors[p]

    # --- tokens and text -----------------------------------------------------------------------------------
    @property
    def problem_tokens(self) -> list[str]:
        return [t for s in self.sentences for t in s]

    @property
    def solution_tokens(self) -> list[str]:
        return [t for s in self.solution_sentences for t in s]

    @property
    def problem_text(self) -> str:
        return to_text(self.problem_tokens)

    @property
    def question_text(self) -> str:
        return to_text(self.question)

    @property
    def solution_text(self) -> str:
        return to_text(self.solution_tokens)

    def tokens(self, layout: str = "pq", solution: Optional[Sequence[str]] = None, eos: bool = True) -> list[str]:
        """``<bos> [question] sentences [question] <sol> solution <ans> value <eos>`` [P2.1 §2.4]."""
        body = self.prompt_tokens(layout)
        body += list(self.solution_tokens if solution is None else solution)
        body += ["<ans>", str(self.answer)]
        return body + ["<eos>"] if eos else body

    def prompt_tokens(self, layout: str = "pq") -> list[str]:
        """Everything up to and including ``<sol>``: what a model is given at evaluation."""
        _check_choice("layout", layout, LAYOUTS)
        problem = self.problem_tokens
        middle = self.question + problem if layout == "qp" else problem + self.question
        return ["<bos>"] + middle + ["<sol>"]

    def prompt(self, layout: str = "pq") -> np.ndarray:
        return np.asarray(self.world.vocab.ids(self.prompt_tokens(layout)), dtype=np.int64)

    def sequence(self, layout: str = "pq", loss: str = "solution", solution=None,
                 mask: Optional[Sequence[bool]] = None, eos: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(token ids, loss weights) of the full training sequence.

        ``loss="solution"``: weight 1 on the solution, ``<ans>``, the value and ``<eos>``, 0 on the
        problem; ``loss="all"``: 1 everywhere. ``solution`` may be a retry solution (a token list or an
        object with ``tokens`` and ``mask``); ``mask`` marks solution tokens whose weight is set to 0.
        """
        _check_choice("loss", loss, LOSSES)
        if solution is not None and hasattr(solution, "tokens"):
            mask = solution.mask if mask is None else mask
            solution = solution.tokens
        tokens = self.tokens(layout, solution, eos=eos)
        ids = np.asarray(self.world.vocab.ids(tokens), dtype=np.int64)
        weights = np.ones(len(ids), dtype=np.float32)
        start = len(self.prompt_tokens(layout))
        if loss == "solution":
            weights[:start] = 0.0
        if mask is not None:
            hidden = np.flatnonzero(np.asarray(mask, dtype=bool)) + start
            weights[hidden] = 0.0
        return ids, weights

    def example(self, layout: str = "pq", loss: str = "solution", solution=None, mask=None):
        """A :class:`plmkit.data.packing.Example` without the final ``<eos>``: pack with ``sep_id=vocab.eos``."""
        from plmkit.data.packing import Example

        ids, weights = self.sequence(layout, loss, solution, mask, eos=False)
        return Example(ids, weights, end_weight=1.0)

    def to_json(self, layout: str = "pq") -> dict:
        """The JSON record written by ``plmkit igsm generate`` (fields documented there)."""
        return {
            "world": self.world.name, "style": self.style, "layout": layout,
            "problem": self.problem_text, "question": self.question_text, "solution": self.solution_text,
            "answer": self.answer, "op": self.op, "ip": self.ip, "query": self.name(self.query),
            "necessary": [self.name(p) for p in self.order], "key": self.key, "split_key": self.split_key,
            "split": self.split, "reask": self.reask,
        }

    def __repr__(self) -> str:
        return (f"Problem(world={self.world.name!r}, op={self.op}, ip={self.ip}, query={self.name(self.query)!r}, "
                f"answer={self.answer}, key={self.key})")


def _check_choice(what: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(choices)}, got {value!r}")


def compute_values(st: Structure, exprs: dict, graph: Sequence[int], modulus: int) -> list[int]:
    """Values of every parameter of U: G_d in its order, then the abstract ones outside G_d by id."""
    values = [0] * st.size
    done = [False] * st.size
    for p in graph:
        values[p] = exprs[p].value(values, modulus) if p < st.ip else abstract_value(st, p, values, modulus)
        done[p] = True
    for p in range(st.ip, st.size):
        if not done[p]:
            values[p] = abstract_value(st, p, values, modulus)
    return values


def assemble(world: World, st: Structure, exprs: dict, graph: list[int], query: int, order: list[int],
             sentence_order: list[int], letters: list[str], style: Optional[str] = None,
             split_key: str = "skeleton", values: Optional[list[int]] = None, sentences=None, **meta) -> Problem:
    """Render a problem from its graphs. ``letters`` must hold at least op distinct letters (consumed)."""
    _check_choice("split_key", split_key, SPLIT_KEYS)
    style = style or world.config.style
    modulus = world.config.modulus
    if values is None:
        values = compute_values(st, exprs, graph, modulus)
    if sentences is None:
        sentences = [render_problem_sentence(st, exprs[p], p, style) for p in sentence_order]
    letter_of: dict[int, str] = {}
    solution = [render_solution_sentence(st, exprs, p, letter_of, values, letters, modulus) for p in order]
    vocab = world.vocab
    sol_template = template([t for s in solution for t in s], vocab.item_set, vocab.category_set)
    sentence_templates = sorted(template(s, vocab.item_set, vocab.category_set) for s in sentences)
    keys = {"solution": key_of(sol_template), "skeleton": key_of("\n".join([sol_template] + sentence_templates))}
    return Problem(world, style, st, exprs, graph, query, order, sentence_order, values, sentences,
                   render_question(st, query, style), solution, keys, split_key=split_key, **meta)
