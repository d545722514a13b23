"""``PreTrainedTokenizerBase``: the front class of every tokenizer, with the API MindFormers and Hugging Face
users know (``tok(texts)``, ``encode``, ``decode``, special tokens, padding, truncation, chat templates,
``save_pretrained``/``from_pretrained``), over a backend that turns text into ids and back
(:mod:`mf_tokenizers.backends`: sentencepiece, tiktoken, tokenizers, or the plain-Python BPE).

A named class (``LlamaTokenizer``, ...) reads its files into a backend, gives its defaults and passes both here.
The special-token half lives in :mod:`mf_tokenizers.special_tokens`, the save/load half in
:mod:`mf_tokenizers.save_load`.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mf_tokenizers.backends import Backend
from mf_tokenizers.batch_encoding import BatchEncoding, pack, side, truncate_pair, truncation_strategy
from mf_tokenizers.chat import render
from mf_tokenizers.errors import TokenizerError
from mf_tokenizers.save_load import SaveLoadMixin
from mf_tokenizers.special_tokens import SpecialTokensMixin, content

if TYPE_CHECKING:
    import numpy as np

_UNSET: Any = object()


def _usable_cores():
    """Cores this process may run on (its CPU affinity where the platform tells)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


@contextlib.contextmanager
def _collector_paused():
    """Python's cycle collector paused while a batch builds its lists of ints (which cannot form cycles), so that
    they do not set off its passes as they pile up (every 700 new lists by default, and over older objects every
    tenth). The one young-generation pass that they make due runs before returning: the caller does not pay it.
    Measured in mf-tokenizers' README (Performance)."""
    if not gc.isenabled():  # paused already (by the caller, or by a batch in another thread)
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        if gc.get_count()[0] > gc.get_threshold()[0]:
            gc.collect(0)


def _check_texts(texts):
    """A clear error for what the backends reject with a TypeError or UnicodeEncodeError."""
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TokenizerError(f"text must be a string or a list of strings; item {i} is a {type(text).__name__}",
                                 key="text")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise TokenizerError(f"text {i} is not valid Unicode: a lone surrogate at character {e.start}",
                                 key="text") from None


