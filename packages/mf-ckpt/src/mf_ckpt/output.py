"""Writing checkpoints tensor by tensor: a ``Spec`` says what to write, ``save_folder``/``save_file`` write it.

A Spec names an output tensor, its dtype and shape, and how to make it (``parts()``: arrays whose
C-order bytes, one after the other, are the tensor). Specs are written in order, one at a time,
shards closed as they fill; the source tensors a Spec read are released right after it is written.
Every output lands under its final name only when complete, with its SHA-256 manifest (hashed on every
core while it is written, see ``mf_ckpt.manifest``). Bytes made in this process go straight to the disk
(``mf_ckpt.direct_write``); tensors copied unchanged from a file are copied by the kernel.
"""

import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mf_ckpt import direct_write
from mf_ckpt.direct_write import DirectFile
from mf_ckpt.dtypes import cast, castable, itemsize
from mf_ckpt.manifest import BlockHashes, file_blocks, hash_pool, write_file_manifest, write_folder_manifest
from mf_ckpt.safetensors_io import SafetensorsWriter
from mf_config.fileio import atomic_dir, atomic_files

DEFAULT_SHARD_BYTES = 5 * 1024**3


@dataclass
class Spec:
    """One output tensor: ``parts()`` returns the arrays that make it; ``sources`` are released after.

    ``ranges``, when set, are the (file, start, end) byte ranges of a safetensors source whose values, one
    after the other, are exactly the tensor's, in ``source_dtype`` (None: ``dtype``): the writer then copies
    them in the kernel, or reads and casts them a slice at a time."""

    name: str
    dtype: str
    shape: tuple
    parts: Callable
    sources: tuple = field(default=())
    ranges: tuple = field(default=())
    source_dtype: str | None = None

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * itemsize(self.dtype)


def streamed(ckpt, names, dtype):
    """Spec's ``ranges`` and ``source_dtype`` when ``names`` are safetensors data of one dtype, kept as they are
    or cast to ``dtype``: the writer streams them from the file. Else {} (the Spec's parts are written)."""
    infos = [ckpt.infos[n] for n in names]
    kinds = {i.dtype for i in infos}
    if ckpt.kind != "safetensors" or len(kinds) != 1 or not (kinds == {dtype} or castable(kinds.pop(), dtype)):
        return {}
    return {"ranges": tuple((i.file, i.start, i.end) for i in infos), "source_dtype": infos[0].dtype}


def copy_spec(ckpt, name, out_name=None, dtype=None):
    """The Spec that copies tensor ``name`` of ``ckpt`` (renamed to ``out_name``, cast to ``dtype``)."""
    info = ckpt.infos[name]
    dtype = dtype or info.dtype
    return Spec(out_name or name, dtype, info.shape, lambda: [ckpt.get(name)], (name,), **streamed(ckpt, [name], dtype))


@dataclass
class Stats:
    """What a write did, for the one-line summary."""

    tensors: int = 0
    bytes: int = 0
    files: int = 0
    start: float = field(default_factory=time.perf_counter)

    def summary(self, what="wrote"):
        seconds = time.perf_counter() - self.start
        return (f"{what} {self.tensors} tensors, {self.bytes / 1e6:.1f} MB in {self.files} file(s), "
                f"{seconds:.2f} s ({self.bytes / 1e6 / max(seconds, 1e-9):.0f} MB/s)")


