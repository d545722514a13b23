"""``BytePairBackend``: byte-level BPE from ``vocab.json`` + ``merges.txt`` in plain Python (GPT-2's), the
readable reference (the ``tokenizers`` backend is the fast one)."""

import heapq
import json
from pathlib import Path

from mf_config.fileio import atomic_write
from mf_tokenizers.backends.added import AddedTokens
from mf_tokenizers.byte_level import GPT2_PATTERN, bytes_to_unicode, unicode_to_bytes
from mf_tokenizers.errors import TokenizerError

CACHE_LIMIT = 100_000


class BytePairBackend:
    """The text is split by ``pattern``, each piece written in the byte-level alphabet and merged pair by pair,
    lowest merge rank first. With ``ignore_merges`` a piece that is in the vocabulary whole is one token, as
    tiktoken does. Pieces already seen are cached (``cache``, emptied when it reaches CACHE_LIMIT)."""

    saves_added_tokens = False

    def __init__(self, encoder: dict[str, int], merges: list[tuple[str, str]], ignore_merges: bool = False,
                 pattern: str = GPT2_PATTERN):
        import regex

        self.encoder = encoder
        self.decoder = {i: t for t, i in encoder.items()}
        self.bpe_ranks = {pair: i for i, pair in enumerate(merges)}
        self.ignore_merges = bool(ignore_merges)
        self.pattern = regex.compile(pattern)
        self.num_threads = 1
        self.errors = "replace"
        self.cache: dict[str, list[int]] = {}
        self.added = AddedTokens(len(encoder))

    def __getstate__(self):
        return {**self.__dict__, "cache": {}}

    def vocab_size(self) -> int:
        return len(self.encoder)

    def __len__(self) -> int:
        return len(self.encoder) + len(self.added)

    def token_to_id(self, token: str) -> int | None:
        idx = self.added.ids.get(token)
        return self.encoder.get(token) if idx is None else idx

    def id_to_token(self, idx: int) -> str:
        token = self.added.tokens.get(idx)
        return self.decoder[idx] if token is None else token

    def get_vocab(self) -> dict[str, int]:
        return {**self.encoder, **self.added.ids}

    def added_vocab(self) -> dict[str, int]:
        return dict(self.added.ids)

    def add_tokens(self, tokens: list[str], special: bool) -> None:
        self.added.add(tokens, special, self.encoder.get)

    def bpe(self, piece: str) -> list[str]:
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

    def encode_piece(self, text: str, at_start: bool = True) -> list[int]:
        """The ids of a text without added tokens."""
        table, ids, cache = bytes_to_unicode(), [], self.cache
        for piece in self.pattern.findall(text):
            cached = cache.get(piece)
            if cached is None:
                word = "".join(table[b] for b in piece.encode("utf-8"))
                cached = [self.encoder[t] for t in self.bpe(word)]
                if len(cache) >= CACHE_LIMIT:
                    cache.clear()
                cache[piece] = cached
            ids += cached
        return ids

    def encode(self, texts: list[str], pre: list[int], post: list[int], split_special_tokens: bool) -> list[list[int]]:
        out = [self.encode_piece(t) for t in texts]
        if pre or post:
            out = [pre + x + post for x in out]
        return self.added.encode_found(texts, out, pre, post, split_special_tokens, self.encode_piece)

    def _decode_run(self, ids, first):
        table = unicode_to_bytes()
        data = bytes(table[c] for i in ids for c in self.decoder[i])
        try:
            return data.decode("utf-8", errors=self.errors)
        except UnicodeDecodeError as e:
            raise TokenizerError(f"the ids do not decode to UTF-8 ({e.reason}); use errors='replace'") from None

    def decode(self, sequences: list[list[int]], skip_special_tokens: bool) -> list[str]:
        return [self.added.decode(ids, skip_special_tokens, self._decode_run) for ids in sequences]

    def template(self) -> None:
        return None

    def save(self, folder: Path) -> list[Path]:
        vocab_path, merges_path = Path(folder) / "vocab.json", Path(folder) / "merges.txt"
        with atomic_write(vocab_path) as f:
            json.dump(self.encoder, f, ensure_ascii=False)
        with atomic_write(merges_path) as f:
            f.write("#version: 0.2\n")
            for a, b in sorted(self.bpe_ranks, key=self.bpe_ranks.get):
                f.write(f"{a} {b}\n")
        return [vocab_path, merges_path]
