"""Position maths: RoPE tables and rotation (Llama), ALiBi slopes (Bloom); numpy tables, MindSpore ops."""

import math

import mindspore as ms
import numpy as np
from mindspore import Tensor, ops

from mf_models.broadcast import expand


def rope_tables(head_dim, max_positions, theta=10000.0, extend_method="None", scaling_factor=1.0):
    """cos and signed sin tables (max_positions, head_dim) in the rotate-half layout of HF and MindFormers; the
    sin table's first half is negated so that ``apply_rope`` needs no negation.

    ``extend_method`` as MindFormers' FreqsMgr: ``PI`` divides positions by ``scaling_factor``;
    ``NTK`` scales the base to ``theta * scaling_factor ** (d / (d - 2))``; ``LLAMA3`` (Llama 3.1) rescales the
    frequencies by ``llama3_frequencies`` with the mapping ``scaling_factor``.
    """
    if extend_method == "NTK":
        theta = theta * scaling_factor ** (head_dim / (head_dim - 2))
    inv_freq = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    if extend_method == "LLAMA3":
        inv_freq = llama3_frequencies(inv_freq, **scaling_factor)
    t = np.arange(max_positions, dtype=np.float64)
    if extend_method == "PI":
        t = t / scaling_factor
    freqs = np.outer(t, inv_freq)
    cos = np.cos(np.concatenate([freqs, freqs], axis=-1))
    sin = np.sin(np.concatenate([-freqs, freqs], axis=-1))
    return cos.astype(np.float32), sin.astype(np.float32)


def llama3_frequencies(inv_freq, factor, low_freq_factor, high_freq_factor, original_max_position_embeddings):
    """Llama 3.1's RoPE scaling (MindFormers' ``LLAMA3``, transformers' ``llama3``): wavelengths above
    ``original / low_freq_factor`` slowed by ``factor``, those below ``original / high_freq_factor`` kept, and a
    smooth blend between."""
    wavelen = 2 * math.pi / inv_freq
    smooth = (original_max_position_embeddings / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    blended = (1 - smooth) * inv_freq / factor + smooth * inv_freq
    out = np.where(wavelen > original_max_position_embeddings / low_freq_factor, inv_freq / factor, blended)
    return np.where(wavelen < original_max_position_embeddings / high_freq_factor, inv_freq, out)


def half_swap(head_dim, dtype=ms.float32):
    """The (d, d) permutation matrix that swaps the two halves of a vector: ``x @ half_swap(d)`` is
    ``(x2, x1)``."""
    j = np.arange(head_dim)
    swap = np.zeros((head_dim, head_dim), np.float32)
    swap[(j + head_dim // 2) % head_dim, j] = 1.0
    return Tensor(swap, dtype)


def apply_rope(x, cos, sin, swap):
    """x (b, s, h, d) rotated by cos and signed sin (b, s, 1, d) of ``rope_tables``:
    ``x*cos + rotate_half(x)*sin`` with ``rotate_half(x) = (-x2, x1)``: the halves swapped by a product with
    ``swap`` (``half_swap(d)``; MindSpore's CPU ``ReverseV2`` took 5x as long over a prompt), the sign is in
    the sin table."""
    b, s, h, d = x.shape
    return x * expand(cos, x.shape) + ops.matmul(x.reshape(-1, d), swap).reshape(b, s, h, d) * expand(sin, x.shape)


def alibi_slopes(num_heads):
    """Bloom's ALiBi slopes per head (closest power of two, then the interleaved extra slopes)."""
    closest = 2 ** math.floor(math.log2(num_heads))
    base = 2.0 ** (-(2.0 ** -(math.log2(closest) - 3)))
    slopes = [base ** (i + 1) for i in range(closest)]
    if closest != num_heads:
        extra_base = 2.0 ** (-(2.0 ** -(math.log2(2 * closest) - 3)))
        slopes += [extra_base ** (i + 1) for i in range(0, 2 * (num_heads - closest), 2)]
    return np.array(slopes, dtype=np.float32)
