import subprocess
import sys

import pytest
import transformers
from click.testing import CliRunner

from mf_models import __version__
from mf_models.cli import main

COUNTS = {"run_llama3_8b_8k_800T_A2_64G.yaml": "8,030,261,248", "predict_llama3_8b_800T_A2_64G.yaml": "8,030,261,248",
          "finetune_llama2_7b.yaml": "6,738,415,616", "predict_llama2_7b.yaml": "6,738,415,616",
          "finetune_mixtral-8x7b.yaml": "46,702,792,704", "pretrain_mixtral-8x7b.yaml": "46,702,792,704",
          "run_gpt2.yaml": "124,439,808", "run_bloom_560m.yaml": "559,214,592", "run_bloom_7.1b.yaml": "7,069,016,064"}


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_version():
    result = run("--version")
    assert result.exit_code == 0
    assert result.output.strip() == "mf-models, version " + __version__


def test_list():
    result = run("list")
    assert result.exit_code == 0
    for name in ("LlamaForCausalLM", "GPT2LMHeadModel", "BloomLMHeadModel", "Mixtral"):
        assert name in result.output


@pytest.mark.parametrize("yaml_name", COUNTS)
def test_params_of_mindformers_yamls(mf_assets, yaml_name):
    result = run("params", str(mf_assets / "mindformers-yaml" / yaml_name))
    assert result.exit_code == 0, result.output
    total = [line for line in result.output.splitlines() if line.strip().startswith("total")]
    assert total[0].split()[-1] == COUNTS[yaml_name]
    assert "GiB bf16" in result.output and "AdamW" in result.output


@pytest.mark.parametrize("family", ["llama", "mixtral"])
def test_params_of_hf_config_json_equal_transformers(tmp_path, family):
    kw = dict(vocab_size=1000, hidden_size=64, intermediate_size=160, num_hidden_layers=3, num_attention_heads=8,
              num_key_value_heads=2)
    if family == "llama":
        hf = transformers.LlamaConfig(**kw)
        model = transformers.LlamaForCausalLM(hf)
    else:
        hf = transformers.MixtralConfig(num_local_experts=4, num_experts_per_tok=2, **kw)
        model = transformers.MixtralForCausalLM(hf)
    hf.save_pretrained(tmp_path)
    result = run("params", str(tmp_path / "config.json"))
    assert result.exit_code == 0, result.output
    assert f"{model.num_parameters():,}" in result.output


def test_params_with_overrides(mf_assets):
    path = str(mf_assets / "mindformers-yaml" / "run_gpt2.yaml")
    small = run("params", path, "--set", "num_layers=1", "--set", "vocab_size=60000")
    assert small.exit_code == 0
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=1, vocab_size=60000))
    assert f"{hf.num_parameters():,}" in small.output


def test_params_reports_a_bad_value_in_one_line(mf_assets):
    result = run("params", str(mf_assets / "mindformers-yaml" / "run_gpt2.yaml"), "--set", "num_heads=7")
    assert result.exit_code == 2
    assert "model.model_config.hidden_size" in result.output and "num_heads (7)" in result.output
    assert "Traceback" not in result.output


def test_package_and_cli_import_without_mindspore():
    code = ("import sys, mf_models, mf_models.cli; assert 'mindspore' not in sys.modules\n"
            "assert {'AutoModel', 'CausalLM', 'DecodeSession', 'LlamaForCausalLM'} <= set(dir(mf_models))\n"
            "assert 'mindspore' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
