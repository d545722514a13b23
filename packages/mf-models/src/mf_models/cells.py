"""The cells of the four families: linear, embeddings, norms, feed-forwards, loss; MindFormers' parameter names.

Every layer is a plain ``nn.Cell`` attribute of its network (no parallel logic inside), so mf-parallel can swap
a ``Linear`` or ``Embedding`` for a tensor-parallel version from outside.
"""

import mindspore as ms
import numpy as np
from mindspore import Parameter, Tensor, nn, ops
from mindspore.common.initializer import Normal, initializer

from mf_models import native
from mf_models.broadcast import scale_by
from mf_models.numpy_bridge import init_numpy_bridge

init_numpy_bridge()  # before the first Parameter


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
        if self.has_bias:  # BiasAdd: a broadcasting Add keeps memory (mf_models.broadcast)
            y = ops.bias_add(y, ops.cast(self.bias, self.compute_dtype) if self.cast_weight else self.bias)
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
        self.kernel = native.fused(native.RMSNormKernel, param_dtype, compute_type)
        self.eps_tensor = Tensor([eps], ms.float32)

    def construct(self, x):
        dtype = x.dtype
        if self.kernel is not None and dtype == ms.float32:
            return self.kernel(x, self.weight, self.eps_tensor)[0]
        if dtype != self.compute_type:
            x = ops.cast(x, self.compute_type)
        mean_square = ops.matmul(ops.square(x).reshape(-1, x.shape[-1]), self.averager).reshape(x.shape[:-1] + (1,))
        x = scale_by(x, ops.rsqrt(mean_square + self.eps))
        return ops.cast(scale_by(x, ops.cast(self.weight, self.compute_type)), dtype)


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


class SwiGLU(nn.Cell):
    """Llama's feed-forward ``w2(silu(w1 x) * w3 x)`` (w1 gate, w3 up, w2 down)."""

    def __init__(self, dim, hidden_dim, param_dtype=ms.float32, compute_dtype=ms.float32, init_std=0.02):
        super().__init__()
        self.w1 = Linear(dim, hidden_dim, param_dtype=param_dtype, compute_dtype=compute_dtype, init_std=init_std)
        self.w3 = Linear(dim, hidden_dim, param_dtype=param_dtype, compute_dtype=compute_dtype, init_std=init_std)
        self.w2 = Linear(hidden_dim, dim, param_dtype=param_dtype, compute_dtype=compute_dtype, init_std=init_std)
        self.product = native.fused(native.SwiGLUProduct, compute_dtype)

    def construct(self, x):
        if self.product is not None:
            return self.w2(self.product(self.w1(x), self.w3(x)))
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

    def __init__(self):
        super().__init__()
        self.kernel = native.fused(native.CrossEntropyKernel)

    def construct(self, logits, labels, mask):
        logits = ops.cast(logits.reshape(-1, logits.shape[-1]), ms.float32)
        labels = ops.maximum(labels.reshape(-1), 0)
        mask = ops.cast(mask.reshape(-1), ms.float32)
        if self.kernel is not None:
            nll = self.kernel(logits, ops.cast(labels, ms.int32))[0]
        else:
            logp = ops.log_softmax(logits, -1)
            nll = -ops.gather_elements(logp, 1, labels.reshape(-1, 1)).reshape(-1)
        return ops.sum(nll * mask) / ops.maximum(ops.sum(mask), 1.0)
