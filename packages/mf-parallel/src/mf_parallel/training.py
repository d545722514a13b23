"""What a training step needs from a parallelized network (``train_hooks``): gradients averaged over the
data-parallel replicas only, the global gradient norm for clipping, the loss averaged over replicas for logging,
this rank's data shard, and the checkpoint layout/writer/loader of ``mf_parallel.checkpoint``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import mindspore as ms
from mindspore import amp, nn, ops

from mf_parallel.errors import ParallelError

if TYPE_CHECKING:
    from mf_models import CausalLM

REPLICATED, MODEL_SPLIT, EXPERT_SPLIT = 0, 1, 2
logger = logging.getLogger("mf_parallel")


def _state(model):
    state = getattr(model, "parallel_state", None)
    if state is None:
        raise ParallelError("the network was not parallelized: call mf_parallel.parallelize(model, ...) first",
                            key="use_parallel")
    return state


def _kind(placement):
    if "ep" in placement.axes():
        return EXPERT_SPLIT
    return MODEL_SPLIT if placement.dims else REPLICATED


class GradReducer(nn.Cell):
    """Gradients (in ``params`` order) summed over each parameter's replicas and divided by data_parallel: the
    data-parallel group for every parameter except experts, whose replicas are the ranks holding the same experts
    (none besides this one when expert_parallel == data_parallel: their gradient is already complete)."""

    def __init__(self, params, state):
        super().__init__()
        rt = state.runtime
        self.kinds = tuple(_kind(state.placements[p.name]) == EXPERT_SPLIT for p in params)
        self.dense = rt.all_reduce_sum("dp")
        self.experts = rt.all_reduce_sum("expert_dp")
        self.scale = 1.0 / rt.mesh.dp

    def construct(self, grads):
        out = ()
        for i in range(len(grads)):
            g = self.experts(grads[i]) if self.kinds[i] else self.dense(grads[i])
            out = out + (g * self.scale,)
        return out


class GradNorm(nn.Cell):
    """The global L2 norm of gradients (in ``params`` order), the same on every rank: squares of parameters split
    over mp are summed over the model-parallel group, of experts over the ep x mp group, replicated ones counted
    once."""

    def __init__(self, params, state):
        super().__init__()
        rt = state.runtime
        self.kinds = tuple(_kind(state.placements[p.name]) for p in params)
        self.model_sum = rt.all_reduce_sum("mp")
        self.expert_sum = rt.all_reduce_sum("ep_mp")

    def construct(self, grads):
        replicated = ops.zeros((), ms.float32)
        split = ops.zeros((), ms.float32)
        experts = ops.zeros((), ms.float32)
        for i in range(len(grads)):
            square = ops.sum(ops.square(ops.cast(grads[i], ms.float32)))
            if self.kinds[i] == EXPERT_SPLIT:
                experts = experts + square
            elif self.kinds[i] == MODEL_SPLIT:
                split = split + square
            else:
                replicated = replicated + square
        return ops.sqrt(replicated + self.model_sum(split) + self.expert_sum(experts))


class ClipByGlobalNorm(nn.Cell):
    """``mindspore.ops.clip_by_global_norm`` on the global norm: grads * max_norm / max(norm, max_norm)."""

    def __init__(self, params, state):
        super().__init__()
        self.norm = GradNorm(params, state)

    def construct(self, grads, max_norm):
        norm = self.norm(grads)
        factor = max_norm / ops.maximum(norm, max_norm)
        out = ()
        for g in grads:
            out = out + (ops.cast(g * factor, g.dtype),)
        return out


class AllFinite(nn.Cell):
    """Whether every rank's gradients are finite (a loss-scale overflow check all ranks agree on: a rank holds
    only its blocks, so a local ``amp.all_finite`` could differ between ranks)."""

    def __init__(self, state):
        super().__init__()
        self.count = state.runtime.all_reduce_sum("world")

    def construct(self, grads):
        bad = 1.0 - ops.cast(amp.all_finite(grads), ms.float32)
        return self.count(ops.stop_gradient(bad)) == 0


class LossMean(nn.Cell):
    """A rank's loss averaged over the data-parallel replicas (the global batch's loss, for logging)."""

    def __init__(self, state):
        super().__init__()
        self.sum = state.runtime.all_reduce_sum("dp")
        self.scale = 1.0 / state.runtime.mesh.dp

    def construct(self, loss):
        return self.sum(ops.stop_gradient(loss)) * self.scale


@dataclass
class TrainHooks:
    """The pieces a training loop plugs in; see ``train_hooks``."""

    grad_reducer: nn.Cell
    grad_norm: nn.Cell
    clip_grads: nn.Cell
    loss_mean: nn.Cell
    all_finite: nn.Cell
    rank_id: int
    device_num: int
    global_rank: int
    checkpoint: object
    optimizer_shard: bool = False

    @property
    def data_shard(self) -> tuple[int, int]:
        """(rank_id, device_num) for the dataset: this rank's data-parallel index and the replica count."""
        return self.rank_id, self.device_num


def optimizer_shard_note(caps, dp):
    """Why optimizer states stay whole on every data-parallel rank (said once, at run time)."""
    if dp == 1:
        return "parallel.enable_parallel_optimizer: data_parallel is 1, there is nothing to shard over"
    if caps.where["reduce_scatter"] is None or caps.where["all_gather"] != "any":
        return (f"parallel.enable_parallel_optimizer: sharding optimizer states needs ReduceScatter and AllGather on "
                f"the data-parallel group, which the {caps.backend} backend lacks; optimizer states stay whole on "
                f"every data-parallel rank (`mf-parallel plan` shows the memory with and without the shard)")
    return ("parallel.enable_parallel_optimizer: mf-parallel does not shard optimizer states yet; they stay whole "
            "on every data-parallel rank (`mf-parallel plan` models the shard)")


def train_hooks(model: CausalLM, params: Iterable[ms.Parameter] | None = None,
                optimizer_shard: bool = False) -> TrainHooks:
    """``TrainHooks`` of a parallelized ``model`` for gradients ordered as ``params`` (default
    ``model.trainable_params()``, the order ``nn.TrainOneStepCell`` and an optimizer built on them use).
    ``optimizer_shard`` (``parallel.enable_parallel_optimizer``): asked for, it is refused with a warning that
    says why (``TrainHooks.optimizer_shard`` stays False)."""
    from mf_parallel.checkpoint import ShardedCheckpoint

    state = _state(model)
    params = list(model.trainable_params() if params is None else params)
    rt = state.runtime
    if optimizer_shard:
        logger.warning(optimizer_shard_note(rt.caps, rt.mesh.dp))
    return TrainHooks(GradReducer(params, state), GradNorm(params, state), ClipByGlobalNorm(params, state),
                      LossMean(state), AllFinite(state), rt.index("dp"), rt.mesh.dp, rt.rank,
                      ShardedCheckpoint(model, state))
