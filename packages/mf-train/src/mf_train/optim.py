"""Optimizers from a YAML ``optimizer`` section, as MindFormers names them, each a Cell ``opt(grads, lr)`` (or
``opt(grads, lr, grad_scale)``: every gradient times that scalar, the train step's unscale-and-clip factor, applied
inside the update instead of in a copy of every gradient) that updates its parameters in place inside the compiled
train step.

- ``AdamW``: PyTorch's AdamW (bias-corrected moments, decoupled weight decay ``p *= 1 - lr * wd``), fp32 moments,
  as MindFormers' ``AdamW``.
- ``AdamWeightDecay``: MindSpore's (no bias correction, ``p -= lr * (m / (sqrt(v) + eps) + wd * p)``), moments in
  the parameter's dtype; ``FP32StateAdamWeightDecay`` the same with fp32 moments (for fp16/bf16 parameters).
- ``SGD``: PyTorch's SGD (momentum, dampening, nesterov, L2 weight decay; the first step's buffer is the gradient).

float32 parameters are updated in place by a fused ``AdamWeightDecay`` kernel (mf's two-thread one on CPU,
``mf_models.native``, else MindSpore's), one parameter at a time
(AdamW's bias corrections folded into its learning rate and epsilon): no temporaries as large as the model, which
the op-by-op update needed (4.7 GB more peak memory and 1.2 s more per step on a 112M-parameter Llama on CPU).
Other dtypes take the op-by-op update in float32.

Weight decay skips 1-D parameters (norms) and biases, as MindFormers' ``get_optimizer_grouped_parameters``. State
names are MindFormers' (``adam_m.<param>``, ``adam_v.<param>``, ``global_step``), so ``mf-ckpt strip-optimizer``
knows them and a checkpoint holds everything resume needs.
"""

from collections.abc import Iterable, Sequence
from typing import Any

import mindspore as ms
from mindspore import Parameter, ParameterTuple, Tensor, nn, ops

from mf_config.registry import register
from mf_models import native
from mf_train.errors import TrainError

_update = ops.MultitypeFuncGraph("mf_update")


def decays(params):
    """Per parameter: whether weight decay applies (not to 1-D parameters and biases)."""
    return tuple(len(p.shape) > 1 and not p.name.endswith(".bias") for p in params)


def _states(params, prefix, dtype=None, value=0.0):
    return ParameterTuple(Parameter(ops.full(p.shape, value, dtype=dtype or p.dtype), name=f"{prefix}.{p.name}",
                                    requires_grad=False) for p in params)


class Optimizer(nn.Cell):
    """Parameters, their weight-decay flags and ``global_step`` (updates done so far)."""

    def __init__(self, params: Iterable[Parameter], weight_decay: float = 0.0) -> None:
        super().__init__(auto_prefix=False)
        params = list(params)
        if not params:
            raise TrainError("no trainable parameters to optimize", key="optimizer")
        self.parameters = ParameterTuple(params)
        self.weight_decay = float(weight_decay)
        self.decay_flags = decays(params)
        self.global_step = Parameter(Tensor(0, ms.int32), name="global_step", requires_grad=False)
        self.hyper_map = ops.HyperMap()

    def next_step(self):
        """``global_step + 1`` as float32, ``global_step`` incremented."""
        step = self.global_step + 1
        return ops.cast(ops.depend(step, ops.assign(self.global_step, step)), ms.float32)


class _Adam(Optimizer):
    """Betas, epsilon, the two moments (``adam_m``, ``adam_v``; ``moment_dtype`` None: the parameter's) and the fused
    kernel with which parameters it updates (float32 ones: the moments are float32 then too)."""

    def __init__(self, params: Iterable[Parameter], betas: tuple[float, float], eps: float, weight_decay: float,
                 moment_dtype: Any) -> None:
        super().__init__(params, weight_decay)
        self.beta1, self.beta2 = betas
        self.eps = float(eps)
        self.moments1 = _states(self.parameters, "adam_m", moment_dtype)
        self.moments2 = _states(self.parameters, "adam_v", moment_dtype)
        # mf's two-thread kernel on CPU (0.5 -> 0.2 s a step for 112M parameters), else MindSpore's one-thread one
        self.fused_flags = tuple(p.dtype == ms.float32 for p in self.parameters)
        # (a kernel Cell that no update calls fails to compile: only with float32 parameters)
        kernel = native.fused(native.AdamWeightDecayKernel) if any(self.fused_flags) else None
        self.native = kernel is not None
        self.fused = kernel if self.native else ops.AdamWeightDecay()

    def after_reads(self, lr, grads):
        """``lr`` once every gradient is there: mf's kernel writes the parameters behind MindSpore's back, so no
        update may start while a backward product still reads a parameter (every such read feeds a gradient)."""
        return ops.depend(lr, grads) if self.native else lr


