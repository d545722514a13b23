"""Hostile records and datasets: fields of the wrong type, lone surrogates, deep nesting, huge integers, NUL bytes
and damaged index files end in a result or one line naming the file and record, exit 2 (fuzzed)."""

import json
import re
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mf_config.errors import MFError
from mf_config.reliability import fuzz_settings, hang_guard, tally
from mf_data.indexed import INDEX, IndexedDataset
from mf_data.textio import BadCounter, read_json_records, read_lines

from .helpers import cli, read_indexed


def run(*args):
    return cli("preprocess", "--no_progress", *args)


@pytest.mark.parametrize("value, shown", [({"a": 1}, "dict"), (True, "bool"), (3, "int"), (None, "NoneType"),
                                          (float("nan"), "float"), ([1], "list")])
def test_alpaca_fields_must_be_strings(tmp_path, sp_model, value, shown):
    src = tmp_path / "a.json"
    records = [{"instruction": "a", "input": "", "output": "b"}, {"instruction": "c", "input": value, "output": "d"}]
    src.write_text(json.dumps(records, indent=1), encoding="utf-8")
    result = run("--dataset_type", "alpaca", "--input_glob", src, "--tokenizer", sp_model, "--seq_length", 256,
                 "--format", "indexed", "--output_file", tmp_path / "o")
    assert result.exit_code == 2 and f"record 2: field 'input' is {shown}" in result.output, result.output
    assert result.output.count("\n") == 1 and not (tmp_path / "o").exists()
    result = cli("alpaca-to-conversation", "--data_path", src, "--output_path", tmp_path / "c.json", "--skip_bad")
    assert result.exit_code == 0 and "1 conversations written" in result.output
    assert "None" not in (tmp_path / "c.json").read_text()


@pytest.mark.parametrize("text, message", [
    ('[{"instruction": "\\ud800", "input": "", "output": "b"}]', "record 1: holds a lone surrogate"),
    ('[{"instruction": "a", "input": "", "output": "b", "x": ' + "[" * 3000 + "]" * 3000 + "}]",
     r"record 1( is not valid JSON \(nested too deep\)|: nested deeper than 64 levels)"),  # json's own recursion
    # limit, or ours when a library has raised sys.getrecursionlimit
    ('[{"instruction": "a", "input": "", "output": "b", "x": ' + "[" * 90 + "]" * 90 + "}]",
     "record 1: nested deeper than 64 levels"),
    ('[{"instruction": "a", "input": "", "output": "b", "n": ' + "9" * 5000 + "}]", "record 1 is not valid JSON"),
    ('{"instruction": "a", "input": "", "output": "b", "n": ' + "9" * 5000 + "}\n", "record on line 1 is not valid"),
])
def test_hostile_json_records(tmp_path, sp_model, text, message):
    src = tmp_path / "a.json"
    src.write_text(text, encoding="utf-8")
    result = run("--dataset_type", "alpaca", "--input_glob", src, "--tokenizer", sp_model, "--seq_length", 256,
                 "--format", "indexed", "--output_file", tmp_path / "o")
    assert result.exit_code == 2 and re.search(message, result.output) and str(src) in result.output, result.output
    assert result.output.count("\n") == 1


def test_a_damaged_index_header_is_one_line(tmp_path, sp_model, alpaca_small):
    out = tmp_path / "o"
    assert run("--dataset_type", "alpaca", "--input_glob", alpaca_small, "--tokenizer", sp_model, "--seq_length",
               512, "--format", "indexed", "--output_file", out).exit_code == 0
    raw = (out / INDEX).read_bytes()
    size = struct.unpack("<I", raw[12:16])[0]
    header = json.loads(raw[16:16 + size])
    for key, value in [("seq_length", "big"), ("num_records", -1), ("columns", "input_ids"), ("seq_length", 2)]:
        text = json.dumps(dict(header, **{key: value})).encode()
        text += b" " * (-len(text) % 8)
        (out / INDEX).write_bytes(raw[:12] + struct.pack("<I", len(text)) + text + raw[16 + size:])
        result = cli("inspect", out)
        assert result.exit_code == 2 and result.output.count("\n") == 1 and str(out / INDEX) in result.output


