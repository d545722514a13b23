"""The backend protocol: text <-> ids for one vocabulary library, under the front class
(:class:`mf_tokenizers.base.PreTrainedTokenizerBase`), which owns special tokens, padding, truncation and
chat templates.

Four backends implement it: :class:`~mf_tokenizers.backends.sentencepiece_model.SentencePieceBackend`,
:class:`~mf_tokenizers.backends.tiktoken_ranks.TiktokenBackend`,
:class:`~mf_tokenizers.backends.hf_tokenizers.HFTokenizersBackend` and
:class:`~mf_tokenizers.backends.byte_bpe.BytePairBackend` (plain Python). A backend holds its vocabulary: the
base tokens of its files and the tokens added after them (ids from ``vocab_size()`` on). The front says which
tokens are added or special (``add_tokens``) and which ids go around each text (``encode``'s ``pre``/``post``);
a backend whose library cannot find added tokens in text itself keeps them in an
:class:`~mf_tokenizers.backends.added.AddedTokens`. Each call takes a whole batch, so that a library with its
own threads (sentencepiece, tiktoken, tokenizers) gets the batch in one call.
"""

from pathlib import Path
from typing import Protocol, runtime_checkable

Template = tuple[list[int], list[int], list[int], list[int], list[int]]


@runtime_checkable
class Backend(Protocol):
    """What the front class asks of a vocabulary library."""

    num_threads: int  # threads for a batch, where the library has its own (sentencepiece, tiktoken)
    errors: str  # decoding ids that are not UTF-8: "replace", "strict" or "ignore", where the library can
    saves_added_tokens: bool  # save() keeps the added tokens (else tokenizer_config.json must)

    def vocab_size(self) -> int:
        """The number of ids of the base vocabulary (without tokens added later)."""

    def __len__(self) -> int:
        """The number of ids, added tokens included."""

    def token_to_id(self, token: str) -> int | None:
        """The id of a token (base or added), or None."""

    def id_to_token(self, idx: int) -> str:
        """The token string of a valid id."""

    def get_vocab(self) -> dict[str, int]:
        """Every token and its id, added tokens included."""

    def added_vocab(self) -> dict[str, int]:
        """The tokens added after the base vocabulary and their ids."""

    def add_tokens(self, tokens: list[str], special: bool) -> None:
        """Find ``tokens`` whole in text from now on; unknown ones get the next ids, in order. Special tokens are
        also dropped by ``decode(..., skip_special_tokens=True)`` and read as text with ``split_special_tokens``."""

    def encode(self, texts: list[str], pre: list[int], post: list[int], split_special_tokens: bool) -> list[list[int]]:
        """``pre + ids + post`` for each text; added and special tokens written in a text are their ids unless
        ``split_special_tokens`` (then special ones are plain text)."""

    def decode(self, sequences: list[list[int]], skip_special_tokens: bool) -> list[str]:
        """The text of each sequence of valid ids."""

    def template(self) -> Template | None:
        """The special token ids the library's own post-processor puts around a text (prefix, suffix) and a pair
        (prefix, middle, suffix), or None when it has none (the front's add_bos_token/add_eos_token decide)."""

    def save(self, folder: Path) -> list[Path]:
        """Write the vocabulary files into ``folder`` (atomically); returns their paths."""
