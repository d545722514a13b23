"""HF config.json interop, checked against the config classes of `transformers` itself."""

import json

import pytest
import transformers

from mf_config import BloomConfig, ConfigError, GPT2Config, LlamaConfig, MixtralConfig
from mf_config.hf import from_hf_dict, to_hf_dict

CASES = [
    (transformers.LlamaConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                              intermediate_size=172, rope_theta=500000.0, vocab_size=1000), LlamaConfig,
     {"num_layers": 2, "n_kv_heads": 2, "theta": 500000.0, "ffn_hidden_size": 172, "vocab_size": 1000}),
    (transformers.LlamaConfig(num_hidden_layers=2, rope_scaling={"rope_type": "linear", "factor": 4.0}),
     LlamaConfig, {"extend_method": "PI", "scaling_factor": 4.0}),
    (transformers.LlamaConfig(num_hidden_layers=2, max_position_embeddings=131072, rope_theta=500000.0,
                              rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}),
     LlamaConfig, {"extend_method": "LLAMA3", "max_position_embedding": 131072, "theta": 500000.0,
                   "scaling_factor": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                      "original_max_position_embeddings": 8192}}),
    (transformers.MistralConfig(num_hidden_layers=3), LlamaConfig,
     {"num_layers": 3, "n_kv_heads": 8, "ffn_hidden_size": 14336}),
    (transformers.MixtralConfig(num_hidden_layers=2, num_local_experts=4, num_experts_per_tok=2), MixtralConfig,
     {"num_layers": 2, "is_moe": True}),
    (transformers.GPT2Config(n_layer=2, n_embd=64, n_head=4), GPT2Config,
     {"num_layers": 2, "hidden_size": 64, "num_heads": 4, "seq_length": 1024, "tie_word_embeddings": True}),
    (transformers.BloomConfig(n_layer=2, hidden_size=64, n_head=8), BloomConfig,
     {"num_layers": 2, "hidden_size": 64, "num_heads": 8}),
    (transformers.Qwen2Config(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                              intermediate_size=128, vocab_size=1000, tie_word_embeddings=True), LlamaConfig,
     {"qkv_has_bias": True, "theta": 10000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": True, "n_kv_heads": 2}),
]


@pytest.mark.parametrize("hf_config, cls, expected", CASES, ids=lambda c: getattr(c, "model_type", None))
def test_from_hf_and_back_keeps_every_field(hf_config, cls, expected, tmp_path):
    hf_config.save_pretrained(tmp_path)
    hf = json.loads((tmp_path / "config.json").read_text())
    ours = from_hf_dict(hf)
    assert type(ours) is cls
    for key, value in expected.items():
        assert getattr(ours, key) == value, key
    assert cls.from_pretrained(tmp_path) == ours
    back = to_hf_dict(ours)
    reloaded = type(hf_config).from_dict(back).to_dict()
    original = hf_config.to_dict()
    for key in ("transformers_version", "architectures", "dtype", "torch_dtype"):
        original.pop(key, None), reloaded.pop(key, None)
    assert reloaded == original
    if cls is MixtralConfig:
        assert (ours.moe_config.expert_num, ours.moe_config.num_experts_chosen) == (4, 2)


def test_round_trip_from_our_side():
    ours = LlamaConfig(num_layers=2, hidden_size=64, num_heads=4, n_kv_heads=2, theta=500000, vocab_size=128,
                       compute_dtype="float32", param_init_type="float32", extend_method="NTK", scaling_factor=2.0)
    again = from_hf_dict(to_hf_dict(ours))
    for name in ("num_layers", "hidden_size", "num_heads", "n_kv_heads", "theta", "vocab_size", "ffn_hidden_size",
                 "extend_method", "scaling_factor", "rms_norm_eps", "bos_token_id", "eos_token_id", "param_init_type"):
        assert getattr(again, name) == getattr(ours, name), name


def test_unsupported_model_type_and_rope():
    with pytest.raises(ConfigError, match="unsupported model_type 'bert'"):
        from_hf_dict({"model_type": "bert"})
    with pytest.raises(ConfigError, match="rope type 'yarn' is not supported .*llama3"):
        from_hf_dict({"model_type": "llama", "rope_scaling": {"rope_type": "yarn", "factor": 2.0}})


def test_llama31_config_json_as_transformers_4_wrote_it():
    """meta-llama/Llama-3.1-8B's config.json (transformers 4): rope_theta and rope_scaling, no rope_parameters;
    transformers 5 reads it to the same rope parameters as our config written back."""
    hf = {"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2,
          "num_key_value_heads": 2, "intermediate_size": 128, "max_position_embeddings": 131072, "rope_theta": 500000.0,
          "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                           "original_max_position_embeddings": 8192, "rope_type": "llama3"}}
    ours = from_hf_dict(hf)
    assert (ours.extend_method, ours.theta, ours.scaling_factor["original_max_position_embeddings"]) == \
        ("LLAMA3", 500000.0, 8192)
    assert transformers.LlamaConfig.from_dict(to_hf_dict(ours)).rope_parameters == \
        transformers.LlamaConfig.from_dict(dict(hf)).rope_parameters
