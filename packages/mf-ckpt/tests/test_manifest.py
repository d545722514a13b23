"""The SHA-256 manifest: its block digests, hashed on every core while the files are written, are the SHA-256 of
the blocks, and verify catches any changed byte, a truncated or extended file, a missing or an extra file."""

import errno
import hashlib
import json
import os
import re
import subprocess

import pytest
import safetensors.torch

from mf_ckpt import manifest
from mf_ckpt.output import Spec, save_file


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 64 bytes: a tiny checkpoint gets many of them."""
    monkeypatch.setattr(manifest, "BLOCK", 64)


@pytest.fixture
def written(tmp_path, cli, state, small_blocks):
    """Two folders: ``kept`` (strip-optimizer: tensors copied by the kernel, config.json copied) and ``cast`` (every
    float tensor made anew, in 1 KB shards with their index)."""
    (tmp_path / "in").mkdir()
    safetensors.torch.save_file(state, tmp_path / "in/model.safetensors")
    (tmp_path / "in/config.json").write_text('{"type": "LlamaConfig"}')
    assert cli("strip-optimizer", tmp_path / "in", tmp_path / "kept").exit_code == 0
    assert cli("cast", tmp_path / "in", tmp_path / "cast", "--dtype", "fp32", "--max_shard_size", "1KB").exit_code == 0
    return tmp_path / "kept", tmp_path / "cast"


def test_block_digests_are_the_sha256_of_each_block(written):
    for folder in written:
        data = json.loads((folder / "SHA256SUMS.json").read_text())
        assert data["format"] == "mf-ckpt-sha256" and data["block_size"] == 64
        files = data["files"]
        assert sorted(files) == sorted(p.name for p in folder.iterdir() if p.name != "SHA256SUMS.json")
        for name, entry in files.items():
            content = (folder / name).read_bytes()
            assert entry["size"] == len(content) and len(entry["sha256"]) == -(-len(content) // 64)
            assert entry["sha256"] == [hashlib.sha256(content[i:i + 64]).hexdigest()
                                       for i in range(0, len(content), 64)]
        assert len(files["model.safetensors" if folder.name == "kept" else "model-00001-of-00004.safetensors"][
            "sha256"]) > 5


def test_a_file_of_one_block_has_the_digest_sha256sum_prints(tmp_path, cli, state):
    safetensors.torch.save_file(state, tmp_path / "a.safetensors")
    assert cli("cast", tmp_path / "a.safetensors", tmp_path / "out", "--dtype", "bf16").exit_code == 0
    files = json.loads((tmp_path / "out/SHA256SUMS.json").read_text())["files"]
    printed = subprocess.run(["sha256sum", *sorted(files)], cwd=tmp_path / "out", capture_output=True, text=True,
                             check=True).stdout
    assert printed == "".join(f"{files[n]['sha256'][0]}  {n}\n" for n in sorted(files))


def test_the_kernel_copy_fallback_writes_and_hashes_the_same_bytes(tmp_path, cli, state, small_blocks,
                                                                   monkeypatch):
    safetensors.torch.save_file(state, tmp_path / "a.safetensors")
    assert cli("strip-optimizer", tmp_path / "a.safetensors", tmp_path / "copied.safetensors").exit_code == 0

    def cannot(*args):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", cannot)
    assert cli("strip-optimizer", tmp_path / "a.safetensors", tmp_path / "written.safetensors").exit_code == 0
    assert (tmp_path / "written.safetensors").read_bytes() == (tmp_path / "copied.safetensors").read_bytes()
    assert (json.loads((tmp_path / "written.safetensors.sha256.json").read_text())["files"]["written.safetensors"] ==
            json.loads((tmp_path / "copied.safetensors.sha256.json").read_text())["files"]["copied.safetensors"])
    assert cli("verify", tmp_path / "written.safetensors").exit_code == 0


@pytest.mark.parametrize("where", [0, 0.5, -1])
def test_verify_names_the_bytes_of_a_flipped_byte(written, cli, where):
    for folder in written:
        assert cli("verify", folder).exit_code == 0
        shard = sorted(folder.glob("*.safetensors"))[-1]
        data = bytearray(shard.read_bytes())
        pos = int(len(data) * where) if where >= 0 else len(data) + where
        data[pos] ^= 0x10
        shard.write_bytes(bytes(data))
        result = cli("verify", folder)
        assert result.exit_code == 2 and shard.name in result.output, result.output
        start, end = map(int, re.search(r"SHA-256 of bytes (\d+)-(\d+) differs", result.output).groups())
        assert start <= pos < end


@pytest.mark.parametrize("change, message", [
    (lambda f: f.write_bytes(f.read_bytes()[:-1]), "truncated"),
    (lambda f: f.write_bytes(f.read_bytes() + b"\0"), "appended"),
    (lambda f: (f.parent / "notes.txt").write_text("hi"), "notes.txt: not in the manifest"),
    (lambda f: f.unlink(), "listed in the manifest but missing"),
])
def test_verify_catches_a_changed_size_an_extra_and_a_missing_file(written, cli, change, message):
    shard = written[1] / "model-00002-of-00004.safetensors"
    change(shard)
    result = cli("verify", written[1])
    assert result.exit_code == 2 and message in result.output, result.output


def test_verify_a_file_beside_its_manifest(tmp_path, cli, small_blocks):
    import numpy as np

    path = tmp_path / "w.safetensors"
    save_file(path, [Spec("w", "F32", (50,), lambda: [np.arange(50, dtype=np.float32)])], lambda n: None)
    assert cli("verify", path).exit_code == 0
    (tmp_path / "other.txt").write_text("not part of it")  # files beside a file are not its business
    assert cli("verify", path).exit_code == 0
    path.write_bytes(path.read_bytes().replace(np.float32(7).tobytes(), np.float32(8).tobytes()))
    result = cli("verify", path)
    assert result.exit_code == 2 and "w.safetensors: SHA-256 of bytes" in result.output


@pytest.mark.parametrize("edit, message", [
    (lambda m: "{not json", "not a valid manifest"),
    (lambda m: m.replace('"version": 1', '"version": 2'), '"format": "mf-ckpt-sha256", "version": 1'),
    (lambda m: m.replace('"block_size": 64', '"block_size": 0'), '"block_size": N'),
    (lambda m: m.replace('"config.json"', '"../config.json"'), "../config.json: is not a file name"),
    (lambda m: re.sub(r'"size": \d+', '"size": 300', m, count=1), "block digests, but 300 bytes make 5 blocks"),
    (lambda m: re.sub(r'"[0-9a-f]{64}"', '"xyz"', m, count=1), "64 hex digits"),
])
def test_a_malformed_manifest_is_an_error(written, cli, edit, message):
    m = written[0] / "SHA256SUMS.json"
    m.write_text(edit(m.read_text()))
    result = cli("verify", written[0])
    assert result.exit_code == 2 and "SHA256SUMS.json" in result.output and message in result.output, result.output


@pytest.mark.parametrize("binary", [False, True])
def test_verify_reads_a_sha256sum_list(tmp_path, cli, state, binary):
    folder = tmp_path / "hf"
    folder.mkdir()
    safetensors.torch.save_file(state, folder / "model.safetensors")
    (folder / "config.json").write_text("{}")
    sums = subprocess.run(["sha256sum", *(["-b"] if binary else []), "config.json", "model.safetensors"], cwd=folder,
                          capture_output=True, text=True, check=True).stdout
    (folder / "SHA256SUMS").write_text(sums)
    result = cli("verify", folder)
    assert result.exit_code == 0 and "OK: 2 file(s)" in result.output, result.output
    (folder / "config.json").write_text("{ }")
    result = cli("verify", folder)
    assert result.exit_code == 2 and "config.json: SHA-256 differs from the manifest" in result.output
    (folder / "SHA256SUMS").write_text(sums.replace("  config.json", " config.json").replace(" *config.json",
                                                                                          "config.json"))
    result = cli("verify", folder)
    assert result.exit_code == 2 and "SHA256SUMS:1: expected '<sha256>  <file name>'" in result.output
    # a rewrite of such a folder leaves our manifest, not a copy of the stale list
    assert cli("strip-optimizer", folder, tmp_path / "out").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["SHA256SUMS.json", "config.json",
                                                                    "model.safetensors"]
    assert cli("verify", tmp_path / "out").exit_code == 0
