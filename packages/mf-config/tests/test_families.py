"""The family specs and presets, checked against transformers (models built on the meta device from the spec's
own HF config) and against MindFormers' YAML files; the registry of families and their parts."""

import math
from importlib.metadata import EntryPoint

import pytest
import torch
import transformers

import mf_config.spec
from mf_config import (
    ConfigError,
    LlamaConfig,
    families,
    family,
    family_of,
    param_shapes,
    part,
    preset,
    presets,
    register_part,
)
from mf_config.hf import to_hf_dict
from mf_config.registry import get

PRESETS = [(name, size) for name, sizes in presets().items() for size in sizes]


def meta_model(config):
    """The transformers model of our config (its to_hf_dict), with no memory behind its parameters."""
    with torch.device("meta"):
        return transformers.AutoModelForCausalLM.from_config(transformers.AutoConfig.for_model(**to_hf_dict(config)))


def total(config):
    return sum(math.prod(shape) for shape in param_shapes(config).values())


@pytest.mark.parametrize("name, size", PRESETS, ids=[f"{n}-{s}" for n, s in PRESETS])
def test_preset_sizes_equal_transformers(name, size):
    config = preset(name, size)
    assert family_of(config).name == name
    model = meta_model(config)
    assert total(config) == model.num_parameters()
    spec = family(name)
    if name != "mixtral":  # transformers 5 holds Mixtral's experts fused in memory (its files keep HF's names)
        theirs = {n: tuple(p.shape) for n, p in model.state_dict().items() if not spec.hf_ignorable(n, config)}
        assert spec.hf_param_shapes(config) == theirs


@pytest.mark.parametrize("size, yaml_name", [
    ("llama2-7b", "predict_llama2_7b.yaml"), ("llama3-8b", "run_llama3_8b_8k_800T_A2_64G.yaml"),
    ("mixtral-8x7b", "finetune_mixtral-8x7b.yaml"), ("gpt2", "run_gpt2.yaml"), ("bloom-560m", "run_bloom_560m.yaml"),
    ("bloom-7b1", "run_bloom_7.1b.yaml")])
def test_presets_equal_mindformers_yamls(yaml_dir, size, yaml_name):
    config = preset(size)
    theirs = type(config).from_yaml(yaml_dir / yaml_name)
    assert param_shapes(config) == param_shapes(theirs)
    for key in ("seq_length", "vocab_size", "bos_token_id", "eos_token_id", "theta", "rms_norm_eps"):
        assert getattr(config, key, None) == getattr(theirs, key, None), key


def test_tiny_presets_are_what_the_tests_build():
    for name in presets():
        config = preset(name, "tiny")
        assert (config.num_layers, config.hidden_size, config.num_heads, config.vocab_size, config.seq_length) == \
            (2, 32, 4, 97, 32)
        assert config.compute_dtype == config.param_init_type == "float32"
    assert preset("llama", "tiny", num_layers=3, theta=1e6).num_layers == 3
    assert preset("mixtral", "tiny").moe_config.expert_num == 4
    assert preset("mixtral", "tiny") is not preset("mixtral", "tiny")  # no shared state between calls
    assert preset("llama3-8b").theta == 500000.0 and preset("llama3-8b").n_kv_heads == 8


@pytest.mark.parametrize("args, message", [
    (("tiny",), "several families have a size 'tiny': name one, as preset('bloom', 'tiny')"),
    (("llama3-9b",), "unknown preset 'llama3-9b' (did you mean 'llama3-8b'?)"),
    (("llama", "huge"), "family 'llama' has no size 'huge'"),
    (("lama", "tiny"), "unknown model family 'lama' (did you mean 'llama'?)"),
])
def test_preset_errors(args, message):
    with pytest.raises(ConfigError) as err:
        preset(*args)
    assert message in str(err.value)


def test_family_of_each_config():
    assert family_of(LlamaConfig()).name == "llama"
    assert family_of(LlamaConfig(moe_config={"expert_num": 4, "num_experts_chosen": 2})).name == "mixtral"
    assert family_of(LlamaConfig(hf_model_type="mistral")).name == "mistral"
    assert family_of(LlamaConfig(hf_model_type="gpt2")).name == "llama"  # a name that does not fit is ignored
    assert [s.name for s in families()][:5] == ["bloom", "gpt2", "llama", "mistral", "mixtral"]
    for spec in families():  # MindFormers' model_config type names are registered config classes
        assert isinstance(spec.config_class(), get("config", spec.mf_config_type))


def test_parts_registered_in_code():
    register_part("gpt2", "demo_plan", {"attention.dense1.weight": "column"})
    assert part("gpt2", "demo_plan") == {"attention.dense1.weight": "column"}
    assert family("gpt2").part("demo_plan") is part("gpt2", "demo_plan")
    assert part("bloom", "demo_plan", None) is None
    with pytest.raises(ConfigError, match="family 'bloom' has no 'demo_plan' part"):
        part("bloom", "demo_plan")
    with pytest.raises(ConfigError, match="unknown model family 'gtp2'"):
        register_part("gtp2", "demo_plan", {})


def test_parts_announced_by_entry_points(monkeypatch):
    """A package announces a part as an entry point of group mf.parts; it is imported when first asked for."""
    eps = [EntryPoint("llama.lora_targets", "json:dumps", "mf.parts"), EntryPoint("other.x", "json:loads", "mf.parts")]
    monkeypatch.setattr(mf_config.spec, "entry_points", lambda group: eps if group == "mf.parts" else [])
    import json

    assert part("llama", "lora_targets") is json.dumps
    assert mf_config.spec.parts("llama")["lora_targets"] is json.dumps
