"""``mf-models params`` on MindFormers' own YAMLs of the larger Llamas (their model_config sections as MindFormers
ships them: configs/llama2, configs/codellama, research/llama3, research/llama3_1) counts what transformers counts
for the published checkpoints' config.json; Llama 3.1's RoPE scaling (MindFormers' LLAMA3, transformers' llama3)
gives transformers' logits."""

import copy
import math

import pytest
import torch
import transformers
from click.testing import CliRunner

from mf_config import LlamaConfig, param_shapes
from mf_models.cli import main

from .hf_oracle import compare

# model_config sections of MindFormers' YAMLs (v1.3.0), keys as shipped (dtypes and switches trimmed)
YAMLS = {
    "predict_llama2_13b.yaml": """
    seq_length: 4096
    hidden_size: 5120
    num_layers: 40
    num_heads: 40
    max_position_embedding: 4096
    vocab_size: 32000
    multiple_of: 256
    rms_norm_eps: 1.0e-5
    extend_method: "None" # support "None", "PI", "NTK"
    checkpoint_name_or_path: "llama2_13b"
""",
    "predict_llama2_70b.yaml": """
    seq_length: 4096
    hidden_size: 8192
    num_layers: 80
    num_heads: 64
    max_position_embedding: 4096
    vocab_size: 32000
    multiple_of: 256
    n_kv_heads: 8
    ffn_dim_multiplier: 1.3
    rms_norm_eps: 1.0e-5
    scaling_factor: 1.0
    extend_method: "None" # support "None", "PI", "NTK"
""",
    "predict_codellama_34b.yaml": """
    seq_length: 4096
    hidden_size: 8192
    num_layers: 48
    num_heads: 64
    vocab_size: 32000
    multiple_of: 256
    n_kv_heads: 8
    rms_norm_eps: 1.0e-5
    theta: 1000000.0
    scaling_factor: 1.0 # The scale factor of seq length
""",
    "predict_llama3_70b.yaml": """
    seq_length: 8192
    hidden_size: 8192
    num_layers: 80
    num_heads: 64
    n_kv_heads: 8
    ffn_dim_multiplier: 1.3
    multiple_of: 256
    vocab_size: 128256
    rms_norm_eps: 1.0e-5
    theta: 500000
""",
    "predict_llama3_1_8b.yaml": """
    seq_length: 512
    hidden_size: 4096
    num_layers: 32
    num_heads: 32
    n_kv_heads: 8
    vocab_size: 128256
    intermediate_size: 14336
    rms_norm_eps: 1.0e-5
    max_position_embedding: 131072
    theta: 500000
    extend_method: "LLAMA3" # support "None", "PI", "NTK", "LLAMA3"
    scaling_factor:
     factor: 8.0
     low_freq_factor: 1.0
     high_freq_factor: 4.0
     original_max_position_embeddings: 8192
    auto_map:
      AutoTokenizer: [ llama3_1_tokenizer.Llama3Tokenizer, null ]
""",
    "predict_llama3_1_70b.yaml": """
    seq_length: 8192
    hidden_size: 8192
    num_layers: 80
    num_heads: 64
    n_kv_heads: 8
    ffn_dim_multiplier: 1.3
    multiple_of: 256
    vocab_size: 128256
    theta: 500000
    max_position_embedding: 131072
    extend_method: "LLAMA3" # support "None", "PI", "NTK", "LLAMA3"
    scaling_factor:
     factor: 8.0
     low_freq_factor: 1.0
     high_freq_factor: 4.0
     original_max_position_embeddings: 8192
""",
}
LLAMA31_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 8192}
# the published checkpoints' config.json (meta-llama/Llama-2-13b-hf, Llama-2-70b-hf, CodeLlama-34b-hf,
# Meta-Llama-3-70B, Llama-3.1-8B, Llama-3.1-70B): the sizes that decide the parameter count
PUBLISHED = {
    "predict_llama2_13b.yaml": dict(hidden_size=5120, intermediate_size=13824, num_hidden_layers=40,
                                    num_attention_heads=40, num_key_value_heads=40, vocab_size=32000),
    "predict_llama2_70b.yaml": dict(hidden_size=8192, intermediate_size=28672, num_hidden_layers=80,
                                    num_attention_heads=64, num_key_value_heads=8, vocab_size=32000),
    "predict_codellama_34b.yaml": dict(hidden_size=8192, intermediate_size=22016, num_hidden_layers=48,
                                       num_attention_heads=64, num_key_value_heads=8, vocab_size=32000),
    "predict_llama3_70b.yaml": dict(hidden_size=8192, intermediate_size=28672, num_hidden_layers=80,
                                    num_attention_heads=64, num_key_value_heads=8, vocab_size=128256),
    "predict_llama3_1_8b.yaml": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                                     num_attention_heads=32, num_key_value_heads=8, vocab_size=128256,
                                     rope_scaling=LLAMA31_ROPE),
    "predict_llama3_1_70b.yaml": dict(hidden_size=8192, intermediate_size=28672, num_hidden_layers=80,
                                      num_attention_heads=64, num_key_value_heads=8, vocab_size=128256,
                                      rope_scaling=LLAMA31_ROPE),
}


