"""The compiled training step: MindFormers' ``MFTrainOneStepCell`` (``runner_wrapper``) with gradient
accumulation, as one graph per optimizer step.

``TrainStep(network, optimizer, ...)(input_ids, labels, lr)`` runs ``accumulation`` micro-batches (inputs shaped
(accumulation, batch, seq) when accumulating, else (batch, seq)), sums their gradients of ``loss * scale_sense``,
reduces them with ``grad_reducer`` (data parallel: an average over the data-parallel group; identity on one
device), checks them for inf/NaN when the loss scale is dynamic (``all_finite``: on several ranks, a verdict every
rank shares), unscales them and clips them to ``max_grad_norm`` in one product, or inside the update with mf's
optimizers (``grad_norm``: on several ranks,
the norm of the whole model, the squares of model-parallel shards summed over their group; no product at all with
a fixed scale of 1, one micro-batch and no clipping) and, unless they overflowed, updates the parameters. It
returns (mean loss (``loss_mean``: over the data-parallel replicas, the global batch's), overflow, loss scale,
global norm before clipping; 0 when not clipping). mf-parallel's ``train_hooks`` supply the four
hooks; without them the step is the one-device step.
"""

from collections.abc import Mapping
from typing import Any

import mindspore as ms
from mindspore import Parameter, Tensor, amp, nn, ops

from mf_models import native
from mf_models.compiled import CompiledCell
from mf_train.errors import TrainError
from mf_train.optim import Optimizer

_scale = ops.MultitypeFuncGraph("mf_scale")
_square_sum = ops.MultitypeFuncGraph("mf_square_sum")


@_scale.register("Tensor", "Tensor")
def _scale_grad(factor, grad):
    return grad * ops.cast(factor, grad.dtype)


@_square_sum.register("Tensor")
def _square_sum_grad(grad):
    """The sum of squares; a matrix's column sums as a product with a row of ones (MindSpore's CPU ReduceSum over
    a 32000 x 1024 gradient took 4x as long as that MatMul)."""
    squares = ops.square(ops.cast(grad, ms.float32))
    if grad.ndim < 2:
        return ops.sum(squares)
    rows = squares.reshape(-1, grad.shape[-1])
    return ops.sum(ops.matmul(ops.ones((1, rows.shape[0]), ms.float32), rows))


class LossScale:
    """``runner_wrapper.scale_sense``: a fixed number, or a dynamic scale (MindSpore's
    ``DynamicLossScaleUpdateCell``: ``loss_scale_value``, ``scale_factor``, ``scale_window``)."""

    def __init__(self, value: float = 1.0, dynamic: bool = False, scale_factor: float = 2.0,
                 scale_window: int = 1000) -> None:
        self.value, self.dynamic = float(value), bool(dynamic)
        self.scale_factor, self.scale_window = float(scale_factor), int(scale_window)

    @classmethod
    def from_wrapper(cls, wrapper: Mapping[str, Any] | None) -> "LossScale":
        """From a ``runner_wrapper`` section (``scale_sense`` a number or a ``DynamicLossScaleUpdateCell`` section,
        or ``loss_scale_value``/``scale_factor``/``scale_window`` beside it)."""
        wrapper = dict(wrapper or {})
        sense = wrapper.get("scale_sense", 1.0)
        if isinstance(sense, dict):
            kind = sense.get("type", "DynamicLossScaleUpdateCell")
            if kind not in ("DynamicLossScaleUpdateCell", "FixedLossScaleUpdateCell", "AdaptiveLossScaleUpdateCell"):
                raise TrainError(f"unknown loss scale cell '{kind}'", key="runner_wrapper.scale_sense.type")
            value = sense.get("loss_scale_value", 2 ** 16)
            if kind == "FixedLossScaleUpdateCell":
                return cls(value)
            return cls(value, True, sense.get("scale_factor", 2), sense.get("scale_window", 1000))
        if "scale_factor" in wrapper or "scale_window" in wrapper:
            return cls(wrapper.get("loss_scale_value", sense), True, wrapper.get("scale_factor", 2),
                       wrapper.get("scale_window", 1000))
        if not isinstance(sense, (int, float)) or sense <= 0:
            raise TrainError(f"expected a positive number or a loss scale section, got {sense!r}",
                             key="runner_wrapper.scale_sense")
        return cls(sense)


