"""Callbacks, as MindFormers' YAML ``callbacks:`` list names them, on MindSpore's ``Callback`` interface.

The trainer calls ``on_train_begin``, ``on_train_step_end``, ``on_train_epoch_end`` and ``on_train_end`` with a
``RunContext`` whose ``original_args()`` holds MindSpore's usual fields (``cur_step_num``, ``cur_epoch_num``,
``batch_num``, ``epoch_num``, ``net_outputs``, ``train_network``, ``optimizer``) plus ``trainer`` and ``record``
(the step's figures). A user's ``mindspore.train.Callback`` subclass works unchanged; a user class registered with
``@register("callback")`` (or through ``auto_register``) is built from the YAML by its ``type``.
"""

import datetime
import logging
import os
import time
from types import SimpleNamespace
from typing import Any

from mindspore.train import Callback

from mf_config.registry import register

logger = logging.getLogger("mf_train")


class RunContext:
    """MindSpore's RunContext: ``original_args()``, ``request_stop()``."""

    def __init__(self, params):
        self._params = params
        self._stop = False

    def original_args(self):
        return self._params

    def request_stop(self):
        self._stop = True

    def get_stop_requested(self):
        return self._stop


def run_params(**fields):
    return SimpleNamespace(**fields)


@register("callback")
class MFLossMonitor(Callback):
    """Every ``per_print_times`` steps one line: epoch, step, loss, time per step, learning rate, overflow, loss
    scale, gradient norm, tokens/s and the time left (MindFormers' line, plus tokens/s and ETA)."""

    def __init__(self, per_print_times: int = 1, **unused: Any) -> None:
        super().__init__()
        self.per_print_times = max(1, int(per_print_times or 1))

    def on_train_step_end(self, run_context: RunContext) -> None:
        cb = run_context.original_args()
        r = cb.record
        if cb.cur_step_num % self.per_print_times and cb.cur_step_num != cb.total_steps:
            return
        left = datetime.timedelta(seconds=round(r["step_time_ms"] / 1000 * (cb.total_steps - cb.cur_step_num)))
        norm = f", global_norm: [{r['grad_norm']:.6g}]" if r.get("grad_norm") is not None else ""
        cb.trainer.report(
            f"{{ Epoch:[{cb.cur_epoch_num:3d}/{cb.epoch_num:3d}], step:[{cb.cur_step_num:5d}/{cb.total_steps:5d}], "
            f"loss: {r['loss']:.6f}, per_step_time: {r['step_time_ms']:.0f}ms, lr: {r['lr']:.6g}, overflow cond: "
            f"{r['overflow']}, loss_scale: {r['loss_scale']:g}{norm}, tokens/s: {r['tokens_per_s']:.0f}, "
            f"ETA: {left} }}")


@register("callback")
class CheckpointMonitor(Callback):
    """Save a complete checkpoint every ``save_checkpoint_steps`` steps (and at the end), keeping the newest
    ``keep_checkpoint_max``; ``prefix`` and ``directory`` name them (default ``output_dir/checkpoint``)."""

    def __init__(self, prefix: str = "CKP", directory: str | os.PathLike | None = None, save_checkpoint_steps: int = 1,
                 keep_checkpoint_max: int = 5, save_trainable_params: bool = False, **unused: Any) -> None:
        super().__init__()
        self.prefix, self.directory = prefix, directory
        self.every = max(1, int(save_checkpoint_steps or 1))
        self.keep = keep_checkpoint_max
        self.trainable_only = bool(save_trainable_params)
        self.last = None

    def on_train_step_end(self, run_context: RunContext) -> None:
        cb = run_context.original_args()
        if cb.cur_step_num % self.every == 0:
            self._save(cb)

    def on_train_end(self, run_context: RunContext) -> None:
        cb = run_context.original_args()
        if self.last != cb.cur_step_num and cb.cur_step_num > cb.initial_step:
            self._save(cb)

    def _save(self, cb):
        cb.trainer.save_checkpoint(self.prefix, self.directory, self.keep, self.trainable_only)
        self.last = cb.cur_step_num


register("callback", "CheckpointMointor")(CheckpointMonitor)  # MindFormers' YAML spelling


@register("callback")
class EvalCallBack(Callback):
    """Evaluate every ``eval_step_interval`` steps and/or every ``eval_epoch_interval`` epochs (-1: never)."""

    def __init__(self, eval_step_interval: int = -1, eval_epoch_interval: int = -1, **unused: Any) -> None:
        super().__init__()
        self.step_interval, self.epoch_interval = int(eval_step_interval or -1), int(eval_epoch_interval or -1)

    def on_train_step_end(self, run_context: RunContext) -> None:
        cb = run_context.original_args()
        if self.step_interval > 0 and cb.cur_step_num % self.step_interval == 0:
            cb.trainer.evaluate_now()

    def on_train_epoch_end(self, run_context: RunContext) -> None:
        cb = run_context.original_args()
        if self.epoch_interval > 0 and cb.cur_epoch_num % self.epoch_interval == 0:
            cb.trainer.evaluate_now()


@register("callback")
class ObsMonitor(Callback):
    """MindFormers uploads outputs to Huawei Cloud OBS with it; mf has no OBS client: accepted, does nothing."""

    def __init__(self, **unused):
        super().__init__()
        logger.warning("callbacks: ObsMonitor is not honoured (mf uploads nothing to OBS); outputs stay in "
                       "output_dir")


class Timer:
    """Wall time of the steps since the last mark."""

    def __init__(self):
        self.start = time.perf_counter()

    def lap(self):
        now = time.perf_counter()
        seconds, self.start = now - self.start, now
        return seconds
