"""A closed, word-level tokenizer.

The synthetic worlds of the series have small, known vocabularies (three terminals for a grammar,
a few thousand words for the biographies), so every word gets one id and nothing is ever split
into sub-words. Ids are assigned in a fixed order (specials first, then the given tokens in the
order given), so the same generator config always yields the same ids.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable, Sequence

# Punctuation that becomes its own token, so "Princeton, NJ." -> ["Princeton", ",", "NJ", "."].
# An apostrophe stays inside a word ("O'Brien") unless it starts a possessive "'s".
_WORD_RE = re.compile(r"'s\b|[,.:;?]|(?:[^\s,.:;?']|'(?!s\b))+")
_ATTACHED_LEFT = {",", ".", ":", ";", "?", "'s"}


def split_words(text: str) -> list[str]:
    """Split text into words; ``, . : ; ? 's`` become separate tokens."""
    return _WORD_RE.findall(text)


class WordTokenizer:
    """Maps words to ids and back.

    ``specials`` come first (``<pad>`` must be id 0 so that padding is all zeros);
    ``tokens`` follow in the order given, duplicates of specials ignored.
    """

    def __init__(self, tokens: Iterable[str], specials: Sequence[str] = ("<pad>", "<bos>")):
        specials = list(specials)
        if not specials or specials[0] != "<pad>":
            raise ValueError(f"the first special token must be '<pad>', got {specials[:1]}")
        vocab = list(specials)
        seen = set(vocab)
        for token in tokens:
            if not isinstance(token, str) or not token or any(ch.isspace() for ch in token):
                raise ValueError(f"tokens must be non-empty strings without spaces, got {token!r}")
            if token in seen:
                if token in specials:
                    continue
                raise ValueError(f"duplicate token {token!r} in the vocabulary")
            seen.add(token)
            vocab.append(token)
        self.specials = specials
        self.id_to_token = vocab
        self.token_to_id = {t: i for i, t in enumerate(vocab)}

    # --- sizes and special ids -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.id_to_token)

    @property
    def vocab_size(self) -> int:
        return len(self.id_to_token)

    @property
    def pad_id(self) -> int:
        return 0

    def id_of(self, token: str) -> int:
        try:
            return self.token_to_id[token]
        except KeyError:
            raise KeyError(self._unknown_message(token)) from None

    # --- encode / decode ---------------------------------------------------------------------
    def encode(self, text: str | Sequence[str]) -> list[int]:
        """Encode a string (split with :func:`split_words`) or a list of words."""
        words = split_words(text) if isinstance(text, str) else list(text)
        ids = []
        for word in words:
            idx = self.token_to_id.get(word)
            if idx is None:
                raise KeyError(self._unknown_message(word))
            ids.append(idx)
        return ids

    def decode(self, ids: Iterable[int], skip_specials: bool = False) -> str:
        """Turn ids back into text, re-attaching punctuation to the word before it."""
        out: list[str] = []
        n = len(self.id_to_token)
        for idx in ids:
            idx = int(idx)
            if not 0 <= idx < n:
                raise ValueError(f"token id {idx} is outside the vocabulary (0..{n - 1})")
            token = self.id_to_token[idx]
            if skip_specials and token in self.specials:
                continue
            if out and token in _ATTACHED_LEFT:
                out[-1] += token
            else:
                out.append(token)
        return " ".join(out)

    def tokens(self, ids: Iterable[int]) -> list[str]:
        return [self.id_to_token[int(i)] for i in ids]

    # --- persistence ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"kind": "plmkit.WordTokenizer", "specials": self.specials, "vocab": self.id_to_token}

    @classmethod
    def from_dict(cls, state: dict) -> "WordTokenizer":
        if state.get("kind") != "plmkit.WordTokenizer":
            raise ValueError("not a plmkit tokenizer file (missing kind 'plmkit.WordTokenizer')")
        specials = state["specials"]
        return cls(state["vocab"][len(specials):], specials=specials)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> "WordTokenizer":
        return cls.from_dict(json.loads(Path(path).read_text()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WordTokenizer) and self.id_to_token == other.id_to_token

    def __repr__(self) -> str:
        return f"WordTokenizer(vocab_size={self.vocab_size}, specials={self.specials})"

    def _unknown_message(self, word: str) -> str:
        close = [t for t in self.id_to_token if t.lower().startswith(word[:2].lower())][:5]
        hint = f"; similar tokens: {close}" if close else ""
        return f"word {word!r} is not in the vocabulary ({self.vocab_size} tokens){hint}"