class TrainStep(CompiledCell):
    """One optimizer step over ``accumulation`` micro-batches; see the module docstring. Compiled in MindSpore's
    PyNative mode too (``mf_models.compiled``)."""

    def __init__(self, network: nn.Cell, optimizer: nn.Cell, accumulation: int = 1, loss_scale: LossScale | None = None,
                 max_grad_norm: float | None = None, grad_reducer: nn.Cell | None = None,
                 grad_norm: nn.Cell | None = None, all_finite: nn.Cell | None = None,
                 loss_mean: nn.Cell | None = None) -> None:
        super().__init__(auto_prefix=False)
        self.network = network
        self.network.set_grad()
        self.optimizer = optimizer
        self.weights = optimizer.parameters
        self.accumulation = int(accumulation)
        loss_scale = loss_scale or LossScale()
        self.scale_sense = Parameter(Tensor(loss_scale.value, ms.float32), name="scale_sense", requires_grad=False)
        self.dynamic = loss_scale.dynamic
        if self.dynamic:
            self.scale_update = nn.DynamicLossScaleUpdateCell(loss_scale.value, loss_scale.scale_factor,
                                                              loss_scale.scale_window)
        self.clip = max_grad_norm is not None
        # whether gradients need unscaling: not with a fixed scale of 1 over one micro-batch
        self.rescale = loss_scale.dynamic or loss_scale.value != 1.0 or self.accumulation != 1
        self.max_grad_norm = float(max_grad_norm or 0.0)
        # mf's optimizers take the unscale-and-clip factor (``opt(grads, lr, grad_scale)``)
        self.scale_in_optimizer = (self.clip or self.rescale) and isinstance(optimizer, Optimizer)
        # mf's one-pass sum of squares on CPU for float32 gradients (mf_models.native), else Square and a product
        self.square_sum = native.sum_of_squares() if all(p.dtype == ms.float32 for p in self.weights) else None
        self.grad_reducer = grad_reducer if grad_reducer is not None else ops.identity
        # the parallel hooks (cells of gradients or the loss); the flags pick them when the graph is compiled
        self.global_norm, self.global_finite = grad_norm is not None, all_finite is not None
        self.grad_norm = grad_norm if self.global_norm else nn.Identity()
        self.all_finite = all_finite if self.global_finite else nn.Identity()
        self.loss_mean = loss_mean if loss_mean is not None else nn.Identity()
        self.grad = ops.GradOperation(get_by_list=True, sens_param=True)
        self.hyper_map = ops.HyperMap()

    def micro_step(self, input_ids, labels, sens):
        loss = self.network(input_ids, labels)
        grads = self.grad(self.network, self.weights)(input_ids, labels, ops.cast(sens, loss.dtype))
        return loss, grads

    def construct(self, input_ids, labels, lr):
        scale = self.scale_sense * 1.0
        if self.accumulation == 1:
            loss, grads = self.micro_step(input_ids, labels, scale)
        else:
            loss, grads = self.micro_step(input_ids[0], labels[0], scale)
            for i in range(1, self.accumulation):
                more, extra = self.micro_step(input_ids[i], labels[i], scale)
                loss = loss + more
                grads = self.hyper_map(ops.add, grads, extra)
            loss = loss / self.accumulation
        grads = self.grad_reducer(grads)
        inverse = 1.0 / (scale * self.accumulation)
        overflow = Tensor(False)
        if self.dynamic:
            finite = self.all_finite(grads) if self.global_finite else amp.all_finite(grads)
            overflow = ops.logical_not(finite)
            overflow = self.scale_update(self.scale_sense, overflow)
        norm = Tensor(0.0, ms.float32)
        factor = inverse
        if self.clip:  # the norm of the unscaled gradients, from the scaled ones
            norm = self.global_norm_of(grads) * inverse
            factor = inverse * ops.minimum(self.max_grad_norm / (norm + 1e-6), 1.0)
        if (self.clip or self.rescale) and not self.scale_in_optimizer:
            grads = self.hyper_map(ops.partial(_scale, factor), grads)  # unscaled and clipped: a copy of each
        if not overflow:
            if self.scale_in_optimizer:  # unscaled and clipped inside the update, without copies
                loss = ops.depend(loss, self.optimizer(grads, lr, factor))
            else:
                loss = ops.depend(loss, self.optimizer(grads, lr))
        return self.loss_mean(loss), overflow, scale, norm

    def global_norm_of(self, grads):
        """The global L2 norm of ``grads`` (PyTorch's ``clip_grad_norm_`` clips to ``max_grad_norm`` by it)."""
        if self.global_norm:
            return self.grad_norm(grads)
        if self.square_sum is not None:
            return ops.sqrt(ops.addn(self.hyper_map(self.square_sum, grads))).reshape(())
        return ops.sqrt(ops.addn(self.hyper_map(_square_sum, grads)))


def state_parameters(step):
    """The step's own state (loss scale, dynamic-scale counters) by name, for checkpoints."""
    return {p.name: p for p in step.get_parameters() if p.name in
            ("scale_sense", "current_iterator_step", "last_overflow_iterator_step")}
