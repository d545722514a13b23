"""What a new user tries first, with the checkpoints and commands people have: bfloat16/float16 Hugging Face folders
(the same tokens as transformers on the upcast weights), the root README's five lines, a tokenizer's output as
input, the folder's generation_config.json, a YAML that does not fit its checkpoint, checkpoint_name_or_path, a lone
merged .safetensors, MindFormers' flags, and auto_register with --register_path as MindFormers' Llama 3.1 example
uses them."""

import json
import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import transformers
from click.testing import CliRunner

from mf_generate import generate
from mf_generate.cli import main
from mf_models import AutoModel

from .helpers import SENTENCES, make_hf_model, texts

ROOT = Path(__file__).resolve().parents[3]
PROMPTS = [[5, 17, 33, 2, 70, 4, 9], [61, 3, 8]]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def transformers_greedy(model, prompt, new=10):
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                             do_sample=False, max_new_tokens=new, eos_token_id=None, pad_token_id=0)
    return out[0].tolist()


@pytest.fixture(scope="module")
def hf_trained(trained, tmp_path_factory):
    """The memorised tiny Llama as a Hugging Face folder (mf-ckpt convert --reversed: tokenizer files carried, a
    generation_config.json written from the model config)."""
    from mf_ckpt.conversion import convert

    folder = tmp_path_factory.mktemp("hf_trained") / "Meta-Llama-3-8B"
    convert(trained[0], folder, reversed=True)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_folders_generate_what_transformers_generates(tmp_path, dtype):
    """The weights as published (bf16, fp16); transformers runs them upcast to float32, and so do we: bfloat16
    by default on the CPU backend, float16 when asked (dtype=)."""
    hf = make_hf_model("llama").to(getattr(torch, dtype))
    hf.save_pretrained(tmp_path)
    upcast = transformers.AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.float32).eval()
    ours = AutoModel.from_pretrained(tmp_path) if dtype == "bfloat16" else \
        AutoModel.from_pretrained(tmp_path, dtype="float32")
    assert ours.config.param_init_type == "float32"
    expected = [transformers_greedy(upcast, p) for p in PROMPTS]
    assert generate(ours, PROMPTS, max_new_tokens=10, do_sample=False, eos_token_id=[]) == expected


@pytest.mark.slow
def test_readme_five_lines(hf_trained, memorised):
    """The root README's block, run as it is with the folder's name, prints transformers' greedy continuation."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = re.search(r"<!-- five-lines.*?-->\n```python\n(.*?)```", readme, re.S).group(1)
    assert len(code.strip().splitlines()) == 5
    run = subprocess.run([sys.executable, "-c", code], cwd=hf_trained.parent, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    hf = transformers.AutoModelForCausalLM.from_pretrained(hf_trained).eval()
    tok = transformers.AutoTokenizer.from_pretrained(hf_trained)
    with torch.no_grad():
        ids = hf.generate(**tok("The capital of France is", return_tensors="pt"), max_new_tokens=20)[0].tolist()
    assert run.stdout == memorised[1].decode(ids) + "\n"


def test_tokenizer_output_as_input(memorised):
    model, tok = memorised
    texts = ["A tiny", "MindSpore runs the"]
    alone = [generate(model, [tok.encode(t)], max_new_tokens=6, do_sample=False)[0] for t in texts]
    assert generate(model, tok(texts[0], return_tensors="np"), max_new_tokens=6, do_sample=False) == alone[:1]
    tok.padding_side = "left"
    try:
        batch = tok(texts, padding=True, return_tensors="np")
    finally:
        tok.padding_side = "right"
    assert (batch["attention_mask"] == 0).any()  # rows padded on the left: the mask says which ids are real
    assert generate(model, **batch, max_new_tokens=6, do_sample=False) == alone


@pytest.mark.slow
def test_generation_config_json_then_the_model_config(trained, tmp_path, memorised, caplog):
    folder = tmp_path / "model"
    shutil.copytree(trained[0], folder)
    r = invoke("run", "--model", folder, "--predict_data", "MindSpore runs")
    assert r.exit_code == 0, r.output
    assert "decoding: greedy, max_length 64" in r.stderr and "(defaults from the model config)" in r.stderr
    (folder / "generation_config.json").write_text(json.dumps({"do_sample": False, "max_new_tokens": 3,
                                                               "_from_model_config": True, "num_beams": 1}))
    r = invoke("run", "--model", folder, "--predict_data", "MindSpore runs")
    assert r.exit_code == 0, r.output
    model, tok = memorised
    ids = generate(model, [tok.encode("MindSpore runs")], max_new_tokens=3, do_sample=False)[0]
    assert texts(r.stdout) == [tok.decode(ids, skip_special_tokens=True)]
    assert r.stderr.count("decoding: greedy, max_new_tokens 3,") == 1
    assert "(defaults from generation_config.json)" in r.stderr
    with caplog.at_level(logging.WARNING, logger="mf_generate"):
        generate(model, [tok.encode("MindSpore runs")], max_new_tokens=500, do_sample=False)
    n = len(tok.encode("MindSpore runs"))
    assert f"max_new_tokens 500 capped by the model's seq_length 64: at most {64 - n} new tokens after a prompt " \
           f"of {n}" in caplog.text


def test_yaml_that_does_not_fit_its_checkpoint(trained, mf_assets):
    """predict_llama2_7b.yaml with a small checkpoint: stopped before the 7B network is built, with the overrides."""
    r = invoke("run", "--config", mf_assets / "mindformers-yaml" / "predict_llama2_7b.yaml", "--load_checkpoint",
               trained[0], "--set", "context.device_target=CPU", "--predict_data", "hi")
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "does not fit the llama config" in r.stderr and "--set model.model_config.num_layers=2" in r.stderr
    assert f"the checkpoint has its own config: {trained[0] / 'config.json'}" in r.stderr


def test_checkpoint_name_or_path(trained, mf_assets, tmp_path):
    folder, _ = trained
    yaml = tmp_path / "predict.yaml"
    yaml.write_text(json.dumps({
        "run_mode": "predict", "context": {"mode": 0, "device_target": "CPU"},
        "model": {"model_config": {**json.loads((folder / "config.json").read_text()),
                                   "checkpoint_name_or_path": str(folder)}, "arch": {"type": "LlamaForCausalLM"}},
        "processor": {"tokenizer": {"type": "LlamaTokenizer", "vocab_file": str(folder / "tokenizer.model")}}}))
    r = invoke("run", "--config", yaml, "--predict_data", "A tiny", "--max_new_tokens", "50")
    assert r.exit_code == 0, r.output
    assert texts(r.stdout) == [SENTENCES[2]]
    r = invoke("run", "--config", mf_assets / "mindformers-yaml" / "predict_llama2_7b.yaml", "--predict_data", "hi")
    assert r.exit_code == 2
    assert "model.model_config.checkpoint_name_or_path: names 'llama2_7b', which is not a file or folder" in r.stderr


def test_lone_merged_safetensors(trained, tmp_path):
    folder, _ = trained
    shutil.copyfile(folder / "model.safetensors", tmp_path / "merged.safetensors")
    r = invoke("run", "--load_checkpoint", tmp_path / "merged.safetensors", "--predict_data", "hi")
    assert r.exit_code == 2 and r.stderr == (f"Error: {tmp_path / 'merged.safetensors'}: no config.json beside it; "
                                             "pass --config\n")
    r = invoke("run", "--load_checkpoint", tmp_path / "merged.safetensors", "--config", folder / "config.json",
               "--vocab_file", folder / "tokenizer.model", "--predict_data", "A tiny", "--max_new_tokens", "50")
    assert r.exit_code == 0, r.output
    assert texts(r.stdout) == [SENTENCES[2]]


def test_mindformers_flags(trained):
    r = invoke("run", "--model", trained[0], "--predict_data", "A tiny", "--max_new_tokens", "50", "--auto_trans_ckpt",
               "False", "--device_id", "0", "--use_parallel", "False", "--run_mode", "predict")
    assert r.exit_code == 0, r.output
    assert texts(r.stdout) == [SENTENCES[2]]
    for flag in ("--auto_trans_ckpt", "--device_id", "--use_parallel", "--register_path"):
        assert flag in invoke("run", "--help").output


TOKENIZER_MODULE = """from mf_tokenizers import LlamaTokenizer


