"""The MindRecord writer: byte for byte what MindSpore's public FileWriter writes, run in a child process."""

import filecmp
import types

import numpy as np
import pytest

from mf_data.child_writer import ChildWriter
from mf_data.errors import DataError
from mf_data.mindrecord import _raw_writer, record_blobs

from .helpers import preprocess, read_indexed, read_mindrecord, same_rows


@pytest.mark.parametrize("kind, columns", [("alpaca", "input_ids,labels,attention_mask"), ("wiki", "input_ids")])
def test_equals_public_filewriter(tmp_path, kind, columns, alpaca_small, wiki_small, sp_model):
    """Records written through FileWriter.write_raw_data (dicts of arrays, validated by MindSpore's Python layer)
    give the same bytes, files and index as mf-data's writer, which skips that layer after the first chunk."""
    from mindspore.mindrecord import FileWriter

    src = alpaca_small if kind == "alpaca" else wiki_small
    common = ["--dataset_type", kind, "--input_glob", src, "--tokenizer", sp_model, "--seq_length", 128,
              "--data_columns", columns]
    preprocess(*common, "--format", "mindrecord", "--output_file", tmp_path / "ours" / "d.mindrecord")
    preprocess(*common, "--format", "indexed", "--output_file", tmp_path / "indexed")
    rows = read_indexed(tmp_path / "indexed")
    assert len(rows) > 300  # more than one chunk
    names = columns.split(",")
    (tmp_path / "public").mkdir()
    writer = FileWriter(str(tmp_path / "public" / "d.mindrecord"))
    writer.add_schema({c: {"type": "int32", "shape": [-1]} for c in names}, kind)
    for start in range(0, len(rows), 100):
        writer.write_raw_data([{c: r[c] for c in names} for r in rows[start:start + 100]])
    writer.commit()
    for name in ("d.mindrecord", "d.mindrecord.db"):
        assert filecmp.cmp(tmp_path / "ours" / name, tmp_path / "public" / name, shallow=False), name
    assert same_rows(read_mindrecord(tmp_path / "ours" / "d.mindrecord", names), rows)


def test_record_blobs_layout():
    """One field: its int32 bytes; several: each preceded by its byte count, 8 bytes big-endian."""
    cols = {"a": np.array([[1, -2], [3, 4]], dtype=np.int32), "b": np.array([[5, 6], [7, -100]], dtype=np.int32)}
    assert record_blobs(cols, ["a"]) == [np.int32([1, -2]).tobytes(), np.int32([3, 4]).tobytes()]
    count = (8).to_bytes(8, "big")
    assert record_blobs(cols, ["b", "a"])[1] == \
        count + np.int32([7, -100]).tobytes() + count + np.int32([3, 4]).tobytes()


def test_unexpected_filewriter_internals_are_an_error():
    row = {"a": np.arange(3, dtype=np.int32)}
    with pytest.raises(DataError, match=r"no C\+\+ ShardWriter .* needs mindspore==2.10.0"):
        _raw_writer(types.SimpleNamespace(), row)

    def shard(merge):
        header = types.SimpleNamespace(blob_fields=["a"])
        return types.SimpleNamespace(_writer=types.SimpleNamespace(_merge_blob=merge, get_shard_header=lambda: header,
                                                                   _writer=types.SimpleNamespace(write_raw_data=None)))

    assert _raw_writer(shard(lambda blobs: bytes(blobs["a"])), row)[1] == ["a"]
    with pytest.raises(DataError, match="lays out MindRecord blobs differently"):
        _raw_writer(shard(lambda blobs: b"\0" + bytes(blobs["a"])), row)


class _Recorder:
    """A writer for ChildWriter that records, in a file, what it was given and how it ended."""

    def __init__(self, log, fail_at=None, error=DataError):
        self.log, self.fail_at, self.error = log, fail_at, error

    def __enter__(self):
        self.chunks = []
        return self

    def add(self, value, array):
        if value == self.fail_at:
            raise self.error(f"chunk {value} is bad")
        self.chunks.append((value, array.tolist()))

    def __exit__(self, exc_type, exc, tb):
        self.log.write_text(repr((exc_type.__name__ if exc_type else "committed", self.chunks)))


def test_child_writer_receives_chunks_in_order(tmp_path):
    log = tmp_path / "log"
    with ChildWriter(_Recorder, log, max_chunks=2) as writer:
        for i in range(50):
            writer.add(i, np.arange(i))
    assert eval(log.read_text()) == ("committed", [(i, list(range(i))) for i in range(50)])


@pytest.mark.parametrize("error, raised, message", [(DataError, DataError, "^chunk 7 is bad$"),
                                                    (ZeroDivisionError, RuntimeError, "(?s)writer process failed.*"
                                                     "ZeroDivisionError: chunk 7 is bad")])
def test_child_writer_errors_reach_the_parent(tmp_path, error, raised, message):
    log = tmp_path / "log"
    with pytest.raises(raised, match=message), ChildWriter(_Recorder, log, 7, error, max_chunks=2) as writer:
        for i in range(50):
            writer.add(i, np.arange(3))
    assert eval(log.read_text()) == (error.__name__, [(i, [0, 1, 2]) for i in range(7)])


def test_parent_failure_aborts_the_child(tmp_path):
    log = tmp_path / "log"
    with pytest.raises(KeyError), ChildWriter(_Recorder, log) as writer:
        writer.add(0, np.arange(3))
        raise KeyError("parent")
    state, chunks = eval(log.read_text())
    assert state in ("_Aborted", "EOFError") and chunks in ([], [(0, [0, 1, 2])])
