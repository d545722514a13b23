"""Grouped-query attention over a (possibly cached) key/value set, and the in-place cache write of a decode step."""

import mindspore as ms
from mindspore import ops

from mf_models.broadcast import expand, softmax


def attention(q, k, v, bias, scale, softmax_dtype=ms.float32, fused=None):
    """Causal grouped-query attention without repeating keys.

    q (b, s, h, d); k, v (b, kv, L, d); bias (b, 1 or h, s, L) additive float32 (mask, plus ALiBi).
    Returns (b, s, h*d). Query head ``i`` uses key head ``i // (h // kv)`` (HF's repeat_kv order).
    ``fused``: a ``native.SoftmaxWithBias`` (for float32 scores) or None.
    """
    b, s, h, d = q.shape
    kv, length = k.shape[1], k.shape[2]
    rep = h // kv
    q = (q * scale).reshape(b, s, kv, rep, d).transpose(0, 2, 3, 1, 4).reshape(b, kv, rep * s, d)
    scores = ops.BatchMatMul(transpose_b=True)(q, k).reshape(b, kv, rep, s, length)
    if scores.dtype != softmax_dtype:
        scores = ops.cast(scores, softmax_dtype)
    if fused is not None and scores.dtype == ms.float32:
        probs = fused(scores.reshape(b, kv * rep, s, length), bias)
    else:
        probs = softmax(scores + expand(bias.reshape(b, -1, rep if bias.shape[1] != 1 else 1, s, length),
                                        scores.shape))
    probs = ops.cast(probs, v.dtype).reshape(b, kv, rep * s, length)
    out = ops.BatchMatMul()(probs, v).reshape(b, kv, rep, s, d)
    return out.transpose(0, 3, 1, 2, 4).reshape(b, s, h * d)


def update_cache(past, new, write):
    """Write ``new`` (b, kv, 1, d) into the cache Parameter ``past`` (b*kv*L, d) in place, at the rows that
    ``write`` (b*kv,) (from ``decode_positions``) names; returns the updated cache as (b, kv, L, d).

    The cache is kept flat because MindSpore's CPU ``ScatterUpdate`` on its first axis is truly in place, while
    ``ScatterNdUpdate`` on a 4-D cache copied the whole cache every step."""
    b, kv, _, d = new.shape
    return ops.scatter_update(past, write, new.reshape(b * kv, d)).reshape(b, kv, -1, d)
