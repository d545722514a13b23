"""safetensors with numpy alone: a bounds-checked, memory-mapped reader and a streaming writer.

The reader maps the file and hands out one tensor at a time as a read-only view; ``release`` drops
its pages from this process again, so reading a whole model never keeps more than one tensor
resident. The writer takes the list of tensors (name, dtype, shape) up front, writes the header,
then each tensor's bytes as they come. numpy is imported only when a tensor's values are needed:
kernel copies of kept tensors do without.
"""

import json
import math
import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from mf_ckpt import dtypes
from mf_ckpt.dtypes import cast_into, cast_pieces, castable, itemsize, numpy_dtype, st_dtype
from mf_ckpt.errors import CheckpointError
from mf_config import jsonio

MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit on the JSON header
_PAGE = mmap.PAGESIZE


@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor lies: safetensors dtype name, shape, and its absolute byte range in ``file``."""

    dtype: str
    shape: tuple
    file: Path
    start: int
    end: int

    @property
    def nbytes(self):
        return self.end - self.start

    @property
    def numel(self):
        return math.prod(self.shape)


def read_header(path):
    """``(tensors, metadata)`` of a safetensors file, checked as strictly as the ``safetensors`` library checks it:
    the header is a JSON object (each key once), ``__metadata__`` maps strings to strings, each tensor's dtype,
    shape and byte count agree, and the tensors' data lie end to end from the first data byte to the file's end
    (no gap, no overlap, no alias, nothing after)."""
    path = Path(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 8:
            raise CheckpointError(f"truncated: {size} bytes, a safetensors file starts with an 8-byte header length",
                                  file=path)
        (n,) = struct.unpack("<Q", f.read(8))
        if n > MAX_HEADER:
            raise CheckpointError(f"header length {n} exceeds the {MAX_HEADER}-byte limit", file=path)
        if n > size - 8:
            raise CheckpointError(f"header length {n} is larger than the file ({size} bytes): truncated or not "
                                  "a safetensors file", file=path)
        raw = f.read(n)
    header = jsonio.loads(raw, path, error=CheckpointError, max_depth=4, unique_keys=True)
    if not isinstance(header, dict):
        raise CheckpointError("header is not a JSON object", file=path)
    metadata = _metadata(path, header.pop("__metadata__", None))
    base, data_len = 8 + n, size - 8 - n
    tensors = {name: _entry(path, name, entry, base, data_len) for name, entry in header.items()}
    ordered = sorted(tensors.items(), key=lambda item: (item[1].start, item[1].end))
    _check_contiguous(path, ordered, base, data_len)
    return dict(ordered), metadata


def _metadata(path, metadata):
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError("__metadata__ is not an object of strings (string -> string)", file=path,
                              key="__metadata__")
    return metadata


def _check_contiguous(path, ordered, base, data_len):
    """The byte ranges, in order, must tile the data: each begins where the one before ended."""
    expected = base
    for name, info in ordered:
        if info.start != expected:
            what = "overlaps the tensor before it" if info.start < expected else "leaves a gap before it"
            raise CheckpointError(f"data_offsets [{info.start - base}, {info.end - base}] {what} (expected it to "
                                  f"begin at {expected - base})", file=path, key=name)
        expected = info.end
    if expected != base + data_len:
        raise CheckpointError(f"{base + data_len - expected} bytes after the last tensor's data: the header does "
                              "not describe the whole file", file=path)


def _count(x):
    """A non-negative integer that fits the library's usize (and numpy's dimensions)."""
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2**63


def _entry(path, name, entry, base, data_len):
    if not isinstance(entry, dict):
        raise CheckpointError("header entry is not an object", file=path, key=name)
    size = itemsize(entry.get("dtype"), file=path, key=name)
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if not isinstance(shape, list) or not all(_count(d) for d in shape):
        raise CheckpointError(f"shape {shape!r} is not a list of non-negative integers", file=path, key=name)
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(_count(o) for o in offsets)
            or not offsets[0] <= offsets[1]):
        raise CheckpointError(f"data_offsets {offsets!r} is not [begin, end] with 0 <= begin <= end",
                              file=path, key=name)
    if offsets[1] > data_len:
        raise CheckpointError(f"truncated: tensor ends at data byte {offsets[1]} but the file holds {data_len} "
                              "data bytes", file=path, key=name)
    expected = math.prod(shape) * size
    if offsets[1] - offsets[0] != expected:
        raise CheckpointError(f"byte size {offsets[1] - offsets[0]} disagrees with shape {shape} of "
                              f"{entry['dtype']} ({expected} bytes)", file=path, key=name)
    return TensorInfo(entry["dtype"], tuple(shape), path, base + offsets[0], base + offsets[1])


class SafetensorsFile:
    """A memory-mapped safetensors file: ``tensors`` (name -> TensorInfo), ``get(name)``, ``release(name)``."""

    def __init__(self, path):
        self.path = Path(path)
        self.tensors, self.metadata = read_header(self.path)
        with open(self.path, "rb") as f:
            self._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)

    def get(self, name):
        """The tensor as a read-only numpy array backed by the file (no copy)."""
        import numpy as np

        info = self.tensors[name]
        array = np.frombuffer(self._mm, dtype=numpy_dtype(info.dtype), count=info.numel, offset=info.start)
        return array.reshape(info.shape)

    def release(self, name):
        """Drop the tensor's pages from this process (they stay in the page cache)."""
        info = self.tensors[name]
        start = info.start - info.start % _PAGE
        if info.end > start:
            self._mm.madvise(mmap.MADV_DONTNEED, start, info.end - start)

    def close(self):
        try:
            self._mm.close()
        except BufferError:  # a caller still holds a view; the map goes when it does
            pass


