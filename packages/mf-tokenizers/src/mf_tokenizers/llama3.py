"""``Llama3Tokenizer``: tiktoken ranks (Llama 3's ``tokenizer.model``), Llama 3's split pattern and its
256 special tokens numbered after the ranks, encoded by tiktoken itself, as in MindFormers."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from mf_tokenizers.backends.tiktoken_ranks import TiktokenBackend
from mf_tokenizers.base import PreTrainedTokenizerBase
from mf_tokenizers.byte_level import LLAMA3_PATTERN
from mf_tokenizers.chat import LLAMA3
from mf_tokenizers.fast import PreTrainedTokenizerFast
from mf_tokenizers.formats import tiktoken_to_tokenizer
from mf_tokenizers.vocab_files import read_tiktoken_ranks

if TYPE_CHECKING:
    import tiktoken

NUM_RESERVED_SPECIAL_TOKENS = 256


def llama3_special_tokens(count=NUM_RESERVED_SPECIAL_TOKENS):
    """Llama 3's special token names, in id order."""
    names = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
             "<|reserved_special_token_1|>", "<|reserved_special_token_2|>", "<|reserved_special_token_3|>",
             "<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_4|>", "<|eot_id|>"]
    return names + [f"<|reserved_special_token_{i}|>" for i in range(5, count - 5)]


class Llama3Tokenizer(PreTrainedTokenizerBase):
    """Llama 3's tokenizer on tiktoken, with MindFormers' defaults (bos added, pad
    ``<|reserved_special_token_0|>``, ``errors="replace"`` when decoding). Batches are encoded by
    tiktoken's threads (``num_threads``). ``vocab_size`` counts the ranks and the special tokens
    (128256 for Llama 3), as the model's does."""

    vocab_files_names = {"vocab_file": "tokenizer.model"}
    special_defaults = {"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>", "unk_token": None,
                        "pad_token": "<|reserved_special_token_0|>"}
    default_chat_template = "llama3"
    decode_errors = ("replace", "strict", "ignore")

    def __init__(self, vocab_file: str | os.PathLike | None = None, add_bos_token: bool = True,
                 add_eos_token: bool = False, pat_str: str = LLAMA3_PATTERN,
                 num_reserved_special_tokens: int = NUM_RESERVED_SPECIAL_TOKENS, **kwargs: Any) -> None:
        self.vocab_file = str(vocab_file) if vocab_file is not None else None
        ranks = read_tiktoken_ranks(vocab_file)
        names = llama3_special_tokens(num_reserved_special_tokens)
        specials = {name: len(ranks) + i for i, name in enumerate(names)}
        backend = TiktokenBackend(ranks, pat_str, specials, file=self.vocab_file)
        super().__init__(backend, add_bos_token=add_bos_token, add_eos_token=add_eos_token, **kwargs)
        self._special.update(specials)

    @property
    def tiktoken(self) -> tiktoken.Encoding:
        """The ``tiktoken.Encoding``."""
        return self.backend.encoding

    @property
    def pat_str(self) -> str:
        """The split pattern."""
        return self.backend.pat_str

    def _init_config(self):
        out = super()._init_config()
        if self.pat_str != LLAMA3_PATTERN:
            out["pat_str"] = self.pat_str
        return out

    def _fast_twin(self, common):
        """tokenizers' BPE with the ranks as merges; a post-processor adds bos/eos as the flags say, so that
        Hugging Face loads the folder alike."""
        from tokenizers import processors  # not at import: `import mf_tokenizers` loads no backend

        backend = tiktoken_to_tokenizer(self.backend.ranks, self.pat_str, self.backend.special_tokens)
        single = ([f"{self.bos_token}:0"] if self.add_bos_token else []) + ["$A:0"] + \
            ([f"{self.eos_token}:0"] if self.add_eos_token else [])
        used = {t.split(":")[0] for t in single if not t.startswith("$")}
        pair = single + [s.replace("$A", "$B").replace(":0", ":1") for s in single]
        backend.post_processor = processors.TemplateProcessing(
            single=" ".join(single), pair=" ".join(pair),
            special_tokens=[(t, self.convert_tokens_to_ids(t)) for t in sorted(used)])
        common["chat_template"] = common["chat_template"] or LLAMA3
        return PreTrainedTokenizerFast(tokenizer_object=backend, **common)