class Llama3Tokenizer(LlamaTokenizer):
    '''The user's tokenizer (here a SentencePiece one under Llama 3.1's class name).'''
"""
MODEL_MODULE = """from mf_models import LlamaForCausalLM


class MyLlamaI16(LlamaForCausalLM):
    pass
"""


def test_auto_register_with_register_path(trained, tmp_path):
    """MindFormers' Llama 3.1 example: processor.tokenizer and model.arch name classes of a plain folder
    (no __init__.py); only those modules are imported, and only with --register_path."""
    folder, _ = trained
    user = tmp_path / "llama3_1"
    user.mkdir()
    (user / "llama3_1_tokenizer_i16.py").write_text(TOKENIZER_MODULE)
    (user / "my_llama_i16.py").write_text(MODEL_MODULE)
    (user / "unrelated_i16.py").write_text(f"open({str(tmp_path / 'imported')!r}, 'w').close()\n")
    yaml = tmp_path / "predict_llama3_1.yaml"
    yaml.write_text(json.dumps({
        "run_mode": "predict", "context": {"mode": 0, "device_target": "CPU"},
        "load_checkpoint": str(folder / "model.safetensors"),
        "model": {"model_config": json.loads((folder / "config.json").read_text()),
                  "arch": {"type": "MyLlamaI16", "auto_register": "my_llama_i16.MyLlamaI16"}},
        "processor": {"tokenizer": {"type": "Llama3Tokenizer", "vocab_file": str(folder / "tokenizer.model"),
                                    "auto_register": "llama3_1_tokenizer_i16.Llama3Tokenizer"}}}))
    r = invoke("run", "--config", yaml, "--predict_data", "MindSpore runs", "--max_new_tokens", "50")
    assert r.exit_code == 2 and "unknown model type 'MyLlamaI16'" in r.stderr  # not imported without it
    assert "my_llama_i16" not in sys.modules and "llama3_1_tokenizer_i16" not in sys.modules
    r = invoke("run", "--config", yaml, "--register_path", user, "--predict_data", "MindSpore runs",
               "--max_new_tokens", "50")
    assert r.exit_code == 0, r.output
    assert texts(r.stdout) == [SENTENCES[1]]
    assert {"my_llama_i16", "llama3_1_tokenizer_i16"} <= set(sys.modules) and "unrelated_i16" not in sys.modules
    assert not (tmp_path / "imported").exists() and not (user / "__init__.py").exists()