@register("optimizer")
class AdamW(_Adam):
    """PyTorch's AdamW with MindFormers' names; ``betas``, ``eps``, ``weight_decay``."""

    def __init__(self, params: Iterable[Parameter], betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, **kw: Any) -> None:
        super().__init__(params, _betas(betas, kw), eps, weight_decay, ms.float32)

    def construct(self, grads, lr, grad_scale=None):
        lr = self.after_reads(lr, grads)
        scaled, scale = _scaling(grad_scale)
        t = self.next_step()
        bias1 = 1.0 - ops.pow(self.beta1, t)
        bias2_sqrt = ops.sqrt(1.0 - ops.pow(self.beta2, t))
        # the fused kernel's p -= lr' * (m / (sqrt(v) + eps') + wd' * p) is AdamW's step with these three
        fused_lr = lr * bias2_sqrt / bias1
        fused = (fused_lr, self.eps * bias2_sqrt, self.weight_decay * bias1 / bias2_sqrt)
        return self.hyper_map(ops.partial(_update, "adamw", self.fused, fused, lr, self.weight_decay, self.beta1,
                                          self.beta2, self.eps, bias1, bias2_sqrt, self.native, scaled, scale),
                              self.parameters, self.moments1, self.moments2, grads, self.decay_flags,
                              self.fused_flags)


@_update.register("String", "Function", "Tuple", "Tensor", "Number", "Number", "Number", "Number", "Tensor", "Tensor",
                  "Bool", "Bool", "Tensor", "Tensor", "Tensor", "Tensor", "Tensor", "Bool", "Bool")
def _adamw(kind, kernel, fused, lr, wd, beta1, beta2, eps, bias1, bias2_sqrt, native, scaled, scale, param, m, v, grad,
           decay, in_place):
    if in_place:
        fused_lr, fused_eps, fused_wd = fused
        return _in_place(kernel, native, scaled, scale, param, m, v, fused_lr, beta1, beta2, fused_eps,
                         fused_wd if decay else 0.0, grad)
    p = ops.cast(param, ms.float32)
    g = _scaled(grad, scaled, scale)
    if decay:
        p = p * (1.0 - lr * wd)
    m_new = m * beta1 + g * (1.0 - beta1)
    v_new = v * beta2 + g * g * (1.0 - beta2)
    p = p - (lr / bias1) * m_new / (ops.sqrt(v_new) / bias2_sqrt + eps)
    p = ops.depend(p, ops.assign(m, m_new))
    p = ops.depend(p, ops.assign(v, v_new))
    return ops.assign(param, ops.cast(p, param.dtype))


@register("optimizer")
class AdamWeightDecay(_Adam):
    """MindSpore's AdamWeightDecay: no bias correction, weight decay inside the update; moments in the
    parameter's dtype (``fp32_state`` for float32 moments)."""

    fp32_state = False

    def __init__(self, params: Iterable[Parameter], beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-6,
                 weight_decay: float = 0.0, **kw: Any) -> None:
        super().__init__(params, _betas(kw.pop("betas", (beta1, beta2)), kw), eps, weight_decay,
                         ms.float32 if self.fp32_state else None)

    def construct(self, grads, lr, grad_scale=None):
        lr = self.after_reads(lr, grads)
        scaled, scale = _scaling(grad_scale)
        self.next_step()
        return self.hyper_map(ops.partial(_update, "adam_wd", self.fused, lr, self.weight_decay, self.beta1,
                                          self.beta2, self.eps, self.native, scaled, scale),
                              self.parameters, self.moments1, self.moments2, grads, self.decay_flags,
                              self.fused_flags)


@_update.register("String", "Function", "Tensor", "Number", "Number", "Number", "Number", "Bool", "Bool", "Tensor",
                  "Tensor", "Tensor", "Tensor", "Tensor", "Bool", "Bool")
def _adam_weight_decay(kind, kernel, lr, wd, beta1, beta2, eps, native, scaled, scale, param, m, v, grad, decay,
                       in_place):
    if in_place:
        return _in_place(kernel, native, scaled, scale, param, m, v, lr, beta1, beta2, eps, wd if decay else 0.0,
                         grad)
    p = ops.cast(param, ms.float32)
    g = _scaled(grad, scaled, scale)
    m_new = ops.cast(m, ms.float32) * beta1 + g * (1.0 - beta1)
    v_new = ops.cast(v, ms.float32) * beta2 + g * g * (1.0 - beta2)
    update = m_new / (ops.sqrt(v_new) + eps)
    if decay:
        update = update + wd * p
    p = p - lr * update
    p = ops.depend(p, ops.assign(m, ops.cast(m_new, m.dtype)))
    p = ops.depend(p, ops.assign(v, ops.cast(v_new, v.dtype)))
    return ops.assign(param, ops.cast(p, param.dtype))


