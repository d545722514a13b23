"""``LlamaTokenizer``: a SentencePiece ``tokenizer.model`` (Llama 2, Mistral, Mixtral), as in MindFormers."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from mf_tokenizers.backends.sentencepiece_model import SPIECE_UNDERLINE, SentencePieceBackend
from mf_tokenizers.base import PreTrainedTokenizerBase
from mf_tokenizers.fast import LlamaTokenizerFast
from mf_tokenizers.formats import sentencepiece_to_tokenizer
from mf_tokenizers.vocab_files import load_sentencepiece

if TYPE_CHECKING:
    import sentencepiece

__all__ = ["SPIECE_UNDERLINE", "LlamaTokenizer"]


class LlamaTokenizer(PreTrainedTokenizerBase):
    """SentencePiece tokenizer. ``add_bos_token``/``add_eos_token`` say which special tokens
    ``tok(text)`` adds; ``legacy=True`` (MindFormers' default) gives text after a special token its own
    dummy-prefix space, as SentencePiece does for the start of a text. Batches are encoded by
    SentencePiece's own threads (``num_threads``, default: every core)."""

    vocab_files_names = {"vocab_file": "tokenizer.model"}
    special_defaults = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<unk>"}

    def __init__(self, vocab_file: str | os.PathLike | None = None, add_bos_token: bool = True,
                 add_eos_token: bool = False, legacy: bool = True, **kwargs: Any) -> None:
        self.vocab_file = str(vocab_file) if vocab_file is not None else None
        backend = SentencePieceBackend(load_sentencepiece(vocab_file), legacy=legacy)
        super().__init__(backend, add_bos_token=add_bos_token, add_eos_token=add_eos_token, **kwargs)

    @property
    def sp_model(self) -> sentencepiece.SentencePieceProcessor:
        """The ``sentencepiece.SentencePieceProcessor``."""
        return self.backend.sp_model

    @property
    def legacy(self) -> bool:
        """Text after a special token gets its own dummy-prefix space (MindFormers' default)."""
        return self.backend.legacy

    @legacy.setter
    def legacy(self, value: bool) -> None:
        self.backend.legacy = bool(value)

    def _init_config(self):
        return {**super()._init_config(), "legacy": self.legacy}

    def _fast_twin(self, common):
        backend = sentencepiece_to_tokenizer(self.sp_model.serialized_model_proto(), legacy=self.legacy)
        return LlamaTokenizerFast(tokenizer_object=backend, add_bos_token=self.add_bos_token,
                                  add_eos_token=self.add_eos_token, legacy=self.legacy, **common)
