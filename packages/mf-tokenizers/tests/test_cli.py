"""The mf-tokenizers command: encode, decode, info, convert; bad input gives one line and exit code 2."""

import json

import pytest
from click.testing import CliRunner

from mf_tokenizers import AutoTokenizer, GPT2Tokenizer, LlamaTokenizerFast, PreTrainedTokenizerFast, __version__
from mf_tokenizers.cli import main


@pytest.fixture()
def runner():
    return CliRunner()


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == "mf-tokenizers, version " + __version__


def test_help():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "Usage: mf-tokenizers" in result.output


def test_encode_decode_files(runner, sp_model, llama, pydocs_lines, tmp_path):
    src = tmp_path / "in.txt"
    texts = pydocs_lines[:500]
    src.write_text("\n".join(texts) + "\n", encoding="utf-8")
    ids_file = tmp_path / "ids.txt"
    result = runner.invoke(main, ["encode", "--tokenizer", str(sp_model), "--input", str(src), "--output",
                                  str(ids_file)])
    assert result.exit_code == 0, result.output
    ids = llama(texts)["input_ids"]
    assert ids_file.read_text().splitlines() == [" ".join(map(str, x)) for x in ids]
    assert f"encoded 500 lines, {sum(map(len, ids))} tokens" in result.stderr and "tokens/s" in result.stderr
    result = runner.invoke(main, ["decode", "--tokenizer", str(sp_model), "--input", str(ids_file),
                                  "--skip-special-tokens"])
    assert result.exit_code == 0 and result.stdout.splitlines() == texts


def test_encode_stdin_jsonl_without_special_tokens(runner, tokenizers_dir, gpt2_tiktoken):
    result = runner.invoke(main, ["encode", "--tokenizer", str(tokenizers_dir / "gpt2.tiktoken"), "--format", "jsonl",
                                  "--no-add-special-tokens"], input="hello world\n\nsecond line\n")
    assert result.exit_code == 0
    rows = [json.loads(x)["input_ids"] for x in result.stdout.splitlines()]
    assert rows == [gpt2_tiktoken.encode("hello world"), [], gpt2_tiktoken.encode("second line")]
    result = runner.invoke(main, ["decode", "--tokenizer", str(tokenizers_dir / "gpt2.tiktoken"), "--format", "jsonl"],
                           input=result.stdout)
    assert result.stdout == "hello world\n\nsecond line\n"


def test_invalid_utf8_stops_with_line_number_or_is_replaced(runner, sp_model, tmp_path):
    src = tmp_path / "bad.txt"
    src.write_bytes(b"fine\nstill fine\nbroken \xff\xfe here\n")
    out = tmp_path / "out.txt"
    result = runner.invoke(main, ["encode", "--tokenizer", str(sp_model), "--input", str(src), "--output", str(out)])
    assert result.exit_code == 2
    assert f"{src}:3: invalid UTF-8" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()
    result = runner.invoke(main, ["encode", "--tokenizer", str(sp_model), "--input", str(src), "--errors", "replace"])
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 3


def test_bad_ids_and_missing_tokenizer(runner, sp_model, tmp_path):
    result = runner.invoke(main, ["decode", "--tokenizer", str(sp_model)], input="1 2 3\n4 five\n")
    assert result.exit_code == 2 and "<stdin>:2: expected space-separated integer ids" in result.stderr
    result = runner.invoke(main, ["decode", "--tokenizer", str(sp_model)], input="1 99999\n")
    assert result.exit_code == 2 and "token id 99999 is out of range" in result.stderr
    result = runner.invoke(main, ["encode", "--tokenizer", str(tmp_path / "nope.model")], input="x\n")
    assert result.exit_code == 2 and "nope.model: no such file" in result.stderr


