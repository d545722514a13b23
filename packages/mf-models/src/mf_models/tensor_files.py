"""The tensors of a weights file or folder, ours or Hugging Face's, in any float dtype: names, shapes and dtypes from
the header (nothing loaded), then one tensor at a time as numpy.

- safetensors (one file, shards with their index, or every ``*.safetensors`` of a folder), read by the
  ``safetensors`` package, memory-mapped; bfloat16 as raw uint16 widened to float32 exactly (numpy has no
  bfloat16, and MindSpore's bfloat16 tensors cannot reach numpy 2);
- ``pytorch_model*.bin`` through ``torch.load(weights_only=True)`` (needs torch);
- a MindSpore ``.ckpt``, loaded whole by ``mindspore.load_checkpoint`` (the format has no header), bfloat16
  widened by a MindSpore cast.

Optimizer and step state that training checkpoints hold beside the weights (``adam_m.*``, ``global_step``, ...)
is left out. ``dtypes`` are safetensors' names (``F32``, ``F16``, ``BF16``, ``I64`` ...).
"""

import json
import struct
from pathlib import Path

import numpy as np

from mf_config import jsonio
from mf_config.state_names import is_optimizer_state
from mf_models.errors import ModelError

INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
FLOATS = ("F64", "F32", "F16", "BF16")
OWN_NAMES = ("model.safetensors", "model.ckpt")
MAX_INDEX = 64 << 20  # a shard index names each tensor once: a few MB for the largest models


class TensorFiles:
    """The tensors of a weights file or folder: ``shapes`` and ``dtypes`` (name -> ...), ``get(name)`` (numpy,
    bfloat16 widened to float32), ``file_of(name)``."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.shapes, self.dtypes, self._files = {}, {}, {}
        for file in weight_files(self.path):
            reader = _reader(file)
            for name, shape in reader.shapes.items():
                if is_optimizer_state(name):
                    continue
                if name in self.shapes:
                    raise ModelError("tensor appears twice", file=file, key=name)
                self.shapes[name], self.dtypes[name], self._files[name] = shape, reader.dtypes[name], reader
        self.prefix = ""

    def add_prefix(self, prefix: str) -> None:
        """Read a base model's file as the full model's (``h.0.`` as ``transformer.h.0.``)."""
        self.shapes = {prefix + name: shape for name, shape in self.shapes.items()}
        self.dtypes = {prefix + name: dtype for name, dtype in self.dtypes.items()}
        self._files = {prefix + name: reader for name, reader in self._files.items()}
        self.prefix = prefix

    def get(self, name: str) -> np.ndarray:
        return self._files[name].get(name[len(self.prefix):])

    def file_of(self, name: str) -> Path:
        return self._files[name].file


def weight_files(path: Path) -> list[Path]:
    """The weights files of a folder (its shard index, else model.safetensors or model.ckpt, else its safetensors,
    else its .bin, else its one .ckpt), or ``path`` itself."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ModelError("no such weights file or folder", file=path)
    for index in INDEXES:
        if (path / index).is_file():
            return _shards(path / index)
    for name in OWN_NAMES:  # a model folder's own weights (a training checkpoint may hold adapter files beside)
        if (path / name).is_file():
            return [path / name]
    for pattern in ("*.safetensors", "pytorch_model*.bin", "*.ckpt"):
        files = sorted(path.glob(pattern))
        if pattern == "*.ckpt" and len(files) > 1:
            raise ModelError(f"{len(files)} .ckpt files ({files[0].name}, {files[1].name}, ...): name one", file=path)
        if files:
            return files
    raise ModelError("no weights: expected *.safetensors (with an index when sharded), pytorch_model*.bin or a "
                     ".ckpt", file=path)


def _shards(index: Path) -> list[Path]:
    data = jsonio.load(index, error=ModelError, max_bytes=MAX_INDEX)
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict):
        raise ModelError("expected a JSON object with a 'weight_map'", file=index, key="weight_map")
    for shard in weight_map.values():
        if not isinstance(shard, str) or Path(shard).name != shard or shard in ("", ".", ".."):
            raise ModelError(f"shard {shard!r} is not a file name inside the index's folder", file=index)
    return [index.parent / shard for shard in sorted(set(weight_map.values()))]


