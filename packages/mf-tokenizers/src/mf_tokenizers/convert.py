"""Conversions of a tokenizer to another format (the ``convert`` command), and the format converters of
:mod:`mf_tokenizers.formats`, each checked against the source library in the tests:

- ``to_fast(tok)``: a ``tokenizers``-backed tokenizer (``tokenizer.json``) that encodes as ``tok`` does;
- ``to_vocab_merges(tok)``: a GPT2Tokenizer (``vocab.json`` + ``merges.txt``) equal to a GPT-2 tokenizer;
- tiktoken ranks -> byte-level BPE ``vocab.json`` + ``merges.txt``, tiktoken ranks + split pattern + special
  tokens -> ``tokenizer.json``, a SentencePiece BPE model -> ``tokenizer.json``.
"""

import json
import tempfile
from pathlib import Path

from mf_tokenizers.base import PreTrainedTokenizerBase
from mf_tokenizers.errors import TokenizerError
from mf_tokenizers.fast import GPT2TokenizerFast, PreTrainedTokenizerFast
from mf_tokenizers.formats import (
    byte_level_bpe,
    sentencepiece_to_tokenizer,
    tiktoken_merges,
    tiktoken_to_tokenizer,
    tiktoken_to_vocab_merges,
    vocab_and_merges,
)
from mf_tokenizers.gpt2 import GPT2Tokenizer

__all__ = ["byte_level_bpe", "sentencepiece_to_tokenizer", "tiktoken_merges", "tiktoken_to_tokenizer",
           "tiktoken_to_vocab_merges", "to_fast", "to_vocab_merges", "vocab_and_merges"]


def to_fast(tok: PreTrainedTokenizerBase) -> PreTrainedTokenizerFast:
    """A ``tokenizers``-backed tokenizer that encodes as ``tok`` does (``tok.to_fast()``)."""
    return tok.to_fast()


def to_vocab_merges(tok: PreTrainedTokenizerBase) -> GPT2Tokenizer:
    """A GPT2Tokenizer (vocab.json + merges.txt) equal to a GPT-2 tokenizer (the ``convert`` command)."""
    if isinstance(tok, GPT2Tokenizer):
        return tok
    if not isinstance(tok, GPT2TokenizerFast):
        raise TokenizerError(f"vocab.json + merges.txt hold GPT-2 tokenizers only, not {type(tok).__name__}")
    model = json.loads(tok.backend_tokenizer.to_str())["model"]
    with tempfile.TemporaryDirectory() as tmp:
        vocab, merges = Path(tmp) / "vocab.json", Path(tmp) / "merges.txt"
        vocab.write_text(json.dumps(model["vocab"], ensure_ascii=False), encoding="utf-8")
        merges.write_text("".join(f"{' '.join(m) if isinstance(m, list) else m}\n" for m in model["merges"]),
                          encoding="utf-8")
        return GPT2Tokenizer(vocab, merges, ignore_merges=model.get("ignore_merges", False),
                             **dict(tok.special_tokens_map), model_max_length=tok.model_max_length)
