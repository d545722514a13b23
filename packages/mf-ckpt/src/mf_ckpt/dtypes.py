"""Tensor dtypes: safetensors' names, numpy dtypes (bfloat16 and float8 through ml_dtypes), CLI names.

numpy and ml_dtypes are imported on first use: writing tensors kept as they are needs neither (``itemsize``),
which keeps the start of every command short.
"""

import functools

from mf_ckpt.errors import CheckpointError

ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I64": 8, "I32": 4, "I16": 2,
            "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}
FLOATS = {"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"}
# what --dtype accepts (MindFormers' spellings and numpy's)
CLI_DTYPES = {"fp32": "F32", "float32": "F32", "fp16": "F16", "float16": "F16", "bf16": "BF16", "bfloat16": "BF16"}
ST_TO_NAME = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


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
