"""Hostile checkpoint files: the safetensors reader refuses whatever the ``safetensors`` library refuses (fuzzed
against it), manifests and indexes are checked field by field, and every case ends in a result or one line
naming the file and tensor (CheckpointError), never another exception or a hang."""

import json
import struct

import numpy as np
import pytest
import safetensors
import safetensors.numpy
from hypothesis import given
from hypothesis import strategies as st

from mf_ckpt.errors import CheckpointError
from mf_ckpt.inspection import info
from mf_ckpt.manifest import verify
from mf_ckpt.safetensors_io import SafetensorsFile
from mf_config.errors import MFError
from mf_config.reliability import fuzz_settings, hang_guard, tally

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32, "I8": np.int8,
          "U8": np.uint8, "BOOL": np.bool_}


def pack(header, data, raw=None):
    text = raw if raw is not None else json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def good_file(tensors):
    return safetensors.numpy.save({name: np.asarray(a) for name, a in tensors.items()})


def split(raw):
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def ours(path):
    """The tensors our reader gives (raw bytes), or the CheckpointError message."""
    try:
        f = SafetensorsFile(path)
    except CheckpointError as e:
        assert "\n" not in str(e)
        return None
    try:
        return {n: (i.dtype, i.shape, f.get(n).tobytes()) for n, i in f.tensors.items()}, f.metadata
    finally:
        f.close()


def theirs(path):
    try:
        with safetensors.safe_open(str(path), "numpy") as f:
            return {n: f.get_tensor(n).tobytes() for n in f.keys()}, f.metadata() or {}
    except Exception:  # noqa: BLE001 - the library's refusal, whatever its type
        return None


def has_duplicate_keys(raw):
    (n,) = struct.unpack("<Q", raw[:8])
    dup = []

    def hook(pairs):
        keys = [k for k, _ in pairs]
        dup.extend(k for k in keys if keys.count(k) > 1)
        return dict(pairs)

    try:
        json.loads(raw[8:8 + n], object_pairs_hook=hook)
    except ValueError:
        return False
    return bool(dup)


BASE = {"model.layers.0.attention.wq.weight": np.arange(12, dtype=np.float32).reshape(3, 4),
        "model.layers.0.attention.wo.weight": np.ones((2, 2), np.float16), "ids": np.arange(3, dtype=np.int64)}


@pytest.mark.parametrize("edit, message", [
    (lambda h: h["model.layers.0.attention.wo.weight"].update(
        dtype="F32", shape=[3, 4], data_offsets=list(h["model.layers.0.attention.wq.weight"]["data_offsets"])),
     "overlaps the tensor before it"),
    (lambda h: h.update(__metadata__={"step": 3}), "__metadata__: __metadata__ is not an object of strings"),
    (lambda h: h.pop(max(h, key=lambda n: h[n]["data_offsets"][1])), "bytes after the last tensor's data"),
    (lambda h: h["ids"].update(shape=[True, 3]), "is not a list of non-negative integers"),
])
def test_header_checks_match_the_library(tmp_path, edit, message):
    header, data = split(good_file(BASE))
    edit(header)
    path = tmp_path / "bad.safetensors"
    path.write_bytes(pack(header, data))
    with pytest.raises(CheckpointError, match=message):
        SafetensorsFile(path)
    assert theirs(path) is None


def test_an_aliased_o_proj_is_refused_by_convert(tmp_path, hf, cli):
    import shutil

    folder = tmp_path / "hf"
    shutil.copytree(hf["llama_gqa"][0], folder)
    raw = (folder / "model.safetensors").read_bytes()
    header, data = split(raw)
    names = [n for n in header if n.endswith("o_proj.weight")]
    q = header[names[0].replace("o_proj", "q_proj")]
    header[names[0]] = dict(q)  # o_proj's bytes are q_proj's
    (folder / "model.safetensors").write_bytes(pack(header, data))
    result = cli("convert", "--input_path", folder, "--output_path", tmp_path / "out")
    assert result.exit_code == 2 and "model.safetensors: model.layers.0.self_attn" in result.output
    assert not (tmp_path / "out").exists()