def _reader(file: Path):
    if file.suffix == ".safetensors":
        return _SafetensorsReader(file)
    if file.suffix == ".ckpt":
        return _CkptReader(file)
    return _TorchReader(file)


class _SafetensorsReader:
    """One safetensors file, opened (and its header checked) by the ``safetensors`` package."""

    def __init__(self, file: Path):
        from safetensors import SafetensorError, safe_open

        self.file = file
        try:
            self._handle = safe_open(str(file), framework="numpy")
        except (SafetensorError, OSError) as e:
            raise ModelError(f"not a readable safetensors file ({e})", file=file) from None
        slices = {n: self._handle.get_slice(n) for n in self._handle.keys()}
        self.shapes = {n: tuple(s.get_shape()) for n, s in slices.items()}
        self.dtypes = {n: s.get_dtype() for n, s in slices.items()}
        self._offsets = None

    def get(self, name: str) -> np.ndarray:
        if self.dtypes[name] != "BF16":
            return self._handle.get_tensor(name)
        return bf16_to_float32(self._raw_bf16(name)).reshape(self.shapes[name])

    def _raw_bf16(self, name):
        """The tensor's bytes as uint16 (the package's numpy reader refuses bfloat16). The header was checked by
        ``safe_open``; its offsets say where the bytes are (read once per file)."""
        if self._offsets is None:
            with open(self.file, "rb") as f:
                (n,) = struct.unpack("<Q", f.read(8))
                header = json.loads(f.read(n))
            self._offsets = {k: (8 + n + v["data_offsets"][0], v["data_offsets"][1] - v["data_offsets"][0])
                             for k, v in header.items() if k != "__metadata__"}
        start, size = self._offsets[name]
        return np.memmap(self.file, np.uint16, "r", offset=start, shape=(size // 2,))


class _TorchReader:
    """A ``pytorch_model*.bin``: plain tensors only (``weights_only=True``), memory-mapped; needs torch."""

    def __init__(self, file: Path):
        try:
            import torch
        except ImportError:
            raise ModelError("reading .bin weights needs torch; or convert the folder with mf-ckpt convert",
                             file=file) from None
        self.file = file
        try:
            self._state = torch.load(str(file), map_location="cpu", weights_only=True, mmap=True)
        except Exception as e:  # torch raises many kinds for a bad or unsafe pickle
            raise ModelError(f"refused to unpickle or unreadable ({type(e).__name__})", file=file) from None
        self.shapes = {n: tuple(t.shape) for n, t in self._state.items()}
        names = {"torch.float32": "F32", "torch.float16": "F16", "torch.bfloat16": "BF16", "torch.float64": "F64"}
        self.dtypes = {n: names.get(str(t.dtype), str(t.dtype)) for n, t in self._state.items()}

    def get(self, name: str) -> np.ndarray:
        t = self._state[name]
        return t.float().numpy() if self.dtypes[name] == "BF16" else t.numpy()


class _CkptReader:
    """A MindSpore ``.ckpt``, loaded whole (optimizer state skipped)."""

    def __init__(self, file: Path):
        import mindspore as ms

        self.file = file
        try:
            self._params = ms.load_checkpoint(str(file), choice_func=lambda name: not is_optimizer_state(name))
        except (ValueError, RuntimeError, TypeError) as e:
            raise ModelError(f"cannot read as a MindSpore checkpoint ({e})", file=file) from None
        names = {ms.float64: "F64", ms.float32: "F32", ms.float16: "F16", ms.bfloat16: "BF16", ms.int64: "I64",
                 ms.int32: "I32", ms.int8: "I8", ms.uint8: "U8", ms.bool_: "BOOL"}
        self.shapes = {n: tuple(p.shape) for n, p in self._params.items()}
        self.dtypes = {n: names.get(p.dtype, str(p.dtype)) for n, p in self._params.items()}

    def get(self, name: str) -> np.ndarray:
        import mindspore as ms

        p = self._params[name]
        return p.astype(ms.float32).asnumpy() if p.dtype == ms.bfloat16 else p.asnumpy()


def bf16_to_float32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) as float32: the same numbers (bfloat16 is float32's upper half)."""
    return (bits.astype(np.uint32) << 16).view(np.float32)