class PreTrainedTokenizerBase(SpecialTokensMixin, SaveLoadMixin):
    """Base of every tokenizer: ``tok(texts)``, ``encode``, ``decode``, special tokens, save and load."""

    special_defaults: dict = {}
    decode_errors = ("replace",)  # the ``errors`` modes decoding invalid UTF-8 supports
    default_chat_template = None
    model_input_names = ("input_ids", "attention_mask")

    def __init__(self, backend: Backend, *, bos_token: str | dict | None = _UNSET,
                 eos_token: str | dict | None = _UNSET, unk_token: str | dict | None = _UNSET,
                 pad_token: str | dict | None = _UNSET,
                 additional_special_tokens: Iterable[str | dict] | None = None, model_max_length: int | None = None,
                 padding_side: str = "right", truncation_side: str = "right", split_special_tokens: bool = False,
                 chat_template: str | None = None, added_tokens_decoder: Mapping[int | str, str | dict] | None = None,
                 add_bos_token: bool | None = None, add_eos_token: bool | None = None, num_threads: int | None = None,
                 name_or_path: str | None = None, errors: str = "replace", **unknown: Any) -> None:
        """``add_bos_token``/``add_eos_token`` None (both): the backend's post-processor decides where it has one,
        else no bos/eos."""
        if unknown:
            raise TokenizerError(f"{type(self).__name__} does not take option(s) {', '.join(sorted(unknown))}",
                                 key=sorted(unknown)[0])
        if errors not in self.decode_errors:
            raise TokenizerError(f"{type(self).__name__} decodes invalid UTF-8 with errors in "
                                 f"{', '.join(self.decode_errors)}, not '{errors}'", key="errors")
        self.backend = backend
        self.errors = errors
        self.num_threads = num_threads or _usable_cores()
        self.model_max_length = None if model_max_length is None else int(model_max_length)
        self.padding_side = side(padding_side, "padding_side")
        self.truncation_side = side(truncation_side, "truncation_side")
        self.split_special_tokens = bool(split_special_tokens)
        self.chat_template = chat_template
        self.name_or_path = name_or_path
        self._special = set()  # every special token
        for idx, entry in sorted((added_tokens_decoder or {}).items(), key=lambda kv: int(kv[0])):
            self._restore_added(int(idx), entry)
        given = {"bos_token": bos_token, "eos_token": eos_token, "unk_token": unk_token, "pad_token": pad_token}
        self._special_map = {}
        for key, value in given.items():
            self._set_special(key, self.special_defaults.get(key) if value is _UNSET else value)
        self.additional_special_tokens = [content(t) for t in additional_special_tokens or []]
        self.add_tokens(self.additional_special_tokens, special_tokens=True)
        self._follows_post_processor = add_bos_token is None and add_eos_token is None and \
            backend.template() is not None
        if self._follows_post_processor:
            pre, post = backend.template()[:2]
            add_bos_token = self.bos_token_id is not None and pre[:1] == [self.bos_token_id]
            add_eos_token = self.eos_token_id is not None and post[-1:] == [self.eos_token_id]
        self.add_bos_token = bool(add_bos_token)
        self.add_eos_token = bool(add_eos_token)

    @property
    def errors(self) -> str:
        """How decoding treats ids that do not make UTF-8 (one of ``decode_errors``)."""
        return self.backend.errors

    @errors.setter
    def errors(self, value: str) -> None:
        self.backend.errors = value

    @property
    def num_threads(self) -> int:
        """Threads of the backend for a batch (sentencepiece, tiktoken)."""
        return self.backend.num_threads

    @num_threads.setter
    def num_threads(self, value: int) -> None:
        self.backend.num_threads = value

    # ----- encoding -------------------------------------------------------------------------------
    def _split(self, split_special_tokens):
        return self.split_special_tokens if split_special_tokens is None else bool(split_special_tokens)

    def _encode_plain(self, texts, split_special_tokens=None):
        """Ids of each text without added special tokens; special tokens written in the text are
        recognised unless ``split_special_tokens``."""
        return self.backend.encode(texts, [], [], self._split(split_special_tokens))

    def _encode_with_special_tokens(self, texts, split_special_tokens=None):
        """Ids of each text with bos/eos added (the hot path of ``tok(texts)``)."""
        pre, post = self._template()[:2]
        return self.backend.encode(texts, pre, post, self._split(split_special_tokens))

    def __call__(self, text, text_pair=None, add_special_tokens=True, padding=False, truncation=None,
                 max_length=None, return_attention_mask=None, return_tensors=None, pad_to_multiple_of=None,
                 truncate_direction=None, split_special_tokens=None) -> BatchEncoding:
        """Encode a text or a list of texts (and ``text_pair``); returns a :class:`BatchEncoding`."""
        single = isinstance(text, str)
        texts = [text] if single else list(text)
        if texts and not isinstance(texts[0], str):
            raise TokenizerError("text must be a string or a list of strings", key="text")
        pairs = None
        if text_pair is not None:
            pairs = [text_pair] if isinstance(text_pair, str) else list(text_pair)
            if len(pairs) != len(texts):
                raise TokenizerError(f"{len(texts)} texts but {len(pairs)} text_pair entries", key="text_pair")
        strategy = truncation_strategy(truncation, max_length)
        if strategy is not None and max_length is None:
            max_length = self._max_length_or_fail()
        with contextlib.nullcontext() if single else _collector_paused():
            ids = self._ids(texts, pairs, add_special_tokens, strategy, max_length, truncate_direction,
                            split_special_tokens)
            return self._pack(ids, single, padding, max_length, return_attention_mask, return_tensors,
                              pad_to_multiple_of)

    def _ids(self, texts, pairs, add_special_tokens, strategy, max_length, truncate_direction, split_special_tokens):
        """Each text's ids (with its pair, truncated, special tokens added as asked)."""
        try:
            if pairs is None and strategy is None:
                if add_special_tokens:
                    return self._encode_with_special_tokens(texts, split_special_tokens)
                return self._encode_plain(texts, split_special_tokens)
            first = self._encode_plain(texts, split_special_tokens)
            second = self._encode_plain(pairs, split_special_tokens) if pairs is not None else [None] * len(first)
            return [self._finish(a, b, add_special_tokens, strategy, max_length, truncate_direction)
                    for a, b in zip(first, second)]
        except (TypeError, UnicodeEncodeError):
            _check_texts(texts + (pairs or []))
            raise

    def _max_length_or_fail(self):
        if self.model_max_length is None:
            raise TokenizerError("truncation needs max_length (this tokenizer has no model_max_length)",
                                 key="max_length")
        return self.model_max_length

    def _finish(self, ids, pair_ids, add_special_tokens, strategy, max_length, truncate_direction):
        if strategy is not None:
            n = self.num_special_tokens_to_add(pair_ids is not None) if add_special_tokens else 0
            where = side(truncate_direction or self.truncation_side, "truncate_direction")
            ids, pair_ids = truncate_pair(list(ids), None if pair_ids is None else list(pair_ids),
                                          max_length - n, strategy, where)
        if add_special_tokens:
            return self.build_inputs_with_special_tokens(ids, pair_ids)
        return list(ids) + (list(pair_ids) if pair_ids is not None else [])

    def _pack(self, ids, single, padding, max_length, return_attention_mask, return_tensors, multiple_of):
        with_mask = "attention_mask" in self.model_input_names if return_attention_mask is None \
            else bool(return_attention_mask)
        if padding == "max_length" and max_length is None:
            max_length = self.model_max_length
        return pack(ids, single, padding, max_length, self.pad_token_id, self.padding_side, with_mask,
                    return_tensors, multiple_of)

    def encode(self, text: str, text_pair: str | None = None, add_special_tokens: bool = True,
               padding: bool | str = False, truncation: bool | str | None = None, max_length: int | None = None,
               split_special_tokens: bool | None = None, **kwargs: Any) -> list[int]:
        """The ids of one text (a list of ints)."""
        return self(text, text_pair, add_special_tokens=add_special_tokens, padding=padding, truncation=truncation,
                    max_length=max_length, return_attention_mask=False, split_special_tokens=split_special_tokens,
                    **kwargs)["input_ids"]

    def prepare_for_model(self, ids: Sequence[int], pair_ids: Sequence[int] | None = None,
                          add_special_tokens: bool = True, padding: bool | str = False,
                          truncation: bool | str | None = None, max_length: int | None = None,
                          return_attention_mask: bool | None = None, return_tensors: str | None = None,
                          pad_to_multiple_of: int | None = None, truncate_direction: str | None = None,
                          return_overflowing_tokens: bool = False) -> BatchEncoding:
        """Special tokens, truncation (``truncate_direction`` 'LEFT'/'RIGHT' or the tokenizer's
        ``truncation_side``) and padding for ids that are already encoded."""
        if return_overflowing_tokens:
            raise TokenizerError("return_overflowing_tokens=True is not supported", key="return_overflowing_tokens")
        strategy = truncation_strategy(truncation, max_length)
        if strategy is not None and max_length is None:
            max_length = self._max_length_or_fail()
        out = self._finish(ids, pair_ids, add_special_tokens, strategy, max_length, truncate_direction)
        return self._pack([out], True, padding, max_length, return_attention_mask, return_tensors,
                          pad_to_multiple_of)

    def tokenize(self, text: str, split_special_tokens: bool | None = None) -> list[str]:
        """Token strings of ``text`` (no special tokens added)."""
        return self.convert_ids_to_tokens(self._encode_plain([text], split_special_tokens)[0])

    # ----- decoding -------------------------------------------------------------------------------
    def decode(self, token_ids: Sequence[int] | np.ndarray, skip_special_tokens: bool = False) -> str:
        """Text of ids (a list, tuple or numpy array); special tokens dropped with ``skip_special_tokens``."""
        ids = [int(i) for i in (token_ids.tolist() if hasattr(token_ids, "tolist") else token_ids)]
        self._check_ids(ids)
        return self.backend.decode([ids], skip_special_tokens)[0]

    def batch_decode(self, sequences: Iterable[Sequence[int] | np.ndarray] | np.ndarray,
                     skip_special_tokens: bool = False) -> list[str]:
        seqs = [[int(i) for i in (s.tolist() if hasattr(s, "tolist") else s)] for s in sequences]
        self._check_ids(*seqs)
        return self.backend.decode(seqs, skip_special_tokens)

    # ----- chat -----------------------------------------------------------------------------------
    def apply_chat_template(self, conversation: list[dict[str, str]] | list[list[dict[str, str]]],
                            chat_template: str | None = None, add_generation_prompt: bool = False,
                            tokenize: bool = True, **kwargs: Any) -> str | list[int] | list[str] | list[list[int]]:
        """Format a conversation (``[{"role", "content"}, ...]``, or a list of them) with a chat template:
        a Jinja string (as in Hugging Face's ``tokenizer_config.json``) or a built-in name, ``"llama3"``
        or ``"alpaca"``. Returns the ids (``tokenize=True``, no special tokens added) or the text."""
        template = chat_template or self.chat_template or self.default_chat_template
        if template is None:
            raise TokenizerError(f"{type(self).__name__} has no chat template; pass chat_template='llama3', "
                                 "'alpaca' or a Jinja template", key="chat_template")
        batched = bool(conversation) and isinstance(conversation[0], (list, tuple))
        conversations = conversation if batched else [conversation]
        texts = [render(template, c, add_generation_prompt=add_generation_prompt,
                        special_tokens=self.special_tokens_map, **kwargs) for c in conversations]
        out = self._encode_plain(texts) if tokenize else texts
        return out if batched else out[0]

    # ----- conversion -----------------------------------------------------------------------------
    def to_fast(self) -> PreTrainedTokenizerBase:
        """A ``tokenizers``-backed tokenizer (a ``PreTrainedTokenizerFast``) that encodes as this one does, added
        tokens included: what ``mf-tokenizers convert`` writes."""
        common = {**self.special_tokens_map, "model_max_length": self.model_max_length,
                  "chat_template": self.chat_template}
        out = self._fast_twin(common)
        for token, _ in sorted(self.get_added_vocab().items(), key=lambda kv: kv[1]):
            out.add_tokens([token], special_tokens=token in self._special)
        return out

    def _fast_twin(self, common):
        """The tokenizers-backed tokenizer of this vocabulary, built with ``common`` (special tokens, maximum
        length, chat template) and this class's own options."""
        raise TokenizerError(f"no conversion of {type(self).__name__} to tokenizer.json")

    def __repr__(self):
        return (f"{type(self).__name__}(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
                f"len={len(self)}, special_tokens={self.special_tokens_map})")
