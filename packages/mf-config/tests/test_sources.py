"""``identify``: what a file or folder is, on real files (MindFormers YAMLs, folders written by transformers)."""

import json

import pytest
import transformers

from mf_config import ConfigError, GPT2Config, LlamaConfig, identify, load_model_config, preset
from mf_config.sources import ModelSource


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    """A Hugging Face folder as transformers writes it (config.json) with a weights file beside it."""
    folder = tmp_path_factory.mktemp("hf")
    transformers.MistralConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=4,
                               num_key_value_heads=2, intermediate_size=64, vocab_size=97).save_pretrained(folder)
    (folder / "model.safetensors").write_bytes(b"weights are not read")
    return folder


def test_task_yaml(yaml_dir):
    source = identify(yaml_dir / "run_gpt2.yaml", overrides=["model.model_config.num_layers=2"])
    assert source.kind == "task_yaml" and source.arch == "GPT2LMHeadModel" and source.weights is None
    assert isinstance(source.config, GPT2Config) and source.config.num_layers == 2 and not source.hf_names
    assert source.family.name == "gpt2" and source.task.model.arch.type == "GPT2LMHeadModel"


def test_hugging_face_folder(hf_folder):
    source = identify(hf_folder)
    assert source.kind == "hf_folder" and source.hf_names and source.weights == hf_folder
    assert source.family.name == "mistral" and source.config.n_kv_heads == 2
    assert source.config_file == hf_folder / "config.json"
    assert identify(hf_folder / "config.json").kind == "config_json"


def test_our_folder_and_overrides(tmp_path):
    preset("llama", "tiny").save_pretrained(tmp_path)
    source = identify(tmp_path, overrides=["num_layers=3", "moe_config.expert_num=1"])
    assert source.kind == "mf_folder" and not source.hf_names and source.weights is None
    assert source.config == preset("llama", "tiny", num_layers=3)
    with pytest.raises(ConfigError, match="num_heads"):
        identify(tmp_path, overrides=["num_heads=5"])


def test_lone_weights_file_needs_a_config(tmp_path, hf_folder, yaml_dir):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"\x8a\x00\x00\x00\x00\x00\x00\x00{\"__metadata__\": {}}")
    with pytest.raises(ConfigError) as err:
        identify(weights)
    assert str(err.value) == f"{weights}: no config.json beside it; pass --config"
    with pytest.raises(ConfigError, match="pass --config"):
        LlamaConfig.from_pretrained(weights)
    with pytest.raises(ConfigError, match="holds weights but no config.json; pass --config"):
        identify(tmp_path)
    source = identify(weights, config=yaml_dir / "predict_llama2_7b.yaml")  # a MindFormers checkpoint + its YAML
    assert source.kind == "weights" and source.weights == weights and source.arch == "LlamaForCausalLM"
    assert source.config.hidden_size == 4096 and not source.hf_names
    beside = identify(hf_folder / "model.safetensors")
    assert beside.kind == "weights" and beside.hf_names and beside.family.name == "mistral"


@pytest.mark.parametrize("content, message", [
    (b"\x8a\x00\xff\xfe", "config.json:1: not UTF-8 text"),
    (b"[1, 2]", "config.json: expected a JSON object"),
    (b'{"num_layers": 2}', "config.json: type: 'type' must be one of"),
    (b'{"type": "LlamaConfg"}', "config.json: type: unknown config type 'LlamaConfg' (did you mean 'LlamaConfig'?)"),
    (b'{"model_type": "bert"}', "config.json: model_type: unsupported model_type 'bert'"),
])
def test_bad_config_json_is_one_clear_error(tmp_path, content, message):
    (tmp_path / "config.json").write_bytes(content)
    with pytest.raises(ConfigError) as err:
        identify(tmp_path)
    assert str(err.value).startswith(f"{tmp_path / message}")


def test_what_is_not_a_model_file(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ConfigError, match="not a model file"):
        identify(tmp_path / "notes.txt")
    with pytest.raises(ConfigError, match="no such file or folder"):
        identify(tmp_path / "none")
    with pytest.raises(ConfigError, match="holds no weights and no config.json"):
        identify(tmp_path)


def test_load_model_config_and_config_classes(tmp_path, yaml_dir):
    assert isinstance(load_model_config(yaml_dir / "finetune_mixtral-8x7b.yaml"), LlamaConfig)
    path = tmp_path / "c.yaml"
    path.write_text("type: GPT2Config\nnum_layers: 2\n")
    assert identify(path).kind == "config_yaml" and identify(path).config.num_layers == 2
    (tmp_path / "p.json").write_text(json.dumps({"type": "ParallelConfig", "data_parallel": 2}))
    assert identify(tmp_path / "p.json").config.data_parallel == 2  # any registered config class reads back
    assert ModelSource.__dataclass_params__.frozen
