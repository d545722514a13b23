"""Sharded checkpoints of a parallelized network: this rank's layout as mf-ckpt's ``Layout`` (from the same
plan that split the cells), a writer and a loader.

A checkpoint folder, published by one rename once every rank's shard is in it::

    DIR/layout.json                      the layout (MindSpore's JSON form, which mf-ckpt reads) + mf metadata
    DIR/strategy/ckpt_strategy.ckpt      the same layout as MindSpore's strategy file (protobuf), for MindFormers
    DIR/rank_N/checkpoint_N.safetensors  rank N's block of every parameter (and optimizer state)

``mf-ckpt merge --src_strategy DIR/layout.json --src_ckpt_dir DIR --dst_ckpt_dir OUT`` rebuilds the full
checkpoint; ``load`` reads a full checkpoint or one sharded any other way (MindFormers' ``auto_trans_ckpt`` with
``src_strategy_path_or_dir``) into this rank's layout, block by block, through mf-ckpt.
"""

import json
import os
from pathlib import Path

import mindspore as ms
import numpy as np

from mf_parallel.config_check import source_layout
from mf_parallel.errors import ParallelError

LAYOUT_NAME = "layout.json"
STRATEGY_NAME = "strategy/ckpt_strategy.ckpt"


def dev_matrix(mesh, placement):
    """MindSpore's device matrix and tensor map of a placement (experts: (dp/ep, ep, mp); else (dp, mp))."""
    if "ep" in placement.axes():
        dev, position = (mesh.dp // mesh.ep, mesh.ep, mesh.mp), {"ep": 1, "mp": 0}
    else:
        dev, position = (mesh.dp, mesh.mp), {"mp": 0}
    return dev, position


def param_layout(mesh, placement, ndim):
    from mf_ckpt.layout import ParamLayout

    dev, position = dev_matrix(mesh, placement)
    tensor_map = [-1] * ndim
    for dim, axis in placement.dims:
        tensor_map[dim] = position[axis]
    return ParamLayout(tuple(dev), tuple(tensor_map))


class ShardedCheckpoint:
    """Layout, writer and loader for one parallelized network (``train_hooks(model).checkpoint``)."""

    def __init__(self, model, state):
        self.model, self.state = model, state
        self.runtime = state.runtime

    def placement_of(self, name, local_shape):
        """The placement of a saved tensor: its parameter's, also for optimizer states named ``PREFIX.<param>``
        (``adam_m.``, ``adam_v.``, ...) of the parameter's local shape; anything else is replicated."""
        from mf_parallel.placements import REPLICATED

        placements = self.state.placements
        if name in placements:
            return placements[name], self.state.full_shapes[name]
        _, _, param = name.partition(".")
        if param in placements and tuple(local_shape) == self._local_shape(param):
            return placements[param], self.state.full_shapes[param]
        return REPLICATED, tuple(local_shape)

    def _local_shape(self, name):
        return self.state.placements[name].local_shape(self.state.full_shapes[name], self.state.mesh)

    def layout(self, tensors):
        """mf-ckpt's ``Layout`` of ``tensors`` ({name: local shape}), e.g. ``{p.name: p.shape for p in ...}``."""
        from mf_ckpt.layout import Layout

        mesh = self.state.mesh
        return Layout({name: param_layout(mesh, self.placement_of(name, shape)[0], len(shape))
                       for name, shape in tensors.items()}, LAYOUT_NAME)

    def layout_json(self, tensors):
        """The layout as MindSpore's JSON strategy form, plus an ``mf_parallel`` section describing the mesh."""
        mesh = self.state.mesh
        items = {}
        for name, p in self.layout(tensors).params.items():
            items[name] = {"dev_matrix": list(p.dev_matrix), "tensor_map": list(p.tensor_map),
                           "opt_weight_shard_step": 0, "opt_weight_shard_size": 0}
        return {"mf_parallel": {"version": 1, "family": self.state.plan.family, "data_parallel": mesh.dp,
                                "model_parallel": mesh.mp, "expert_parallel": mesh.ep, "pipeline_stage": mesh.pp,
                                "world_size": mesh.world},
                "parallel_strategy_item": {}, "parallel_layout_item": items}

    def _tensors(self, cells, extra):
        out = {}
        for cell in cells:
            for p in cell.get_parameters():
                out.setdefault(p.name, p)
        for name, value in (extra or {}).items():
            out[name] = value if isinstance(value, ms.Tensor) else ms.Tensor(value)
        return out

    def save(self, directory, cells=None, extra=None, rank_files=None, add_files=None):
        """Write this rank's shard of ``cells`` (default: the network; pass the optimizer too for its states)
        and ``extra`` ({name: Tensor or number}, e.g. the step) into ``directory``; ``rank_files`` ({file name:
        bytes}, e.g. this rank's RNG states) go beside the shard; ``add_files(folder)``, called on rank 0, puts
        files shared by every rank (the model's config.json) beside the layout. Every rank calls it; the folder
        appears, complete, when the last rank's shard is written (one rename by rank 0). Returns the folder."""
        from mf_config.fileio import atomic_dir, atomic_write
        from mf_parallel.strategy_file import strategy_bytes

        tensors = self._tensors(cells or (self.model,), extra)
        directory = Path(directory)
        rank = self.runtime.rank
        barrier(self.runtime)
        if rank == 0:
            with atomic_dir(directory) as tmp:
                layout = self.layout_json({n: tuple(t.shape) for n, t in tensors.items()})
                with atomic_write(tmp / LAYOUT_NAME) as f:
                    json.dump(layout, f, indent=1)
                with atomic_write(tmp / STRATEGY_NAME, "wb") as f:
                    f.write(strategy_bytes(layout))
                if add_files is not None:
                    add_files(tmp)
                share(self.runtime, str(tmp))
                _write_shard(tmp, rank, tensors, rank_files)
                barrier(self.runtime)
        else:
            tmp = Path(share(self.runtime, None))
            _write_shard(tmp, rank, tensors, rank_files)
            barrier(self.runtime)
        barrier(self.runtime)
        return directory

    def load(self, source, src_strategy=None, cells=None, strict=True):
        """Load ``source`` (a whole checkpoint file or folder, or ``rank_N`` shards with their layout) into this
        rank's block of ``cells`` (default: the network). The source layout is ``src_strategy`` (a MindSpore
        strategy file or folder, or a layout.json), else ``source/layout.json``. Shapes are checked against
        this layout before anything is loaded. Returns the names loaded."""
        from mf_ckpt.resharding import Sources, read_block, tensor_meta

        source = Path(source)
        layout = source_layout(source, src_strategy)
        targets = self._tensors(cells or (self.model,), None)
        mine = self.layout({n: tuple(t.shape) for n, t in targets.items()})
        sources = Sources(source)
        try:
            meta = tensor_meta(sources, layout)
            missing = [n for n in targets if n not in meta]
            if missing and strict:
                raise ParallelError(f"{len(missing)} tensor(s) missing from the checkpoint, e.g. {missing[:3]}",
                                    file=source, key=missing[0])
            for name, param in targets.items():
                if name in meta:
                    full = self.placement_of(name, param.shape)[1]
                    dtype, found = meta[name]
                    if tuple(found) != tuple(full):
                        raise ParallelError(f"shape {list(found)} in the checkpoint, this network's layout needs "
                                            f"{list(full)}", file=source, key=name)
            loaded = []
            for name, param in targets.items():
                if name in meta:
                    dtype, full = meta[name]
                    block = read_block(sources, layout, name, full, mine.box(name, full, self.runtime.rank), dtype)
                    param.set_data(_tensor(block, param.dtype))
                    loaded.append(name)
            return loaded
        finally:
            sources.close()


def _tensor(block, dtype):
    if block.dtype.name == "bfloat16":
        return ms.Tensor(block.astype(np.float32)).astype(dtype)
    # np.array, not ascontiguousarray: that one makes a 0-d scalar (a loss scale, a step) 1-d
    return ms.Tensor(np.array(block, order="C")).astype(dtype)


def rank_file(source, name, rank):
    """The bytes of ``name`` that ``save(rank_files=...)`` left in ``rank``'s folder of ``source``."""
    path = Path(source) / f"rank_{rank}" / name
    if Path(name).name != name or not path.is_file():
        raise ParallelError(f"no file {name!r} in the rank folder", file=path.parent, key=name)
    return path.read_bytes()


def _write_shard(folder, rank, tensors, rank_files=None):
    """``folder/rank_N/checkpoint_N.safetensors`` through a temporary name, and ``rank_files`` beside it."""
    from mf_config.fileio import atomic_write

    target = Path(folder) / f"rank_{rank}" / f"checkpoint_{rank}.safetensors"
    target.parent.mkdir(parents=True, exist_ok=True)
    for name, data in (rank_files or {}).items():
        if Path(name).name != name or name.startswith(".") or name.endswith((".safetensors", ".ckpt")):
            raise ParallelError("a rank file name is a plain name that is not a checkpoint's", key=name)
        with atomic_write(target.parent / name, "wb") as f:
            f.write(data)
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.tmp.safetensors")  # MindSpore adds the suffix if missing
    try:
        ms.save_checkpoint([{"name": n, "data": t} for n, t in tensors.items()], str(tmp), format="safetensors")
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def barrier(runtime):
    """All ranks of the job reach this point (MindSpore's barrier on the world group)."""
    from mindspore import mint

    mint.distributed.barrier(group=runtime.caps.world_group)


def share(runtime, value):
    """Rank 0's ``value``, on every rank (an object all-gather on the world group)."""
    from mindspore import mint

    values = [None] * runtime.mesh.world
    mint.distributed.all_gather_object(values, value, group=runtime.caps.world_group)
    return values[0]
