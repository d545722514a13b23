"""qa: conversation JSON (multi-turn) -> records; same result as alpaca when fed alpaca_to_conversation's output."""

import json

from .helpers import VICUNA_SYSTEM, cli, preprocess, read_indexed


def test_qa_equals_alpaca_through_converter(tmp_path, alpaca_small, sp_model):
    conv = tmp_path / "conv.json"
    assert cli("alpaca-to-conversation", "--data_path", alpaca_small, "--output_path", conv).exit_code == 0
    common = ["--tokenizer", sp_model, "--seq_length", 128, "--format", "indexed"]
    preprocess("--dataset_type", "qa", "--input_glob", conv, "--output_file", tmp_path / "qa", *common)
    preprocess("--dataset_type", "alpaca", "--input_glob", alpaca_small, "--output_file", tmp_path / "al", *common)
    for name in ("tokens.bin", "loss_mask.bin"):
        assert (tmp_path / "qa" / name).read_bytes() == (tmp_path / "al" / name).read_bytes()


def test_multi_turn_masks_every_prompt(tmp_path, sp_model, sp, alpaca_records):
    a, b = alpaca_records[10], alpaca_records[11]
    turns = [{"from": "human", "value": a["instruction"]}, {"from": "gpt", "value": a["output"]},
             {"from": "human", "value": b["instruction"]}, {"from": "gpt", "value": b["output"]}]
    src = tmp_path / "multi.jsonl"
    src.write_text(json.dumps({"id": "1", "conversations": turns}) + "\n", encoding="utf-8")
    preprocess("--dataset_type", "qa", "--input_glob", src, "--tokenizer", sp_model, "--seq_length", 1024,
               "--format", "indexed", "--output_file", tmp_path / "out")
    (row,) = read_indexed(tmp_path / "out")
    p1 = sp.encode(f"{VICUNA_SYSTEM} USER: {a['instruction']} ASSISTANT:")
    r1 = sp.encode(f"{VICUNA_SYSTEM} USER: {a['instruction']} ASSISTANT: {a['output']}")
    p2 = sp.encode(f"USER: {b['instruction']} ASSISTANT:")
    r2 = sp.encode(f"USER: {b['instruction']} ASSISTANT: {b['output']}")
    ids = [1] + r1 + [2] + r2 + [2]
    n = len(ids)
    assert row["input_ids"][:n].tolist() == ids
    learned = [0] * (1 + len(p1)) + [1] * (len(r1) - len(p1) + 1) + [0] * len(p2) + [1] * (len(r2) - len(p2) + 1)
    assert row["labels"][:n].tolist() == [t if m else -100 for t, m in zip(ids, learned)]
    assert (row["labels"][n:] == -100).all()
