"""mf-train: Trainer, optimizers, LR schedules, callbacks, resume, LoRA; `mf-train run`."""

__version__ = "0.1.0"
