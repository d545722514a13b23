"""``merge``, ``split`` and ``transform``: rank shards from one layout to another, parameter by parameter.

Sources are ``DIR/rank_N/<checkpoint>`` folders (the last checkpoint of each folder in name order, as
MindSpore picks) or one whole checkpoint. Each destination block is assembled from the source blocks
that overlap it (one replica of each), so memory holds one destination block and the mapped sources;
where those pieces are whole rows of safetensors files (splits along the first dimension, replicated
tensors) the kernel copies the byte ranges and nothing is assembled.
Outputs are ``DST/rank_N/{prefix}N.safetensors`` (or ``.ckpt``), as ``mindspore.transform_checkpoints``
names them, each rank folder with its SHA256SUMS.json.
"""

import math
import os
import re
from pathlib import Path

import numpy as np

from mf_ckpt.dtypes import numpy_dtype
from mf_ckpt.errors import CheckpointError
from mf_ckpt.layout import Layout
from mf_ckpt.manifest import hash_pool, write_folder_manifest
from mf_ckpt.output import Spec, Stats, write_weights
from mf_ckpt.store import open_checkpoint
from mf_config.fileio import atomic_dir

_RANK = re.compile(r"rank_(\d+)$")
_SUFFIXES = (".safetensors", ".ckpt")


class Sources:
    """The source checkpoints by rank (one rank, 0, for a whole checkpoint)."""

    def __init__(self, path):
        path = Path(path)
        ranks = {int(m.group(1)): p for p in path.iterdir() if (m := _RANK.match(p.name)) and p.is_dir()} \
            if path.is_dir() else {}
        self.path = path
        self.ckpts = {}
        try:
            if not ranks:
                self.ckpts[0] = open_checkpoint(path)
            for rank in sorted(ranks):
                files = sorted(f for f in ranks[rank].iterdir() if f.suffix in _SUFFIXES and f.is_file())
                if not files:
                    raise CheckpointError("no .safetensors or .ckpt file in the rank folder", file=ranks[rank])
                self.ckpts[rank] = open_checkpoint(files[-1])
        except BaseException:
            self.close()
            raise
        self.names = list(dict.fromkeys(n for c in self.ckpts.values() for n in c.infos))

    def release(self, name):
        for ckpt in self.ckpts.values():
            if name in ckpt.infos:
                ckpt.release(name)

    def close(self):
        for ckpt in self.ckpts.values():
            ckpt.close()


def _volume(box):
    return math.prod(stop - start for start, stop in box)


def tensor_meta(sources, layout):
    """name -> (dtype, full shape), each rank's slice shape checked against the layout."""
    meta = {}
    for name in sources.names:
        holders = [r for r in layout.ranks_of(name) if r in sources.ckpts and name in sources.ckpts[r].infos]
        if not holders:
            raise CheckpointError(f"no rank the layout ({layout.source}) assigns it to holds it", file=sources.path,
                                  key=name)
        first = sources.ckpts[holders[0]].infos[name]
        full = layout.full_shape(name, first.shape)
        for rank in holders:
            info = sources.ckpts[rank].infos[name]
            want = tuple(b - a for a, b in layout.box(name, full, rank))
            if tuple(info.shape) != want or info.dtype != first.dtype:
                raise CheckpointError(f"rank {rank} holds {info.dtype} {list(info.shape)}, the layout "
                                      f"({layout.source}) implies {first.dtype} {list(want)}", file=info.file,
                                      key=name)
        meta[name] = first.dtype, full
    return meta


def _pieces(sources, layout, name, full):
    """(checkpoint, block) of each distinct source block of ``name`` (one replica of each)."""
    seen = set()
    for rank in layout.ranks_of(name):
        ckpt = sources.ckpts.get(rank)
        if ckpt is None or name not in ckpt.infos:
            continue
        src = layout.box(name, full, rank)
        if src not in seen:
            seen.add(src)
            yield ckpt, src


