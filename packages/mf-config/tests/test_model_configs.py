import json

import pytest

from mf_config import (
    BloomConfig,
    ConfigError,
    GPT2Config,
    LlamaConfig,
    MixtralConfig,
    MoEConfig,
    ParallelConfig,
    PretrainedConfig,
)


def test_llama_defaults_are_mindformers():
    c = LlamaConfig()
    assert (c.num_layers, c.num_heads, c.kv_heads, c.theta, c.rms_norm_eps) == (32, 32, 32, 1e4, 1e-5)
    assert c.pad_token_id == 0
    assert c.ignore_token_id == -100 and c.extend_method == "None"


@pytest.mark.parametrize("kwargs, expected", [
    ({"hidden_size": 4096}, 11008),                                        # Llama 2 7B
    ({"hidden_size": 4096, "ffn_dim_multiplier": 1.3, "multiple_of": 1024}, 14336),  # Llama 3 8B rule
    ({"hidden_size": 8192, "ffn_dim_multiplier": 1.3, "multiple_of": 4096, "num_heads": 64}, 28672),  # Llama 3 70B
    ({"intermediate_size": 123}, 123),
])
def test_ffn_hidden_size_rule(kwargs, expected):
    assert LlamaConfig(**kwargs).ffn_hidden_size == expected


def test_types_are_checked_with_the_key():
    with pytest.raises(ConfigError, match="^num_layers: expected an integer, got string 'two'$"):
        LlamaConfig(num_layers="two")
    with pytest.raises(ConfigError, match="^compute_dtype: expected one of 'float32', 'float16', 'bfloat16', got"):
        LlamaConfig(compute_dtype="fp8")
    with pytest.raises(ConfigError, match="^top_p: must be between 0 and 1, got 1.5$"):
        LlamaConfig(top_p=1.5)


def test_ints_become_floats_where_a_float_is_expected():
    c = LlamaConfig(theta=500000, top_p=1, rms_norm_eps="1e-6")
    assert isinstance(c.theta, float) and c.top_p == 1.0 and c.rms_norm_eps == 1e-6


def test_relations():
    with pytest.raises(ConfigError, match="num_heads \\(32\\) is not divisible by n_kv_heads \\(5\\)"):
        LlamaConfig(n_kv_heads=5)
    with pytest.raises(ConfigError, match="hidden_size \\(100\\) is not divisible by num_heads \\(32\\)"):
        LlamaConfig(hidden_size=100)
    with pytest.raises(ConfigError, match="num_experts_chosen \\(3\\) exceeds expert_num \\(2\\)"):
        MoEConfig(expert_num=2, num_experts_chosen=3)


@pytest.mark.parametrize("kwargs, check, message", [
    ({"data_parallel": 2, "model_parallel": 2}, {"device_num": 8},
     "data_parallel: data_parallel x model_parallel x context_parallel x pipeline_stage = 2x2x1x1 = 4, "
     "but there are 8 devices"),
    ({"model_parallel": 3}, {"num_heads": 32}, "model_parallel: num_heads (32) is not divisible by model_parallel (3)"),
    ({"model_parallel": 4}, {"n_kv_heads": 2}, "model_parallel: n_kv_heads (2) is not divisible by model_parallel (4)"),
    ({"pipeline_stage": 4, "micro_batch_num": 4}, {"num_layers": 2},
     "pipeline_stage: pipeline_stage (4) exceeds num_layers (2)"),
    ({"data_parallel": 4, "expert_parallel": 3}, {"expert_num": 8},
     "expert_parallel: expert_parallel (3) does not divide expert_num (8)"),
])
def test_parallel_rules(kwargs, check, message):
    with pytest.raises(ConfigError) as err:
        ParallelConfig(**kwargs).check(**check)
    assert str(err.value) == message


@pytest.mark.parametrize("kwargs, message", [
    ({"pipeline_stage": 2, "micro_batch_num": 1}, "micro_batch_num: micro_batch_num (1) must be at least "
                                                   "pipeline_stage (2)"),
    ({"data_parallel": 2, "expert_parallel": 4},
     "expert_parallel: expert_parallel (4) must not exceed data_parallel (2)"),
])
def test_parallel_config_rules_on_construction(kwargs, message):
    with pytest.raises(ConfigError) as err:
        ParallelConfig(**kwargs)
    assert str(err.value) == message


def test_valid_parallel_layout_passes():
    config = LlamaConfig(num_layers=4, n_kv_heads=8, parallel_config={"data_parallel": 2, "model_parallel": 4,
                                                                        "pipeline_stage": 2, "micro_batch_num": 2})
    config.check_parallel(device_num=16)
    assert config.parallel_config.device_num == 16


@pytest.mark.parametrize("cls", [LlamaConfig, MixtralConfig, GPT2Config, BloomConfig])
def test_save_and_from_pretrained_round_trip_with_extra_keys(cls, tmp_path):
    config = cls(num_layers=2, my_extra_key={"a": 1})
    assert config.extra_keys() == ["my_extra_key"]
    config.save_pretrained(tmp_path)
    again = cls.from_pretrained(tmp_path)
    assert again == config and again.my_extra_key == {"a": 1}
    assert json.loads((tmp_path / "config.json").read_text())["type"] == cls.__name__


def test_mixtral_defaults_and_moe_from_yaml(mf_assets):
    assert MixtralConfig().moe_config.expert_num == 8 and MixtralConfig().is_moe
    config = LlamaConfig.from_yaml(mf_assets / "mindformers-yaml" / "finetune_mixtral-8x7b.yaml")
    assert config.is_moe and config.moe_config.num_experts_chosen == 2 and config.moe_config.capacity_factor == 1.1
    assert config.parallel_config.expert_parallel == 8 and config.parallel_config.pipeline_stage == 2


def test_from_yaml_error_names_file_and_key(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("model:\n  model_config:\n    type: LlamaConfig\n    num_layers: x\n")
    with pytest.raises(ConfigError) as err:
        LlamaConfig.from_yaml(path)
    assert str(err.value) == f"{path}:4: model.model_config.num_layers: expected an integer, got string 'x'"


def test_from_pretrained_bad_json(tmp_path):
    (tmp_path / "config.json").write_text("{\n  \"a\": 1,,\n}")
    with pytest.raises(ConfigError, match="config.json:2: invalid JSON"):
        PretrainedConfig.from_pretrained(tmp_path)


def test_mixtral_config_from_a_yaml_that_names_llama_config(mf_assets):
    config = MixtralConfig.from_yaml(mf_assets / "mindformers-yaml" / "finetune_mixtral-8x7b.yaml")
    assert type(config) is MixtralConfig and config.moe_config.expert_num == 8 and config.theta == 1e6


def test_a_yaml_of_another_family_is_refused(mf_assets):
    path = mf_assets / "mindformers-yaml" / "run_gpt2.yaml"
    with pytest.raises(ConfigError) as err:
        LlamaConfig.from_yaml(path)
    assert str(err.value) == f"{path}: holds a GPT2Config, not a LlamaConfig"


def test_model_config_from_task_names_the_line(tmp_path):
    from mf_config import load_config
    from mf_config.sources import model_config_from_task

    path = tmp_path / "t.yaml"
    path.write_text("model:\n  model_config:\n    type: LlamaConfig\n    hidden_size: 100\n")
    with pytest.raises(ConfigError) as err:
        model_config_from_task(load_config(path))
    assert str(err.value) == (f"{path.resolve()}:4: model.model_config.hidden_size: hidden_size (100) is not "
                              "divisible by num_heads (32)")
