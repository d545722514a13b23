"""Readers of vocabulary files that fail with the file, the line and what was expected."""

import base64
import binascii
from pathlib import Path

from mf_config import jsonio
from mf_tokenizers.errors import TokenizerError
from mf_tokenizers.file_checks import check_byte_alphabet, check_ids, check_sentencepiece_model, check_tokenizer_json

MAX_TOKEN_FILE_BYTES = 1 << 30


def existing_file(path, expected):
    """``path`` as a Path; a clear error when it is missing or a folder."""
    if path is None:
        raise TokenizerError(f"no vocabulary file given; expected {expected}")
    path = Path(path)
    if not path.exists():
        raise TokenizerError(f"no such file; expected {expected}", file=path)
    if not path.is_file():
        raise TokenizerError(f"not a file; expected {expected}", file=path)
    if path.stat().st_size > MAX_TOKEN_FILE_BYTES:
        raise TokenizerError(f"file is larger than {MAX_TOKEN_FILE_BYTES} bytes; expected {expected}", file=path)
    return path


def is_tiktoken_file(path):
    """True when ``path`` starts like a tiktoken ranks file (``base64 rank`` lines)."""
    with open(path, "rb") as f:
        head = f.read(256).split(b"\n", 1)[0]
    parts = head.split(b" ")
    return len(parts) == 2 and parts[1].isdigit() and _is_b64(parts[0])


def _is_b64(data):
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def read_tiktoken_ranks(path):
    """``{token bytes: rank}`` of a tiktoken file; ranks must run 0..n-1 without gaps."""
    expected = "a tiktoken ranks file (lines 'base64-token rank', ranks 0..n-1)"
    path = existing_file(path, expected)
    ranks = {}
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or not parts[1].isdigit() or not _is_b64(parts[0]):
                raise TokenizerError(f"expected 'base64-token rank', got {line[:60]!r}; not {expected} "
                                     "(wrong format or truncated)", file=path, line=lineno)
            token, rank = base64.b64decode(parts[0]), int(parts[1])
            if rank != len(ranks) or token in ranks:
                raise TokenizerError(f"rank {rank} out of order or repeated (expected {len(ranks)})",
                                     file=path, line=lineno)
            ranks[token] = rank
    if not ranks:
        raise TokenizerError(f"empty file; expected {expected}", file=path)
    return ranks


def write_tiktoken_ranks(ranks, f):
    """Write ``{token bytes: rank}`` to a binary file object in tiktoken's format."""
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        f.write(base64.b64encode(token) + b" " + str(rank).encode() + b"\n")


def read_vocab_json(path, byte_level=True):
    """``{token: id}`` of a Hugging Face ``vocab.json``: ids unique and 0..n-1; with ``byte_level`` (GPT-2's
    byte-level BPE) the characters of all 256 bytes present, without which some text cannot be encoded."""
    expected = "a vocab.json file (a JSON object of token -> id)"
    path = existing_file(path, expected)
    try:
        vocab = jsonio.load(path, error=TokenizerError, max_depth=2, unique_keys=True)
    except TokenizerError as e:
        raise TokenizerError(f"{e.message}; expected {expected} (wrong format or truncated)", file=path,
                             line=e.line, key=e.key) from None
    if not isinstance(vocab, dict):
        raise TokenizerError(f"expected {expected}", file=path)
    check_ids(vocab, path)
    if byte_level:
        check_byte_alphabet(vocab, path)
    return vocab


def read_merges(path, vocab):
    """``[(left, right), ...]`` of a ``merges.txt``; both parts and their join must be in ``vocab``."""
    expected = "a merges.txt file (lines 'left right', an optional '#version' first line)"
    path = existing_file(path, expected)
    merges = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                raise TokenizerError(f"invalid UTF-8 at byte {e.start}; expected {expected}", file=path,
                                     line=lineno) from None
            if lineno == 1 and line.startswith("#version") or not line:
                continue
            parts = line.split(" ")
            if len(parts) != 2 or any(p not in vocab for p in parts) or parts[0] + parts[1] not in vocab:
                raise TokenizerError(f"expected two vocab.json tokens that join to a third, got {line[:60]!r} "
                                     "(wrong format, truncated, or a different vocab.json)", file=path, line=lineno)
            merges.append((parts[0], parts[1]))
    made = {a + b for a, b in merges}
    orphans = sum(1 for token in vocab if len(token) > 1 and token not in made)
    if orphans > 10 + len(vocab) // 100:  # a few added or special tokens are normal
        raise TokenizerError(f"{len(merges)} merges make none of {orphans} multi-character tokens of vocab.json; "
                             "expected a merge for each (merges.txt truncated, or from another vocab.json)", file=path)
    return merges


def load_sentencepiece(path):
    """A ``sentencepiece.SentencePieceProcessor`` of a model file, or a clear error."""
    import sentencepiece

    expected = "a SentencePiece model (tokenizer.model)"
    path = existing_file(path, expected)
    hint = " (this is a tiktoken ranks file: use Llama3Tokenizer)" if is_tiktoken_file(path) else ""
    data = path.read_bytes()
    try:
        check_sentencepiece_model(data, path)
    except TokenizerError as e:
        raise TokenizerError(e.message + hint, file=path) from None
    try:
        return sentencepiece.SentencePieceProcessor(model_proto=data)
    except (RuntimeError, OSError) as e:
        raise TokenizerError(f"not {expected}: wrong format or truncated{hint} ({str(e).strip()[:80]})",
                             file=path) from None


def load_tokenizer_json(path):
    """A ``tokenizers.Tokenizer`` of a ``tokenizer.json``, or a clear error."""
    import tokenizers

    expected = "a Hugging Face tokenizer.json"
    path = existing_file(path, expected)
    try:
        data = jsonio.load(path, error=TokenizerError, max_depth=32)
    except TokenizerError as e:
        raise TokenizerError(f"not {expected}: wrong format or truncated ({e.message})", file=path,
                             line=e.line) from None
    check_tokenizer_json(data, path)
    try:
        return tokenizers.Tokenizer.from_file(str(path))
    except Exception as e:  # tokenizers raises a bare Exception for every parse error
        raise TokenizerError(f"not {expected}: wrong format or truncated ({str(e).strip()[:120]})",
                             file=path) from None
