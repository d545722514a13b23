"""``AddedTokens``: the tokens added after a base vocabulary and the special tokens, for the backends whose
library does not keep them (sentencepiece, tiktoken, the plain-Python BPE).

Where the library cannot find them in text either (sentencepiece, the BPE), the text is split on them before
the library sees it and they are written as their text when decoding."""

import re
from collections.abc import Callable


class AddedTokens:
    """Added tokens (ids from ``base_size`` on) and special tokens (base or added), with their ids."""

    def __init__(self, base_size: int, special: dict[str, int] | None = None):
        self.base_size = base_size
        self.ids: dict[str, int] = {}  # content -> id, tokens beyond the base vocabulary
        self.tokens: dict[int, str] = {}  # id -> content of those
        self.special: dict[str, int] = dict(special or {})  # content -> id of every special token
        self._regex: dict[bool, re.Pattern | None] = {}
        self._literal: dict[int, str] | None = None
        self._unsplit: set[str] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, tokens: list[str], special: bool, base_token_to_id: Callable[[str], int | None]) -> bool:
        """Add ``tokens`` (new ids for unknown ones, in order); returns whether a new id was made."""
        grew = False
        for token in tokens:
            idx = self.ids.get(token)
            if idx is None:
                idx = base_token_to_id(token)
            if idx is None:
                idx = self.base_size + len(self.ids)
                self.ids[token] = idx
                self.tokens[idx] = token
                grew = True
            if special:
                self.special[token] = idx
        self._regex.clear()
        self._literal = self._unsplit = None
        return grew

    def unsplit(self) -> set[str]:
        """The tokens still found whole with ``split_special_tokens``: added tokens that are not special."""
        if self._unsplit is None:
            self._unsplit = {t for t in self.ids if t not in self.special}
        return self._unsplit

    def regex(self, split_special_tokens: bool) -> re.Pattern | None:
        """A regex matching the tokens to find whole in text, longest first, or None when there are none."""
        key = bool(split_special_tokens)
        if key not in self._regex:
            tokens = self.unsplit() if key else {*self.ids, *self.special}
            tokens = sorted(tokens, key=len, reverse=True)
            self._regex[key] = re.compile("|".join(map(re.escape, tokens))) if tokens else None
        return self._regex[key]

    def literal(self) -> dict[int, str]:
        """Ids decoded as their own text: added and special tokens."""
        if self._literal is None:
            self._literal = {**self.tokens, **{i: t for t, i in self.special.items()}}
        return self._literal

    def encode_found(self, texts, out, pre, post, split_special_tokens, encode_piece):
        """Redo, in ``out``, the texts in which added or special tokens are found: each piece of text between
        them is ``encode_piece(piece, at_start)``."""
        rx = self.regex(split_special_tokens)
        if rx is None:
            return out
        for i, text in enumerate(texts):
            if rx.search(text):
                out[i] = [*pre, *self._split(text, rx, encode_piece), *post]
        return out

    def _split(self, text, rx, encode_piece):
        ids, pos = [], 0
        lookup = {**self.special, **self.ids}
        for m in rx.finditer(text):
            if m.start() > pos:
                ids += encode_piece(text[pos:m.start()], pos == 0)
            ids.append(lookup[m.group()])
            pos = m.end()
        if pos < len(text):
            ids += encode_piece(text[pos:], pos == 0)
        return ids

    def decode(self, ids: list[int], skip_special_tokens: bool, decode_run: Callable[[list[int], bool], str]) -> str:
        """The text of ``ids``: runs of base ids by ``decode_run(run, first)``, added and special tokens as their
        text (special ones dropped with ``skip_special_tokens``)."""
        literal = self.literal()
        if literal.keys().isdisjoint(ids):
            return decode_run(ids, True)
        special = set(self.special.values()) if skip_special_tokens else ()
        parts, run = [], []
        for i in ids:
            if i not in literal:
                run.append(i)
                continue
            if run:
                parts.append(decode_run(run, not parts))
                run = []
            if i not in special:
                parts.append(literal[i])
        if run:
            parts.append(decode_run(run, not parts))
        return "".join(parts)
