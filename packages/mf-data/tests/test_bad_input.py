"""Bad input is reported with file and record/line; --skip_bad counts and skips; bad special ids stop before work."""

import json

import pytest

from .helpers import cli, preprocess, read_indexed


def run(*args):
    return cli("preprocess", "--no_progress", *args)


@pytest.fixture()
def broken_alpaca(tmp_path, alpaca_records):
    """Five real records; the third has lost a closing quote, the fifth lacks 'output'."""
    parts = [json.dumps(r, indent=1) for r in alpaca_records[:5]]
    parts[2] = parts[2].replace('",\n "input"', ',\n "input"', 1)
    parts[4] = json.dumps({"instruction": alpaca_records[4]["instruction"], "input": ""})
    path = tmp_path / "broken.json"
    path.write_text("[\n" + ",\n".join(parts) + "\n]\n", encoding="utf-8")
    return path


def test_malformed_json_record(tmp_path, broken_alpaca, sp_model):
    out = tmp_path / "out"
    args = ["--dataset_type", "alpaca", "--input_glob", broken_alpaca, "--tokenizer", sp_model, "--seq_length", 256,
            "--format", "indexed", "--output_file", out]
    result = run(*args)
    assert result.exit_code == 2
    starts = [i + 1 for i, ln in enumerate(broken_alpaca.read_text().splitlines()) if ln.strip() == "{"]
    assert f"{broken_alpaca}:{starts[2]}: record 3 is not valid JSON" in result.output
    assert not out.exists()
    result = run(*args, "--skip_bad")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("3 records,") and "2 bad skipped" in result.output
    assert len(read_indexed(out)) == 3


def test_missing_key_reported(tmp_path, alpaca_records, sp_model):
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps([*alpaca_records[:4], {"instruction": "x", "input": ""}], indent=1))
    result = run("--dataset_type", "alpaca", "--input_glob", fixed, "--tokenizer", sp_model, "--seq_length", 256,
                 "--format", "indexed", "--output_file", tmp_path / "o")
    assert result.exit_code == 2
    assert "record 5: missing key(s) output" in result.output and str(fixed) in result.output


def test_malformed_json_line(tmp_path, alpaca_records, sp_model):
    lines = [json.dumps(r) for r in alpaca_records[:4]]
    lines[1] = lines[1][:-5]
    src = tmp_path / "a.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ["--dataset_type", "alpaca", "--input_glob", src, "--tokenizer", sp_model, "--seq_length", 256,
            "--format", "indexed", "--output_file", tmp_path / "o"]
    result = run(*args)
    assert result.exit_code == 2 and f"{src}:2: record on line 2 is not valid JSON" in result.output
    assert "3 records," in run(*args, "--skip_bad").output


def test_invalid_utf8_line(tmp_path, wiki_small, sp_model):
    raw = wiki_small.read_bytes().splitlines(keepends=True)[:300]
    i = next(i for i, ln in enumerate(raw) if i > 5 and len(ln) > 40)
    raw[i] = raw[i][:20] + b"\xff\xfe" + raw[i][20:]
    src = tmp_path / "bad.tokens"
    src.write_bytes(b"".join(raw))
    args = ["--dataset_type", "wiki", "--input_glob", src, "--tokenizer", sp_model, "--seq_length", 64,
            "--format", "indexed", "--output_file", tmp_path / "o"]
    result = run(*args)
    assert result.exit_code == 2
    assert f"{src}:{i + 1}: line is not valid UTF-8 (invalid start byte at column 21)" in result.output
    assert not (tmp_path / "o").exists()
    result = run(*args, "--skip_bad")
    assert result.exit_code == 0 and "1 bad skipped" in result.output


def test_invalid_utf8_in_json(tmp_path, alpaca_records, sp_model):
    text = json.dumps(alpaca_records[:3], indent=1).encode()
    pos = text.index(alpaca_records[1]["output"][:10].encode())
    src = tmp_path / "a.json"
    src.write_bytes(text[:pos] + b"\xc3\x28" + text[pos:])
    args = ["--dataset_type", "alpaca", "--input_glob", src, "--tokenizer", sp_model, "--seq_length", 256,
            "--format", "indexed", "--output_file", tmp_path / "o"]
    result = run(*args)
    assert result.exit_code == 2
    line = text[:pos].count(b"\n") + 1
    assert f"{src}:{line}: not valid UTF-8" in result.output
    result = run(*args, "--skip_bad")
    assert result.exit_code == 0 and result.output.startswith("2 records,") and "1 bad skipped" in result.output


@pytest.mark.parametrize("option, message", [
    (["--pad_token_id", "2"], "pad_token_id 2 equals eos_token_id"),
    (["--pad_token_id", "1"], "pad_token_id 1 equals bos_token_id"),
    (["--pad_token_id", "415"], "pad_token_id 415 is an ordinary token"),
    (["--eos_token_id", "32000"], "eos_token_id 32000 is not in the vocabulary (0..31999)"),
])
def test_special_ids_checked_before_work(tmp_path, alpaca_small, sp_model, option, message):
    result = run("--dataset_type", "alpaca", "--input_glob", alpaca_small, "--tokenizer", sp_model, "--seq_length",
                 256, "--format", "indexed", "--output_file", tmp_path / "o", *option)
    assert result.exit_code == 2 and message in result.output
    assert list(tmp_path.iterdir()) == []


def test_yaml_tokenizer_and_ids(tmp_path, mf_assets, alpaca_small, sp_model):
    """A real MindFormers YAML, unchanged, with its vocab_file set from the command line."""
    yaml_file = mf_assets / "mindformers-yaml" / "finetune_llama2_7b.yaml"
    common = ["--dataset_type", "alpaca", "--input_glob", alpaca_small, "--tokenizer", yaml_file, "--seq_length", 256,
              "--format", "indexed", "--set", f"processor.tokenizer.vocab_file={sp_model}"]
    assert preprocess(*common, "--output_file", tmp_path / "o").startswith("399 records,")
    inspected = cli("inspect", tmp_path / "o", "--show", 1)  # the dataset remembers the YAML and its overrides
    assert inspected.exit_code == 0 and "learned" in inspected.output
    result = run(*common, "--output_file", tmp_path / "o2", "--set", "model.model_config.eos_token_id=3")
    assert result.exit_code == 2
    assert "model.model_config.eos_token_id: is 3 but the tokenizer's eos_token has id 2" in result.output
    assert not (tmp_path / "o2").exists()


def test_no_record_is_an_error(tmp_path, sp_model, wiki_small):
    src = tmp_path / "empty.json"
    src.write_text("[]\n")
    result = run("--dataset_type", "alpaca", "--input_glob", src, "--tokenizer", sp_model, "--seq_length", 64,
                 "--format", "indexed", "--output_file", tmp_path / "o")
    assert result.exit_code == 2 and "no record came out" in result.output
    result = run("--dataset_type", "wiki", "--input_glob", wiki_small, "--tokenizer", sp_model, "--seq_length",
                 10 ** 7, "--format", "mindrecord", "--output_file", tmp_path / "w.mindrecord")
    assert result.exit_code == 2 and "tokens short of one block of 10000001" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.json"]