def test_info(runner, tokenizers_dir):
    result = runner.invoke(main, ["info", str(tokenizers_dir / "cl100k_base.tiktoken"), "--json"])
    data = json.loads(result.stdout)
    assert data["class"] == "Llama3Tokenizer" and data["vocab_size"] == 100512
    assert data["special_tokens"]["bos_token"] == ["<|begin_of_text|>", 100256]
    result = runner.invoke(main, ["info", str(tokenizers_dir / "mistral-7b-v0.1.sp.model")])
    assert "class: LlamaTokenizer" in result.stdout and "eos_token: </s> = 2" in result.stdout


def test_convert_sentencepiece_to_tokenizer_json(runner, sp_model, llama, pydocs_lines, tmp_path):
    result = runner.invoke(main, ["convert", "--tokenizer", str(sp_model), "--output", str(tmp_path / "fast")])
    assert result.exit_code == 0, result.output
    fast = AutoTokenizer.from_pretrained(tmp_path / "fast")
    assert type(fast) is LlamaTokenizerFast
    assert fast(pydocs_lines)["input_ids"] == llama(pydocs_lines)["input_ids"]


def test_convert_tiktoken(runner, tokenizers_dir, llama3, gpt2_tiktoken, pydocs_lines, tmp_path):
    texts = pydocs_lines[:3000]
    result = runner.invoke(main, ["convert", "--tokenizer", str(tokenizers_dir / "cl100k_base.tiktoken"),
                                  "--output", str(tmp_path / "l3")])
    assert result.exit_code == 0, result.output
    fast = AutoTokenizer.from_pretrained(tmp_path / "l3")
    assert type(fast) is PreTrainedTokenizerFast and fast.add_bos_token
    assert fast(texts)["input_ids"] == llama3(texts)["input_ids"]
    result = runner.invoke(main, ["convert", "--tokenizer", str(tokenizers_dir / "gpt2.tiktoken"), "--to",
                                  "vocab-merges", "--output", str(tmp_path / "gpt2")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "gpt2").iterdir()) == ["merges.txt", "tokenizer_config.json",
                                                                     "vocab.json"]
    slow = AutoTokenizer.from_pretrained(tmp_path / "gpt2")
    assert type(slow) is GPT2Tokenizer
    assert slow(texts)["input_ids"] == gpt2_tiktoken.encode_ordinary_batch(texts)
    result = runner.invoke(main, ["convert", "--tokenizer", str(tokenizers_dir / "cl100k_base.tiktoken"), "--to",
                                  "vocab-merges", "--output", str(tmp_path / "x")])
    assert result.exit_code == 2 and "GPT-2 tokenizers only" in result.stderr


def test_yaml_with_set(runner, mf_assets, sp_model, sp_reference):
    yaml = mf_assets / "mindformers-yaml" / "predict_mixtral-8x7b.yaml"
    args = ["encode", "--tokenizer", str(yaml), "--set", f"processor.tokenizer.vocab_file={sp_model}"]
    result = runner.invoke(main, args, input="Hello\n")
    assert result.exit_code == 0 and result.stdout == " ".join(map(str, [1, *sp_reference.encode("Hello")])) + "\n"
    result = runner.invoke(main, ["info", str(yaml)])
    assert result.exit_code == 2 and "processor.tokenizer.vocab_file: no such file: /.../tokenizer.model" in \
        result.stderr and f"{yaml}:193" in result.stderr
    result = runner.invoke(main, ["info", str(sp_model), "--set", "a=1"])
    assert result.exit_code == 2 and "overrides apply to a MindFormers YAML only" in result.stderr


def test_reader_that_stops_early(sp_model, mf_assets):
    import subprocess
    import sys

    code = "from mf_tokenizers.cli import main; main()"
    with open(mf_assets / "text" / "pydocs.txt", "rb") as src:
        proc = subprocess.Popen([sys.executable, "-c", code, "encode", "--tokenizer", str(sp_model)], stdin=src,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read().decode()
        proc.wait(timeout=60)
    assert first.split()[0] == b"1" and proc.returncode == 1 and "Traceback" not in err and "Error" not in err
