"""Reading input files record by record, reporting bad input with file and record/line number.

A JSON file is either a JSON list of objects (``[{...}, {...}]``) or JSON Lines (one object a line).
A bad record (malformed JSON, not an object, missing keys, invalid UTF-8) raises :class:`DataError`
naming the file and the record (and line); with ``skip_bad`` it is counted in ``bad`` and skipped.
"""

import json
import re

from mf_data.errors import DataError

_DECODER = json.JSONDecoder()
_WS = re.compile(r"\s*")


class BadCounter:
    """Counts skipped bad records; raises instead when skipping is off."""

    def __init__(self, skip_bad):
        self.skip_bad = skip_bad
        self.count = 0

    def bad(self, message, file, line=None):
        if not self.skip_bad:
            raise DataError(f"{message} (pass --skip_bad to skip bad records)", file=file, line=line)
        self.count += 1


MAX_DEPTH = 64
_LONE = re.compile("[\ud800-\udfff]")
_BAD_JSON = (json.JSONDecodeError, ValueError, RecursionError)  # ValueError: an integer of over 4300 digits


def _structure_problem(value):
    """A record nested deeper than MAX_DEPTH, or holding a lone surrogate (a ``\\ud800`` escape, or bytes that
    were not UTF-8), walked without recursion; None when fine."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels"
        if isinstance(item, str):
            if _LONE.search(item):
                return "holds a lone surrogate (a \\ud800-\\udfff escape, or bytes that are not UTF-8)"
        elif isinstance(item, dict):
            stack.extend((x, depth + 1) for kv in item.items() for x in kv)
        elif isinstance(item, list):
            stack.extend((x, depth + 1) for x in item)
    return None


def _decode(raw, path, counter):
    """``(text, escaped)``: UTF-8 text of ``raw``; invalid bytes are an error (or, when skipping, escaped)."""
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        if not counter.skip_bad:
            raise DataError(f"not valid UTF-8 ({e.reason} at byte {e.start}) (pass --skip_bad to skip bad records)",
                            file=path, line=line) from None
        return raw.decode("utf-8", errors="surrogateescape"), True


def read_lines(path, counter):
    """Yield ``(line_number, text)`` of a text file; a line that is not valid UTF-8 is bad."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as e:
                counter.bad(f"line is not valid UTF-8 ({e.reason} at column {e.start + 1})", path, number)


def read_json_records(path, required, counter, check=None):
    """Yield the objects of a JSON list or JSON Lines file that have every key in ``required`` (and pass
    ``check(record)``, which returns a problem or None)."""
    with open(path, "rb") as f:
        raw = f.read()
    text, _ = _decode(raw, path, counter)
    start = _WS.match(text).end()
    records = _json_list(text, start, path, required, counter) if text[start:start + 1] == "[" else \
        _json_lines(text, path, counter)
    for number, line, record in records:
        problem = _problem(record, required, check)
        if problem:
            counter.bad(f"record {number}: {problem}", path, line)
            continue
        yield record


def _problem(record, required, check):
    if not isinstance(record, dict):
        return f"expected a JSON object, found {type(record).__name__}"
    missing = [k for k in required if k not in record]
    if missing:
        return f"missing key(s) {', '.join(missing)}; expected keys {', '.join(required)}"
    return _structure_problem(record) or (check(record) if check else None)


def _json_lines(text, path, counter):
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except _BAD_JSON as e:
            counter.bad(f"record on line {number} is not valid JSON ({_reason(e)})", path, number)
            continue
        yield number, number, record


def _json_list(text, pos, path, required, counter):
    """Decode a JSON list element by element so that a bad element is reported (and skipped) alone."""
    pos += 1
    number, line, counted = 0, 1, 0
    while True:
        pos = _WS.match(text, pos).end()
        if text[pos:pos + 1] == "]":
            return
        number += 1
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            record, end = _DECODER.raw_decode(text, pos)
            after = _WS.match(text, end).end()
            if text[after:after + 1] not in (",", "]"):
                raise json.JSONDecodeError("expected ',' or ']' after a record", text, after)
        except _BAD_JSON as e:
            counter.bad(f"record {number} is not valid JSON ({_reason(e)})", path, line)
            pos = _resync(text, pos + 1, required)
            if pos is None:
                return
            continue
        yield number, line, record
        pos = after + 1 if text[after] == "," else after


def _reason(e):
    if isinstance(e, json.JSONDecodeError):
        return f"{e.msg} at line {e.lineno} column {e.colno}"
    if isinstance(e, RecursionError):
        return "nested too deep"
    return str(e)[:100]


def _resync(text, pos, required):
    """The start of the next well-formed record object after a malformed one, or None."""
    while True:
        pos = text.find("{", pos)
        if pos < 0:
            return None
        try:
            record, end = _DECODER.raw_decode(text, pos)
        except _BAD_JSON:
            pos += 1
            continue
        after = _WS.match(text, end).end()
        if isinstance(record, dict) and all(k in record for k in required) and text[after:after + 1] in (",", "]"):
            return pos
        pos += 1