@register("optimizer")
class FP32StateAdamWeightDecay(AdamWeightDecay):
    """AdamWeightDecay with float32 moments whatever the parameters' dtype."""

    fp32_state = True


register("optimizer", "FusedAdamWeightDecay")(AdamWeightDecay)  # MindFormers' name for its fused Ascend kernel


@register("optimizer")
class SGD(Optimizer):
    """PyTorch's SGD: ``momentum``, ``dampening``, ``nesterov`` (or ``use_nesterov``), L2 ``weight_decay``."""

    def __init__(self, params: Iterable[Parameter], momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, use_nesterov: bool | None = None,
                 **kw: Any) -> None:
        super().__init__(params, weight_decay)
        _no_more(kw)
        self.momentum, self.dampening = float(momentum), float(dampening)
        self.nesterov = bool(nesterov if use_nesterov is None else use_nesterov)
        self.accum = _states(self.parameters, "accum", ms.float32)
        self.first = Parameter(Tensor(True), name="stat", requires_grad=False)

    def construct(self, grads, lr, grad_scale=None):
        scaled, scale = _scaling(grad_scale)
        self.next_step()
        first = self.first
        out = self.hyper_map(ops.partial(_update, "sgd", lr, self.weight_decay, self.momentum, self.dampening,
                                         self.nesterov, first, scaled, scale),
                             self.parameters, self.accum, grads, self.decay_flags)
        return ops.depend(out, ops.assign(self.first, ops.logical_and(first, Tensor(False))))


@_update.register("String", "Tensor", "Number", "Number", "Number", "Bool", "Tensor", "Bool", "Tensor", "Tensor",
                  "Tensor", "Tensor", "Bool")
def _sgd(kind, lr, wd, momentum, dampening, nesterov, first, scaled, scale, param, buf, grad, decay):
    p = ops.cast(param, ms.float32)
    g = _scaled(grad, scaled, scale)
    if decay:
        g = g + wd * p
    if momentum != 0.0:
        b = ops.select(first, g, buf * momentum + g * (1.0 - dampening))
        g = g + momentum * b if nesterov else b
        p = ops.depend(p, ops.assign(buf, b))
    return ops.assign(param, ops.cast(p - lr * g, param.dtype))


def _in_place(kernel, native, scaled, scale, param, m, v, lr, beta1, beta2, eps, wd, grad):
    """The fused in-place AdamWeightDecay step: mf's kernel scales the gradient as it reads it, MindSpore's takes
    a scaled copy."""
    if native:
        return kernel(param, m, v, lr, beta1, beta2, eps, wd, grad, scale)
    return kernel(param, m, v, lr, beta1, beta2, eps, wd, _scaled(grad, scaled, scale))


def _scaling(grad_scale):
    """(whether the gradients are scaled, the float32 scale: 1 without ``grad_scale``)."""
    if grad_scale is None:
        return False, ops.ones((), ms.float32)
    return True, grad_scale


def _scaled(grad, scaled, scale):
    """``grad`` in float32, times ``scale`` when ``scaled``."""
    g = ops.cast(grad, ms.float32)
    return g * scale if scaled else g


def _betas(betas, kw):
    _no_more(kw)
    if len(betas) != 2 or not all(0.0 <= float(b) < 1.0 for b in betas):
        raise TrainError(f"expected two numbers in [0, 1), got {list(betas)}", key="optimizer.betas")
    return float(betas[0]), float(betas[1])


# keys of MindFormers' optimizer sections that the update itself does not use
_ACCEPTED = {"learning_rate", "loss_scale", "param_group", "use_fused", "amsgrad", "maximize", "swap"}


def _no_more(kw):
    unknown = sorted(set(kw) - _ACCEPTED)
    if unknown:
        raise TrainError(f"unknown key(s) {', '.join(unknown)}", key=f"optimizer.{unknown[0]}")
    for key in ("amsgrad", "maximize", "swap"):  # use_fused: float32 parameters always take the fused kernel
        if kw.get(key):
            raise TrainError("is not supported by mf-train; set it to false", key=f"optimizer.{key}")


def build_optimizer(section, params):
    """The optimizer an ``optimizer`` section names, over ``params`` (default type AdamW)."""
    from mf_config.registry import build

    section = dict(section or {"type": "AdamW"})
    section.setdefault("type", "AdamW")
    try:
        return build(section, "optimizer", params=params)
    except TypeError as e:
        raise TrainError(f"bad arguments for {section['type']}: {e}", key="optimizer") from None
