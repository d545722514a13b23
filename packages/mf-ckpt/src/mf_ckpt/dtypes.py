"""Tensor dtypes: safetensors' names, numpy dtypes (bfloat16 and float8 through ml_dtypes), CLI names, casts.

numpy and ml_dtypes are imported on first use: writing tensors kept as they are needs neither (``itemsize``),
which keeps the start of every command short. A cast streams (``cast_pieces``, ``cast_into``): a tensor is cast
a slice of a few MB at a time, so a conversion never holds a whole cast copy beside its source.
"""

import functools

from mf_ckpt.errors import CheckpointError

ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I64": 8, "I32": 4, "I16": 2,
            "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}
FLOATS = {"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"}
# what --dtype accepts (MindFormers' spellings and numpy's)
CLI_DTYPES = {"fp32": "F32", "float32": "F32", "fp16": "F16", "float16": "F16", "bf16": "BF16", "bfloat16": "BF16"}
ST_TO_NAME = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}
PIECE_BYTES = 4 << 20  # a streamed cast's working set: one slice of the source and its cast
_LOOKUP = 1 << 16  # elements per table lookup: its index buffer (8 bytes an element) stays in the cache


@functools.cache
def _numpy_dtypes():
    import ml_dtypes
    import numpy as np

    to_numpy = {
        "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": ml_dtypes.bfloat16,
        "F8_E4M3": ml_dtypes.float8_e4m3fn, "F8_E5M2": ml_dtypes.float8_e5m2, "I64": np.int64, "I32": np.int32,
        "I16": np.int16, "I8": np.int8, "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8,
        "BOOL": np.bool_,
    }
    to_numpy = {k: np.dtype(v) for k, v in to_numpy.items()}
    return to_numpy, {v: k for k, v in to_numpy.items()}


def _unknown(st_dtype, file, key):
    return CheckpointError(f"unknown dtype {st_dtype!r}; expected one of {', '.join(ITEMSIZE)}", file=file, key=key)


def itemsize(st_dtype, file=None, key=None):
    """Bytes per element of a safetensors dtype name (without importing numpy)."""
    try:
        return ITEMSIZE[st_dtype]
    except (KeyError, TypeError):
        raise _unknown(st_dtype, file, key) from None


def numpy_dtype(st_dtype, file=None, key=None):
    """The numpy dtype of a safetensors dtype name."""
    try:
        return _numpy_dtypes()[0][st_dtype]
    except (KeyError, TypeError):
        raise _unknown(st_dtype, file, key) from None


def st_dtype(np_dtype, key=None):
    """The safetensors dtype name of a numpy dtype."""
    import numpy as np

    try:
        return _numpy_dtypes()[1][np.dtype(np_dtype)]
    except KeyError:
        raise CheckpointError(f"dtype {np_dtype} cannot be stored in safetensors", key=key) from None


def cli_dtype(name):
    """``fp32|fp16|bf16`` (or float32/float16/bfloat16) to a safetensors dtype name; None stays None."""
    if name is None:
        return None
    try:
        return CLI_DTYPES[name.lower()]
    except KeyError:
        raise CheckpointError(f"unknown dtype {name!r}; expected fp32, fp16 or bf16", key="dtype") from None


def cast(array, target):
    """``array`` as safetensors dtype ``target`` when both are floating point (ml_dtypes does bf16 exactly)."""
    if target is None or st_dtype(array.dtype) not in FLOATS or st_dtype(array.dtype) == target:
        return array
    return array.astype(numpy_dtype(target))


def cast_name(dtype, target):
    """The dtype name ``cast`` gives a tensor of safetensors dtype ``dtype``."""
    return target if target is not None and dtype in FLOATS else dtype


def castable(source, target):
    """Whether ``cast`` turns safetensors dtype ``source`` into ``target`` (both floating point)."""
    return source in FLOATS and target in FLOATS


@functools.cache
def _table(source, target):
    """The cast of every 16-bit pattern of ``source`` to ``target``, made by the same numpy/ml_dtypes cast as
    ``cast`` (so a lookup gives its very bits, NaNs included): bf16 <-> fp16 through a 64K-entry table runs 2-4x
    faster than ml_dtypes' per-element conversion, which is slow on subnormals."""
    import numpy as np

    with np.errstate(all="ignore"):  # NaN and overflow patterns are in every table, not in every tensor
        return np.arange(1 << 16, dtype=np.uint16).view(numpy_dtype(source)).astype(numpy_dtype(target))


def cast_into(src, out):
    """Cast the 1-D contiguous array ``src`` into ``out`` (as long, of the target dtype), as ``cast`` would."""
    import numpy as np

    if src.dtype == out.dtype:
        np.copyto(out, src)
    elif src.dtype.itemsize == 2 and out.dtype.itemsize == 2:
        table, bits = _table(st_dtype(src.dtype), st_dtype(out.dtype)), src.view(np.uint16)
        for i in range(0, len(src), _LOOKUP):
            np.take(table, bits[i:i + _LOOKUP], out=out[i:i + _LOOKUP], mode="clip")
    else:
        np.copyto(out, src, casting="unsafe")


def cast_pieces(array, target, piece_bytes=None):
    """``array`` (any layout) cast to safetensors dtype ``target``, as contiguous 1-D pieces of at most about
    ``piece_bytes`` (default ``PIECE_BYTES``) whose bytes, one after the other, are the C-order cast. The
    pieces share one buffer: each is valid until the next is asked for."""
    import numpy as np

    dtype = numpy_dtype(target)
    buffer = np.empty(max(1, (piece_bytes or PIECE_BYTES) // max(dtype.itemsize, array.dtype.itemsize)), dtype)
    yield from _pieces(array, buffer)


def _pieces(array, buffer):
    import numpy as np

    if array.flags.c_contiguous or array.ndim <= 1:
        flat = array.reshape(-1)  # a view when contiguous; a 1-D strided array reshapes to a view as well
        for i in range(0, len(flat), len(buffer)):
            src = np.ascontiguousarray(flat[i:i + len(buffer)])
            cast_into(src, buffer[:len(src)])
            yield buffer[:len(src)]
        return
    row = array[0].size
    if row > len(buffer):  # rows too long for one piece: each row on its own
        for sub in array:
            yield from _pieces(sub, buffer)
        return
    step = len(buffer) // max(row, 1)
    for i in range(0, len(array), step):
        src = np.ascontiguousarray(array[i:i + step]).reshape(-1)  # bounded: at most one buffer's elements
        cast_into(src, buffer[:len(src)])
        yield buffer[:len(src)]
