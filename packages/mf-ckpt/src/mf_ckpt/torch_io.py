"""PyTorch ``.bin`` checkpoints, read with ``torch.load(weights_only=True, mmap=True)`` (torch is an extra)."""

import math
import pickle
from pathlib import Path

import ml_dtypes

from mf_ckpt.errors import CheckpointError
from mf_ckpt.safetensors_io import TensorInfo


def import_torch(file=None):
    try:
        import torch
    except ImportError:
        raise CheckpointError("PyTorch checkpoints need torch: pip install 'mf-ckpt[torch]'", file=file) from None
    return torch


class TorchFile:
    """A ``.bin`` state dict of plain tensors; ``tensors``, ``get``, ``release`` as SafetensorsFile."""

    def __init__(self, path):
        self.path = Path(path)
        torch = import_torch(self.path)
        self._names = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
                       torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
                       torch.uint8: "U8", torch.bool: "BOOL"}
        state = self._load(torch)
        if not isinstance(state, dict):
            raise CheckpointError(f"holds a {type(state).__name__}, expected a dict of tensor name -> tensor",
                                  file=self.path)
        self._state, self.tensors = state, {}
        for name, value in state.items():
            if not isinstance(name, str) or not isinstance(value, torch.Tensor):
                raise CheckpointError(f"holds a {type(value).__name__}, expected only tensors", file=self.path,
                                      key=str(name))
            if value.dtype not in self._names:
                raise CheckpointError(f"unsupported dtype {value.dtype}", file=self.path, key=name)
            nbytes = math.prod(value.shape) * value.element_size()
            self.tensors[name] = TensorInfo(self._names[value.dtype], tuple(value.shape), self.path, 0, nbytes)

    def _load(self, torch):
        try:
            try:
                return torch.load(self.path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as e:
                if "mmap" not in str(e):  # legacy (non-zip) files cannot be memory-mapped
                    raise
                return torch.load(self.path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CheckpointError(f"not a pickle of plain tensors, refused to unpickle it ({first})",
                                  file=self.path) from None
        except (RuntimeError, EOFError, ValueError) as e:
            raise CheckpointError(f"cannot read as a PyTorch checkpoint ({e})", file=self.path) from None

    def get(self, name):
        t = self._state[name].detach().contiguous()
        if self.tensors[name].dtype == "BF16":
            torch = import_torch()
            return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
        return t.numpy()

    def release(self, name):
        """Nothing to do: the tensors are views of the memory-mapped file."""

    def close(self):
        self._state = {}
