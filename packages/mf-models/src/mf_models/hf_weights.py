"""Weights of a Hugging Face folder, loaded straight into one of our networks through its family's weight rules.

No converted copy is written: the tensors are read one at a time (safetensors through the ``safetensors``
package, memory-mapped; ``pytorch_model*.bin`` through ``torch.load(weights_only=True)`` when torch is
installed), moved by the rules of ``mf_config.rules`` (renamed, transposed, stacked, split) and set into the
parameters. bfloat16 tensors are widened to float32 exactly (numpy has no bfloat16) and cast to the
parameter's dtype. ``mf-ckpt convert`` does the same on disk, for checkpoints too large to load this way twice.
"""

import json
import struct
from pathlib import Path

import mindspore as ms
import numpy as np

from mf_config.rules import hf_shapes
from mf_config.spec import family_of
from mf_models.errors import ModelError

INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


class HFTensors:
    """The tensors of an HF weights file or folder: ``shapes`` (name -> shape) and ``get(name)`` (numpy)."""

    def __init__(self, path: Path):
        self.path = path
        self.shapes, self._files = {}, {}
        for file in weight_files(path):
            reader = _SafetensorsReader(file) if file.suffix == ".safetensors" else _TorchReader(file)
            for name, shape in reader.shapes.items():
                if name in self.shapes:
                    raise ModelError("tensor appears twice", file=file, key=name)
                self.shapes[name], self._files[name] = shape, reader
        self.prefix = ""

    def add_prefix(self, prefix: str) -> None:
        """Read a base model's file as the full model's (``h.0.`` as ``transformer.h.0.``)."""
        self.shapes = {prefix + name: shape for name, shape in self.shapes.items()}
        self._files = {prefix + name: reader for name, reader in self._files.items()}
        self.prefix = prefix

    def get(self, name: str) -> np.ndarray:
        return self._files[name].get(name[len(self.prefix):])

    def file_of(self, name: str) -> Path:
        return self._files[name].file


def weight_files(path: Path) -> list[Path]:
    """The weights files of an HF folder (its shard index, else its safetensors, else its .bin), or ``path``."""
    if path.is_file():
        return [path]
    for index in INDEXES:
        if (path / index).is_file():
            return _shards(path / index)
    for pattern in ("*.safetensors", "pytorch_model*.bin"):
        files = sorted(path.glob(pattern))
        if files:
            return files
    raise ModelError("no weights: expected *.safetensors (with an index when sharded) or pytorch_model*.bin",
                     file=path)


def _shards(index: Path) -> list[Path]:
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
    except (ValueError, KeyError, TypeError):
        raise ModelError("expected a JSON object with a 'weight_map'", file=index, key="weight_map") from None
    names = sorted(set(weight_map.values()))
    for shard in names:
        if not isinstance(shard, str) or Path(shard).name != shard or shard in ("", ".", ".."):
            raise ModelError(f"shard {shard!r} is not a file name inside the index's folder", file=index)
    return [index.parent / shard for shard in names]


class _SafetensorsReader:
    """One safetensors file, opened (and its header checked) by the ``safetensors`` package."""

    def __init__(self, file: Path):
        from safetensors import SafetensorError, safe_open

        self.file = file
        try:
            self._handle = safe_open(str(file), framework="numpy")
        except (SafetensorError, OSError) as e:
            raise ModelError(f"not a readable safetensors file ({e})", file=file) from None
        self.shapes = {n: tuple(self._handle.get_slice(n).get_shape()) for n in self._handle.keys()}
        self._bf16 = {n for n in self.shapes if self._handle.get_slice(n).get_dtype() == "BF16"}

    def get(self, name: str) -> np.ndarray:
        if name not in self._bf16:
            return self._handle.get_tensor(name)
        return bf16_to_float32(self._raw_bf16(name)).reshape(self.shapes[name])

    def _raw_bf16(self, name):
        """The tensor's bytes as uint16 (numpy has no bfloat16; the package's numpy reader refuses them). The
        header was checked by ``safe_open``; its offsets say where the bytes are."""
        with open(self.file, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            start, end = json.loads(f.read(n))[name]["data_offsets"]
        return np.memmap(self.file, np.uint16, "r", offset=8 + n + start, shape=((end - start) // 2,))


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

    def get(self, name: str) -> np.ndarray:
        t = self._state[name]
        return t.float().numpy() if str(t.dtype) == "torch.bfloat16" else t.numpy()


def bf16_to_float32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) as float32: the same numbers (bfloat16 is float32's upper half)."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def load_hf_weights(model, path: Path) -> None:
    """Set every parameter of ``model`` from the HF weights at ``path``, through the rules of its config's
    family; the tensors must be exactly those the config implies (buffers and tied heads aside)."""
    config = model.config
    spec = family_of(config)
    rules = spec.weight_rules(config)
    tensors = HFTensors(Path(path))
    prefix = spec.hf_base_prefix
    if prefix and not any(n.startswith(prefix) for n in tensors.shapes):
        tensors.add_prefix(prefix)  # saved from the base model (GPT2Model, BloomModel): no "transformer."
    _check(tensors, hf_shapes(rules), lambda n: spec.hf_ignorable(n, config), spec.name)
    params = {p.name: p for p in model.get_parameters()}
    for rule in rules:
        for name, array in rule.to_ours(tensors.get).items():
            param = params[name]
            param.set_data(ms.Tensor(np.ascontiguousarray(array), dtype=param.dtype))


def _check(tensors, expected, ignorable, family):
    for name, shape in expected.items():
        if name not in tensors.shapes:
            raise ModelError(f"missing: a {family} model of this config has it", file=tensors.path, key=name)
        if tensors.shapes[name] != tuple(shape):
            raise ModelError(f"shape {list(tensors.shapes[name])}, but the config implies {list(shape)}",
                             file=tensors.file_of(name), key=name)
    for name in tensors.shapes:
        if name not in expected and not ignorable(name):
            raise ModelError(f"not a tensor of a {family} model of this config", file=tensors.file_of(name),
                             key=name)
