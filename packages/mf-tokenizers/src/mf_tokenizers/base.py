"""``PreTrainedTokenizerBase``: the API MindFormers and Hugging Face users know, shared by every class.

A subclass loads its backend and provides: ``_encode_ordinary(texts)`` (ids of plain text, special
tokens not recognised), ``_decode_run(ids, first)``, ``_base_token_to_id``, ``_base_id_to_token``,
``_base_vocab_size()`` and ``_save_vocabulary(folder)``. Special and added tokens, splitting text on
them, truncation, padding, ``save_pretrained``/``from_pretrained`` and chat templates live here.
"""

import json
import os
import re
from pathlib import Path

from mf_config.fileio import atomic_write
from mf_tokenizers.batch_encoding import BatchEncoding, pad, side, truncate_pair, truncation_strategy
from mf_tokenizers.errors import TokenizerError
from mf_tokenizers.tokenizer_config import CONFIG_FILE, read_tokenizer_config

SPECIAL_KEYS = ("bos_token", "eos_token", "unk_token", "pad_token")
_UNSET = object()


def _usable_cores():
    """Cores this process may run on (its CPU affinity where the platform tells)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


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


def _content(token):
    """A special token given as a string or as Hugging Face's serialised AddedToken dict."""
    if isinstance(token, dict):
        return token.get("content")
    return token


