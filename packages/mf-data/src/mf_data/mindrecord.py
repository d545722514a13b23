"""MindRecord output through ``mindspore.mindrecord.FileWriter`` (imports mindspore lazily).

Schema as MindFormers writes it: each column an int32 array of shape ``[-1]``, every record padded to
the record length. With ``num_splits`` > 1 the shards are ``OUT0 .. OUT{n-1}`` (each with its ``.db``).
All files are written in a temporary folder beside ``OUT`` and published together, as one unit with a commit
marker (``mf_config.fileio.atomic_files``), only on success: a kill never pairs data with another run's ``.db``,
and readers refuse files the marker does not describe.

FileWriter creates the files, writes the first record (checking it against the schema), commits and builds
the ``.db`` index. The other records skip its Python per-record layer (which re-reads the schema from C++ as JSON
five times a record): each record's blob is laid out for a whole chunk at once with numpy, exactly as
MindSpore's ``ShardWriter._merge_blob`` lays it out (checked on the first record), and handed to the same C++
``ShardWriter.write_raw_data`` that FileWriter calls. This relies on FileWriter's internals of the pinned
MindSpore (2.10): if they are not there, the writer stops with an error saying so.
"""

import importlib.util
import re
import sys
import warnings
from pathlib import Path

import numpy as np

from mf_config.fileio import atomic_files, check_committed
from mf_data.errors import DataError

_NO_MINDSPORE = ("MindRecord output needs MindSpore: pip install 'mf-data[mindspore]' "
                 "(or use --format indexed, which needs no MindSpore)")


def require_mindspore():
    """A clear error, before any work, where MindSpore is not installed (without importing it)."""
    if importlib.util.find_spec("mindspore") is None:
        raise DataError(_NO_MINDSPORE)


def _filewriter():
    try:
        from mindspore.mindrecord import FileWriter
    except ImportError:
        raise DataError(_NO_MINDSPORE) from None
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


def record_blobs(cols, fields):
    """Each record's blob (bytes) as ``ShardWriter._merge_blob`` makes it from int32 arrays: one field: its
    bytes; several: per field (in ``fields`` order) an 8-byte big-endian byte count, then its bytes."""
    arrays = [np.ascontiguousarray(cols[f], dtype=np.int32) for f in fields]
    n, length = arrays[0].shape
    if len(arrays) > 1:
        count = np.array([length * 4], dtype=">u8").view(np.int32)  # 8 bytes as two int32 words
        arrays = [part for a in arrays for part in (np.broadcast_to(count, (n, 2)), a)]
    rows = np.concatenate(arrays, axis=1) if len(arrays) > 1 else arrays[0]
    buf, size = rows.tobytes(), rows.shape[1] * 4
    return [buf[i:i + size] for i in range(0, n * size, size)]


def _raw_writer(file_writer, row):
    """``(C++ ShardWriter, blob field order)`` of a FileWriter whose Python layer has written ``row`` (which
    opened the files); an error if FileWriter is not built as in MindSpore 2.10 or lays blobs out otherwise."""
    import mindspore

    shard = getattr(file_writer, "_writer", None)
    raw = getattr(shard, "_writer", None)
    if not (hasattr(raw, "write_raw_data") and hasattr(shard, "_merge_blob") and hasattr(shard, "get_shard_header")):
        raise DataError(f"MindSpore {mindspore.__version__}: FileWriter has no C++ ShardWriter where mf-data "
                        "expects it (FileWriter._writer._writer); mf-data's MindRecord writer needs mindspore==2.10.0")
    fields = list(shard.get_shard_header().blob_fields)
    if shard._merge_blob({f: row[f] for f in fields}) != record_blobs({f: row[f][None] for f in fields}, fields)[0]:
        raise DataError(f"MindSpore {mindspore.__version__} lays out MindRecord blobs differently from "
                        "mf-data's record_blobs; mf-data's MindRecord writer needs mindspore==2.10.0")
    return raw, fields


class MindRecordWriter:
    """Writes ``path`` (or its shards) with FileWriter; nothing appears under the final names on failure."""

    def __init__(self, path, header, num_splits=1, inputs=()):
        self.path = Path(path)
        self.inputs = tuple(inputs)
        self.header = header
        self.num_splits = num_splits
        self.columns = list(header["columns"])
        self.length = int(header["seq_length"])

    def __enter__(self):
        file_writer = _filewriter()
        self._publish = atomic_files(self.path, inputs=self.inputs)
        self._stage = self._publish.__enter__()
        try:
            self._writer = file_writer(str(self._stage / self.path.name), shard_num=self.num_splits, overwrite=True)
            schema = {c: {"type": "int32", "shape": [-1]} for c in self.columns}
            self._writer.add_schema(schema, self.header.get("dataset_type", "lm"))
        except BaseException:
            self._publish.__exit__(*sys.exc_info())
            raise
        self._raw = None
        return self

    def add(self, lengths, tokens, mask):
        """Append a chunk of records (lengths, tokens end to end, learned mask or None)."""
        if not len(lengths):
            return
        cols = padded_columns(lengths, tokens, mask, self.length, self.header, self.columns)
        if self._raw is None:  # FileWriter opens the files, checks the first record against the schema, writes it
            first = {c: cols[c][0] for c in self.columns}
            self._writer.write_raw_data([first])
            self._raw, self._fields = _raw_writer(self._writer, first)
            cols = {c: a[1:] for c, a in cols.items()}
            if len(lengths) == 1:
                return
        import mindspore._c_mindrecord as ms

        if self._raw.write_raw_data({}, record_blobs(cols, self._fields), True, False) != ms.MSRStatus.SUCCESS:
            raise DataError("MindSpore's ShardWriter failed to write records", file=self.path)

    def __exit__(self, exc_type, exc, tb):
        """Close the files (FileWriter.commit builds the .db index), then publish them as one unit, or not at all."""
        failed = exc
        try:
            self._writer.commit()
        except BaseException as e:
            failed = failed or e
        if failed is None:
            self._publish.__exit__(None, None, None)
            return False
        self._publish.__exit__(type(failed), failed, failed.__traceback__)  # cleans up; may raise NoSpaceError
        if exc is None:
            raise failed
        return False


def mindrecord_files(path):
    """The MindRecord files of ``path``: a file (its shards are found by MindSpore) or a folder of them, each
    checked against its commit marker when mf wrote it (another run's ``.db`` beside the data is refused); files
    under hidden names (a writer's temporaries) are left out, with a warning."""
    path = Path(path)
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and _is_mindrecord(p.name))
        hidden = [p for p in found if any(part.startswith(".") for part in p.relative_to(path).parts)]
        if hidden:
            warnings.warn(f"{path}: ignored {len(hidden)} uncommitted file(s) under hidden names, such as "
                          f"{hidden[0].relative_to(path)} (an interrupted or running writer's)", stacklevel=2)
        files = [p for p in found if p not in hidden]
        if not files:
            raise DataError("no MindRecord file (*.mindrecord, *.mindrecordN) in this folder", file=path)
    elif path.is_file():
        files = [path]
    else:
        raise DataError("no such file or folder", file=path)
    for file in files:
        check_committed(file)
    return [str(f) for f in files]


def _is_mindrecord(name):
    return re.search(r"mindrecord\d*$", name) is not None
