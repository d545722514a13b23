"""alpaca -> MindRecord / indexed: every record equals what SentencePiece gives; labels mask exactly the prompt."""

import filecmp

import numpy as np
import pytest

from .helpers import preprocess, read_indexed, read_mindrecord, same_rows, vicuna_prompt

SEQ = 256
COLUMNS = ["input_ids", "labels", "attention_mask"]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, alpaca_small, sp_model):
    root = tmp_path_factory.mktemp("alpaca_out")
    common = ["--dataset_type", "alpaca", "--input_glob", alpaca_small, "--tokenizer", sp_model, "--seq_length", SEQ,
              "--data_columns", ",".join(COLUMNS)]
    lines = {
        "indexed": preprocess(*common, "--format", "indexed", "--output_file", root / "w1" / "alpaca"),
        "mindrecord": preprocess(*common, "--format", "mindrecord", "--output_file", root / "w1" / "alpaca.mindrecord"),
    }
    return root, lines


def expected(sp, record):
    """Reference ids and the number of masked (bos + prompt) positions, from SentencePiece alone."""
    prompt = sp.encode(vicuna_prompt(record))
    whole = sp.encode(vicuna_prompt(record) + " " + record["output"])
    assert whole[:len(prompt)] == prompt
    return [1] + whole + [2], 1 + len(prompt)


def check_records(rows, records, sp):
    """Compare rows with the reference; returns (truncated, dropped) counts."""
    refs = [expected(sp, r) for r in records]
    kept = [(ids, masked) for ids, masked in refs if masked < SEQ + 1]  # a prompt filling the record is dropped
    truncated = 0
    assert len(rows) == len(kept)
    for row, (ids, masked) in zip(rows, kept):
        if len(ids) > SEQ + 1:
            truncated += 1
            ids = ids[:SEQ + 1]
        n = len(ids)
        assert row["input_ids"].dtype == np.int32 and row["input_ids"].shape == (SEQ + 1,)
        assert row["input_ids"][:n].tolist() == ids
        assert (row["input_ids"][n:] == 0).all()  # padded with the Llama pad id (<unk>, 0)
        labels = row["labels"]
        assert (labels[:masked] == -100).all() and (labels[n:] == -100).all()
        assert labels[masked:n].tolist() == ids[masked:]
        assert row["attention_mask"].tolist() == [1] * n + [0] * (SEQ + 1 - n)
    return truncated, len(refs) - len(kept)


@pytest.mark.parametrize("fmt", ["indexed", "mindrecord"])
def test_round_trip(outputs, fmt, sp, alpaca_records):
    root, lines = outputs
    rows = read_indexed(root / "w1" / "alpaca") if fmt == "indexed" else \
        read_mindrecord(root / "w1" / "alpaca.mindrecord", COLUMNS)
    truncated, dropped = check_records(rows, alpaca_records[:400], sp)
    assert truncated > 0
    assert lines[fmt].startswith(f"{len(rows)} records, {sum(int(r['attention_mask'].sum()) for r in rows)} tokens, "
                                 f"{truncated} truncated, {dropped} dropped")


def test_formats_agree(outputs):
    root, _ = outputs
    assert same_rows(read_indexed(root / "w1" / "alpaca"), read_mindrecord(root / "w1" / "alpaca.mindrecord", COLUMNS))


@pytest.mark.parametrize("fmt", ["indexed", "mindrecord"])
def test_two_workers_byte_identical(outputs, fmt, alpaca_small, sp_model):
    root, lines = outputs
    name = "alpaca" if fmt == "indexed" else "alpaca.mindrecord"
    line = preprocess("--dataset_type", "alpaca", "--input_glob", alpaca_small, "--tokenizer", sp_model,
                      "--seq_length", SEQ, "--data_columns", ",".join(COLUMNS), "--format", fmt,
                      "--output_file", root / "w2" / name, "--workers", 2)
    assert line.split(" s, ")[0].rsplit(",", 1)[0] == lines[fmt].split(" s, ")[0].rsplit(",", 1)[0]
    one, two = root / "w1", root / "w2"
    files = sorted(p.name for p in (one / name).iterdir()) if fmt == "indexed" else [name, name + ".db"]
    for f in files:
        a, b = (one / name / f, two / name / f) if fmt == "indexed" else (one / f, two / f)
        assert filecmp.cmp(a, b, shallow=False), f


def test_prompt_longer_than_seq_length_is_dropped(tmp_path, alpaca_small, sp_model, sp, alpaca_records):
    line = preprocess("--dataset_type", "alpaca", "--input_glob", alpaca_small, "--tokenizer", sp_model,
                      "--seq_length", 96, "--format", "indexed", "--output_file", tmp_path / "short")
    lengths = [expected(sp, r) for r in alpaca_records[:400]]
    dropped = sum(masked >= 97 for _, masked in lengths)
    truncated = sum(len(ids) > 97 and masked < 97 for ids, masked in lengths)
    assert dropped > 0
    assert f"{truncated} truncated, {dropped} dropped" in line
    assert len(read_indexed(tmp_path / "short")) == 400 - dropped
