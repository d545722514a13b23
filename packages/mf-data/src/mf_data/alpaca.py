"""Alpaca records to the multi-turn conversation layout (MindFormers' ``alpaca_converter.py``, no fschat)."""

import json

from mf_config.fileio import atomic_write
from mf_data.textio import BadCounter, read_json_records

ALPACA_KEYS = ("instruction", "output")

# Stanford alpaca's prompt templates, as alpaca_converter.py uses them.
PROMPT_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:"
)


def alpaca_prompt(record):
    """The alpaca prompt of one record: with the ``input`` block when ``input`` is not empty."""
    template = PROMPT_INPUT if record.get("input", "") != "" else PROMPT_NO_INPUT
    return template.format_map(record)


def to_conversation(record, number):
    """``{"id": str(number), "conversations": [human prompt, gpt output]}``."""
    return {
        "id": str(number),
        "conversations": [
            {"from": "human", "value": alpaca_prompt(record)},
            {"from": "gpt", "value": record["output"]},
        ],
    }


def convert_file(data_path, output_path, skip_bad=False):
    """Convert an alpaca JSON file to a conversation JSON file (written atomically); returns counts."""
    counter = BadCounter(skip_bad)
    records = read_json_records(data_path, ALPACA_KEYS, counter)
    conversations = [to_conversation(r, i) for i, r in enumerate(records, 1)]
    with atomic_write(output_path) as f:
        json.dump(conversations, f, ensure_ascii=False, indent=2)
    return {"records": len(conversations), "bad": counter.count}
