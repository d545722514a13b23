"""Tokenizers on Hugging Face's ``tokenizers`` (Rust): ``PreTrainedTokenizerFast`` for any
``tokenizer.json``, and the named classes ``LlamaTokenizerFast``, ``GPT2TokenizerFast`` and
``BloomTokenizerFast``. Batches go to ``tokenizers``' own parallel batch encoder."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from mf_tokenizers.backends.hf_tokenizers import HFTokenizersBackend
from mf_tokenizers.base import PreTrainedTokenizerBase
from mf_tokenizers.byte_level import GPT2_PATTERN
from mf_tokenizers.errors import TokenizerError
from mf_tokenizers.formats import byte_level_bpe, sentencepiece_to_tokenizer, vocab_and_merges
from mf_tokenizers.vocab_files import load_tokenizer_json

if TYPE_CHECKING:
    import tokenizers


class PreTrainedTokenizerFast(PreTrainedTokenizerBase):
    """Any ``tokenizer.json``: its normalizer, pre-tokenizer, model, post-processor and decoder.

    Special tokens are added as the file's post-processor says, unless ``add_bos_token`` or
    ``add_eos_token`` is given: then those flags decide, as in LlamaTokenizer."""

    vocab_files_names = {"tokenizer_file": "tokenizer.json"}

    def __init__(self, tokenizer_file: str | os.PathLike | None = None, vocab_file: str | os.PathLike | None = None,
                 tokenizer_object: tokenizers.Tokenizer | None = None, add_bos_token: bool | None = None,
                 add_eos_token: bool | None = None, **kwargs: Any) -> None:
        if tokenizer_object is None:
            tokenizer_object = self._load(tokenizer_file, vocab_file)
        super().__init__(HFTokenizersBackend(tokenizer_object), add_bos_token=add_bos_token,
                         add_eos_token=add_eos_token, **kwargs)

    def _load(self, tokenizer_file, vocab_file):
        """The ``tokenizers.Tokenizer`` of the files; ``vocab_file`` may name the tokenizer.json too."""
        if tokenizer_file is None and vocab_file is not None and str(vocab_file).endswith(".json"):
            tokenizer_file = vocab_file
        if tokenizer_file is None:
            raise TokenizerError(f"{type(self).__name__} needs tokenizer_file (a tokenizer.json)",
                                 key="tokenizer_file")
        return load_tokenizer_json(tokenizer_file)

    @property
    def backend_tokenizer(self) -> tokenizers.Tokenizer:
        """The ``tokenizers.Tokenizer`` (as in Hugging Face)."""
        return self.backend.tokenizer

    def to_fast(self) -> PreTrainedTokenizerFast:
        return self


class LlamaTokenizerFast(PreTrainedTokenizerFast):
    """Llama 2 / Mistral on ``tokenizers``: a ``tokenizer.json``, or a SentencePiece ``tokenizer.model``
    converted on load. ``add_bos_token``/``add_eos_token`` decide the special tokens, as in LlamaTokenizer."""

    vocab_files_names = {"tokenizer_file": "tokenizer.json", "vocab_file": "tokenizer.model"}
    special_defaults = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<unk>"}

    def __init__(self, vocab_file: str | os.PathLike | None = None, tokenizer_file: str | os.PathLike | None = None,
                 add_bos_token: bool = True, add_eos_token: bool = False, legacy: bool = True,
                 **kwargs: Any) -> None:
        self.legacy = bool(legacy)
        super().__init__(tokenizer_file, vocab_file, add_bos_token=add_bos_token, add_eos_token=add_eos_token,
                         **kwargs)

    def _load(self, tokenizer_file, vocab_file):
        if tokenizer_file is None and vocab_file is not None and not str(vocab_file).endswith(".json"):
            return sentencepiece_to_tokenizer(vocab_file, legacy=self.legacy)
        return super()._load(tokenizer_file, vocab_file)

    def _init_config(self):
        return {**super()._init_config(), "legacy": self.legacy}


class GPT2TokenizerFast(PreTrainedTokenizerFast):
    """GPT-2 on ``tokenizers``: a ``tokenizer.json``, ``vocab.json`` + ``merges.txt``, or a tiktoken
    ranks file (``vocab_file``, converted on load; equal to tiktoken with GPT-2's pattern)."""

    vocab_files_names = {"tokenizer_file": "tokenizer.json", "vocab_file": "vocab.json", "merges_file": "merges.txt"}
    special_defaults = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
                        "pad_token": None}

    def __init__(self, vocab_file: str | os.PathLike | None = None, merges_file: str | os.PathLike | None = None,
                 tokenizer_file: str | os.PathLike | None = None, **kwargs: Any) -> None:
        self._merges_file = merges_file
        super().__init__(tokenizer_file, vocab_file, **kwargs)

    def _load(self, tokenizer_file, vocab_file):
        if tokenizer_file is None and vocab_file is not None and not str(vocab_file).endswith("tokenizer.json"):
            vocab, merges, from_tiktoken = vocab_and_merges(vocab_file, self._merges_file)
            specials = {"<|endoftext|>": len(vocab)} if "<|endoftext|>" not in vocab else None
            return byte_level_bpe(vocab, merges, GPT2_PATTERN, specials, ignore_merges=from_tiktoken)
        return super()._load(tokenizer_file, vocab_file)


class BloomTokenizerFast(PreTrainedTokenizerFast):
    """Bloom's tokenizer: any ``tokenizer.json`` with Bloom's special tokens as defaults."""

    special_defaults = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
