"""``SentencePieceBackend``: a SentencePiece model (``tokenizer.model`` of Llama 2, Mistral, Mixtral)."""

from pathlib import Path

from mf_config.fileio import atomic_write
from mf_tokenizers.backends.added import AddedTokens

SPIECE_UNDERLINE = "▁"
MODEL_FILE = "tokenizer.model"


class SentencePieceBackend:
    """Batches are encoded by SentencePiece's own threads; bos/eos are added in C++ where they are the model's.

    ``legacy=True`` (MindFormers' default): text after a special token gets its own dummy-prefix space, as
    SentencePiece gives the start of a text; ``legacy=False`` is Hugging Face's non-legacy rule (none)."""

    saves_added_tokens = False

    def __init__(self, sp_model, legacy: bool = True, num_threads: int = 1):
        self.sp_model = sp_model
        self.legacy = bool(legacy)
        self.num_threads = num_threads
        self.errors = "replace"
        self.added = AddedTokens(sp_model.get_piece_size())

    def vocab_size(self) -> int:
        return self.sp_model.get_piece_size()

    def __len__(self) -> int:
        return self.added.base_size + len(self.added)

    def _base_token_to_id(self, token):
        idx = self.sp_model.piece_to_id(token)
        if idx == self.sp_model.unk_id() and token != self.sp_model.id_to_piece(idx):
            return None
        return idx

    def token_to_id(self, token: str) -> int | None:
        idx = self.added.ids.get(token)
        return self._base_token_to_id(token) if idx is None else idx

    def id_to_token(self, idx: int) -> str:
        token = self.added.tokens.get(idx)
        return self.sp_model.id_to_piece(idx) if token is None else token

    def get_vocab(self) -> dict[str, int]:
        return {**{self.sp_model.id_to_piece(i): i for i in range(self.vocab_size())}, **self.added.ids}

    def added_vocab(self) -> dict[str, int]:
        return dict(self.added.ids)

    def add_tokens(self, tokens: list[str], special: bool) -> None:
        self.added.add(tokens, special, self._base_token_to_id)

    def encode(self, texts: list[str], pre: list[int], post: list[int], split_special_tokens: bool) -> list[list[int]]:
        sp = self.sp_model
        if pre in ([], [sp.bos_id()]) and post in ([], [sp.eos_id()]):
            out = sp.encode(texts, add_bos=bool(pre), add_eos=bool(post), num_threads=self.num_threads)
        else:
            out = sp.encode(texts, num_threads=self.num_threads)
            if pre or post:
                out = [pre + x + post for x in out]
        return self.added.encode_found(texts, out, pre, post, split_special_tokens, self.encode_piece)

    def encode_piece(self, text: str, at_start: bool) -> list[int]:
        """The ids of a piece of text between special tokens (``at_start``: it begins the text)."""
        if self.legacy or at_start:
            return self.sp_model.encode(text)
        # Hugging Face's non-legacy rule: no dummy prefix after a special token
        unk = self.sp_model.id_to_piece(self.sp_model.unk_id())
        return self.sp_model.encode(unk + text)[len(self.sp_model.encode(unk)):]

    def _decode_run(self, ids, first):
        text = self.sp_model.decode(ids)
        if not first and self.sp_model.id_to_piece(ids[0]).startswith(SPIECE_UNDERLINE):
            text = " " + text
        return text

    def decode(self, sequences: list[list[int]], skip_special_tokens: bool) -> list[str]:
        return [self.added.decode(ids, skip_special_tokens, self._decode_run) for ids in sequences]

    def template(self) -> None:
        return None

    def save(self, folder: Path) -> list[Path]:
        path = Path(folder) / MODEL_FILE
        with atomic_write(path, "wb") as f:
            f.write(self.sp_model.serialized_model_proto())
        return [path]
