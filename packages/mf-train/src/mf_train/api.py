"""``Trainer``: MindFormers' front class — a task config (YAML path, dict, MFConfig or a resolved Task), optional
objects in place of what the YAML would build, and ``train()`` / ``finetune()`` / ``evaluate()``. It builds the
trainer class that the YAML's ``trainer.type`` names (``CausalLanguageModelingTrainer`` by default) and delegates
to it."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from mf_config.registry import get
from mf_train.task import FLAG_KEYS, Task, load_task

if TYPE_CHECKING:
    from mindspore import nn
    from mindspore.train import Callback

    from mf_models import CausalLM


class Trainer:
    """``Trainer(config, model=None, train_dataset=None, eval_dataset=None, callbacks=None, optimizer=None,
    overrides=(), **flags)``; ``flags`` are ``mf-train run``'s (``output_dir``, ``batch_size``, ``epochs``,
    ``train_data``, ``load_checkpoint``, ...), ``overrides`` its ``--set KEY=VALUE`` strings. A dataset may be a
    path (the dataset folder or MindRecord file) or a dataset section (a dict)."""

    def __init__(self, config: str | os.PathLike | Mapping[str, Any] | Task | None = None,
                 model: CausalLM | None = None, train_dataset: str | Mapping[str, Any] | None = None,
                 eval_dataset: str | Mapping[str, Any] | None = None, callbacks: Iterable[Callback] | None = None,
                 optimizer: nn.Cell | None = None, overrides: Iterable[str] = (), progress: bool | None = None,
                 **flags: Any) -> None:
        unknown = sorted(set(flags) - set(FLAG_KEYS))
        if unknown:
            raise TypeError(f"Trainer got unknown argument(s) {', '.join(unknown)}")
        if isinstance(train_dataset, str):
            flags["train_data"], train_dataset = train_dataset, None
        if isinstance(eval_dataset, str):
            flags["eval_data"], eval_dataset = eval_dataset, None
        if isinstance(config, Task):  # resolved already (mf-train run)
            self.task = config if not flags and not overrides else load_task(config.cfg, flags, overrides)
        else:
            self.task = load_task(config if config is not None else {}, flags, overrides)
        cls = get("trainer", self.task.get("trainer.type"))
        self.trainer = cls(self.task, model=model, train_dataset=train_dataset, eval_dataset=eval_dataset,
                           callbacks=callbacks, optimizer=optimizer, progress=progress)

    @property
    def model(self) -> CausalLM:
        return self.trainer.model

    def train(self, resume_training: bool | str | os.PathLike | None = None,
              resume_from_checkpoint: bool | str | os.PathLike | None = None) -> dict[str, Any]:
        """Train; ``resume_training`` True (the newest checkpoint) or a checkpoint path."""
        return self.trainer.train(resume_from_checkpoint or resume_training)

    def finetune(self, load_checkpoint: str | os.PathLike | None = None,
                 finetune_checkpoint: str | os.PathLike | None = None,
                 resume_training: bool | str | os.PathLike | None = None) -> dict[str, Any]:
        """Finetune from ``load_checkpoint`` (MindFormers' ``finetune_checkpoint``)."""
        return self.trainer.finetune(load_checkpoint or finetune_checkpoint, resume_training)

    def evaluate(self, load_checkpoint: str | os.PathLike | None = None,
                 eval_checkpoint: str | os.PathLike | None = None) -> dict[str, Any]:
        """Loss, perplexity and token count on the eval dataset."""
        return self.trainer.evaluate(load_checkpoint or eval_checkpoint)
