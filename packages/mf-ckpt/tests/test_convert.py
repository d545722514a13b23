"""HF -> ours -> HF with tiny random transformers models: bitwise round trip, transformers loads the result,
names and shapes are what mf-models' networks hold; bf16 and .bin inputs; config/weight disagreements."""

import json
import shutil

import numpy as np
import pytest
import safetensors.torch
import torch
import transformers

from mf_ckpt.store import open_checkpoint

from .hf_models import CASES, logits, make_model

IDS = np.array([[1, 5, 9, 17, 33, 2, 70, 4], [3, 3, 8, 60, 91, 12, 0, 44]])


def tensors(folder):
    ckpt = open_checkpoint(folder)
    return {name: np.array(ckpt.get(name)) for name in ckpt.infos}


@pytest.mark.parametrize("case", list(CASES))
def test_round_trip_is_bitwise(case, hf, converted, cli):
    original, back = tensors(hf[case][0]), tensors(converted[case][1])
    assert original.keys() == back.keys()
    for name, array in original.items():
        assert array.dtype == back[name].dtype and array.tobytes() == back[name].tobytes(), name
    index = json.loads((converted[case][1] / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    assert cli("diff", hf[case][0], converted[case][1]).exit_code == 0
    assert cli("verify", converted[case][0]).exit_code == 0 and cli("verify", converted[case][1]).exit_code == 0


@pytest.mark.parametrize("case", list(CASES))
def test_transformers_loads_the_reversed_folder(case, hf, converted):
    model = transformers.AutoModelForCausalLM.from_pretrained(converted[case][1]).eval()
    assert type(model) is type(hf[case][1])
    np.testing.assert_array_equal(logits(model, IDS), logits(hf[case][1], IDS))


def test_names_follow_mindformers(converted):
    ours = open_checkpoint(converted["mixtral"][0]).infos
    assert ours["model.layers.1.feed_forward.ffn.w1.weight"].shape == (4, 48, 32)
    assert ours["model.layers.1.feed_forward.ffn.w2.weight"].shape == (4, 32, 48)
    assert ours["model.layers.0.feed_forward.router.dense.weight"].shape == (4, 32)
    gpt2 = open_checkpoint(converted["gpt2"][0]).infos
    assert gpt2["backbone.blocks.0.attention.dense2.weight"].shape == (48, 48)
    assert gpt2["backbone.blocks.0.output.mapping.weight"].shape == (48, 192)
    bloom = open_checkpoint(converted["bloom"][0]).infos
    assert bloom["transformer.blocks.1.output.projection.weight"].shape == (192, 48)
    config = json.loads((converted["llama_gqa"][0] / "config.json").read_text())
    assert config["type"] == "LlamaConfig" and config["theta"] == 500000.0 and config["n_kv_heads"] == 2


def test_mixtral_experts_are_stacked(hf, converted):
    ours = tensors(converted["mixtral"][0])
    hf_tensors = safetensors.torch.load_file(hf["mixtral"][0] / "model.safetensors")
    for w in ("w1", "w2", "w3"):
        stacked = np.stack([hf_tensors[f"model.layers.1.block_sparse_moe.experts.{e}.{w}.weight"].numpy()
                            for e in range(4)])
        np.testing.assert_array_equal(ours[f"model.layers.1.feed_forward.ffn.{w}.weight"], stacked)


def test_bf16_round_trip_without_float32_detour(hf, tmp_path, cli):
    model = make_model("llama_gqa").to(torch.bfloat16)
    model.save_pretrained(tmp_path / "hf")
    assert cli("convert", "--input_path", tmp_path / "hf", "--output_path", tmp_path / "ours").exit_code == 0
    assert json.loads((tmp_path / "ours/config.json").read_text())["param_init_type"] == "bfloat16"
    assert cli("convert", "--reversed", "--input_path", tmp_path / "ours", "--output_path",
               tmp_path / "back").exit_code == 0
    a = safetensors.torch.load_file(tmp_path / "hf/model.safetensors")
    b = safetensors.torch.load_file(tmp_path / "back/model.safetensors")
    assert a.keys() == b.keys()
    assert all(a[n].dtype == torch.bfloat16 and torch.equal(a[n].view(torch.int16), b[n].view(torch.int16))
               for n in a)


def test_dtype_flag_casts_like_torch(hf, tmp_path, cli):
    folder, model = hf["gpt2"]
    result = cli("convert", "--input_path", folder, "--output_path", tmp_path / "ours", "--dtype", "bf16")
    assert result.exit_code == 0, result.output
    ours = safetensors.torch.load_file(tmp_path / "ours/model.safetensors")
    expected = model.transformer.wte.weight.detach().bfloat16()
    assert torch.equal(ours["backbone.embedding.word_embedding.embedding_table"], expected)


def test_pytorch_bin_input(hf, converted, tmp_path, cli):
    (tmp_path / "hf").mkdir()
    shutil.copyfile(hf["bloom"][0] / "config.json", tmp_path / "hf/config.json")
    state = hf["bloom"][1].state_dict()  # as old HF .bin files: the tied lm_head.weight too
    assert "lm_head.weight" in state
    torch.save(state, tmp_path / "hf/pytorch_model.bin")
    result = cli("convert", "--model", "bloom", "--input_path", tmp_path / "hf", "--output_path", tmp_path / "ours")
    assert result.exit_code == 0, result.output
    assert cli("diff", tmp_path / "ours", converted["bloom"][0]).exit_code == 0


def test_config_disagreeing_with_weights(hf, tmp_path, cli):
    yaml = tmp_path / "predict_llama.yaml"
    yaml.write_text("model:\n  model_config:\n    type: LlamaConfig\n    hidden_size: 64\n    num_layers: 2\n"
                    "    num_heads: 4\n    n_kv_heads: 2\n    vocab_size: 96\n    intermediate_size: 128\n")
    result = cli("convert", "--input_path", hf["llama_gqa"][0], "--output_path", tmp_path / "out", "--config", yaml)
    assert result.exit_code == 2
    assert "model.layers.0.mlp.gate_proj.weight" in result.output and "[128, 64]" in result.output
    assert "predict_llama.yaml" in result.output and "model.safetensors" in result.output
    assert not (tmp_path / "out").exists()


def test_model_flag_disagreeing_with_config(hf, tmp_path, cli):
    result = cli("convert", "--model", "gpt2", "--input_path", hf["bloom"][0], "--output_path", tmp_path / "o")
    assert result.exit_code == 2 and "--model gpt2" in result.output and "bloom" in result.output


def test_mindspore_ckpt_out_and_back(hf, tmp_path, cli):
    folder, _ = hf["llama_mha"]
    result = cli("convert", "--input_path", folder, "--output_path", tmp_path / "ours", "--format", "ckpt")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ours/model.ckpt").is_file()
    assert cli("convert", "--reversed", "--input_path", tmp_path / "ours", "--output_path",
               tmp_path / "back").exit_code == 0
    assert cli("diff", folder, tmp_path / "back").exit_code == 0


def test_reversed_refuses_optimizer_state(converted, tmp_path, cli):
    src = converted["llama_mha"][0]
    ckpt = open_checkpoint(src)
    state = {n: torch.from_numpy(np.array(ckpt.get(n))) for n in ckpt.infos}
    state["adam_m.model.norm_out.weight"] = torch.zeros(48)
    (tmp_path / "ours").mkdir()
    shutil.copyfile(src / "config.json", tmp_path / "ours/config.json")
    safetensors.torch.save_file(state, tmp_path / "ours/model.safetensors")
    result = cli("convert", "--reversed", "--input_path", tmp_path / "ours", "--output_path", tmp_path / "hf")
    assert result.exit_code == 2 and "adam_m.model.norm_out.weight" in result.output
    assert "strip-optimizer" in result.output and not (tmp_path / "hf").exists()
    assert cli("strip-optimizer", tmp_path / "ours", tmp_path / "clean").exit_code == 0
    assert cli("convert", "--reversed", "--input_path", tmp_path / "clean", "--output_path", tmp_path / "hf"
               ).exit_code == 0


def test_folder_without_config(hf, tmp_path, cli):
    (tmp_path / "w").mkdir()
    shutil.copyfile(hf["gpt2"][0] / "model.safetensors", tmp_path / "w/model.safetensors")
    result = cli("convert", "--input_path", tmp_path / "w", "--output_path", tmp_path / "o")
    assert result.exit_code == 2 and "config.json" in result.output and "--config" in result.output
    result = cli("convert", "--input_path", tmp_path / "w", "--output_path", tmp_path / "o", "--config",
                 hf["gpt2"][0] / "config.json")
    assert result.exit_code == 0, result.output


def test_bf16_through_mindspore_ckpt(tmp_path, cli):
    model = make_model("mixtral").to(torch.bfloat16)
    model.save_pretrained(tmp_path / "hf")
    result = cli("convert", "--input_path", tmp_path / "hf", "--output_path", tmp_path / "ours", "--format", "ckpt")
    assert result.exit_code == 0, result.output
    assert json.loads(cli("info", tmp_path / "ours", "--json").output)["dtypes"] == {"BF16": 23}
    assert cli("convert", "--reversed", "--input_path", tmp_path / "ours", "--output_path",
               tmp_path / "back").exit_code == 0
    a = safetensors.torch.load_file(tmp_path / "hf/model.safetensors")
    b = safetensors.torch.load_file(tmp_path / "back/model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[n].view(torch.int16), b[n].view(torch.int16)) for n in a)



@pytest.mark.parametrize("case", ["gpt2", "bloom"])
def test_base_model_files_without_the_transformer_prefix(case, hf, converted, tmp_path, cli):
    """openai-community/gpt2 and bigscience/bloom-560m ship the base model's names (``h.0.``, ``wte.weight``)."""
    folder, model = hf[case]
    model.transformer.save_pretrained(tmp_path / "base")
    shutil.copyfile(folder / "config.json", tmp_path / "base/config.json")
    names = safetensors.torch.load_file(tmp_path / "base/model.safetensors")
    assert not any(n.startswith("transformer.") for n in names)
    result = cli("convert", "--input_path", tmp_path / "base", "--output_path", tmp_path / "ours")
    assert result.exit_code == 0, result.output
    assert cli("diff", tmp_path / "ours", converted[case][0]).exit_code == 0


def test_reversed_with_a_mindformers_yaml(hf, converted, tmp_path, cli):
    """A MindFormers user's weights plus task YAML (no HF config anywhere) become a folder transformers loads."""
    (tmp_path / "weights").mkdir()
    shutil.copyfile(converted["llama_gqa"][0] / "model.safetensors", tmp_path / "weights/llama.safetensors")
    yaml = tmp_path / "predict_llama3.yaml"
    yaml.write_text("model:\n  arch:\n    type: LlamaForCausalLM\n  model_config:\n    type: LlamaConfig\n"
                    "    hidden_size: 64\n    num_layers: 2\n    num_heads: 4\n    n_kv_heads: 2\n    vocab_size: 96\n"
                    "    intermediate_size: 80\n    theta: 500000.0\n    rms_norm_eps: 1.0e-5\n    seq_length: 64\n"
                    "    compute_dtype: float32\n    param_init_type: float32\n")
    result = cli("convert", "--reversed", "--input_path", tmp_path / "weights/llama.safetensors", "--config", yaml,
                 "--output_path", tmp_path / "hf")
    assert result.exit_code == 0, result.output
    model = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    np.testing.assert_allclose(logits(model, IDS), logits(hf["llama_gqa"][1], IDS), atol=1e-5)
