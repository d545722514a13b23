"""The framework-free indexed format: a flat token file plus an index, read by numpy memory map.

A dataset is a folder::

    index.idx      b"MFDATAIX", uint32 version (1), uint32 header length H, H bytes of JSON header
                   (space-padded to a multiple of 8), then int64 offsets[num_records + 1]
    tokens.bin     every record's tokens end to end, unpadded, in the header's dtype (uint16 or int32)
    loss_mask.bin  (only with labels from conversations) one uint8 per token: 1 where the label is the token

Record ``i`` is ``tokens[offsets[i]:offsets[i + 1]]``. Readers pad it to ``seq_length`` with
``pad_token_id`` (labels with ``ignore_token_id``); ``attention_mask`` is 1 on real tokens.
"""

import json
import os
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mf_config import jsonio
from mf_config.fileio import atomic_dir
from mf_data.errors import DataError

MAGIC = b"MFDATAIX"
VERSION = 1
INDEX, TOKENS, LOSS_MASK = "index.idx", "tokens.bin", "loss_mask.bin"
_MAX_HEADER = 1 << 20
_DTYPES = ("uint16", "int32")


def _count(x, low=0):
    return isinstance(x, int) and not isinstance(x, bool) and low <= x < 2**62


_HEADER_TYPES = {  # what readers use from the header, checked before use
    "num_records": _count, "num_tokens": _count, "seq_length": lambda x: _count(x, 1),
    "columns": lambda x: isinstance(x, list) and bool(x) and all(c in ("input_ids", "labels", "attention_mask")
                                                                 for c in x),
    "loss_mask": lambda x: isinstance(x, bool),
    "pad_token_id": lambda x: x is None or (isinstance(x, int) and not isinstance(x, bool) and -2**31 <= x < 2**31),
    "ignore_token_id": lambda x: isinstance(x, int) and not isinstance(x, bool) and -2**31 <= x < 2**31,
    "tokenizer": lambda x: x is None or isinstance(x, str),
    "tokenizer_overrides": lambda x: isinstance(x, list) and all(isinstance(o, str) for o in x),
}


def is_indexed(path):
    """True when ``path`` is an indexed dataset folder."""
    return (Path(path) / INDEX).is_file()


class IndexedWriter:
    """Writes an indexed dataset folder; it appears under its name only when :meth:`close` runs in ``with``."""

    def __init__(self, path: str | os.PathLike, header: Mapping[str, Any],
                 inputs: Sequence[str | os.PathLike] = ()) -> None:
        self.path = Path(path)
        self.header = dict(header)
        self.dtype = np.uint16 if self.header["vocab_size"] <= 65536 else np.int32
        self.header["dtype"] = np.dtype(self.dtype).name
        self._ctx = atomic_dir(self.path, inputs=inputs)
        self._dir = None
        self._offsets = [np.zeros(1, dtype=np.int64)]
        self._total = 0

    def __enter__(self):
        self._dir = self._ctx.__enter__()
        self._tokens = open(self._dir / TOKENS, "wb")
        self._mask = open(self._dir / LOSS_MASK, "wb") if self.header["loss_mask"] else None
        return self

    def add(self, lengths: np.ndarray, tokens: np.ndarray, mask: np.ndarray | None) -> None:
        """Append records given as lengths, tokens end to end and (with labels) the learned mask."""
        self._tokens.write(tokens.astype(self.dtype, copy=False).tobytes())
        if self._mask is not None:
            self._mask.write(mask.astype(np.uint8, copy=False).tobytes())
        self._offsets.append(self._total + np.cumsum(lengths, dtype=np.int64))
        self._total += int(lengths.sum())

    def __exit__(self, exc_type, exc, tb):
        self._tokens.close()
        if self._mask is not None:
            self._mask.close()
        if exc_type is None:
            offsets = np.concatenate(self._offsets)
            header = dict(self.header, num_records=len(offsets) - 1, num_tokens=self._total)
            blob = json.dumps(header, sort_keys=True).encode()
            blob += b" " * (-len(blob) % 8)
            with open(self._dir / INDEX, "wb") as f:
                f.write(MAGIC + struct.pack("<II", VERSION, len(blob)) + blob)
                f.write(offsets.astype("<i8").tobytes())
        return self._ctx.__exit__(exc_type, exc, tb)


