"""Shared layers of the four families: linear, embedding, norms, rotary and ALiBi positions, attention, MLPs, loss.

Every layer is a plain ``nn.Cell`` attribute of its network (no parallel logic inside), so mf-parallel can swap
a ``Linear`` or ``Embedding`` for a tensor-parallel version from outside. Parameter names follow MindFormers.
"""

import contextlib
import io
import math
import os
import sys

import mindspore as ms
import numpy as np
from mindspore import Parameter, Tensor, nn, ops
from mindspore.common.initializer import Normal, initializer

from mf_config.errors import ConfigError

MASK_VALUE = -1e9
_DTYPES = {"float32": ms.float32, "float16": ms.float16, "bfloat16": ms.bfloat16}


def _init_numpy_bridge():
    """MindSpore 2.10's PyNative argument parser initialises its numpy bridge on first use; with numpy 2 that
    fails, and if the first use comes after a Parameter was made the failure leaves a pending ImportError that
    breaks the next op. Making the first use happen here, before any Parameter, keeps it harmless; what the
    failure prints (numpy's "compiled using NumPy 1.x" page with a traceback, MindSpore's "Numpy init failed"
    line) goes to /dev/null: both write to file descriptor 2, so that is what is redirected."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            ops.zeros((1,), ms.int32)
    except SystemError:
        pass
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_init_numpy_bridge()


def ms_dtype(name, key="compute_dtype"):
    """MindSpore dtype for a config dtype name; bfloat16 is refused on the CPU backend (no bf16 MatMul there)."""
    if name == "bfloat16" and ms.get_context("device_target") == "CPU":
        raise ConfigError("bfloat16 is not supported by MindSpore's CPU backend (no bf16 MatMul); "
                          f"set {key}=float32 (or float16) to run on CPU", key=key)
    return _DTYPES[name]


class Linear(nn.Cell):
    """``x @ W.T + b`` with ``weight`` of shape (out, in); with ``transpose_b=False`` it is stored (in, out),
    as MindFormers' GPT-2/Bloom ``projection``/``mapping`` layers are."""

    def __init__(self, in_channels, out_channels, has_bias=False, transpose_b=True, param_dtype=ms.float32,
                 compute_dtype=ms.float32, init_std=0.02):
        super().__init__()
        shape = (out_channels, in_channels) if transpose_b else (in_channels, out_channels)
        self.weight = Parameter(initializer(Normal(init_std), shape, param_dtype), name="weight")
        self.has_bias = has_bias
        if has_bias:
            self.bias = Parameter(initializer("zeros", (out_channels,), param_dtype), name="bias")
        self.out_channels = out_channels
        self.matmul = ops.MatMul(transpose_b=transpose_b)
        self.compute_dtype = compute_dtype
        self.cast_weight = param_dtype != compute_dtype

    def construct(self, x):
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        weight = ops.cast(self.weight, self.compute_dtype) if self.cast_weight else self.weight
        y = self.matmul(x, weight)
        if self.has_bias:
            y = y + (ops.cast(self.bias, self.compute_dtype) if self.cast_weight else self.bias)
        return y.reshape(shape[:-1] + (self.out_channels,))


class Embedding(nn.Cell):
    """Token lookup in ``embedding_weight`` (vocab, hidden): MindFormers' Llama embedding."""

    def __init__(self, vocab_size, hidden_size, param_dtype=ms.float32, compute_dtype=ms.float32, init_std=0.02):
        super().__init__()
        self.embedding_weight = Parameter(initializer(Normal(init_std), (vocab_size, hidden_size), param_dtype),
                                          name="embedding_weight")
        self.compute_dtype = compute_dtype
        self.cast_table = param_dtype != compute_dtype

    def construct(self, ids):
        out = ops.gather(self.embedding_weight, ids, 0)
        return ops.cast(out, self.compute_dtype) if self.cast_table else out


class VocabEmbedding(nn.Cell):
    """Token (or position) lookup in ``embedding_table`` (vocab, hidden): MindFormers' GPT-2/Bloom embedding."""

    def __init__(self, vocab_size, hidden_size, param_dtype=ms.float32, compute_dtype=ms.float32, init_std=0.02):
        super().__init__()
        self.embedding_table = Parameter(initializer(Normal(init_std), (vocab_size, hidden_size), param_dtype),
                                         name="embedding_table")
        self.compute_dtype = compute_dtype
        self.cast_table = param_dtype != compute_dtype

    def construct(self, ids):
        out = ops.gather(self.embedding_table, ids, 0)
        return ops.cast(out, self.compute_dtype) if self.cast_table else out


