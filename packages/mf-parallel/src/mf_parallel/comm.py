"""Collectives as Cells with their own backward, so that no bare collective sits in a layer.

Model-parallel regions (Megatron): what follows a reduce is computed identically by every rank of the group, so
its gradient is counted once: ``CopyToRegion`` (identity forward, all-reduce backward) enters a region whose
ranks each hold part of the weights, ``ReduceFromRegion`` (all-reduce forward, identity backward) leaves it, and
``Gather(backward="slice")`` gathers a split result whose backward keeps this rank's slice. A bare
``ops.AllReduce`` in a row-parallel layer would all-reduce its gradient again: ``mp`` times too large.

Across ranks that see different data (expert parallelism) the losses differ, so the true adjoints apply:
``AllReduceSum`` (all-reduce both ways) and ``Gather(backward="sum")`` (reduce-scatter backward).

Each cell takes a ``Group`` (this rank's view of a process group) and the backend's ``Capabilities``; where a
collective is missing on that group it is built from AllReduce, once, when the cell is made.
"""

from dataclasses import dataclass

from mindspore import nn, ops
from mindspore.ops import ReduceOp


@dataclass(frozen=True)
class Group:
    """One process group seen from this rank: its name, member ranks and this rank's position in it."""

    name: str
    ranks: tuple
    index: int
    world: bool

    @property
    def size(self):
        return len(self.ranks)


class CopyToRegion(nn.Cell):
    """Identity forward, all-reduce of the gradient backward: the input of a column-parallel region."""

    def __init__(self, group):
        super().__init__()
        self.all_reduce = ops.AllReduce(ReduceOp.SUM, group.name)

    def construct(self, x):
        return x

    def bprop(self, x, out, dout):
        return (self.all_reduce(dout),)


class ReduceFromRegion(nn.Cell):
    """All-reduce forward, identity backward: the output of a row-parallel region."""

    def __init__(self, group):
        super().__init__()
        self.all_reduce = ops.AllReduce(ReduceOp.SUM, group.name)

    def construct(self, x):
        return self.all_reduce(x)

    def bprop(self, x, out, dout):
        return (dout,)


class AllReduceSum(nn.Cell):
    """All-reduce forward and backward (the true adjoint): sums over ranks whose losses differ."""

    def __init__(self, group):
        super().__init__()
        self.all_reduce = ops.AllReduce(ReduceOp.SUM, group.name)

    def construct(self, x):
        return self.all_reduce(x)

    def bprop(self, x, out, dout):
        return (self.all_reduce(dout),)


class AllReduceMax(nn.Cell):
    """Element-wise maximum over the group, without gradient (a shift that softmax cancels): a MAX all-reduce,
    or the maximum of a gather along a new last axis where the backend reduces by sum only."""

    def __init__(self, group, caps):
        super().__init__()
        self.native = caps.native("all_reduce_max", group.world)
        if self.native:
            self.all_reduce = ops.AllReduce(ReduceOp.MAX, group.name)
        else:
            self.gather = Gather(group, caps, -1, "slice")

    def construct(self, x):
        x = ops.stop_gradient(x)
        if self.native:
            return self.all_reduce(x)
        return ops.amax(self.gather(x.expand_dims(-1)), -1)

    def bprop(self, x, out, dout):
        return (ops.zeros_like(x),)


def _perm_to_front(ndim, axis):
    return (axis,) + tuple(i for i in range(ndim) if i != axis)


def _perm_back(ndim, axis):
    return tuple(range(1, axis + 1)) + (0,) + tuple(range(axis + 1, ndim))


class Gather(nn.Cell):
    """Concatenate every rank's ``x`` along ``axis`` in group order.

    ``backward="slice"``: the gradient is this rank's slice of the incoming one (what follows is computed
    identically on every rank). ``backward="sum"``: the gradient is the sum over ranks of their slices for this
    rank (a reduce-scatter; what follows differs per rank). Native AllGather/ReduceScatter where the backend has
    them on this group, else built from AllReduce (zero-padded slices; all-reduce then slice).
    """

    def __init__(self, group, caps, axis=0, backward="slice"):
        super().__init__()
        if backward not in ("slice", "sum"):
            raise ValueError(f"backward must be 'slice' or 'sum', got {backward!r}")
        self.size, self.index, self.axis, self.backward = group.size, group.index, axis, backward
        self.native_gather = caps.native("all_gather", group.world)
        self.native_scatter = caps.native("reduce_scatter", group.world)
        self.all_reduce = ops.AllReduce(ReduceOp.SUM, group.name)
        if self.native_gather:
            self.all_gather = ops.AllGather(group.name)
        if self.native_scatter:
            self.reduce_scatter = ops.ReduceScatter(ReduceOp.SUM, group.name)

    def construct(self, x):
        axis = self.axis % x.ndim
        if self.native_gather:
            if axis == 0:
                return self.all_gather(x)
            y = self.all_gather(x.transpose(_perm_to_front(x.ndim, axis)))
            return y.transpose(_perm_back(x.ndim, axis))
        n = x.shape[axis]
        parts = ()
        if self.index > 0:
            parts = parts + (ops.zeros(x.shape[:axis] + (self.index * n,) + x.shape[axis + 1:], x.dtype),)
        parts = parts + (x,)
        after = self.size - 1 - self.index
        if after > 0:
            parts = parts + (ops.zeros(x.shape[:axis] + (after * n,) + x.shape[axis + 1:], x.dtype),)
        return self.all_reduce(ops.concat(parts, axis))

    def bprop(self, x, out, dout):
        axis = self.axis % x.ndim
        n = x.shape[axis]
        if self.backward == "slice":
            return (ops.narrow(dout, axis, self.index * n, n),)
        if self.native_scatter:
            if axis == 0:
                return (self.reduce_scatter(dout),)
            y = self.reduce_scatter(dout.transpose(_perm_to_front(x.ndim, axis)))
            return (y.transpose(_perm_back(x.ndim, axis)),)
        return (ops.narrow(self.all_reduce(dout), axis, self.index * n, n),)