def test_surrogate_tensor_names_and_deep_headers(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(pack(None, b"\0" * 4, raw=b'{"\\udc80": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'))
    with pytest.raises(CheckpointError, match="lone surrogate"):
        SafetensorsFile(path)
    path.write_bytes(pack(None, b"", raw=b'{"a": ' + b"[" * 3000 + b"]" * 3000 + b"}"))
    with pytest.raises(CheckpointError, match="nested deeper"):
        SafetensorsFile(path)


names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=6)
tensors = st.dictionaries(names, st.tuples(st.sampled_from(sorted(DTYPES)),
                                           st.lists(st.integers(0, 3), max_size=3)), min_size=1, max_size=4)


@st.composite
def mutated(draw):
    spec = draw(tensors)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    arrays = {n: rng.integers(0, 2, size=shape).astype(DTYPES[d]) for n, (d, shape) in spec.items()}
    raw = good_file(arrays)
    header, data = split(raw)
    kind = draw(st.sampled_from(["header", "bytes", "length", "data"]))
    if kind == "header":
        name = draw(st.sampled_from(sorted(header)))
        field = draw(st.sampled_from(["dtype", "shape", "data_offsets", "metadata", "duplicate", "drop"]))
        value = draw(st.sampled_from([None, 0, -1, 1, 3, 2**64, 1.5, True, "F32", "BF16", "x", [], [0], [0, 0],
                                      [1, 0], [0, 4], [4, 8], [0, 2**70], {}, {"a": "b"}, {"a": 1}]))
        if field == "metadata":
            header["__metadata__"] = value
        elif field == "duplicate":
            text = json.dumps(header)
            return pack(None, data, raw=text[:-1].encode() + b", " + json.dumps({name: header[name]})[1:].encode())
        elif field == "drop":
            header.pop(name)
        else:
            header[name][field] = value
        return pack(header, data)
    raw = bytearray(raw)
    if kind == "bytes":
        for _ in range(draw(st.integers(1, 4))):
            pos = draw(st.integers(0, len(raw) - 1))
            raw[pos] = draw(st.integers(0, 255))
    elif kind == "length":
        raw[:8] = struct.pack("<Q", draw(st.sampled_from([0, 1, 7, 2**63, len(raw)]) | st.integers(0, len(raw))))
    else:
        cut = draw(st.integers(0, len(raw)))
        raw = raw[:cut] + draw(st.binary(max_size=16))
    return bytes(raw)


def test_fuzz_safetensors_against_the_library(tmp_path, budget):
    @fuzz_settings(budget)
    @given(mutated())
    def prop(raw):
        tally("fuzz")
        path = tmp_path / "f.safetensors"
        path.write_bytes(raw)
        with hang_guard(budget.timeout):
            mine, lib = ours(path), theirs(path)
            try:
                info(path)
            except MFError as e:
                assert "\n" not in str(e)
        if mine is not None:
            assert lib is not None, "we read a file the safetensors library refuses"
            assert {n: b for n, (_, _, b) in mine[0].items()} == lib[0] and mine[1] == lib[1]
        elif lib is not None:
            assert has_duplicate_keys(raw), "we refuse a file the safetensors library reads"

    prop()


# --- manifests ------------------------------------------------------------------------------------------------

@pytest.fixture
def folder(tmp_path, cli, state):
    import safetensors.torch

    (tmp_path / "in").mkdir()
    safetensors.torch.save_file(state, tmp_path / "in/model.safetensors")
    (tmp_path / "in/config.json").write_text("{}")
    assert cli("strip-optimizer", tmp_path / "in", tmp_path / "out").exit_code == 0
    return tmp_path / "out"