class RMSNorm(nn.Cell):
    """Root-mean-square norm (Llama), computed in ``compute_type`` and cast back; parameter ``weight``.

    The mean of squares is a product with a (dim, 1) column of ``1/dim``: MindSpore's CPU ``ReduceMean`` took
    twice as long as that ``MatMul`` over a prompt (and as long on one token)."""

    def __init__(self, dim, eps=1e-5, param_dtype=ms.float32, compute_type=ms.float32):
        super().__init__()
        self.weight = Parameter(initializer("ones", (dim,), param_dtype), name="weight")
        self.eps = eps
        self.compute_type = compute_type
        self.averager = Tensor(np.full((dim, 1), 1.0 / dim), compute_type)

    def construct(self, x):
        dtype = x.dtype
        if dtype != self.compute_type:
            x = ops.cast(x, self.compute_type)
        mean_square = ops.matmul(ops.square(x).reshape(-1, x.shape[-1]), self.averager).reshape(x.shape[:-1] + (1,))
        x = x * ops.rsqrt(mean_square + self.eps)
        return ops.cast(x * ops.cast(self.weight, self.compute_type), dtype)


class LayerNorm(nn.Cell):
    """LayerNorm over the last axis with MindFormers' parameter names ``gamma`` and ``beta``."""

    def __init__(self, dim, eps=1e-5, param_dtype=ms.float32, compute_type=ms.float32):
        super().__init__()
        self.gamma = Parameter(initializer("ones", (dim,), param_dtype), name="gamma")
        self.beta = Parameter(initializer("zeros", (dim,), param_dtype), name="beta")
        self.norm = ops.LayerNorm(begin_norm_axis=-1, begin_params_axis=-1, epsilon=eps)
        self.compute_type = compute_type

    def construct(self, x):
        dtype = x.dtype
        y, _, _ = self.norm(ops.cast(x, self.compute_type), ops.cast(self.gamma, self.compute_type),
                            ops.cast(self.beta, self.compute_type))
        return ops.cast(y, dtype)


def rope_tables(head_dim, max_positions, theta=10000.0, extend_method="None", scaling_factor=1.0):
    """cos and signed sin tables (max_positions, head_dim) in the rotate-half layout of HF and MindFormers; the
    sin table's first half is negated so that ``apply_rope`` needs no negation.

    ``extend_method`` as MindFormers' FreqsMgr: ``PI`` divides positions by ``scaling_factor``;
    ``NTK`` scales the base to ``theta * scaling_factor ** (d / (d - 2))``.
    """
    if extend_method == "NTK":
        theta = theta * scaling_factor ** (head_dim / (head_dim - 2))
    inv_freq = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    t = np.arange(max_positions, dtype=np.float64)
    if extend_method == "PI":
        t = t / scaling_factor
    freqs = np.outer(t, inv_freq)
    cos = np.cos(np.concatenate([freqs, freqs], axis=-1))
    sin = np.sin(np.concatenate([-freqs, freqs], axis=-1))
    return cos.astype(np.float32), sin.astype(np.float32)


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
    return x * cos + ops.matmul(x.reshape(-1, d), swap).reshape(b, s, h, d) * sin


def alibi_slopes(num_heads):
    """Bloom's ALiBi slopes per head (closest power of two, then the interleaved extra slopes)."""
    closest = 2 ** math.floor(math.log2(num_heads))
    base = 2.0 ** (-(2.0 ** -(math.log2(closest) - 3)))
    slopes = [base ** (i + 1) for i in range(closest)]
    if closest != num_heads:
        extra_base = 2.0 ** (-(2.0 ** -(math.log2(2 * closest) - 3)))
        slopes += [extra_base ** (i + 1) for i in range(0, 2 * (num_heads - closest), 2)]
    return np.array(slopes, dtype=np.float32)


