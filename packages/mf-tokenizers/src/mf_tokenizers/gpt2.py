"""``GPT2Tokenizer``: byte-level BPE from ``vocab.json`` + ``merges.txt`` in plain Python, the readable
reference (use GPT2TokenizerFast for speed). It can also be built from a tiktoken ranks file."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from mf_tokenizers.backends.byte_bpe import BytePairBackend
from mf_tokenizers.base import PreTrainedTokenizerBase
from mf_tokenizers.byte_level import GPT2_PATTERN
from mf_tokenizers.fast import GPT2TokenizerFast
from mf_tokenizers.formats import byte_level_bpe, vocab_and_merges

if TYPE_CHECKING:
    import regex


class GPT2Tokenizer(PreTrainedTokenizerBase):
    """GPT-2's tokenizer: the text is split by GPT-2's pattern, each piece written in the byte-level
    alphabet and merged pair by pair, lowest merge rank first. Built from a tiktoken file, a piece that is
    in the vocabulary whole is one token, as tiktoken does (``ignore_merges``). The ``regex`` module's
    Unicode tables are newer than tiktoken's, so a few recently assigned letters split differently."""

    vocab_files_names = {"vocab_file": "vocab.json", "merges_file": "merges.txt"}
    special_defaults = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
                        "pad_token": None}
    decode_errors = ("replace", "strict", "ignore")

    def __init__(self, vocab_file: str | os.PathLike | None = None, merges_file: str | os.PathLike | None = None,
                 ignore_merges: bool | None = None, **kwargs: Any) -> None:
        encoder, merges, from_tiktoken = vocab_and_merges(vocab_file, merges_file)
        backend = BytePairBackend(encoder, merges, from_tiktoken if ignore_merges is None else ignore_merges,
                                  GPT2_PATTERN)
        super().__init__(backend, **kwargs)

    @property
    def encoder(self) -> dict[str, int]:
        """vocab.json: token -> id."""
        return self.backend.encoder

    @property
    def decoder(self) -> dict[int, str]:
        """id -> token of vocab.json."""
        return self.backend.decoder

    @property
    def bpe_ranks(self) -> dict[tuple[str, str], int]:
        """merges.txt: (left, right) -> rank."""
        return self.backend.bpe_ranks

    @property
    def ignore_merges(self) -> bool:
        return self.backend.ignore_merges

    @property
    def pattern(self) -> regex.Pattern:
        """GPT-2's split pattern, compiled."""
        return self.backend.pattern

    def bpe(self, piece: str) -> list[str]:
        """The tokens of one pre-tokenized piece (in the byte-level alphabet)."""
        return self.backend.bpe(piece)

    def _init_config(self):
        return {**super()._init_config(), "ignore_merges": self.ignore_merges}

    def _fast_twin(self, common):
        merges = sorted(self.bpe_ranks, key=self.bpe_ranks.get)
        specials = {"<|endoftext|>": len(self.encoder)} if "<|endoftext|>" not in self.encoder else None
        backend = byte_level_bpe(self.encoder, merges, GPT2_PATTERN, specials, ignore_merges=self.ignore_merges)
        return GPT2TokenizerFast(tokenizer_object=backend, **common)