# --- fuzzing: the record readers and the indexed reader ----------------------------------------------------------

VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                   max_size=3), max_leaves=8)
FRAGMENTS = [b"[", b"]", b"{", b"}", b",", b":", b'"instruction"', b'"input"', b'"output"', b'"conversations"',
             b'"from"', b'"value"', b'"human"', b'"gpt"', b'"x"', b"null", b"true", b"NaN", b"1e999", b"9" * 5000,
             b'"\\ud800"', b'"\\u0000"', b"\x00", b"\xff", b"\n", b" ", b"\\", b'"']


@st.composite
def record_files(draw):
    if draw(st.booleans()):
        record = draw(st.fixed_dictionaries({}, optional={"instruction": VALUES, "input": VALUES,
                                                          "output": VALUES, "conversations": VALUES}))
        records = [record, {"instruction": "a", "input": "", "output": "b"}]
        if draw(st.booleans()):
            return "\n".join(json.dumps(r) for r in records).encode()
        return json.dumps(records).encode()
    return b"".join(draw(st.lists(st.sampled_from(FRAGMENTS), max_size=40)))


def test_fuzz_record_readers(tmp_path, budget):
    from mf_data.alpaca import ALPACA_KEYS, alpaca_problem, to_conversation
    from mf_data.conversation import rounds
    from mf_data.wiki import articles

    path = tmp_path / "r.json"

    @fuzz_settings(budget)
    @given(record_files(), st.booleans())
    def prop(raw, skip_bad):
        tally("fuzz")
        path.write_bytes(raw)
        counter = BadCounter(skip_bad)
        with hang_guard(budget.timeout):
            try:
                for i, r in enumerate(read_json_records(path, ALPACA_KEYS, counter, alpaca_problem), 1):
                    json.dumps(to_conversation(r, i), ensure_ascii=False).encode("utf-8")
                for i, r in enumerate(read_json_records(path, ("conversations",), BadCounter(skip_bad)), 1):
                    try:
                        [(a.encode(), b.encode()) for a, b in rounds(r, i)]
                    except MFError:
                        pass
                [a.encode("utf-8") for a in articles(read_lines(path, BadCounter(skip_bad)))]
            except MFError as e:
                assert "\n" not in str(e)

    prop()


def test_fuzz_indexed_reader(tmp_path, sp_model, alpaca_small, budget):
    out = tmp_path / "o"
    assert run("--dataset_type", "alpaca", "--input_glob", alpaca_small, "--tokenizer", sp_model, "--seq_length",
               512, "--format", "indexed", "--output_file", out).exit_code == 0
    files = {p.name: p.read_bytes() for p in out.iterdir()}

    @fuzz_settings(budget)
    @given(st.sampled_from(sorted(files)), st.integers(0, 2**20), st.sampled_from(["flip", "cut", "grow"]),
           st.integers(0, 255))
    def prop(name, pos, kind, byte):
        tally("fuzz")
        data = bytearray(files[name])
        pos %= max(1, len(data))
        if kind == "flip" and data:
            data[pos] = byte
        elif kind == "cut":
            del data[pos:]
        else:
            data[pos:pos] = bytes([byte]) * 8
        for n, content in files.items():
            (out / n).write_bytes(bytes(data) if n == name else content)
        with hang_guard(budget.timeout):
            try:
                rows = read_indexed(out)
            except MFError as e:
                assert "\n" not in str(e)
                return
        assert all(isinstance(r["input_ids"], np.ndarray) for r in rows)
        assert IndexedDataset(out).seq_length >= max(len(r["input_ids"]) for r in rows)

    prop()
