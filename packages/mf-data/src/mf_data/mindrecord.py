"""MindRecord output through ``mindspore.mindrecord.FileWriter`` (imports mindspore lazily).

Schema as MindFormers writes it: each column an int32 array of shape ``[-1]``, every record padded to
the record length. With ``num_splits`` > 1 the shards are ``OUT0 .. OUT{n-1}`` (each with its ``.db``).
All files are written in a temporary folder beside ``OUT`` and moved into place only on success.
"""

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from mf_data.errors import DataError


def _filewriter():
    try:
        from mindspore.mindrecord import FileWriter
    except ImportError:
        raise DataError("MindRecord output needs MindSpore: pip install 'mf-data[mindspore]' "
                        "(or use --format indexed, which needs no MindSpore)") from None
    return FileWriter


def padded_columns(lengths, tokens, mask, length, header, columns):
    """``{column: int32 array (records, length)}`` of a chunk, padded as the indexed reader pads."""
    n = len(lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    pos = np.arange(length)
    real = pos[None, :] < lengths[:, None]
    gather = np.where(real, starts[:, None] + pos[None, :], 0)
    tok = tokens[gather] if len(tokens) else np.zeros((n, length), np.int32)
    out = {}
    pad = header.get("pad_token_id")
    if "input_ids" in columns:
        out["input_ids"] = np.where(real, tok, 0 if pad is None else pad).astype(np.int32)
    if "labels" in columns:
        learned = real if mask is None else real & (mask[gather] == 1)
        out["labels"] = np.where(learned, tok, header["ignore_token_id"]).astype(np.int32)
    if "attention_mask" in columns:
        out["attention_mask"] = real.astype(np.int32)
    return out


class MindRecordWriter:
    """Writes ``path`` (or its shards) with FileWriter; nothing appears under the final names on failure."""

    def __init__(self, path, header, num_splits=1):
        self.path = Path(path)
        self.header = header
        self.num_splits = num_splits
        self.columns = list(header["columns"])
        self.length = int(header["seq_length"])

    def __enter__(self):
        file_writer = _filewriter()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent))
        self._writer = file_writer(str(self._tmp / self.path.name), shard_num=self.num_splits, overwrite=True)
        schema = {c: {"type": "int32", "shape": [-1]} for c in self.columns}
        self._writer.add_schema(schema, self.header.get("dataset_type", "lm"))
        return self

    def add(self, lengths, tokens, mask):
        """Append a chunk of records (lengths, tokens end to end, learned mask or None)."""
        if not len(lengths):
            return
        cols = padded_columns(lengths, tokens, mask, self.length, self.header, self.columns)
        self._writer.write_raw_data([{c: cols[c][i] for c in self.columns} for i in range(len(lengths))])

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self._writer.commit()
                for name in sorted(os.listdir(self._tmp), key=lambda n: n.endswith(".db")):
                    os.replace(self._tmp / name, self.path.parent / name)
        finally:
            with contextlib.suppress(Exception):
                if exc_type is not None:
                    self._writer.commit()
            shutil.rmtree(self._tmp, ignore_errors=True)
        return False


def mindrecord_files(path):
    """The MindRecord files of ``path``: a file (its shards are found by MindSpore) or a folder of them."""
    path = Path(path)
    if path.is_dir():
        files = sorted(str(p) for p in path.rglob("*") if p.is_file() and _is_mindrecord(p.name))
        if not files:
            raise DataError("no MindRecord file (*.mindrecord, *.mindrecordN) in this folder", file=path)
        return files
    if not path.is_file():
        raise DataError("no such file or folder", file=path)
    return [str(path)]


def _is_mindrecord(name):
    return re.search(r"mindrecord\d*$", name) is not None
