"""The special-token and vocabulary half of the front class: bos/eos/unk/pad and added tokens, the ids put
around a text or a pair, and token <-> id lookups. The backend (``self.backend``) keeps the ids; this part
decides which tokens are special and when they are added."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mf_tokenizers.backends import Template
from mf_tokenizers.errors import TokenizerError

SPECIAL_KEYS = ("bos_token", "eos_token", "unk_token", "pad_token")


def content(token):
    """A special token given as a string or as Hugging Face's serialised AddedToken dict."""
    if isinstance(token, dict):
        return token.get("content")
    return token


class SpecialTokensMixin:
    """Special tokens, added tokens and the vocabulary, for :class:`~mf_tokenizers.base.PreTrainedTokenizerBase`.

    State (set by the front's ``__init__``): ``_special_map`` (bos/eos/unk/pad -> token or None), ``_special``
    (every special token), ``additional_special_tokens``, ``add_bos_token``/``add_eos_token`` and
    ``_follows_post_processor`` (the backend's post-processor, not the flags, decides the ids around a text)."""

    def _restore_added(self, idx, entry):
        """An ``added_tokens_decoder`` entry of tokenizer_config.json: a token the files may not hold."""
        token = content(entry)
        special = entry.get("special", True) if isinstance(entry, dict) else True
        if self.backend.token_to_id(token) is None and idx != len(self):
            raise TokenizerError(f"added token '{token}' has id {idx}; expected {len(self)}",
                                 key="added_tokens_decoder")
        self.add_tokens([token], special_tokens=special)

    def _set_special(self, key, value):
        value = content(value)
        self._special_map[key] = value
        if value is not None:
            self.add_tokens([value], special_tokens=True)

    @property
    def bos_token(self) -> str | None:
        return self._special_map["bos_token"]

    @bos_token.setter
    def bos_token(self, value: str | dict | None) -> None:
        self._set_special("bos_token", value)

    @property
    def eos_token(self) -> str | None:
        return self._special_map["eos_token"]

    @eos_token.setter
    def eos_token(self, value: str | dict | None) -> None:
        self._set_special("eos_token", value)

    @property
    def unk_token(self) -> str | None:
        return self._special_map["unk_token"]

    @unk_token.setter
    def unk_token(self, value: str | dict | None) -> None:
        self._set_special("unk_token", value)

    @property
    def pad_token(self) -> str | None:
        return self._special_map["pad_token"]

    @pad_token.setter
    def pad_token(self, value: str | dict | None) -> None:
        self._set_special("pad_token", value)

    def _special_id(self, key):
        token = self._special_map.get(key)
        return None if token is None else self.backend.token_to_id(token)

    @property
    def bos_token_id(self) -> int | None:
        return self._special_id("bos_token")

    @property
    def eos_token_id(self) -> int | None:
        return self._special_id("eos_token")

    @property
    def unk_token_id(self) -> int | None:
        return self._special_id("unk_token")

    @property
    def pad_token_id(self) -> int | None:
        return self._special_id("pad_token")

    @property
    def special_tokens_map(self) -> dict:
        out = {k: v for k, v in self._special_map.items() if v is not None}
        if self.additional_special_tokens:
            out["additional_special_tokens"] = list(self.additional_special_tokens)
        return out

    @property
    def all_special_tokens(self) -> list[str]:
        return sorted(self._special)

    @property
    def all_special_ids(self) -> list[int]:
        return sorted(self.backend.token_to_id(t) for t in self._special)

    def add_special_tokens(self, special_tokens_dict: dict) -> int:
        """Set bos/eos/unk/pad tokens or ``additional_special_tokens``; returns how many are new ids."""
        before = len(self)
        for key, value in special_tokens_dict.items():
            if key in SPECIAL_KEYS:
                self._set_special(key, value)
            elif key == "additional_special_tokens":
                values = [content(v) for v in value]
                self.add_tokens(values, special_tokens=True)
                self.additional_special_tokens += [v for v in values if v not in self.additional_special_tokens]
            else:
                raise TokenizerError(f"unknown special token key '{key}'; expected one of "
                                     f"{', '.join(SPECIAL_KEYS)}, additional_special_tokens", key=key)
        return len(self) - before

    def add_tokens(self, new_tokens: str | Iterable[str | dict], special_tokens: bool = False) -> int:
        """Add tokens that are never split (ids after the vocabulary); returns how many are new ids."""
        tokens = [content(t) for t in ([new_tokens] if isinstance(new_tokens, str) else new_tokens)]
        if not all(tokens):
            raise TokenizerError("cannot add an empty token", key="add_tokens")
        before = len(self)
        if special_tokens:
            self._special.update(tokens)
        self.backend.add_tokens(tokens, bool(special_tokens))
        return len(self) - before

    # ----- vocabulary -----------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """Size of the base vocabulary (without tokens added later)."""
        return self.backend.vocab_size()

    def __len__(self) -> int:
        return len(self.backend)

    def get_vocab(self) -> dict[str, int]:
        return self.backend.get_vocab()

    def get_added_vocab(self) -> dict[str, int]:
        return self.backend.added_vocab()

    def convert_tokens_to_ids(self, tokens: str | Iterable[str]) -> int | None | list[int | None]:
        """Ids of tokens (a string gives an int); unknown tokens give the unk id (None without one)."""
        if isinstance(tokens, str):
            idx = self.backend.token_to_id(tokens)
            return self.unk_token_id if idx is None else idx
        return [self.convert_tokens_to_ids(t) for t in tokens]

    def convert_ids_to_tokens(self, ids: int | Iterable[int], skip_special_tokens: bool = False) -> str | list[str]:
        """Token strings of ids (an int gives a string)."""
        if isinstance(ids, int):
            self._check_ids([ids])
            return self.backend.id_to_token(ids)
        ids = [int(i) for i in ids]
        self._check_ids(ids)
        tokens = [self.backend.id_to_token(i) for i in ids]
        if skip_special_tokens:
            tokens = [t for t in tokens if t not in self._special]
        return tokens

    def _check_ids(self, *sequences):
        """A clear error for an id out of range in any of ``sequences`` (lists of ints)."""
        n = len(self.backend)
        for ids in sequences:
            if ids and (min(ids) < 0 or max(ids) >= n):
                bad = next(i for i in ids if i < 0 or i >= n)
                raise TokenizerError(f"token id {bad} is out of range; this tokenizer has ids 0..{n - 1}")

    # ----- the ids around a text ------------------------------------------------------------------
    def _bos_eos(self):
        """(``[bos]`` or ``[]``, ``[eos]`` or ``[]``) as add_bos_token/add_eos_token say."""
        bos = [self.bos_token_id] if self.add_bos_token and self.bos_token_id is not None else []
        eos = [self.eos_token_id] if self.add_eos_token and self.eos_token_id is not None else []
        return bos, eos

    def _template(self) -> Template:
        """(prefix, suffix, pair prefix, pair middle, pair suffix): the special token ids around a text."""
        if self._follows_post_processor:
            return self.backend.template()
        bos, eos = self._bos_eos()
        return bos, eos, bos, eos + bos, eos

    def build_inputs_with_special_tokens(self, token_ids_0: Sequence[int],
                                         token_ids_1: Sequence[int] | None = None) -> list[int]:
        """``[bos] a [eos]`` (and ``[bos] b [eos]`` for a pair) as add_bos_token/add_eos_token say, or as the
        ``tokenizer.json`` post-processor says where those flags were not given."""
        pre, post, pair_pre, pair_mid, pair_post = self._template()
        if token_ids_1 is None:
            return pre + list(token_ids_0) + post
        return pair_pre + list(token_ids_0) + pair_mid + list(token_ids_1) + pair_post

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return len(self.build_inputs_with_special_tokens([], [] if pair else None))
