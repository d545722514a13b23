"""JSON read from a file, with bounds: size, nesting depth, strict UTF-8, no lone surrogates (``"\\ud800"``), and
integers of at most 4300 digits; every problem is the caller's MFError subclass naming the file (and line).

``json.loads`` alone raises RecursionError on 3000 nested brackets, ValueError on a 5000-digit integer, and hands
back lone surrogates that break later when the text is encoded: the tracebacks a user's file must not cause.
"""

import json
import re
from pathlib import Path

from mf_config.errors import ConfigError

MAX_DEPTH = 100
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_LONE = re.compile("[\ud800-\udfff]")


def _duplicates_refused(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


class _Duplicate(ValueError):
    def __init__(self, key):
        super().__init__(key)
        self.key = key


def _check_depth(data, max_depth, file, error):
    """Depth, walked without recursion over the containers only (fast on a 128k-entry vocabulary)."""
    stack = [(data, 1)] if data.__class__ is dict or data.__class__ is list else []
    while stack:
        value, depth = stack.pop()
        if depth > max_depth:
            raise error(f"nested deeper than {max_depth} levels", file=file)
        items = value.values() if isinstance(value, dict) else value
        stack.extend([(v, depth + 1) for v in items if v.__class__ is dict or v.__class__ is list])


def _check_surrogates(data, file, error):
    """Lone surrogates in keys and strings, with the dotted key of the first (only run when the text holds a
    surrogate escape)."""
    stack = [(data, "")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            if _LONE.search(value):
                raise error("holds a lone surrogate escape (\\ud800-\\udfff): not valid Unicode", file=file,
                            key=where or None)
            continue
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for k, v in items:
            key = f"{where}.{k}".lstrip(".") if not isinstance(k, str) or not _LONE.search(k) else None
            if key is None:
                raise error("a key holds a lone surrogate escape (\\ud800-\\udfff): not valid Unicode", file=file,
                            key=(where + "." + ascii(k)[1:-1]).lstrip("."))
            stack.append((v, key))


def loads(raw, file=None, *, error=ConfigError, max_depth=MAX_DEPTH, unique_keys=False):
    """Parse JSON text or UTF-8 bytes from ``file``; ``error`` (an MFError subclass) on any problem.
    ``unique_keys``: a key twice in one object is an error (else the last one wins, as in ``json``)."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as e:
            line = bytes(raw).count(b"\n", 0, e.start) + 1
            raise error(f"not UTF-8 text ({e.reason} at byte {e.start})", file=file, line=line) from None
    if raw.startswith("\ufeff"):
        raw = raw[1:]
    hook = _duplicates_refused if unique_keys else None
    try:
        data = json.loads(raw, object_pairs_hook=hook)
    except json.JSONDecodeError as e:
        raise error(f"invalid JSON: {e.msg} (column {e.colno})", file=file, line=e.lineno) from None
    except _Duplicate as e:
        raise error("key appears twice in one JSON object", file=file, key=e.key) from None
    except RecursionError:
        raise error(f"nested deeper than {max_depth} levels", file=file) from None
    except ValueError as e:  # an integer of more than 4300 digits
        raise error(f"invalid JSON: {str(e)[:120]}", file=file) from None
    _check_depth(data, max_depth, file, error)
    if _SURROGATE_ESCAPE.search(raw):
        _check_surrogates(data, file, error)
    return data


def load(path, *, error=ConfigError, max_bytes=None, max_depth=MAX_DEPTH, unique_keys=False):
    """The JSON value in the file ``path`` (see :func:`loads`); ``max_bytes`` bounds the file's size."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(max_bytes + 1) if max_bytes else f.read()
    except FileNotFoundError:
        raise error("no such file", file=path) from None
    except IsADirectoryError:
        raise error("is a folder, expected a JSON file", file=path) from None
    if max_bytes and len(raw) > max_bytes:
        raise error(f"larger than {max_bytes} bytes, the most this JSON file may have", file=path)
    return loads(raw, path, error=error, max_depth=max_depth, unique_keys=unique_keys)