def read_block(sources, layout, name, full, box, dtype):
    """The block ``box`` of tensor ``name`` assembled from the source ranks that hold it."""
    out = np.empty(tuple(b - a for a, b in box), dtype=numpy_dtype(dtype))
    covered = 0
    for ckpt, src in _pieces(sources, layout, name, full):
        inter = tuple((max(a, c), min(b, d)) for (a, b), (c, d) in zip(box, src))
        if any(a >= b for a, b in inter) and out.size:
            continue
        out[tuple(slice(a - o, b - o) for (a, b), (o, _) in zip(inter, box))] = \
            ckpt.get(name)[tuple(slice(a - o, b - o) for (a, b), (o, _) in zip(inter, src))]
        covered += _volume(inter)
    if covered != _volume(box):
        missing = [r for r in layout.ranks_of(name) if r not in sources.ckpts]
        raise CheckpointError(f"the source ranks cover {covered} of the {_volume(box)} values needed"
                              + (f"; missing rank folders {missing[:8]}" if missing else ""),
                              file=sources.path, key=name)
    return out


def block_ranges(sources, layout, name, full, box):
    """The source byte ranges that, one after the other, are block ``box`` of ``name``: where each source piece
    is whole rows (every dimension but the first complete) of a safetensors file; () otherwise."""
    pieces = []
    for ckpt, src in _pieces(sources, layout, name, full):
        info = ckpt.infos[name]
        if ckpt.kind != "safetensors":
            return ()
        if not box:
            return ((info.file, info.start, info.end),)
        first = (max(box[0][0], src[0][0]), min(box[0][1], src[0][1]))
        if first[0] >= first[1]:
            continue
        if any(box[d] != src[d] for d in range(1, len(box))):
            return ()
        row = info.nbytes // (src[0][1] - src[0][0])
        pieces.append((first[0], (info.file, info.start + (first[0] - src[0][0]) * row,
                                  info.start + (first[1] - src[0][0]) * row)))
    return tuple(piece for _, piece in sorted(pieces))


def reshard(src: str | os.PathLike, dst_dir: str | os.PathLike, src_layout: Layout | None = None,
            dst_layout: Layout | None = None, prefix: str = "checkpoint_", fmt: str = "safetensors") -> Stats:
    """Rewrite the shards under ``src`` (laid out by ``src_layout``; None: one whole checkpoint) into
    ``dst_dir/rank_N`` laid out by ``dst_layout`` (None: one whole checkpoint, i.e. merge). Returns Stats."""
    src_layout = src_layout or Layout({})
    dst_layout = dst_layout or Layout({})
    sources = Sources(src)
    try:
        if src_layout.world_size > 1 and set(sources.ckpts) - set(range(src_layout.world_size)):
            extra = sorted(set(sources.ckpts) - set(range(src_layout.world_size)))
            raise CheckpointError(f"rank folders {extra[:8]} beyond the layout's {src_layout.world_size} ranks",
                                  file=sources.path)
        meta = tensor_meta(sources, src_layout)
        stats = Stats()
        with atomic_dir(dst_dir, inputs=[src]) as tmp, hash_pool() as pool:
            for rank in range(dst_layout.world_size):
                specs = []
                for name, (dtype, full) in meta.items():
                    box = dst_layout.box(name, full, rank)
                    if box is None:
                        continue
                    specs.append(Spec(name, dtype, tuple(b - a for a, b in box),
                                      lambda n=name, f=full, b=box, d=dtype: [read_block(sources, src_layout, n, f,
                                                                                         b, d)], (name,),
                                      block_ranges(sources, src_layout, name, full, box)))
                folder = tmp / f"rank_{rank}"
                folder.mkdir()
                digests = write_weights(folder, specs, sources.release, stats, pool, prefix=f"{prefix}{rank}",
                                        max_shard_bytes=float("inf"), fmt=fmt)
                write_folder_manifest(folder, digests, pool)
        return stats
    finally:
        sources.close()
