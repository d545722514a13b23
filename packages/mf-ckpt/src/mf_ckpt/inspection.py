"""``info`` and ``diff``: what a checkpoint holds, and how two checkpoints differ, tensor by tensor."""

import math
import os
from typing import Any

import numpy as np

from mf_ckpt.store import open_checkpoint

_CHUNK = 1 << 22  # elements compared at a time, so diff holds two chunks, not two tensors


def info(path: str | os.PathLike) -> dict[str, Any]:
    """A dict: kind, files (name, tensors, bytes), tensors (name, dtype, shape, bytes, file), totals."""
    ckpt = open_checkpoint(path)
    try:
        files = {}
        tensors = []
        for name, t in ckpt.infos.items():
            entry = files.setdefault(t.file.name, {"file": t.file.name, "tensors": 0, "bytes": 0})
            entry["tensors"] += 1
            entry["bytes"] += t.nbytes
            tensors.append({"name": name, "dtype": t.dtype, "shape": list(t.shape), "bytes": t.nbytes,
                            "file": t.file.name})
        dtypes = {}
        for t in tensors:
            dtypes[t["dtype"]] = dtypes.get(t["dtype"], 0) + 1
        return {"path": str(path), "kind": ckpt.kind, "files": list(files.values()), "tensors": tensors,
                "num_tensors": len(tensors), "parameters": sum(math.prod(t["shape"]) for t in tensors),
                "bytes": sum(t["bytes"] for t in tensors), "dtypes": dtypes}
    finally:
        ckpt.close()


def format_info(data):
    """``info`` as text: one line per tensor, then a summary."""
    width = max((len(t["name"]) for t in data["tensors"]), default=4)
    lines = [f"{t['name']:<{width}}  {t['dtype']:<5} {str(t['shape']):<20} {t['file']}" for t in data["tensors"]]
    files = ", ".join(f"{f['file']} ({f['tensors']} tensors, {f['bytes'] / 1e6:.1f} MB)" for f in data["files"])
    dtypes = ", ".join(f"{k} x{v}" for k, v in sorted(data["dtypes"].items()))
    lines.append(f"{data['kind']}: {data['num_tensors']} tensors, {data['parameters']:,} parameters, "
                 f"{data['bytes'] / 1e6:.1f} MB ({dtypes}) in {files}")
    return "\n".join(lines)


def max_abs_diff(a, b):
    """max |a - b| in float64 over two same-shape arrays, a chunk at a time (inf/nan compare as nan)."""
    a, b = a.reshape(-1), b.reshape(-1)
    worst = 0.0
    for start in range(0, a.size, _CHUNK):
        x = a[start:start + _CHUNK].astype(np.float64)
        y = b[start:start + _CHUNK].astype(np.float64)
        with np.errstate(invalid="ignore"):
            d = np.abs(x - y)
        same = (x == y) | (np.isnan(x) & np.isnan(y))
        d[same] = 0.0
        if d.size:
            worst = max(worst, float(np.max(d)))
    return worst


def diff(path_a: str | os.PathLike, path_b: str | os.PathLike) -> list[dict[str, Any]]:
    """A list of differences: {"name", "kind": missing|extra|shape|dtype|values, "a", "b"} (values: max_abs_diff)."""
    a, b = open_checkpoint(path_a), open_checkpoint(path_b)
    out = []
    try:
        for name, ta in a.infos.items():
            tb = b.infos.get(name)
            if tb is None:
                out.append({"name": name, "kind": "missing", "a": list(ta.shape), "b": None})
            elif ta.shape != tb.shape:
                out.append({"name": name, "kind": "shape", "a": list(ta.shape), "b": list(tb.shape)})
            else:
                if ta.dtype != tb.dtype:
                    out.append({"name": name, "kind": "dtype", "a": ta.dtype, "b": tb.dtype})
                d = max_abs_diff(a.get(name), b.get(name))
                a.release(name)
                b.release(name)
                if d:
                    out.append({"name": name, "kind": "values", "max_abs_diff": d})
        out += [{"name": n, "kind": "extra", "a": None, "b": list(t.shape)} for n, t in b.infos.items()
                if n not in a.infos]
    finally:
        a.close()
        b.close()
    return out


def format_diff(items, path_a, path_b):
    if not items:
        return f"identical: every tensor of {path_a} equals {path_b}"
    lines = []
    for d in items:
        if d["kind"] == "missing":
            lines.append(f"missing in B  {d['name']} {d['a']}")
        elif d["kind"] == "extra":
            lines.append(f"extra in B    {d['name']} {d['b']}")
        elif d["kind"] == "values":
            lines.append(f"values        {d['name']} max abs diff {d['max_abs_diff']:.6g}")
        else:
            lines.append(f"{d['kind']:<13} {d['name']} {d['a']} vs {d['b']}")
    lines.append(f"{len(items)} difference(s) between {path_a} and {path_b}")
    return "\n".join(lines)
