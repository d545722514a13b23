"""The save/load half of the front class: ``save_pretrained`` writes ``tokenizer_config.json`` (Hugging Face's
layout) beside the backend's vocabulary files, ``from_pretrained`` reads a folder or a vocabulary file."""

import json
import os
from pathlib import Path
from typing import Any, TypeVar

from mf_config.fileio import atomic_write
from mf_tokenizers.errors import TokenizerError
from mf_tokenizers.tokenizer_config import CONFIG_FILE, read_tokenizer_config

_T = TypeVar("_T", bound="SaveLoadMixin")


class SaveLoadMixin:
    """``save_pretrained``/``from_pretrained`` for :class:`~mf_tokenizers.base.PreTrainedTokenizerBase`."""

    vocab_files_names: dict = {}  # init option -> file name in a folder (the first: a lone vocabulary file)

    def _init_config(self) -> dict:
        """The init options that ``tokenizer_config.json`` keeps (besides files and special tokens)."""
        out = {} if self._follows_post_processor else {"add_bos_token": self.add_bos_token,
                                                        "add_eos_token": self.add_eos_token}
        if self.errors != "replace":
            out["errors"] = self.errors
        return out

    def save_pretrained(self, save_directory: str | os.PathLike) -> list[Path]:
        """Write ``tokenizer_config.json`` and the vocabulary files into a folder; returns their paths."""
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        paths = self.backend.save(folder)
        config = {"tokenizer_class": type(self).__name__, **self.special_tokens_map, **self._init_config(),
                  "model_max_length": self.model_max_length, "padding_side": self.padding_side,
                  "truncation_side": self.truncation_side, "split_special_tokens": self.split_special_tokens}
        if self.chat_template:
            config["chat_template"] = self.chat_template
        added = {} if self.backend.saves_added_tokens else self.backend.added_vocab()
        if added:
            config["added_tokens_decoder"] = {str(i): {"content": t, "special": t in self._special}
                                              for t, i in sorted(added.items(), key=lambda kv: kv[1])}
        path = folder / CONFIG_FILE
        with atomic_write(path) as f:
            json.dump(config, f, indent=2, ensure_ascii=False)
            f.write("\n")
        return [path, *paths]

    @classmethod
    def from_pretrained(cls: type[_T], path: str | os.PathLike, **kwargs: Any) -> _T:
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
