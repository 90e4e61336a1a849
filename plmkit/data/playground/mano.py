"""Mano: knowledge manipulation, modular arithmetic in the head [P4.1 §2.1, App. A.4].

    <bos> <len_3> + * a b - c d <ans> r        r = ((a*b) + (c-d)) mod 23

An expression of l operations in prefix notation over operands 0..22; the model writes the value at
once after ``<ans>``. The "knowledge" is the three 23x23 tables, which must live in the weights; the
skill is composing look-ups along the expression tree without writing intermediate steps.

* l ~ U{1..L}; gen(l) is an operand if l = 0, else a random operator followed by gen(l') and
  gen(l-1-l') with l' ~ U{0..l-1}. Subtraction is taken mod 23 (non-negative). 2l+5 tokens.
* Loss on all tokens: hierarchical manipulation needs attention across the whole expression.
* Evaluation: l = L exactly, teacher-forced argmax at the ``<ans>`` position; chance 1/23.

:func:`evaluate` computes the value from the tokens with a stack, independently of the generator.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Optional, Sequence

import numpy as np

from . import common
from .common import Answer, Instance
from .vocab import ANS, BOS, Layout

OPERATORS = ("+", "-", "*")


@dataclass(frozen=True)
class ManoConfig:
    L: int = 16          # the longest expression, in operations
    modulus: int = 23

    def __post_init__(self):
        common.check_range("L", self.L, 1)
        common.check_range("modulus", self.modulus, 2)

    @cached_property
    def layout(self) -> Layout:
        specials = tuple(f"<len_{length}>" for length in range(1, self.L + 1)) + OPERATORS
        return Layout(specials, tuple(str(v) for v in range(self.modulus)))

    @cached_property
    def first_operand(self) -> int:
        return self.layout.first_symbol

    def operand_id(self, value: int) -> int:
        return self.first_operand + value

    @cached_property
    def operator_ids(self) -> tuple[int, ...]:
        return tuple(self.layout.special(op) for op in OPERATORS)

    @cached_property
    def length_ids(self) -> tuple[int, ...]:
        return tuple(self.layout.special(f"<len_{length}>") for length in range(1, self.L + 1))

    def length_id(self, length: int) -> int:
        return self.length_ids[length - 1]


PRESETS = {
    "mano": ManoConfig(L=16),        # rows L = 16 / 13 / 10, context 1024
    "mano-mini": ManoConfig(L=8),    # the gpu cell (context 256)
}
PAPER_ROWS = {"mano": (16, 13, 10)}


def _apply(op: str, a: int, b: int, modulus: int) -> int:
    if op == "+":
        return (a + b) % modulus
    if op == "-":
        return (a - b) % modulus
    return (a * b) % modulus


class _Draws:
    """All random choices of one expression, from one block of uniforms, consumed in writing order.

    Operator o = floor(3u), split l' = floor(l u) and operand floor(23u) are uniform on their ranges.
    """

    def __init__(self, rng: np.random.Generator, ops: int, modulus: int):
        u = rng.random(3 * ops + 1)
        self.operators = (u[:ops] * len(OPERATORS)).astype(int).tolist()
        self.splits = u[ops:2 * ops].tolist()
        self.operands = (u[2 * ops:] * modulus).astype(int).tolist()
        self.next_op = self.next_operand = 0


def _expression(cfg: ManoConfig, draws: _Draws, ops: int, out: list[int]) -> int:
    """Append the prefix tokens of a random expression with ``ops`` operations; return its value."""
    if ops == 0:
        value = draws.operands[draws.next_operand]
        draws.next_operand += 1
        out.append(cfg.first_operand + value)
        return value
    op, u = draws.operators[draws.next_op], draws.splits[draws.next_op]
    draws.next_op += 1
    left_ops = int(u * ops)
    out.append(cfg.operator_ids[op])
    left = _expression(cfg, draws, left_ops, out)
    right = _expression(cfg, draws, ops - 1 - left_ops, out)
    return _apply(OPERATORS[op], left, right, cfg.modulus)


def sample_instance(cfg: ManoConfig, rng: np.random.Generator, length: Optional[int] = None) -> Instance:
    """One instance; ``length`` fixes l (default: l ~ U{1..L})."""
    length = 1 + int(rng.random() * cfg.L) if length is None else length  # l ~ U{1..L}
    tokens = [BOS, cfg.length_id(length)]
    value = _expression(cfg, _Draws(rng, length, cfg.modulus), length, tokens)
    marker = len(tokens)
    tokens += [ANS, cfg.operand_id(value)]
    return Instance(np.array(tokens, dtype=np.int64), [Answer(marker, marker + 1, marker + 2, length)],
                    {"ops": length}, loss_on_all=True)


def sample_fn(cfg: ManoConfig, exclude: Optional[frozenset] = None):
    """Training ``sample_fn(rng, n)``: l ~ U{1..L}, loss on every token."""
    return common.make_sample_fn(lambda rng: sample_instance(cfg, rng), exclude)


def eval_set(cfg: ManoConfig, count: int, seed: int = 0, length: Optional[int] = None) -> list[Instance]:
    """``count`` instances with l = L (default) or the given ``length``."""
    length = cfg.L if length is None else length
    common.check_range("length", length, 1, cfg.L)
    rng = common.eval_rng(seed)
    return [sample_instance(cfg, rng, length) for _ in range(count)]


# --- the answer check (independent of the generator) ------------------------------------------------
def evaluate(cfg: ManoConfig, tokens: Sequence[int]) -> int:
    """The value of the instance's expression, read right to left with a stack of operands."""
    tokens = [int(t) for t in tokens]
    if len(tokens) < 4 or tokens[0] != BOS or ANS not in tokens:
        raise ValueError("not a Mano instance: expected <bos> <len_l> expression <ans> ...")
    expression = tokens[2:tokens.index(ANS)]
    names = cfg.layout.tokenizer.id_to_token
    stack: list[int] = []
    for t in reversed(expression):
        word = names[t] if 0 <= t < len(names) else None
        if word is not None and word.isdigit():
            stack.append(int(word))
        elif word in OPERATORS and len(stack) >= 2:
            a, b = stack.pop(), stack.pop()  # the left operand was pushed last
            stack.append({"+": a + b, "-": a - b, "*": a * b}[word] % cfg.modulus)
        else:
            raise ValueError(f"not a Mano instance: unexpected token {word or t!r} in the expression")
    if len(stack) != 1:
        raise ValueError("not a Mano instance: the expression does not reduce to one value")
    return stack[0]


def check(cfg: ManoConfig, tokens: Sequence[int], candidate: Sequence[int]) -> bool:
    """Exact match: the candidate is the single operand token of the expression's value."""
    cand = [int(t) for t in candidate]
    return len(cand) == 1 and cand[0] == cfg.operand_id(evaluate(cfg, tokens))
