"""Tensor dtypes: safetensors' names, numpy dtypes (bfloat16 and float8 through ml_dtypes), CLI names."""

import ml_dtypes
import numpy as np

from mf_ckpt.errors import CheckpointError

ST_TO_NUMPY = {
    "F64": np.dtype(np.float64), "F32": np.dtype(np.float32), "F16": np.dtype(np.float16),
    "BF16": np.dtype(ml_dtypes.bfloat16), "F8_E4M3": np.dtype(ml_dtypes.float8_e4m3fn),
    "F8_E5M2": np.dtype(ml_dtypes.float8_e5m2), "I64": np.dtype(np.int64), "I32": np.dtype(np.int32),
    "I16": np.dtype(np.int16), "I8": np.dtype(np.int8), "U64": np.dtype(np.uint64), "U32": np.dtype(np.uint32),
    "U16": np.dtype(np.uint16), "U8": np.dtype(np.uint8), "BOOL": np.dtype(np.bool_),
}
NUMPY_TO_ST = {v: k for k, v in ST_TO_NUMPY.items()}
FLOATS = {"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"}
# what --dtype accepts (MindFormers' spellings and numpy's)
CLI_DTYPES = {"fp32": "F32", "float32": "F32", "fp16": "F16", "float16": "F16", "bf16": "BF16", "bfloat16": "BF16"}
ST_TO_NAME = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


def numpy_dtype(st_dtype, file=None, key=None):
    """The numpy dtype of a safetensors dtype name."""
    try:
        return ST_TO_NUMPY[st_dtype]
    except (KeyError, TypeError):
        raise CheckpointError(f"unknown dtype {st_dtype!r}; expected one of {', '.join(ST_TO_NUMPY)}",
                              file=file, key=key) from None


def st_dtype(np_dtype, key=None):
    """The safetensors dtype name of a numpy dtype."""
    try:
        return NUMPY_TO_ST[np.dtype(np_dtype)]
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
    return array.astype(ST_TO_NUMPY[target])


def cast_name(dtype, target):
    """The dtype name ``cast`` gives a tensor of safetensors dtype ``dtype``."""
    return target if target is not None and dtype in FLOATS else dtype
