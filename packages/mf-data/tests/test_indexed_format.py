"""The indexed format as the README documents it, read with plain numpy; corrupt files are reported."""

import json
import struct

import numpy as np
import pytest

from mf_data.errors import DataError
from mf_data.indexed import IndexedDataset

from .helpers import preprocess


@pytest.fixture(scope="module")
def alpaca_indexed(tmp_path_factory, alpaca_small, sp_model):
    out = tmp_path_factory.mktemp("idx") / "alpaca"
    preprocess("--dataset_type", "alpaca", "--input_glob", alpaca_small, "--tokenizer", sp_model, "--seq_length", 512,
               "--format", "indexed", "--output_file", out)
    return out


def read_as_documented(folder):
    """index.idx: magic, uint32 version, uint32 header length, JSON header, int64 offsets; tokens.bin flat."""
    raw = (folder / "index.idx").read_bytes()
    assert raw[:8] == b"MFDATAIX"
    version, size = struct.unpack("<II", raw[8:16])
    header = json.loads(raw[16:16 + size])
    offsets = np.frombuffer(raw[16 + size:], dtype="<i8")
    tokens = np.memmap(folder / "tokens.bin", dtype=header["dtype"], mode="r")
    mask = np.memmap(folder / "loss_mask.bin", dtype=np.uint8, mode="r") if header["loss_mask"] else None
    return version, header, offsets, tokens, mask


def test_layout_matches_readme(alpaca_indexed, sp, alpaca_records):
    version, header, offsets, tokens, mask = read_as_documented(alpaca_indexed)
    assert version == 1 and header["dtype"] == "uint16" and header["num_records"] == len(offsets) - 1
    assert offsets[0] == 0 and offsets[-1] == header["num_tokens"] == len(tokens) == len(mask)
    assert header["seq_length"] == 513 and header["pad_token_id"] == 0 and header["ignore_token_id"] == -100
    first = tokens[offsets[0]:offsets[1]].tolist()
    r = alpaca_records[0]
    assert r["instruction"] in sp.decode(first[1:-1])
    assert first[0] == 1 and first[-1] == 2 and sp.decode(first[1:-1]).endswith(r["output"])
    learned = np.asarray(tokens[offsets[0]:offsets[1]])[mask[offsets[0]:offsets[1]] == 1].tolist()
    assert learned == sp.encode(r["output"]) + [2]
    data = IndexedDataset(alpaca_indexed)
    assert len(data) == header["num_records"] and data[0]["input_ids"][:len(first)].tolist() == first


def _copy(src, dst):
    dst.mkdir()
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "index.idx").write_bytes(b"NOTINDEX" + (d / "index.idx").read_bytes()[8:]), "magic"),
    (lambda d: (d / "index.idx").write_bytes((d / "index.idx").read_bytes()[:8] + struct.pack("<II", 1, 1 << 30)),
     "header length"),
    (lambda d: (d / "tokens.bin").write_bytes((d / "tokens.bin").read_bytes()[:-2]), "the index says"),
    (lambda d: (d / "index.idx").write_bytes((d / "index.idx").read_bytes()[:-8]), "index size"),
])
def test_corrupt_files_reported(alpaca_indexed, tmp_path, damage, message):
    folder = _copy(alpaca_indexed, tmp_path / "copy")
    damage(folder)
    with pytest.raises(DataError, match=message):
        IndexedDataset(folder)
