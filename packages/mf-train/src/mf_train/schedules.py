"""Learning-rate schedules as pure functions of the optimizer step: ``schedule.lr_at(step)``.

MindFormers' names and formulas (``mindformers/core/lr/lr_schedule.py``): step 0 is the first update, warmup rises
linearly from ``warmup_lr_init`` to ``learning_rate`` over ``warmup_steps`` (or ``warmup_ratio * total_steps``), then
the schedule decays towards ``lr_end``. ``total_steps`` of -1 or None is filled in by the trainer from the data.
Hugging Face's names (``cosine``, ``linear``, ``constant``, ``constant_with_warmup``) are aliases, as in MindFormers.
"""

from __future__ import annotations

import math
from typing import Any

from mf_config.registry import register
from mf_train.errors import TrainError


class Schedule:
    """Base: ``learning_rate``, warmup, ``total_steps``; subclasses define ``decay(step)`` after warmup."""

    def __init__(self, learning_rate: float, warmup_steps: int | None = None, warmup_ratio: float | None = None,
                 warmup_lr_init: float = 0.0, total_steps: int | None = None, **unused: Any) -> None:
        self.learning_rate = float(learning_rate)
        self.warmup_lr_init = float(warmup_lr_init)
        self.warmup_steps_arg, self.warmup_ratio = warmup_steps, warmup_ratio
        self.total_steps = None
        self.ignored = sorted(unused)
        self.set_total_steps(total_steps)

    def set_total_steps(self, total_steps: int | None) -> Schedule:
        """Fix ``total_steps`` (None or -1: not known yet) and derive the warmup length from it."""
        self.total_steps = None if total_steps in (None, -1) else int(total_steps)
        if self.warmup_ratio is not None:
            if not 0.0 <= float(self.warmup_ratio) <= 1.0:
                raise TrainError(f"expected a ratio in [0, 1], got {self.warmup_ratio}", key="lr_schedule.warmup_ratio")
            self.warmup_steps = int((self.total_steps or 0) * float(self.warmup_ratio))
        else:
            self.warmup_steps = int(self.warmup_steps_arg or 0)
        if self.warmup_steps < 0:
            raise TrainError(f"expected >= 0, got {self.warmup_steps}", key="lr_schedule.warmup_steps")
        return self

    def lr_at(self, step: int) -> float:
        """The learning rate of optimizer step ``step`` (0 = the first update)."""
        if step < self.warmup_steps:
            return self.warmup_lr_init + (self.learning_rate - self.warmup_lr_init) * step / self.warmup_steps
        return self.decay(step)

    def decay(self, step: int) -> float:
        return self.learning_rate

    def _decay_length(self):
        if self.total_steps is None:
            raise TrainError(f"{type(self).__name__} needs total_steps (or the trainer's dataset to derive it)",
                             key="lr_schedule.total_steps")
        return max(1, self.total_steps - self.warmup_steps)


@register("lr")
class ConstantWarmUpLR(Schedule):
    """Warmup, then ``learning_rate``."""


@register("lr")
class LinearWithWarmUpLR(Schedule):
    """Warmup, then a straight line down to 0 at ``total_steps``."""

    def decay(self, step: int) -> float:
        return self.learning_rate * max(0.0, (self.total_steps - step) / self._decay_length())


@register("lr")
class CosineWithWarmUpLR(Schedule):
    """Warmup, then a half cosine (``num_cycles`` 0.5) from ``learning_rate`` to ``lr_end``; ``lr_end`` from
    ``decay_steps`` on."""

    def __init__(self, learning_rate: float, num_cycles: float = 0.5, lr_end: float = 0.0,
                 decay_steps: int | None = None, **kwargs: Any) -> None:
        self.num_cycles, self.lr_end, self.decay_steps = float(num_cycles), float(lr_end), decay_steps
        super().__init__(learning_rate, **kwargs)

    def decay(self, step: int) -> float:
        if step >= (self.decay_steps if self.decay_steps is not None else self._decay_length() + self.warmup_steps):
            return self.lr_end
        progress = (step - self.warmup_steps) / self._decay_length()
        percent = max(0.0, 0.5 * (1.0 + math.cos(math.pi * self.num_cycles * 2.0 * progress)))
        return self.lr_end + (self.learning_rate - self.lr_end) * percent


@register("lr")
class PolynomialWithWarmUpLR(Schedule):
    """Warmup, then ``(lr - lr_end) * (1 - progress) ** power + lr_end``."""

    def __init__(self, learning_rate: float, lr_end: float = 1e-7, power: float = 1.0, **kwargs: Any) -> None:
        self.lr_end, self.power = float(lr_end), float(power)
        super().__init__(learning_rate, **kwargs)

    def decay(self, step: int) -> float:
        progress = min(1.0, (step - self.warmup_steps) / self._decay_length())
        return (self.learning_rate - self.lr_end) * (1.0 - progress) ** self.power + self.lr_end


ALIASES = {"constant": ConstantWarmUpLR, "constant_with_warmup": ConstantWarmUpLR, "linear": LinearWithWarmUpLR,
           "cosine": CosineWithWarmUpLR, "polynomial": PolynomialWithWarmUpLR}
for _alias, _cls in ALIASES.items():
    register("lr", _alias)(_cls)


def build_schedule(section, learning_rate=None, total_steps=None):
    """The schedule an ``lr_schedule`` section names (a constant ``learning_rate`` when there is none)."""
    from mf_config.registry import build

    if not section:
        return ConstantWarmUpLR(learning_rate if learning_rate is not None else 1e-5, total_steps=total_steps)
    section = dict(section)
    section.setdefault("type", "constant")
    if section.get("total_steps") in (None, -1):
        section["total_steps"] = total_steps
    try:
        return build(section, "lr")
    except TypeError as e:
        raise TrainError(f"bad arguments for {section['type']}: {e}", key="lr_schedule") from None
