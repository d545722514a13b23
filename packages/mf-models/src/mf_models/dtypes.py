"""Config dtype names -> MindSpore dtypes (bfloat16 refused on the CPU backend), and int32 tensors of ids."""

import mindspore as ms
import numpy as np
from mindspore import Tensor, ops

from mf_config.errors import ConfigError

_DTYPES = {"float32": ms.float32, "float16": ms.float16, "bfloat16": ms.bfloat16}


def ms_dtype(name: str, key: str = "compute_dtype") -> ms.Type:
    """MindSpore dtype for a config dtype name; bfloat16 is refused on the CPU backend (no bf16 MatMul there)."""
    if name == "bfloat16" and ms.get_context("device_target") == "CPU":
        raise ConfigError("bfloat16 is not supported by MindSpore's CPU backend (no bf16 MatMul); "
                          f"set {key}=float32 (or float16) to run on CPU", key=key)
    return _DTYPES[name]


def dtypes(config) -> tuple:
    """(param dtype, compute dtype, norm dtype, softmax dtype) of a model config."""
    return (ms_dtype(config.param_init_type, "param_init_type"), ms_dtype(config.compute_dtype),
            ms_dtype(config.layernorm_compute_type, "layernorm_compute_type"),
            ms_dtype(config.softmax_compute_type, "softmax_compute_type"))


def int_tensor(values) -> Tensor:
    """An int32 Tensor of ``values`` (a list, array or Tensor)."""
    if isinstance(values, Tensor):
        return ops.cast(values, ms.int32)
    return Tensor(np.asarray(values, dtype=np.int32))