class _Quiet:
    """The progress bar when stderr is not a terminal (tqdm would be disabled there; this spares its import)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n):
        pass


def progress(total):
    """A tqdm byte counter on a terminal."""
    if not sys.stderr.isatty():
        return _Quiet()
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, leave=False)


def write_specs(f, specs, release, stats, bar, pool, metadata=None):
    """Write ``specs`` as one safetensors file to ``f``: a ``DirectFile`` hashes its chunks as it writes them;
    another file must be open for reading too (each block is hashed in ``pool``, read back, as soon as it is
    written). Returns the block digests of its manifest entry."""
    writer = SafetensorsWriter(f, [(s.name, s.dtype, s.shape) for s in specs], metadata)
    blocks = f if isinstance(f, DirectFile) else BlockHashes(f.fileno(), pool)
    try:
        for spec in specs:
            writer.write(spec.name, spec.parts, spec.ranges, spec.source_dtype, cast=True)
            f.flush()
            blocks.written(f.tell())
            for source in spec.sources:
                release(source)
            stats.tensors += 1
            stats.bytes += spec.nbytes
            bar.update(spec.nbytes)
    except BaseException:
        blocks.cancel()
        raise
    f.flush()
    stats.files += 1
    return blocks.result(f.tell())


def plan_shards(specs, max_bytes):
    """Specs grouped into shards of at most ``max_bytes`` (a larger tensor gets a shard of its own)."""
    shards, size = [[]], 0
    for spec in specs:
        if shards[-1] and size + spec.nbytes > max_bytes:
            shards.append([])
            size = 0
        shards[-1].append(spec)
        size += spec.nbytes
    return shards


def write_weights(folder, specs, release, stats, pool, prefix="model", max_shard_bytes=DEFAULT_SHARD_BYTES,
                  fmt="safetensors", metadata=None):
    """Write ``specs`` into ``folder``: ``PREFIX.safetensors`` or shards plus ``PREFIX.safetensors.index.json``
    (Hugging Face's names), or ``PREFIX.ckpt``; returns {file name: manifest entry} of the weights it wrote.
    ``pool`` (``manifest.hash_pool()``) hashes them."""
    folder = Path(folder)
    digests = {}
    with progress(sum(s.nbytes for s in specs)) as bar:
        if fmt == "ckpt":
            from mf_ckpt.mindspore_io import save_ckpt

            save_ckpt(folder / f"{prefix}.ckpt", _arrays(specs, release, stats, bar))
            stats.files += 1
            return digests
        shards = plan_shards(specs, max_shard_bytes)
        if len(shards) == 1:
            name = f"{prefix}.safetensors"
            with _open(folder / name, shards[0]) as f:
                digests[name] = write_specs(f, shards[0], release, stats, bar, pool, metadata)
            return digests
        weight_map = {}
        for i, shard in enumerate(shards, 1):
            name = f"{prefix}-{i:05d}-of-{len(shards):05d}.safetensors"
            with _open(folder / name, shard) as f:
                digests[name] = write_specs(f, shard, release, stats, bar, pool, metadata)
            weight_map.update({s.name: name for s in shard})
    index = {"metadata": {"total_size": sum(s.nbytes for s in specs)}, "weight_map": weight_map}
    (folder / f"{prefix}.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return digests


def _open(path, specs):
    """An output file for ``specs``: written straight to the disk when every byte passes through this process (made
    in memory, or cast from a file); through the page cache when the kernel copies some tensor's bytes from a file
    into it (``SafetensorsWriter._copy``: ranges in the output dtype)."""
    if any(s.ranges and (s.source_dtype or s.dtype) == s.dtype for s in specs):
        return open(path, "w+b")
    return direct_write.create(path)


def _arrays(specs, release, stats, bar):
    for spec in specs:
        parts = [cast(p, spec.dtype) for p in spec.parts()]
        array = parts[0].reshape(spec.shape) if len(parts) == 1 else _concat(parts, spec)
        yield spec.name, array.copy()
        for source in spec.sources:
            release(source)
        stats.tensors += 1
        stats.bytes += spec.nbytes
        bar.update(spec.nbytes)


def _concat(parts, spec):
    import numpy as np

    return np.concatenate([p.reshape(-1) for p in parts]).reshape(spec.shape)


def save_folder(out: str | os.PathLike, specs: Sequence[Spec], release: Callable[[str], None], *,
                extra: Callable[[Path], None] | None = None, inputs: Sequence[str | os.PathLike] = (),
                **kwargs: Any) -> Stats:
    """Write a whole output folder atomically: ``extra(tmp)`` adds files (config.json), then the weights,
    then SHA256SUMS. ``inputs``: the paths read (the output may not be, contain or lie in one). Returns Stats."""
    stats = Stats()
    with atomic_dir(out, inputs=inputs, size=sum(s.nbytes for s in specs)) as tmp, hash_pool() as pool:
        if extra is not None:
            extra(tmp)
        digests = write_weights(tmp, specs, release, stats, pool, **kwargs)
        write_folder_manifest(tmp, digests, pool)
    return stats


def save_file(path: str | os.PathLike, specs: Sequence[Spec], release: Callable[[str], None],
              metadata: dict[str, str] | None = None, inputs: Sequence[str | os.PathLike] = ()) -> Stats:
    """Write one safetensors file (or a MindSpore ``.ckpt`` when ``path`` ends so) with ``PATH.sha256.json``
    beside it, the two published together (a commit marker: never the new file with the old manifest).
    Returns Stats."""
    path = Path(path)
    stats = Stats()
    bar = progress(sum(s.nbytes for s in specs))
    with atomic_files(path, inputs=inputs, size=sum(s.nbytes for s in specs)) as stage:
        staged = stage / path.name
        if path.suffix == ".ckpt":
            from mf_ckpt.mindspore_io import save_ckpt

            with bar:
                save_ckpt(staged, _arrays(specs, release, stats, bar))
            stats.files += 1
            with hash_pool() as pool:
                write_file_manifest(staged, file_blocks(staged, pool))
            return stats
        with bar, hash_pool() as pool, _open(staged, specs) as f:
            digests = write_specs(f, specs, release, stats, bar, pool, metadata)
        write_file_manifest(staged, digests)
    return stats
