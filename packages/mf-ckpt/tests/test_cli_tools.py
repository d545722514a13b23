"""info, diff, strip-optimizer, cast and verify, run as a user runs them."""

import json

import numpy as np
import safetensors.torch
import torch


def test_info_json_and_text(tmp_path, cli, state):
    safetensors.torch.save_file(state, tmp_path / "a.safetensors")
    result = cli("info", tmp_path / "a.safetensors", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["num_tensors"] == len(state)
    assert data["parameters"] == sum(t.numel() for t in state.values())
    assert data["bytes"] == sum(t.numel() * t.element_size() for t in state.values())
    by_name = {t["name"]: t for t in data["tensors"]}
    assert by_name["model.b"]["dtype"] == "BF16" and by_name["model.h"]["shape"] == [4, 3, 2]
    text = cli("info", tmp_path / "a.safetensors").output
    assert "model.h" in text and f"{len(state)} tensors" in text


def test_diff(tmp_path, cli, state):
    safetensors.torch.save_file(state, tmp_path / "a.safetensors")
    assert cli("diff", tmp_path / "a.safetensors", tmp_path / "a.safetensors").exit_code == 0
    other = dict(state)
    other["model.w"] = state["model.w"].clone()
    other["model.w"][3, 4] += 0.5
    other["model.h"] = state["model.h"].float()
    del other["model.ids"]
    other["model.new"] = torch.zeros(2)
    safetensors.torch.save_file(other, tmp_path / "b.safetensors")
    result = cli("diff", tmp_path / "a.safetensors", tmp_path / "b.safetensors", "--json")
    assert result.exit_code == 1
    items = {(d["name"], d["kind"]): d for d in json.loads(result.output)}
    assert abs(items["model.w", "values"]["max_abs_diff"] - 0.5) < 1e-6
    assert ("model.h", "dtype") in items and ("model.h", "values") not in items
    assert ("model.ids", "missing") in items and ("model.new", "extra") in items
    assert len(items) == 4


def test_strip_optimizer(tmp_path, cli, state):
    safetensors.torch.save_file(state, tmp_path / "a.safetensors")
    result = cli("strip-optimizer", tmp_path / "a.safetensors", tmp_path / "b.safetensors")
    assert result.exit_code == 0, result.output
    back = safetensors.torch.load_file(tmp_path / "b.safetensors")
    assert sorted(back) == sorted(n for n in state if n.startswith("model."))
    assert all(torch.equal(back[n], state[n]) for n in back)
    assert cli("verify", tmp_path / "b.safetensors").exit_code == 0


def test_cast_bf16_matches_torch(tmp_path, cli, state):
    safetensors.torch.save_file(state, tmp_path / "a.safetensors")
    result = cli("cast", tmp_path / "a.safetensors", tmp_path / "out", "--dtype", "bf16")
    assert result.exit_code == 0, result.output
    back = safetensors.torch.load_file(tmp_path / "out/model.safetensors")
    for name, tensor in state.items():
        expected = tensor.bfloat16() if tensor.is_floating_point() else tensor
        assert back[name].dtype == expected.dtype and torch.equal(back[name], expected), name
    assert cli("verify", tmp_path / "out").exit_code == 0


def test_verify_catches_a_changed_file(tmp_path, cli, state):
    safetensors.torch.save_file(state, tmp_path / "a.safetensors")
    assert cli("cast", tmp_path / "a.safetensors", tmp_path / "out", "--dtype", "fp32").exit_code == 0
    shard = tmp_path / "out/model.safetensors"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 1
    shard.write_bytes(bytes(data))
    result = cli("verify", tmp_path / "out")
    assert result.exit_code == 2
    assert "model.safetensors" in result.output and "SHA-256" in result.output


def test_info_of_a_sharded_folder(tmp_path, cli, state):
    safetensors.torch.save_file(state, tmp_path / "a.safetensors")
    assert cli("cast", tmp_path / "a.safetensors", tmp_path / "out", "--dtype", "fp32", "--max_shard_size",
               "1KB").exit_code == 0
    data = json.loads(cli("info", tmp_path / "out", "--json").output)
    assert len(data["files"]) > 1 and sum(f["tensors"] for f in data["files"]) == len(state)
    assert all(f["file"].startswith("model-000") for f in data["files"])


def test_strip_optimizer_keeps_the_folder_files(tmp_path, cli, state):
    (tmp_path / "in").mkdir()
    safetensors.torch.save_file(state, tmp_path / "in/model.safetensors")
    (tmp_path / "in/config.json").write_text('{"type": "LlamaConfig"}')
    result = cli("strip-optimizer", tmp_path / "in", tmp_path / "out")
    assert result.exit_code == 0 and "dropped 4 optimizer tensors" in result.output
    assert (tmp_path / "out/config.json").read_text() == '{"type": "LlamaConfig"}'
    assert sorted(safetensors.torch.load_file(tmp_path / "out/model.safetensors")) == sorted(
        n for n in state if n.startswith("model."))
    assert cli("verify", tmp_path / "out").exit_code == 0


def test_verify_catches_a_missing_file(tmp_path, cli, state):
    safetensors.torch.save_file(state, tmp_path / "a.safetensors")
    assert cli("cast", tmp_path / "a.safetensors", tmp_path / "out", "--dtype", "fp32", "--max_shard_size",
               "1KB").exit_code == 0
    (tmp_path / "out/model-00002-of-00004.safetensors").unlink()
    result = cli("verify", tmp_path / "out")
    assert result.exit_code == 2 and "model-00002-of-00004.safetensors: listed in the manifest but missing" in \
        result.output


def test_strip_optimizer_of_a_mindspore_training_checkpoint(tmp_path, cli):
    import mindspore as ms

    rng = np.random.default_rng(0)
    weights = {"model.norm_out.weight": rng.standard_normal(8).astype(np.float32),
               "model.layers.0.attention.wq.weight": rng.standard_normal((8, 8)).astype(np.float32)}
    state = {**weights, **{f"adam_{m}.{n}": np.zeros_like(a) for n, a in weights.items() for m in "mv"},
             "global_step": np.array([10], np.int32), "scale_sense": np.array(1024.0, np.float32)}
    ms.save_checkpoint([{"name": n, "data": ms.Tensor(a)} for n, a in state.items()], str(tmp_path / "train.ckpt"))
    result = cli("strip-optimizer", tmp_path / "train.ckpt", tmp_path / "out/weights.ckpt")
    assert result.exit_code == 0 and "dropped 6 optimizer tensors" in result.output, result.output
    back = {n: p.asnumpy() for n, p in ms.load_checkpoint(str(tmp_path / "out/weights.ckpt")).items()}
    assert back.keys() == weights.keys() and all(np.array_equal(back[n], weights[n]) for n in weights)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".weights.ckpt.commit", "weights.ckpt",
                                                                    "weights.ckpt.sha256.json"]
    assert cli("verify", tmp_path / "out/weights.ckpt").exit_code == 0