class PreTrainedTokenizerBase:
    """Base of every tokenizer: ``tok(texts)``, ``encode``, ``decode``, special tokens, save and load."""

    vocab_files_names: dict = {}
    special_defaults: dict = {}
    decode_errors = ("replace",)  # the ``errors`` modes decoding invalid UTF-8 supports
    default_chat_template = None
    model_input_names = ("input_ids", "attention_mask")

    def __init__(self, *, bos_token=_UNSET, eos_token=_UNSET, unk_token=_UNSET, pad_token=_UNSET,
                 additional_special_tokens=None, model_max_length=None, padding_side="right",
                 truncation_side="right", split_special_tokens=False, chat_template=None,
                 added_tokens_decoder=None, add_bos_token=False, add_eos_token=False, num_threads=None,
                 name_or_path=None, errors="replace", **unknown):
        if unknown:
            raise TokenizerError(f"{type(self).__name__} does not take option(s) {', '.join(sorted(unknown))}",
                                 key=sorted(unknown)[0])
        if errors not in self.decode_errors:
            raise TokenizerError(f"{type(self).__name__} decodes invalid UTF-8 with errors in "
                                 f"{', '.join(self.decode_errors)}, not '{errors}'", key="errors")
        self.errors = errors
        self.add_bos_token = bool(add_bos_token)
        self.add_eos_token = bool(add_eos_token)
        self.model_max_length = None if model_max_length is None else int(model_max_length)
        self.padding_side = side(padding_side, "padding_side")
        self.truncation_side = side(truncation_side, "truncation_side")
        self.split_special_tokens = bool(split_special_tokens)
        self.chat_template = chat_template
        self.num_threads = num_threads or _usable_cores()
        self.name_or_path = name_or_path
        self._added = {}          # content -> id, tokens beyond the base vocabulary
        self._added_ids = {}      # id -> content
        self._special = set()     # contents of every special token
        self._split_cache = {}
        for token, idx in sorted((added_tokens_decoder or {}).items(), key=lambda kv: int(kv[0])):
            self._restore_added(int(token), idx)
        given = {"bos_token": bos_token, "eos_token": eos_token, "unk_token": unk_token, "pad_token": pad_token}
        self._special_map = {}
        for key, value in given.items():
            value = self.special_defaults.get(key) if value is _UNSET else _content(value)
            self._special_map[key] = value
            if value is not None:
                self.add_tokens([value], special_tokens=True)
        self.additional_special_tokens = [_content(t) for t in additional_special_tokens or []]
        self.add_tokens(self.additional_special_tokens, special_tokens=True)

    # ----- special tokens -------------------------------------------------------------------------
    def _restore_added(self, idx, entry):
        content = _content(entry)
        special = entry.get("special", True) if isinstance(entry, dict) else True
        if self._base_token_to_id(content) is None and content not in self._added:
            if idx != self._base_vocab_size() + len(self._added):
                raise TokenizerError(f"added token '{content}' has id {idx}; expected "
                                     f"{self._base_vocab_size() + len(self._added)}", key="added_tokens_decoder")
            self._added[content] = idx
            self._added_ids[idx] = content
        if special:
            self._special.add(content)

    def _get_special(self, key):
        return self._special_map[key]

    def _set_special(self, key, value):
        value = _content(value)
        self._special_map[key] = value
        if value is not None:
            self.add_tokens([value], special_tokens=True)

    bos_token = property(lambda self: self._get_special("bos_token"),
                         lambda self, v: self._set_special("bos_token", v))
    eos_token = property(lambda self: self._get_special("eos_token"),
                         lambda self, v: self._set_special("eos_token", v))
    unk_token = property(lambda self: self._get_special("unk_token"),
                         lambda self, v: self._set_special("unk_token", v))
    pad_token = property(lambda self: self._get_special("pad_token"),
                         lambda self, v: self._set_special("pad_token", v))

    def _special_id(self, key):
        token = self._special_map.get(key)
        return None if token is None else self._token_id(token)

    bos_token_id = property(lambda self: self._special_id("bos_token"))
    eos_token_id = property(lambda self: self._special_id("eos_token"))
    unk_token_id = property(lambda self: self._special_id("unk_token"))
    pad_token_id = property(lambda self: self._special_id("pad_token"))

    @property
    def special_tokens_map(self):
        out = {k: v for k, v in self._special_map.items() if v is not None}
        if self.additional_special_tokens:
            out["additional_special_tokens"] = list(self.additional_special_tokens)
        return out

    @property
    def all_special_tokens(self):
        return sorted(self._special)

    @property
    def all_special_ids(self):
        return sorted(self._token_id(t) for t in self._special)

    def add_special_tokens(self, special_tokens_dict):
        """Set bos/eos/unk/pad tokens or ``additional_special_tokens``; returns how many are new ids."""
        before = len(self)
        for key, value in special_tokens_dict.items():
            if key in SPECIAL_KEYS:
                self._set_special(key, value)
            elif key == "additional_special_tokens":
                values = [_content(v) for v in value]
                self.add_tokens(values, special_tokens=True)
                self.additional_special_tokens += [v for v in values if v not in self.additional_special_tokens]
            else:
                raise TokenizerError(f"unknown special token key '{key}'; expected one of "
                                     f"{', '.join(SPECIAL_KEYS)}, additional_special_tokens", key=key)
        return len(self) - before

    def add_tokens(self, new_tokens, special_tokens=False):
        """Add tokens that are never split (ids after the vocabulary); returns how many are new ids."""
        if isinstance(new_tokens, str):
            new_tokens = [new_tokens]
        count = 0
        for token in map(_content, new_tokens):
            if not token:
                raise TokenizerError("cannot add an empty token", key="add_tokens")
            if special_tokens:
                self._special.add(token)
            if self._token_id(token) is None:
                idx = len(self)
                self._added[token] = idx
                self._added_ids[idx] = token
                count += 1
        self._split_cache.clear()
        self._tokens_added()
        return count

    def _tokens_added(self):
        """Hook: the set of added or special tokens changed."""

    # ----- vocabulary -----------------------------------------------------------------------------
    @property
    def vocab_size(self):
        """Size of the base vocabulary (without tokens added later)."""
        return self._base_vocab_size()

    def __len__(self):
        return self._base_vocab_size() + len(self._added)

    def get_vocab(self):
        vocab = {self._base_id_to_token(i): i for i in range(self._base_vocab_size())}
        vocab.update(self._added)
        return vocab

    def get_added_vocab(self):
        return dict(self._added)

    def _token_id(self, token):
        idx = self._added.get(token)
        return self._base_token_to_id(token) if idx is None else idx

    def convert_tokens_to_ids(self, tokens):
        """Ids of tokens (a string gives an int); unknown tokens give the unk id (None without one)."""
        if isinstance(tokens, str):
            idx = self._token_id(tokens)
            return self.unk_token_id if idx is None else idx
        return [self.convert_tokens_to_ids(t) for t in tokens]

    def convert_ids_to_tokens(self, ids, skip_special_tokens=False):
        """Token strings of ids (an int gives a string)."""
        if isinstance(ids, int):
            return self._id_token(ids)
        tokens = [self._id_token(int(i)) for i in ids]
        if skip_special_tokens:
            tokens = [t for t in tokens if t not in self._special]
        return tokens

    def _id_token(self, idx):
        if idx in self._added_ids:
            return self._added_ids[idx]
        self._check_ids([idx])
        return self._base_id_to_token(idx)

    def _check_ids(self, ids):
        if ids and (min(ids) < 0 or max(ids) >= len(self)):
            bad = next(i for i in ids if i < 0 or i >= len(self))
            raise TokenizerError(f"token id {bad} is out of range; this tokenizer has ids 0..{len(self) - 1}")

    # ----- encoding -------------------------------------------------------------------------------
    def _split_regex(self, split_special_tokens):
        """A regex matching the tokens that text is split on before the backend sees it, or None."""
        key = bool(split_special_tokens)
        if key not in self._split_cache:
            tokens = [t for t in self._added if t not in self._special] if key else \
                [*self._added, *(t for t in self._special if t not in self._added)]
            tokens = sorted(set(tokens), key=len, reverse=True)
            self._split_cache[key] = re.compile("|".join(map(re.escape, tokens))) if tokens else None
        return self._split_cache[key]

    def _encode_plain(self, texts, split_special_tokens=None):
        """Ids of each text without added special tokens; special tokens written in the text are
        recognised unless ``split_special_tokens``."""
        if split_special_tokens is None:
            split_special_tokens = self.split_special_tokens
        out = self._encode_ordinary(texts)
        rx = self._split_regex(split_special_tokens)
        if rx is not None:
            for i, text in enumerate(texts):
                if rx.search(text):
                    out[i] = self._encode_split(text, rx)
        return out

    def _encode_split(self, text, rx):
        ids, pos = [], 0
        for m in rx.finditer(text):
            if m.start() > pos:
                ids += self._encode_chunk(text[pos:m.start()], pos == 0)
            ids.append(self._token_id(m.group()))
            pos = m.end()
        if pos < len(text):
            ids += self._encode_chunk(text[pos:], pos == 0)
        return ids

    def _encode_chunk(self, text, at_start):
        """Ids of a piece of text between special tokens (``at_start``: it begins the text)."""
        return self._encode_ordinary([text])[0]

    def _bos_eos(self):
        """(``[bos]`` or ``[]``, ``[eos]`` or ``[]``) as add_bos_token/add_eos_token say."""
        bos = [self.bos_token_id] if self.add_bos_token and self.bos_token_id is not None else []
        eos = [self.eos_token_id] if self.add_eos_token and self.eos_token_id is not None else []
        return bos, eos

    def build_inputs_with_special_tokens(self, token_ids_0, token_ids_1=None):
        """``[bos] a [eos]`` (and ``[bos] b [eos]`` for a pair) as add_bos_token/add_eos_token say."""
        bos, eos = self._bos_eos()
        out = bos + list(token_ids_0) + eos
        if token_ids_1 is not None:
            out += bos + list(token_ids_1) + eos
        return out

    def num_special_tokens_to_add(self, pair=False):
        return len(self.build_inputs_with_special_tokens([], [] if pair else None))

    def _encode_with_special_tokens(self, texts, split_special_tokens=None):
        """Ids of each text with bos/eos added (the hot path of ``tok(texts)``)."""
        ids = self._encode_plain(texts, split_special_tokens)
        bos, eos = self._bos_eos()
        return [bos + x + eos for x in ids] if bos or eos else ids

    def __call__(self, text, text_pair=None, add_special_tokens=True, padding=False, truncation=None,
                 max_length=None, return_attention_mask=None, return_tensors=None, pad_to_multiple_of=None,
                 truncate_direction=None, split_special_tokens=None):
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
        try:
            if pairs is None and strategy is None:
                if add_special_tokens:
                    ids = self._encode_with_special_tokens(texts, split_special_tokens)
                else:
                    ids = self._encode_plain(texts, split_special_tokens)
            else:
                first = self._encode_plain(texts, split_special_tokens)
                second = self._encode_plain(pairs, split_special_tokens) if pairs is not None else [None] * len(first)
                ids = [self._finish(a, b, add_special_tokens, strategy, max_length, truncate_direction)
                       for a, b in zip(first, second)]
        except (TypeError, UnicodeEncodeError):
            _check_texts(texts + (pairs or []))
            raise
        return self._pack(ids, single, padding, max_length, return_attention_mask, return_tensors,
                          pad_to_multiple_of)

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
        ids, masks = pad(ids, padding, max_length, self.pad_token_id, self.padding_side, multiple_of, with_mask)
        out = BatchEncoding(input_ids=ids)
        if with_mask:
            out["attention_mask"] = masks
        if return_tensors is not None:
            if return_tensors != "np":
                raise TokenizerError(f"return_tensors '{return_tensors}' is not supported; use 'np' or None "
                                     "(convert with mindspore.Tensor(array) where needed)", key="return_tensors")
            import numpy as np

            if len({len(s) for s in ids}) > 1:
                raise TokenizerError("sequences differ in length; use padding=True to return arrays",
                                     key="padding")
            for key in out:
                out[key] = np.asarray(out[key], dtype=np.int64)
        if single and return_tensors is None:
            for key in out:
                out[key] = out[key][0]
        return out

    def encode(self, text, text_pair=None, add_special_tokens=True, padding=False, truncation=None,
               max_length=None, split_special_tokens=None, **kwargs):
        """The ids of one text (a list of ints)."""
        return self(text, text_pair, add_special_tokens=add_special_tokens, padding=padding, truncation=truncation,
                    max_length=max_length, return_attention_mask=False, split_special_tokens=split_special_tokens,
                    **kwargs)["input_ids"]

    def prepare_for_model(self, ids, pair_ids=None, add_special_tokens=True, padding=False, truncation=None,
                          max_length=None, return_attention_mask=None, return_tensors=None,
                          pad_to_multiple_of=None, truncate_direction=None, return_overflowing_tokens=False):
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

    def tokenize(self, text, split_special_tokens=None):
        """Token strings of ``text`` (no special tokens added)."""
        return self.convert_ids_to_tokens(self._encode_plain([text], split_special_tokens)[0])

    # ----- decoding -------------------------------------------------------------------------------
    def _literal_ids(self):
        """Ids decoded as their text: added tokens and special tokens."""
        out = dict(self._added_ids)
        for token in self._special:
            out[self._token_id(token)] = token
        return out

    def decode(self, token_ids, skip_special_tokens=False):
        """Text of ids (a list, tuple or numpy array); special tokens dropped with ``skip_special_tokens``."""
        ids = [int(i) for i in (token_ids.tolist() if hasattr(token_ids, "tolist") else token_ids)]
        self._check_ids(ids)
        literal = self._literal_ids()
        if literal.keys().isdisjoint(ids):
            return self._decode_run(ids, True)
        special = {self._token_id(t) for t in self._special}
        parts, run = [], []
        for i in ids:
            if i not in literal:
                run.append(i)
                continue
            if run:
                parts.append(self._decode_run(run, not parts))
                run = []
            if not (skip_special_tokens and i in special):
                parts.append(literal[i])
        if run:
            parts.append(self._decode_run(run, not parts))
        return "".join(parts)

    def batch_decode(self, sequences, skip_special_tokens=False):
        return [self.decode(s, skip_special_tokens=skip_special_tokens) for s in sequences]

    # ----- chat -----------------------------------------------------------------------------------
    def apply_chat_template(self, conversation, chat_template=None, add_generation_prompt=False, tokenize=True,
                            **kwargs):
        """Format a conversation (``[{"role", "content"}, ...]``, or a list of them) with a chat template:
        a Jinja string (as in Hugging Face's ``tokenizer_config.json``) or a built-in name, ``"llama3"``
        or ``"alpaca"``. Returns the ids (``tokenize=True``, no special tokens added) or the text."""
        from mf_tokenizers.chat import render

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

    # ----- save and load --------------------------------------------------------------------------
    def _init_config(self):
        """The init options that ``tokenizer_config.json`` keeps (besides files and special tokens)."""
        out = {"add_bos_token": self.add_bos_token, "add_eos_token": self.add_eos_token}
        if self.errors != "replace":
            out["errors"] = self.errors
        return out

    def save_pretrained(self, save_directory):
        """Write ``tokenizer_config.json`` and the vocabulary files into a folder; returns their paths."""
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        paths = self._save_vocabulary(folder)
        config = {"tokenizer_class": type(self).__name__, **self.special_tokens_map, **self._init_config(),
                  "model_max_length": self.model_max_length, "padding_side": self.padding_side,
                  "truncation_side": self.truncation_side, "split_special_tokens": self.split_special_tokens}
        if self.chat_template:
            config["chat_template"] = self.chat_template
        if self._added_ids:
            config["added_tokens_decoder"] = {str(i): {"content": t, "special": t in self._special}
                                              for i, t in sorted(self._added_ids.items())}
        path = folder / CONFIG_FILE
        with atomic_write(path) as f:
            json.dump(config, f, indent=2, ensure_ascii=False)
            f.write("\n")
        return [path, *paths]

    @classmethod
    def from_pretrained(cls, path, **kwargs):
        """Load from a folder (``tokenizer_config.json`` plus vocabulary files) or a vocabulary file."""
        path = Path(path)
        if path.is_file():
            key = next(iter(cls.vocab_files_names))
            return cls(**{key: str(path), **kwargs})
        if not path.is_dir():
            raise TokenizerError("no such file or folder; expected a tokenizer folder or vocabulary file", file=path)
        config = read_tokenizer_config(path)
        config.pop("tokenizer_class", None)
        for key, name in cls.vocab_files_names.items():
            if (path / name).is_file() and key not in kwargs:
                config[key] = str(path / name)
        config.setdefault("name_or_path", str(path))
        try:
            return cls(**{**config, **kwargs})
        except TokenizerError as e:
            if e.file or e.key not in config:
                raise
            raise TokenizerError(e.message, file=path / CONFIG_FILE, key=e.key) from None

    def __repr__(self):
        return (f"{type(self).__name__}(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
                f"len={len(self)}, special_tokens={self.special_tokens_map})")