def attention(q, k, v, bias, scale, softmax_dtype=ms.float32):
    """Causal grouped-query attention without repeating keys.

    q (b, s, h, d); k, v (b, kv, L, d); bias (b, 1 or h, s, L) additive float32 (mask, plus ALiBi).
    Returns (b, s, h*d). Query head ``i`` uses key head ``i // (h // kv)`` (HF's repeat_kv order).
    """
    b, s, h, d = q.shape
    kv, length = k.shape[1], k.shape[2]
    rep = h // kv
    q = (q * scale).reshape(b, s, kv, rep, d).transpose(0, 2, 3, 1, 4).reshape(b, kv, rep * s, d)
    scores = ops.BatchMatMul(transpose_b=True)(q, k).reshape(b, kv, rep, s, length)
    if scores.dtype != softmax_dtype:
        scores = ops.cast(scores, softmax_dtype)
    scores = scores + bias.reshape(b, -1, rep if bias.shape[1] != 1 else 1, s, length)
    probs = ops.cast(ops.softmax(scores, -1), v.dtype).reshape(b, kv, rep * s, length)
    out = ops.BatchMatMul()(probs, v).reshape(b, kv, rep, s, d)
    return out.transpose(0, 3, 1, 2, 4).reshape(b, s, h * d)


def update_cache(past, new, write):
    """Write ``new`` (b, kv, 1, d) into the cache Parameter ``past`` (b*kv*L, d) in place, at the rows that
    ``write`` (b*kv,) (from ``decode_positions``) names; returns the updated cache as (b, kv, L, d).

    The cache is kept flat because MindSpore's CPU ``ScatterUpdate`` on its first axis is truly in place, while
    ``ScatterNdUpdate`` on a 4-D cache copied the whole cache every step."""
    b, kv, _, d = new.shape
    return ops.scatter_update(past, write, new.reshape(b * kv, d)).reshape(b, kv, -1, d)


class SwiGLU(nn.Cell):
    """Llama's feed-forward ``w2(silu(w1 x) * w3 x)`` (w1 gate, w3 up, w2 down)."""

    def __init__(self, dim, hidden_dim, param_dtype=ms.float32, compute_dtype=ms.float32, init_std=0.02):
        super().__init__()
        self.w1 = Linear(dim, hidden_dim, param_dtype=param_dtype, compute_dtype=compute_dtype, init_std=init_std)
        self.w3 = Linear(dim, hidden_dim, param_dtype=param_dtype, compute_dtype=compute_dtype, init_std=init_std)
        self.w2 = Linear(hidden_dim, dim, param_dtype=param_dtype, compute_dtype=compute_dtype, init_std=init_std)

    def construct(self, x):
        return self.w2(ops.silu(self.w1(x)) * self.w3(x))


class GeluMLP(nn.Cell):
    """GPT-2/Bloom feed-forward ``projection(gelu_tanh(mapping x))``; weights stored (in, out) as MindFormers."""

    def __init__(self, dim, hidden_dim, param_dtype=ms.float32, compute_dtype=ms.float32, init_std=0.02):
        super().__init__()
        self.mapping = Linear(dim, hidden_dim, has_bias=True, transpose_b=False, param_dtype=param_dtype,
                              compute_dtype=compute_dtype, init_std=init_std)
        self.projection = Linear(hidden_dim, dim, has_bias=True, transpose_b=False, param_dtype=param_dtype,
                                 compute_dtype=compute_dtype, init_std=init_std)

    def construct(self, x):
        return self.projection(ops.gelu(self.mapping(x), approximate="tanh"))


class CrossEntropyLoss(nn.Cell):
    """Mean token cross-entropy over positions where ``mask`` is 1 (float32 throughout)."""

    def construct(self, logits, labels, mask):
        logits = ops.cast(logits.reshape(-1, logits.shape[-1]), ms.float32)
        labels = ops.maximum(labels.reshape(-1), 0)
        mask = ops.cast(mask.reshape(-1), ms.float32)
        logp = ops.log_softmax(logits, -1)
        nll = -ops.gather_elements(logp, 1, labels.reshape(-1, 1)).reshape(-1)
        return ops.sum(nll * mask) / ops.maximum(ops.sum(mask), 1.0)


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


