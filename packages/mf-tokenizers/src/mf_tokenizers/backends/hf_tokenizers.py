"""``HFTokenizersBackend``: Hugging Face's ``tokenizers`` (Rust) with a ``tokenizer.json``: its normalizer,
pre-tokenizer, model, post-processor, decoder and added tokens."""

from pathlib import Path

from mf_config.fileio import atomic_write
from mf_tokenizers.backends import Template
from mf_tokenizers.errors import TokenizerError

JSON_FILE = "tokenizer.json"


class HFTokenizersBackend:
    """The library keeps the added tokens, finds them in text, adds the post-processor's special tokens and
    encodes and decodes batches in its own threads."""

    saves_added_tokens = True

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer  # a tokenizers.Tokenizer
        self.num_threads = None  # tokenizers sizes its own thread pool (RAYON_NUM_THREADS)
        self.errors = "replace"
        self._template = None

    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=False)

    def __len__(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    def token_to_id(self, token: str) -> int | None:
        return self.tokenizer.token_to_id(token)

    def id_to_token(self, idx: int) -> str:
        return self.tokenizer.id_to_token(idx)

    def get_vocab(self) -> dict[str, int]:
        return self.tokenizer.get_vocab(with_added_tokens=True)

    def added_vocab(self) -> dict[str, int]:
        base = self.vocab_size()
        return {t.content: i for i, t in self.tokenizer.get_added_tokens_decoder().items() if i >= base}

    def add_tokens(self, tokens: list[str], special: bool) -> None:
        from tokenizers import AddedToken

        added = [AddedToken(t, special=special, normalized=False) for t in tokens]
        if special:
            self.tokenizer.add_special_tokens(added)
        else:
            self.tokenizer.add_tokens([a for a in added if self.tokenizer.token_to_id(a.content) is None])
        self._template = None

    def encode(self, texts: list[str], pre: list[int], post: list[int], split_special_tokens: bool) -> list[list[int]]:
        # the post-processor adds pre/post itself when they are what it adds
        native = bool(pre or post) and (pre, post) == self.template()[:2]
        tok = self.tokenizer
        if tok.encode_special_tokens == split_special_tokens:
            out = [e.ids for e in tok.encode_batch_fast(texts, add_special_tokens=native)]
        else:
            tok.encode_special_tokens = split_special_tokens
            try:
                out = [e.ids for e in tok.encode_batch_fast(texts, add_special_tokens=native)]
            finally:
                tok.encode_special_tokens = not split_special_tokens
        return [pre + x + post for x in out] if (pre or post) and not native else out

    def decode(self, sequences: list[list[int]], skip_special_tokens: bool) -> list[str]:
        if len(sequences) == 1:
            return [self.tokenizer.decode(sequences[0], skip_special_tokens=skip_special_tokens)]
        return self.tokenizer.decode_batch(sequences, skip_special_tokens=skip_special_tokens)

    def template(self) -> Template:
        """Found by post-processing two one-token sentinels."""
        if self._template is None:
            tok = self.tokenizer
            a, b = tok.encode("a", add_special_tokens=False), tok.encode("b", add_special_tokens=False)
            single = tok.post_process(a, None, True).ids
            pair = tok.post_process(a, b, True).ids
            i = _find(single, a.ids)
            j = _find(pair, a.ids)
            k = _find(pair, b.ids, j + len(a.ids))
            self._template = (single[:i], single[i + len(a.ids):], pair[:j], pair[j + len(a.ids):k],
                              pair[k + len(b.ids):])
        return self._template

    def save(self, folder: Path) -> list[Path]:
        path = Path(folder) / JSON_FILE
        with atomic_write(path) as f:
            f.write(self.tokenizer.to_str(pretty=True))
        return [path]


def _find(seq, sub, start=0):
    for i in range(start, len(seq) - len(sub) + 1):
        if seq[i:i + len(sub)] == sub:
            return i
    raise TokenizerError("cannot find the text's tokens in the post-processor's output")
