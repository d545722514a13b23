"""Mixture-of-experts feed-forward (Mixtral) with MindFormers' names: ``router.dense`` and stacked ``ffn.w1/w2/w3``.

Routing as Mixtral: softmax over the experts, top ``num_experts_chosen``, weights renormalised over the chosen
ones (``norm_topk_prob``). Training dispatches into ``capacity_factor``-sized expert buffers (GShard order: first
choices before second choices, tokens in order; overflow is dropped) and adds the load-balancing loss
``aux_loss_factor * E * sum_e f_e * P_e``. Inference is dropless for any batch: every expert runs on every
token and the gates (zero for unchosen experts) combine them, with static shapes.
"""

import mindspore as ms
from mindspore import Parameter, nn, ops
from mindspore.common.initializer import Normal, initializer

from mf_models import native
from mf_models.broadcast import expand
from mf_models.cells import Linear
from mf_models.dtypes import ms_dtype


class ExpertLinear(nn.Cell):
    """``weight`` (E, out, in): expert ``e`` maps (E, T, in) rows of its buffer to (E, T, out)."""

    def __init__(self, expert_num, in_channels, out_channels, param_dtype, compute_dtype, init_std):
        super().__init__()
        self.weight = Parameter(initializer(Normal(init_std), (expert_num, out_channels, in_channels), param_dtype),
                                name="weight")
        self.matmul = ops.BatchMatMul(transpose_b=True)
        self.compute_dtype = compute_dtype
        self.cast_weight = param_dtype != compute_dtype

    def construct(self, x):
        weight = ops.cast(self.weight, self.compute_dtype) if self.cast_weight else self.weight
        return self.matmul(x, weight)


class Experts(nn.Cell):
    """Stacked SwiGLU experts ``w2(silu(w1 x) * w3 x)``."""

    def __init__(self, expert_num, dim, hidden_dim, param_dtype, compute_dtype, init_std):
        super().__init__()
        self.w1 = ExpertLinear(expert_num, dim, hidden_dim, param_dtype, compute_dtype, init_std)
        self.w2 = ExpertLinear(expert_num, hidden_dim, dim, param_dtype, compute_dtype, init_std)
        self.w3 = ExpertLinear(expert_num, dim, hidden_dim, param_dtype, compute_dtype, init_std)
        self.product = native.fused(native.SwiGLUProduct, compute_dtype)

    def construct(self, x):
        if self.product is not None:
            return self.w2(self.product(self.w1(x), self.w3(x)))
        return self.w2(ops.silu(self.w1(x)) * self.w3(x))


class Router(nn.Cell):
    """``dense`` (E, hidden) in ``router_dense_type``; returns gates (N, E) float32 (the renormalised top-k
    weights, zero elsewhere), the chosen experts (N, k) and the softmax probabilities (N, E)."""

    def __init__(self, config):
        super().__init__()
        moe = config.moe_config
        dtype = ms_dtype(moe.router_dense_type, "router_dense_type")
        self.dense = Linear(config.hidden_size, moe.expert_num, param_dtype=dtype, compute_dtype=dtype,
                            init_std=config.initializer_range)
        self.dtype = dtype
        self.k = moe.num_experts_chosen
        self.expert_num = moe.expert_num
        self.normalize = moe.norm_topk_prob

    def construct(self, x):
        probs = ops.softmax(ops.cast(self.dense(ops.cast(x, self.dtype)), ms.float32), -1)
        weights, chosen = ops.topk(probs, self.k)
        if self.normalize:
            weights = weights / ops.sum(weights, -1, keepdim=True)
        gates = ops.zeros_like(probs)
        for j in range(self.k):
            gates = gates + ops.one_hot(chosen[:, j], self.expert_num, ms.Tensor(1.0, ms.float32),
                                        ms.Tensor(0.0, ms.float32)) * weights[:, j:j + 1]
        return gates, chosen, probs


class MoEFeedForward(nn.Cell):
    """Mixtral's sparse feed-forward: ``router`` and ``ffn`` (stacked experts). Returns (output, aux loss)."""

    def __init__(self, config):
        super().__init__()
        moe = config.moe_config
        param, compute = ms_dtype(config.param_init_type, "param_init_type"), ms_dtype(config.compute_dtype)
        self.router = Router(config)
        self.ffn = Experts(moe.expert_num, config.hidden_size, config.ffn_hidden_size, param, compute,
                           config.initializer_range)
        self.expert_num = moe.expert_num
        self.k = moe.num_experts_chosen
        self.capacity_factor = moe.capacity_factor
        self.aux_loss_factor = moe.aux_loss_factor

    def construct(self, x):
        b, s, h = x.shape
        n = b * s
        xf = x.reshape(n, h)
        gates, chosen, probs = self.router(xf)
        if not self.training:
            expert_out = self.ffn(ops.broadcast_to(xf.reshape(1, n, h), (self.expert_num, n, h)))
            weights = ops.cast(gates.transpose(1, 0).reshape(self.expert_num, n, 1), expert_out.dtype)
            out = ops.sum(expert_out * expand(weights, expert_out.shape), 0)
            return out.reshape(b, s, h), ops.zeros((), ms.float32)
        capacity = capacity_of(n, self.k, self.expert_num, self.capacity_factor)
        dispatch, combine = self.buffers(gates, chosen, capacity)
        buffers = ops.matmul(dispatch.transpose(1, 0), ops.cast(xf, ms.float32))
        expert_out = self.ffn(ops.cast(buffers, x.dtype).reshape(self.expert_num, capacity, h))
        out = ops.matmul(combine, ops.cast(expert_out.reshape(self.expert_num * capacity, h), ms.float32))
        first = ops.one_hot(chosen[:, 0], self.expert_num, ms.Tensor(1.0, ms.float32), ms.Tensor(0.0, ms.float32))
        aux = self.aux_loss_factor * self.expert_num * ops.sum(ops.mean(first, 0) * ops.mean(probs, 0))
        return ops.cast(out, x.dtype).reshape(b, s, h), aux

    def buffers(self, gates, chosen, capacity):
        """Dispatch (N, E*C) 0/1 and combine (N, E*C) gate weights of token-to-buffer-slot assignments."""
        one, zero = ms.Tensor(1.0, ms.float32), ms.Tensor(0.0, ms.float32)
        filled = ops.zeros((1, self.expert_num), ms.float32)
        dispatch = ops.zeros((gates.shape[0], self.expert_num, capacity), ms.float32)
        combine = ops.zeros((gates.shape[0], self.expert_num, capacity), ms.float32)
        for j in range(self.k):
            mask = ops.one_hot(chosen[:, j], self.expert_num, one, zero)
            slot = ops.cumsum(mask, 0) - 1 + filled
            filled = filled + ops.sum(mask, 0, keepdim=True)
            keep = mask * ops.cast(slot < capacity, ms.float32)
            slot_1h = ops.one_hot(ops.cast(ops.clip(slot, 0, capacity - 1), ms.int32), capacity, one, zero)
            dispatch = dispatch + keep.expand_dims(-1) * slot_1h
            combine = combine + (keep * gates).expand_dims(-1) * slot_1h
        n = gates.shape[0]
        return dispatch.reshape(n, -1), combine.reshape(n, -1)


def capacity_of(tokens, k, expert_num, capacity_factor):
    """Slots per expert: ceil(k * tokens * capacity_factor / expert_num), at most ``tokens``."""
    cap = int(k * tokens * capacity_factor / expert_num)
    if cap * expert_num < k * tokens * capacity_factor:
        cap = cap + 1
    return min(cap, tokens)
