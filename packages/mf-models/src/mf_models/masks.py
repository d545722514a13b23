"""Where each token sits: cache slots, positions and the additive causal mask of a step (in a graph for whole
sequences, on the host for a decode step)."""

import mindspore as ms
import numpy as np
from mindspore import ops

MASK_VALUE = -1e9


def positions_and_bias(batch, seq, length, start, offset):
    """Slots, positions and the additive causal mask of a step.

    Token ``t`` of row ``r`` sits in cache slot ``start[r] + t``; slots before ``offset[r]`` are left padding.
    Returns positions (b, s) int32 (slot - offset, clipped at 0) and the mask (b, 1, s, L) float32: 0 where
    key slot ``j`` satisfies ``offset <= j <= query slot``, else -1e9.
    """
    qslot = start.reshape(batch, 1) + ops.arange(seq, dtype=ms.int32).reshape(1, seq)
    kslot = ops.arange(length, dtype=ms.int32).reshape(1, 1, length)
    off = offset.reshape(batch, 1, 1)
    allowed = ops.logical_and(kslot <= qslot.reshape(batch, seq, 1), kslot >= off)
    bias = ops.select(allowed, ops.zeros((batch, seq, length), ms.float32),
                      ops.fill(ms.float32, (batch, seq, length), MASK_VALUE))
    positions = ops.maximum(qslot - offset.reshape(batch, 1), 0)
    return positions, bias.reshape(batch, 1, seq, length)


def decode_positions(start, offset, heads, length):
    """The inputs of a one-token decode step, computed on the host (numpy): positions (b, 1) int32 and the mask
    (b, 1, 1, L) float32 as ``positions_and_bias`` computes them in a graph, and the rows of the flat cache
    (row-major (b, heads, L)) that get each row's key/value (b*heads,) int32: ``(r * heads + h) * L +
    start[r]``. ``start`` and ``offset``: (b,) int.

    A dozen small kernels fewer in the decode graph; on MindSpore's CPU backend each costs more to launch
    than to run."""
    start = np.asarray(start, np.int32).reshape(-1, 1)
    offset = np.asarray(offset, np.int32).reshape(-1, 1)
    slots = np.arange(length, dtype=np.int32)
    allowed = (slots >= offset) & (slots <= start)
    bias = np.where(allowed, np.float32(0), np.float32(MASK_VALUE)).reshape(len(start), 1, 1, length)
    rows = np.arange(len(start), dtype=np.int32).reshape(-1, 1) * heads + np.arange(heads, dtype=np.int32)
    return np.maximum(start - offset, 0), bias, (rows * length + start).reshape(-1)


def start_offset(batch, start, offset):
    """``start`` and ``offset`` with zeros for the ones not given (a plain full forward)."""
    if start is None:
        start = ops.zeros((batch,), ms.int32)
    if offset is None:
        offset = ops.zeros((batch,), ms.int32)
    return start, offset
