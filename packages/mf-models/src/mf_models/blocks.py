"""GPT-2/Bloom blocks as MindFormers names them: ``DenseAttention`` (dense1/2/3, projection) and ``PreLNBlock``."""

import math

from mindspore import nn

from mf_models import native
from mf_models.attention import attention, update_cache
from mf_models.cells import GeluMLP, LayerNorm, Linear


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
        self.fused_softmax = native.fused(native.SoftmaxWithBias, softmax_dtype)

    def construct(self, x, bias, past_k=None, past_v=None, write=None):
        b, s, _ = x.shape
        q = self.dense1(x).reshape(b, s, self.n_heads, self.head_dim)
        k = self.dense2(x).reshape(b, s, self.n_heads, self.head_dim).transpose(0, 2, 1, 3)
        v = self.dense3(x).reshape(b, s, self.n_heads, self.head_dim).transpose(0, 2, 1, 3)
        if past_k is not None:
            k = update_cache(past_k, k, write)
            v = update_cache(past_v, v, write)
        return self.projection(attention(q, k, v, bias, self.scale, self.softmax_dtype, self.fused_softmax)), k, v


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
