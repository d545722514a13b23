"""AutoTokenizer on files, folders and the processor.tokenizer section of real MindFormers YAML files."""

import shutil

import pytest

from mf_tokenizers import AutoTokenizer, LlamaTokenizer, TokenizerError


def test_sentencepiece_file_and_folder(sp_model, sp_reference, tmp_path):
    tok = AutoTokenizer.from_pretrained(sp_model)
    assert type(tok) is LlamaTokenizer
    shutil.copy(sp_model, tmp_path / "tokenizer.model")
    tok = AutoTokenizer.from_pretrained(tmp_path)
    assert type(tok) is LlamaTokenizer and tok.encode("Hi") == [1, *sp_reference.encode("Hi")]


def test_mindformers_yaml_section(mf_assets, sp_model, sp_reference):
    yaml = mf_assets / "mindformers-yaml" / "finetune_mixtral-8x7b.yaml"
    tok = AutoTokenizer.from_pretrained(yaml, overrides=[f"processor.tokenizer.vocab_file={sp_model}"])
    assert type(tok) is LlamaTokenizer
    assert tok.pad_token == "<unk>" and tok.encode("Hi") == [1, *sp_reference.encode("Hi")]
    tok = AutoTokenizer.from_pretrained(mf_assets / "mindformers-yaml" / "predict_llama2_7b.yaml",
                                        vocab_file=str(sp_model), add_eos_token=True)
    assert tok.encode("Hi")[-1] == tok.eos_token_id == 2


def test_yaml_with_missing_vocab_file_names_key_and_line(mf_assets):
    yaml = mf_assets / "mindformers-yaml" / "predict_mixtral-8x7b.yaml"
    with pytest.raises(TokenizerError) as e:
        AutoTokenizer.from_pretrained(yaml)
    assert e.value.key == "processor.tokenizer.vocab_file" and e.value.line == 193
    assert "/.../tokenizer.model" in str(e.value)


def test_yaml_with_unknown_option(mf_assets, sp_model, tmp_path):
    yaml = tmp_path / "task.yaml"
    yaml.write_text(f"processor:\n  tokenizer:\n    type: LlamaTokenizer\n    vocab_file: {sp_model}\n"
                    "    add_bos: true\n")
    with pytest.raises(TokenizerError) as e:
        AutoTokenizer.from_pretrained(yaml)
    assert e.value.key == "processor.tokenizer.add_bos" and e.value.line == 5


def test_unknown_type_and_missing_path(tmp_path):
    yaml = tmp_path / "task.yaml"
    yaml.write_text("processor:\n  tokenizer:\n    type: LlamaTokeniser\n")
    with pytest.raises(TokenizerError, match="LlamaTokenizer"):
        AutoTokenizer.from_pretrained(yaml)
    with pytest.raises(TokenizerError, match="no such file or folder"):
        AutoTokenizer.from_pretrained(tmp_path / "nothing")
    with pytest.raises(TokenizerError, match="no tokenizer files found"):
        AutoTokenizer.from_pretrained(tmp_path)


def test_registry_finds_every_class():
    import mf_tokenizers
    from mf_config.registry import get

    for name in ("LlamaTokenizer", "LlamaTokenizerFast", "Llama3Tokenizer", "GPT2Tokenizer", "GPT2TokenizerFast",
                 "BloomTokenizerFast", "PreTrainedTokenizerFast"):
        assert get("tokenizer", name) is getattr(mf_tokenizers, name)
    assert get("tokenizer", "BloomTokenizer") is mf_tokenizers.BloomTokenizerFast


def test_build_from_a_yaml_section(sp_model, sp_reference):
    from mf_config import build

    tok = build({"type": "LlamaTokenizer", "vocab_file": str(sp_model), "add_eos_token": True}, "tokenizer")
    assert type(tok) is LlamaTokenizer and tok.encode("Hi") == [1, *sp_reference.encode("Hi"), 2]


def test_bloom_yaml(mf_assets, gpt2_fast, tmp_path):
    from mf_tokenizers import BloomTokenizerFast

    yaml = mf_assets / "mindformers-yaml" / "run_bloom_560m.yaml"
    with pytest.raises(TokenizerError) as e:
        AutoTokenizer.from_pretrained(yaml)
    assert e.value.key == "processor.tokenizer.tokenizer_file" and "needs tokenizer_file" in str(e.value)
    gpt2_fast.save_pretrained(tmp_path)
    tok = AutoTokenizer.from_pretrained(yaml, vocab_file=str(tmp_path / "tokenizer.json"))
    assert type(tok) is BloomTokenizerFast and tok.encode("hello world") == gpt2_fast.encode("hello world")


def test_folder_detection(tokenizers_dir, gpt2_fast, gpt2_slow, llama3, tmp_path):
    from mf_tokenizers import GPT2Tokenizer, GPT2TokenizerFast, Llama3Tokenizer, PreTrainedTokenizerFast

    gpt2_slow.save_pretrained(tmp_path / "vm")
    (tmp_path / "vm" / "tokenizer_config.json").unlink()
    assert type(AutoTokenizer.from_pretrained(tmp_path / "vm")) is GPT2TokenizerFast
    assert type(AutoTokenizer.from_pretrained(tmp_path / "vm", use_fast=False)) is GPT2Tokenizer
    assert type(AutoTokenizer.from_pretrained(tmp_path / "vm" / "vocab.json")) is GPT2TokenizerFast
    assert AutoTokenizer.from_pretrained(tmp_path / "vm").encode(" x y") == gpt2_slow.encode(" x y")

    shutil.copy(tokenizers_dir / "cl100k_base.tiktoken", tmp_path / "tokenizer.model")
    assert type(AutoTokenizer.from_pretrained(tmp_path)) is Llama3Tokenizer
    gpt2_fast.save_pretrained(tmp_path / "g")
    (tmp_path / "g" / "tokenizer_config.json").unlink()
    assert type(AutoTokenizer.from_pretrained(tmp_path / "g")) is PreTrainedTokenizerFast
    assert type(AutoTokenizer.from_pretrained(tmp_path / "g" / "tokenizer.json")) is PreTrainedTokenizerFast
    assert type(AutoTokenizer.from_pretrained(tokenizers_dir / "gpt2.tiktoken")) is GPT2TokenizerFast
    assert llama3.encode("x") == AutoTokenizer.from_pretrained(tmp_path).encode("x")


def test_tokenizer_config_keys(sp_model, tmp_path):
    import json

    shutil.copy(sp_model, tmp_path / "tokenizer.model")
    config = {"tokenizer_class": "LlamaTokenizer", "add_eos_token": True, "legacy": True, "padding_side": "left",
              "clean_up_tokenization_spaces": False, "sp_model_kwargs": {}, "name_or_path": "x"}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    tok = AutoTokenizer.from_pretrained(tmp_path)
    assert tok.add_eos_token and tok.padding_side == "left"
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({**config, "do_magic": 1}))
    with pytest.raises(TokenizerError, match="does not take option.*do_magic") as e:
        AutoTokenizer.from_pretrained(tmp_path)
    assert e.value.file.endswith("tokenizer_config.json") and e.value.key == "do_magic"
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({**config, "add_prefix_space": True}))
    with pytest.raises(TokenizerError, match="add_prefix_space=true is not supported"):
        AutoTokenizer.from_pretrained(tmp_path)
    (tmp_path / "tokenizer_config.json").write_text("{broken")
    with pytest.raises(TokenizerError, match="invalid JSON") as e:
        AutoTokenizer.from_pretrained(tmp_path)
    assert e.value.line == 1