def write_yaml(folder, name, model_config=None):
    """A task YAML holding ``YAMLS[name]`` (or ``model_config`` text) as its model.model_config."""
    path = folder / name
    path.write_text("run_mode: 'predict'\nmodel:\n  model_config:\n    type: LlamaConfig\n"
                    f"{model_config or YAMLS[name]}  arch:\n    type: LlamaForCausalLM\n", encoding="utf-8")
    return path


def published_count(name):
    with torch.device("meta"):  # a copy: transformers edits the rope_scaling dict it is given
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**copy.deepcopy(PUBLISHED[name])))
    return model.num_parameters()


@pytest.mark.parametrize("name", YAMLS)
def test_params_of_larger_llama_yamls_equal_the_published_models(tmp_path, name):
    result = CliRunner().invoke(main, ["params", str(write_yaml(tmp_path, name))])
    assert result.exit_code == 0, result.output
    total = [line for line in result.output.splitlines() if line.strip().startswith("total")]
    assert total[0].split()[-1] == f"{published_count(name):,}"


def test_llama31_yaml_reads_the_llama3_rope_scaling(tmp_path):
    config = LlamaConfig.from_yaml(write_yaml(tmp_path, "predict_llama3_1_8b.yaml"))
    assert config.extend_method == "LLAMA3"
    assert config.scaling_factor == {k: v for k, v in LLAMA31_ROPE.items() if k != "rope_type"}
    assert sum(math.prod(s) for s in param_shapes(config).values()) == published_count("predict_llama3_1_8b.yaml")


@pytest.mark.parametrize("scaling, message", [
    ("2.0", "extend_method LLAMA3 takes a mapping of factor, low_freq_factor"),
    ("{factor: 8.0, low_freq_factor: 1.0}", "missing high_freq_factor, original_max_position_embeddings"),
    ("{factor: 8.0, low_freq_factor: 4.0, high_freq_factor: 1.0, original_max_position_embeddings: 64}",
     "low_freq_factor (4.0) must be below high_freq_factor (1.0)"),
])
def test_llama3_scaling_factor_errors_name_the_key(tmp_path, scaling, message):
    text = f"    extend_method: LLAMA3\n    scaling_factor: {scaling}\n"
    result = CliRunner().invoke(main, ["params", str(write_yaml(tmp_path, "bad.yaml", text))])
    assert result.exit_code == 2 and "model.model_config.scaling_factor" in result.stderr
    assert message in result.stderr


def test_llama31_rope_scaling_logits_match_transformers(tmp_path):
    """A tiny Llama 3.1-style model (head_dim 8: wavelengths 6, 63, 628 and 6283; original length 16 and factors
    1 and 4 put the first in the blended band and slow the others down 8x)."""
    scaling = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 16}
    compare("llama", tmp_path, dict(extend_method="LLAMA3", scaling_factor=scaling, theta=10000.0,
                                    max_position_embedding=256))