def read_header(path):
    """``(header, offsets_position)`` of an indexed dataset's index file, with every bound checked."""
    index = Path(path) / INDEX
    with open(index, "rb") as f:
        head = f.read(16)
        if len(head) < 16 or head[:8] != MAGIC:
            raise DataError(f"not an mf-data index file (expected magic {MAGIC!r})", file=index)
        version, size = struct.unpack("<II", head[8:])
        if version != VERSION:
            raise DataError(f"index version {version}; this mf-data reads version {VERSION}", file=index)
        if size > _MAX_HEADER or size % 8:
            raise DataError(f"header length {size} is not a multiple of 8 up to {_MAX_HEADER}", file=index)
        header = jsonio.loads(f.read(size), index, error=DataError, max_depth=8)
    if not isinstance(header, dict):
        raise DataError("index header is not a JSON object", file=index)
    for key in ("dtype", "num_records", "num_tokens", "seq_length", "columns", "loss_mask"):
        if key not in header:
            raise DataError("index header lacks this key", file=index, key=key)
    if header["dtype"] not in _DTYPES:
        raise DataError(f"token dtype {header['dtype']!r}; expected one of {', '.join(_DTYPES)}", file=index)
    for key, ok in _HEADER_TYPES.items():
        if key in header and not ok(header[key]):
            raise DataError(f"{str(header[key])[:60]!r} is not valid here", file=index, key=key)
    return header, 16 + size


class IndexedDataset:
    """Random access to the records of an indexed dataset folder, by memory map (no MindSpore)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.header, pos = read_header(self.path)
        n, total = int(self.header["num_records"]), int(self.header["num_tokens"])
        index = self.path / INDEX
        if index.stat().st_size != pos + 8 * (n + 1):
            raise DataError(f"index size does not match {n} records", file=index)
        self.offsets = np.memmap(index, dtype="<i8", mode="r", offset=pos, shape=(n + 1,))
        if self.offsets[0] != 0 or self.offsets[-1] != total or (n and np.any(np.diff(self.offsets) < 0)):
            raise DataError("document offsets are not increasing from 0 to num_tokens", file=index)
        self.tokens = _map(self.path / TOKENS, self.header["dtype"], total)
        self.loss_mask = _map(self.path / LOSS_MASK, "uint8", total) if self.header["loss_mask"] else None
        self.seq_length = int(self.header["seq_length"])
        self.columns = list(self.header["columns"])
        if n and int(np.diff(self.offsets).max()) > self.seq_length:
            raise DataError(f"a record is longer than seq_length {self.seq_length}", file=index)

    def __len__(self):
        return len(self.offsets) - 1

    def lengths(self) -> np.ndarray:
        """Record lengths before padding."""
        return np.diff(self.offsets)

    def document(self, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        """``(tokens, learned_mask or None)`` of record ``i``, unpadded."""
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.tokens[a:b], None if self.loss_mask is None else self.loss_mask[a:b]

    def __getitem__(self, i):
        """Record ``i`` as int32 columns padded to ``seq_length``."""
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        tokens, mask = self.document(i % len(self))
        return pad_record(tokens, mask, self.seq_length, self.header, self.columns)


def pad_record(tokens, mask, length, header, columns):
    """The int32 columns of one record: ``input_ids``, ``labels``, ``attention_mask`` as asked."""
    n = len(tokens)
    pad = header.get("pad_token_id")
    out = {}
    if "input_ids" in columns:
        ids = np.full(length, 0 if pad is None else pad, dtype=np.int32)
        ids[:n] = tokens
        out["input_ids"] = ids
    if "labels" in columns:
        labels = np.full(length, header.get("ignore_token_id", -100), dtype=np.int32)
        labels[:n] = tokens if mask is None else np.where(mask.astype(bool), tokens, labels[:n])
        out["labels"] = labels
    if "attention_mask" in columns:
        att = np.zeros(length, dtype=np.int32)
        att[:n] = 1
        out["attention_mask"] = att
    return out


def _map(path, dtype, count):
    itemsize = np.dtype(dtype).itemsize
    size = path.stat().st_size
    if size != count * itemsize:
        raise DataError(f"size {size} bytes; the index says {count} tokens of {dtype}", file=path)
    if count == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", shape=(count,))
