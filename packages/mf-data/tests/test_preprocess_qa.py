"""qa: conversation JSON (multi-turn) -> records; same result as alpaca when fed alpaca_to_conversation's output."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

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


def _records_one_by_one(encoded, counts, bos, eos, length):
    """The record layout written out plainly, one record at a time (the oracle of conversation_records)."""
    parts = iter(encoded)
    lengths, tokens, mask, truncated, dropped = [], [], [], 0, 0
    for count in counts:
        ids, learned = ([] if bos is None else [bos]), ([] if bos is None else [0])
        for _ in range(count):
            prompt, answer = next(parts), next(parts)
            ids += [*prompt, *answer, eos]
            learned += [0] * len(prompt) + [1] * (len(answer) + 1)
        if len(ids) > length:
            ids, learned = ids[:length], learned[:length]
            if 1 not in learned:
                dropped += 1
                continue
            truncated += 1
        lengths.append(len(ids))
        tokens += ids
        mask += learned
    return lengths, tokens, mask, {"truncated": truncated, "dropped": dropped}


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(st.tuples(st.lists(st.integers(3, 9), max_size=12), st.lists(st.integers(3, 9), max_size=8)),
                         max_size=3), max_size=5),
       st.sampled_from([None, 1]), st.integers(1, 30))
def test_conversation_records_lay_out_each_record_as_written(records, bos, length):
    import numpy as np

    from mf_data.encode import conversation_records

    encoded = [ids for rounds in records for pair in rounds for ids in pair]
    counts = np.array([len(rounds) for rounds in records], dtype=np.int64)
    got = conversation_records(encoded, counts, bos, 2, length)
    want = _records_one_by_one(encoded, counts, bos, 2, length)
    for array, expected, dtype in zip(got[:3], want[:3], (np.int64, np.int32, np.uint8)):
        assert array.dtype == dtype and array.tolist() == expected
    assert got[3] == want[3]
