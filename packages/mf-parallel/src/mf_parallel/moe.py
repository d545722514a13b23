"""Expert parallelism for Mixtral's MoE feed-forward: the stacked experts split over ``expert_parallel`` ranks
(the data-parallel ranks of an ep group, each with its own tokens).

Dispatch without AlltoAll (the CPU backend has none): each rank gathers the group's tokens, gates and choices,
assigns buffer slots over the whole group's tokens exactly as one process does (first choices before second
choices, tokens in order, ``capacity_factor`` slots per expert, overflow dropped), runs its own experts on their
buffers, and an all-reduce over the group combines every expert's output; each rank keeps its own tokens' rows.
The load-balancing loss uses the group's token statistics. With ``expert_parallel == data_parallel`` (as in the
seeds' dp8 ep8) outputs, drops and the aux loss equal one process on the global batch, token for token.
"""

import mindspore as ms
from mindspore import nn, ops

from mf_models.moe import MoEFeedForward, capacity_of


class ExpertParallelMoE(MoEFeedForward):
    """``MoEFeedForward`` over an ep group; takes the router and (already split) experts of ``src``."""

    def __init__(self, src, runtime):
        nn.Cell.__init__(self)
        self.router, self.ffn = src.router, src.ffn
        self.expert_num, self.k = src.expert_num, src.k
        self.capacity_factor, self.aux_loss_factor = src.capacity_factor, src.aux_loss_factor
        group = runtime.group("ep")
        self.ep, self.index = group.size, group.index
        self.local_experts = self.expert_num // self.ep
        self.first = self.index * self.local_experts
        self.gather_tokens = runtime.gather("ep", 0, "sum")
        self.gather_gates = runtime.gather("ep", 0, "sum")
        self.gather_choices = runtime.gather("ep", 0, "slice")
        self.combine = runtime.all_reduce_sum("ep")
        self.statistics = runtime.all_reduce_sum("ep")

    def construct(self, x):
        b, s, h = x.shape
        n = b * s
        xf = x.reshape(n, h)
        gates, chosen, probs = self.router(xf)
        tokens = self.gather_tokens(xf)
        every = self.gather_gates(gates)
        if not self.training:
            local = ops.narrow(every, 1, self.first, self.local_experts)
            expert_out = self.ffn(ops.broadcast_to(tokens.reshape(1, -1, h), (self.local_experts, n * self.ep, h)))
            weights = ops.cast(local.transpose(1, 0).reshape(self.local_experts, -1, 1), expert_out.dtype)
            out = self.combine(ops.sum(expert_out * weights, 0))
            return ops.narrow(out, 0, self.index * n, n).reshape(b, s, h), ops.zeros((), ms.float32)
        choices = ops.cast(self.gather_choices(ops.cast(ops.stop_gradient(chosen), ms.float32)), ms.int32)
        total = n * self.ep
        capacity = capacity_of(total, self.k, self.expert_num, self.capacity_factor)
        dispatch, combine = self.buffers(every, choices, capacity)
        dispatch = ops.narrow(dispatch, 1, self.first * capacity, self.local_experts * capacity)
        combine = ops.narrow(combine, 1, self.first * capacity, self.local_experts * capacity)
        buffers = ops.matmul(dispatch.transpose(1, 0), ops.cast(tokens, ms.float32))
        expert_out = self.ffn(ops.cast(buffers, x.dtype).reshape(self.local_experts, capacity, h))
        out = ops.matmul(combine, ops.cast(expert_out.reshape(self.local_experts * capacity, h), ms.float32))
        out = ops.narrow(self.combine(out), 0, self.index * n, n)
        one, zero = ms.Tensor(1.0, ms.float32), ms.Tensor(0.0, ms.float32)
        first = ops.stop_gradient(ops.one_hot(chosen[:, 0], self.expert_num, one, zero))
        f = self.statistics(ops.sum(first, 0)) / total
        p = self.statistics(ops.sum(probs, 0)) / total
        aux = self.aux_loss_factor * self.expert_num * ops.sum(f * p)
        return ops.cast(out, x.dtype).reshape(b, s, h), aux