def sha256sum(folder, names):
    import hashlib

    return "".join(f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}\n" for n in names)


def test_verify_fails_empty_and_partial_manifests_and_counts_hidden_files(folder, cli):
    assert cli("verify", folder).exit_code == 0
    (folder / ".hidden").write_text("x")
    result = cli("verify", folder)
    assert result.exit_code == 2 and ".hidden: not in the manifest" in result.output
    (folder / ".hidden").unlink()
    manifest = json.loads((folder / "SHA256SUMS.json").read_text())
    (folder / "SHA256SUMS.json").write_text(json.dumps(dict(manifest, files={})))
    result = cli("verify", folder)
    assert result.exit_code == 2 and "names no file" in result.output
    (folder / "SHA256SUMS.json").unlink()
    (folder / "SHA256SUMS").write_text("")
    result = cli("verify", folder)
    assert result.exit_code == 2 and "SHA256SUMS: names no file" in result.output
    (folder / "SHA256SUMS").write_text(sha256sum(folder, ["config.json"]))
    result = cli("verify", folder)
    assert result.exit_code == 2 and "model.safetensors: not in the manifest" in result.output
    (folder / "SHA256SUMS").write_bytes(b"\xff\xfe" + sha256sum(folder, ["config.json"]).encode())
    result = cli("verify", folder)
    assert result.exit_code == 2 and "SHA256SUMS:1: not UTF-8" in result.output
    (folder / "SHA256SUMS").write_text(sha256sum(folder, ["config.json", "model.safetensors"]))
    result = cli("verify", folder)
    assert result.exit_code == 0 and "OK: 2 file(s)" in result.output


def test_a_non_utf8_index_is_one_line(tmp_path, cli):
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf/model.safetensors.index.json").write_bytes(b'{"weight_map": {"a": "x\xff"}}')
    result = cli("info", tmp_path / "hf")
    assert result.exit_code == 2 and "model.safetensors.index.json:1: not UTF-8" in result.output


def describes(manifest, folder):
    """The oracle: every file of the folder, with its size and the SHA-256 of each block, and nothing else."""
    import hashlib

    block, files = manifest["block_size"], manifest["files"]
    actual = {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "SHA256SUMS.json"}
    return set(files) == set(actual) and all(
        files[n]["size"] == len(data) and files[n]["sha256"] == [
            hashlib.sha256(data[i:i + block]).hexdigest() for i in range(0, max(len(data), 1), block)]
        for n, data in actual.items())


def test_fuzz_manifest_reader(folder, budget):
    good = (folder / "SHA256SUMS.json").read_bytes()
    text = good.decode()

    @fuzz_settings(budget)
    @given(st.one_of(
        st.builds(lambda pos, b: good[:pos] + bytes([b]) + good[pos + 1:], st.integers(0, len(good) - 1),
                  st.integers(0, 255)),
        st.builds(lambda cut, tail: good[:cut] + tail, st.integers(0, len(good)), st.binary(max_size=20)),
        st.builds(lambda old, new: text.replace(old, new, 1).encode(),
                  st.sampled_from(['"size": ', '"sha256": [', '"files": {', '"block_size": ', '"version": 1',
                                   '"model.safetensors"', '"config.json"']),
                  st.sampled_from(['"size": -1, "x": ', '"sha256": "', '"files": [', '"block_size": 1e99, "b": ',
                                   '"version": true', '"../model.safetensors"', '"\\ud800"', '"config.json", "a": {}',
                                   '"size": 99999999999999999999, "y": ']))))
    def prop(raw):
        tally("fuzz")
        (folder / "SHA256SUMS.json").write_bytes(raw)
        with hang_guard(budget.timeout):
            try:
                verify(folder)
            except MFError as e:
                assert "\n" not in str(e)
                return
        assert describes(json.loads(raw), folder), "a manifest that does not describe the files verified"

    prop()
