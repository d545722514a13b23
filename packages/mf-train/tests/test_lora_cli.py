"""`mf-train merge-lora` as a user runs it: the merged folder loads in mf-generate and converts with mf-ckpt."""

import json

import numpy as np
import peft
import pytest
import torch
import transformers
from click.testing import CliRunner

from mf_ckpt.cli import main as mf_ckpt
from mf_ckpt.manifest import verify
from mf_models.auto import AutoModel
from mf_train.cli import main
from mf_train.lora import apply_lora
from mf_train.lora_io import save_lora

from .lora_support import (
    BATCH,
    build,
    hf_folders,
    logits,
    pynative_module,  # noqa: F401 (an autouse fixture)
    randomize_adapters,
    set_mode,
)


def run(*args, cli=main):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def adapted(tmp_path_factory):
    """(folder, adapted model): a tiny Llama's base folder (with a tokenizer file) and an adapter of it."""
    set_mode(False)
    tmp = tmp_path_factory.mktemp("merge")
    model = build("llama")
    model.save_pretrained(tmp / "base")
    (tmp / "base" / "tokenizer_config.json").write_text('{"model_max_length": 32}')
    apply_lora(model, {"lora_rank": 4, "lora_alpha": 8, "target_modules": ".*wq|.*wv|.*w2"})
    randomize_adapters(model)
    save_lora(model, tmp / "adapter")
    return tmp, model


def test_merged_folder_loads_in_mf_generate_and_converts_with_mf_ckpt(adapted):
    tmp, model = adapted
    result = run("merge-lora", "--base", tmp / "base", "--adapter", tmp / "adapter", "--output_dir", tmp / "out")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("merged LoRA (rank 4, alpha 8, .*wq|.*wv|.*w2) into LlamaForCausalLM (")
    out = tmp / "out"
    # the commit marker: mf-models' save_pretrained publishes config.json and the weights as one unit
    assert sorted(p.name for p in out.iterdir()) == [".model.safetensors.commit", "SHA256SUMS.json", "config.json",
                                                     "model.safetensors", "tokenizer_config.json"]
    verify(out)
    assert json.loads((out / "config.json").read_text())["pet_config"] is None
    merged = AutoModel.from_pretrained(out)
    expected = logits(model)
    assert np.abs(logits(merged) - expected).max() < 1e-5
    from mf_generate.generate import generate
    from mf_generate.loading import load_pretrained

    served, _ = load_pretrained(out)
    prompt = BATCH[:, :5].tolist()
    assert generate(served, prompt, do_sample=False, max_new_tokens=6) == \
        generate(model, prompt, do_sample=False, max_new_tokens=6)  # the adapted model through prefill/decode
    result = run("convert", "--reversed", "--input_path", out, "--output_path", tmp / "hf", cli=mf_ckpt)
    assert result.exit_code == 0, result.output
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp / "hf").eval()
    with torch.no_grad():
        assert np.abs(hf(torch.tensor(BATCH, dtype=torch.long)).logits.numpy() - expected).max() < 1e-4


def test_hf_base_with_a_peft_adapter_merges_as_peft_merges(tmp_path):
    set_mode(False)
    hf_folders(tmp_path, "llama")
    torch.manual_seed(2)
    base = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf")
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "o_proj"], init_lora_weights=False)
    peft.get_peft_model(base, config).save_pretrained(tmp_path / "peft")
    result = run("merge-lora", "--base", tmp_path / "hf", "--adapter", tmp_path / "peft", "--output_dir",
                 tmp_path / "out")
    assert result.exit_code == 0, result.output
    oracle = peft.PeftModel.from_pretrained(transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf"),
                                            tmp_path / "peft").merge_and_unload().eval()
    with torch.no_grad():
        expected = oracle(torch.tensor(BATCH, dtype=torch.long)).logits.numpy()
    assert np.abs(logits(AutoModel.from_pretrained(tmp_path / "out")) - expected).max() < 1e-4


def test_bad_input_exits_2_with_one_line(adapted, tmp_path):
    tmp, _ = adapted
    (tmp_path / "file").write_text("x")
    gpt2 = build("gpt2")
    apply_lora(gpt2, {"lora_rank": 2})
    save_lora(gpt2, tmp_path / "gpt2-adapter")
    cases = [
        (("--base", tmp_path / "none", "--adapter", tmp / "adapter", "--output_dir", tmp_path / "o"),
         "--base: expected a model folder with config.json"),
        (("--base", tmp / "base", "--adapter", tmp_path / "none", "--output_dir", tmp_path / "o"),
         "--adapter: no such adapter file or folder"),
        (("--base", tmp / "base", "--adapter", tmp / "adapter", "--output_dir", tmp / "base"),
         "--output_dir: the output would overwrite (or lie inside) the --base input"),
        (("--base", tmp / "base", "--adapter", tmp / "adapter", "--output_dir", tmp_path / "file"),
         "--output_dir: exists and is not a model folder (not replaced)"),
        (("--base", tmp / "base", "--adapter", tmp_path / "gpt2-adapter", "--output_dir", tmp_path / "o"),
         "does not fit LlamaForCausalLM"),
    ]
    for args, message in cases:
        result = run("merge-lora", *args)
        assert result.exit_code == 2, result.output
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ") and message in result.stderr
    assert not (tmp_path / "o").exists() and (tmp_path / "file").read_text() == "x"
