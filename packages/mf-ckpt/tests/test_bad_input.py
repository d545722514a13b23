"""Bad files give one clear line naming the file (and tensor), exit code 2, and no output left behind."""

import json
import struct

import pytest
import safetensors.torch
import torch


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.safetensors"
    safetensors.torch.save_file({"a": torch.ones(4, 4), "b": torch.zeros(3)}, path)
    return path


def run_bad(cli, tmp_path, src, *expected):
    out = tmp_path / "out"
    result = cli("cast", src, out, "--dtype", "fp16")
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1
    for text in expected:
        assert text in result.output
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []
    return result.output


def test_truncated_file(tmp_path, cli, good):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(good.read_bytes()[:-10])
    run_bad(cli, tmp_path, bad, "bad.safetensors", "truncated", "b:")


def test_header_length_larger_than_file(tmp_path, cli, good):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(struct.pack("<Q", 10**9) + good.read_bytes()[8:])
    run_bad(cli, tmp_path, bad, "bad.safetensors", "header length 1000000000")


def test_size_disagrees_with_shape(tmp_path, cli, good):
    raw = good.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header["a"]["shape"] = [4, 5]
    text = json.dumps(header, separators=(",", ":")).encode().ljust(n)
    assert len(text) == n
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(raw[:8] + text + raw[8 + n:])
    run_bad(cli, tmp_path, bad, "bad.safetensors", "a: byte size 64 disagrees with shape [4, 5]")


def test_index_naming_a_shard_outside_its_folder(tmp_path, cli, good):
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "../good.safetensors"}}))
    run_bad(cli, tmp_path, folder, "model.safetensors.index.json", "a:", "inside the index's folder")


class Evil:
    def __reduce__(self):
        return (print, ("never run",))


def test_pickle_that_is_not_plain_tensors(tmp_path, cli, capfd):
    folder = tmp_path / "hf"
    folder.mkdir()
    torch.save({"a": torch.ones(2), "b": Evil()}, folder / "pytorch_model.bin")
    run_bad(cli, tmp_path, folder, "pytorch_model.bin", "refused to unpickle")
    assert "never run" not in capfd.readouterr().out


def test_pickle_with_a_non_tensor_value(tmp_path, cli):
    folder = tmp_path / "hf"
    folder.mkdir()
    torch.save({"a": torch.ones(2), "step": 3}, folder / "pytorch_model.bin")
    run_bad(cli, tmp_path, folder, "pytorch_model.bin", "step:", "expected only tensors")