def select_columns(h, columns):
    """(b, 1, H): column ``columns[r]`` of each row of ``h`` (b, s, H)."""
    b, s, hidden = h.shape
    rows = ops.arange(b, dtype=ms.int32) * s + columns
    return ops.gather(h.reshape(b * s, hidden), rows, 0).reshape(b, 1, hidden)


def int_tensor(values):
    """An int32 Tensor of ``values`` (a list, array or Tensor)."""
    if isinstance(values, Tensor):
        return ops.cast(values, ms.int32)
    return Tensor(np.asarray(values, dtype=np.int32))


class DenseAttention(nn.Cell):
    """GPT-2/Bloom multi-head attention as MindFormers names it: ``dense1``/``dense2``/``dense3`` (query, key,
    value; (out, in) with bias) and ``projection`` ((in, out) with bias)."""

    def __init__(self, hidden_size, num_heads, param_dtype, compute_dtype, softmax_dtype, init_std):
        super().__init__()
        kw = dict(has_bias=True, param_dtype=param_dtype, compute_dtype=compute_dtype, init_std=init_std)
        self.dense1 = Linear(hidden_size, hidden_size, **kw)
        self.dense2 = Linear(hidden_size, hidden_size, **kw)
        self.dense3 = Linear(hidden_size, hidden_size, **kw)
        self.projection = Linear(hidden_size, hidden_size, transpose_b=False, **kw)
        self.n_heads, self.head_dim = num_heads, hidden_size // num_heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.softmax_dtype = softmax_dtype

    def construct(self, x, bias, past_k=None, past_v=None, write=None):
        b, s, _ = x.shape
        q = self.dense1(x).reshape(b, s, self.n_heads, self.head_dim)
        k = self.dense2(x).reshape(b, s, self.n_heads, self.head_dim).transpose(0, 2, 1, 3)
        v = self.dense3(x).reshape(b, s, self.n_heads, self.head_dim).transpose(0, 2, 1, 3)
        if past_k is not None:
            k = update_cache(past_k, k, write)
            v = update_cache(past_v, v, write)
        return self.projection(attention(q, k, v, bias, self.scale, self.softmax_dtype)), k, v


class PreLNBlock(nn.Cell):
    """GPT-2/Bloom block: ``layernorm1`` -> ``attention``; ``layernorm2`` -> ``output`` (GELU MLP)."""

    def __init__(self, config, param_dtype, compute_dtype, norm_dtype, softmax_dtype):
        super().__init__()
        h, eps, std = config.hidden_size, config.layernorm_epsilon, config.initializer_range
        self.layernorm1 = LayerNorm(h, eps, param_dtype, norm_dtype)
        self.attention = DenseAttention(h, config.num_heads, param_dtype, compute_dtype, softmax_dtype, std)
        self.layernorm2 = LayerNorm(h, eps, param_dtype, norm_dtype)
        self.output = GeluMLP(h, config.ffn_hidden_size, param_dtype, compute_dtype, std)

    def construct(self, x, bias, past_k=None, past_v=None, write=None):
        h, k, v = self.attention(self.layernorm1(x), bias, past_k, past_v, write)
        x = x + h
        return x + self.output(self.layernorm2(x)), k, v


def dtypes(config):
    """(param dtype, compute dtype, norm dtype, softmax dtype) of a model config."""
    return (ms_dtype(config.param_init_type, "param_init_type"), ms_dtype(config.compute_dtype),
            ms_dtype(config.layernorm_compute_type, "layernorm_compute_type"),
            ms_dtype(config.softmax_compute_type, "softmax_compute_type"))


def run_blocks(blocks, h, bias, caches, write):
    """Run GPT-2/Bloom blocks over ``h``; returns the hidden states and the (k0, v0, k1, v1, ...) tuple."""
    kv = ()
    for i in range(len(blocks)):
        if caches is None:
            h, k, v = blocks[i](h, bias)
        else:
            h, k, v = blocks[i](h, bias, caches[2 * i], caches[2 * i + 1], write)
        kv = kv + (k, v)
    return h, kv


def start_offset(batch, start, offset):
    """``start`` and ``offset`` with zeros for the ones not given (a plain full forward)."""
    if start is None:
        start = ops.zeros((batch,), ms.int32)
    if offset is None:
        offset = ops.zeros((batch,), ms.int32)
    return start, offset
