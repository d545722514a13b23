"""``Llama3Tokenizer``: tiktoken ranks (Llama 3's ``tokenizer.model``), Llama 3's split pattern and its
256 special tokens numbered after the ranks, encoded by tiktoken itself, as in MindFormers."""

from mf_config.fileio import atomic_write
from mf_tokenizers.base import PreTrainedTokenizerBase
from mf_tokenizers.byte_level import LLAMA3_PATTERN, token_to_str
from mf_tokenizers.errors import TokenizerError
from mf_tokenizers.vocab_files import read_tiktoken_ranks, write_tiktoken_ranks

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

    def __init__(self, vocab_file=None, add_bos_token=True, add_eos_token=False, pat_str=LLAMA3_PATTERN,
                 num_reserved_special_tokens=NUM_RESERVED_SPECIAL_TOKENS, **kwargs):
        self.vocab_file = str(vocab_file) if vocab_file is not None else None
        self.pat_str = pat_str
        self._ranks = read_tiktoken_ranks(vocab_file)
        names = llama3_special_tokens(num_reserved_special_tokens)
        self._builtin_specials = {name: len(self._ranks) + i for i, name in enumerate(names)}
        self._n_base = len(self._ranks) + len(names)
        self._build()
        super().__init__(add_bos_token=add_bos_token, add_eos_token=add_eos_token, **kwargs)
        self._special.update(self._builtin_specials)
        self._split_cache.clear()

    def _build(self):
        import tiktoken

        self._encoding_added = dict(getattr(self, "_added", {}))
        try:
            self.tiktoken = tiktoken.Encoding(name="llama3", pat_str=self.pat_str, mergeable_ranks=self._ranks,
                                              special_tokens={**self._builtin_specials, **self._encoding_added})
        except ValueError as e:
            raise TokenizerError(f"tiktoken refused these ranks/pattern: {e}", file=self.vocab_file) from None
        self._str_to_id = None

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in ("tiktoken", "_str_to_id")}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._build()

    def _tokens_added(self):
        if self._added != self._encoding_added:
            self._build()

    def _base_vocab_size(self):
        return self._n_base

    def _base_token_to_id(self, token):
        idx = self._builtin_specials.get(token)
        if idx is not None:
            return idx
        if self._str_to_id is None:
            self._str_to_id = {token_to_str(t): i for t, i in self._ranks.items()}
        return self._str_to_id.get(token)

    def _base_id_to_token(self, idx):
        if idx >= len(self._ranks):
            return self.tiktoken.decode_single_token_bytes(idx).decode("utf-8")
        return token_to_str(self.tiktoken.decode_single_token_bytes(idx))

    def _encode_plain(self, texts, split_special_tokens=None):
        split = self.split_special_tokens if split_special_tokens is None else split_special_tokens
        allowed = {t for t in self._added if t not in self._special} if split else "all"
        if len(texts) == 1:
            return [self.tiktoken.encode(texts[0], allowed_special=allowed, disallowed_special=())]
        return self.tiktoken.encode_batch(texts, num_threads=self.num_threads, allowed_special=allowed,
                                          disallowed_special=())

    def decode(self, token_ids, skip_special_tokens=False):
        ids = [int(i) for i in (token_ids.tolist() if hasattr(token_ids, "tolist") else token_ids)]
        self._check_ids(ids)
        if skip_special_tokens:
            special = {self._token_id(t) for t in self._special}
            ids = [i for i in ids if i not in special]
        try:
            return self.tiktoken.decode(ids, errors=self.errors)
        except UnicodeDecodeError as e:
            raise TokenizerError(f"the ids do not decode to UTF-8 ({e.reason}); use errors='replace'") from None

    def _init_config(self):
        out = super()._init_config()
        if self.pat_str != LLAMA3_PATTERN:
            out["pat_str"] = self.pat_str
        return out

    def _save_vocabulary(self, folder):
        path = folder / self.vocab_files_names["vocab_file"]
        with atomic_write(path, "wb") as f:
            write_tiktoken_ranks(self._ranks, f)
        return [path]
