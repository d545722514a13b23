"""``model.model_config.pet_config`` (LoRA): loaded from a MindFormers YAML, checked key by key by `validate`."""

import pytest

from mf_config import ConfigError, GPT2Config, LlamaConfig
from mf_config.pet_config import LoraConfig

from .helpers import write

LORA_YAML = """model:
  model_config:
    type: LlamaConfig
    num_layers: 2
    pet_config:
      pet_type: lora
      lora_rank: 16
      lora_alpha: 32
      lora_dropout: 0.05
      target_modules: '.*wq|.*wk|.*wv|.*wo'
      freeze_include: ['*']
      freeze_exclude: ['*lora*']
"""


def test_yaml_pet_config_becomes_a_lora_config(tmp_path):
    config = LlamaConfig.from_yaml(write(tmp_path / "lora.yaml", LORA_YAML))
    pet = config.pet_config
    assert isinstance(pet, LoraConfig)
    assert (pet.lora_rank, pet.lora_alpha, pet.lora_dropout, pet.scaling) == (16, 32, 0.05, 2.0)
    assert pet.target_modules == ".*wq|.*wk|.*wv|.*wo" and pet.freeze_exclude == ["*lora*"]
    assert LlamaConfig.from_dict(config.to_dict()) == config  # config.json round trip
    assert LlamaConfig().pet_config is None and GPT2Config(pet_config={"lora_rank": 4}).pet_config.lora_rank == 4


def test_validate_names_wrong_pet_config_keys(run_cli, tmp_path):
    text = LORA_YAML.replace("lora_rank: 16", "lora_rank: sixteen").replace("'.*wq|", "'(.*wq|")
    text = text.replace("pet_type: lora", "pet_type: ptuning2") + "      lora_rnak: 4\n"
    path = write(tmp_path / "bad.yaml", text)
    result = run_cli("validate", path)
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert f"error: {path}:6: model.model_config.pet_config.pet_type: expected one of 'lora', got 'ptuning2'" in lines
    assert f"error: {path}:7: model.model_config.pet_config.lora_rank: expected an integer, got string " \
           "'sixteen'" in lines
    assert any(line.startswith(f"error: {path}:10: model.model_config.pet_config.target_modules: not a regular "
                               "expression (missing ), unterminated subpattern") for line in lines)
    assert f"warning: {path}:13: model.model_config.pet_config.lora_rnak: unknown key (did you mean " \
           "'lora_rank'?)" in lines


def test_clean_lora_yaml_validates(run_cli, tmp_path):
    result = run_cli("validate", "--strict", write(tmp_path / "lora.yaml", LORA_YAML))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("bad, key, message", [
    ({"lora_rank": 0}, "pet_config.lora_rank", "must be greater than 0"),
    ({"lora_dropout": 1.0}, "pet_config.lora_dropout", "must be at least 0 and below 1"),
    ({"lora_a_init": "kaiming"}, "pet_config.lora_a_init", "expected one of"),
    ({"exclude_layers": ["(x"]}, "pet_config.exclude_layers", "not a regular expression"),
])
def test_bad_values_name_the_key_under_pet_config(bad, key, message):
    with pytest.raises(ConfigError) as e:
        LlamaConfig(pet_config=bad)
    assert e.value.key == key and message in e.value.message
