"""``TiktokenBackend``: tiktoken ranks, a split pattern and special tokens numbered after the ranks (Llama 3's
``tokenizer.model``), encoded by tiktoken itself."""

from pathlib import Path

from mf_config.fileio import atomic_write
from mf_tokenizers.backends.added import AddedTokens
from mf_tokenizers.byte_level import token_to_str
from mf_tokenizers.errors import TokenizerError
from mf_tokenizers.vocab_files import write_tiktoken_ranks

MODEL_FILE = "tokenizer.model"


class TiktokenBackend:
    """tiktoken finds the special and added tokens in text itself (they are its ``special_tokens``) and encodes
    batches in its own threads. The base vocabulary is the ranks and the built-in special tokens."""

    saves_added_tokens = False

    def __init__(self, ranks: dict[bytes, int], pat_str: str, special_tokens: dict[str, int], num_threads: int = 1,
                 file=None):
        self.ranks = ranks
        self.pat_str = pat_str
        self.special_tokens = special_tokens  # the built-in ones, {name: id}
        self.num_threads = num_threads
        self.errors = "replace"
        self.file = file
        self.added = AddedTokens(len(ranks) + len(special_tokens), special_tokens)
        self._str_to_id = None
        self._encoding = self._build()

    def _build(self):
        import tiktoken

        try:
            return tiktoken.Encoding(name="llama3", pat_str=self.pat_str, mergeable_ranks=self.ranks,
                                     special_tokens={**self.special_tokens, **self.added.ids})
        except ValueError as e:
            raise TokenizerError(f"tiktoken refused these ranks/pattern: {e}", file=self.file) from None

    @property
    def encoding(self):
        """The ``tiktoken.Encoding`` (rebuilt after tokens are added, and after unpickling)."""
        if self._encoding is None:
            self._encoding = self._build()
        return self._encoding

    def __getstate__(self):
        return {**self.__dict__, "_encoding": None, "_str_to_id": None}

    def vocab_size(self) -> int:
        return self.added.base_size

    def __len__(self) -> int:
        return self.added.base_size + len(self.added)

    def _base_token_to_id(self, token):
        idx = self.special_tokens.get(token)
        if idx is not None:
            return idx
        if self._str_to_id is None:
            self._str_to_id = {token_to_str(t): i for t, i in self.ranks.items()}
        return self._str_to_id.get(token)

    def token_to_id(self, token: str) -> int | None:
        idx = self.added.ids.get(token)
        return self._base_token_to_id(token) if idx is None else idx

    def id_to_token(self, idx: int) -> str:
        token = self.added.tokens.get(idx)
        if token is not None:
            return token
        if idx >= len(self.ranks):
            return self.encoding.decode_single_token_bytes(idx).decode("utf-8")
        return token_to_str(self.encoding.decode_single_token_bytes(idx))

    def get_vocab(self) -> dict[str, int]:
        return {**{self.id_to_token(i): i for i in range(self.vocab_size())}, **self.added.ids}

    def added_vocab(self) -> dict[str, int]:
        return dict(self.added.ids)

    def add_tokens(self, tokens: list[str], special: bool) -> None:
        if self.added.add(tokens, special, self._base_token_to_id):
            self._encoding = None

    def encode(self, texts: list[str], pre: list[int], post: list[int], split_special_tokens: bool) -> list[list[int]]:
        allowed = self.added.unsplit() if split_special_tokens else "all"
        enc = self.encoding
        if len(texts) == 1:
            out = [enc.encode(texts[0], allowed_special=allowed, disallowed_special=())]
        else:
            out = enc.encode_batch(texts, num_threads=self.num_threads, allowed_special=allowed,
                                   disallowed_special=())
        return [pre + x + post for x in out] if pre or post else out

    def decode(self, sequences: list[list[int]], skip_special_tokens: bool) -> list[str]:
        enc = self.encoding
        if skip_special_tokens:
            special = set(self.added.special.values())
            sequences = [[i for i in ids if i not in special] for ids in sequences]
        try:
            return [enc.decode(ids, errors=self.errors) for ids in sequences]
        except UnicodeDecodeError as e:
            raise TokenizerError(f"the ids do not decode to UTF-8 ({e.reason}); use errors='replace'") from None

    def template(self) -> None:
        return None

    def save(self, folder: Path) -> list[Path]:
        path = Path(folder) / MODEL_FILE
        with atomic_write(path, "wb") as f:
            write_tiktoken_ranks(self.ranks, f)
        return [path]
