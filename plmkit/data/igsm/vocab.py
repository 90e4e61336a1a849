"""The word-level vocabulary of an iGSM world, and the text <-> token conversions.

The papers feed GPT-2's BPE tokens [P2.2 App. D]; plmkit gives every item name, category, number and
letter exactly one token instead. Sequences get shorter, a parameter name ``A 's B`` is always three
tokens (so probe suffixes have a fixed length), and the checker can work on token lists.

Id order (fixed, so the same world always gives the same ids):

1. specials ``<pad> <bos> <sol> <ans> <eos> [BACK] [START] [MID] [END]``;
2. template words of both sentence styles, ``'s`` and the punctuation ``. , ; ? = + - *``;
3. the numbers 0..22, then the 52 letters a..z, A..Z;
4. category names, then item names, in file order.

Names with spaces become one token with underscores (``Maple_Elementary``); display text turns them
back into spaces and attaches ``. , ; ?`` and ``'s`` to the word before.
"""
from __future__ import annotations

import re
import string
from typing import Iterable, Sequence

import numpy as np

from plmkit.tokenizer import WordTokenizer

SPECIALS = ("<pad>", "<bos>", "<sol>", "<ans>", "<eos>", "[BACK]", "[START]", "[MID]", "[END]")
PAPER_WORDS = ("The", "number", "of", "each", "equals", "more", "than", "times", "as", "much", "the", "sum",
               "difference", "and", "How", "many", "does", "have", "Define", "so")
COMPACT_WORDS = ("diff",)  # plus "sum", shared with the paper style
POSSESSIVE = "'s"
PUNCTUATION = (".", ",", ";", "?", "=", "+", "-", "*")
NUMBERS = tuple(str(i) for i in range(23))
LETTERS = tuple(string.ascii_lowercase + string.ascii_uppercase)
TEMPLATE_WORDS = frozenset(PAPER_WORDS + COMPACT_WORDS + (POSSESSIVE,) + PUNCTUATION + SPECIALS)

_ATTACH_LEFT = {".", ",", ";", "?", POSSESSIVE}
# Specials, 's, single punctuation marks, then runs of anything else (names are merged afterwards).
_TEXT_RE = re.compile(r"<[a-z]+>|\[[A-Z]+\]|'s\b|[.,;?=+*\-]|[^\s.,;?=+*\-'<\[]+|\S")


def is_number_or_letter(token: str) -> bool:
    return token in NUMBERS or (len(token) == 1 and token in LETTERS)


def name_token(name: str) -> str:
    """The one token of a display name: spaces become underscores."""
    return name.replace(" ", "_")


def display_name(token: str) -> str:
    return token.replace("_", " ")


class Vocab:
    """Token ids of one world plus the text helpers; ``.tokenizer`` is a plain :class:`WordTokenizer`.

    Useful attributes: ``pad, bos, sol, ans, eos, back, start, mid, end`` (ids), ``vocab_size``,
    ``number_ids`` (id of the number 0..22 by value), ``letter_ids``, and the token classes
    ``items``, ``categories`` (sets of name tokens).
    """

    def __init__(self, world):
        self.categories = [name_token(c) for c in world.categories()]
        self.items = [name_token(i) for i in world.items()]
        words = list(PAPER_WORDS) + list(COMPACT_WORDS) + [POSSESSIVE] + list(PUNCTUATION)
        self.tokenizer = WordTokenizer(words + list(NUMBERS) + list(LETTERS) + self.categories + self.items,
                                       specials=SPECIALS)
        self.token_to_id = self.tokenizer.token_to_id
        self.id_to_token = self.tokenizer.id_to_token
        for special in SPECIALS:
            setattr(self, special.strip("<>[]").lower(), self.token_to_id[special])
        self.number_ids = [self.token_to_id[n] for n in NUMBERS]
        self.letter_ids = [self.token_to_id[x] for x in LETTERS]
        self.item_set = frozenset(self.items)
        self.category_set = frozenset(self.categories)
        # Multi-word names, indexed by their first word, longest first (for text -> tokens).
        self._multiword: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for token in self.categories + self.items:
            words = tuple(token.split("_"))
            if len(words) > 1:
                self._multiword.setdefault(words[0], []).append((words, token))
        for options in self._multiword.values():
            options.sort(key=lambda option: -len(option[0]))

    # --- sizes ------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def __len__(self) -> int:
        return self.tokenizer.vocab_size

    def id_of(self, token: str) -> int:
        return self.tokenizer.id_of(token)

    # --- tokens <-> ids ---------------------------------------------------------------------------
    def ids(self, tokens: Iterable[str]) -> list[int]:
        """Ids of a list of tokens (KeyError naming an unknown token)."""
        table = self.token_to_id
        try:
            return [table[t] for t in tokens]
        except KeyError as err:
            raise KeyError(f"token {err.args[0]!r} is not in the iGSM vocabulary ({self.vocab_size} tokens)") from None

    def tokens(self, ids: Iterable[int]) -> list[str]:
        return [self.id_to_token[int(i)] for i in ids]

    def encode(self, text: "str | Sequence[str]") -> list[int]:
        """Ids of display text (names with spaces are recognised) or of a token list."""
        return self.ids(self.split(text) if isinstance(text, str) else text)

    def decode(self, ids: Iterable[int], skip_specials: bool = False) -> str:
        return to_text(self.tokens(ids), skip_specials=skip_specials)

    # --- text -> tokens ---------------------------------------------------------------------------
    def split(self, text: str) -> list[str]:
        """Display text -> tokens; words that are no token are kept as they are (the checker flags them)."""
        words = _TEXT_RE.findall(text)
        out: list[str] = []
        i = 0
        while i < len(words):
            word = words[i]
            for option, token in self._multiword.get(word, ()):
                if tuple(words[i:i + len(option)]) == option:
                    out.append(token)
                    i += len(option)
                    break
            else:
                out.append(word)
                i += 1
        return out


def to_text(tokens: Sequence[str], skip_specials: bool = False) -> str:
    """Display text of a token list: underscores -> spaces, punctuation and 's attached to the left."""
    out: list[str] = []
    for token in tokens:
        if skip_specials and token in SPECIALS:
            continue
        if out and token in _ATTACH_LEFT:
            out[-1] += token
        else:
            out.append(display_name(token))
    return " ".join(out)


def as_token_list(generated, vocab: Vocab) -> list[str]:
    """Tokens of a generation given as text, a token list, or ids (list, array, tensor).

    Never raises: ids outside the vocabulary and other junk become the token ``<unk>``.
    """
    if generated is None:
        return []
    if isinstance(generated, str):
        return vocab.split(generated)
    if hasattr(generated, "detach"):  # a torch tensor
        generated = generated.detach().cpu().numpy()
    if isinstance(generated, np.ndarray):
        generated = generated.reshape(-1).tolist()
    out: list[str] = []
    n = vocab.vocab_size
    try:
        items = list(generated)
    except TypeError:
        return ["<unk>"]
    for item in items:
        if isinstance(item, str):
            out.append(item)
            continue
        try:
            idx = int(item)
        except (TypeError, ValueError, OverflowError):
            out.append("<unk>")
            continue
        out.append(vocab.id_to_token[idx] if 0 <= idx < n and idx == item else "<unk>")
    return out
