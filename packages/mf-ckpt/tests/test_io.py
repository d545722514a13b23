"""Reading and writing safetensors with numpy alone, checked against the safetensors library and torch."""

import json

import ml_dtypes
import numpy as np
import safetensors.torch
import torch

from mf_ckpt.output import Spec, save_file, save_folder
from mf_ckpt.store import open_checkpoint


def as_torch(array):
    if array.dtype == ml_dtypes.bfloat16:
        return torch.from_numpy(array.view(np.int16).copy()).view(torch.bfloat16)
    return torch.from_numpy(np.array(array))


def test_reads_what_safetensors_wrote(tmp_path, state):
    path = tmp_path / "a.safetensors"
    safetensors.torch.save_file(state, path)
    ckpt = open_checkpoint(path)
    assert sorted(ckpt.infos) == sorted(state)
    starts = [info.start for info in ckpt.infos.values()]
    assert starts == sorted(starts)  # in file order
    for name, tensor in state.items():
        array = ckpt.get(name)
        assert tuple(array.shape) == tuple(tensor.shape)
        assert torch.equal(as_torch(array), tensor), name
        assert not array.flags.writeable
        ckpt.release(name)
    assert ckpt.infos["model.b"].dtype == "BF16"
    ckpt.close()


def test_writes_what_safetensors_reads(tmp_path, state):
    src = tmp_path / "a.safetensors"
    safetensors.torch.save_file(state, src)
    ckpt = open_checkpoint(src)
    specs = [Spec(n, i.dtype, i.shape, lambda n=n: [ckpt.get(n)], (n,)) for n, i in ckpt.infos.items()]
    out = tmp_path / "b.safetensors"
    save_file(out, specs, ckpt.release, metadata={"format": "pt"})
    back = safetensors.torch.load_file(out)
    assert back.keys() == state.keys()
    for name in state:
        assert torch.equal(back[name], state[name]), name
    assert (tmp_path / "b.safetensors.sha256.json").is_file()


def test_sharded_folder_with_index(tmp_path, state):
    src = tmp_path / "a.safetensors"
    safetensors.torch.save_file(state, src)
    ckpt = open_checkpoint(src)
    specs = [Spec(n, i.dtype, i.shape, lambda n=n: [ckpt.get(n)], (n,)) for n, i in ckpt.infos.items()]
    save_folder(tmp_path / "out", specs, ckpt.release, max_shard_bytes=600)
    index = json.loads((tmp_path / "out/model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 2 and shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    merged = {}
    for shard in shards:
        merged.update(safetensors.torch.load_file(tmp_path / "out" / shard))
    assert all(torch.equal(merged[n], state[n]) for n in state)
    assert index["metadata"]["total_size"] == sum(t.numel() * t.element_size() for t in state.values())
    again = open_checkpoint(tmp_path / "out")
    assert set(again.infos) == set(state)


def test_stacked_parts_make_one_tensor(tmp_path):
    parts = [np.full((2, 3), i, np.float32) for i in range(4)]
    save_file(tmp_path / "s.safetensors", [Spec("w", "F32", (4, 2, 3), lambda: parts)], lambda n: None)
    back = safetensors.torch.load_file(tmp_path / "s.safetensors")["w"]
    assert torch.equal(back, torch.from_numpy(np.stack(parts)))


def test_reads_pytorch_bin(tmp_path, state):
    torch.save(state, tmp_path / "pytorch_model.bin")
    ckpt = open_checkpoint(tmp_path)
    assert ckpt.kind == "torch"
    for name, tensor in state.items():
        assert torch.equal(as_torch(ckpt.get(name)), tensor), name


def test_reads_sharded_pytorch_bin_with_index(tmp_path, state):
    names = sorted(state)
    halves = {"pytorch_model-00001-of-00002.bin": names[:5], "pytorch_model-00002-of-00002.bin": names[5:]}
    for file, part in halves.items():
        torch.save({n: state[n] for n in part}, tmp_path / file)
    weight_map = {n: file for file, part in halves.items() for n in part}
    (tmp_path / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": weight_map}))
    ckpt = open_checkpoint(tmp_path)
    assert ckpt.kind == "torch" and set(ckpt.infos) == set(state)
    assert all(torch.equal(as_torch(ckpt.get(n)), state[n]) for n in state)
