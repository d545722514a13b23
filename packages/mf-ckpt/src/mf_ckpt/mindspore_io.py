"""MindSpore ``.ckpt`` in and out (mindspore is an extra). bfloat16 goes through float32 exactly,
since ``asnumpy`` of a bfloat16 tensor fails under numpy 2."""

import math
from pathlib import Path

import ml_dtypes
import numpy as np

from mf_ckpt.errors import CheckpointError
from mf_ckpt.safetensors_io import TensorInfo


def import_mindspore(file=None):
    try:
        import mindspore
    except ImportError:
        raise CheckpointError("MindSpore .ckpt files need mindspore: pip install 'mf-ckpt[mindspore]'",
                              file=file) from None
    return mindspore


def _st_names(ms):
    return {ms.float64: "F64", ms.float32: "F32", ms.float16: "F16", ms.bfloat16: "BF16", ms.int64: "I64",
            ms.int32: "I32", ms.int16: "I16", ms.int8: "I8", ms.uint8: "U8", ms.bool_: "BOOL"}


class MindSporeFile:
    """A ``.ckpt`` loaded with ``mindspore.load_checkpoint`` (whole file; the format has no random access)."""

    def __init__(self, path):
        self.path = Path(path)
        ms = import_mindspore(self.path)
        try:
            self._params = ms.load_checkpoint(str(self.path))
        except (ValueError, RuntimeError) as e:
            raise CheckpointError(f"cannot read as a MindSpore checkpoint ({e})", file=self.path) from None
        names, self.tensors = _st_names(ms), {}
        for name, p in self._params.items():
            if p.dtype not in names:
                raise CheckpointError(f"unsupported dtype {p.dtype}", file=self.path, key=name)
            itemsize = np.dtype(ml_dtypes.bfloat16).itemsize if p.dtype == ms.bfloat16 else p.itemsize
            self.tensors[name] = TensorInfo(names[p.dtype], tuple(p.shape), self.path, 0,
                                            math.prod(p.shape) * itemsize)

    def get(self, name):
        ms = import_mindspore()
        p = self._params[name]
        if p.dtype == ms.bfloat16:
            return p.astype(ms.float32).asnumpy().astype(ml_dtypes.bfloat16)
        return p.asnumpy()

    def release(self, name):
        """Nothing to do: the file was loaded whole."""

    def close(self):
        self._params = {}


def save_ckpt(path, named_arrays):
    """Write ``(name, numpy array)`` pairs as a MindSpore ``.ckpt`` at ``path``."""
    ms = import_mindspore(path)
    items = []
    for name, array in named_arrays:
        if array.dtype == ml_dtypes.bfloat16:
            items.append({"name": name, "data": ms.Tensor(array.astype(np.float32), dtype=ms.bfloat16)})
        else:
            items.append({"name": name, "data": ms.Tensor(np.ascontiguousarray(array))})
    ms.save_checkpoint(items, str(path))
