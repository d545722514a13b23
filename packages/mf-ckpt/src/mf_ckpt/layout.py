"""Parallel layouts: per parameter, which block of the full tensor each rank holds.

A ``ParamLayout`` is MindSpore's description of one parameter (device matrix, tensor map, optimizer
shard step and size, pipeline stage): ranks of a stage are laid out row-major over ``dev_matrix``;
tensor dimension ``i`` is split over device dimension ``len(dev_matrix) - 1 - tensor_map[i]`` (or over
several, for a nested map; ``-1`` = not split). With optimizer sharding the model-parallel slice is
split again along its first dimension over ``opt_shard_size`` ranks ``opt_shard_step`` apart. Our
tensor-parallel form (``split_dim`` across ``model_parallel``) is the special case with
``dev_matrix = [data_parallel, model_parallel]``.

A ``Layout`` maps parameter names to ParamLayouts; parameters it does not name are whole on every rank.
"""

import math
from dataclasses import dataclass

from mf_ckpt.errors import CheckpointError


@dataclass(frozen=True)
class ParamLayout:
    dev_matrix: tuple
    tensor_map: tuple = None  # None: take split_dim
    opt_shard_step: int = 0
    opt_shard_size: int = 0
    stage: int = 0
    split_dim: int = None

    @property
    def device_num(self):
        return math.prod(self.dev_matrix)

    def tensor_map_for(self, ndim, name=None):
        if self.tensor_map is None:
            tm = [-1] * ndim
            if self.split_dim is not None:
                if not -ndim <= self.split_dim < ndim:
                    raise CheckpointError(f"split_dim {self.split_dim} is outside a {ndim}-D tensor", key=name)
                tm[self.split_dim] = 0
            return tuple(tm)
        if len(self.tensor_map) != ndim:
            raise CheckpointError(f"tensor_map {list(self.tensor_map)} does not fit a {ndim}-D tensor", key=name)
        return self.tensor_map

    def _dims(self, entry):
        """Device dimensions (indices into dev_matrix, major first) that one tensor-map entry splits over."""
        entries = entry if isinstance(entry, (tuple, list)) else (entry,)
        return [len(self.dev_matrix) - 1 - e for e in entries if e != -1]

    def strategy(self, ndim, name=None):
        """Number of model-parallel pieces per tensor dimension."""
        return tuple(math.prod(self.dev_matrix[d] for d in self._dims(e)) for e in self.tensor_map_for(ndim, name))

    def opt_size(self, ndim, name=None):
        """The optimizer-shard size (``-1`` means every replica of the slice; step or size 0: none, as MindSpore)."""
        if not self.opt_shard_step or not self.opt_shard_size:
            return 1
        if self.opt_shard_size == -1:
            return self.device_num // math.prod(self.strategy(ndim, name))
        return self.opt_shard_size

    def full_shape(self, slice_shape, name=None):
        """The whole tensor's shape from one rank's slice shape."""
        strategy = list(self.strategy(len(slice_shape), name))
        if strategy:
            strategy[0] *= self.opt_size(len(slice_shape), name)
        return tuple(s * k for s, k in zip(slice_shape, strategy))

    def box(self, full_shape, local_rank, name=None):
        """The (start, stop) per dimension of the block of the full tensor that ``local_rank`` holds."""
        coord, rest = [], local_rank
        for size in reversed(self.dev_matrix):
            coord.append(rest % size)
            rest //= size
        coord.reverse()
        ndim = len(full_shape)
        box = []
        for dim, entry in enumerate(self.tensor_map_for(ndim, name)):
            index, pieces = 0, 1
            for d in self._dims(entry):
                index = index * self.dev_matrix[d] + coord[d]
                pieces *= self.dev_matrix[d]
            if full_shape[dim] % pieces:
                raise CheckpointError(f"dimension {dim} ({full_shape[dim]}) does not split into {pieces}", key=name)
            step = full_shape[dim] // pieces
            box.append((index * step, (index + 1) * step))
        opt = self.opt_size(ndim, name)
        if opt > 1 and ndim:
            start, stop = box[0]
            if (stop - start) % opt:
                raise CheckpointError(f"dimension 0 ({stop - start}) does not split into {opt} optimizer shards",
                                      key=name)
            step = (stop - start) // opt
            index = (local_rank // self.opt_shard_step) % opt
            box[0] = (start + index * step, start + (index + 1) * step)
        return tuple(box)


class Layout:
    """Parameter name -> ParamLayout, for ``stages`` pipeline stages of ``stage_device_num`` ranks each."""

    def __init__(self, params, source="layout"):
        self.params = dict(params)
        self.source = str(source)
        nums = {p.device_num for p in self.params.values()}
        if len(nums) > 1:
            raise CheckpointError(f"device matrices of different sizes {sorted(nums)} in one layout", file=source)
        self.stage_device_num = nums.pop() if nums else 1
        self.stages = max((p.stage for p in self.params.values()), default=0) + 1

    @property
    def world_size(self):
        return self.stages * self.stage_device_num

    def ranks_of(self, name):
        """The global ranks that hold (part of) parameter ``name``."""
        p = self.params.get(name)
        if p is None:
            return range(self.world_size)
        return range(p.stage * self.stage_device_num, (p.stage + 1) * self.stage_device_num)

    def box(self, name, full_shape, rank):
        """The block of ``name`` that global ``rank`` holds, or None when it holds none."""
        if rank not in self.ranks_of(name):
            return None
        p = self.params.get(name)
        if p is None:
            return tuple((0, n) for n in full_shape)
        return p.box(full_shape, rank % self.stage_device_num, name)

    def full_shape(self, name, slice_shape):
        p = self.params.get(name)
        return tuple(slice_shape) if p is None else p.full_shape(tuple(slice_shape), name)
