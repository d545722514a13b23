"""Explicit broadcasting before large element-wise products and sums.

MindSpore 2.10's CPU kernel for a binary op whose inputs differ in shape (other than a 0-d scalar) keeps about
four times its output's size for as long as the compiled graph lives, and runs slower than the same-shape op:
nine products of a (2048, 4096) float32 tensor by a (2048, 1) column kept 1.05 GB more, and took 1.2x as long,
as with the column broadcast first. The backward pass of a broadcasting product broadcasts too. Broadcasting
first (by ``Tile``) costs one full-size temporary, freed after use, and its gradient is a sum. Small results
(a decode step's) keep the implicit broadcast: one kernel fewer. ``softmax`` (attention's) and ``scale_by``
(a product with a broadcast row or column) have backward passes that broadcast explicitly too: MindSpore's own
softmax backward kept about 260 MB per layer of a 4 x 512-token batch with 16 heads.
"""

from mindspore import nn, ops

from mf_models.numpy_bridge import init_numpy_bridge

init_numpy_bridge()  # the backward pass below runs Tensor operators from Python in PyNative mode

EXPLICIT_FROM = 1 << 16  # elements of the result


def expand(t, shape):
    """``t`` broadcast to ``shape`` when that has at least ``EXPLICIT_FROM`` elements, else ``t`` itself.

    By ``Tile``: MindSpore's CPU ``BroadcastTo`` took 2.5x to 20x as long for the same result."""
    size = 1
    for n in shape:
        size *= n
    if size < EXPLICIT_FROM or tuple(t.shape) == tuple(shape):
        return t
    t = t.reshape((1,) * (len(shape) - len(t.shape)) + tuple(t.shape))
    multiples = ()
    for i in range(len(shape)):  # plain loops: a comprehension over zip() fails to compile inside a bprop
        multiples = multiples + (shape[i] // t.shape[i],)
    return ops.tile(t, multiples)


def sum_to(g, shape):
    """``g`` summed over the axes that ``shape`` broadcasts (``shape`` right-aligned with ``g``'s). A broadcast
    row or column sums by a product with ones: MindSpore's CPU ``ReduceSum`` took about 18 ms to sum a
    (2048, 1024) gradient to one row."""
    if tuple(g.shape) == tuple(shape):
        return g
    n = g.shape[-1]
    rows = 1
    for d in g.shape[:-1]:
        rows *= d
    lead = 1
    for d in shape[:-1]:
        lead *= d
    if shape[-1] == 1 and lead == rows:
        return ops.matmul(g.reshape(rows, n), ops.ones((n, 1), g.dtype)).reshape(shape)
    if shape[-1] == n and lead == 1:
        return ops.matmul(ops.ones((1, rows), g.dtype), g.reshape(rows, n)).reshape(shape)
    full = (1,) * (len(g.shape) - len(shape)) + tuple(shape)
    axes = ()
    for i in range(len(full)):
        if full[i] != g.shape[i]:
            axes = axes + (i,)
    return ops.sum(g, axes, keepdim=True).reshape(shape)


class _Softmax(nn.Cell):
    """Softmax over the last axis whose backward pass broadcasts explicitly: MindSpore's own subtracts a
    (..., 1) sum from the (..., n) gradient, and that kernel keeps about four times the scores' size."""

    def construct(self, x):
        return ops.softmax(x, -1)

    def bprop(self, x, out, dout):
        row = sum_to(out * dout, out.shape[:-1] + (1,))
        return ((dout - expand(row, dout.shape)) * out,)


softmax = _Softmax()


class _ScaleBy(nn.Cell):
    """``x * t`` with ``t`` broadcast to ``x``'s shape (by ``expand``); the backward pass broadcasts explicitly too
    and sums ``t``'s gradient with ``sum_to``."""

    def construct(self, x, t):
        return x * expand(t, x.shape)

    def bprop(self, x, t, out, dout):
        return dout * expand(t, x.shape), sum_to(dout * x, t.shape)


scale_by = _ScaleBy()
