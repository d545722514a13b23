"""Open any checkpoint as one flat, lazily read set of tensors.

A safetensors file, a folder of safetensors shards with their index (or a single ``*.safetensors``),
PyTorch ``pytorch_model*.bin`` (``torch.load(weights_only=True)``, memory-mapped) or a MindSpore
``.ckpt`` (needs mindspore). ``get(name)`` gives a numpy array (bfloat16 as ml_dtypes.bfloat16),
``release(name)`` lets its memory go.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mf_ckpt.errors import CheckpointError
from mf_ckpt.safetensors_io import SafetensorsFile, TensorInfo
from mf_config import jsonio
from mf_config.fileio import settle

if TYPE_CHECKING:
    import numpy as np


class Reader(Protocol):
    """A file's reader that a Checkpoint takes tensors from (safetensors, torch or MindSpore)."""

    def get(self, name: str) -> np.ndarray: ...

    def release(self, name: str) -> None: ...

    def close(self) -> None: ...

ST_INDEX = "model.safetensors.index.json"
BIN_INDEX = "pytorch_model.bin.index.json"
MAX_INDEX = 256 << 20


class Checkpoint:
    """Tensors by name (``infos``: name -> TensorInfo, in file order) from one or more files."""

    def __init__(self, path: str | os.PathLike, kind: str) -> None:
        self.path = Path(path)
        self.kind = kind
        self.infos = {}
        self._owner = {}  # name -> (reader, the name in the reader's file)

    def add(self, name: str, info: TensorInfo, owner: Reader, stored_name: str | None = None) -> None:
        if name in self.infos:
            raise CheckpointError(f"tensor appears twice ({self.infos[name].file.name} and {info.file.name})",
                                  file=self.path, key=name)
        self.infos[name] = info
        self._owner[name] = owner, stored_name or name

    def get(self, name: str) -> np.ndarray:
        try:
            owner, stored = self._owner[name]
        except KeyError:
            raise CheckpointError("no such tensor in the checkpoint", file=self.path, key=name) from None
        return owner.get(stored)

    def release(self, name: str) -> None:
        owner, stored = self._owner[name]
        owner.release(stored)

    def add_prefix(self, prefix: str) -> None:
        """Name every tensor ``prefix + name`` (a base model's file read as the full model's)."""
        infos, owners = self.infos, self._owner
        self.infos, self._owner = {}, {}
        for name, info in infos.items():
            self.add(prefix + name, info, *owners[name])

    def close(self) -> None:
        for owner in {owner for owner, _ in self._owner.values()}:
            owner.close()


def open_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """A Checkpoint for a file or folder (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError("no such file or folder", file=path)
    if path.is_dir():
        return _open_folder(path)
    if path.suffix == ".safetensors":
        settle(path)  # a file written with its manifest: finish an interrupted publication
        return _safetensors(path, [path])
    if path.suffix in (".bin", ".pt", ".pth"):
        return _torch(path, [path])
    if path.suffix == ".ckpt":
        return _mindspore(path, path)
    if path.name.endswith(".index.json"):
        return _indexed(path)
    raise CheckpointError("not a checkpoint: expected .safetensors, .bin, .ckpt, an index .json or a folder",
                          file=path)


def _open_folder(folder):
    for index in (ST_INDEX, BIN_INDEX):
        if (folder / index).is_file():
            return _indexed(folder / index)
    indexes = _visible(folder, "*.safetensors.index.json")
    if len(indexes) == 1:
        return _indexed(indexes[0])
    for pattern, opener in (("*.safetensors", _safetensors), ("*.bin", _torch)):
        files = _visible(folder, pattern)
        if files:
            return opener(folder, files)
    ckpts = _visible(folder, "*.ckpt")
    if len(ckpts) == 1:
        return _mindspore(folder, ckpts[0])
    if any(p.is_dir() and p.name.startswith("rank_") for p in folder.iterdir()):
        raise CheckpointError("holds rank_N/ shards of a distributed checkpoint: pass one rank folder, or merge "
                              "them first (mf-ckpt merge)", file=folder)
    raise CheckpointError("no weights found: expected *.safetensors (with an index when sharded), "
                          "pytorch_model*.bin or one *.ckpt", file=folder)


def _visible(folder, pattern):
    """Files matching ``pattern``, hidden ones (a writer's temporaries) left out."""
    return sorted(p for p in folder.glob(pattern) if not p.name.startswith("."))


def shard_names(index_path):
    """The index's weight_map (tensor -> shard file name), each shard checked to lie inside its folder."""
    index_path = Path(index_path)
    data = jsonio.load(index_path, error=CheckpointError, max_bytes=MAX_INDEX, max_depth=8)
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict):
        raise CheckpointError("expected an object with a 'weight_map' of tensor name -> shard file",
                              file=index_path, key="weight_map")
    for name, shard in weight_map.items():
        if not isinstance(shard, str) or Path(shard).name != shard or shard in ("", ".", "..") or "\\" in shard:
            raise CheckpointError(f"shard {shard!r} is not a file name inside the index's folder",
                                  file=index_path, key=name)
        if not (index_path.parent / shard).is_file():
            raise CheckpointError(f"shard {shard} does not exist", file=index_path, key=name)
    return weight_map


def _indexed(index_path):
    weight_map = shard_names(index_path)
    folder = index_path.parent
    shards = sorted(set(weight_map.values()))
    opener = _torch if shards and shards[0].endswith(".bin") else _safetensors
    ckpt = opener(index_path, [folder / s for s in shards])
    missing = [name for name in weight_map if name not in ckpt.infos]
    if missing:
        raise CheckpointError(f"the index names it in {weight_map[missing[0]]}, which does not hold it",
                              file=index_path, key=missing[0])
    return ckpt


def _open_files(path, kind, reader, files):
    ckpt = Checkpoint(path, kind)
    try:
        for file in files:
            opened = reader(file)
            for name, info in opened.tensors.items():
                ckpt.add(name, info, opened)
    except BaseException:
        ckpt.close()
        raise
    return ckpt


def _safetensors(path, files):
    return _open_files(path, "safetensors", SafetensorsFile, files)


def _torch(path, files):
    from mf_ckpt.torch_io import TorchFile

    return _open_files(path, "torch", TorchFile, files)


def _mindspore(path, file):
    from mf_ckpt.mindspore_io import MindSporeFile

    return _open_files(path, "mindspore", MindSporeFile, [file])


__all__ = ["Checkpoint", "TensorInfo", "open_checkpoint", "shard_names"]
