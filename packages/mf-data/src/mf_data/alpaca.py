"""Alpaca records to the multi-turn conversation layout (MindFormers' ``alpaca_converter.py``, no fschat)."""

import json
import os
from collections.abc import Mapping
from typing import Any

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


def alpaca_problem(record):
    """Why an alpaca record cannot be used (a field that is not a string: a number, null, NaN, a list...), or
    None. Used as the record check of ``read_json_records``, which adds the record number."""
    for key in ("instruction", "input", "output"):
        if key in record and not isinstance(record[key], str):
            return f"field '{key}' is {type(record[key]).__name__} {str(record[key])[:40]!r}, expected a string"
    return None


def alpaca_prompt(record):
    """The alpaca prompt of one record: with the ``input`` block when ``input`` is not empty."""
    fields = {"instruction": record["instruction"], "input": record.get("input", "")}
    template = PROMPT_INPUT if fields["input"] != "" else PROMPT_NO_INPUT
    return template.format_map(fields)


def to_conversation(record: Mapping[str, str], number: int) -> dict[str, Any]:
    """``{"id": str(number), "conversations": [human prompt, gpt output]}``."""
    return {
        "id": str(number),
        "conversations": [
            {"from": "human", "value": alpaca_prompt(record)},
            {"from": "gpt", "value": record["output"]},
        ],
    }


def convert_file(data_path: str | os.PathLike, output_path: str | os.PathLike,
                 skip_bad: bool = False) -> dict[str, int]:
    """Convert an alpaca JSON file to a conversation JSON file (written atomically); returns counts."""
    counter = BadCounter(skip_bad)
    records = read_json_records(data_path, ALPACA_KEYS, counter, alpaca_problem)
    conversations = [to_conversation(r, i) for i, r in enumerate(records, 1)]
    with atomic_write(output_path, inputs=[data_path]) as f:
        json.dump(conversations, f, ensure_ascii=False, indent=2)
    return {"records": len(conversations), "bad": counter.count}
