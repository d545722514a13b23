"""``AutoTokenizer``: the right class for a folder, a vocabulary file or a MindFormers YAML."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mf_config.errors import ConfigError
from mf_tokenizers.errors import TokenizerError
from mf_tokenizers.tokenizer_config import CONFIG_FILE, read_tokenizer_config
from mf_tokenizers.vocab_files import is_tiktoken_file

if TYPE_CHECKING:
    from mf_tokenizers.base import PreTrainedTokenizerBase

GPT2_RANKS = 50256  # a tiktoken file with exactly GPT-2's number of ranks is read as GPT-2's
# The class to use when a folder names a class whose vocabulary files it lacks but holds a tokenizer.json
# (transformers 5 names its tokenizers-backed classes without "Fast").
FAST_TWIN = {"LlamaTokenizer": "LlamaTokenizerFast", "GPT2Tokenizer": "GPT2TokenizerFast",
             "BloomTokenizer": "BloomTokenizerFast"}


def tokenizer_class(name):
    """The class registered under ``name`` (``tokenizer.NAME`` entry points of mf.registry)."""
    from mf_config.registry import get

    try:
        return get("tokenizer", name)
    except ConfigError as e:
        raise TokenizerError(e.message, key=e.key) from None


def _count_lines(path):
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def _class_of_file(path, use_fast):
    """(class name, init kwargs) for a single vocabulary file."""
    if path.suffix == ".json" and path.name != "vocab.json":
        return "PreTrainedTokenizerFast", {"tokenizer_file": str(path)}
    if path.name == "vocab.json" or path.suffix == ".txt":
        folder = path.parent
        return _gpt2(use_fast), {"vocab_file": str(folder / "vocab.json"), "merges_file": str(folder / "merges.txt")}
    if is_tiktoken_file(path):
        if _count_lines(path) == GPT2_RANKS:
            return _gpt2(use_fast), {"vocab_file": str(path)}
        return "Llama3Tokenizer", {"vocab_file": str(path)}
    return "LlamaTokenizer", {"vocab_file": str(path)}


def _gpt2(use_fast):
    return "GPT2TokenizerFast" if use_fast else "GPT2Tokenizer"


def _class_of_folder(folder, use_fast):
    """The class name for a folder without ``tokenizer_config.json``."""
    if (folder / "tokenizer.json").is_file():
        return "PreTrainedTokenizerFast"
    if (folder / "tokenizer.model").is_file():
        return "Llama3Tokenizer" if is_tiktoken_file(folder / "tokenizer.model") else "LlamaTokenizer"
    if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
        return _gpt2(use_fast)
    raise TokenizerError(f"no tokenizer files found; expected {CONFIG_FILE}, tokenizer.json, tokenizer.model "
                         "or vocab.json + merges.txt", file=folder)


class AutoTokenizer:
    """``AutoTokenizer.from_pretrained(path)`` for every tokenizer of the four families."""

    def __init__(self) -> None:
        raise TypeError("use AutoTokenizer.from_pretrained(path)")

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, overrides: Sequence[str] = (), use_fast: bool = True,
                        **kwargs: Any) -> PreTrainedTokenizerBase:
        """A tokenizer from ``path``:

        - a folder: the class ``tokenizer_config.json`` names (``tokenizer_class``), else by its files
          (tokenizer.json; tokenizer.model as SentencePiece or tiktoken; vocab.json + merges.txt);
        - a file: tokenizer.json, a SentencePiece or tiktoken ``tokenizer.model`` / ``*.tiktoken``
          (50256 ranks: GPT-2's), vocab.json (with merges.txt beside it);
        - a MindFormers YAML: its ``processor.tokenizer`` section (``type``, ``vocab_file``, special
          tokens), with dotted ``overrides`` such as ``"processor.tokenizer.vocab_file=/data/tokenizer.model"``.

        ``use_fast`` picks GPT2TokenizerFast over GPT2Tokenizer where the files do not name the class;
        ``kwargs`` go to the class (they win over the files).
        """
        path = Path(path)
        if path.suffix in (".yaml", ".yml"):
            return from_yaml(path, overrides, **kwargs)
        if overrides:
            raise TokenizerError("overrides apply to a MindFormers YAML only; pass options as keyword arguments",
                                 file=path)
        if path.is_dir():
            config = read_tokenizer_config(path)
            name = config.get("tokenizer_class") or _class_of_folder(path, use_fast)
            klass = tokenizer_class(name)
            files = klass.vocab_files_names
            if "tokenizer_file" not in files and (path / "tokenizer.json").is_file() and \
                    not all((path / f).is_file() for f in files.values()):
                klass = tokenizer_class(FAST_TWIN.get(name, "PreTrainedTokenizerFast"))
            return klass.from_pretrained(path, **kwargs)
        if path.is_file():
            name, files = _class_of_file(path, use_fast)
            return tokenizer_class(name)(**{**files, **kwargs})
        raise TokenizerError("no such file or folder; expected a tokenizer folder, a vocabulary file or a "
                             "MindFormers YAML", file=path)


def from_yaml(path, overrides=(), **kwargs):
    """The tokenizer of a MindFormers YAML's ``processor.tokenizer`` section (``kwargs`` win)."""
    from mf_config import load_config

    cfg = load_config(path, overrides)
    processor = cfg.get("processor")
    section = processor.get("tokenizer") if isinstance(processor, dict) else None
    if not isinstance(section, dict):
        raise TokenizerError("no processor.tokenizer section; expected one with 'type' and 'vocab_file'",
                             file=path, key="processor.tokenizer")
    options = {**section.to_dict(), **kwargs}
    options.pop("auto_register", None)  # imported (with --register_path) by mf_config.registry.auto_register_sections
    name = options.pop("type", None)
    if not name:
        raise TokenizerError("expected the tokenizer class name", file=path, key="processor.tokenizer.type")
    klass = tokenizer_class(name)
    for key in ("vocab_file", "merges_file", "tokenizer_file"):
        value = options.get(key)
        if value is not None and key not in kwargs and not Path(value).is_file():
            dotted = f"processor.tokenizer.{key}"
            line = (cfg.where(dotted) or (None, None))[1]
            raise TokenizerError(f"no such file: {value}; set it with the override {dotted}=PATH or "
                                 f"{key}=...", file=cfg.file() or path, key=dotted, line=line)
    try:
        return klass(**options)
    except TokenizerError as e:
        if e.file:
            raise
        key = f"processor.tokenizer.{e.key}" if e.key else "processor.tokenizer"
        raise TokenizerError(e.message, file=path, key=key, line=(cfg.where(key) or (None, None))[1]) from None
