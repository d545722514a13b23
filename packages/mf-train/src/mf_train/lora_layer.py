"""The LoRA cell that replaces an ``mf_models`` ``Linear``, and the stateless dropout on its A branch.

``LoRALinear`` computes ``base(x) + (B @ A @ dropout(x)) * lora_alpha / lora_rank`` as MindFormers' (mindpet's)
``LoRADense``: A ``mindpet_delta_lora_a`` (rank, in), B ``mindpet_delta_lora_b`` (out, rank), B zero at start.
It owns the base layer's ``weight``/``bias`` Parameters (so their names stay ``<layer>.weight``) and keeps the base
cell to put it back on merge.
"""

import math

import mindspore as ms
import numpy as np
from mindspore import Parameter, Tensor, nn, ops
from mindspore.common.initializer import HeUniform, initializer

MASK32 = 0xFFFFFFFF


def make_initializer(name):
    """A MindSpore initializer from a ``lora_a_init``/``lora_b_init`` name; ``kaiming_uniform`` is PEFT's and
    mindpet's default for A (He-uniform with negative slope sqrt(5))."""
    return HeUniform(negative_slope=math.sqrt(5)) if name == "kaiming_uniform" else name


def fmix32(h):
    """MurmurHash3's 32-bit finalizer on a uint32 Tensor (or a Python int): a bijection whose every output bit
    depends on every input bit."""
    if isinstance(h, int):
        for shift, mult in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
            h = ((h ^ (h >> shift)) * mult) & MASK32
        return h ^ (h >> 16)
    for shift, mult in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
        h = ops.bitwise_xor(h, ops.bitwise_right_shift(h, Tensor(shift, ms.uint32))) * Tensor(mult, ms.uint32)
    return ops.bitwise_xor(h, ops.bitwise_right_shift(h, Tensor(16, ms.uint32)))


class HashDropout(nn.Cell):
    """Dropout whose mask is a hash of (seed, layer, step, element index) in uint32 arithmetic.

    MindSpore's dropout kernels keep RNG state that ``get_rng_state`` does not capture, so a resumed run would draw
    other masks; this mask is a pure function of ``step`` (the shared Parameter ``step``, set by the trainer
    through ``mf_train.lora.set_lora_step``), so a run resumed at step ``n`` draws the masks an uninterrupted run
    draws. Element ``i`` of a call is kept when ``fmix32(i * golden + key(step)) >= p * 2**32``.
    """

    def __init__(self, p, seed, layer, step):
        super().__init__()
        self.step = step
        self.seed = seed
        self.layer_key = Tensor(fmix32((seed * 0x9E3779B9 + fmix32(layer + 1)) & MASK32), ms.uint32)
        self.threshold = Tensor(min(round(p * 2.0 ** 32), MASK32), ms.uint32)
        self.scale = 1.0 / (1.0 - p)

    def construct(self, x):
        key = fmix32(ops.bitwise_xor(self.layer_key, ops.cast(self.step, ms.uint32) * Tensor(0x27D4EB2F, ms.uint32)))
        index = ops.cast(ops.arange(x.shape[0] * x.shape[1], dtype=ms.int32), ms.uint32)
        bits = fmix32(index * Tensor(0x9E3779B9, ms.uint32) + key)
        keep = ops.cast(bits >= self.threshold, x.dtype).reshape(x.shape)
        return x * keep * self.scale


def keep_mask(shape, p, seed, layer, step):
    """The mask ``HashDropout`` draws (numpy, uint32 arithmetic): 1 where an element is kept. For tests and
    for reproducing a mask outside a graph."""
    layer_key = fmix32((seed * 0x9E3779B9 + fmix32(layer + 1)) & MASK32)
    key = np.uint32(fmix32(layer_key ^ ((step * 0x27D4EB2F) & MASK32)))
    with np.errstate(over="ignore"):
        h = np.arange(int(np.prod(shape)), dtype=np.uint32) * np.uint32(0x9E3779B9) + key
        for shift, mult in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
            h = (h ^ (h >> np.uint32(shift))) * np.uint32(mult)
        h = h ^ (h >> np.uint32(16))
    return (h >= np.uint32(min(round(p * 2.0 ** 32), MASK32))).reshape(shape)


class LoRALinear(nn.Cell):
    """``base`` (an ``mf_models.cells.Linear``) plus ``(B @ A @ dropout(x)) * alpha / rank``.

    Args:
        base: the Linear it replaces; its Parameters become this cell's, the cell itself is kept for merging.
        rank: lora_rank.
        alpha: lora_alpha.
        dropout: a ``HashDropout`` or None (no dropout).
        a_init: initializer name of A; b_init: of B.
        param_dtype: dtype of A and B (None: the base weight's).
        compute_dtype: dtype of the A/B products (None: the base layer's compute dtype).
    """

    def __init__(self, base, rank, alpha, dropout=None, a_init="normal", b_init="zeros", param_dtype=None,
                 compute_dtype=None):
        super().__init__()
        self.weight = base.weight
        self.has_bias = base.has_bias
        if self.has_bias:
            self.bias = base.bias
        self.matmul = base.matmul
        self.transpose_b = bool(base.matmul.transpose_b)
        self.out_channels = base.out_channels
        self.in_channels = base.weight.shape[1] if self.transpose_b else base.weight.shape[0]
        self.compute_dtype, self.cast_weight = base.compute_dtype, base.cast_weight
        self.lora_dtype = compute_dtype or base.compute_dtype
        param_dtype = param_dtype or base.weight.dtype
        self.cast_lora = param_dtype != self.lora_dtype
        self.mindpet_delta_lora_a = Parameter(
            initializer(make_initializer(a_init), (rank, self.in_channels), param_dtype), name="mindpet_delta_lora_a")
        self.mindpet_delta_lora_b = Parameter(
            initializer(make_initializer(b_init), (self.out_channels, rank), param_dtype), name="mindpet_delta_lora_b")
        self.lora_rank, self.lora_alpha, self.scaling = rank, alpha, alpha / rank
        self.use_dropout = dropout is not None
        if self.use_dropout:
            self.lora_dropout = dropout
        self.lora_matmul = ops.MatMul(transpose_b=True)
        object.__setattr__(self, "base", base)  # not a child cell: its Parameters are this cell's

    def construct(self, x):
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        weight = ops.cast(self.weight, self.compute_dtype) if self.cast_weight else self.weight
        y = self.matmul(x, weight)
        if self.has_bias:
            y = y + (ops.cast(self.bias, self.compute_dtype) if self.cast_weight else self.bias)
        h = x if x.dtype == self.lora_dtype else ops.cast(x, self.lora_dtype)
        if self.use_dropout and self.training:
            h = self.lora_dropout(h)
        a, b = self.mindpet_delta_lora_a, self.mindpet_delta_lora_b
        if self.cast_lora:
            a, b = ops.cast(a, self.lora_dtype), ops.cast(b, self.lora_dtype)
        h = self.lora_matmul(self.lora_matmul(h, a), b) * self.scaling
        y = y + (h if h.dtype == y.dtype else ops.cast(h, y.dtype))
        return y.reshape(shape[:-1] + (self.out_channels,))

    def delta(self):
        """``B @ A * scaling`` in float32, in the layout of ``weight`` ((out, in), or (in, out) when the base
        stores it transposed)."""
        a = ops.cast(self.mindpet_delta_lora_a, ms.float32)
        b = ops.cast(self.mindpet_delta_lora_b, ms.float32)
        delta = ops.matmul(b, a) * self.scaling
        return delta if self.transpose_b else delta.T
