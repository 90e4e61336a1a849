"""The tour's synthetic world: nested brackets with a hidden depth.

A sentence is a balanced string over two bracket pairs, ``( )`` and ``[ ]``, nested at most
``max_depth`` deep, for example ``( [ ] ( ) ) [ ]``. It is written by a random walk:

* at depth 0 the sentence may end (with probability ``p_end``) or opens a bracket;
* below ``max_depth`` the walk opens a new bracket (either type, equally likely) or closes the
  innermost one, each with probability 1/2;
* at ``max_depth`` it must close.

Two variables are hidden from the model, never written in the text, yet needed to predict it:
the current **depth** (may the sentence end? must it close?) and the **type of the innermost open
bracket** (which closer is legal). The tour trains a tiny GPT on these sentences and asks a linear
probe whether its hidden states carry the depth: the series' method in miniature.

Because the generating process is known exactly, so is the best possible loss (:func:`entropy_floor`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..tokenizer import WordTokenizer

SYMBOLS = ("(", ")", "[", "]")
OPENERS = {"(": ")", "[": "]"}
_TOKENIZER = WordTokenizer(SYMBOLS, specials=("<pad>", "<bos>"))


@dataclass(frozen=True)
class BracketWorld:
    max_depth: int = 4
    p_end: float = 0.25  # chance that a sentence ends each time the walk is back at depth 0
    max_len: int = 60  # longer walks are closed off early (keeps windows small)

    def __post_init__(self):
        if self.max_depth < 1:
            raise ValueError(f"max_depth must be at least 1, got {self.max_depth}")
        if not 0 < self.p_end <= 1:
            raise ValueError(f"p_end must lie in (0, 1], got {self.p_end}")

    def tokenizer(self) -> WordTokenizer:
        return _TOKENIZER

    @property
    def bos_id(self) -> int:
        return self.tokenizer().id_of("<bos>")

    # --- sampling --------------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator, n: int, labels: bool = False):
        """n sentences as token-id arrays; with ``labels`` also the depth after each token.

        ``labels`` gives, per sentence, (depth, innermost) arrays: depth after reading each token,
        and the innermost open bracket type after it (0 none, 1 round, 2 square).
        """
        tok = self.tokenizer()
        ids = {s: tok.id_of(s) for s in SYMBOLS}
        sentences, depths, inners = [], [], []
        for _ in range(n):
            stack: list[str] = []
            out: list[int] = []
            while True:
                depth = len(stack)
                # Opening costs two tokens (the opener and its closer): never open past max_len.
                no_room = len(out) + depth + 2 > self.max_len
                if depth == 0 and out and (no_room or rng.random() < self.p_end):
                    break
                must_close = depth == self.max_depth or (depth > 0 and no_room)
                if depth > 0 and (must_close or rng.random() < 0.5):
                    opener = stack.pop()
                    out.append(ids[OPENERS[opener]])
                else:
                    opener = "(" if rng.random() < 0.5 else "["
                    stack.append(opener)
                    out.append(ids[opener])
                if labels:
                    depths.append(len(stack))
                    inners.append(0 if not stack else (1 if stack[-1] == "(" else 2))
            sentences.append(np.array(out, dtype=np.int64))
        if not labels:
            return sentences
        lengths = np.cumsum([0] + [len(s) for s in sentences])
        depth_arr, inner_arr = np.array(depths), np.array(inners)
        per_sentence = [(depth_arr[a:b], inner_arr[a:b]) for a, b in zip(lengths[:-1], lengths[1:])]
        return sentences, per_sentence

    def sample_fn(self):
        """The ``sample_fn(rng, n)`` an :class:`~plmkit.data.packing.OnlineStream` needs."""
        return lambda rng, n: self.sample(rng, n)

    # --- ground truth ----------------------------------------------------------------------------------
    def is_valid(self, tokens) -> bool:
        """Is this token list one well-formed sentence of the world?"""
        tok = self.tokenizer()
        stack: list[str] = []
        if len(tokens) == 0 or len(tokens) > self.max_len:
            return False
        for t in tokens:
            s = tok.id_to_token[int(t)] if 0 <= int(t) < tok.vocab_size else None
            if s in OPENERS:
                stack.append(s)
                if len(stack) > self.max_depth:
                    return False
            elif s in (")", "]"):
                if not stack or OPENERS[stack.pop()] != s:
                    return False
            else:
                return False
        return not stack

    def entropy_floor(self, n: int = 4000, seed: int = 12345) -> float:
        """Best achievable loss (nats per predicted token, the end-of-sentence prediction included).

        Each step's choice has a known distribution, so the floor is the mean entropy of those
        choices, estimated over n sentences (Monte Carlo over sentence shapes; exact per step).
        """
        rng = np.random.default_rng(seed)
        h_free = -(2 * 0.25 * math.log(0.25) + 0.5 * math.log(0.5))  # open ( / open [ / close
        h_start = math.log(2)  # first token: ( or [
        h_zero = -(self.p_end * math.log(self.p_end) + (1 - self.p_end) * math.log((1 - self.p_end) / 2)) if self.p_end < 1 else 0.0
        total, count = 0.0, 0
        for sentence, (depth, _) in zip(*self.sample(rng, n, labels=True)):
            total += h_start
            for d, pos in zip(depth, range(1, len(sentence) + 1)):
                room = pos + d + 2 <= self.max_len
                if d == 0 and room:
                    total += h_zero
                elif 0 < d < self.max_depth and room:
                    total += h_free
            count += len(sentence) + 1
        return total / count
