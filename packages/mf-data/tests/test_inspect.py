"""mf-data inspect: counts, columns, lengths, and records decoded with prompt (masked) and answer (learned) apart."""

from .helpers import cli, preprocess


def test_inspect_indexed_alpaca(tmp_path, alpaca_small, sp_model, alpaca_records):
    out = tmp_path / "alpaca"
    preprocess("--dataset_type", "alpaca", "--input_glob", alpaca_small, "--tokenizer", sp_model, "--seq_length", 512,
               "--format", "indexed", "--output_file", out)
    result = cli("inspect", out, "--show", 2)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "records: 400" in text and "columns: input_ids int32, labels int32" in text and "record length: 513" in text
    assert "tokens before padding: min " in text
    lines = text.splitlines()
    for i in range(2):
        r = alpaca_records[i]
        start = lines.index(next(ln for ln in lines if ln.startswith(f"record {i}:")))
        masked, learned = lines[start + 1], lines[start + 2]
        assert masked.lstrip().startswith("masked") and repr(r["instruction"])[1:-1] in masked
        assert learned.lstrip().startswith("learned") and repr(r["output"])[1:-1] in learned


def test_inspect_mindrecord_wiki(tmp_path, wiki_small, sp_model):
    out = tmp_path / "wiki.mindrecord"
    preprocess("--dataset_type", "wiki", "--input_glob", wiki_small, "--tokenizer", sp_model, "--seq_length", 64,
               "--format", "mindrecord", "--output_file", out)
    result = cli("inspect", out, "--tokenizer", sp_model, "--show", 1)
    assert result.exit_code == 0, result.output
    assert "format: MindRecord" in result.output and "columns: input_ids int32" in result.output
    assert "full-length records" in result.output and "These documents are generated" in result.output
    assert cli("inspect", tmp_path).exit_code == 0  # a folder of MindRecord files
