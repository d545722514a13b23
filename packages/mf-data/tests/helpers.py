"""Shared by the tests: run the CLI, read datasets back with MindSpore or the indexed reader."""

import numpy as np
from click.testing import CliRunner

from mf_data.cli import main

# MindFormers' llama_preprocess.py renders conversations with FastChat's Vicuna v1.1 template.
VICUNA_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
                 "The assistant gives helpful, detailed, and polite answers to the user's questions.")
ALPACA_INPUT = ("Below is an instruction that describes a task, paired with an input that provides further context. "
                "Write a response that appropriately completes the request.\n\n"
                "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:")
ALPACA_NO_INPUT = ("Below is an instruction that describes a task. "
                   "Write a response that appropriately completes the request.\n\n"
                   "### Instruction:\n{instruction}\n\n### Response:")


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def preprocess(*args):
    result = cli("preprocess", "--no_progress", *args)
    assert result.exit_code == 0, result.output
    return result.output


def vicuna_prompt(record):
    template = ALPACA_INPUT if record["input"] else ALPACA_NO_INPUT
    return f"{VICUNA_SYSTEM} USER: {template.format(**record)} ASSISTANT:"


def read_mindrecord(path, columns):
    import mindspore.dataset as ds

    data = ds.MindDataset(str(path), columns_list=columns, shuffle=False)
    return [{c: row[c] for c in columns} for row in data.create_dict_iterator(output_numpy=True, num_epochs=1)]


def read_indexed(path):
    from mf_data.indexed import IndexedDataset

    data = IndexedDataset(path)
    return [data[i] for i in range(len(data))]


def same_rows(a, b):
    return len(a) == len(b) and all(set(x) == set(y) and all(np.array_equal(x[c], y[c]) for c in x)
                                    for x, y in zip(a, b))