def header_bytes(entries, metadata=None):
    """The header for ``entries`` [(name, st_dtype, shape)], padded to 8 bytes; and the data length."""
    header, offset = {}, 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, dtype, shape in entries:
        nbytes = math.prod(shape) * itemsize(dtype)
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw, offset


class SafetensorsWriter:
    """Writes a safetensors file to the open binary file ``f`` tensor by tensor."""

    def __init__(self, f, entries, metadata=None):
        self._f = f
        self._entries = [(name, dtype, tuple(shape)) for name, dtype, shape in entries]
        self._next = 0
        head, self.data_bytes = header_bytes(self._entries, metadata)
        self._f.write(head)

    def write(self, name, parts, ranges=(), source_dtype=None, cast=False):
        """Write tensor ``name`` (the next one declared) from ``parts``: arrays whose C-order bytes,
        one after the other, are the tensor (one array, or the slices of a stacked tensor), or a callable
        that returns them. ``ranges`` ((file, start, end) holding exactly those values, in ``source_dtype``,
        by default the declared dtype) lets the kernel copy them, or this writer read and cast them a slice
        at a time, instead; ``parts`` is then only called if it cannot. ``cast``: floating-point parts of
        another dtype are cast to the declared one, a slice at a time (``dtypes.cast_pieces``)."""
        expected_name, dtype, shape = self._entries[self._next]
        if name != expected_name:
            raise ValueError(f"tensors out of order: got {name}, expected {expected_name}")
        nbytes = math.prod(shape) * itemsize(dtype)
        source_dtype = source_dtype or dtype

        def flats():
            return _flats(parts() if callable(parts) else parts, name, dtype, shape, cast)

        total = sum(e - s for _, s, e in ranges)
        if ranges and source_dtype == dtype and total == nbytes:
            self._copy(flats, ranges)
        elif ranges and total == math.prod(shape) * itemsize(source_dtype) and castable(source_dtype, dtype):
            self._cast(ranges, source_dtype, dtype)
        else:
            for flat in flats():
                self._f.write(flat)
        self._next += 1

    def _cast(self, ranges, source, target):
        """Read the byte ranges of ``source`` values a slice at a time, cast each and write it."""
        import numpy as np

        src = np.empty(max(1, dtypes.PIECE_BYTES // max(itemsize(source), itemsize(target))), numpy_dtype(source))
        out = np.empty(len(src), numpy_dtype(target))
        raw = memoryview(src.view(np.uint8))
        for file, begin, end in ranges:
            with open(file, "rb", buffering=0) as f:
                for pos in range(begin, end, len(raw)):
                    n = min(len(raw), end - pos)
                    if os.preadv(f.fileno(), [raw[:n]], pos) != n:
                        raise CheckpointError(f"truncated while reading bytes {pos}-{pos + n}", file=file)
                    k = n // src.itemsize
                    cast_into(src[:k], out[:k])
                    self._f.write(memoryview(out[:k].view(np.uint8)))

    def _copy(self, flats, ranges):
        """copy_file_range the byte ranges into the output; where the kernel cannot copy between these files, write
        ``flats()`` (the same bytes) instead."""
        self._f.flush()
        start = pos = self._f.tell()
        try:
            for file, begin, end in ranges:
                with open(file, "rb") as src:
                    done = 0
                    while done < end - begin:
                        n = os.copy_file_range(src.fileno(), self._f.fileno(), end - begin - done, begin + done,
                                               pos + done)
                        if n <= 0:
                            raise OSError("copy_file_range copied nothing")
                        done += n
                pos += done
            self._f.seek(pos)
        except (OSError, AttributeError):  # AttributeError: no copy_file_range on this system
            self._f.seek(start)
            for flat in flats():
                self._f.write(flat)


def _flats(parts, name, dtype, shape, cast):
    """Byte views of ``parts`` in C order, checked against the declared dtype and size: a contiguous part as it
    is, any other (strided, or to be cast) as slices of a few MB (never a whole copy of the tensor)."""
    import numpy as np

    parts = list(parts)
    for part in parts:
        have = st_dtype(part.dtype, key=name)
        if have != dtype and not (cast and castable(have, dtype)):
            raise CheckpointError(f"dtype {have} disagrees with the declared {dtype}", key=name)
    if sum(p.size for p in parts) != math.prod(shape):
        raise CheckpointError(f"data size disagrees with the declared shape {list(shape)}", key=name)
    for part in parts:
        if part.dtype == np.dtype(numpy_dtype(dtype)) and part.flags.c_contiguous:
            yield memoryview(part.reshape(-1).view(np.uint8))
        else:
            for piece in cast_pieces(part, dtype):
                yield memoryview(piece.view(np.uint8))
