"""``GPT2Tokenizer``: byte-level BPE from ``vocab.json`` + ``merges.txt`` in plain Python, the readable
reference (use GPT2TokenizerFast for speed). It can also be built from a tiktoken ranks file."""

import heapq
import json

from mf_config.fileio import atomic_write
from mf_tokenizers.base import PreTrainedTokenizerBase
from mf_tokenizers.byte_level import GPT2_PATTERN, bytes_to_unicode, unicode_to_bytes
from mf_tokenizers.errors import TokenizerError
from mf_tokenizers.vocab_files import is_tiktoken_file, read_merges, read_tiktoken_ranks, read_vocab_json

CACHE_LIMIT = 100_000


def vocab_and_merges(vocab_file, merges_file):
    """(vocab, merges, from_tiktoken): from vocab.json + merges.txt, or from a tiktoken ranks file."""
    if merges_file is None and vocab_file is not None and is_tiktoken_file(vocab_file):
        from mf_tokenizers.convert import tiktoken_to_vocab_merges

        return (*tiktoken_to_vocab_merges(read_tiktoken_ranks(vocab_file)), True)
    vocab = read_vocab_json(vocab_file)
    return vocab, read_merges(merges_file, vocab), False


class GPT2Tokenizer(PreTrainedTokenizerBase):
    """GPT-2's tokenizer: the text is split by GPT-2's pattern, each piece written in the byte-level
    alphabet and merged pair by pair, lowest merge rank first. Built from a tiktoken file, a piece that is
    in the vocabulary whole is one token, as tiktoken does (``ignore_merges``). The ``regex`` module's
    Unicode tables are newer than tiktoken's, so a few recently assigned letters split differently."""

    vocab_files_names = {"vocab_file": "vocab.json", "merges_file": "merges.txt"}
    special_defaults = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
                        "pad_token": None}
    decode_errors = ("replace", "strict", "ignore")

    def __init__(self, vocab_file=None, merges_file=None, ignore_merges=None, **kwargs):
        import regex

        self.encoder, merges, from_tiktoken = vocab_and_merges(vocab_file, merges_file)
        self.decoder = {i: t for t, i in self.encoder.items()}
        self.bpe_ranks = {pair: i for i, pair in enumerate(merges)}
        self.ignore_merges = from_tiktoken if ignore_merges is None else bool(ignore_merges)
        self.pattern = regex.compile(GPT2_PATTERN)
        self._cache = {}
        super().__init__(**kwargs)

    def __getstate__(self):
        return {**self.__dict__, "_cache": {}}

    def _base_vocab_size(self):
        return len(self.encoder)

    def _base_token_to_id(self, token):
        return self.encoder.get(token)

    def _base_id_to_token(self, idx):
        return self.decoder[idx]

    def bpe(self, piece):
        """The tokens of one pre-tokenized piece (in the byte-level alphabet): merge the adjacent pair
        of lowest merge rank, the leftmost on ties, until no pair has a rank. A heap of candidate pairs
        and links between neighbours keep this O(n log n) for long pieces."""
        if self.ignore_merges and piece in self.encoder:
            return [piece]
        parts = list(piece)
        nxt = list(range(1, len(parts))) + [-1]
        prev = list(range(-1, len(parts) - 1))
        heap = []

        def push(i):
            j = nxt[i]
            if i >= 0 and j >= 0:
                rank = self.bpe_ranks.get((parts[i], parts[j]))
                if rank is not None:
                    heapq.heappush(heap, (rank, i, parts[i], parts[j]))

        for i in range(len(parts) - 1):
            push(i)
        while heap:
            _, i, left, right = heapq.heappop(heap)
            j = nxt[i]
            if parts[i] != left or j < 0 or parts[j] != right:
                continue  # stale: a neighbour was merged since this pair was pushed
            parts[i], parts[j] = left + right, None
            nxt[i] = nxt[j]
            if nxt[j] >= 0:
                prev[nxt[j]] = i
            push(prev[i])
            push(i)
        return [p for p in parts if p is not None]

    def _encode_one(self, text):
        table, ids = bytes_to_unicode(), []
        for piece in self.pattern.findall(text):
            cached = self._cache.get(piece)
            if cached is None:
                word = "".join(table[b] for b in piece.encode("utf-8"))
                cached = [self.encoder[t] for t in self.bpe(word)]
                if len(self._cache) >= CACHE_LIMIT:
                    self._cache.clear()
                self._cache[piece] = cached
            ids += cached
        return ids

    def _encode_ordinary(self, texts):
        return [self._encode_one(t) for t in texts]

    def _decode_run(self, ids, first):
        table = unicode_to_bytes()
        data = bytes(table[c] for i in ids for c in self.decoder[i])
        try:
            return data.decode("utf-8", errors=self.errors)
        except UnicodeDecodeError as e:
            raise TokenizerError(f"the ids do not decode to UTF-8 ({e.reason}); use errors='replace'") from None

    def _init_config(self):
        return {**super()._init_config(), "ignore_merges": self.ignore_merges}

    def _save_vocabulary(self, folder):
        vocab_path, merges_path = folder / "vocab.json", folder / "merges.txt"
        with atomic_write(vocab_path) as f:
            json.dump(self.encoder, f, ensure_ascii=False)
        with atomic_write(merges_path) as f:
            f.write("#version: 0.2\n")
            for a, b in sorted(self.bpe_ranks, key=self.bpe_ranks.get):
                f.write(f"{a} {b}\n")
        return [vocab_path, merges_path]
